"""Shampoo: one preconditioner matrix per tensor dimension (Gupta et al., 2018)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _decay, _dtypes
from optzoo.transforms import _matrix as M
from optzoo.transforms._dtypes import wide


class ShampooState(NamedTuple):
    """State of :func:`scale_by_shampoo`.

    ``momentum``: the previous preconditioned direction (``momentum_buffer``), shaped
    like the params (``None`` when ``momentum`` is a plain zero). ``stats``: per leaf,
    ``pre_cond_k = matrix_eps I + sum_t G_(k) G_(k)^T``. ``roots``: per leaf,
    ``inv_pre_cond_k``, the inverse roots computed at the last compute step (zeros
    before the first).
    """

    count: jax.Array  # int32, saturating
    momentum: optax.Updates | None
    stats: Any  # a Factors per leaf, (d, d) matrices
    roots: Any  # a Factors per leaf, (d, d) matrices


def _preconditioned_dims(p, max_precondition_dim):
    """Per axis of ``p``: True where it gets a factor (no factor for an empty leaf)."""
    if p.size == 0:
        return ()
    return tuple(max_precondition_dim is None or d <= max_precondition_dim for d in p.shape)


def scale_by_shampoo(momentum: float = 0.0, weight_decay: float = 0.0,
                     preconditioning_compute_steps: int = 1, matrix_eps: float = 1e-6, *,
                     max_precondition_dim: int | None = None) -> optax.GradientTransformation:
    r"""Shampoo's direction, as ``pytorch_optimizer.Shampoo`` 4.1.0 computes it, for a
    leaf with ``n`` axes::

        g_t   = (1 - momentum) g_t + momentum m_{t-1}     (momentum > 0; m_0 = g_1)
        g_t   = g_t + weight_decay params                 (the coupled decay)
        L_k   = L_k + G_(k) G_(k)^T                       (every axis k; L_k(0) = matrix_eps I)
        R_k   = L_k^(-1/(2n))                             (when t % preconditioning_compute_steps
                                                           == 0; R_k = 0 before the first)
        out_t = g_t x_0 R_0 x_1 R_1 ... x_{n-1} R_{n-1}   (mode products)
        m_t   = out_t

    ``G_(k)`` is ``g_t`` unfolded along axis ``k`` (``(d_k, size / d_k)``). The
    inverse root is ``U diag(s^(-1/(2n))) V^T`` from the SVD of ``L_k``, as the
    reference computes it. A scalar leaf has no axis: ``out_t = g_t``.
    """
    fn = v.owner("scale_by_shampoo")
    v.check_range(fn, "momentum", momentum, 0.0, 1.0, high_open=True)
    v.check_nonnegative_each(fn, weight_decay=weight_decay, matrix_eps=matrix_eps)
    v.check_int(fn, "preconditioning_compute_steps", preconditioning_compute_steps, 1)
    if max_precondition_dim is not None:
        v.check_int(fn, "max_precondition_dim", max_precondition_dim, 1)
    has_momentum = not _blocks.is_zero(momentum)
    k_steps = preconditioning_compute_steps

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        def factors(p, fill):
            dt = _dtypes.state_dtype(None, p)
            dims = _preconditioned_dims(p, max_precondition_dim)
            return M.Factors(tuple(fill(d, dt) if keep else None
                                 for d, keep in zip(p.shape, dims)))

        stats = jax.tree.map(
            lambda p: factors(p, lambda d, dt: matrix_eps * jnp.eye(d, dtype=dt)), params)
        roots = jax.tree.map(lambda p: factors(p, lambda d, dt: jnp.zeros((d, d), dt)), params)
        buf = _dtypes.zeros_like(params) if has_momentum else None
        return ShampooState(jnp.zeros([], jnp.int32), buf, stats, roots)

    def update_fn(updates, state, params=None):
        M.check_factors_match(fn, updates, state.stats)
        if not _blocks.is_zero(weight_decay):
            v.require_args(fn, params)
        first = state.count == 0
        count = optax.safe_increment(state.count)
        compute = count % k_steps == 0

        def direction(g, buf, p):
            g = wide(g)
            if has_momentum:
                b = jnp.where(first, g, wide(buf))
                g = g + momentum * (b - g)
            if not _blocks.is_zero(weight_decay):
                g = g + weight_decay * wide(p)
            return g

        bufs = state.momentum if has_momentum else jax.tree.map(lambda _: None, updates)
        ps = params if params is not None else jax.tree.map(lambda _: None, updates)
        gs = jax.tree.map(direction, updates, bufs, ps)

        def accumulate(g, fac):
            return M.Factors(tuple(
                None if s is None else (wide(s) + M.unfold_gram(g, k)).astype(s.dtype)
                for k, s in enumerate(fac.mats)))

        stats = jax.tree.map(accumulate, gs, state.stats)

        def roots_of(operands):
            stats, roots = operands

            def leaf(fac, old):
                order = len(fac.mats)
                out = []
                for s, r in zip(fac.mats, old.mats):
                    if s is None:
                        out.append(None)
                        continue
                    root, ok = M.inverse_root_svd(wide(s), 2 * order)
                    out.append(M.keep_if_ok(ok, root, r))
                return M.Factors(tuple(out))

            return jax.tree.map(leaf, stats, roots, is_leaf=M.is_factors)

        roots = jax.lax.cond(compute, roots_of, lambda ops: ops[1], (stats, state.roots))

        def precondition(g, fac):
            n = len(fac.mats)
            if n == 0:
                return g
            x = g
            for k, r in enumerate(fac.mats):
                # the reference multiplies R_k @ G for every axis but the last, G @ R_k there
                x = M.mode_dot(x, None if r is None else wide(r), transpose=k < n - 1)
            return x

        out = jax.tree.map(precondition, gs, roots)
        buf = _dtypes.store(out, state.momentum) if has_momentum else None
        out = jax.tree.map(lambda o, g: o.astype(g.dtype), out, updates)
        return out, ShampooState(count, buf, stats, roots)

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="matrix", reference="Gupta et al. 2018 (Shampoo)", year=2018,
    counterparts=(R.reference(
        "pytorch_optimizer", "Shampoo",
        "maximize not taken (negate the loss; with momentum the reference's maximize "
        "also mixes the un-negated first gradient into its first step); a failed "
        "inverse root (a singular factor with matrix_eps = 0, a non-finite gradient) "
        "keeps the previous one where the reference writes inf or NaN; "
        "max_precondition_dim is optzoo's (None, every dimension, is the reference)"),),
    ranges={"learning_rate": "[0, inf)", "momentum": "[0, 1)", "weight_decay": "[0, inf)",
            "preconditioning_compute_steps": "[1, inf)", "matrix_eps": "[0, inf)",
            "max_precondition_dim": "[1, inf)"},
    # matrix_eps of order one in the examples: the generated tests start from
    # rank-deficient statistics in float32, where with matrix_eps = 1e-4 a start moved
    # by one ulp moves the 20-step result by 2e-2 (the roots' smallest singular values
    # are matrix_eps plus rounding); at 0.5 by 2.4e-7. A vector's statistic
    # matrix_eps I + g g^T is singular but for matrix_eps, and its root ``^(-1/2)``
    # scales the rounding left in g's null space by matrix_eps^(-1/2): 1e3 at 1e-6,
    # where jit and eager differed by 1e-4
    examples={"": dict(learning_rate=0.02, momentum=0.5, matrix_eps=1.0),
              "coupled,every 3": dict(learning_rate=0.01, weight_decay=0.01,
                                      preconditioning_compute_steps=3, matrix_eps=0.5),
              "decoupled,max dim": dict(learning_rate=0.01, weight_decay=0.02,
                                        weight_decouple=True, fixed_decay=True,
                                        matrix_eps=0.5, max_precondition_dim=10)},
)
@v.named
def shampoo(learning_rate: _blocks.ScalarOrSchedule = 1e-3, momentum: float = 0.0,
            weight_decay: float = 0.0, weight_decouple: bool = False, fixed_decay: bool = False,
            preconditioning_compute_steps: int = 1, matrix_eps: float = 1e-6, *,
            max_precondition_dim: int | None = None) -> optax.GradientTransformation:
    r"""Shampoo (Gupta et al., 2018): a Kronecker-factored full-matrix preconditioner.

    Each leaf with ``n`` axes keeps one (d, d) statistic per axis, the sum of the
    gradient's unfoldings ``L_k = matrix_eps I + sum_t G_(k) G_(k)^T``, and is
    multiplied along every axis by ``L_k^(-1/(2n))`` (:func:`scale_by_shampoo` has
    the update, momentum and coupled decay included)::

        params_t = params_{t-1} - learning_rate out_t
                   - learning_rate weight_decay params_{t-1}    (weight_decouple)
                   - weight_decay params_{t-1}                  (weight_decouple, fixed_decay)

    Defaults (``learning_rate = 1e-3``, ``momentum = 0``, ``matrix_eps = 1e-6``,
    ``preconditioning_compute_steps = 1``) are ``pytorch_optimizer.Shampoo`` 4.1.0's,
    as are its quirks: the momentum buffer holds the last *preconditioned* direction
    and is mixed into the raw gradient before the statistics; the inverse roots
    start at zero, so with ``preconditioning_compute_steps = k > 1`` the first
    ``k - 1`` steps move only by the decoupled decay.

    Amortised work: the SVDs run under ``lax.cond`` only on the compute steps (every
    ``preconditioning_compute_steps``-th); other steps reuse the stored roots and pay
    for the statistics and the matrix products only. Under ``vmap`` with a batched
    step counter ``cond`` becomes a select and both sides run.

    Fallback: an inverse root that is not finite (a singular statistic, possible
    only with ``matrix_eps = 0``, or a NaN gradient) is discarded and the previous
    root kept (zero before the first), where the reference would write inf/NaN.

    ``max_precondition_dim`` (optzoo's, keyword only): an axis longer than it keeps
    no statistic and is left unpreconditioned (the identity), e.g. an embedding's
    vocabulary axis; the root's order stays ``2n`` with ``n`` all the leaf's axes.
    ``None`` (every axis, as the reference) is the default.

    Sharding: the statistics and roots are (d, d) matrices created inside ``init``;
    under ``jit`` they are replicated unless placed otherwise. Sharding them along
    their first axis (rows) is valid too; the SVD gathers them. Leaves shaped like
    the params (the momentum buffer) take the params' sharding. States are float32
    for half-precision params, else the params' dtype. ``maximize`` is not taken
    (negate the loss).
    """
    fn = "shampoo"
    _decay.check(fn, weight_decay, weight_decouple, fixed_decay)
    direction = scale_by_shampoo(momentum, 0.0 if weight_decouple else weight_decay,
                                 preconditioning_compute_steps, matrix_eps,
                                 max_precondition_dim=max_precondition_dim)
    # the coupled decay is inside the direction (after the momentum), so not chained
    return optax.chain(direction, _blocks.learning_rate(fn, learning_rate),
                       *_decay.decoupled(fn, weight_decay, learning_rate, weight_decouple,
                                         fixed_decay))
