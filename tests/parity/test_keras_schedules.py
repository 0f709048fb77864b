"""optzoo.keras.schedules against the real Keras 3 schedules driving a real Keras
optimizer (JAX backend, float64), over ``STEPS`` optimizer steps.

The Keras side reads the learning rate off a real ``keras.optimizers.SGD`` whose
schedule is evaluated at its own ``iterations``: each step starts the weight at 0
with gradient 1, so the new weight is exactly ``-lr(iterations)``.

Keras 3's ``ops.cos`` computes in float32 even for float64 input (its
``result_type(float64, float)`` is float32), so ``CosineDecay`` and
``CosineDecayRestarts`` are only float32-accurate in Keras under float64. optzoo
computes in full precision: the exact (1e-10) comparison runs with Keras's
``cos`` evaluated in the input's dtype, and a second comparison against unpatched
Keras checks float32-level agreement (2e-6).
"""

from __future__ import annotations

import contextlib
import os

os.environ["KERAS_BACKEND"] = "jax"  # read once, at Keras's first import (tests/conftest.py)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras  # noqa: E402

import optzoo.keras as ok  # noqa: E402
from tests.parity.harness import keras_float64  # noqa: E402

if keras.backend.backend() != "jax":  # Keras was imported before with another backend
    raise RuntimeError(f"Keras parity needs Keras on JAX, got {keras.backend.backend()!r}")

STEPS = 320
TOL = 1e-10


@contextlib.contextmanager
def full_precision_cos(monkeypatch):
    """Keras's ``cos`` in the input's own dtype (see the module docstring)."""
    from keras.src.backend.jax import numpy as backend_numpy

    original = backend_numpy.cos
    monkeypatch.setattr(backend_numpy, "cos", lambda x: jnp.cos(jnp.asarray(x)))
    try:
        yield
    finally:
        monkeypatch.setattr(backend_numpy, "cos", original)


def keras_lrs(schedule, steps=STEPS):
    """``lr(iterations)`` for iterations 0..steps-1, read off a real Keras SGD."""
    var = keras.Variable(np.zeros(()), dtype="float64")
    opt = keras.optimizers.SGD(learning_rate=schedule)
    opt.build([var])
    opt_vars = [v.value for v in opt.variables]

    def body(ov, _):
        (w,), ov = opt.stateless_apply(ov, [jnp.ones((), jnp.float64)], [jnp.zeros(())])
        return ov, -w

    _, lrs = jax.jit(lambda ov: jax.lax.scan(body, ov, None, length=steps))(opt_vars)
    lrs = np.array(lrs)
    # Compiled, XLA's CPU pow returns NaN for 0 ** 0.5, so Keras's own
    # PolynomialDecay(power=0.5) is NaN past decay_steps inside a jitted step
    # (optzoo's is not). Where that happens, take Keras's eager value.
    for t in np.flatnonzero(~np.isfinite(lrs)):
        lrs[t] = float(schedule(int(t)))
    return lrs


def ours(schedule, steps=STEPS):
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(steps)))


def rel_err(a, e):
    return float(np.max(np.abs(a - e) / np.maximum(np.abs(e), 1e-30)))


# (class name, config label, args, kwargs)
CASES = [
    ("ExponentialDecay", "decay_steps=25,rate=.7", (0.1, 25, 0.7), {}),
    ("ExponentialDecay", "staircase", (0.1, 30, 0.5), dict(staircase=True)),
    ("PiecewiseConstantDecay", "3 boundaries", ([50, 120, 200], [0.1, 0.05, 0.01, 1e-3]), {}),
    ("PiecewiseConstantDecay", "1 boundary", ([7], [0.3, 0.2]), {}),
    ("PolynomialDecay", "end=1e-3,power=.5", (0.1, 100), dict(end_learning_rate=1e-3,
                                                            power=0.5)),
    ("PolynomialDecay", "cycle,power=2", (0.1, 70), dict(end_learning_rate=0.01, power=2.0,
                                                        cycle=True)),
    ("InverseTimeDecay", "decay_steps=20,rate=.5", (0.1, 20, 0.5), {}),
    ("InverseTimeDecay", "staircase", (0.1, 15, 0.8), dict(staircase=True)),
    ("CosineDecay", "alpha=.05", (0.1, 200), dict(alpha=0.05)),
    ("CosineDecay", "warmup 50 to .1,alpha=.1", (0.0, 200), dict(
        alpha=0.1, warmup_target=0.1, warmup_steps=50)),
    ("CosineDecay", "warmup_steps without target", (0.1, 150), dict(warmup_steps=30)),
    ("CosineDecayRestarts", "defaults", (0.1, 40), {}),
    ("CosineDecayRestarts", "t_mul=1,m_mul=.5,alpha=.1", (0.1, 30), dict(
        t_mul=1.0, m_mul=0.5, alpha=0.1)),
    ("CosineDecayRestarts", "t_mul=1.5,m_mul=.8", (0.05, 25), dict(t_mul=1.5, m_mul=0.8)),
]


@pytest.mark.parametrize("name,config,args,kwargs", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_parity(name, config, args, kwargs, record_parity, monkeypatch):
    with keras_float64():
        mine = ours(getattr(ok.schedules, name)(*args, **kwargs))
        with full_precision_cos(monkeypatch):
            theirs = keras_lrs(getattr(keras.optimizers.schedules, name)(*args, **kwargs))
        err = rel_err(mine, theirs)
        record_parity("keras", f"schedules.{name}", config, err, STEPS)
        assert err <= TOL, f"{name} [{config}]: max rel err {err:.3e}"
        if name.startswith("Cosine"):
            as_shipped = keras_lrs(getattr(keras.optimizers.schedules, name)(*args, **kwargs))
            scale = np.max(np.abs(as_shipped))
            assert np.max(np.abs(mine - as_shipped)) <= 2e-6 * scale


def test_float32_and_jit():
    s = ok.schedules.CosineDecay(0.1, 100, warmup_target=0.5, warmup_steps=10)
    lr = jax.jit(s)(jnp.int32(5))
    assert lr.dtype == jnp.float32
    np.testing.assert_allclose(float(lr), 0.1 + 0.4 * 0.5, rtol=1e-6)
    assert float(ok.schedules.PiecewiseConstantDecay([3], [1.0, 2.0])(3)) == 1.0
    assert float(ok.schedules.PiecewiseConstantDecay([3], [1.0, 2.0])(4)) == 2.0


def test_schedule_drives_an_optimizer():
    # A Keras schedule passed to an optzoo.keras optimizer is evaluated at Keras's
    # ``iterations``: step t uses lr(t), starting at 0.
    sched = ok.schedules.ExponentialDecay(1.0, 1, 0.5)
    tx = ok.SGD(learning_rate=sched)
    params = jnp.zeros(())
    state = tx.init(params)
    for t in range(3):
        u, state = tx.update(jnp.ones(()), state, params)
        assert float(u) == -(0.5**t)


def test_validation():
    with pytest.raises(ValueError, match="ExponentialDecay: decay_steps"):
        ok.schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="PiecewiseConstantDecay: values"):
        ok.schedules.PiecewiseConstantDecay([1, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="CosineDecayRestarts: first_decay_steps"):
        ok.schedules.CosineDecayRestarts(0.1, -1)
