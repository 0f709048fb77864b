"""Shampoo and SOAP beyond the reference runs (tests/parity/test_reference_matrix.py):
the matrix helpers, fallbacks on singular and non-finite statistics in float32,
axes left unpreconditioned, amortised decompositions, scalars, vectors and empty
leaves, vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from optzoo.transforms import _matrix as M
from tests.helpers import x64

DECOMPOSITIONS = {"svd", "eigh", "geqrf", "householder_product", "qr"}


def _mats(factors_tree, key):
    return factors_tree[key].mats


def _run(tx, params, grads_seq):
    state = tx.init(params)
    step = jax.jit(tx.update)
    outs, states = [], []
    for g in grads_seq:
        u, state = step(g, state, params)
        params = optax.apply_updates(params, u)
        outs.append(u)
        states.append(state)
    return outs, states


def _inner(tx_state):
    """The optimizer's own state inside the chain the constructor returns."""
    for s in jax.tree.leaves(tx_state, is_leaf=lambda x: hasattr(x, "_fields")
                             and ("roots" in x._fields or "gg" in x._fields)):
        if hasattr(s, "_fields"):
            return s
    raise AssertionError("no Shampoo/SOAP state found")


# ------------------------------------------------------------------ helpers
def test_merge_small_dims():
    assert M.merge_small_dims((1, 2, 512, 1, 2048, 1, 3, 4), 1024) == (1024, 2048, 12)
    assert M.merge_small_dims((1, 2, 768, 1, 2048), 1024) == (2, 768, 2048)
    assert M.merge_small_dims((4, 5), 100) == (20,)  # one dimension: kept, not (1,)
    assert M.merge_small_dims((), 10) == (1,)
    assert M.merge_small_dims((24,), 12) == (1, 24)  # as the reference


def test_inverse_root_and_eigh():
    with x64():
        a = np.random.default_rng(0).normal(size=(5, 5))
        spd = a @ a.T + 0.1 * np.eye(5)
        root, ok = M.inverse_root_svd(jnp.asarray(spd), 4)
        w, q = np.linalg.eigh(spd)
        np.testing.assert_allclose(np.asarray(root), (q * w**-0.25) @ q.T, rtol=1e-10)
        assert bool(ok)
        w2, q2, ok = M.eigh_descending(jnp.asarray(spd))
        np.testing.assert_allclose(np.asarray(w2), w[::-1], rtol=1e-12)
        assert bool(ok) and np.all(np.diff(np.asarray(w2)) < 0)
        _, ok = M.inverse_root_svd(jnp.zeros((3, 3)), 2)  # singular: s = 0
        assert not bool(ok)


def test_mode_dot_applies_one_matrix_per_axis():
    rng = np.random.default_rng(1)
    x, a, b = rng.normal(size=(3, 4)), rng.normal(size=(3, 3)), rng.normal(size=(4, 4))
    out = M.mode_dot(M.mode_dot(jnp.asarray(x), jnp.asarray(a), transpose=True),
                     jnp.asarray(b))
    np.testing.assert_allclose(np.asarray(out), a @ x @ b, rtol=1e-5)
    np.testing.assert_array_equal(M.mode_dot(M.mode_dot(jnp.asarray(x), None), None),
                                  np.float32(x))


# ------------------------------------------------------------------ Shampoo
def test_shampoo_one_step_is_the_formula():
    with x64():
        rng = np.random.default_rng(2)
        p = {"w": jnp.asarray(rng.normal(size=(3, 4)))}
        g = {"w": jnp.asarray(rng.normal(size=(3, 4)))}
        u, _ = optzoo.shampoo(0.1, matrix_eps=0.01).update(
            g, optzoo.shampoo(0.1, matrix_eps=0.01).init(p), p)
        gw = np.asarray(g["w"])

        def root(m):
            w, q = np.linalg.eigh(m)
            return (q * w**-0.25) @ q.T

        expected = -0.1 * root(0.01 * np.eye(3) + gw @ gw.T) @ gw @ root(
            0.01 * np.eye(4) + gw.T @ gw)
        np.testing.assert_allclose(np.asarray(u["w"]), expected, rtol=1e-9)


