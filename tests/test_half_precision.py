"""Half precision (float16, bfloat16): arithmetic in at least float32 from the first
operation, float32 state by default in the core optimizers, the param's dtype in the
PyTorch and Keras flavors (see optzoo/transforms/_dtypes.py and docs/guarantees.md).

The property, for every case of the zoo table, every optimizer at its defaults and
every PyTorch and Keras flavor, in float16 and bfloat16, with gradients of every
magnitude from 1e-8 to 1e4 (one leaf per magnitude, so an optimizer that works
leaf by leaf sees each magnitude on its own): over two steps,

  H1  updates and state stay finite;
  H2  each step equals the float32 computation from the same inputs (gradients,
      params and the state widened to float32), rounded to the half precision,
      within STEP_ULPS units of its rounding. A block rounds once (0 units seen);
      an optimizer's chain rounds between its blocks (the learning rate multiplies
      a rounded direction), hence a few units. The Keras flavors return the
      difference of the new and old params, as Keras assigns the new value: there
      the new params are compared;
  H3  (flavors, whose state is half precision) each update stays within BOUND
      times the largest update of a float32 run from the same start, plus a few
      units of the params' rounding: the state's own rounding moves the trajectory
      but cannot blow the step up. (For the core optimizers H2 already ties every
      step to the float32 computation.)

The optimizers at their default hyperparameters run in the slow suite; the zoo's
cases (every optimizer and block, with example hyperparameters) and the flavors at
their defaults run by default.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
import optzoo.keras
import optzoo.pytorch
from optzoo.transforms import _dtypes
from tests.test_properties import DEFAULTS
from tests.zoo import ZOO, Case, step_kwargs, variants_slow

HALF = [jnp.float16, jnp.bfloat16]
MAGNITUDES = (1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 1.0, 1e2, 1e4)
STEPS = 2

# Units of the half precision's rounding (at the largest entry of a leaf, and at
# least its smallest subnormal) between a step and the float32 computation rounded.
STEP_ULPS = 4
# The flavors keep the state in the param's dtype: a float16 second moment of a
# 1e-4 gradient underflows to 0 once stored, and the next step then divides by the
# root of one step's (1 - b2) g^2 alone, at most 1 / sqrt(1 - b2) (31.6) times
# Adam's step. Core optimizers store float32 and follow the float32 run closely.
BOUND = 40.0


def _cases() -> dict[str, tuple]:
    """name -> (make, extra_args, kind): the zoo's cases, and every optimizer and
    flavor at its defaults."""
    out = {n: (c.make, c.extra_args, "core") for n, c in ZOO.items()}
    for n, (make, extra) in DEFAULTS.items():
        kind = "flavor" if n.split(".")[0] in ("pytorch", "keras") else "core"
        out[n if kind == "flavor" else f"{n}(defaults)"] = (make, extra, kind)
    return out


CASES = _cases()


def _widen(tree):
    return jax.tree.map(lambda x: _dtypes.wide(x) if jnp.issubdtype(jnp.asarray(x).dtype,
                                                                     jnp.floating) else x, tree)


def _finite(tree):
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree)
               if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact))


def _problem(seed=0):
    """Start (one (2, 3) matrix per magnitude, entries in [0.5, 1.5]) and three
    gradients: magnitude times [0.5, 1.5] with random signs."""
    rng = np.random.default_rng(seed)
    start = {f"m{k}": rng.uniform(0.5, 1.5, (2, 3)) for k in range(len(MAGNITUDES))}
    grads = [{f"m{k}": m * rng.uniform(0.5, 1.5, (2, 3)) * rng.choice([-1.0, 1.0], (2, 3))
              for k, m in enumerate(MAGNITUDES)} for _ in range(STEPS)]
    return start, grads


def _loss(at, grads):
    """A quadratic whose gradient at ``at`` is ``grads`` (for the cases that take a
    loss: line searches, Newton), evaluated in float32."""
    def f(p):
        terms = jax.tree.map(
            lambda x, c, g: jnp.sum(g.astype(jnp.float32) * (x.astype(jnp.float32) - c)
                                    + 0.5 * (x.astype(jnp.float32) - c) ** 2),
            p, jax.tree.map(lambda c: c.astype(jnp.float32), at), grads)
        return sum(jax.tree.leaves(terms), jnp.zeros([], jnp.float32))
    return f


def _units(got, ref, dtype):
    """max |got - ref| in units of ``dtype``'s rounding at max |ref|."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    info = jnp.finfo(dtype)
    unit = max(float(info.eps) * float(np.max(np.abs(ref), initial=0.0)),
               float(info.smallest_subnormal))
    return float(np.max(np.abs(got - ref), initial=0.0)) / unit


