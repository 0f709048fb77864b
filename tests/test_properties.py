"""Property-based tests over random pytrees, for every case of the zoo table.

Pytrees: nested dicts, lists and tuples (up to 5 leaves) of scalars, vectors,
matrices, a 3-d array and zero-size arrays, all of one dtype drawn from float32,
bfloat16 and float16 (float64 in its own test, under x64). The default run checks
the pinned examples ``PINNED`` and ``PINNED_X64``: dicts, lists and tuples nested in
one another, zero-size leaves, bfloat16, float32 and float64, two leaves each to
keep the ~140 cases quick; ``OPTZOO_HYPOTHESIS_EXAMPLES=n`` adds n drawn ones, and
the slow run draws 25 (float64: 10). Inputs: params and
gradients uniform in [-2, 2] with about 10% exact zeros (a zero gradient must not
give NaN); for the cases that take a loss, the gradients are those of a quadratic
with curvature in [0.5, 2] and centre in [-1, 1]. Two steps per example.

Properties, each checked on every example:
  P1  every update leaf has its param's shape and dtype;
  P2  finite inputs give finite updates, params and state;
  P3  ``jax.jit`` equals eager execution (within a few units of the dtype's
      rounding; float64 within 1e-12 relative);
  P4  the state's tree structure, leaf shapes and leaf dtypes never change.
"""

from __future__ import annotations

import inspect
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.zoo import ZOO, Case, step_kwargs, variants_slow

# Drawn examples on top of the pinned ones (0: the pinned ones only).
EXAMPLES = int(os.environ.get("OPTZOO_HYPOTHESIS_EXAMPLES", "0"))

XFAIL: dict[tuple[str, str], str] = {}  # (test, case) -> reason naming the bug

SHAPES = [(), (1,), (5,), (3, 4), (4, 2), (0,), (0, 3), (2, 3, 2)]
_leaf = st.sampled_from(range(len(SHAPES)))
TREES = st.recursive(
    _leaf,
    lambda children: st.one_of(
        st.dictionaries(st.sampled_from("abcd"), children, min_size=1, max_size=3),
        st.lists(children, min_size=1, max_size=3),
        st.lists(children, min_size=1, max_size=3).map(tuple),
    ),
    max_leaves=5,
)


def _build(skeleton, dtype, seed):
    """Params, gradients and a loss for a skeleton of shape indices."""
    rng = np.random.default_rng(seed)

    def draw(i):
        x = rng.uniform(-2.0, 2.0, size=SHAPES[i])
        x[rng.uniform(size=x.shape) < 0.1] = 0.0
        return x

    params = jax.tree.map(lambda i: jnp.asarray(draw(i), dtype), skeleton)
    grads = jax.tree.map(lambda i: jnp.asarray(draw(i), dtype), skeleton)
    curv = jax.tree.map(lambda i: rng.uniform(0.5, 2.0, size=SHAPES[i]), skeleton)
    centre = jax.tree.map(lambda i: rng.uniform(-1.0, 1.0, size=SHAPES[i]), skeleton)

    def loss_fn(p):
        terms = jax.tree.map(
            lambda x, a, c: jnp.sum(0.5 * a * (x.astype(jnp.float32) - c) ** 2), p, curv, centre
        )
        return sum(jax.tree.leaves(terms), jnp.zeros([], jnp.float32))

    return params, grads, loss_fn


def _signature(tree):
    return jax.tree.structure(tree), [(jnp.shape(x), jnp.asarray(x).dtype)
                                      for x in jax.tree.leaves(tree)]


def _finite(tree):
    return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(tree)
               if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact))


def _two_steps(case, tx, params, grads, loss_fn, update):
    state = tx.init(params)
    states, outs = [state], []
    for k in range(2):
        g = grads if k == 0 or case.extra_args else jax.tree.map(lambda x: -0.5 * x, grads)
        if case.extra_args:
            g = jax.tree.map(lambda x, p: x.astype(p.dtype), jax.grad(loss_fn)(params), params)
        updates, state = update(g, state, params, **step_kwargs(case, params, loss_fn, g))
        params = optax.apply_updates(params, updates)
        states.append(state)
        outs.append((updates, params))
    return outs, states


# Units of rounding allowed between jit and eager. Newton-Schulz (Muon) runs a
# quintic whose slope at 0 is a = 3.4445 for ns_steps rounds, so one rounding of a
# fused matmul grows to about a^ns_steps units (140 for 4 steps; 11 seen).
JIT_ULPS = {"muon": 256, "transforms.scale_by_muon": 256}


