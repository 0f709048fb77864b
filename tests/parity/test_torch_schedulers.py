"""optzoo.pytorch.lr_scheduler against real torch.optim.lr_scheduler.

Each torch scheduler steps a real torch optimizer (``optimizer.step()`` then
``scheduler.step()``) 300 times or more; ``get_last_lr()`` after ``k`` steps
must equal ``sched(k)`` (evaluated vmapped over ``k``, float64) to a
relative error of 1e-10. For CyclicLR and OneCycleLR the momentum (SGD) or
``betas[0]`` (Adam) that torch writes into the optimizer is compared with
``sched.momentum(k)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch.optim import lr_scheduler as tls

from optzoo.pytorch import lr_scheduler as ozs
from tests.helpers import x64

STEPS = 300
TOL = 1e-10
BASE = 0.1


def _rel(actual, expected) -> float:
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    both_zero = (a == 0) & (e == 0)
    err = np.where(both_zero, 0.0, np.abs(a - e) / np.maximum(np.abs(e), 1e-300))
    return float(np.max(err))


def _torch_run(make, steps=STEPS, opt="sgd", base=BASE):
    p = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    if opt == "sgd":
        o = torch.optim.SGD([p], lr=base, momentum=0.9)
    else:
        o = torch.optim.Adam([p], lr=base)
    s = make(o)
    lrs, moms = [], []

    def read():
        lrs.append(float(s.get_last_lr()[0]))
        g = o.param_groups[0]
        moms.append(float(g["betas"][0] if "betas" in g else g["momentum"]))

    read()
    for _ in range(steps):
        o.step()
        s.step()
        read()
    return np.array(lrs), np.array(moms)


def _ours(sched, steps=STEPS, what=None):
    with x64():
        fn = sched if what is None else what
        # vmapped (so traced) but not jitted: a compile per case costs more than this.
        return np.asarray(jax.vmap(fn)(jnp.arange(steps + 1)))


def lam(k):
    return 1.0 / (1.0 + 0.05 * k)


def mlam(k):
    return 0.99 - 0.01 * jnp.sin(k * 1.0) if isinstance(k, jax.Array) else 0.99 - 0.01 * math.sin(k)


# (name, config, torch maker, optzoo maker)
CASES = [
    ("StepLR", "step_size=30, gamma=0.5",
     lambda o: tls.StepLR(o, 30, gamma=0.5), lambda: ozs.StepLR(BASE, 30, gamma=0.5)),
    ("MultiStepLR", "milestones=[30, 80, 80, 200], gamma=0.3",
     lambda o: tls.MultiStepLR(o, [30, 80, 80, 200], gamma=0.3),
     lambda: ozs.MultiStepLR(BASE, [30, 80, 80, 200], gamma=0.3)),
    ("ConstantLR", "factor=0.25, total_iters=40",
     lambda o: tls.ConstantLR(o, factor=0.25, total_iters=40),
     lambda: ozs.ConstantLR(BASE, factor=0.25, total_iters=40)),
    ("LinearLR", "start_factor=0.1, end_factor=0.7, total_iters=120",
     lambda o: tls.LinearLR(o, start_factor=0.1, end_factor=0.7, total_iters=120),
     lambda: ozs.LinearLR(BASE, start_factor=0.1, end_factor=0.7, total_iters=120)),
    ("ExponentialLR", "gamma=0.98",
     lambda o: tls.ExponentialLR(o, 0.98), lambda: ozs.ExponentialLR(BASE, 0.98)),
    ("PolynomialLR", "total_iters=250, power=2.0",
     lambda o: tls.PolynomialLR(o, total_iters=250, power=2.0),
     lambda: ozs.PolynomialLR(BASE, total_iters=250, power=2.0)),
    ("CosineAnnealingLR", "T_max=70, eta_min=0.001",
     lambda o: tls.CosineAnnealingLR(o, T_max=70, eta_min=0.001),
     lambda: ozs.CosineAnnealingLR(BASE, T_max=70, eta_min=0.001)),
    ("CosineAnnealingLR", "T_max=300",
     lambda o: tls.CosineAnnealingLR(o, T_max=300), lambda: ozs.CosineAnnealingLR(BASE, 300)),
    ("CosineAnnealingWarmRestarts", "T_0=40, eta_min=0.002",
     lambda o: tls.CosineAnnealingWarmRestarts(o, 40, eta_min=0.002),
     lambda: ozs.CosineAnnealingWarmRestarts(BASE, 40, eta_min=0.002)),
    ("CosineAnnealingWarmRestarts", "T_0=10, T_mult=2",
     lambda o: tls.CosineAnnealingWarmRestarts(o, 10, T_mult=2),
     lambda: ozs.CosineAnnealingWarmRestarts(BASE, 10, T_mult=2)),
    ("LambdaLR", "lr_lambda=1/(1+0.05k)",
     lambda o: tls.LambdaLR(o, lam), lambda: ozs.LambdaLR(BASE, lam)),
    ("MultiplicativeLR", "lr_lambda=0.99-0.01 sin(k)",
     lambda o: tls.MultiplicativeLR(o, mlam), lambda: ozs.MultiplicativeLR(BASE, mlam)),
    ("SequentialLR", "[LinearLR(0.1, total_iters=20), ExponentialLR(0.99)], milestones=[20]",
     lambda o: tls.SequentialLR(
         o, [tls.LinearLR(o, 0.1, total_iters=20), tls.ExponentialLR(o, 0.99)], [20]),
     lambda: ozs.SequentialLR(
         [ozs.LinearLR(BASE, 0.1, total_iters=20), ozs.ExponentialLR(BASE, 0.99)], [20])),
    ("SequentialLR", "[ConstantLR(0.5, 10), CosineAnnealingLR(100, eta_min=0.001), "
                     "MultiplicativeLR, StepLR(20, 0.5)], milestones=[15, 120, 200]",
     lambda o: tls.SequentialLR(o, [
         tls.ConstantLR(o, 0.5, 10), tls.CosineAnnealingLR(o, 100, 0.001),
         tls.MultiplicativeLR(o, mlam), tls.StepLR(o, 20, 0.5)], [15, 120, 200]),
     lambda: ozs.SequentialLR([
         ozs.ConstantLR(BASE, 0.5, 10), ozs.CosineAnnealingLR(BASE, 100, 0.001),
         ozs.MultiplicativeLR(BASE, mlam), ozs.StepLR(BASE, 20, 0.5)], [15, 120, 200])),
    ("ChainedScheduler",
     "[LinearLR(0.2, total_iters=30), ExponentialLR(0.995), MultiStepLR([100, 250], 0.5)]",
     lambda o: tls.ChainedScheduler([
         tls.LinearLR(o, 0.2, total_iters=30), tls.ExponentialLR(o, 0.995),
         tls.MultiStepLR(o, [100, 250], 0.5)]),
     lambda: ozs.ChainedScheduler([
         ozs.LinearLR(BASE, 0.2, total_iters=30), ozs.ExponentialLR(BASE, 0.995),
         ozs.MultiStepLR(BASE, [100, 250], 0.5)])),
]

CYCLIC = [
    ("CyclicLR", "triangular, step_size_up=40", "sgd",
     lambda o: tls.CyclicLR(o, 0.01, 0.2, step_size_up=40),
     lambda: ozs.CyclicLR(0.01, 0.2, step_size_up=40)),
    ("CyclicLR", "triangular2, step_size_up=30, step_size_down=50, base/max_momentum=0.7/0.95",
     "adam",
     lambda o: tls.CyclicLR(o, 0.01, 0.2, 30, 50, mode="triangular2", base_momentum=0.7,
                            max_momentum=0.95),
     lambda: ozs.CyclicLR(0.01, 0.2, 30, 50, mode="triangular2", base_momentum=0.7,
                          max_momentum=0.95)),
    ("CyclicLR", "exp_range, gamma=0.995, step_size_up=25", "sgd",
     lambda o: tls.CyclicLR(o, 0.01, 0.2, 25, mode="exp_range", gamma=0.995),
     lambda: ozs.CyclicLR(0.01, 0.2, 25, mode="exp_range", gamma=0.995)),
    ("CyclicLR", "scale_fn=1/(1+x/10), scale_mode=iterations, cycle_momentum=False", "sgd",
     lambda o: tls.CyclicLR(o, 0.01, 0.2, 20, scale_fn=lambda x: 1 / (1 + x / 10),
                            scale_mode="iterations", cycle_momentum=False),
     lambda: ozs.CyclicLR(0.01, 0.2, 20, scale_fn=lambda x: 1 / (1 + x / 10),
                          scale_mode="iterations", cycle_momentum=False)),
    ("OneCycleLR", "max_lr=0.3, total_steps=300", "sgd",
     lambda o: tls.OneCycleLR(o, 0.3, total_steps=300),
     lambda: ozs.OneCycleLR(0.3, total_steps=300)),
    ("OneCycleLR", "linear, three_phase, epochs=30, steps_per_epoch=10, pct_start=0.25, "
                   "div_factor=10, final_div_factor=100, momentum 0.8/0.9", "adam",
     lambda o: tls.OneCycleLR(o, 0.3, epochs=30, steps_per_epoch=10, pct_start=0.25,
                              anneal_strategy="linear", three_phase=True, div_factor=10.0,
                              final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9),
     lambda: ozs.OneCycleLR(0.3, epochs=30, steps_per_epoch=10, pct_start=0.25,
                            anneal_strategy="linear", three_phase=True, div_factor=10.0,
                            final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9)),
]


@pytest.mark.parametrize(
    "name,config,make_torch,make_ours", CASES, ids=[c[0] + "-" + c[1] for c in CASES])
def test_scheduler_matches_torch(name, config, make_torch, make_ours, record_parity):
    expected, _ = _torch_run(make_torch)
    actual = _ours(make_ours())
    err = _rel(actual, expected)
    record_parity("torch", f"lr_scheduler.{name}", config, err, STEPS)
    assert err <= TOL, f"{name}({config}): {err:.3e}"


@pytest.mark.parametrize(
    "name,config,opt,make_torch,make_ours", CYCLIC, ids=[c[0] + "-" + c[1] for c in CYCLIC])
def test_cyclic_lr_and_momentum_match_torch(
    name, config, opt, make_torch, make_ours, record_parity
):
    expected_lr, expected_m = _torch_run(make_torch, opt=opt)
    sched = make_ours()
    err = _rel(_ours(sched), expected_lr)
    if sched.momentum is not None:
        err = max(err, _rel(_ours(sched, what=sched.momentum), expected_m))
    record_parity("torch", f"lr_scheduler.{name}", config, err, STEPS)
    if sched.momentum is None:
        assert np.all(expected_m == 0.9)  # torch left the optimizer's momentum alone
    assert err <= TOL, f"{name}({config}): {err:.3e}"


PLATEAU = [
    ("min, rel", dict()),
    ("max, abs, factor=0.5, patience=3, threshold=0.01, cooldown=4, min_lr=0.004",
     dict(mode="max", threshold_mode="abs", factor=0.5, patience=3, threshold=0.01, cooldown=4,
          min_lr=0.004)),
    ("min, abs, patience=0, eps=0.02, factor=0.7",
     dict(threshold_mode="abs", patience=0, eps=0.02, factor=0.7)),
    ("max, rel, patience=5, cooldown=2", dict(mode="max", patience=5, cooldown=2)),
    # Thresholds of the order of the metric's step noise (0.1 per step), so that which
    # side of ``best * (1 -+ threshold)`` or ``best -+ threshold`` a value falls on
    # decides reductions: the default 1e-4 hides a threshold applied with the wrong
    # sign. A gentle factor and a long patience keep the lr from reaching its floor
    # early (a threshold with the wrong sign then moves 219 of the 300 steps' lr for
    # min, 95 for max).
    ("min, rel, threshold=0.05, patience=10, factor=0.8",
     dict(threshold_mode="rel", threshold=0.05, patience=10, factor=0.8)),
    ("max, rel, threshold=0.05, patience=10, factor=0.8",
     dict(mode="max", threshold_mode="rel", threshold=0.05, patience=10, factor=0.8)),
    ("min, abs, threshold=0.05, patience=10, factor=0.8",
     dict(threshold_mode="abs", threshold=0.05, patience=10, factor=0.8)),
    ("max, abs, threshold=0.05, patience=10, factor=0.8",
     dict(mode="max", threshold_mode="abs", threshold=0.05, patience=10, factor=0.8)),
]


@pytest.mark.parametrize("config,kwargs", PLATEAU, ids=[p[0] for p in PLATEAU])
def test_reduce_lr_on_plateau_matches_torch(config, kwargs, record_parity):
    rng = np.random.default_rng(3)
    # A noisy metric with plateaus, so every branch (better, bad, cooldown, floor) runs.
    metrics = np.cumsum(rng.normal(size=STEPS) * 0.1) + np.repeat(rng.normal(size=STEPS // 20), 20)
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    o = torch.optim.SGD([p], lr=BASE)
    s = tls.ReduceLROnPlateau(o, **kwargs)
    plateau = ozs.ReduceLROnPlateau(BASE, **kwargs)
    expected, actual = [], []
    with x64():
        state = plateau.init()
        step = jax.jit(plateau.step)
        for m in metrics:
            o.step()
            s.step(float(m))
            state = step(state, m)
            expected.append(float(s.get_last_lr()[0]))
            actual.append(float(state.lr))
    err = _rel(actual, expected)
    record_parity("torch", "lr_scheduler.ReduceLROnPlateau", config, err, STEPS)
    assert len(set(expected)) > 1, "the metric should trigger at least one reduction"
    assert err <= TOL, f"ReduceLROnPlateau({config}): {err:.3e}"


def test_schedule_as_optimizer_lr_is_jittable():
    import optzoo.pytorch as ozt

    sched = ozs.OneCycleLR(0.1, total_steps=50)
    tx = ozt.SGD(lr=sched, momentum=0.9)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    upd, _ = jax.jit(tx.update)({"w": jnp.ones(3)}, state, params)
    np.testing.assert_allclose(upd["w"], -float(sched(0)) * np.ones(3), rtol=1e-6)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="StepLR: step_size must be an integer"):
        ozs.StepLR(0.1, step_size=0.5)
    with pytest.raises(ValueError, match="ChainedScheduler: schedulers must be multiplicative"):
        ozs.ChainedScheduler([ozs.CosineAnnealingLR(0.1, 10)])
    with pytest.raises(ValueError, match="SequentialLR: milestones"):
        ozs.SequentialLR([ozs.StepLR(0.1, 3)], [4])
    with pytest.raises(ValueError, match="last_epoch must be -1"):
        ozs.ExponentialLR(0.1, 0.9, last_epoch=5)


def test_momentum_and_plateau_through_inject_hyperparams():
    """The porting guide's recipes: momentum cycling and ReduceLROnPlateau feed the
    optimizer through ``optax.inject_hyperparams``."""
    import optax

    import optzoo.pytorch as ozt

    sched = ozs.OneCycleLR(0.1, total_steps=20)
    tx = optax.inject_hyperparams(ozt.SGD)(lr=sched, momentum=sched.momentum)
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    _, state = jax.jit(tx.update)({"w": jnp.ones(3)}, state, params)
    np.testing.assert_allclose(state.hyperparams["momentum"], float(sched.momentum(0)), rtol=1e-6)

    plateau = ozs.ReduceLROnPlateau(lr=0.1, patience=0)
    tx = optax.inject_hyperparams(ozt.SGD)(lr=0.1, momentum=0.9)
    state = tx.init(params)
    pstate = plateau.step(plateau.step(plateau.init(), 1.0), 2.0)
    state.hyperparams["lr"] = pstate.lr
    upd, _ = jax.jit(tx.update)({"w": jnp.ones(3)}, state, params)
    np.testing.assert_allclose(upd["w"], -0.01 * np.ones(3), rtol=1e-6)
