"""Sign-based updates: Rprop (per-coordinate adaptive step sizes) and Lion."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip


class RpropState(NamedTuple):
    """State of :func:`scale_by_rprop`.

    ``step_size`` holds the per-coordinate step sizes; ``prev`` the previous
    gradient as Rprop remembers it (zero where its sign had just flipped).
    """

    count: jax.Array  # int32, saturating
    step_size: optax.Updates
    prev: optax.Updates


def scale_by_rprop(
    learning_rate: float = 0.1,
    eta_minus: float = 0.5,
    eta_plus: float = 1.2,
    min_step_size: float = 1e-6,
    max_step_size: float = 50.0,
    *,
    zero_after_sign_change: bool = True,
) -> optax.GradientTransformation:
    r"""Resilient backpropagation: per-coordinate step sizes driven by gradient signs.

    With ``s = sign(g_t * prev_{t-1})`` per coordinate (``prev_0 = 0``,
    ``step_size_0 = learning_rate``)::

        step_size_t = clip(step_size_{t-1} * (eta_plus if s > 0 else eta_minus if s < 0 else 1),
                           min_step_size, max_step_size)
        g'_t   = 0 where s < 0 else g_t          (zero_after_sign_change, iRprop-)
        g'_t   = g_t                             (otherwise, Rprop-)
        prev_t = g'_t
        out_t  = -step_size_t * sign(g'_t)

    The output is the final update (already negative): Rprop has no global
    learning rate, ``learning_rate`` is only the initial step size, so chain
    nothing after it except wrappers. It must be a number, not a schedule.

    Reference: Riedmiller and Braun, 1993 (step-size rule and the defaults
    ``eta_minus = 0.5``, ``eta_plus = 1.2``, ``min_step_size = 1e-6``,
    ``max_step_size = 50``, initial step 0.1); the gradient-zeroing variant is
    iRprop- without weight backtracking (Igel and Huesken, 2000).

    Flavors: ``torch.optim.Rprop(lr, etas=(eta_minus, eta_plus),
    step_sizes=(min_step_size, max_step_size))`` is ``zero_after_sign_change=True``
    with ``learning_rate = lr`` (torch's default 0.01); ``maximize=True`` is
    ``optax.scale(-1)`` before this block. ``optax.rprop`` (0.2.8) has the same
    step-size rule (equal step sizes whenever ``learning_rate`` lies in
    ``[min_step_size, max_step_size]``; outside, optax leaves a step size
    unclipped while ``s == 0``), but it returns each update one step late: its
    first update is zero and its update at step ``t`` is the one computed at
    ``t - 1`` (zeroed if the sign just flipped), so its iterates differ.

    Args:
      learning_rate: initial step size, > 0.
      eta_minus: step-size factor after a sign change, in (0, 1).
      eta_plus: step-size factor while the sign holds, in (1, inf).
      min_step_size, max_step_size: bounds of the step sizes, 0 <= min <= max.
      zero_after_sign_change: skip the step (and forget the gradient) for a
        coordinate whose gradient sign just flipped.
    """
    fn = v.owner("scale_by_rprop")
    v.check_positive(fn, "learning_rate", learning_rate)
    v.check_range(fn, "eta_minus", eta_minus, 0.0, 1.0, low_open=True, high_open=True)
    v.check_range(fn, "eta_plus", eta_plus, 1.0, low_open=True)
    v.check_nonnegative(fn, "min_step_size", min_step_size)
    low = v.concrete_float(min_step_size)  # None when traced (inject_hyperparams)
    v.check_range(fn, "max_step_size", max_step_size, 0.0 if low is None else low)
    v.check_bool(fn, "zero_after_sign_change", zero_after_sign_change)

    def init_fn(params):
        return RpropState(
            count=jnp.zeros([], jnp.int32),
            step_size=optax.tree.full_like(params, learning_rate),
            prev=optax.tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.prev)

        def one(g, step, prev):  # in at least float32 (g * prev underflows in float16)
            g_w, step_w = wide(g), wide(step)
            s = jnp.sign(g_w * wide(prev))
            factor = jnp.where(s > 0, eta_plus, jnp.where(s < 0, eta_minus, 1.0))
            new_step = jnp.clip(step_w * factor, min_step_size, max_step_size).astype(step_w.dtype)
            g_kept = jnp.where(s < 0, jnp.zeros_like(g_w), g_w) if zero_after_sign_change else g_w
            out = (-new_step * jnp.sign(g_kept)).astype(g.dtype)
            return out, _dtypes.store_leaf(new_step, step.dtype), g_kept.astype(prev.dtype)

        triples = jax.tree.map(one, updates, state.step_size, state.prev)
        out, step_size, prev = unzip(updates, triples, 3)
        return out, RpropState(optax.safe_increment(state.count), step_size, prev)

    return optax.GradientTransformation(init_fn, update_fn)


class LionState(NamedTuple):
    """State of :func:`scale_by_lion`: the momentum ``mu`` (an EMA with ``b2``)."""

    count: jax.Array  # int32, saturating
    mu: optax.Updates


def scale_by_lion(
    b1: float = 0.9, b2: float = 0.99, *, mu_dtype=None
) -> optax.GradientTransformation:
    r"""Lion's sign of interpolated momentum (Chen et al., 2023, "Symbolic Discovery
    of Optimization Algorithms", Program 1).

    ::

        out_t = sign(b1 * mu_{t-1} + (1 - b1) * g_t)
        mu_t  = b2 * mu_{t-1} + (1 - b2) * g_t

    Defaults ``b1 = 0.9``, ``b2 = 0.99`` are the paper's. Equals
    ``optax.scale_by_lion`` (its default ``mode='hard'``) and, chained with
    decoupled weight decay and the learning rate, ``keras.optimizers.Lion``.

    Args:
      b1: interpolation weight of the momentum in the update, in [0, 1].
      b2: decay of the momentum, in [0, 1].
      mu_dtype: dtype of ``mu``. ``None`` (the default) follows the params, except
        that float16 and bfloat16 params get float32; ``"params"`` keeps each
        param's dtype; a dtype sets it (see :mod:`optzoo.transforms._dtypes`). The
        arithmetic runs in at least float32 whatever the storage.
    """
    fn = v.owner("scale_by_lion")
    v.check_range(fn, "b1", b1, 0.0, 1.0)
    v.check_range(fn, "b2", b2, 0.0, 1.0)

    def init_fn(params):
        return LionState(jnp.zeros([], jnp.int32), _dtypes.zeros_like(params, mu_dtype))

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        out = jax.tree.map(
            lambda g, m: jnp.sign(b1 * wide(m) + (1.0 - b1) * wide(g)).astype(g.dtype),
            updates, state.mu,
        )
        wide_tree = _dtypes.wide_tree
        mu = optax.tree.update_moment(wide_tree(updates), wide_tree(state.mu), b2, 1)
        mu = _dtypes.store(mu, state.mu)
        return out, LionState(optax.safe_increment(state.count), mu)

    return optax.GradientTransformation(init_fn, update_fn)