def _close(a, b, dtype, ulps=8):
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if dtype == jnp.float64:
        rtol, atol = 1e-12, 1e-12  # far above 256 units of float64 rounding
    else:
        eps = float(jnp.finfo(dtype).eps)
        rtol, atol = ulps * eps, ulps * eps * max(1.0, float(np.max(np.abs(b64), initial=0.0)))
    return np.allclose(a64, b64, rtol=rtol, atol=atol, equal_nan=True)


def check_properties(name, skeleton, dtype, seed):
    case = ZOO[name]
    params, grads, loss_fn = _build(skeleton, dtype, seed)
    tx = case.make()
    eager, states = _two_steps(case, tx, params, grads, loss_fn, tx.update)
    fn_kw = {"value_fn": loss_fn} if "value_fn" in case.extra_args else {}
    compiled = jax.jit(lambda g, s, p, kw: tx.update(g, s, p, **kw, **fn_kw))

    def jit_update(g, s, p, **kw):  # value_fn is a function: closed over, not traced
        kw.pop("value_fn", None)
        return compiled(g, s, p, kw)

    jitted, jstates = _two_steps(case, tx, params, grads, loss_fn, jit_update)
    sig = _signature(states[0])
    for k, ((u, p), (ju, jp)) in enumerate(zip(eager, jitted)):
        # P1: shapes and dtypes
        assert _signature(u) == _signature(params), (name, k)
        assert _signature(p) == _signature(params), (name, k)
        # P2: finite in, finite out
        assert _finite(u) and _finite(p) and _finite(states[k + 1]), (name, k, u)
        # P3: jit equals eager
        for a, b in zip(jax.tree.leaves((ju, jp)), jax.tree.leaves((u, p))):
            assert _close(a, b, dtype, JIT_ULPS.get(name, 8)), (name, k, a, b)
        # P4: the state's structure, shapes and dtypes never change
        assert _signature(states[k + 1]) == sig, (name, k)
        assert _signature(jstates[k + 1]) == sig, (name, k)


def _cases(test):
    return variants_slow([
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=XFAIL[(test, n)]))
        if (test, n) in XFAIL else n for n in ZOO])


DTYPES = st.sampled_from([jnp.float32, jnp.bfloat16, jnp.float16])
_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])
# The default run: the pinned examples, plus EXAMPLES drawn ones when asked for.
_DEFAULT = dict(max_examples=max(EXAMPLES, 1),
                phases=tuple(Phase) if EXAMPLES else (Phase.explicit,), **_SETTINGS)

# Leaves are indices into SHAPES: 0 (), 1 (1,), 2 (5,), 3 (3, 4), 4 (4, 2), 5 (0,),
# 6 (0, 3), 7 (2, 3, 2).
PINNED = [
    # a dict holding a list holding a tuple; a zero-size matrix beside a full one
    dict(skeleton={"a": [(6,)], "b": 3}, dtype=jnp.bfloat16, seed=11),
    # a tuple holding a list; a scalar and a 3-d array
    dict(skeleton=(0, [7]), dtype=jnp.float32, seed=12),
]
PINNED_X64 = [dict(skeleton={"a": [(5,)], "b": 2}, seed=13)]  # a zero-size vector, nested
# float16 is drawn in the slow run (and every case runs float16 zero gradients below).


def _pinned(examples):
    def decorate(test):
        for kwargs in reversed(examples):
            test = example(**kwargs)(test)
        return test
    return decorate


@pytest.mark.parametrize("name", _cases("properties"))
@settings(**_DEFAULT)
@_pinned(PINNED)
@given(skeleton=TREES, dtype=DTYPES, seed=st.integers(0, 2**16))
def test_properties(name, skeleton, dtype, seed):
    check_properties(name, skeleton, dtype, seed)


def _float64(name, skeleton, seed):
    with jax.enable_x64(True):
        check_properties(name, skeleton, jnp.float64, seed)


@pytest.mark.parametrize("name", _cases("properties_x64"))
@settings(**_DEFAULT)
@_pinned(PINNED_X64)
@given(skeleton=TREES, seed=st.integers(0, 2**16))
def test_properties_float64(name, skeleton, seed):
    _float64(name, skeleton, seed)