def test_shampoo_singular_statistic_keeps_previous_root_float32():
    """matrix_eps = 0 and a zero gradient: every statistic is the zero matrix, its SVD
    root is inf; the root is not taken (it stays zero, the update is zero and finite).
    A full-rank gradient later makes the statistics invertible and the roots are taken."""
    tx = optzoo.shampoo(0.1, matrix_eps=0.0)
    params = {"w": jnp.ones((3, 4), jnp.float32), "v": jnp.ones(5, jnp.float32)}
    zero = jax.tree.map(jnp.zeros_like, params)
    rng = np.random.default_rng(3)
    full = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
            "v": jnp.asarray(rng.normal(size=5), jnp.float32)}
    outs, states = _run(tx, params, [zero, zero])
    for u, s in zip(outs, states):
        assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(u))
        assert all(np.all(np.asarray(r) == 0) for r in jax.tree.leaves(_inner(s).roots))
    outs, states = _run(tx, params, [zero, full])
    r0 = np.asarray(_mats(_inner(states[-1]).roots, "w")[0])
    assert np.all(np.isfinite(r0)) and np.any(r0 != 0)
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(outs[-1]))
    # the vector's statistic g g^T is rank one: whether LAPACK's zero singular values
    # come out exactly 0 (root inf, kept) or as rounding (root finite), nothing is NaN
    roots = jax.tree.leaves(_inner(states[-1]).roots)
    assert all(np.all(np.isfinite(np.asarray(r))) for r in roots)


def test_shampoo_nan_gradient_keeps_previous_root():
    tx = optzoo.shampoo(0.1, matrix_eps=1e-3)
    params = {"w": jnp.ones((3, 4), jnp.float32)}
    g = {"w": jnp.asarray(np.random.default_rng(4).normal(size=(3, 4)), jnp.float32)}
    bad = {"w": g["w"].at[0, 0].set(jnp.nan)}
    _, states = _run(tx, params, [g, bad])
    for before, after in zip(_mats(_inner(states[0]).roots, "w"),
                             _mats(_inner(states[1]).roots, "w")):
        np.testing.assert_array_equal(np.asarray(after), np.asarray(before))


def test_shampoo_max_precondition_dim_leaves_long_axes_alone():
    with x64():
        rng = np.random.default_rng(5)
        p = {"w": jnp.asarray(rng.normal(size=(3, 20))), "v": jnp.zeros(30)}
        g = {"w": jnp.asarray(rng.normal(size=(3, 20))), "v": jnp.asarray(rng.normal(size=30))}
        tx = optzoo.shampoo(1.0, matrix_eps=0.1, max_precondition_dim=10)
        state = tx.init(p)
        stats = _inner(state).stats
        assert [None if m is None else m.shape for m in stats["w"].mats] == [(3, 3), None]
        assert stats["v"].mats == (None,)
        u, _ = tx.update(g, state, p)
        gw = np.asarray(g["w"])
        w, q = np.linalg.eigh(0.1 * np.eye(3) + gw @ gw.T)
        np.testing.assert_allclose(np.asarray(u["w"]), -((q * w**-0.25) @ q.T) @ gw, rtol=1e-9)
        np.testing.assert_allclose(np.asarray(u["v"]), -np.asarray(g["v"]), rtol=1e-12)


