"""Schedules against their published formulas, Keras 3, PyTorch, and under jit/vmap.

The references below are float64 NumPy, written from each schedule's formula as its
paper or framework documents it; none calls optzoo.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest
import torch

import optzoo
from optzoo import schedules as S
from optzoo.schedules.registry import SCHEDULES, TRANSFORMATIONS, ScheduleInfo
from tests.helpers import max_rel_err, x64

# Steps checked everywhere: the start, the neighbourhood of typical boundaries and
# horizons, and far past them.
STEPS = np.array(
    sorted({0, 1, 2, 3, 5, 7, 9, 10, 11, 19, 20, 21, 25, 29, 30, 31, 49, 50, 51, 60, 69, 70,
            71, 99, 100, 101, 149, 150, 151, 199, 200, 201, 250, 299, 300, 301, 350, 399, 400,
            401, 499, 500, 501, 699, 700, 701, 999, 1000, 1001, 1499, 1500, 1501, 3000, 10_000,
            123_457, 1_000_000}),
    dtype=np.int64,
)


# ----------------------------------------------------------------- references (float64)


def ref_piecewise(t, boundaries, values):
    return values[sum(t > b for b in boundaries)]


def ref_step(t, init, rate, d):
    return init * rate ** (t // d)


def ref_multistep(t, init, milestones, rate):
    return init * rate ** sum(t >= m for m in milestones)


def _p(t, d, staircase):
    return math.floor(t / d) if staircase else t / d


def ref_exp(t, init, rate, d=1, staircase=False):
    return init * rate ** _p(t, d, staircase)


def ref_natexp(t, init, rate, d=1, staircase=False):
    return init * math.exp(-rate * _p(t, d, staircase))


def ref_invtime(t, init, rate, d=1, staircase=False):
    return init / (1 + rate * _p(t, d, staircase))


def ref_poly(t, init, d, end=0.0, power=1.0, cycle=False):
    if cycle:
        horizon = d * max(1, math.ceil(t / d))
    else:
        horizon, t = d, min(t, d)
    return (init - end) * (1 - t / horizon) ** power + end


def ref_linear(t, init, end, n):
    return init + (end - init) * min(t, n) / n


def ref_cosine(t, init, n, end=0.0):
    return end + (init - end) * (1 + math.cos(math.pi * min(t, n) / n)) / 2


def ref_lincos(t, init, n, periods=0.5, alpha=0.0, beta=0.001, eps=0.0):
    t = min(t, n)
    lin = (n - t) / n
    cos = 0.5 * (1 + math.cos(math.pi * 2 * periods * t / n))
    return init * ((alpha + lin + eps) * cos + beta)


def ref_restarts(t, init, first, t_mul=2.0, m_mul=1.0, alpha=0.0):
    # Walk the periods one by one (SGDR, Loshchilov & Hutter 2017).
    start, length, i = 0.0, float(first), 0
    while t >= start + length:
        start += length
        length *= t_mul
        i += 1
    frac = (t - start) / length
    return init * ((1 - alpha) * m_mul**i * 0.5 * (1 + math.cos(math.pi * frac)) + alpha)


def ref_cyclic(t, base, top, up, down=None, mode="triangular", gamma=1.0):
    # Smith 2017 as torch.optim.lr_scheduler.CyclicLR documents it.
    down = up if down is None else down
    total = up + down
    ratio = up / total
    cycle = math.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    h = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    scale = {"triangular": 1.0, "triangular2": 0.5 ** (cycle - 1), "exp_range": gamma**t}[mode]
    return base + (top - base) * h * scale


def ref_one_cycle(t, top, total, pct=0.3, anneal="cos", div=25.0, final_div=1e4, three=False):
    init = top / div
    low = init / final_div
    if three:
        phases = [(pct * total - 1, init, top), (2 * pct * total - 2, top, init),
                  (total - 1, init, low)]
    else:
        phases = [(pct * total - 1, init, top), (total - 1, top, low)]
    t = min(t, total - 1)
    start = 0.0
    for k, (end, a, b) in enumerate(phases):
        if t <= end or k == len(phases) - 1:
            frac = (t - start) / (end - start)
            if anneal == "cos":
                return b + (a - b) / 2 * (math.cos(math.pi * frac) + 1)
            return a + (b - a) * frac
        start = end
    raise AssertionError


def ref_warmup(t, inner, w, init=0.0):
    if t < w:
        return init + (inner(0) - init) * t / w
    return inner(t - w)


def ref_join(t, inners, boundaries):
    k = sum(t >= b for b in boundaries)
    return inners[k](t - (boundaries[k - 1] if k else 0))


# (id, constructor, kwargs, reference taking the step)
CASES = [
    ("constant", S.constant, dict(value=0.3), lambda t: 0.3),
    ("piecewise_constant", S.piecewise_constant,
     dict(boundaries=[10, 100, 1000], values=[0.5, 0.2, 0.1, 0.05]),
     lambda t: ref_piecewise(t, [10, 100, 1000], [0.5, 0.2, 0.1, 0.05])),
    ("piecewise_constant_one", S.piecewise_constant, dict(boundaries=[], values=[0.7]),
     lambda t: 0.7),
    ("step_decay", S.step_decay, dict(init_value=0.4, decay_rate=0.7, decay_steps=50),
     lambda t: ref_step(t, 0.4, 0.7, 50)),
    ("multistep_decay", S.multistep_decay,
     dict(init_value=0.4, milestones=[30, 70, 500], decay_rate=0.3),
     lambda t: ref_multistep(t, 0.4, [30, 70, 500], 0.3)),
    ("exponential_decay", S.exponential_decay,
     dict(init_value=0.2, decay_rate=0.96, decay_steps=100),
     lambda t: ref_exp(t, 0.2, 0.96, 100)),
    ("exponential_decay_staircase", S.exponential_decay,
     dict(init_value=0.2, decay_rate=0.5, decay_steps=100, staircase=True),
     lambda t: ref_exp(t, 0.2, 0.5, 100, True)),
    ("natural_exp_decay", S.natural_exp_decay,
     dict(init_value=0.2, decay_rate=0.3, decay_steps=50),
     lambda t: ref_natexp(t, 0.2, 0.3, 50)),
    ("natural_exp_decay_staircase", S.natural_exp_decay,
     dict(init_value=0.2, decay_rate=0.3, decay_steps=50, staircase=True),
     lambda t: ref_natexp(t, 0.2, 0.3, 50, True)),
    ("inverse_time_decay", S.inverse_time_decay,
     dict(init_value=0.2, decay_rate=0.5, decay_steps=10),
     lambda t: ref_invtime(t, 0.2, 0.5, 10)),
    ("inverse_time_decay_staircase", S.inverse_time_decay,
     dict(init_value=0.2, decay_rate=0.5, decay_steps=10, staircase=True),
     lambda t: ref_invtime(t, 0.2, 0.5, 10, True)),
    ("polynomial_decay", S.polynomial_decay,
     dict(init_value=0.1, decay_steps=300, end_value=0.001, power=2.0),
     lambda t: ref_poly(t, 0.1, 300, 0.001, 2.0)),
    ("polynomial_decay_cycle", S.polynomial_decay,
     dict(init_value=0.1, decay_steps=300, end_value=0.001, power=0.5, cycle=True),
     lambda t: ref_poly(t, 0.1, 300, 0.001, 0.5, True)),
    ("linear", S.linear, dict(init_value=0.1, end_value=0.02, transition_steps=150),
     lambda t: ref_linear(t, 0.1, 0.02, 150)),
    ("linear_up", S.linear, dict(init_value=0.0, end_value=0.5, transition_steps=7),
     lambda t: ref_linear(t, 0.0, 0.5, 7)),
    ("cosine_decay", S.cosine_decay, dict(init_value=0.1, decay_steps=400, end_value=0.01),
     lambda t: ref_cosine(t, 0.1, 400, 0.01)),
    ("linear_cosine_decay", S.linear_cosine_decay,
     dict(init_value=0.1, decay_steps=500, num_periods=2.0, alpha=0.1, beta=0.01),
     lambda t: ref_lincos(t, 0.1, 500, 2.0, 0.1, 0.01)),
    ("linear_cosine_decay_defaults", S.linear_cosine_decay, dict(init_value=0.1, decay_steps=200),
     lambda t: ref_lincos(t, 0.1, 200)),
    ("noisy_linear_cosine_decay_no_noise", S.noisy_linear_cosine_decay,
     dict(init_value=0.1, decay_steps=500, key=jax.random.key(3), initial_variance=0.0,
          num_periods=1.5, alpha=0.05),
     lambda t: ref_lincos(t, 0.1, 500, 1.5, 0.05)),
    ("cosine_restarts", S.cosine_restarts,
     dict(init_value=0.1, first_decay_steps=100, t_mul=2.0, m_mul=0.7, alpha=0.05),
     lambda t: ref_restarts(t, 0.1, 100, 2.0, 0.7, 0.05)),
    ("cosine_restarts_tmul1", S.cosine_restarts,
     dict(init_value=0.1, first_decay_steps=50, t_mul=1.0, m_mul=0.9),
     lambda t: ref_restarts(t, 0.1, 50, 1.0, 0.9)),
    ("cosine_restarts_tmul1.5", S.cosine_restarts,
     dict(init_value=0.1, first_decay_steps=20, t_mul=1.5),
     lambda t: ref_restarts(t, 0.1, 20, 1.5)),
    ("cyclic_triangular", S.cyclic, dict(base_value=0.01, max_value=0.1, step_size_up=20,
                                         step_size_down=30),
     lambda t: ref_cyclic(t, 0.01, 0.1, 20, 30)),
    ("cyclic_triangular2", S.cyclic, dict(base_value=0.01, max_value=0.1, step_size_up=50,
                                          mode="triangular2"),
     lambda t: ref_cyclic(t, 0.01, 0.1, 50, None, "triangular2")),
    ("cyclic_exp_range", S.cyclic, dict(base_value=0.01, max_value=0.1, step_size_up=25,
                                        step_size_down=50, mode="exp_range", gamma=0.999),
     lambda t: ref_cyclic(t, 0.01, 0.1, 25, 50, "exp_range", 0.999)),
    ("one_cycle", S.one_cycle, dict(max_value=0.1, total_steps=1000),
     lambda t: ref_one_cycle(t, 0.1, 1000)),
    ("one_cycle_linear_three", S.one_cycle,
     dict(max_value=0.1, total_steps=500, pct_start=0.25, anneal="linear", div_factor=10.0,
          final_div_factor=100.0, three_phase=True),
     lambda t: ref_one_cycle(t, 0.1, 500, 0.25, "linear", 10.0, 100.0, True)),
    ("one_cycle_cos_three", S.one_cycle,
     dict(max_value=0.1, total_steps=301, pct_start=0.4, three_phase=True),
     lambda t: ref_one_cycle(t, 0.1, 301, 0.4, "cos", three=True)),
    ("warmup", S.warmup,
     dict(schedule=S.cosine_decay(0.1, 400, 0.01), warmup_steps=50, init_value=0.001),
     lambda t: ref_warmup(t, lambda u: ref_cosine(u, 0.1, 400, 0.01), 50, 0.001)),
    ("warmup_zero", S.warmup, dict(schedule=S.step_decay(0.1, 0.5, decay_steps=10), warmup_steps=0),
     lambda t: ref_step(t, 0.1, 0.5, 10)),
    ("join", S.join,
     dict(schedules=[S.linear(0.0, 0.1, 20), 0.1, S.exponential_decay(0.1, 0.99)],
          boundaries=[20, 150]),
     lambda t: ref_join(t, [lambda u: ref_linear(u, 0.0, 0.1, 20), lambda u: 0.1,
                            lambda u: ref_exp(u, 0.1, 0.99)], [20, 150])),
    ("product", S.product, dict(),
     lambda t: 0.5 * ref_cosine(t, 1.0, 300) * ref_cyclic(t, 0.2, 1.0, 10)),
]
PRODUCT_ARGS = (0.5, S.cosine_decay(1.0, 300), S.cyclic(0.2, 1.0, 10))


def _build(ctor, kwargs):
    return ctor(*PRODUCT_ARGS) if ctor is S.product else ctor(**kwargs)


def _evaluate_all(schedules: dict, steps) -> dict:
    """Every schedule at every step, in one compiled call (compiling once keeps this fast)."""
    return jax.device_get(jax.jit(lambda t: {k: jax.vmap(f)(t) for k, f in schedules.items()})(
        steps))


@pytest.fixture(scope="module")
def formula_values():
    with x64():
        got64 = _evaluate_all({c[0]: _build(c[1], c[2]) for c in CASES}, jnp.asarray(STEPS))
    steps32 = STEPS[STEPS < 100_000]  # float32 steps are exact well past this
    got32 = _evaluate_all({c[0]: _build(c[1], c[2]) for c in CASES},
                          jnp.asarray(steps32, jnp.int32))
    return got64, steps32, got32


@pytest.mark.parametrize("name,ctor,kwargs,ref", CASES, ids=[c[0] for c in CASES])
def test_formula(name, ctor, kwargs, ref, formula_values):
    got64, steps32, got32 = formula_values
    expected = np.array([ref(int(t)) for t in STEPS])
    assert got64[name].dtype == np.float64 and got32[name].dtype == np.float32
    np.testing.assert_allclose(got64[name], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got32[name], expected[: len(steps32)], rtol=2e-5, atol=1e-8)


# ---------------------------------------------------------------------------- Keras 3


KERAS_STEPS = STEPS[STEPS <= 10_000]


def _keras_cases(f=float):
    """(name, Keras schedule, ours); ``f`` types Keras' float arguments (np.float64: a
    float64 Keras schedule, which Python floats do not give)."""
    ks = keras.optimizers.schedules
    return [
        ("ExponentialDecay", ks.ExponentialDecay(f(0.1), 100, f(0.96)),
         S.exponential_decay(0.1, 0.96, decay_steps=100)),
        ("ExponentialDecay_staircase", ks.ExponentialDecay(f(0.1), 30, f(0.5), staircase=True),
         S.exponential_decay(0.1, 0.5, decay_steps=30, staircase=True)),
        ("PiecewiseConstantDecay",
         ks.PiecewiseConstantDecay([10, 100, 1000], [f(0.5), f(0.2), f(0.1), f(0.05)]),
         S.piecewise_constant([10, 100, 1000], [0.5, 0.2, 0.1, 0.05])),
        ("PolynomialDecay", ks.PolynomialDecay(f(0.1), 300, f(0.001), power=2.0),
         S.polynomial_decay(0.1, 300, 0.001, power=2.0)),
        ("PolynomialDecay_cycle", ks.PolynomialDecay(f(0.1), 300, f(0.001), power=0.5, cycle=True),
         S.polynomial_decay(0.1, 300, 0.001, power=0.5, cycle=True)),
        ("InverseTimeDecay", ks.InverseTimeDecay(f(0.1), 10, f(0.5)),
         S.inverse_time_decay(0.1, 0.5, decay_steps=10)),
        ("InverseTimeDecay_staircase", ks.InverseTimeDecay(f(0.1), 10, f(0.5), staircase=True),
         S.inverse_time_decay(0.1, 0.5, decay_steps=10, staircase=True)),
        ("CosineDecay", ks.CosineDecay(f(0.1), 400, alpha=0.1),
         S.cosine_decay(0.1, 400, end_value=0.1 * 0.1)),
        ("CosineDecay_warmup",
         ks.CosineDecay(f(0.001), 400, alpha=0.1, warmup_target=0.1, warmup_steps=50),
         S.warmup(S.cosine_decay(0.1, 400, end_value=0.1 * 0.1), 50, init_value=0.001)),
        ("CosineDecayRestarts",
         ks.CosineDecayRestarts(f(0.1), 100, t_mul=2.0, m_mul=0.7, alpha=0.05),
         S.cosine_restarts(0.1, 100, t_mul=2.0, m_mul=0.7, alpha=0.05)),
        ("CosineDecayRestarts_tmul1", ks.CosineDecayRestarts(f(0.1), 50, t_mul=1.0, m_mul=0.9),
         S.cosine_restarts(0.1, 50, t_mul=1.0, m_mul=0.9)),
    ]


def _keras_errors(cases, steps, floor_fraction=0.0):
    expected = _evaluate_all({name: k for name, k, _ in cases}, steps)
    got = _evaluate_all({name: ours for name, _, ours in cases}, steps)
    errs = {}
    for name, _, _ in cases:
        e = np.asarray(expected[name], np.float64)
        errs[name] = max_rel_err(got[name], e, floor=floor_fraction * float(np.max(np.abs(e))))
    return got, errs


def test_keras3_schedules_float32():
    # Relative error against Keras 3 (JAX backend, float32 on both sides). Where a value
    # falls below 5% of the schedule's peak the error is taken relative to that 5%: there
    # float32 cancellation in Keras' own arithmetic dominates (CosineDecayRestarts near
    # the end of a period: Keras is 3e-5 off the exact formula at step 1499 of a 50-step
    # period, optzoo 1e-6), and test_formula checks those steps against the exact
    # formula; test_keras3_schedules_float64 compares every step without a floor.
    got, errs = _keras_errors(_keras_cases(), jnp.asarray(KERAS_STEPS, jnp.int32), 0.05)
    assert all(v.dtype == np.float32 for v in got.values())
    assert max(errs.values()) <= 1e-6, errs


def test_keras3_schedules_float64():
    floatx = keras.config.floatx()
    try:
        with x64():
            keras.config.set_floatx("float64")
            got, errs = _keras_errors(_keras_cases(np.float64), jnp.asarray(KERAS_STEPS))
    finally:
        keras.config.set_floatx(floatx)
    assert all(v.dtype == np.float64 for v in got.values())
    # Every step, no floor. Keras' cosine schedules keep ~1e-7 float32-level rounding
    # somewhere inside even with float64 arguments (its CosineDecay(0.1, 400, alpha=0.1)
    # at step 5 is 2.5e-8 off the exact value), so this is their agreement floor.
    assert max(errs.values()) <= 1e-6, errs
    assert max(errs[k] for k in errs if "Cosine" not in k) <= 1e-12, errs


# ---------------------------------------------------------------------------- PyTorch


def _torch_lrs(make_scheduler, lr, steps):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make_scheduler(opt)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def _torch_cases():
    lr = torch.optim.lr_scheduler
    return [
        ("StepLR", 0.4, lambda o: lr.StepLR(o, 50, gamma=0.7), S.step_decay(0.4, 0.7, decay_steps=50), 400),
        ("MultiStepLR", 0.4, lambda o: lr.MultiStepLR(o, [30, 70, 150], gamma=0.3),
         S.multistep_decay(0.4, [30, 70, 150], 0.3), 300),
        ("ExponentialLR", 0.2, lambda o: lr.ExponentialLR(o, gamma=0.99),
         S.exponential_decay(0.2, 0.99), 300),
        ("LinearLR", 0.5, lambda o: lr.LinearLR(o, start_factor=0.1, end_factor=0.8,
                                                total_iters=40),
         S.linear(0.05, 0.4, 40), 100),
        ("CosineAnnealingLR", 0.1, lambda o: lr.CosineAnnealingLR(o, T_max=200, eta_min=0.01),
         S.cosine_decay(0.1, 200, 0.01), 201),
        ("CosineAnnealingWarmRestarts", 0.1,
         lambda o: lr.CosineAnnealingWarmRestarts(o, T_0=20, T_mult=2, eta_min=0.005),
         S.cosine_restarts(0.1, 20, t_mul=2.0, alpha=0.05), 400),
        ("CyclicLR_triangular", 0.0, lambda o: lr.CyclicLR(o, 0.01, 0.1, 20, 30,
                                                          cycle_momentum=False),
         S.cyclic(0.01, 0.1, 20, 30), 300),
        ("CyclicLR_triangular2", 0.0,
         lambda o: lr.CyclicLR(o, 0.01, 0.1, 15, mode="triangular2", cycle_momentum=False),
         S.cyclic(0.01, 0.1, 15, mode="triangular2"), 300),
        ("CyclicLR_exp_range", 0.0,
         lambda o: lr.CyclicLR(o, 0.01, 0.1, 25, 10, mode="exp_range", gamma=0.995,
                               cycle_momentum=False),
         S.cyclic(0.01, 0.1, 25, 10, mode="exp_range", gamma=0.995), 300),
        ("OneCycleLR", 0.0, lambda o: lr.OneCycleLR(o, 0.1, total_steps=300, pct_start=0.2,
                                                    div_factor=10.0, final_div_factor=50.0,
                                                    cycle_momentum=False),
         S.one_cycle(0.1, 300, pct_start=0.2, div_factor=10.0, final_div_factor=50.0), 300),
        ("OneCycleLR_linear_three", 0.0,
         lambda o: lr.OneCycleLR(o, 0.1, total_steps=250, anneal_strategy="linear",
                                 three_phase=True, cycle_momentum=False),
         S.one_cycle(0.1, 250, anneal="linear", three_phase=True), 250),
    ]


def test_pytorch_lr_schedulers_float64():
    cases = _torch_cases()
    longest = max(n for *_, n in cases)
    with x64():
        got = _evaluate_all({c[0]: c[3] for c in cases}, jnp.arange(longest))
    errs = {}
    for name, lr0, make, _, n in cases:
        errs[name] = max_rel_err(got[name][:n], _torch_lrs(make, lr0, n))
    assert max(errs.values()) <= 1e-10, errs


# ------------------------------------------------------------------------ noisy decay


def test_noisy_linear_cosine_is_deterministic_and_has_the_documented_noise():
    key = jax.random.key(7)
    kw = dict(init_value=0.1, decay_steps=1000, initial_variance=0.5, variance_decay=0.55,
              num_periods=0.5, alpha=0.0, beta=0.001)
    sched = S.noisy_linear_cosine_decay(key=key, **kw)
    steps = np.arange(0, 1200, 13)
    looped = np.array([float(sched(int(t))) for t in steps[::30]])
    vmapped = np.asarray(jax.jit(jax.vmap(sched))(jnp.asarray(steps)))
    np.testing.assert_allclose(looped, vmapped[::30], rtol=1e-5)  # equal up to float32 rounding
    np.testing.assert_array_equal(looped, [float(sched(jnp.int32(t))) for t in steps[::30]])
    # The documented noise: sqrt(variance_t) * normal(fold_in(key, step)).
    z = np.asarray(jax.jit(jax.vmap(lambda t: jax.random.normal(jax.random.fold_in(key, t))))(
        jnp.asarray(steps)))
    expected = np.array([
        ref_lincos(int(t), 0.1, 1000, eps=math.sqrt(0.5 / (1 + min(t, 1000)) ** 0.55) * zt)
        for t, zt in zip(steps, z)
    ])
    np.testing.assert_allclose(vmapped, expected, rtol=2e-5, atol=1e-8)
    # Another key gives other noise; the noise is standard normal across steps.
    other = S.noisy_linear_cosine_decay(key=jax.random.key(8), **kw)
    assert not np.allclose(np.asarray(jax.jit(jax.vmap(other))(jnp.asarray(steps))), vmapped)
    zs = np.asarray(jax.jit(jax.vmap(lambda t: jax.random.normal(jax.random.fold_in(key, t))))(
        jnp.arange(20_000)))
    assert abs(zs.mean()) < 0.05 and abs(zs.std() - 1) < 0.05
    # A raw uint32[2] key works too.
    raw = S.noisy_linear_cosine_decay(key=jax.random.PRNGKey(7), **kw)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(raw))(jnp.asarray(steps))), vmapped,
                               rtol=1e-6)


# --------------------------------------------------------- dtypes, jit, vmap, huge steps


def _registry_schedules():
    return {name: info.fn(**info.example_kwargs) for name, info in SCHEDULES.items()}


def test_step_types_and_dtypes():
    scheds = _registry_schedules()
    kinds = {"python int": 5, "numpy int32": np.int32(5), "int32 array": jnp.int32(5),
             "int32 vector": jnp.asarray([5, 6], jnp.int32), "int64 numpy": np.int64(5)}
    for name, sched in scheds.items():
        for kind, step in kinds.items():
            out = jax.eval_shape(sched, step)
            assert out.dtype == jnp.float32 and out.shape == np.shape(step), (name, kind, out)
    with x64():
        for name, sched in scheds.items():
            assert jax.eval_shape(sched, 5).dtype == jnp.float64, name
            assert jax.eval_shape(sched, jnp.int32(5)).dtype == jnp.float64, name
    # Concrete values: eager with a Python int equals jit with an int32 and a vector entry.
    traced = _evaluate_all(scheds, jnp.asarray([0, 5, 321], jnp.int32))
    for name in ("cosine_decay", "cosine_restarts", "one_cycle", "join"):
        eager = [float(scheds[name](5)), float(scheds[name](np.int32(321)))]
        np.testing.assert_allclose(eager, traced[name][1:], rtol=1e-6, err_msg=name)


def test_huge_steps_stay_finite():
    big = jnp.asarray([2**31 - 1, 2**31 - 2, 2**30 + 1, 10**9, 123_456_789], jnp.int32)
    scheds = _registry_schedules()
    for name, out in _evaluate_all(scheds, big).items():
        assert np.all(np.isfinite(out)), (name, out)
        # the vectorised values are the schedule's own, step by step
        eager = [float(scheds[name](int(t))) for t in big]
        np.testing.assert_allclose(out, eager, rtol=1e-5, atol=1e-9, err_msg=name)
    with x64():
        values = _evaluate_all(_registry_schedules(), jnp.asarray([2**31 - 1, 2**40]))
        for name, out in values.items():
            assert out.dtype == np.float64 and np.all(np.isfinite(out)), (name, out)
    assert np.isfinite(float(S.cosine_restarts(1.0, 3, t_mul=1.0, m_mul=0.5)(2**31 - 1)))


def test_python_int_steps_beyond_int32_saturate():
    # int(2**31) once raised OverflowError in jnp.asarray; counters saturate at
    # 2**31 - 1, so a schedule reads any larger integer step as that one.
    for name, sched in _registry_schedules().items():
        top = float(sched(2**31 - 1))
        for step in (2**31, 2**40, np.int64(2**40)):
            assert float(sched(step)) == top, (name, step)
        assert float(sched(-(2**40))) == float(sched(0)), name


@pytest.mark.parametrize("ctor", [S.step_decay, S.exponential_decay, S.natural_exp_decay,
                                  S.inverse_time_decay])
def test_keras_positional_order_fails_loudly(ctor):
    # Keras, TF and optax write (init, decay_steps, decay_rate): here decay_rate comes
    # second and everything after it is keyword-only, so their order is a TypeError,
    # not a schedule that decays at rate 1000 (which once gave 5e-5 or 0.0 at step 1).
    with pytest.raises(TypeError, match="positional"):
        ctor(0.1, 1000, 0.5)
    assert float(ctor(0.1, 0.5, decay_steps=1000)(0)) == pytest.approx(0.1)


def test_negative_steps_read_as_zero():
    values = _evaluate_all(_registry_schedules(), jnp.asarray([0, -1, -1000], jnp.int32))
    for name, out in values.items():
        assert out[1] == out[0] and out[2] == out[0], name


def test_jit_compiles_once_for_1000_steps():
    scheds = _registry_schedules()
    traces = []

    @jax.jit
    def all_at(step):
        traces.append(1)  # runs only while tracing
        return {name: f(step) for name, f in scheds.items()}

    outs = [all_at(jnp.int32(t)) for t in range(1000)]
    assert len(traces) == 1 and all_at._cache_size() == 1
    # One schedule on its own, called with 1000 distinct Python-int steps: one trace.
    one_traces = []

    def counted(step):
        one_traces.append(1)
        return scheds["warmup"](step)

    jitted = jax.jit(counted)
    for t in range(1000):
        jitted(t)
    assert len(one_traces) == 1 and jitted._cache_size() == 1
    assert float(outs[500]["linear"]) == pytest.approx(float(scheds["linear"](500)), rel=1e-6)


def test_vmap_over_a_million_steps_equals_a_loop():
    scheds = _registry_schedules()
    values = _evaluate_all(scheds, jnp.arange(10**6, dtype=jnp.int32))
    sample = np.array([0, 1, 99, 100, 101, 299, 300, 301, 999, 1000, 1001, 54_321, 10**6 - 1])
    for name, sched in scheds.items():
        assert values[name].shape == (10**6,) and np.all(np.isfinite(values[name])), name
        looped = np.array([float(sched(int(t))) for t in sample])
        # Equal up to float32 rounding (XLA may fuse the vectorised arithmetic).
        np.testing.assert_allclose(values[name][sample], looped, rtol=1e-5, atol=1e-9,
                                   err_msg=name)


@pytest.mark.parametrize("make_opt", [optzoo.sgd, optzoo.adam], ids=["sgd", "adam"])
def test_schedule_drives_an_optimizer_under_jit(make_opt):
    # The same optimizer with learning rate 1 gives the direction d_t; the scheduled one
    # gives -lr_t * d_t, so their ratio is the rate the optimizer saw at each step.
    sched = S.warmup(S.cosine_restarts(0.1, 30, t_mul=1.5, m_mul=0.8, alpha=0.1), 10, 0.01)
    tx, unit = make_opt(sched), make_opt(1.0)
    rng = np.random.default_rng(0)
    params = {"w": jnp.zeros((3,)), "b": jnp.zeros(())}

    @jax.jit
    def step(grads, state, unit_state):
        updates, state = tx.update(grads, state, params)
        direction, unit_state = unit.update(grads, unit_state, params)
        return updates, direction, state, unit_state

    state, unit_state = tx.init(params), unit.init(params)
    seen = []
    for _ in range(100):
        grads = {"w": jnp.asarray(rng.uniform(0.5, 1.5, 3), jnp.float32),
                 "b": jnp.asarray(rng.uniform(0.5, 1.5), jnp.float32)}
        updates, direction, state, unit_state = step(grads, state, unit_state)
        seen.append(np.concatenate([np.asarray(updates["w"]) / np.asarray(direction["w"]),
                                    [float(updates["b"]) / float(direction["b"])]]))
    seen = np.stack(seen)
    expected = np.asarray(jax.vmap(sched)(jnp.arange(100)))
    np.testing.assert_allclose(seen, np.broadcast_to(expected[:, None], seen.shape), rtol=1e-6)


def test_schedules_work_with_optax_inject_hyperparams_and_in_join():
    import optax

    tx = optax.inject_hyperparams(optax.sgd)(learning_rate=S.one_cycle(0.1, 50))
    state = tx.init(jnp.zeros(2))
    lrs = []
    for _ in range(50):
        _, state = jax.jit(tx.update)(jnp.ones(2), state)
        lrs.append(float(state.hyperparams["learning_rate"]))
    np.testing.assert_allclose(lrs[1:], [ref_one_cycle(t, 0.1, 50) for t in range(1, 50)],
                               rtol=1e-5)
    # An optax schedule inside optzoo's composition.
    joined = S.join([optax.linear_schedule(0.0, 0.1, 10), S.constant(0.1)], [10])
    np.testing.assert_allclose(np.asarray(jax.vmap(joined)(jnp.arange(15))),
                               [ref_linear(t, 0.0, 0.1, 10) for t in range(15)], rtol=1e-6)


# ---------------------------------------------------------------------------- registry


def test_registry_lists_every_schedule():
    public = {n for n in S.__all__ if n[0].islower()} - {"reduce_on_plateau"}
    assert set(SCHEDULES) == public
    assert set(TRANSFORMATIONS) == {"reduce_on_plateau"}
    for name, info in {**SCHEDULES, **TRANSFORMATIONS}.items():
        assert isinstance(info, ScheduleInfo)
        assert info.formula and info.reference and info.family, name
        built = info.fn(**info.example_kwargs)
        assert callable(built) or hasattr(built, "update"), name
        assert getattr(S, name).__doc__ and len(getattr(S, name).__doc__) > 200, name
    noisy = SCHEDULES["noisy_linear_cosine_decay"]
    values = _evaluate_all({seed: noisy.fn(**{**noisy.example_kwargs, "seed": seed})
                            for seed in (0, 1)}, jnp.arange(1000))
    assert not np.array_equal(values[0], values[1])


# ----------------------------------------------------------------- invalid arguments

KEY = jax.random.key(0)
INVALID = [
    (S.constant, dict(value=-1.0), "constant: value must be in [0, inf), got -1.0"),
    (S.piecewise_constant, dict(boundaries=[10, 5], values=[1.0, 2.0, 3.0]),
     "piecewise_constant: boundaries must be strictly increasing, got [10, 5]"),
    (S.piecewise_constant, dict(boundaries=[10, 20], values=[1.0, 2.0]),
     "piecewise_constant: values must have len(boundaries) + 1 = 3 entries, got 2"),
    (S.piecewise_constant, dict(boundaries=[-1, 20], values=[1.0, 2.0, 3.0]),
     "piecewise_constant: boundaries must hold finite numbers >= 0, got [-1, 20] "
     "(entry 0 is -1)"),
    (S.piecewise_constant, dict(boundaries=[1], values=[1.0, -2.0]),
     "piecewise_constant: values[1] must be in [0, inf), got -2.0"),
    (S.step_decay, dict(init_value=1.0, decay_rate=0.5, decay_steps=0),
     "step_decay: decay_steps must be in (0, inf), got 0"),
    (S.step_decay, dict(init_value=1.0, decay_rate=-0.5, decay_steps=10),
     "step_decay: decay_rate must be in [0, 1], got -0.5"),
    (S.multistep_decay, dict(init_value=1.0, milestones=[5, 5], decay_rate=0.5),
     "multistep_decay: milestones must be strictly increasing, got [5, 5]"),
    (S.exponential_decay, dict(init_value=1.0, decay_rate=0.0),
     "exponential_decay: decay_rate must be in (0, 1], got 0.0"),
    (S.exponential_decay, dict(init_value=1.0, decay_rate=0.5, staircase=1),
     "exponential_decay: staircase must be a bool, got 1"),
    (S.natural_exp_decay, dict(init_value=1.0, decay_rate=-0.5),
     "natural_exp_decay: decay_rate must be in [0, inf), got -0.5"),
    (S.inverse_time_decay, dict(init_value=1.0, decay_rate=0.5, decay_steps=-3),
     "inverse_time_decay: decay_steps must be in (0, inf), got -3"),
    (S.polynomial_decay, dict(init_value=1.0, decay_steps=10, power=0.0),
     "polynomial_decay: power must be in (0, inf), got 0.0"),
    (S.polynomial_decay, dict(init_value=1.0, decay_steps=0),
     "polynomial_decay: decay_steps must be in (0, inf), got 0"),
    (S.linear, dict(init_value=1.0, end_value=0.0, transition_steps=0),
     "linear: transition_steps must be in (0, inf), got 0"),
    (S.cosine_decay, dict(init_value=-1e-3, decay_steps=10),
     "cosine_decay: init_value must be in [0, inf), got -0.001"),
    (S.cosine_decay, dict(init_value=1.0, decay_steps=10, end_value=float("nan")),
     "cosine_decay: end_value must be in [0, inf), got nan"),
    (S.linear_cosine_decay, dict(init_value=1.0, decay_steps=10, num_periods=-1.0),
     "linear_cosine_decay: num_periods must be in [0, inf), got -1.0"),
    (S.noisy_linear_cosine_decay, dict(init_value=1.0, decay_steps=10, key=0),
     "noisy_linear_cosine_decay: key must be a PRNG key from jax.random.key(seed) or "
     "jax.random.PRNGKey(seed), got 0"),
    (S.noisy_linear_cosine_decay, dict(init_value=1.0, decay_steps=10, key=KEY,
                                       initial_variance=-1.0),
     "noisy_linear_cosine_decay: initial_variance must be in [0, inf), got -1.0"),
    (S.cosine_restarts, dict(init_value=1.0, first_decay_steps=10, t_mul=0.5),
     "cosine_restarts: t_mul must be in [1, inf), got 0.5"),
    (S.cosine_restarts, dict(init_value=1.0, first_decay_steps=10, m_mul=1.5),
     "cosine_restarts: m_mul must be in [0, 1], got 1.5"),
    (S.cosine_restarts, dict(init_value=1.0, first_decay_steps=0),
     "cosine_restarts: first_decay_steps must be in (0, inf), got 0"),
    (S.cyclic, dict(base_value=0.1, max_value=1.0, step_size_up=10, mode="sawtooth"),
     "cyclic: mode must be one of 'triangular', 'triangular2', 'exp_range', got 'sawtooth'"),
    (S.cyclic, dict(base_value=0.1, max_value=1.0, step_size_up=0),
     "cyclic: step_size_up must be in [1, inf), got 0"),
    (S.cyclic, dict(base_value=0.1, max_value=1.0, step_size_up=10, step_size_down=2.5),
     "cyclic: step_size_down must be an integer in [1, inf], got 2.5"),
    (S.cyclic, dict(base_value=0.1, max_value=1.0, step_size_up=10, gamma=1.5),
     "cyclic: gamma must be in (0, 1], got 1.5"),
    (S.one_cycle, dict(max_value=1.0, total_steps=100, anneal="exp"),
     "one_cycle: anneal must be one of 'cos', 'linear', got 'exp'"),
    (S.one_cycle, dict(max_value=1.0, total_steps=100, pct_start=1.0),
     "one_cycle: pct_start must be in (0.01, 1), got 1.0"),
    (S.one_cycle, dict(max_value=1.0, total_steps=100, pct_start=0.6, three_phase=True),
     "one_cycle: pct_start must be in (0.01, 0.505), got 0.6"),
    (S.one_cycle, dict(max_value=1.0, total_steps=1),
     "one_cycle: total_steps must be in [2, inf), got 1"),
    (S.warmup, dict(schedule="cos", warmup_steps=10),
     "warmup: schedule must be a schedule (a callable step -> value) or a number >= 0, "
     "got 'cos'"),
    (S.warmup, dict(schedule=S.constant(1.0), warmup_steps=-1),
     "warmup: warmup_steps must be in [0, inf), got -1"),
    (S.join, dict(schedules=[S.constant(1.0)], boundaries=[10]),
     "join: schedules must have len(boundaries) + 1 = 2 entries, got 1"),
    (S.join, dict(schedules=[S.constant(1.0), S.constant(2.0)], boundaries=[2.5]),
     "join: boundaries[0] must be an integer in [0, inf], got 2.5"),
    (S.join, dict(schedules=[1.0, 2.0, 3.0], boundaries=[20, 10]),
     "join: boundaries must be strictly increasing, got [20, 10]"),
    (S.product, dict(), "product: schedules must hold at least one schedule, got ()"),
]


@pytest.mark.parametrize("ctor,kwargs,message", INVALID,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(INVALID)])
def test_invalid_arguments(ctor, kwargs, message):
    with pytest.raises(ValueError) as info:
        ctor(**kwargs)
    assert str(info.value) == message


def test_polynomial_decay_reaches_end_value_exactly_under_jit_and_vmap():
    import jax
    import jax.numpy as jnp

    import optzoo

    for power in (0.5, 1.0, 2.5):
        s = optzoo.schedules.polynomial_decay(1.0, 100, end_value=0.25, power=power)
        out = jax.jit(jax.vmap(s))(jnp.arange(100, 110))
        assert bool(jnp.all(out == 0.25)), (power, out)
