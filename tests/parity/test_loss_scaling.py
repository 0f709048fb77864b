"""Loss scaling against the real ``torch.amp.GradScaler`` and Keras 3's
``LossScaleOptimizer``, through runs that overflow on purpose.

Each run trains for ``STEPS`` steps from the same start; at chosen steps one
gradient entry is replaced by ``inf`` or ``NaN`` on both sides (after the scaled
loss is differentiated, where a float16 overflow would appear). Every step the
scale, the growth counter, whether the step was skipped and the params are
compared; the params within 1e-10 relative (float64), the rest exactly.
"""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "jax"  # read once, at Keras's first import (tests/conftest.py)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import keras  # noqa: E402
import optzoo.keras as ok  # noqa: E402
import optzoo.pytorch as ozt  # noqa: E402
from tests.helpers import x64  # noqa: E402
from tests.parity.harness import (  # noqa: E402,F401 (torch_float64: a fixture)
    NAMES,
    STEPS,
    TOL,
    fast_jit,
    keras_float64,
    leaf_rel_err,
    loss_jax,
    loss_torch,
    problem,
    torch_float64,
)

# step -> (leaf, value): the injected overflows (three in a row at 40-42: the scale
# backs off three times running; 61 and 62 in two leaves at once)
BAD = {3: ("w1", np.inf), 4: ("b2", np.nan), 17: ("w2", -np.inf), 40: ("w1", np.nan),
       41: ("b1", np.inf), 42: ("w2", np.inf), 61: ("b1", np.nan), 62: ("w1", -np.inf),
       90: ("b2", np.inf)}


def _inject(grads: dict, step: int, setter) -> None:
    if step in BAD:
        leaf, value = BAD[step]
        setter(grads, leaf, value)


# ------------------------------------------------------------------------------- torch

TORCH_CASES = [
    ("AdamW", dict(lr=0.01, weight_decay=0.05),
     dict(init_scale=2.0**10, growth_interval=5)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01),
     dict(init_scale=1000.0, growth_factor=3.0, backoff_factor=0.3, growth_interval=4)),
    # The growth would overflow float32: torch keeps the finite scale.
    ("Adam", dict(lr=0.01), dict(init_scale=2.0**126, growth_interval=3)),
    ("AdamW", dict(lr=0.01), dict()),  # torch's defaults
]


def _label(opt, okw, skw) -> str:
    args = ", ".join(f"{k}={v}" for k, v in {**skw}.items()) or "defaults"
    inner = ", ".join(f"{k}={v}" for k, v in okw.items())
    return f"{args}; inner {opt}({inner}); {len(BAD)} injected overflows"


def run_torch_scaler(opt_name, okw, skw, dtype):
    """Per step: torch's (scale, growth tracker, skipped, params) and optzoo's."""
    x, y, init = problem(3)
    tp = {k: torch.tensor(init[k], dtype=dtype, requires_grad=True) for k in NAMES}
    topt = getattr(torch.optim, opt_name)([tp[k] for k in NAMES], **okw)
    scaler = torch.amp.GradScaler("cpu", **skw)
    tx_t, ty_t = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)

    def set_torch(g, leaf, value):
        tp[leaf].grad.view(-1)[0] = value

    def set_jax(g, leaf, value):
        g[leaf] = g[leaf].at[(0,) * g[leaf].ndim].set(value)

    jdtype = jnp.float64 if dtype == torch.float64 else jnp.float32
    tx = ozt.GradScaler(getattr(ozt, opt_name)(**okw), **skw)
    params = {k: jnp.asarray(init[k], jdtype) for k in NAMES}
    state = tx.init(params)
    xj, yj = jnp.asarray(x, jdtype), jnp.asarray(y, jdtype)

    grad_fn = fast_jit(jax.grad(lambda p, s: ozt.scale_loss(loss_jax(p, xj, yj), s)))
    update = fast_jit(lambda g, s, p: tx.update(g, s, p))

    rows = []
    for step in range(1, STEPS + 1):
        topt.zero_grad()
        scaler.scale(loss_torch(tp, tx_t, ty_t)).backward()
        _inject(None, step, set_torch)
        before = {k: t.detach().clone() for k, t in tp.items()}
        scaler.step(topt)
        scaler.update()
        t_skipped = all(torch.equal(before[k], tp[k].detach()) for k in NAMES)

        grads = dict(grad_fn(params, state))
        _inject(grads, step, set_jax)
        updates, state = update(grads, state, params)
        new = optax.apply_updates(params, updates)
        o_skipped = all(bool(jnp.array_equal(new[k], params[k])) for k in NAMES)
        params = new
        rows.append(((scaler.get_scale(), scaler._get_growth_tracker(), t_skipped,
                      {k: t.detach().numpy().copy() for k, t in tp.items()}),
                     (float(ozt.get_scale(state)), int(state.growth_tracker), o_skipped,
                      params)))
    return rows


