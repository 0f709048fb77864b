"""optzoo.pytorch optimizers on complex params against real torch.optim, side by side.

The problem: a complex matrix ``W`` (3 x 4) and a real bias ``b`` (3,) fit complex
targets, ``L = mean |W x + b - y|^2``, complex128 and float64 on both sides. torch
takes ``.grad`` from autograd, optzoo ``jax.grad`` (the conjugate of torch's, see
:mod:`optzoo.transforms.complex`). Every step the params are compared as real
pairs (``max|p_optzoo - p_torch| / max|p_torch|`` per leaf); the largest error
over leaves and steps must stay below 1e-10. ASGD also compares the averaged
params (torch's ``state["ax"]``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optzoo.pytorch as ozt
from optzoo.transforms.averaging import asgd_averaged_params
from tests.helpers import x64
from tests.parity.harness import STEPS, TOL, config_label, fast_jit, torch_float64  # noqa: F401

pytestmark = pytest.mark.usefixtures("torch_float64")


def complex_problem(seed=0):
    """``(x, y, params)``: 8 complex examples of 4 features, 3 complex targets, a
    complex ``W`` and a real ``b``."""
    rng = np.random.default_rng(seed)

    def c(*shape):
        return rng.normal(size=shape) + 1j * rng.normal(size=shape)

    x, y = c(4, 8), c(3, 8)
    return x, y, {"W": 0.5 * c(3, 4), "b": 0.1 * rng.normal(size=3)}


def loss_jax(p, x, y, sign):
    r = p["W"] @ x + p["b"][:, None] - y
    return sign * jnp.mean(r.real**2 + r.imag**2)


def loss_torch(p, x, y, sign):
    r = p["W"] @ x + p["b"][:, None] - y
    return sign * torch.mean(r.real**2 + r.imag**2)


def rel_err(actual: dict, expected: dict) -> float:
    """The largest ``max|a - e| / max|e|`` over leaves, complex leaves as real pairs."""
    worst = 0.0
    for k, e in expected.items():
        a, e = np.asarray(actual[k]), np.asarray(e)
        assert a.dtype == e.dtype, (k, a.dtype, e.dtype)
        a, e = np.stack([a.real, a.imag]), np.stack([e.real, e.imag])
        if not (np.all(np.isfinite(a)) and np.all(np.isfinite(e))):
            return float("inf")
        worst = max(worst, float(np.max(np.abs(a - e)) / max(np.max(np.abs(e)), 1e-300)))
    return worst


def run_complex(name: str, kwargs: dict, steps: int = STEPS) -> float:
    """``torch.optim.<name>`` against ``optzoo.pytorch.<name>``; the largest error.
    With ``maximize`` both sides maximize the negated loss."""
    sign = -1.0 if kwargs.get("maximize") else 1.0
    x, y, init = complex_problem()
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
    ref = getattr(torch.optim, name)(list(tp.values()), **kwargs)
    tx_t, ty_t = torch.tensor(x), torch.tensor(y)
    with x64():
        tx = getattr(ozt, name)(**kwargs)
        params = {k: jnp.asarray(v) for k, v in init.items()}
        state = tx.init(params)
        xj, yj = jnp.asarray(x), jnp.asarray(y)

        @fast_jit
        def step(params, state):
            grads = jax.grad(loss_jax)(params, xj, yj, sign)
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        worst = 0.0
        for _ in range(steps):
            ref.zero_grad()
            loss_torch(tp, tx_t, ty_t, sign).backward()
            ref.step()
            params, state = step(params, state)
            worst = max(worst, rel_err(params, {k: t.detach().numpy() for k, t in tp.items()}))
            if name == "ASGD":
                ax = asgd_averaged_params(state, params)
                worst = max(worst, rel_err(ax, {k: ref.state[t]["ax"].numpy()
                                                for k, t in tp.items()}))
    return worst


CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.02, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adamax", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-5, weight_decay=0.05, maximize=True)),
    ("NAdam", dict(lr=0.02, weight_decay=0.05, momentum_decay=0.01)),
    ("RAdam", dict(lr=0.02, betas=(0.8, 0.9), weight_decay=0.1, decoupled_weight_decay=True)),
    # alpha=0.95, eps=1e-6: at alpha=0.9, eps=1e-8 the centered variance nearly cancels and
    # torch against itself from a start moved by 1e-15 differs by 2e-10 after 100 steps.
    ("RMSprop", dict(lr=0.005, alpha=0.95, eps=1e-6, weight_decay=0.02, momentum=0.5,
                     centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1,
                     eps=1e-6)),
    ("Adadelta", dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.05, maximize=True)),
    ("ASGD", dict(lr=0.05, lambd=1e-3, alpha=0.6, t0=30, weight_decay=0.02)),
    ("Rprop", dict(lr=0.02, etas=(0.3, 1.5), step_sizes=(1e-4, 0.05), maximize=True)),
]
SLOW_CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, maximize=True)),
    ("Adam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("NAdam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.02, weight_decay=0.05, maximize=True)),
    ("RMSprop", dict(lr=0.01, maximize=True)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
    ("ASGD", dict(lr=0.05, t0=10, maximize=True)),
]


def _id(name, kwargs):
    return f"{name}-{config_label(kwargs)}"


@pytest.mark.parametrize(
    "name,kwargs",
    [*CONFIGS, *(pytest.param(n, k, marks=pytest.mark.slow) for n, k in SLOW_CONFIGS)],
    ids=[_id(n, k) for n, k in CONFIGS + SLOW_CONFIGS],
)
def test_complex_matches_torch(name, kwargs, record_parity):
    err = run_complex(name, kwargs)
    extra = " (params and averaged params)" if name == "ASGD" else ""
    record_parity("torch", name, f"complex128, {config_label(kwargs)}{extra}", err, STEPS)
    assert err <= TOL, f"{name}({config_label(kwargs)}) on complex params: {err:.3e}"


MIGRATED = {"Adam": CONFIGS[1][1], "Rprop": CONFIGS[10][1], "ASGD": CONFIGS[9][1]}


@pytest.mark.parametrize("direction", ["torch->jax", "jax->torch"])
@pytest.mark.parametrize("name", [
    "Adam", *(pytest.param(n, marks=pytest.mark.slow) for n in ("Rprop", "ASGD"))])
def test_complex_state_migrates_mid_run(name, direction, record_parity):
    """30 steps on one side, the state moved (complex in torch, real pairs in optzoo),
    30 more steps on both sides, each within 1e-10."""
    before, after = 30, 30
    kwargs = MIGRATED[name]
    x, y, init = complex_problem()
    tx_t, ty_t = torch.tensor(x), torch.tensor(y)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
    ref = getattr(torch.optim, name)(list(tp.values()), **kwargs)

    def torch_step():
        ref.zero_grad()
        loss_torch(tp, tx_t, ty_t, 1.0).backward()
        ref.step()

    with x64():
        tx = getattr(ozt, name)(**kwargs)
        xj, yj = jnp.asarray(x), jnp.asarray(y)

        @fast_jit
        def step(params, state):
            updates, state = tx.update(jax.grad(loss_jax)(params, xj, yj, 1.0), state, params)
            return optax.apply_updates(params, updates), state

        params = {k: jnp.asarray(v) for k, v in init.items()}
        if direction == "torch->jax":
            for _ in range(before):
                torch_step()
            params = {k: jnp.asarray(t.detach().numpy()) for k, t in tp.items()}
            state = ozt.from_torch_state(tx, ref.state_dict(), params)
        else:
            state = tx.init(params)
            for _ in range(before):
                params, state = step(params, state)
            with torch.no_grad():
                for k, t in tp.items():
                    t.copy_(torch.tensor(np.asarray(params[k])))
            ref = getattr(torch.optim, name)(list(tp.values()), **kwargs)
            ref.load_state_dict(ozt.to_torch_state(tx, state, params))
        worst = 0.0
        for _ in range(after):
            torch_step()
            params, state = step(params, state)
            worst = max(worst, rel_err(params, {k: t.detach().numpy() for k, t in tp.items()}))
    record_parity("torch", name, f"complex128 state migration {direction}, "
                  f"{before}+{after} steps", worst, before + after)
    assert worst <= TOL, (name, direction, worst)