def half_precision_run(make, extra, dtype, against_float32_run=True, compare_params=False):
    """STEPS steps in ``dtype``; returns (finite, worst step error in units, worst
    ratio of |update| to the largest of a float32 run's, 0 without that run)."""
    start, grads = _problem()
    tx = make()
    case = Case(lambda: tx, extra_args=extra)
    params = jax.tree.map(lambda x: jnp.asarray(x, dtype), start)
    p32 = _widen(params)
    state, s32 = tx.init(params), tx.init(p32)
    finite, worst, ratio = True, 0.0, 0.0
    for k in range(STEPS):
        g = jax.tree.map(lambda x: jnp.asarray(x, dtype), grads[k])
        g32, wide_params = _widen(g), _widen(params)
        loss = _loss(params, g)
        ref, _ = tx.update(g32, _widen(state), wide_params,
                           **step_kwargs(case, wide_params, loss, g32))
        u, state = tx.update(g, state, params, **step_kwargs(case, params, loss, g))
        if against_float32_run:
            u32, s32 = tx.update(g32, s32, p32, **step_kwargs(case, p32, _loss(p32, g32), g32))
            p32 = optax.apply_updates(p32, u32)
        else:
            u32 = jax.tree.map(jnp.zeros_like, g32)
        finite = finite and _finite(u) and _finite(state)
        leaves = zip(jax.tree.leaves(u), jax.tree.leaves(ref), jax.tree.leaves(u32),
                     jax.tree.leaves(params))
        for a, r, t, p in leaves:
            assert a.dtype == dtype and a.shape == r.shape
            if compare_params:
                a, r = p + a, _dtypes.wide(p) + r
            worst = max(worst, _units(a, jnp.asarray(r).astype(dtype), dtype))
            slack = 0.0  # the params' own rounding, where new params are compared
            if compare_params:
                slack = 4 * float(jnp.finfo(dtype).eps) * float(jnp.max(jnp.abs(p)))
            top = float(jnp.max(jnp.abs(t)))
            if not compare_params:
                a = a.astype(jnp.float32)
            size = float(jnp.max(jnp.abs(a - p if compare_params else a)))
            ratio = max(ratio, max(size - slack, 0.0) / top if top > 0 else 0.0)
        params = optax.apply_updates(params, u)
    return finite, worst, ratio


# (case, dtype) whose step is not the float32 computation rounded, with the reason.
STEP_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("pytorch.Adafactor", d): "eps=(None, ...) is the machine epsilon of the params' dtype, as "
    "torch.optim.Adafactor reads it: the float32 computation uses float32's" for d in
    ("float16", "bfloat16")}
# (case, dtype) that fails a property, with the reason (strict xfail).
XFAIL: dict[tuple[str, str], str] = {
    **{(n, "float16"): "optax's zoom line search keeps the loss value in the params' dtype: a "
       "float16 loss above 65504 (the 1e4 gradients here) is stored as inf"
       for n in ("lbfgs", "lbfgs(defaults)")},
    **{(n, "float16"): "angd's recursion G_inv <- (1 + eps) G_inv - eps (G_inv g)(G_inv g)^T "
       "diverges once eps |g|^2 > 1 (see scale_by_angd); at g = 1e4 the float32 run's step is "
       "beyond float16's range" for n in ("angd", "angd(defaults)")},
    **{("keras.Ftrl", d): "the Keras flavor keeps FTRL's accumulator n (a sum of g^2) and z in "
       "the params' dtype, as Keras does: n saturates in float16 at g = 1e4, and the closed-form "
       "solve w = -z / quad turns z's rounding into steps far from the float32 run's (the "
       "arithmetic itself is float32: the block, with the same state, matches it)"
       for d in ("float16", "bfloat16")},
    ("pytorch.LBFGS", "float16"): "torch.optim.LBFGS itself returns NaN in float16 (see "
    "tests/test_properties.py); the flavor reproduces PyTorch's arithmetic",
    ("pytorch.LBFGS", "bfloat16"): "the flavor runs PyTorch's L-BFGS arithmetic in the params' "
    "dtype (optzoo/pytorch/lbfgs.py): in bfloat16, with gradients from 1e-8 to 1e4 in one "
    "problem, its steps grow beyond the float32 run's by ~1e14",
}
# Cases that take seconds each (eager Hessians, line searches): the slow suite.
SLOW = ("lbfgs", "newton", "newton_cg", "pytorch.LBFGS")