def _compare(rows):
    """(worst params error, list of mismatches in scale, counter or skipping)."""
    worst, wrong = 0.0, []
    for step, ((ts, tt, tskip, tparams), (os_, ot, oskip, oparams)) in enumerate(rows, 1):
        worst = max(worst, leaf_rel_err(oparams, tparams))
        if (ts, tt, tskip) != (os_, ot, oskip):
            wrong.append(f"step {step}: reference {(ts, tt, tskip)}, optzoo {(os_, ot, oskip)}")
    return worst, wrong


@pytest.mark.usefixtures("torch_float64")
@pytest.mark.parametrize("opt_name,okw,skw", TORCH_CASES,
                         ids=[_label(*c) for c in TORCH_CASES])
def test_grad_scaler_matches_torch(opt_name, okw, skw, record_parity):
    with x64():
        rows = run_torch_scaler(opt_name, okw, skw, torch.float64)
    worst, wrong = _compare(rows)
    skipped = sum(r[0][2] for r in rows)
    grew = len({r[0][0] for r in rows})
    record_parity("torch", "GradScaler", _label(opt_name, okw, skw),
                  worst if not wrong else float("inf"), STEPS)
    assert not wrong, wrong[:5]
    assert skipped == len(BAD), skipped
    assert grew > 3, "the scale should grow and back off several times"
    assert worst <= TOL, f"max relative error {worst:.3e}"


def test_grad_scaler_float32_tracks_torch():
    """float32 params and grads on both sides (AMP's master weights), JAX without
    x64: the same skipped steps and scales, params within float32 rounding. (Without
    x64 a growth or backoff factor that is not a power of 2 can leave the float32
    scale one ulp from torch's, which multiplies in double.)"""
    opt_name, okw, skw = TORCH_CASES[0]
    rows = run_torch_scaler(opt_name, okw, skw, torch.float32)
    worst, wrong = _compare(rows)
    assert not wrong, wrong[:5]
    assert worst <= 1e-5, f"max relative error {worst:.3e}"


def test_grad_scaler_disabled_is_the_inner_optimizer():
    params = {"w": jnp.array([1.0, -2.0])}
    grads = {"w": jnp.array([0.5, jnp.inf])}
    tx = ozt.GradScaler(ozt.SGD(0.1), enabled=False)
    state = tx.init(params)
    assert float(ozt.scale_loss(jnp.float32(3.0), state)) == 3.0
    updates, state = tx.update(grads, state, params)
    assert np.isinf(updates["w"][1]) and float(ozt.get_scale(state)) == 1.0


def test_scale_loss_dtypes_follow_each_framework():
    params = {"w": jnp.ones(2)}
    t_state = ozt.GradScaler(ozt.SGD(0.1)).init(params)
    k_state = ok.LossScaleOptimizer(ok.SGD(0.1)).init(params)
    half = jnp.float16(2.0)
    assert ozt.scale_loss(half, t_state).dtype == jnp.float16  # torch: the loss's dtype
    assert np.isinf(float(ozt.scale_loss(half, t_state)))  # 2 * 65536 overflows float16
    assert ok.scale_loss(half, k_state).dtype == jnp.float32  # Keras: promoted
    assert float(ok.scale_loss(half, k_state)) == 2.0**16


@pytest.mark.parametrize("make,match", [
    (lambda: ozt.GradScaler(ozt.SGD(0.1), growth_factor=0.5),
     r"^GradScaler: growth_factor must be in \(1, inf\), got 0.5$"),
    (lambda: ozt.GradScaler(ozt.SGD(0.1), backoff_factor=1.0),
     r"^GradScaler: backoff_factor must be in \(0, 1\), got 1.0$"),
    (lambda: ozt.GradScaler(ozt.SGD(0.1), growth_interval=0),
     r"^GradScaler: growth_interval must be in \[1, inf\), got 0$"),
    (lambda: ozt.GradScaler(ozt.SGD(0.1), init_scale=0.0),
     r"^GradScaler: init_scale must be in \(0, inf\), got 0.0$"),
    (lambda: ozt.GradScaler(0.1), r"^GradScaler: inner must be an optax"),
    (lambda: ok.LossScaleOptimizer(ok.SGD(0.1), dynamic_growth_steps=0),
     r"^LossScaleOptimizer: dynamic_growth_steps must be in \[1, inf\), got 0$"),
    (lambda: ok.LossScaleOptimizer(ok.SGD(0.1), initial_scale=-1.0),
     r"^LossScaleOptimizer: initial_scale must be in \(0, inf\), got -1.0$"),
])
def test_invalid_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ------------------------------------------------------------------------------- Keras

