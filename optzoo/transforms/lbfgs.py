"""L-BFGS: the two-loop recursion over a ring buffer of curvature pairs, and the
``lbfgs`` optimizer that chains it with a line search."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms._dtypes import store_leaf, wide_tree


class LbfgsState(NamedTuple):
    """State of :func:`scale_by_lbfgs`.

    ``s_mem[i]`` / ``y_mem[i]`` (leaves stacked on a leading ``memory_size`` axis) are
    the parameter and gradient differences of pair ``i`` of a ring buffer whose
    newest entry sits at ``(count - 2) % memory_size``; ``rho_mem[i] = 1 / (y_i . s_i)``,
    0 for empty slots and for pairs without positive curvature.
    """

    count: jax.Array  # int32, saturating
    params: optax.Params  # params seen at the previous update
    grads: optax.Updates  # gradient seen at the previous update
    s_mem: optax.Updates
    y_mem: optax.Updates
    rho_mem: jax.Array  # (memory_size,)
    gamma: jax.Array  # scale of the initial inverse Hessian H0 = gamma I


def _vdot(a, b):
    return sum(jnp.vdot(x, y).real for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def two_loop_recursion(q, s_mem, y_mem, rho_mem, gamma, *, oldest=0, num_pairs=None):
    r"""``H q`` by the L-BFGS two-loop recursion (Nocedal and Wright, Algorithm 7.4).

    ``s_mem`` and ``y_mem`` stack the curvature pairs on the leading axis of every
    leaf (a flat ``(m, n)`` array is such a pytree too), ``rho_mem[i] = 1 / (y_i .
    s_i)`` (0 skips pair ``i``), and ``H0 = gamma I``. The pairs, oldest to newest,
    are slots ``oldest, oldest + 1, ...`` modulo ``m``, ``num_pairs`` of them (all
    ``m`` by default; a traced count is fine)::

        for i newest .. oldest:  a_i = rho_i s_i . q;   q = q - a_i y_i
        r = gamma q
        for i oldest .. newest:  b_i = rho_i y_i . r;   r = r + (a_i - b_i) s_i

    :func:`scale_by_lbfgs` runs it over its ring buffer, ``optzoo.pytorch.LBFGS``
    over PyTorch's oldest-first history (with ``q = -g``).
    """
    m = rho_mem.shape[0]
    count = m if num_pairs is None else num_pairs

    def pair(mem, i):
        return jax.tree.map(lambda x: x[i], mem)

    def back(j, carry):
        q, alphas = carry
        i = (oldest + count - 1 - j) % m
        a = rho_mem[i] * _vdot(pair(s_mem, i), q)
        q = jax.tree.map(lambda qq, yy: qq - (a * yy).astype(qq.dtype), q, pair(y_mem, i))
        return q, alphas.at[i].set(a)

    q, alphas = jax.lax.fori_loop(0, count, back, (q, jnp.zeros(m, rho_mem.dtype)))
    r = jax.tree.map(lambda x: (gamma * x).astype(x.dtype), q)

    def fwd(j, r):
        i = (oldest + j) % m
        b = rho_mem[i] * _vdot(pair(y_mem, i), r)
        return jax.tree.map(
            lambda rr, ss: rr + ((alphas[i] - b) * ss).astype(rr.dtype), r, pair(s_mem, i)
        )

    return jax.lax.fori_loop(0, count, fwd, r)


def scale_by_lbfgs(
    memory_size: int = 10, scale_init_precond: bool = True
) -> optax.GradientTransformation:
    r"""The L-BFGS direction ``H_k g_k`` (Nocedal, 1980; Liu and Nocedal, 1989).

    At update ``k`` with gradient ``g_k`` and params ``x_k``, first the newest pair
    enters a ring buffer of ``memory_size`` pairs (not at ``k = 0``)::

        s = x_k - x_{k-1};   y = g_k - g_{k-1};   rho = 1 / (y . s)   if y . s > 0 else 0
        gamma = (s . y) / (y . y)                 (newest pair with y . s > 0)
        gamma = min(1, 1 / ||g_0||)               (k = 0, as optax)

    then the two-loop recursion (Nocedal and Wright, Algorithm 7.4,
    :func:`two_loop_recursion`) gives the output::

        q = g_k
        for i newest .. oldest:  a_i = rho_i s_i . q;   q = q - a_i y_i
        r = gamma q               (gamma = 1 when scale_init_precond is False)
        for i oldest .. newest:  b_i = rho_i y_i . r;   r = r + (a_i - b_i) s_i
        out = r

    A pair with ``y . s <= 0`` (possible without a Wolfe line search) is kept with
    ``rho = 0``, i.e. skipped, so ``H`` stays positive definite; optax uses it
    anyway. Otherwise this equals ``optax.scale_by_lbfgs``. Memory: ``2 * memory_size + 2``
    copies of the params.

    Args:
      memory_size: number of pairs kept (optax's default 10).
      scale_init_precond: use ``gamma`` above rather than ``H0 = I``.
    """
    fn = v.owner("scale_by_lbfgs")
    v.check_int(fn, "memory_size", memory_size, 1)
    v.check_bool(fn, "scale_init_precond", scale_init_precond)
    m = memory_size

    def init_fn(params):
        stacked = jax.tree.map(lambda p: jnp.zeros((m,) + p.shape, p.dtype), params)
        leaves = jax.tree.leaves(params)
        # scalars (rho, gamma) in the params' real dtype, at least float32
        dt = jnp.real(jnp.zeros([], leaves[0].dtype if leaves else jnp.float32)).dtype
        dt = jnp.promote_types(dt, jnp.float32)
        return LbfgsState(
            count=jnp.zeros([], jnp.int32),
            params=optax.tree.zeros_like(params),
            grads=optax.tree.zeros_like(params),
            s_mem=stacked,
            y_mem=stacked,
            rho_mem=jnp.zeros(m, dt),
            gamma=jnp.ones([], dt),
        )

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.grads)
        started = state.count > 0
        slot = (state.count - 1) % m  # where the newest pair goes
        # in at least float32: y . s and 1 / (y . s) leave float16's range
        g = wide_tree(updates)
        s = optax.tree.sub(wide_tree(params), wide_tree(state.params))
        y = optax.tree.sub(g, wide_tree(state.grads))
        ys = _vdot(y, s)
        good = started & (ys > 0)
        rho = jnp.where(good, 1.0 / jnp.where(good, ys, 1.0), 0.0).astype(state.rho_mem.dtype)
        def push(mem, x):
            return jnp.where(started, mem.at[slot].set(store_leaf(x, mem.dtype)), mem)

        s_mem = jax.tree.map(push, state.s_mem, s)
        y_mem = jax.tree.map(push, state.y_mem, y)
        rho_mem = jnp.where(started, state.rho_mem.at[slot].set(rho), state.rho_mem)
        if scale_init_precond:
            yy = _vdot(y, y)
            first = jnp.minimum(1.0, 1.0 / jnp.sqrt(_vdot(g, g)))
            gamma = jnp.where(good & (yy > 0), ys / jnp.where(yy > 0, yy, 1.0), state.gamma)
            gamma = jnp.where(started, gamma, first).astype(state.gamma.dtype)
        else:
            gamma = state.gamma

        # the ring's oldest pair sits right after the newest, `slot`
        r = two_loop_recursion(g, s_mem, y_mem, rho_mem, gamma, oldest=(slot + 1) % m)
        r = jax.tree.map(lambda d, u: d.astype(u.dtype), r, updates)
        new_state = LbfgsState(
            count=optax.safe_increment(state.count),
            params=params,
            grads=updates,
            s_mem=s_mem,
            y_mem=y_mem,
            rho_mem=rho_mem,
            gamma=gamma,
        )
        return r, new_state

    return optax.GradientTransformation(init_fn, update_fn)
