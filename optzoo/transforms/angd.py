"""Adaptive natural gradient descent (Amari, Park and Fukumizu, 2000): an online
estimate of the inverse Fisher matrix, per leaf."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _validate as v
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide


class AngdState(NamedTuple):
    """State of :func:`scale_by_angd`.

    ``g_inv`` has one entry per leaf: an ``(n, n)`` matrix for a leaf of ``n <=
    max_full_size`` elements (flattened), else an array shaped like the leaf (the
    diagonal approximation).
    """

    count: jax.Array  # int32, saturating
    g_inv: Any


def _is_full(p, max_full_size):
    return p.size <= max_full_size


def scale_by_angd(
    eps: float = 1e-3, max_full_size: int = 1024, init_scale: float = 1.0
) -> optax.GradientTransformation:
    r"""The adaptive natural gradient direction ``G_inv g``, per leaf.

    For each leaf with flattened gradient ``g`` (length ``n``)::

        out   = G_inv_{t-1} g                                  (reshaped like the leaf)
        G_inv_t = (1 + eps) G_inv_{t-1} - eps (G_inv_{t-1} g)(G_inv_{t-1} g)^T
        G_inv_0 = init_scale * I

    which is Amari, Park and Fukumizu (2000), eq. (31): the parameter step uses
    the current estimate, then the estimate moves towards the inverse of the
    Fisher matrix ``E[g g^T]``. For a leaf with more than ``max_full_size``
    elements the ``n x n`` matrix is replaced by its diagonal ``G_inv = diag(h)``
    and the same recursion is applied to the diagonal only::

        out = h * g;   h_t = (1 + eps) h_{t-1} - eps (h_{t-1} g)^2

    (the diagonal of the full recursion when ``G_inv`` is diagonal, i.e. the
    off-diagonal correlations between a leaf's entries are dropped). ``h`` stays
    positive while ``eps h g^2 < 1 + eps``; choose ``eps`` small against the gradient
    scale (the paper's setting, ``eps`` of order ``1 / t`` or a small constant).

    Memory: ``n^2`` floats for a full leaf (``max_full_size = 1024`` is 4 MB in
    float32), ``n`` for a diagonal one. Time: ``O(n^2)`` per full leaf.

    Args:
      eps: the recursion's step, in (0, 1); default 1e-3 (a small constant rate).
      max_full_size: largest leaf (in elements) that keeps a full matrix.
      init_scale: ``G_inv_0 = init_scale * I``.
    """
    fn = v.owner("scale_by_angd")
    v.check_range(fn, "eps", eps, 0.0, 1.0, low_open=True, high_open=True)
    v.check_int(fn, "max_full_size", max_full_size, 0)
    v.check_positive(fn, "init_scale", init_scale)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        def one(p):
            if _is_full(p, max_full_size):
                return init_scale * jnp.eye(p.size, dtype=p.dtype)
            return jnp.full_like(p, init_scale)

        return AngdState(count=jnp.zeros([], jnp.int32), g_inv=jax.tree.map(one, params))

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.g_inv)
        g_leaves, treedef = jax.tree.flatten(updates)
        h_leaves = treedef.flatten_up_to(state.g_inv)
        outs, new_h = [], []
        for g, h_kept in zip(g_leaves, h_leaves):
            h = wide(h_kept)  # in at least float32: (G_inv g)^2 overflows float16
            if h.ndim == 2 and h.shape == (g.size, g.size) and _is_full(g, max_full_size):
                gf = g.reshape(-1).astype(h.dtype)
                hg = h @ gf
                outs.append(hg.reshape(g.shape).astype(g.dtype))
                new = (1.0 + eps) * h - eps * jnp.outer(hg, hg)
            else:
                hg = h * g.astype(h.dtype)
                outs.append(hg.astype(g.dtype))
                new = (1.0 + eps) * h - eps * hg * hg
            new_h.append(_dtypes.store_leaf(new, h_kept.dtype))
        return treedef.unflatten(outs), AngdState(
            count=optax.safe_increment(state.count), g_inv=treedef.unflatten(new_h)
        )

    return optax.GradientTransformation(init_fn, update_fn)
