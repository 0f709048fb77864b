"""The non-finite policy: under ``optzoo.skip_nonfinite`` a step whose gradients (or
computed update) hold a NaN or Inf leaves the params and the inner state bitwise
unchanged, returns an exactly-zero update and counts the skip; for every case of
the zoo table."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from tests.zoo import ZOO, quadratic, step_kwargs, variants_slow

XFAIL: dict[str, str] = {}  # case -> reason naming the bug


def _params():
    rng = np.random.default_rng(0)
    return {"w": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32),
            "b": [jnp.asarray(rng.normal(size=(3,)), jnp.float32), jnp.asarray(0.3)]}


def _bits(tree):
    """Every leaf's raw bytes, so that NaN == NaN and -0.0 != 0.0."""
    return [(np.asarray(x).dtype, np.asarray(x).tobytes()) for x in jax.tree.leaves(tree)]


def _poison(grads, value):
    w = grads["w"].at[1, 2].set(value)
    return {**grads, "w": w}


def _cases():
    return variants_slow([pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=XFAIL[n]))
                          if n in XFAIL else n for n in ZOO])


@pytest.mark.parametrize("name", _cases())
def test_nonfinite_step_is_dropped_bitwise(name):
    case = ZOO[name]
    params = _params()
    loss_fn = quadratic(params)
    tx = optzoo.skip_nonfinite(case.make())

    def step(params, state, bad):  # eager: one compile per case would cost seconds
        grads = jax.grad(loss_fn)(params)
        if bad != 0:
            grads = _poison(grads, bad)
        kw = step_kwargs(case, params, loss_fn, grads)
        updates, state = tx.update(grads, state, params, **kw)
        return optax.apply_updates(params, updates), updates, state

    state = tx.init(params)
    params, _, state = step(params, state, 0.0)
    clean_params, _, clean_state = step(params, state, 0.0)

    for k, bad in enumerate([jnp.nan, -jnp.inf]):
        new_params, updates, new_state = step(params, state, bad)
        assert all(not np.any(np.asarray(u)) for u in jax.tree.leaves(updates)), (name, bad)
        assert _bits(new_params) == _bits(params), (name, bad)
        assert _bits(new_state.inner_state) == _bits(state.inner_state), (name, bad)
        assert int(new_state.skipped) == k + 1 and int(new_state.consecutive) == k + 1
        assert not bool(new_state.last_finite)
        params, state = new_params, new_state

    # The next finite step continues exactly as if the bad steps never happened.
    params, _, state = step(params, state, 0.0)
    assert _bits(params) == _bits(clean_params), name
    assert _bits(state.inner_state) == _bits(clean_state.inner_state), name
    assert int(state.skipped) == 2 and int(state.consecutive) == 0 and bool(state.last_finite)


def test_overflowing_update_is_dropped():
    """Finite float16 gradients whose update overflows float16 are dropped too
    (``optax.apply_if_finite`` checks only the gradients)."""
    params = {"w": jnp.ones(3, jnp.float16)}
    grads = {"w": jnp.asarray([1.0, 2.0, 3.0], jnp.float16)}
    tx = optzoo.skip_nonfinite(optzoo.sgd(3e4))
    updates, state = tx.update(grads, tx.init(params), params)
    assert not np.any(np.asarray(updates["w"])) and int(state.skipped) == 1
    ref = optax.apply_if_finite(optax.sgd(3e4), 5)
    ref_updates, _ = ref.update(grads, ref.init(params), params)
    assert not bool(jnp.all(jnp.isfinite(ref_updates["w"])))


def test_matches_apply_if_finite_on_gradients():
    """On non-finite gradients the two agree step for step, give-up rule included."""
    params = {"w": jnp.linspace(-1.0, 1.0, 5)}
    # Up to the give-up step: after it the inner state is NaN, and from then on
    # skip_nonfinite also drops the (non-finite) updates optax would apply.
    seq = [1.0, jnp.nan, jnp.inf, 2.0, jnp.nan, jnp.nan, jnp.nan]
    ours = optzoo.skip_nonfinite(optax.adam(0.1), max_consecutive=2)
    theirs = optax.apply_if_finite(optax.adam(0.1), max_consecutive_errors=2)
    s1, s2 = ours.init(params), theirs.init(params)
    applied_nonfinite = 0  # optax's total_notfinite counts these too; skipped does not
    for x in seq:
        g = {"w": params["w"] * x}
        u1, s1 = ours.update(g, s1, params)
        u2, s2 = theirs.update(g, s2, params)
        np.testing.assert_array_equal(np.asarray(u1["w"]), np.asarray(u2["w"]))
        applied_nonfinite += int(not np.isfinite(x) and int(s2.notfinite_count) > 2)
        assert int(s1.skipped) == int(s2.total_notfinite) - applied_nonfinite
        assert int(s1.consecutive) == int(s2.notfinite_count)
    assert applied_nonfinite == 1