@pytest.mark.slow
@pytest.mark.parametrize("name", _cases("properties_x64"))
@settings(max_examples=10, **_SETTINGS)
@given(skeleton=TREES, seed=st.integers(0, 2**16))
def test_properties_float64_many(name, skeleton, seed):
    _float64(name, skeleton, seed)


@pytest.mark.slow
@pytest.mark.parametrize("name", _cases("properties"))
@settings(max_examples=25, **_SETTINGS)
@given(skeleton=TREES, dtype=DTYPES, seed=st.integers(0, 2**16))
def test_properties_many(name, skeleton, dtype, seed):
    check_properties(name, skeleton, dtype, seed)


HALF = [jnp.float16, jnp.bfloat16]


def _zero_gradient_steps(tx, extra_args, dtype, matrices_only=False):
    """Two steps from zero gradients, then one from a real one, in ``dtype``; all finite."""
    params = {"w": jnp.ones((3, 2), dtype), "s": jnp.asarray(1.5, dtype)}
    if matrices_only:
        params["s"] = jnp.full((2, 4), 1.5, dtype)
    case = Case(lambda: tx, extra_args=extra_args)

    def loss_fn(p):
        return sum(jnp.sum(x.astype(jnp.float32) ** 2) for x in jax.tree.leaves(p))

    state = tx.init(params)
    for grads in (jax.tree.map(jnp.zeros_like, params),) * 2 + (params,):
        updates, state = tx.update(grads, state, params,
                                   **step_kwargs(case, params, loss_fn, grads))
        assert _finite(updates) and _finite(state), (dtype, updates, state)
        assert _signature(updates) == _signature(params)
        params = optax.apply_updates(params, updates)


@pytest.mark.parametrize("dtype", HALF, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", variants_slow(list(ZOO)))
def test_zero_gradient_half_precision(name, dtype):
    """A zero gradient in float16 / bfloat16: no eps may vanish into 0 / 0 (float16's
    smallest subnormal is about 6e-8, above the usual eps = 1e-8)."""
    _zero_gradient_steps(ZOO[name].make(), ZOO[name].extra_args, dtype)


def _default_constructors():
    """Every public optimizer and flavor class at its default hyperparameters
    (a learning rate where it has none): name -> (make, extra_args)."""
    import optzoo
    import optzoo.keras
    import optzoo.pytorch
    from optzoo.catalog import optimizer_names

    out = {}
    for n in optimizer_names():
        fn = getattr(optzoo, n)
        needs_lr = inspect.signature(fn).parameters["learning_rate"].default is inspect._empty \
            if "learning_rate" in inspect.signature(fn).parameters else False
        extra = ZOO[n].extra_args if n in ZOO else ()
        out[n] = ((lambda fn=fn, lr=needs_lr: fn(0.01) if lr else fn()), extra)
    for mod in (optzoo.pytorch, optzoo.keras):
        for n in mod.__all__:
            obj = getattr(mod, n)
            if n[0].isupper() and n not in ("KerasState", "ClipGradNorm", "ClipGradValue"):
                extra = ("value_fn",) if n == "LBFGS" else ()
                if n in ("GradScaler", "LossScaleOptimizer"):  # wrappers: around the SGD
                    obj = (lambda obj=obj, mod=mod: obj(mod.SGD()))
                out[f"{mod.__name__.split('.')[-1]}.{n}"] = (obj, extra)
    return out


DEFAULTS = _default_constructors()


_TORCH_LBFGS_F16 = (
    "torch.optim.LBFGS itself returns NaN here (torch 2.13, float16 params, this loss): "
    "once the curvature y.s drops below float16's range the 1e-10 threshold is 0 and "
    "ro = 1 / (y.s) overflows; the flavor reproduces PyTorch. optzoo.lbfgs is finite.")


@pytest.mark.parametrize("name,dtype", [
    pytest.param(n, d, id=f"{n}-{jnp.dtype(d).name}",
                 marks=[pytest.mark.xfail(strict=True, reason=_TORCH_LBFGS_F16)]
                 if (n, d) == ("pytorch.LBFGS", jnp.float16) else [])
    for n in DEFAULTS for d in HALF])
def test_default_hyperparameters_half_precision(name, dtype):
    """The defaults users run with (eps = 1e-8 and smaller) in half precision."""
    make, extra = DEFAULTS[name]
    _zero_gradient_steps(make(), extra, dtype, matrices_only=name == "pytorch.Muon")
