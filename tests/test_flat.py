"""FlatParams (optzoo.flat): layout, round trips, gradients, errors, training steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from optzoo import flat
from tests.helpers import x64


def model_params(dtype=jnp.float32, seed=0):
    """Mixed shapes and sizes: matrices, vectors, a scalar, a big leaf, an int leaf."""
    rng = np.random.default_rng(seed)
    return {
        "dense": {"w": jnp.asarray(rng.normal(size=(4, 3)), dtype),
                  "b": jnp.asarray(rng.normal(size=(3,)), dtype)},
        "norm": [jnp.asarray(rng.normal(size=(5,)), dtype), jnp.asarray(rng.normal(), dtype)],
        "big": jnp.asarray(rng.normal(size=(7, 6)), dtype),
        "head": jnp.asarray(rng.normal(size=(2, 3, 2)), dtype),
    }


def test_layout_buffers_small_leaves_and_keeps_big_ones():
    p = {**model_params(), "steps": jnp.arange(3, dtype=jnp.int32)}
    fp = optzoo.flat_params(p, threshold=20)
    # float32 leaves <= 20 elements in one buffer, int32 in another, "big" (42) kept
    assert [c.shape for c in fp.children] == [(12 + 3 + 12 + 5 + 1,), (3,), (7, 6)]
    assert [c.dtype for c in fp.buffers] == [jnp.float32, jnp.int32]
    assert fp.children[2] is p["big"]
    back = fp.tree()
    assert jax.tree.structure(back) == jax.tree.structure(p)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(p)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    # a pytree: jit, tree.map and the children's key paths work
    assert jax.jit(lambda f: f.tree())(fp)["dense"]["w"].shape == (4, 3)
    paths = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(fp)[0]]
    assert paths == [".buffer0", ".buffer1", ".kept0"]
    assert "FlatParams(7 leaves in 2 buffer(s)" in repr(fp)


def test_threshold_extremes():
    p = model_params()
    assert len(optzoo.flat_params(p, threshold=0).buffers) == 0
    everything = optzoo.flat_params(p, threshold=10**9)
    assert [c.shape for c in everything.children] == [(12 + 3 + 5 + 1 + 42 + 12,)]
    assert optzoo.flat_params(p).layout.threshold == flat.DEFAULT_THRESHOLD


def test_like_and_gradient_are_in_the_layout():
    p = model_params()
    fp = optzoo.flat_params(p, threshold=20)

    def loss(tree):
        return sum(jnp.sum(jnp.sin(x) * x) for x in jax.tree.leaves(tree))

    g_flat = jax.jit(jax.grad(lambda f: loss(f.tree())))(fp)
    g_tree = jax.grad(loss)(p)
    assert isinstance(g_flat, optzoo.FlatParams) and g_flat.layout == fp.layout
    for a, b in zip(g_flat.children, fp.like(g_tree).children):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(g_flat.tree()), jax.tree.leaves(g_tree)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_errors_are_one_line_and_name_the_function():
    p = model_params()
    cases = [
        (ValueError, "flat_params: threshold must be >= 0, got -1",
         lambda: optzoo.flat_params(p, threshold=-1)),
        (TypeError, "flat_params: threshold must be an int, got 1.5",
         lambda: optzoo.flat_params(p, threshold=1.5)),
        (TypeError, "flat_params: params leaf ['lr'] must be an array, got float",
         lambda: optzoo.flat_params({"lr": 0.1})),
        (TypeError, "flat_params: params is already a FlatParams",
         lambda: optzoo.flat_params(optzoo.flat_params(p))),
        (ValueError, "FlatParams.like: tree structure",
         lambda: optzoo.flat_params(p).like({"w": jnp.zeros(3)})),
        (ValueError, "FlatParams.like: leaf ['big'] has shape (6, 7), expected (7, 6)",
         lambda: optzoo.flat_params(p).like({**p, "big": jnp.zeros((6, 7))})),
    ]
    for kind, text, call in cases:
        with pytest.raises(kind) as err:
            call()
        assert str(err.value).startswith(text) and "\n" not in str(err.value), str(err.value)