def test_shampoo_roots_only_on_compute_steps():
    tx = optzoo.shampoo(0.1, matrix_eps=0.1, preconditioning_compute_steps=3)
    params = {"w": jnp.ones((3, 4), jnp.float32)}
    rng = np.random.default_rng(6)
    grads = [{"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)} for _ in range(6)]
    outs, states = _run(tx, params, grads)
    roots = [np.asarray(_mats(_inner(s).roots, "w")[0]) for s in states]
    assert np.all(roots[0] == 0) and np.all(roots[1] == 0) and np.any(roots[2] != 0)
    np.testing.assert_array_equal(roots[3], roots[2])
    np.testing.assert_array_equal(roots[4], roots[2])
    assert np.any(roots[5] != roots[2])
    assert np.all(np.asarray(outs[0]["w"]) == 0)  # reference: roots start at zero


def _decomposition_sites(jaxpr, inside_cond=False, out=None):
    """``(primitive, inside a cond branch)`` for every decomposition in ``jaxpr``."""
    out = [] if out is None else out
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name in DECOMPOSITIONS:
            out.append((name, inside_cond))
        for value in eqn.params.values():
            subs = value if isinstance(value, (tuple, list)) else (value,)
            for sub in subs:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    _decomposition_sites(inner, inside_cond or name == "cond", out)
    return out


@pytest.mark.parametrize("make", [
    lambda: optzoo.shampoo(0.1, preconditioning_compute_steps=5),
    lambda: optzoo.soap(0.01, precondition_frequency=5, precondition_1d=True),
], ids=["shampoo", "soap"])
def test_decompositions_run_only_inside_cond(make):
    """Skipped steps pay for no SVD, eigendecomposition or QR: every one of them sits
    in a ``lax.cond`` branch taken on the compute steps only."""
    tx = make()
    params = {"w": jnp.ones((3, 4)), "b": jnp.ones(5), "s": jnp.ones(())}
    state = tx.init(params)
    sites = _decomposition_sites(jax.make_jaxpr(tx.update)(params, state, params).jaxpr)
    assert sites, "no decomposition found"
    assert all(inside for _, inside in sites), sites


# ------------------------------------------------------------------ SOAP
def test_soap_layouts():
    p = {"w": jnp.zeros((4, 20)), "v": jnp.zeros(30), "u": jnp.zeros(5), "s": jnp.zeros(()),
         "k": jnp.zeros((2, 3, 4, 6)), "e": jnp.zeros((0, 3))}

    def shapes(**kw):
        gg = _inner(optzoo.soap(**kw).init(p)).gg
        return {k: tuple(None if m is None else m.shape[0] for m in gg[k].mats) for k in p}

    assert shapes(max_precondition_dim=10, precondition_1d=True) == {
        "w": (4, None), "v": (None,), "u": (5,), "s": (), "k": (2, 3, 4, 6), "e": (None, None)}
    assert shapes() == {"w": (4, 20), "v": (None,), "u": (None,), "s": (),
                        "k": (2, 3, 4, 6), "e": (None, None)}
    merged = shapes(merge_dims=True, max_precondition_dim=12)
    assert merged["k"] == (6, 4, 6) and merged["s"] == (1,) and merged["w"] == (4, None)
    assert shapes(merge_dims=True, max_precondition_dim=12,
                  data_format="channels_last")["k"] == (12, 12)


def test_soap_first_step_only_fills_the_statistics():
    tx = optzoo.soap(0.1)
    params = {"w": jnp.ones((3, 4), jnp.float32), "s": jnp.ones((), jnp.float32)}
    g = {"w": jnp.asarray(np.random.default_rng(7).normal(size=(3, 4)), jnp.float32),
         "s": jnp.asarray(0.5, jnp.float32)}
    outs, states = _run(tx, params, [g, g])
    assert all(np.all(np.asarray(x) == 0) for x in jax.tree.leaves(outs[0]))
    assert all(np.any(np.asarray(x) != 0) for x in jax.tree.leaves(outs[1]))
    q = _mats(_inner(states[0]).q, "w")
    for m in q:
        np.testing.assert_allclose(np.asarray(m.T @ m), np.eye(m.shape[0]), atol=1e-5)


def test_soap_bases_only_on_refresh_steps():
    tx = optzoo.soap(0.01, precondition_frequency=3)
    params = {"w": jnp.ones((3, 4), jnp.float32)}
    rng = np.random.default_rng(8)
    grads = [{"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)} for _ in range(8)]
    _, states = _run(tx, params, grads)
    q = [np.asarray(_mats(_inner(s).q, "w")[0]) for s in states]
    # eigh at call 1, QR at calls 4 and 7 (s = 3, 6); otherwise unchanged
    changed = [i for i in range(1, 8) if np.any(q[i] != q[i - 1])]
    assert changed == [3, 6], changed


def test_soap_singular_and_zero_statistics_float32():
    """A zero gradient (statistic 0) and a rank-one one: the bases stay orthonormal and
    every update finite."""
    tx = optzoo.soap(0.01, precondition_frequency=2, precondition_1d=True)
    params = {"w": jnp.ones((4, 4), jnp.float32), "b": jnp.ones(3, jnp.float32)}
    zero = jax.tree.map(jnp.zeros_like, params)
    rank1 = {"w": jnp.outer(jnp.arange(4.0), jnp.ones(4)), "b": jnp.arange(3.0)}
    outs, states = _run(tx, params, [zero, rank1, zero, rank1, rank1])
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(outs))
    for m in jax.tree.leaves(_inner(states[-1]).q):
        np.testing.assert_allclose(np.asarray(m.T @ m), np.eye(m.shape[0]), atol=1e-5)


def test_soap_nan_statistic_keeps_previous_basis():
    tx = optzoo.soap(0.01, precondition_frequency=2)
    params = {"w": jnp.ones((3, 3), jnp.float32)}
    rng = np.random.default_rng(9)
    g = {"w": jnp.asarray(rng.normal(size=(3, 3)), jnp.float32)}
    bad = {"w": g["w"].at[1, 1].set(jnp.inf)}
    _, states = _run(tx, params, [g, g, bad])  # the third call refreshes (s = 2)
    for before, after in zip(_mats(_inner(states[1]).q, "w"), _mats(_inner(states[2]).q, "w")):
        np.testing.assert_array_equal(np.asarray(after), np.asarray(before))
    # and a NaN first gradient leaves the identity
    _, states = _run(tx, params, [{"w": g["w"].at[0, 0].set(jnp.nan)}])
    for m in _mats(_inner(states[0]).q, "w"):
        np.testing.assert_array_equal(np.asarray(m), np.eye(3))


@pytest.mark.parametrize("make", [
    lambda: optzoo.shampoo(0.1, momentum=0.3, matrix_eps=0.1),
    lambda: optzoo.soap(0.01, merge_dims=True, max_precondition_dim=4),
], ids=["shampoo", "soap"])
def test_scalars_vectors_and_empty_leaves(make):
    tx = make()
    params = {"s": jnp.asarray(0.5, jnp.float32), "v": jnp.ones(3, jnp.float32),
              "e": jnp.zeros((0, 4), jnp.float32), "w": jnp.ones((2, 3), jnp.float32)}
    rng = np.random.default_rng(10)
    grads = [jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype), params)
             for _ in range(3)]
    outs, _ = _run(tx, params, grads)
    for u in outs:
        assert jax.tree.map(lambda x: (x.shape, x.dtype), u) == jax.tree.map(
            lambda x: (x.shape, x.dtype), params)
        assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(u))


