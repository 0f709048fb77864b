"""Side-by-side runs of an optzoo transformation and a PyTorch optimizer class.

Both sides train the same small MLP (two matrices, two vectors) from the same
start on the same data, in float64, each computing its own gradients (torch
autograd on one side, ``jax.grad`` on the other). After every step the
parameters are compared: the error of a leaf is ``max|p_optzoo - p_ref| /
max|p_ref|``; a run returns the largest over leaves and steps.

Used by the ``torch.optim`` parity file and by the files that check optzoo's
modern optimizers against the implementations their authors publish
(``schedulefree``, ``prodigyopt``, ``pytorch_optimizer``, ...).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from tests.helpers import x64

STEPS = 100
TOL = 1e-10
NAMES = ("w1", "b1", "w2", "b2")


@pytest.fixture
def torch_float64():
    """torch keeps scalar state (step counts, products of betas) in the default
    dtype; float64 on both sides means that one too. Use it with
    ``pytest.mark.usefixtures("torch_float64")`` or as an autouse fixture."""
    previous, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)  # these tensors are tiny; more threads only contend
    yield
    torch.set_default_dtype(previous)
    torch.set_num_threads(threads)


@contextlib.contextmanager
def keras_float64():
    """Keras's floatx and JAX's x64 both float64, restored afterwards."""
    import keras

    old = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        with jax.enable_x64(True):
            yield
    finally:
        keras.config.set_floatx(old)


def problem(seed=0):
    """``(x, y, params)``: 16 examples of 4 features, 2 targets, and an MLP 4-5-2."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(16, 4))
    y = rng.normal(size=(16, 2))
    params = {
        "w1": rng.normal(size=(4, 5)) * 0.5,
        "b1": rng.normal(size=(5,)) * 0.1,
        "w2": rng.normal(size=(5, 2)) * 0.5,
        "b2": rng.normal(size=(2,)) * 0.1,
    }
    return x, y, params


def loss_jax(p, x, y, sign=1.0):
    h = jnp.tanh(x @ p["w1"] + p.get("b1", 0.0))
    return sign * jnp.mean((h @ p["w2"] + p.get("b2", 0.0) - y) ** 2)


def loss_torch(p, x, y, sign=1.0):
    h = torch.tanh(x @ p["w1"] + p.get("b1", 0.0))
    return sign * torch.mean((h @ p["w2"] + p.get("b2", 0.0) - y) ** 2)


def fast_jit(f):
    """``jax.jit`` with XLA's backend optimisation off: these programs are tiny and
    run 100 times, so compiling them is most of the cost."""
    return jax.jit(f, compiler_options={"xla_backend_optimization_level": 0})


def leaf_rel_err(actual: dict, expected: dict) -> float:
    """The largest ``max|a - e| / max|e|`` over leaves; ``inf`` when either side holds
    a NaN or an inf (a NaN must not compare as error 0)."""
    worst = 0.0
    for k in expected:
        e = np.asarray(expected[k], np.float64)
        a = np.asarray(actual[k], np.float64)
        if not (np.all(np.isfinite(e)) and np.all(np.isfinite(a))):
            return math.inf
        worst = max(worst, float(np.max(np.abs(a - e)) / max(np.max(np.abs(e)), 1e-300)))
    return worst


def run_against(
    make_ref: Callable[[list], torch.optim.Optimizer],
    make_tx: Callable[[], optax.GradientTransformation],
    steps: int = STEPS,
    names: tuple[str, ...] = NAMES,
    sign: float = 1.0,
    closure: bool = False,
    after: Callable[..., float] | None = None,
    seed: int = 0,
    make_problem: Callable[[int], tuple] | None = None,
) -> float:
    """Train ``make_ref(list of torch params)`` and ``make_tx()`` side by side for
    ``steps`` steps; return the largest relative error of the parameters.

    ``closure``: the reference's ``step`` takes a closure that recomputes the loss
    (and the optzoo update receives ``value`` and ``value_fn``). ``after(ref_opt,
    torch_params, state, params)``: an extra comparison after each step (for
    example schedule-free's evaluation params) returning its own relative error.
    ``sign = -1`` trains on the negated loss (for ``maximize`` options).
    ``make_problem(seed) -> (x, y, params)``: another start than :func:`problem`'s
    (same loss, other shapes), for optimizers whose paths depend on the shapes.
    """
    x, y, init = (make_problem or problem)(seed)
    init = {k: init[k] for k in names}
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in init.items()}
    ref = make_ref([tp[k] for k in names])
    tx_t, ty_t = torch.tensor(x), torch.tensor(y)

    def torch_closure():
        ref.zero_grad()
        value = loss_torch(tp, tx_t, ty_t, sign)
        value.backward()
        return value

    with x64():
        tx = make_tx()
        params = {k: jnp.asarray(v, jnp.float64) for k, v in init.items()}
        state = tx.init(params)
        xj, yj = jnp.asarray(x), jnp.asarray(y)

        def value_fn(p):
            return loss_jax(p, xj, yj, sign)

        @fast_jit
        def step(params, state):
            value, grads = jax.value_and_grad(value_fn)(params)
            extra = {"value": value, "grad": grads, "value_fn": value_fn} if closure else {}
            updates, state = tx.update(grads, state, params, **extra)
            return optax.apply_updates(params, updates), state

        worst = 0.0
        for _ in range(steps):
            if closure:
                ref.step(torch_closure)
            else:
                torch_closure()
                ref.step()
            params, state = step(params, state)
            expected = {k: t.detach().numpy() for k, t in tp.items()}
            worst = max(worst, leaf_rel_err(params, expected))
            if after is not None:
                worst = max(worst, float(after(ref, tp, state, params)))
    return worst


def config_label(kwargs: dict[str, Any]) -> str:
    """The configuration column of the parity record: ``k=v`` pairs, or ``defaults``."""
    return ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"