def _params():
    out = []
    for n in CASES:
        for d in ("float16", "bfloat16"):
            marks = []
            if n.endswith("(defaults)") or n.split("[")[0].split("(")[0] in SLOW:
                marks.append(pytest.mark.slow)
            if (n, d) in XFAIL:
                marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[(n, d)]))
            out.append(pytest.param(n, d, id=f"{n}-{d}", marks=marks))
    return variants_slow(out)


@pytest.mark.parametrize("name,dtype", _params())
def test_half_precision_every_magnitude(name, dtype):
    make, extra, kind = CASES[name]  # every leaf is a matrix (pytorch.Muon takes only those)
    finite, worst, ratio = half_precision_run(make, extra, jnp.dtype(dtype), kind == "flavor",
                                              compare_params=name.startswith("keras."))
    assert finite, name  # H1
    if (name, dtype) not in STEP_EXCEPTIONS:
        assert worst <= STEP_ULPS, (name, worst)  # H2
    assert ratio <= BOUND, (name, ratio)  # H3


# --------------------------------------------------------------------------- the report


def _issue(g, **kw):
    p = {"w": jnp.ones(4, jnp.float16)}
    grads = {"w": jnp.full(4, g, jnp.float16)}
    tx = optzoo.adam(1e-3, **kw)
    u, state = tx.update(grads, tx.init(p), p)
    p32 = _widen(p)
    ref, _ = tx.update(_widen(grads), tx.init(p32), p32)
    return u["w"], ref["w"].astype(jnp.float16), state


@pytest.mark.parametrize("g", [1e-3, 1e-4, 1e-6])
@pytest.mark.parametrize("kw", [dict(mu_dtype=jnp.float32, nu_dtype=jnp.float32), {}],
                         ids=["float32 moments", "defaults"])
def test_reported_float16_adam(g, kw):
    """The report: float16 params, float32 moments, g = 1e-3 gave -inf and g = 1e-4 a
    step of -10.02 (10^4 x lr), because g^2 was taken in float16. The step is Adam's
    first step, -lr * g / (|g| + eps), the float32 computation rounded."""
    u, ref, state = _issue(g, **kw)
    assert bool(jnp.all(jnp.isfinite(u)))
    assert _units(u, ref, jnp.float16) <= 1
    np.testing.assert_allclose(np.asarray(u, np.float64), -1e-3 / (1 + 1e-8 / g), rtol=2e-3)
    assert state[0].mu["w"].dtype == state[0].nu["w"].dtype == jnp.float32


def test_block_rounds_once():
    """A building block with float32 state, on float16 / bfloat16 gradients, gives
    exactly the float32 computation rounded once (bit for bit)."""
    start, grads = _problem()
    for dtype in HALF:
        for tx in (optzoo.transforms.scale_by_adam(), optzoo.transforms.scale_by_rms(),
                   optzoo.transforms.scale_by_nadam(), optzoo.transforms.scale_by_rss()):
            params = jax.tree.map(lambda x: jnp.asarray(x, dtype), start)
            state = tx.init(params)
            for g in grads:
                g = jax.tree.map(lambda x: jnp.asarray(x, dtype), g)
                ref, _ = tx.update(_widen(g), _widen(state), _widen(params))
                u, state = tx.update(g, state, params)
                for a, r in zip(jax.tree.leaves(u), jax.tree.leaves(ref)):
                    np.testing.assert_array_equal(np.asarray(a), np.asarray(r.astype(dtype)))


