"""``torch.optim.LBFGS`` as an optax transformation, equal number for number.

One ``update`` call is one ``optimizer.step(closure)`` call of PyTorch, with all
its inner iterations; ``value_fn`` plays the closure. The whole step, line search
included, is a ``jax.lax.while_loop``, so it jits.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from optzoo import _validate as v
from optzoo.transforms.lbfgs import two_loop_recursion

__all__ = ["LBFGS", "LBFGSState"]

# Constants PyTorch fixes (not arguments of torch.optim.LBFGS).
_CURVATURE_MIN = 1e-10  # a pair (s, y) enters the memory only when y.s > this
_WOLFE_C1 = 1e-4  # sufficient decrease
_WOLFE_C2 = 0.9  # curvature
_WOLFE_TOL = 1e-9  # bracket-width tolerance of the line search (not tolerance_change)


class LBFGSState(NamedTuple):
    """State of :func:`LBFGS`: PyTorch's ``optimizer.state`` as flat arrays.

    ``old_dirs`` (gradient differences ``y``) and ``old_stps`` (steps ``s``) hold
    the ``num_old`` most recent pairs in rows ``0 .. num_old - 1``, oldest first;
    ``ro[i] = 1 / (y_i . s_i)``.
    """

    func_evals: jax.Array  # int32: closure calls so far
    n_iter: jax.Array  # int32: inner iterations so far
    d: jax.Array  # (n,) last search direction
    t: jax.Array  # last step length
    old_dirs: jax.Array  # (history_size, n)
    old_stps: jax.Array  # (history_size, n)
    ro: jax.Array  # (history_size,)
    num_old: jax.Array  # int32
    H_diag: jax.Array  # scale of the initial inverse Hessian
    prev_flat_grad: jax.Array  # (n,)
    prev_loss: jax.Array


def _cubic_min(x1, f1, g1, x2, f2, g2, lo, hi):
    """Minimiser of the cubic through (x1, f1, g1), (x2, f2, g2), clipped to [lo, hi];
    the midpoint of [lo, hi] when the cubic has no real minimiser."""
    d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    d2 = jnp.sqrt(jnp.where(disc >= 0, disc, 0.0))
    from_x2 = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
    from_x1 = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
    x_min = jnp.where(x1 <= x2, from_x2, from_x1)
    return jnp.where(disc >= 0, jnp.minimum(jnp.maximum(x_min, lo), hi), (lo + hi) / 2.0)


def _strong_wolfe(evaluate, t, d, f, g, gtd, max_ls):
    """Bracketing + zoom line search for the strong Wolfe conditions (More and
    Thuente's interpolation as minFunc and PyTorch run it).

    ``evaluate(t) -> (f, g)`` is the loss and flat gradient at ``x + t d``.
    Returns ``(f_new, g_new, t, evals)``.
    """
    dt = g.dtype
    d_norm = jnp.max(jnp.abs(d))
    f_new, g_new = evaluate(t)
    gtd_new = jnp.dot(g_new, d)
    zero = jnp.zeros([], dt)

    # ---- bracketing phase
    # carry: t, t_prev, f_prev, g_prev, gtd_prev, f_new, g_new, gtd_new, ls_iter, evals,
    #        broke, done, bracket (t, f, g, gtd) pairs
    def br_cond(c):
        return (~c["broke"]) & (c["ls_iter"] < max_ls)

    def br_body(c):
        armijo_fail = (c["f_new"] > f + _WOLFE_C1 * c["t"] * gtd) | (
            (c["ls_iter"] > 1) & (c["f_new"] >= c["f_prev"])
        )
        wolfe = jnp.abs(c["gtd_new"]) <= -_WOLFE_C2 * gtd
        pair = armijo_fail | ((~wolfe) & (c["gtd_new"] >= 0))
        single = (~armijo_fail) & wolfe

        def stop(c):
            c = dict(c)
            lo_t = jnp.where(pair, c["t_prev"], c["t"])
            lo_f = jnp.where(pair, c["f_prev"], c["f_new"])
            lo_g = jnp.where(pair, c["g_prev"], c["g_new"])
            lo_gtd = jnp.where(pair, c["gtd_prev"], c["gtd_new"])
            c["b"] = jnp.stack([lo_t, c["t"]])
            c["bf"] = jnp.stack([lo_f, c["f_new"]])
            c["bg"] = jnp.stack([lo_g, c["g_new"]])
            c["bgtd"] = jnp.stack([lo_gtd, c["gtd_new"]])
            c["broke"] = jnp.array(True)
            c["done"] = single
            return c

        def step(c):
            c = dict(c)
            t_cur = c["t"]
            lo = t_cur + 0.01 * (t_cur - c["t_prev"])
            hi = t_cur * 10.0
            t_next = _cubic_min(
                c["t_prev"], c["f_prev"], c["gtd_prev"], t_cur, c["f_new"], c["gtd_new"], lo, hi
            )
            c["t_prev"], c["f_prev"], c["g_prev"], c["gtd_prev"] = (
                t_cur, c["f_new"], c["g_new"], c["gtd_new"],
            )
            f_n, g_n = evaluate(t_next)
            c["t"], c["f_new"], c["g_new"], c["gtd_new"] = t_next, f_n, g_n, jnp.dot(g_n, d)
            c["evals"] = c["evals"] + 1
            c["ls_iter"] = c["ls_iter"] + 1
            return c

        return jax.lax.cond(pair | single, stop, step, c)

    c = dict(
        t=jnp.asarray(t, dt), t_prev=zero, f_prev=f, g_prev=g, gtd_prev=gtd,
        f_new=f_new, g_new=g_new, gtd_new=gtd_new,
        ls_iter=jnp.zeros([], jnp.int32), evals=jnp.ones([], jnp.int32),
        broke=jnp.array(False), done=jnp.array(False),
        b=jnp.zeros(2, dt), bf=jnp.zeros(2, dt), bg=jnp.zeros((2,) + g.shape, dt),
        bgtd=jnp.zeros(2, dt),
    )
    c = jax.lax.while_loop(br_cond, br_body, c)
    # ran out of evaluations while bracketing: bracket [0, t]
    exhausted = ~c["broke"]
    b = jnp.where(exhausted, jnp.stack([zero, c["t"]]), c["b"])
    bf = jnp.where(exhausted, jnp.stack([f, c["f_new"]]), c["bf"])
    bg = jnp.where(exhausted, jnp.stack([g, c["g_new"]]), c["bg"])
    bgtd = jnp.where(exhausted, jnp.stack([gtd, c["gtd_new"]]), c["bgtd"])
    low = jnp.where(bf[0] <= bf[1], 0, 1)

    # ---- zoom phase
    z = dict(b=b, bf=bf, bg=bg, bgtd=bgtd, low=low, insuf=jnp.array(False),
             done=c["done"], ls_iter=c["ls_iter"], evals=c["evals"])

    def zoom_cond(z):
        narrow = jnp.abs(z["b"][1] - z["b"][0]) * d_norm < _WOLFE_TOL
        return (~z["done"]) & (z["ls_iter"] < max_ls) & (~narrow)

    def zoom_body(z):
        z = dict(z)
        b, bf, bg, bgtd, low = z["b"], z["bf"], z["bg"], z["bgtd"], z["low"]
        high = 1 - low
        bmin, bmax = jnp.minimum(b[0], b[1]), jnp.maximum(b[0], b[1])
        t = _cubic_min(b[0], bf[0], bgtd[0], b[1], bf[1], bgtd[1], bmin, bmax)
        eps = 0.1 * (bmax - bmin)
        near_edge = jnp.minimum(bmax - t, t - bmin) < eps
        move = near_edge & (z["insuf"] | (t >= bmax) | (t <= bmin))
        moved = jnp.where(jnp.abs(t - bmax) < jnp.abs(t - bmin), bmax - eps, bmin + eps)
        t = jnp.where(move, moved, t)
        z["insuf"] = near_edge & ~move

        f_n, g_n = evaluate(t)
        gtd_n = jnp.dot(g_n, d)
        z["evals"] = z["evals"] + 1
        z["ls_iter"] = z["ls_iter"] + 1

        shrink_high = (f_n > f + _WOLFE_C1 * t * gtd) | (f_n >= bf[low])
        wolfe = jnp.abs(gtd_n) <= -_WOLFE_C2 * gtd
        flip = (~shrink_high) & (~wolfe) & (gtd_n * (b[high] - b[low]) >= 0)

        def put(arr, i, val):
            return arr.at[i].set(val)

        # Armijo fails or no lower than the low end: the new point replaces the high end.
        b1, bf1, bg1, bgtd1 = (put(b, high, t), put(bf, high, f_n), put(bg, high, g_n),
                               put(bgtd, high, gtd_n))
        low1 = jnp.where(bf1[0] <= bf1[1], 0, 1)
        # Otherwise: maybe the old low becomes the high end, then the new point is the low end.
        b2, bf2, bg2, bgtd2 = (
            jnp.where(flip, put(b, high, b[low]), b),
            jnp.where(flip, put(bf, high, bf[low]), bf),
            jnp.where(flip, put(bg, high, bg[low]), bg),
            jnp.where(flip, put(bgtd, high, bgtd[low]), bgtd),
        )
        b2, bf2, bg2, bgtd2 = put(b2, low, t), put(bf2, low, f_n), put(bg2, low, g_n), put(
            bgtd2, low, gtd_n
        )
        z["b"] = jnp.where(shrink_high, b1, b2)
        z["bf"] = jnp.where(shrink_high, bf1, bf2)
        z["bg"] = jnp.where(shrink_high, bg1, bg2)
        z["bgtd"] = jnp.where(shrink_high, bgtd1, bgtd2)
        z["low"] = jnp.where(shrink_high, low1, low)
        z["done"] = (~shrink_high) & wolfe
        return z

    z = jax.lax.while_loop(zoom_cond, zoom_body, z)
    low = z["low"]
    return z["bf"][low], z["bg"][low], z["b"][low], z["evals"]


@v.named
def LBFGS(  # noqa: N802  (PyTorch's name)
    lr: float = 1.0,
    max_iter: int = 20,
    max_eval: int | None = None,
    tolerance_grad: float = 1e-7,
    tolerance_change: float = 1e-9,
    history_size: int = 100,
    line_search_fn: str | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""``torch.optim.LBFGS`` (PyTorch 2.x), same arguments, defaults and numbers.

    Call ``update(grads, state, params, value_fn=loss_fn)``: one call runs one
    ``optimizer.step(closure)`` with ``value_fn`` as the closure, i.e. up to
    ``max_iter`` L-BFGS iterations and ``max_eval`` loss evaluations, and returns
    ``updates = new_params - params``. ``grads`` is not used (the step evaluates
    ``value_fn`` and its gradient at ``params`` itself, as PyTorch calls the closure
    first); pass the gradient or zeros of the same structure.

    With ``g`` the flat gradient, each inner iteration ``k`` (counted over all
    steps) does::

        k == 1:  d = -g;  H_diag = 1
        k > 1:   y = g - prev_flat_grad;  s = d * t;  ys = y . s
                 if ys > 1e-10: append (y, s, ro = 1 / ys) to the memory (drop the
                                oldest beyond history_size);  H_diag = ys / (y . y)
                 d = -H g  by the two-loop recursion over the memory, H0 = H_diag I
        t = min(1, 1 / sum|g|) * lr   if k == 1   else   lr
        stop if g . d > -tolerance_change
        line_search_fn None:           x <- x + t d  (the loss is re-evaluated unless
                                       this is the last inner iteration)
        line_search_fn 'strong_wolfe': t from a bracketing + cubic-zoom search for the
                                       strong Wolfe conditions (c1 = 1e-4, c2 = 0.9,
                                       at most max_eval - evals so far trials);
                                       x <- x + t d
        stop after max_iter iterations, max_eval evaluations, when max|g| <=
        tolerance_grad, max|d t| <= tolerance_change or |loss - prev_loss| <
        tolerance_change.

    The step returns at once (no iteration) when ``max|g| <= tolerance_grad`` at
    the start. Reference: Nocedal, 1980; Liu and Nocedal, 1989; PyTorch's
    implementation follows minFunc (M. Schmidt). Defaults are PyTorch's
    (``max_eval = max_iter * 5 // 4``).

    Differences from PyTorch: parameters are a pytree, flattened with
    ``jax.flatten_util.ravel_pytree`` (leaf order is JAX's, so sums may round
    differently in the last bit); the memory is a fixed ``(history_size, n)``
    buffer, so ``history_size * n`` floats are allocated up front, twice. Unlike
    :func:`optzoo.lbfgs` (optax's protocol: one L-BFGS iteration per update, line
    search from optax), this runs PyTorch's inner loop and line search.
    """
    fn = v.owner("LBFGS")
    v.check_nonnegative(fn, "lr", lr)
    v.check_int(fn, "max_iter", max_iter, 1)
    if max_eval is None:
        max_eval = max_iter * 5 // 4
    v.check_int(fn, "max_eval", max_eval, 1)
    v.check_nonnegative(fn, "tolerance_grad", tolerance_grad)
    v.check_nonnegative(fn, "tolerance_change", tolerance_change)
    v.check_int(fn, "history_size", history_size, 1)
    v.check_choice(fn, "line_search_fn", line_search_fn, (None, "strong_wolfe"))
    m = history_size

    def init_fn(params):
        flat, _ = ravel_pytree(params)
        n, dt = flat.shape[0], flat.dtype
        return LBFGSState(
            func_evals=jnp.zeros([], jnp.int32),
            n_iter=jnp.zeros([], jnp.int32),
            d=jnp.zeros(n, dt),
            t=jnp.zeros([], dt),
            old_dirs=jnp.zeros((m, n), dt),
            old_stps=jnp.zeros((m, n), dt),
            ro=jnp.zeros(m, dt),
            num_old=jnp.zeros([], jnp.int32),
            H_diag=jnp.ones([], dt),
            prev_flat_grad=jnp.zeros(n, dt),
            prev_loss=jnp.zeros([], dt),
        )

    def update_fn(updates, state, params=None, *, value_fn: Callable[..., Any] = None, **extra):
        del extra
        v.require_args(fn, params, value_fn=value_fn)
        v.check_tree_match(fn, updates, params, "params")
        x0, unravel = ravel_pytree(params)
        dt = x0.dtype

        def closure(x):
            loss, grad = jax.value_and_grad(lambda p: value_fn(unravel(p)))(x)
            return jnp.asarray(loss, dt), grad.astype(dt)

        loss0, g0 = closure(x0)
        opt0 = jnp.max(jnp.abs(g0)) <= tolerance_grad
        c = dict(
            x=x0, loss=loss0, g=g0, opt=opt0, stop=opt0,
            it=jnp.zeros([], jnp.int32), cur_evals=jnp.ones([], jnp.int32),
            st=state._replace(func_evals=optax.safe_increment(state.func_evals)),
        )

        def remember(st, y, s, ys):
            full = st.num_old == m
            dirs = jnp.where(full, jnp.roll(st.old_dirs, -1, axis=0), st.old_dirs)
            stps = jnp.where(full, jnp.roll(st.old_stps, -1, axis=0), st.old_stps)
            ro = jnp.where(full, jnp.roll(st.ro, -1), st.ro)
            pos = jnp.minimum(st.num_old, m - 1)
            return st._replace(
                old_dirs=dirs.at[pos].set(y),
                old_stps=stps.at[pos].set(s),
                ro=ro.at[pos].set(1.0 / ys),
                num_old=jnp.minimum(st.num_old + 1, m),
                H_diag=ys / jnp.dot(y, y),
            )

        def body(c):
            c = dict(c)
            st, g = c["st"], c["g"]
            it = c["it"] + 1
            n_iter = optax.safe_increment(st.n_iter)
            first = n_iter == 1
            st = st._replace(n_iter=n_iter)

            # direction
            y = g - st.prev_flat_grad
            s = st.d * st.t
            ys = jnp.dot(y, s)
            st = jax.lax.cond((~first) & (ys > _CURVATURE_MIN),
                              lambda st: remember(st, y, s, ys), lambda st: st, st)
            st = st._replace(H_diag=jnp.where(first, jnp.ones([], dt), st.H_diag))
            d = jax.lax.cond(first, lambda: -g, lambda: two_loop_recursion(
                -g, st.old_stps, st.old_dirs, st.ro, st.H_diag, num_pairs=st.num_old))
            prev_loss = c["loss"]
            st = st._replace(prev_flat_grad=g, prev_loss=prev_loss)

            # step length
            t0 = jnp.minimum(1.0, 1.0 / jnp.sum(jnp.abs(g))) * lr
            t = jnp.where(first, t0, jnp.asarray(lr, dt)).astype(dt)
            gtd = jnp.dot(g, d)
            flat = gtd > -tolerance_change

            def move(_):
                if line_search_fn == "strong_wolfe":
                    x = c["x"]
                    f_new, g_new, t_ls, evals = _strong_wolfe(
                        lambda tt: closure(x + tt * d), t, d, c["loss"], g, gtd,
                        max_eval - c["cur_evals"],
                    )
                    return x + t_ls * d, f_new, g_new, t_ls, evals
                x_new = c["x"] + t * d
                last = it == max_iter
                loss_n, g_n = jax.lax.cond(last, lambda: (c["loss"], g), lambda: closure(x_new))
                return x_new, loss_n, g_n, t, jnp.where(last, 0, 1).astype(jnp.int32)

            def stay(_):
                return c["x"], c["loss"], g, t, jnp.zeros([], jnp.int32)

            x, loss, g_new, t, evals = jax.lax.cond(flat, stay, move, None)
            opt = jnp.where(flat, c["opt"], jnp.max(jnp.abs(g_new)) <= tolerance_grad)
            cur_evals = c["cur_evals"] + evals
            st = st._replace(d=d, t=t, func_evals=st.func_evals + evals)
            stop = (
                flat
                | (it == max_iter)
                | (cur_evals >= max_eval)
                | opt
                | (jnp.max(jnp.abs(d * t)) <= tolerance_change)
                | (jnp.abs(loss - prev_loss) < tolerance_change)
            )
            c.update(x=x, loss=loss, g=g_new, opt=opt, stop=stop, it=it, cur_evals=cur_evals, st=st)
            return c

        c = jax.lax.while_loop(lambda c: ~c["stop"], body, c)
        new_params = unravel(c["x"])
        upd = jax.tree.map(lambda a, b: (a - b).astype(b.dtype), new_params, params)
        return upd, c["st"]

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
