"""FTRL-Proximal: follow the regularized leader with per-coordinate learning rates."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms._dtypes import store_leaf, wide
from optzoo.transforms._tree import unzip, value_at

__all__ = ["FtrlState", "scale_by_ftrl"]


class FtrlState(NamedTuple):
    """State of :func:`scale_by_ftrl`.

    ``count``: completed steps (int32, saturating), the argument of a learning-rate
    schedule. ``accumulator``: ``n``, the running sum of squared gradients (starting
    at ``initial_accumulator_value``). ``linear``: ``z``, the accumulated linear term.
    """

    count: jax.Array
    accumulator: optax.Updates
    linear: optax.Updates


def scale_by_ftrl(
    learning_rate: float | Callable[[Any], Any] = 0.001,
    learning_rate_power: float = -0.5,
    initial_accumulator_value: float = 0.1,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    l2_shrinkage_regularization_strength: float = 0.0,
    beta: float = 0.0,
) -> optax.GradientTransformation:
    r"""FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the
    Trenches", KDD 2013, Algorithm 1), in the generalised form of TensorFlow/Keras.

    FTRL solves for the new weights in closed form, so this block needs ``params``
    and takes the learning rate itself: its output is the complete update
    ``w_new - w``; do not chain ``scale_by_learning_rate`` after it. With
    ``lr = learning_rate(count)`` (or the constant), ``p = learning_rate_power``,
    ``l1``, ``l2``, ``l2_shrinkage`` the strengths and per coordinate::

        g_shrunk = g + 2 * l2_shrinkage * w
        n_new    = n + g^2                                   (n_0 = initial_accumulator_value)
        sigma    = (n_new^(-p) - n^(-p)) / lr
        z        = z + g_shrunk - sigma * w                  (z_0 = 0)
        quad     = n_new^(-p) / lr + 2 * (l2 + beta / (2 * lr))
        w_new    = (clip(z, -l1, l1) - z) / quad             (0 where |z| <= l1)
        out      = w_new - w

    With ``p = -0.5``, ``beta = 0`` and no shrinkage this is the paper's update
    (its ``alpha`` is ``lr``, its ``lambda_1``/``lambda_2`` are ``l1``/``2 * l2``
    with TensorFlow's scaling). ``beta`` is the paper's ``beta`` (added to
    ``sqrt(n)`` in its per-coordinate rate); ``l2_shrinkage`` adds an L2 penalty to
    the gradient only (TensorFlow's "online L2 shrinkage"), not to the closed form.
    Defaults are Keras's (``keras.optimizers.Ftrl``). optax has no FTRL.

    Args:
      learning_rate: ``lr``, a number > 0 or a schedule ``count -> lr``.
      learning_rate_power: ``p`` in ``(-inf, 0]``; ``-0.5`` is AdaGrad-style decay,
        ``0`` a constant rate.
      initial_accumulator_value: ``n_0 >= 0``.
      l1_regularization_strength, l2_regularization_strength,
      l2_shrinkage_regularization_strength: ``>= 0``.
      beta: ``>= 0``.
    """
    fn = v.owner("scale_by_ftrl")
    v.check_learning_rate(fn, learning_rate)
    if not callable(learning_rate):  # the closed form divides by lr (Keras gives NaN at 0)
        v.check_positive(fn, "learning_rate", learning_rate)
    v.check_range(fn, "learning_rate_power", learning_rate_power, high=0.0)
    v.check_nonnegative_each(
        fn,
        initial_accumulator_value=initial_accumulator_value,
        l1_regularization_strength=l1_regularization_strength,
        l2_regularization_strength=l2_regularization_strength,
        l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength,
        beta=beta,
    )
    l1, l2, shrink, power = (
        l1_regularization_strength,
        l2_regularization_strength,
        l2_shrinkage_regularization_strength,
        learning_rate_power,
    )

    def init_fn(params):
        return FtrlState(
            count=jnp.zeros([], jnp.int32),
            accumulator=jax.tree.map(
                lambda p: jnp.full_like(p, initial_accumulator_value), params
            ),
            linear=optax.tree.zeros_like(params),
        )

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)  # FTRL solves for the new weights
        v.check_tree_match(fn, updates, state.accumulator)
        lr = value_at(learning_rate, state.count)

        def leaf(g, w_kept, n_kept, z_kept):  # in at least float32 (g * g underflows float16)
            w, n, z = wide(w_kept), wide(n_kept), wide(z_kept)
            lr_w = jnp.asarray(lr).astype(w.dtype)
            g = g.astype(w.dtype)
            g_shrunk = g + 2.0 * shrink * w
            n_new = n + g * g
            root_new, root_old = n_new ** (-power), n ** (-power)
            z = z + g_shrunk - (root_new - root_old) / lr_w * w
            quad = root_new / lr_w + 2.0 * (l2 + beta / (2.0 * lr_w))
            w_new = (jnp.clip(z, -l1, l1) - z) / quad
            return ((w_new - w).astype(w_kept.dtype), store_leaf(n_new, n_kept.dtype),
                    store_leaf(z, z_kept.dtype))

        out = jax.tree.map(leaf, updates, params, state.accumulator, state.linear)
        delta, accumulator, linear = unzip(updates, out, 3)
        return delta, FtrlState(
            count=optax.safe_increment(state.count), accumulator=accumulator, linear=linear
        )

    return optax.GradientTransformation(init_fn, update_fn)
