"""optzoo.kron (PSGD-Kron) beyond the reference comparison: the choice of factors,
the steps that skip the preconditioner's fit (and do not pay for it), the
fallback of a fit that fails in float32, scalars, dtypes, the key schedule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from optzoo.transforms import kron as K


def _params():
    return {"w": jnp.asarray(np.random.default_rng(0).normal(size=(6, 4)), jnp.float32),
            "b": jnp.linspace(-1.0, 1.0, 5, dtype=jnp.float32)}


def _grads(params, i):
    return jax.tree.map(lambda p: jnp.sin(p * (i + 1.0)) + 0.1 * p, params)


# ------------------------------------------------------------------------- factor plan


@pytest.mark.parametrize("shape,kw,work,factors", [
    ((), {}, (1,), ((1,),)),
    ((7,), {}, (7,), ((7,),)),
    ((7,), dict(min_ndim_triangular=1), (7,), ((7, 7),)),
    ((4, 5), {}, (4, 5), ((4, 4), (5, 5))),
    ((1, 5), {}, (1, 5), ((1,), (5, 5))),
    ((4, 50), dict(max_size_triangular=16), (4, 50), ((4, 4), (50,))),
    ((2, 3, 4), {}, (6, 4), ((6, 6), (4, 4))),
    ((8, 2, 3), {}, (16, 3), ((16, 16), (3, 3))),
    ((2, 3, 4), dict(merge_dims=False), (2, 3, 4), ((2, 2), (3, 3), (4, 4))),
    ((2, 3, 4), dict(merge_dims=False, min_ndim_triangular=4), (2, 3, 4),
     ((2,), (3,), (4,))),
    ((4, 4), dict(memory_save_mode="one_diag"), (4, 4), ((4, 4), (4,))),  # last of equals
    ((4, 4), dict(memory_save_mode="smart_one_diag"), (4, 4), ((4, 4), (4, 4))),
    ((5, 4), dict(memory_save_mode="smart_one_diag"), (5, 4), ((5,), (4, 4))),
    ((5, 4), dict(memory_save_mode="all_diag"), (5, 4), ((5,), (4,))),
])
def test_factor_shapes(shape, kw, work, factors):
    assert K.kron_factor_shapes(shape, **kw) == (work, factors)
    state = optzoo.kron(**kw).init({"p": jnp.zeros(shape)})[0]
    assert state.mu["p"].shape == work
    assert tuple(q.shape for q in state.Q["p"]) == factors


def test_initial_factors_share_the_scale():
    state = optzoo.kron(precond_init_scale=8.0).init({"t": jnp.zeros((2, 3, 4)),
                                                      "v": jnp.zeros(3)})[0]
    q1, q2 = state.Q["t"]
    np.testing.assert_allclose(np.asarray(q1), 8.0 ** 0.5 * np.eye(6), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(q2), 8.0 ** 0.5 * np.eye(4), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(state.Q["v"][0]), 8.0 * np.ones(3), rtol=1e-6)


# -------------------------------------------------------------- update decision, cost


def test_update_every_ceil_one_over_p_steps():
    tx = optzoo.kron(0.01, preconditioner_update_probability=0.3)
    params = _params()
    state = tx.init(params)
    step = jax.jit(tx.update)
    updated = []
    for i in range(12):
        before = state[0].Q["w"][0]
        _, state = step(_grads(params, i), state, params)
        updated.append(int(state[0].update_counter) == 0)
        assert updated[-1] == (not np.array_equal(before, state[0].Q["w"][0]))
    assert updated == [False, False, False, True] * 3


def test_schedule_of_probability():
    sched = optzoo.precond_update_prob_schedule(max_prob=1.0, min_prob=0.25, decay=0.1,
                                                flat_start=3)
    assert [float(sched(n)) for n in (0, 3)] == [1.0, 1.0]
    assert float(sched(100)) == pytest.approx(0.25)
    tx = optzoo.kron(0.01, preconditioner_update_probability=sched)
    params = _params()
    state = tx.init(params)
    step = jax.jit(tx.update)
    updates = []
    for i in range(30):
        _, state = step(_grads(params, i), state, params)
        updates.append(int(state[0].update_counter) == 0)
    assert all(updates[:4]) and sum(updates[20:]) <= 3


def test_steps_without_an_update_do_not_fit(monkeypatch):
    """The fit runs under lax.cond: the traced update has its triangular solves in
    a branch only, and at run time the fit executes on the update steps alone."""
    tx = optzoo.kron(0.01, preconditioner_update_probability=0.5)
    params = _params()
    state = tx.init(params)
    jaxpr = jax.make_jaxpr(tx.update)(params, state, params).jaxpr
    top = {e.primitive.name for e in jaxpr.eqns}
    assert "cond" in top and "triangular_solve" not in top
    (cond,) = [e for e in jaxpr.eqns if e.primitive.name == "cond"]
    inside = [{e.primitive.name for e in br.jaxpr.eqns} for br in cond.params["branches"]]
    assert sum("triangular_solve" in names for names in inside) == 1

    calls = []
    original = K._updated_factors

    def counted(*args):
        jax.debug.callback(lambda: calls.append(1))
        return original(*args)

    monkeypatch.setattr(K, "_updated_factors", counted)
    tx = optzoo.kron(0.01, preconditioner_update_probability=0.5)
    step = jax.jit(tx.update)
    state = tx.init(params)
    for i in range(10):
        _, state = step(_grads(params, i), state, params)
    jax.effects_barrier()
    assert len(calls) == 5 * 2  # 5 update steps, 2 leaves


# ------------------------------------------------------------------ numerical safety


def test_singular_factor_restarts_from_its_initial_value():
    tx = optzoo.kron(0.01, precond_init_scale=4.0)
    params = _params()
    state = tx.init(params)
    kron = state[0]
    q0, q1 = kron.Q["w"]
    broken = kron._replace(Q={**kron.Q, "w": (q0.at[2, 2].set(0.0), q1)})
    _, new = jax.jit(tx.update)(_grads(params, 0), (broken, *state[1:]), params)
    np.testing.assert_allclose(np.asarray(new[0].Q["w"][0]), 2.0 * np.eye(6))
    np.testing.assert_allclose(np.asarray(new[0].Q["w"][1]), 2.0 * np.eye(4))
    assert not np.array_equal(new[0].Q["b"][0], kron.Q["b"][0])  # the other leaf fitted


def test_nonfinite_factor_restarts_and_step_stays_finite():
    tx = optzoo.kron(0.01)
    params = _params()
    state = tx.init(params)
    kron = state[0]
    broken = kron._replace(Q={**kron.Q, "b": (kron.Q["b"][0].at[1].set(jnp.nan),)})
    updates, new = jax.jit(tx.update)(_grads(params, 0), (broken, *state[1:]), params)
    np.testing.assert_array_equal(np.asarray(new[0].Q["b"][0]), np.ones(5, np.float32))
    assert all(np.all(np.isfinite(u)) for u in jax.tree.leaves(updates))


def test_fit_that_overflows_in_float32_is_dropped():
    """A gradient of 1e30 makes A A^T overflow float32: the fit is dropped and the
    factors keep their previous (usable) values."""
    tx = optzoo.kron(0.01)
    params = _params()
    state = tx.init(params)
    _, state = jax.jit(tx.update)(_grads(params, 0), state, params)
    before = state[0].Q
    huge = jax.tree.map(lambda p: jnp.full_like(p, 1e30), params)
    _, after = jax.jit(tx.update)(huge, state, params)
    assert int(after[0].update_counter) == 0  # it was an update step
    for a, b in zip(jax.tree.leaves(after[0].Q), jax.tree.leaves(before)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_factors_stay_finite_over_a_long_float32_run():
    tx = optzoo.kron(0.05, precond_lr=0.5)
    params = _params()
    state = tx.init(params)
    step = jax.jit(lambda p, s, i: tx.update(_grads(p, i), s, p))
    for i in range(200):
        u, state = step(params, state, i)
        params = optax.apply_updates(params, u)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves((params, state[0].Q)))


# --------------------------------------------------------------------------- pieces


def test_balance_keeps_the_product_and_equalises_scales():
    q1 = jnp.triu(jnp.arange(1.0, 10.0).reshape(3, 3)) * 100.0
    q2 = jnp.linspace(0.001, 0.002, 4)
    b1, b2 = K._balance((q1, q2))
    np.testing.assert_allclose(float(jnp.max(jnp.abs(b1))), float(jnp.max(jnp.abs(b2))),
                               rtol=1e-5)
    np.testing.assert_allclose(np.kron(b1, np.diag(b2)), np.kron(q1, np.diag(q2)),
                               rtol=1e-5, atol=1e-6)


def test_scalar_is_a_one_element_vector():
    tx = optzoo.kron(0.05, preconditioner_update_probability=0.5, seed=1)
    s, vec = {"s": jnp.asarray(0.7)}, {"s": jnp.asarray([0.7])}
    st_s, st_v = tx.init(s), tx.init(vec)
    step = jax.jit(lambda p, st, i: tx.update({"s": jnp.cos(p["s"] * i)}, st, p))
    for i in range(6):
        us, st_s = step(s, st_s, i)
        uv, st_v = step(vec, st_v, i)
        s, vec = optax.apply_updates(s, us), optax.apply_updates(vec, uv)
        assert us["s"].shape == ()
        np.testing.assert_allclose(np.asarray(s["s"]).reshape(1), np.asarray(vec["s"]),
                                   rtol=1e-6)


def test_weight_decay_skips_vectors():
    tx = optzoo.kron(0.1, weight_decay=0.5)
    params = _params()
    zero = jax.tree.map(jnp.zeros_like, params)
    updates, _ = jax.jit(tx.update)(zero, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(updates["w"]), -0.05 * np.asarray(params["w"]),
                               rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(updates["b"]), 0.0)


def test_dtypes():
    params = {"w": jnp.zeros((4, 3), jnp.bfloat16), "b": jnp.zeros(3, jnp.float16)}
    state = optzoo.kron().init(params)[0]
    assert {x.dtype for x in jax.tree.leaves((state.mu, state.Q))} == {jnp.dtype(jnp.float32)}
    state = optzoo.kron(mu_dtype=jnp.bfloat16).init(params)[0]
    assert state.mu["w"].dtype == jnp.bfloat16
    updates, _ = jax.jit(optzoo.kron().update)(
        jax.tree.map(jnp.ones_like, params), optzoo.kron().init(params), params)
    assert updates["w"].dtype == jnp.bfloat16 and updates["b"].dtype == jnp.float16


def test_draws_follow_the_documented_schedule():
    params = _params()
    u, probes = optzoo.kron_draws(params, 5, seed=3)
    k = jax.random.fold_in(jax.random.key(3), 5)
    assert float(u) == float(jax.random.uniform(jax.random.fold_in(k, 0), ()))
    assert [p.shape for p in probes] == [(5,), (6, 4)]  # leaves order: b, w
    np.testing.assert_array_equal(np.asarray(probes[1]),
                                  np.asarray(jax.random.normal(jax.random.fold_in(k, 2),
                                                               (6, 4))))
    assert float(optzoo.kron_draws(params, 5, seed=4)[0]) != float(u)


@pytest.mark.parametrize("kw,match", [
    (dict(memory_save_mode="some_diag"), "kron: memory_save_mode must be one of"),
    (dict(preconditioner_update_probability=0.0),
     r"kron: preconditioner_update_probability must be in \(0, 1\], got 0"),
    (dict(precond_init_scale=0.0), r"kron: precond_init_scale must be in \(0, inf\)"),
    (dict(max_size_triangular=2.5), "kron: max_size_triangular must be an integer"),
])
def test_invalid_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        optzoo.kron(**kw)
