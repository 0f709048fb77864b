"""Newton's method: damped Newton with the explicit Hessian (small problems) and
Hessian-free Newton-CG with Hessian-vector products (large ones)."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from optzoo import _validate as v
from optzoo.transforms._dtypes import wide


class NewtonState(NamedTuple):
    """State of :func:`scale_by_newton` and :func:`scale_by_newton_cg`."""

    count: jax.Array  # int32, saturating
    cg_iters: jax.Array  # int32: CG iterations of the last update (0 for newton)


def _init(params):
    del params
    return NewtonState(count=jnp.zeros([], jnp.int32), cg_iters=jnp.zeros([], jnp.int32))


def scale_by_newton(damping: float = 0.0) -> optax.GradientTransformationExtraArgs:
    r"""The Newton direction ``(H + damping I)^{-1} g`` with the explicit Hessian.

    ``H = hessian(value_fn)(params)`` is formed as an ``n x n`` matrix of the
    flattened params (``jax.hessian``) and solved by Cholesky-free LU
    (``jnp.linalg.solve``). Where ``H + damping I`` is singular (LU then gives a
    NaN or Inf, e.g. ``damping = 0`` on a function that is flat along some
    direction) the step is the least-squares solution of least norm,
    ``pinv(H + damping I) g`` (``jnp.linalg.pinv``, NumPy's ``lstsq`` answer): no
    move along the flat directions, the Newton step on the others. Non-finite
    gradients still give a non-finite step (see the non-finite policy). Cost: ``n``
    Hessian-vector products and ``O(n^3)`` for the solve (the pseudo-inverse, an
    SVD, runs only on a singular step); memory ``n^2`` floats. Call
    ``update(g, state, params, value_fn=f)``.
    """
    fn = v.owner("scale_by_newton")
    v.check_nonnegative(fn, "damping", damping)

    def update_fn(updates, state, params=None, *, value_fn: Callable[..., Any] = None, **extra):
        del extra
        v.require_args(fn, params, value_fn=value_fn)
        v.check_tree_match(fn, updates, params, "params")
        x, unravel = ravel_pytree(params)
        g, _ = ravel_pytree(updates)
        # half precisions have no dense solver; solve in at least float32
        h = wide(jax.hessian(lambda z: value_fn(unravel(z)))(x))
        h = h + damping * jnp.eye(x.shape[0], dtype=h.dtype)
        g = g.astype(h.dtype)
        direction = jnp.linalg.solve(h, g)
        direction = jax.lax.cond(
            jnp.all(jnp.isfinite(direction)),
            lambda d: d,
            lambda d: jnp.linalg.pinv(h, hermitian=True) @ g,  # singular: least squares
            direction,
        )
        out = jax.tree.map(lambda d, u: d.astype(u.dtype), unravel(direction), updates)
        return out, state._replace(count=optax.safe_increment(state.count))

    return optax.GradientTransformationExtraArgs(_init, update_fn)


def _hvp(value_fn, params):
    grad_fn = jax.grad(value_fn)

    def hvp(vec):
        return jax.jvp(grad_fn, (params,), (vec,))[1]

    return hvp


def scale_by_newton_cg(
    damping: float = 0.0, max_cg_iters: int = 50, cg_tol: float = 1e-5
) -> optax.GradientTransformationExtraArgs:
    r"""Hessian-free Newton: ``(H + damping I)^{-1} g`` by conjugate gradients.

    Each product ``A p = H p + damping p`` is one forward-over-reverse
    Hessian-vector product ``jax.jvp(jax.grad(value_fn), (params,), (p,))``; the
    Hessian is never formed. CG (Hestenes and Stiefel, 1952) from ``z_0 = 0``::

        r_0 = g;  p_0 = r_0
        alpha_j = (r_j . r_j) / (p_j . A p_j)
        z_{j+1} = z_j + alpha_j p_j;   r_{j+1} = r_j - alpha_j A p_j
        beta_j = (r_{j+1} . r_{j+1}) / (r_j . r_j);   p_{j+1} = r_{j+1} + beta_j p_j

    stopping when ``||r_j|| <= cg_tol * ||g||`` or after ``max_cg_iters``
    iterations, or at the first direction of non-positive curvature
    (``p_j . A p_j <= 0``, Steihaug's rule), where it returns ``z_j`` (``g`` itself if
    that happens at ``j = 0``), so the output is always a descent direction.
    Cost: up to ``max_cg_iters`` Hessian-vector products (each ~2-3 gradients);
    memory a few copies of the params.
    """
    fn = v.owner("scale_by_newton_cg")
    v.check_nonnegative(fn, "damping", damping)
    v.check_int(fn, "max_cg_iters", max_cg_iters, 1)
    v.check_nonnegative(fn, "cg_tol", cg_tol)

    def update_fn(updates, state, params=None, *, value_fn: Callable[..., Any] = None, **extra):
        del extra
        v.require_args(fn, params, value_fn=value_fn)
        v.check_tree_match(fn, updates, params, "params")
        # CG in at least float32: its inner products overflow and lose float16's
        # few digits; the Hessian-vector products take tangents in the params' dtype
        g = jax.tree.map(lambda u, p: u.astype(wide(p).dtype), updates, params)
        hvp = _hvp(value_fn, params)

        def a_mul(p):
            hp = hvp(jax.tree.map(lambda x, q: x.astype(q.dtype), p, params))
            return jax.tree.map(lambda h, pp: h.astype(pp.dtype) + damping * pp, hp, p)

        g_norm2 = optax.tree.vdot(g, g)
        tol2 = (cg_tol**2) * g_norm2

        def cond(c):
            j, z, r, p, rr, stop = c
            return (j < max_cg_iters) & (~stop) & (rr > tol2)

        def body(c):
            j, z, r, p, rr, stop = c
            ap = a_mul(p)
            pap = optax.tree.vdot(p, ap)
            negative = pap <= 0
            alpha = rr / jnp.where(negative, 1.0, pap)
            z_new = jax.tree.map(lambda zz, pp: zz + alpha * pp, z, p)
            r_new = jax.tree.map(lambda rr_, aa: rr_ - alpha * aa, r, ap)
            rr_new = optax.tree.vdot(r_new, r_new)
            beta = rr_new / rr
            p_new = jax.tree.map(lambda a, b: a + beta * b, r_new, p)

            def keep(old, new):  # a non-positive curvature direction is not taken
                return jax.tree.map(lambda o, n: jnp.where(negative, o, n), old, new)

            return (
                j + jnp.where(negative, 0, 1),
                keep(z, z_new),
                keep(r, r_new),
                keep(p, p_new),
                jnp.where(negative, rr, rr_new),
                negative,
            )

        zero = optax.tree.zeros_like(g)
        c = (jnp.zeros([], jnp.int32), zero, g, g, g_norm2, jnp.array(False))
        j, z, *_ = jax.lax.while_loop(cond, body, c)
        z = jax.tree.map(lambda zz, gg: jnp.where(j == 0, gg, zz), z, g)
        out = jax.tree.map(lambda d, u: d.astype(u.dtype), z, updates)
        return out, NewtonState(count=optax.safe_increment(state.count), cg_iters=j)

    return optax.GradientTransformationExtraArgs(_init, update_fn)