KERAS_CASES = [
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.05),
     dict(initial_scale=2.0**10, dynamic_growth_steps=5)),
    ("SGD", dict(learning_rate=0.05, momentum=0.9), dict(dynamic_growth_steps=3)),
    # The inner optimizer's iterations drive its schedule: a skipped step must not
    # advance them. Its loss_scale_factor is cleared, as Keras clears it.
    ("Adam", dict(learning_rate="exp", loss_scale_factor=8.0),
     dict(initial_scale=4.0, dynamic_growth_steps=4)),
]


def _keras_pair(opt_name, okw, lkw):
    k_kw, o_kw = dict(okw), dict(okw)
    if okw.get("learning_rate") == "exp":
        k_kw["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(0.05, 10, 0.5)
        o_kw["learning_rate"] = ok.schedules.ExponentialDecay(0.05, 10, 0.5)
    ref = keras.optimizers.LossScaleOptimizer(getattr(keras.optimizers, opt_name)(**k_kw), **lkw)
    return ref, ok.LossScaleOptimizer(getattr(ok, opt_name)(**o_kw), **lkw)


def run_keras_scaler(opt_name, okw, lkw):
    """Keras's ``stateless_apply`` (its JAX trainer's path) against optzoo, per step,
    on gradients of the scaled loss of :func:`tests.parity.harness.problem`."""
    x, y, init = problem(4)
    ref, tx = _keras_pair(opt_name, okw, lkw)
    kvars = [keras.Variable(init[k], dtype="float64", name=k) for k in NAMES]
    ref.build(kvars)
    paths = [v.path for v in ref.variables]
    i_scale = next(i for i, p in enumerate(paths) if p.endswith("dynamic_scale"))
    i_count = next(i for i, p in enumerate(paths) if p.endswith("step_counter"))
    i_iter = [i for i, p in enumerate(paths) if p.endswith("iteration")]
    ov = [v.value for v in ref.variables]
    tv = [v.value for v in kvars]
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def grads_at(p_list, scale):
        p = dict(zip(NAMES, p_list))
        return jax.grad(lambda q: loss_jax(q, xj, yj) * scale)(p)

    k_grads = fast_jit(lambda tv, scale: grads_at(tv, scale))
    k_step = fast_jit(lambda ov, g, tv: ref.stateless_apply(ov, g, tv))
    params = dict(zip(NAMES, tv))
    state = tx.init(params)
    o_grads = fast_jit(jax.grad(lambda p, s: ok.scale_loss(loss_jax(p, xj, yj), s)))
    update = fast_jit(lambda g, s, p: tx.update(g, s, p))

    def set_value(g, leaf, value):
        g[leaf] = g[leaf].at[(0,) * g[leaf].ndim].set(value)

    rows = []
    for step in range(1, STEPS + 1):
        kg = dict(k_grads(tv, ov[i_scale].astype(jnp.float64)))
        _inject(kg, step, set_value)
        new_tv, ov = k_step(ov, [kg[k] for k in NAMES], tv)
        k_skipped = all(bool(jnp.array_equal(a, b)) for a, b in zip(new_tv, tv))
        tv = new_tv

        g = dict(o_grads(params, state))
        _inject(g, step, set_value)
        updates, state = update(g, state, params)
        new = optax.apply_updates(params, updates)
        o_skipped = all(bool(jnp.array_equal(new[k], params[k])) for k in NAMES)
        params = new
        k_iters = max(int(ov[i]) for i in i_iter)  # the inner optimizer's count
        o_iters = int(ok._base._find_keras_state(state).iterations)
        rows.append(((float(ov[i_scale]), int(ov[i_count]), k_skipped, k_iters,
                      dict(zip(NAMES, [np.asarray(t) for t in tv]))),
                     (float(state.scale), int(state.growth_tracker), o_skipped, o_iters,
                      params)))
    return rows


@pytest.mark.parametrize("opt_name,okw,lkw", KERAS_CASES,
                         ids=[_label(*c) for c in KERAS_CASES])
def test_loss_scale_optimizer_matches_keras(opt_name, okw, lkw, record_parity):
    with keras_float64():
        rows = run_keras_scaler(opt_name, okw, lkw)
    worst, wrong = 0.0, []
    for step, (k, o) in enumerate(rows, 1):
        worst = max(worst, leaf_rel_err(o[4], k[4]))
        if k[:4] != o[:4]:
            wrong.append(f"step {step}: Keras {k[:4]}, optzoo {o[:4]}")
    record_parity("keras", "LossScaleOptimizer", _label(opt_name, okw, lkw),
                  worst if not wrong else float("inf"), STEPS)
    assert not wrong, wrong[:5]
    assert sum(r[0][2] for r in rows) == len(BAD)
    assert rows[-1][0][3] == STEPS - len(BAD), "skipped steps do not count as iterations"
    assert worst <= TOL, f"max relative error {worst:.3e}"