def test_jit_and_vmap():
    params = {"w": jnp.ones((2, 3))}
    tx = optzoo.skip_nonfinite(optzoo.adam(0.1))
    g = {"w": jnp.asarray([[1.0, 2.0, 3.0], [jnp.nan, 1.0, 1.0]])}
    u, s = jax.jit(tx.update)(g, tx.init(params), params)
    assert int(s.skipped) == 1 and not np.any(np.asarray(u["w"]))
    per_row = jax.vmap(lambda g, p: tx.update({"w": g}, tx.init({"w": p}), {"w": p}))
    u, s = per_row(g["w"], params["w"])
    np.testing.assert_array_equal(np.asarray(s.skipped), [0, 1])
    assert np.all(np.asarray(u["w"])[0] != 0) and not np.any(np.asarray(u["w"])[1])


def test_give_up_after_max_consecutive():
    params = {"w": jnp.ones(2)}
    tx = optzoo.skip_nonfinite(optzoo.sgd(0.1), max_consecutive=1)
    state = tx.init(params)
    bad = {"w": jnp.asarray([jnp.nan, 1.0])}
    u, state = tx.update(bad, state, params)
    assert not np.any(np.asarray(u["w"]))
    u, state = tx.update(bad, state, params)  # the second consecutive one goes through
    assert np.isnan(np.asarray(u["w"])[0]) and int(state.consecutive) == 2
    assert int(state.skipped) == 1  # applied, so not counted as skipped


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_max_consecutive_zero_never_skips(jit):
    """``max_consecutive=0`` drops nothing, as ``optax.apply_if_finite(...,
    max_consecutive_errors=0)``: every step is applied (the same updates as optax),
    and ``skipped`` counts no step, since none was dropped."""
    params = {"w": jnp.linspace(-1.0, 1.0, 4)}
    ours = optzoo.skip_nonfinite(optzoo.sgd(0.1), max_consecutive=0)
    theirs = optax.apply_if_finite(optzoo.sgd(0.1), max_consecutive_errors=0)
    update = jax.jit(ours.update) if jit else ours.update
    s1, s2 = ours.init(params), theirs.init(params)
    for x in [1.0, jnp.nan, jnp.inf, 2.0]:
        g = {"w": params["w"] * x}
        u1, s1 = update(g, s1, params)
        u2, s2 = theirs.update(g, s2, params)
        np.testing.assert_array_equal(np.asarray(u1["w"]), np.asarray(u2["w"]))
        assert int(s1.skipped) == 0, x
        assert int(s1.consecutive) == int(s2.notfinite_count)
        assert bool(s1.last_finite) == bool(np.isfinite(x))


def test_never_gives_up_by_default():
    params = {"w": jnp.ones(2)}
    tx = optzoo.skip_nonfinite(optzoo.adam(0.1))
    state = tx.init(params)
    state = state._replace(consecutive=jnp.asarray(np.iinfo(np.int32).max - 1, jnp.int32),
                           skipped=jnp.asarray(np.iinfo(np.int32).max - 1, jnp.int32))
    for _ in range(3):
        u, state = tx.update({"w": jnp.asarray([jnp.inf, 0.0])}, state, params)
        assert not np.any(np.asarray(u["w"]))
    assert int(state.skipped) == int(state.consecutive) == np.iinfo(np.int32).max


def test_validation():
    with pytest.raises(ValueError, match=r"^skip_nonfinite: max_consecutive must be in "
                                         r"\[0, inf\), got -1$"):
        optzoo.skip_nonfinite(optzoo.sgd(0.1), -1)
    with pytest.raises(ValueError, match=r"^skip_nonfinite: inner must be an "
                                         r"optax.GradientTransformation, got function$"):
        optzoo.skip_nonfinite(lambda g: g)
