"""Averaged SGD: a decaying step size and the running average of the iterates."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms.complex import from_real_pairs
from optzoo.transforms._tree import value_at


class AsgdState(NamedTuple):
    """State of :func:`scale_by_asgd`.

    ``eta`` and ``mu`` are the step size and averaging weight used by the last
    step; ``ax`` is the running average of the iterates (read it with
    :func:`asgd_averaged_params`).
    """

    count: jax.Array  # int32, saturating
    eta: jax.Array
    mu: jax.Array
    ax: optax.Params


def scale_by_asgd(
    learning_rate=1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    r"""Averaged stochastic gradient descent (Polyak and Juditsky, 1992), with the
    step-size schedule of Bottou (2012, "Stochastic Gradient Descent Tricks").

    At step ``t = 1, 2, ...`` (``lr`` a number, or a schedule evaluated at ``t - 1``)::

        eta_t    = lr / (1 + lambd * lr * (t - 1))^alpha
        mu_t     = 1 / max(1, t - 1 - t0)
        g'_t     = g_t + weight_decay * params_{t-1}
        params_t = params_{t-1} * (1 - lambd * eta_t) - eta_t * g'_t
        ax_t     = params_t                       if mu_t == 1
        ax_t     = ax_{t-1} + mu_t * (params_t - ax_{t-1})   otherwise

    so for integer ``t0`` the average ``ax_t`` is the plain mean of
    ``params_{t0+2}, ..., params_t`` (and simply ``params_t`` before that).
    The output is the final update ``params_t - params_{t-1}`` (already
    negative), since the average must see the new iterate; chain nothing after
    it except wrappers, and always pass ``params`` to ``update``.

    Defaults (``lr = 1e-2``, ``lambd = 1e-4``, ``alpha = 0.75``, ``t0 = 1e6``)
    are PyTorch's, whose schedule is Bottou's with ``alpha = 0.75``.

    Flavors: equals ``torch.optim.ASGD(lr, lambd, alpha, t0, weight_decay)``
    (its state ``eta``/``mu`` after step ``t`` are this block's ``eta_{t+1}``/
    ``mu_{t+1}``; this state keeps the values used). optax has no ASGD.

    Args:
      learning_rate: initial step size ``lr``, >= 0, or a schedule.
      lambd: decay of the step size and L2 shrinkage of the params, >= 0.
      alpha: exponent of the step-size decay, >= 0.
      t0: step after which averaging starts, >= 0.
      weight_decay: coupled L2 penalty added to the gradient, >= 0.
    """
    fn = v.owner("scale_by_asgd")
    v.check_learning_rate(fn, learning_rate)
    v.check_nonnegative_each(fn, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay)

    def init_fn(params):
        scalar = jnp.result_type(float)
        return AsgdState(
            count=jnp.zeros([], jnp.int32),
            eta=jnp.zeros([], scalar),
            mu=jnp.ones([], scalar),
            ax=optax.tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.ax)
        lr = value_at(learning_rate, state.count)
        steps_done = state.count.astype(state.eta.dtype)
        eta = (lr / (1.0 + lambd * lr * steps_done) ** alpha).astype(state.eta.dtype)
        mu = (1.0 / jnp.maximum(1.0, steps_done - t0)).astype(state.mu.dtype)

        def new_param(g, p):
            g = g + weight_decay * p
            return p * (1.0 - lambd * eta) - eta * g

        new_params = jax.tree.map(new_param, updates, params)
        out = jax.tree.map(lambda n, p, g: (n - p).astype(g.dtype), new_params, params, updates)
        ax = jax.tree.map(
            lambda a, n: jnp.where(mu == 1.0, n, a + mu * (n - a)).astype(a.dtype),
            state.ax,
            new_params,
        )
        return out, AsgdState(optax.safe_increment(state.count), eta, mu, ax)

    return optax.GradientTransformation(init_fn, update_fn)


def asgd_averaged_params(state: Any, like: optax.Params | None = None) -> optax.Params:
    """The averaged parameters ``ax`` from an optimizer state that contains an
    :class:`AsgdState` (the state of :func:`optzoo.asgd`, or of any chain or
    wrapper around it).

    The state keeps a complex param's average as real pairs (see
    :mod:`optzoo.transforms.complex`); pass the params as ``like`` to get complex
    leaves back. Before the first update the average is all zeros. Raises
    ``ValueError`` if the state holds no ``AsgdState``, or more than one.
    """
    found = [
        s for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, AsgdState))
        if isinstance(s, AsgdState)
    ]
    if len(found) != 1:
        raise ValueError(
            f"asgd_averaged_params: expected one AsgdState in the state, found {len(found)}: "
            "pass the state of optzoo.asgd (or of a chain holding exactly one scale_by_asgd)"
        )
    if like is None:
        return found[0].ax
    return from_real_pairs(found[0].ax, like)
