"""The PyTorch and Keras schedule flavors follow the core's step convention: a
negative step gives the value of step 0 (for the learning rate and, where there is
one, the momentum), eagerly and under ``jax.jit``/``jax.vmap``."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import optzoo.keras.schedules as ks  # noqa: E402
import optzoo.pytorch.lr_scheduler as L  # noqa: E402


def _lam(k):
    return 1.0 / (1.0 + 0.1 * k)


TORCH = {
    "StepLR": lambda: L.StepLR(0.1, 3, gamma=0.5),
    "MultiStepLR": lambda: L.MultiStepLR(0.1, [0, 2, 2, 5], gamma=0.5),
    "ConstantLR": lambda: L.ConstantLR(0.1, factor=0.5, total_iters=3),
    "LinearLR": lambda: L.LinearLR(0.1, start_factor=0.2, total_iters=4),
    "ExponentialLR": lambda: L.ExponentialLR(0.1, 0.9),
    "ExponentialLR-growth": lambda: L.ExponentialLR(0.1, 1.2),
    "PolynomialLR": lambda: L.PolynomialLR(0.1, total_iters=4, power=2.0),
    "CosineAnnealingLR": lambda: L.CosineAnnealingLR(0.1, T_max=4, eta_min=0.01),
    "CosineAnnealingWarmRestarts": lambda: L.CosineAnnealingWarmRestarts(0.1, 3, T_mult=2),
    "CyclicLR": lambda: L.CyclicLR(0.01, 0.1, step_size_up=3),
    "CyclicLR-scale_fn": lambda: L.CyclicLR(0.01, 0.1, 3, scale_fn=_lam,
                                            scale_mode="iterations"),
    "OneCycleLR": lambda: L.OneCycleLR(0.1, total_steps=20),
    "OneCycleLR-three_phase": lambda: L.OneCycleLR(0.1, total_steps=20, three_phase=True,
                                                   anneal_strategy="linear"),
    "LambdaLR": lambda: L.LambdaLR(0.1, _lam),
    "MultiplicativeLR": lambda: L.MultiplicativeLR(0.1, lambda k: 0.9),
    "SequentialLR": lambda: L.SequentialLR(
        [L.LinearLR(0.1, 0.5, total_iters=2), L.MultiplicativeLR(0.1, lambda k: 0.9)], [2]),
    "ChainedScheduler": lambda: L.ChainedScheduler(
        [L.LinearLR(0.1, 0.5, total_iters=2), L.ExponentialLR(0.1, 0.9)]),
}

KERAS = {
    "ExponentialDecay": lambda: ks.ExponentialDecay(0.1, 5, 0.5),
    "PiecewiseConstantDecay": lambda: ks.PiecewiseConstantDecay([0, 3], [0.3, 0.2, 0.1]),
    "PolynomialDecay": lambda: ks.PolynomialDecay(0.1, 5, power=0.5, cycle=True),
    "InverseTimeDecay": lambda: ks.InverseTimeDecay(0.1, 5, 0.5),
    "CosineDecay": lambda: ks.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=3),
    "CosineDecayRestarts": lambda: ks.CosineDecayRestarts(0.1, 4, t_mul=1.5, m_mul=0.8),
}


def _check_negative_steps(fn):
    at0 = float(fn(0))
    for step in (-1, -7, np.int32(-3), jnp.asarray(-2, jnp.int32), -2.5):
        assert float(fn(step)) == at0, step
    steps = jnp.asarray([-5, -1, 0, 1, 2], jnp.int32)
    out = np.asarray(jax.jit(jax.vmap(fn))(steps))
    # negative steps read as step 0; steps 1 and 2 are the schedule's own values there
    np.testing.assert_allclose(out, [at0, at0, at0, float(fn(1)), float(fn(2))], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(TORCH))
def test_torch_scheduler_negative_step_is_step_zero(name):
    sched = TORCH[name]()
    _check_negative_steps(sched)
    if sched.momentum is not None:
        _check_negative_steps(sched.momentum)


@pytest.mark.parametrize("name", sorted(KERAS))
def test_keras_schedule_negative_step_is_step_zero(name):
    _check_negative_steps(KERAS[name]())


def test_torch_options_beyond_the_core_defaults():
    # gamma > 1 grows (a learning-rate range test), as torch allows.
    np.testing.assert_allclose(float(L.ExponentialLR(0.1, 1.1)(3)), 0.1 * 1.1**3, rtol=1e-6)
    np.testing.assert_allclose(float(L.StepLR(0.1, 2, gamma=2.0)(5)), 0.4, rtol=1e-6)
    # A milestone listed twice counts twice.
    np.testing.assert_allclose(
        np.asarray(jax.vmap(L.MultiStepLR(1.0, [3, 1, 3], 0.5))(jnp.arange(5))),
        [1.0, 0.5, 0.5, 0.125, 0.125], rtol=1e-6)
    # CosineAnnealingLR keeps oscillating past T_max.
    np.testing.assert_allclose(float(L.CosineAnnealingLR(0.1, 4)(8)), 0.1, rtol=1e-6)
    # The flavors name their own arguments in errors raised by the core checks.
    with pytest.raises(ValueError, match="^CosineAnnealingLR: eta_min must be in"):
        L.CosineAnnealingLR(0.1, 4, eta_min=-1.0)
    with pytest.raises(ValueError, match="^OneCycleLR: anneal_strategy must be one of"):
        L.OneCycleLR(0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="^SequentialLR: milestones must be strictly"):
        L.SequentialLR([L.StepLR(0.1, 3)] * 3, [5, 2])


def _check_python_ints_beyond_int32(fn):
    """A Python or NumPy integer step past int32 saturates, as step counters do,
    instead of raising ``OverflowError`` on conversion."""
    top = float(fn(2**31 - 1))
    for step in (2**31, 2**40, np.int64(2**40)):
        assert float(fn(step)) == top, step
    assert float(fn(-(2**40))) == float(fn(0))


@pytest.mark.parametrize("name", sorted(TORCH))
def test_torch_scheduler_python_int_beyond_int32(name):
    _check_python_ints_beyond_int32(TORCH[name]())


@pytest.mark.parametrize("name", sorted(KERAS))
def test_keras_schedule_python_int_beyond_int32(name):
    _check_python_ints_beyond_int32(KERAS[name]())