def test_skip_nonfinite_does_not_stall_on_small_float16_gradients():
    """With the report's setup under skip_nonfinite every step at g = 1e-3 was
    dropped (training stalled silently) and the -10 step at 1e-4 went through."""
    p = {"w": jnp.ones(4, jnp.float16)}
    tx = optzoo.skip_nonfinite(optzoo.adam(1e-3, mu_dtype=jnp.float32, nu_dtype=jnp.float32))
    state = tx.init(p)
    for g in (1e-3, 1e-4, 1e-3):
        u, state = tx.update({"w": jnp.full(4, g, jnp.float16)}, state, p)
        assert bool(jnp.all(jnp.isfinite(u["w"]))) and float(jnp.max(jnp.abs(u["w"]))) < 2e-3
        p = optax.apply_updates(p, u)
    assert int(state.skipped) == 0


# --------------------------------------------------------------------------- the state


@pytest.mark.parametrize("dtype", HALF, ids=["float16", "bfloat16"])
def test_state_dtypes(dtype):
    """Core optimizers: float32 state for half-precision params by default, the given
    dtype when asked; flavors: the param's dtype (their frameworks'); float32 and
    float64 params: unchanged (the params' dtype)."""
    p = {"w": jnp.ones((2, 3), dtype)}

    def floats(tx, params=p):
        return {x.dtype for x in jax.tree.leaves(tx.init(params))
                if jnp.issubdtype(x.dtype, jnp.floating) and x.ndim > 0}

    for tx in (optzoo.adam(), optzoo.adamw(), optzoo.nadam(), optzoo.radam(), optzoo.adamax(),
               optzoo.amsgrad(), optzoo.rmsprop(), optzoo.adagrad(), optzoo.adadelta(),
               optzoo.sgd(0.1, momentum=0.9), optzoo.lion(), optzoo.muon(), optzoo.adafactor(),
               optzoo.sparse_adam(), optzoo.lamb()):
        assert floats(tx) == {jnp.dtype(jnp.float32)}
        assert floats(tx, {"w": jnp.ones((2, 3), jnp.float32)}) == {jnp.dtype(jnp.float32)}
    assert floats(optzoo.adam(mu_dtype=dtype, nu_dtype=dtype)) == {jnp.dtype(dtype)}
    assert floats(optzoo.adam(mu_dtype="params", nu_dtype="params")) == {jnp.dtype(dtype)}
    for tx in (optzoo.pytorch.Adam(), optzoo.pytorch.RMSprop(), optzoo.pytorch.SGD(momentum=0.9),
               optzoo.pytorch.Adagrad(), optzoo.keras.Adam(), optzoo.keras.Lion(),
               optzoo.keras.Adafactor()):
        assert floats(tx) <= {jnp.dtype(dtype), jnp.dtype(jnp.float32)}  # Keras's EMA etc.
        assert jnp.dtype(dtype) in floats(tx)


@pytest.mark.parametrize("dtype", HALF, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("make", [
    lambda d: optzoo.adam(1e-3, mu_dtype=d, nu_dtype=d),
    lambda d: optzoo.rmsprop(1e-3, nu_dtype=d),
    lambda d: optzoo.adagrad(1e-2, accumulator_dtype=d),
], ids=["adam", "rmsprop", "adagrad"])
def test_half_precision_moments_when_asked(make, dtype):
    """A user who asks for half-precision moments gets finite, bounded steps at every
    magnitude; a float16 square above 65504 saturates instead of becoming inf."""
    tx = make(dtype)
    finite, _, ratio = half_precision_run(lambda: tx, (), dtype)
    assert finite and ratio <= BOUND, ratio


def test_store_saturates_finite_values_only():
    x = jnp.asarray([1e5, -1e6, jnp.inf, -jnp.inf, jnp.nan, 3.0], jnp.float32)
    got = np.asarray(_dtypes.store_leaf(x, jnp.float16), np.float64)
    np.testing.assert_array_equal(got[:4], [65504.0, -65504.0, np.inf, -np.inf])
    assert np.isnan(got[4]) and got[5] == 3.0
    assert _dtypes.store_leaf(x, jnp.float32) is x