def test_shampoo_scalar_is_plain_sgd():
    tx = optzoo.shampoo(0.1)
    p = {"s": jnp.asarray(1.0)}
    u, _ = tx.update({"s": jnp.asarray(0.3)}, tx.init(p), p)
    assert float(u["s"]) == pytest.approx(-0.03)


@pytest.mark.parametrize("make", [
    lambda: optzoo.shampoo(0.1, matrix_eps=0.1, preconditioning_compute_steps=2),
    lambda: optzoo.soap(0.01, precondition_frequency=2),
], ids=["shampoo", "soap"])
def test_vmap_over_independent_problems(make):
    tx = make()
    rng = np.random.default_rng(11)
    params = {"w": jnp.asarray(rng.normal(size=(3, 2, 3)), jnp.float32)}
    grads = [{"w": jnp.asarray(rng.normal(size=(3, 2, 3)), jnp.float32)} for _ in range(3)]

    def run(p, gs):
        state = tx.init(p)
        out = []
        for g in gs:
            u, state = tx.update(g, state, p)
            out.append(u)
        return out

    batched = jax.jit(jax.vmap(run, in_axes=(0, 0)))(params, grads)
    for i in range(3):
        single = run({"w": params["w"][i]}, [{"w": g["w"][i]} for g in grads])
        for b, s in zip(batched, single):
            np.testing.assert_allclose(np.asarray(b["w"][i]), np.asarray(s["w"]),
                                       rtol=1e-4, atol=1e-6)


def test_soap_rejects_unknown_data_format():
    with pytest.raises(ValueError, match="soap: data_format must be one of"):
        optzoo.soap(data_format="nhwc")


def test_factors_are_replicated_matrices():
    """Statistics are (d, d) per axis, nothing else: the sharding contract of the
    docstrings (leaves shaped like a param take its sharding; factors are square)."""
    params = {"w": jnp.zeros((16, 8)), "b": jnp.zeros(24)}
    for tx in (optzoo.shampoo(), optzoo.soap(precondition_1d=True)):
        state = _inner(tx.init(params))
        for f in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, M.Factors)):
            if isinstance(f, M.Factors):
                assert all(m.ndim == 2 and m.shape[0] == m.shape[1] for m in f.mats
                           if m is not None)
