"""CAME: confidence-guided Adafactor (Luo et al., 2023), as ``came_pytorch.CAME``
0.1.3 computes it."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip


class CameState(NamedTuple):
    """State of :func:`scale_by_came`.

    ``mu`` is the momentum of the clipped update (every leaf). For a leaf with two
    or more axes (factored) ``v_row`` / ``v_col`` hold the running means of
    ``g^2 + eps1`` over its last / second-to-last axis and ``r_row`` / ``r_col``
    those of the instability ``(u - mu)^2 + eps2``, while ``v`` is a placeholder of
    shape ``()``; for a vector or scalar ``v`` holds the full running mean of
    ``g^2 + eps1`` and the four factors are placeholders.
    """

    count: jax.Array  # int32, saturating
    mu: optax.Updates
    v_row: optax.Updates
    v_col: optax.Updates
    v: optax.Updates
    r_row: optax.Updates
    r_col: optax.Updates


def _factored(p) -> bool:
    # a zero-size matrix has no rows to average: its (empty) moment stays unfactored
    return jnp.ndim(p) >= 2 and jnp.size(p) > 0


def _approx(row, col):
    """``rsqrt(row / mean(row)) rsqrt(col)`` as a matrix: the reciprocal root of the
    rank-one estimate ``row col / mean(row)``."""
    r = jax.lax.rsqrt(row / jnp.mean(row, axis=-1, keepdims=True))
    return r[..., :, None] * jax.lax.rsqrt(col)[..., None, :]


def _rms(x):
    return jnp.sqrt(jnp.sum(jnp.square(x))) / math.sqrt(max(x.size, 1))


def scale_by_came(
    eps1: float = 1e-30,
    eps2: float = 1e-16,
    clip_threshold: float = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float = 0.9999,
    *,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""CAME's direction (the update is ``-learning_rate`` times it). Per leaf, with
    ``mean_r`` / ``mean_c`` the means over the last / second-to-last axis::

        v_row_t = b2 v_row + (1 - b2) mean_r(g^2 + eps1)      (>= 2 axes: factored)
        v_col_t = b2 v_col + (1 - b2) mean_c(g^2 + eps1)
        u_t     = g / sqrt(v_row_t v_col_t / mean(v_row_t))
        v_t     = b2 v + (1 - b2) (g^2 + eps1),   u_t = g / sqrt(v_t)    (vectors)
        u_t     = u_t / max(rms(u_t) / clip_threshold, 1)
        mu_t    = b1 mu + (1 - b1) u_t
        res_t   = (u_t - mu_t)^2 + eps2
        r_row_t = b3 r_row + (1 - b3) mean_r(res_t)           (factored)
        r_col_t = b3 r_col + (1 - b3) mean_c(res_t)
        out_t   = mu_t / sqrt(r_row_t r_col_t / mean(r_row_t))    (factored)
        out_t   = mu_t                                            (vectors: no confidence)

    No bias correction. ``mu_dtype`` stores ``mu``, ``nu_dtype`` the statistics (see
    :mod:`optzoo.transforms._dtypes`).
    """
    fn = v.owner("scale_by_came")
    v.check_nonnegative_each(fn, eps1=eps1, eps2=eps2)
    v.check_positive(fn, "clip_threshold", clip_threshold)
    for name, b in (("b1", b1), ("b2", b2), ("b3", b3)):
        v.check_range(fn, name, b, 0.0, 1.0)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        # zeros_like of the param (or of its mean over an axis): the state leaf keeps
        # the param's sharding
        def like(x, p):
            return jnp.zeros_like(x, dtype=_dtypes.state_dtype(nu_dtype, p))

        def scalar(p):
            return jnp.zeros([], _dtypes.state_dtype(nu_dtype, p))

        def rows(p):
            return like(jnp.mean(p, axis=-1), p) if _factored(p) else scalar(p)

        def cols(p):
            return like(jnp.mean(p, axis=-2), p) if _factored(p) else scalar(p)

        def full(p):
            return scalar(p) if _factored(p) else like(p, p)

        return CameState(
            count=jnp.zeros([], jnp.int32), mu=_dtypes.zeros_like(params, mu_dtype),
            v_row=jax.tree.map(rows, params), v_col=jax.tree.map(cols, params),
            v=jax.tree.map(full, params), r_row=jax.tree.map(rows, params),
            r_col=jax.tree.map(cols, params))

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)

        def one(g, mu, v_row, v_col, v_full, r_row, r_col):
            kept = [x.dtype for x in (mu, v_row, v_col, v_full, r_row, r_col)]
            g, mu, v_row, v_col, v_full, r_row, r_col = map(
                wide, (g, mu, v_row, v_col, v_full, r_row, r_col))
            sq = jnp.square(g) + eps1
            if factored := _factored(g):
                v_row = b2 * v_row + (1.0 - b2) * jnp.mean(sq, axis=-1)
                v_col = b2 * v_col + (1.0 - b2) * jnp.mean(sq, axis=-2)
                u = _approx(v_row, v_col) * g
            else:
                v_full = b2 * v_full + (1.0 - b2) * sq
                u = jax.lax.rsqrt(v_full) * g
            u = u / jnp.maximum(_rms(u) / clip_threshold, 1.0)
            mu = b1 * mu + (1.0 - b1) * u
            if factored:
                res = jnp.square(u - mu) + eps2
                r_row = b3 * r_row + (1.0 - b3) * jnp.mean(res, axis=-1)
                r_col = b3 * r_col + (1.0 - b3) * jnp.mean(res, axis=-2)
                out = _approx(r_row, r_col) * mu
            else:
                out = mu
            new = (mu, v_row, v_col, v_full, r_row, r_col)
            return (out, *map(_dtypes.store_leaf, new, kept))

        leaves = jax.tree.map(one, updates, state.mu, state.v_row, state.v_col, state.v,
                              state.r_row, state.r_col)
        out, *rest = unzip(updates, leaves, 7)
        out = jax.tree.map(lambda o, g: o.astype(g.dtype), out, updates)
        return out, CameState(optax.safe_increment(state.count), *rest)

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="factored", reference="Luo et al. 2023", year=2023,
    counterparts=(R.reference(
        "came_pytorch", "CAME",
        "eps=(eps1, eps2) and betas=(b1, b2, b3) taken apart; the reference has no default lr"),),
    ranges={"learning_rate": "[0, inf)", "eps1": "[0, inf)", "eps2": "[0, inf)",
            "clip_threshold": "(0, inf)", "b1": "[0, 1]", "b2": "[0, 1]", "b3": "[0, 1]",
            "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, eps1=1e-20, eps2=1e-12, clip_threshold=0.5,
                       b1=0.8, b2=0.99, b3=0.995, weight_decay=0.01)},
)
@v.named
def came(
    learning_rate: _blocks.ScalarOrSchedule = 2e-4,
    eps1: float = 1e-30,
    eps2: float = 1e-16,
    clip_threshold: float = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    b3: float = 0.9999,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    r"""CAME (Luo et al., 2023): Adafactor's factored second moment with momentum and a
    factored "confidence" (the EMA of ``(u - mu)^2``) in place of Adam's root, as
    ``came_pytorch.CAME`` 0.1.3 computes it.

    With ``out_t`` the direction of :func:`scale_by_came`::

        params_t = params - learning_rate (out_t + weight_decay params)

    Every leaf with two or more axes is factored over its last two (no minimum size);
    vectors and scalars keep a full second moment and, as in the reference, skip
    the confidence step: their direction is the momentum of the clipped update.
    Neither the moments nor the statistics are bias-corrected (as in the reference
    and the paper's Algorithm 1). The reference's ``eps=(1e-30, 1e-16)`` is
    ``eps1, eps2`` and its ``betas=(0.9, 0.999, 0.9999)`` ``b1, b2, b3``; it has no
    default ``lr``: ``2e-4`` here is the value its authors' README uses.
    """
    fn = "came"
    direction = scale_by_came(eps1, eps2, clip_threshold, b1, b2, b3)
    return optax.chain(direction, *_blocks.weight_decay(fn, weight_decay),
                       _blocks.learning_rate(fn, learning_rate))
