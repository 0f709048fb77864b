"""optzoo.pytorch optimizers against real torch.optim, side by side.

Both sides train the same small MLP (two matrices, two vectors) from the same
start on the same data, float64, each computing its own gradients (torch
autograd on the torch side, ``jax.grad`` on the optzoo side). Every step the
parameters are compared: the error of a leaf is ``max|p_optzoo - p_torch| /
max|p_torch|`` and the largest over leaves and steps must stay below 1e-10.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optzoo.pytorch as ozt
from tests.helpers import x64

STEPS = 100
TOL = 1e-10
NAMES = ("w1", "b1", "w2", "b2")


@pytest.fixture(autouse=True)
def torch_float64():
    """torch keeps scalar state (NAdam's ``mu_product``, step counts) in the default
    dtype; float64 on both sides means that one too."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _problem(seed=0):
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


def _loss_jax(p, x, y, sign=1.0):
    h = jnp.tanh(x @ p["w1"] + p["b1"])
    return sign * jnp.mean((h @ p["w2"] + p["b2"] - y) ** 2)


def _loss_torch(p, x, y, sign=1.0):
    h = torch.tanh(x @ p["w1"] + p["b1"])
    return sign * torch.mean((h @ p["w2"] + p["b2"] - y) ** 2)


def leaf_rel_err(actual: dict, expected: dict) -> float:
    worst = 0.0
    for k in expected:
        e = np.asarray(expected[k], np.float64)
        a = np.asarray(actual[k], np.float64)
        worst = max(worst, float(np.max(np.abs(a - e)) / max(np.max(np.abs(e)), 1e-300)))
    return worst


def run_side_by_side(name: str, kwargs: dict, steps: int = STEPS, torch_kwargs=None):
    """Train both; return the largest per-step relative error. With ``maximize``
    both sides maximize the negated loss, so training stays stable."""
    x, y, init = _problem()
    sign = -1.0 if kwargs.get("maximize") else 1.0
    tp = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in init.items()}
    topt = getattr(torch.optim, name)([tp[k] for k in NAMES], **(torch_kwargs or kwargs))
    tx_t, ty_t = torch.tensor(x), torch.tensor(y)
    with x64():
        tx = getattr(ozt, name)(**kwargs)
        params = {k: jnp.asarray(v, jnp.float64) for k, v in init.items()}
        state = tx.init(params)
        xj, yj = jnp.asarray(x), jnp.asarray(y)

        @jax.jit
        def step(params, state):
            grads = jax.grad(_loss_jax)(params, xj, yj, sign)
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        worst = 0.0
        for _ in range(steps):
            topt.zero_grad()
            _loss_torch(tp, tx_t, ty_t, sign).backward()
            topt.step()
            params, state = step(params, state)
            expected = {k: t.detach().numpy() for k, t in tp.items()}
            worst = max(worst, leaf_rel_err(params, expected))
    return worst


CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, foreach=False, capturable=False,
                  differentiable=False)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, betas=(0.85, 0.95), eps=1e-7, weight_decay=0.2, amsgrad=True,
                   maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-5, weight_decay=0.05, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.05)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.001, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.8)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, maximize=True)),
    ("Adagrad", dict(lr=0.05)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1,
                     eps=1e-6)),
    ("Adagrad", dict(lr=0.05, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.05, maximize=True)),
]


def _cfg(kwargs: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{_cfg(k)}" for n, k in CONFIGS])
def test_matches_torch(name, kwargs, record_parity):
    err = run_side_by_side(name, kwargs)
    record_parity("torch", name, _cfg(kwargs), err, STEPS)
    assert err <= TOL, f"{name}({_cfg(kwargs)}): max relative error {err:.3e}"


def test_lr_schedule_matches_torch_scheduler(record_parity):
    """``lr`` as a schedule equals torch stepping a scheduler once per optimizer step."""
    from optzoo.pytorch import lr_scheduler as ozs

    x, y, init = _problem(1)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
    topt = torch.optim.Adam([tp[k] for k in NAMES], lr=0.02)
    sched = torch.optim.lr_scheduler.StepLR(topt, step_size=7, gamma=0.7)
    with x64():
        tx = ozt.Adam(lr=ozs.StepLR(0.02, step_size=7, gamma=0.7))
        params = {k: jnp.asarray(v) for k, v in init.items()}
        state = tx.init(params)
        step = jax.jit(lambda p, s: _apply(tx, p, s, jnp.asarray(x), jnp.asarray(y)))
        worst = 0.0
        for _ in range(STEPS):
            topt.zero_grad()
            _loss_torch(tp, torch.tensor(x), torch.tensor(y)).backward()
            topt.step()
            sched.step()
            params, state = step(params, state)
            worst = max(worst, leaf_rel_err(params, {k: t.detach().numpy() for k, t in tp.items()}))
    record_parity("torch", "Adam", "lr=StepLR(0.02, step_size=7, gamma=0.7)", worst, STEPS)
    assert worst <= TOL


def _apply(tx, params, state, x, y):
    grads = jax.grad(_loss_jax)(params, x, y)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state


def test_kernel_options_are_accepted_and_ignored():
    a = ozt.SGD(0.1, momentum=0.9, foreach=True, differentiable=True, fused=False)
    b = ozt.SGD(0.1, momentum=0.9)
    with x64():
        p = {"w": jnp.ones(3)}
        g = {"w": jnp.arange(3.0)}
        ua, _ = a.update(g, a.init(p), p)
        ub, _ = b.update(g, b.init(p), p)
        np.testing.assert_array_equal(ua["w"], ub["w"])


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: ozt.Adam(betas=(1.2, 0.999)), r"Adam: betas\[0\] must be in \[0, 1\), got 1.2"),
        (lambda: ozt.SGD(lr=-1.0), r"SGD: lr must be in \[0, inf\)"),
        (lambda: ozt.SGD(0.1, nesterov=True), r"SGD: nesterov=True requires momentum > 0"),
        (lambda: ozt.Adagrad(lr_decay=-1.0), r"Adagrad: lr_decay must be in"),
        (lambda: ozt.AdamW(weight_decay=-0.1), r"AdamW: weight_decay must be in"),
        (lambda: ozt.RMSprop(alpha=1.5), r"RMSprop: alpha must be in"),
    ],
)
def test_invalid_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()
