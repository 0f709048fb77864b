"""Adafactor: second moments factored into row and column statistics."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optzoo import flat as _flat
from optzoo import _validate as v
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip, value_at


class AdafactorState(NamedTuple):
    """State of :func:`scale_by_adafactor`.

    For a factored leaf ``v_row`` and ``v_col`` hold the running means of the
    squared gradient with the column axis, respectively the row axis, removed,
    and ``v`` is a placeholder of shape ``()``; for any other leaf ``v`` holds
    the full running mean and ``v_row``, ``v_col`` are placeholders.
    """

    count: jax.Array  # int32, saturating
    v_row: optax.Updates
    v_col: optax.Updates
    v: optax.Updates


def _factored_axes(shape, factor_dims, min_dim_size_to_factor):
    """The (row, col) axes to factor over, in increasing order, or None."""
    if len(shape) < 2:
        return None
    if factor_dims == "last_two":
        axes = (len(shape) - 2, len(shape) - 1)
    else:  # "largest_two": the two largest axes (stable order on ties)
        order = np.argsort(shape, kind="stable")
        axes = tuple(sorted(int(a) for a in order[-2:]))
    if min(shape[axes[0]], shape[axes[1]]) < min_dim_size_to_factor:
        return None
    return axes


def scale_by_adafactor(
    learning_rate=1e-2,
    beta2_decay: float = -0.8,
    eps1: float | None = 1e-30,
    eps2: float = 1e-3,
    clip_threshold: float | None = 1.0,
    relative_step: bool = True,
    multiply_by_parameter_scale: bool = True,
    weight_decay: float = 0.0,
    *,
    eps1_mode: str = "add",
    factor_dims: str = "last_two",
    min_dim_size_to_factor: int = 0,
    decay_before_scale: bool = False,
    mean_dtype=None,
    v_dtype=None,
) -> optax.GradientTransformation:
    r"""Adafactor (Shazeer and Stern, 2018, Algorithms 4 and 5 with update clipping).

    At step ``t = 1, 2, ...`` with learning rate ``lr_t`` (a number or a schedule
    evaluated at ``t - 1``)::

        beta2_t = 1 - t^beta2_decay                      (decay-rate schedule, 0 at t = 1)
        rho_t   = min(lr_t, 1 / sqrt(t)) if relative_step else lr_t
        alpha_t = max(eps2, RMS(params)) * rho_t         (multiply_by_parameter_scale)
        alpha_t = rho_t                                  (otherwise)
        sq      = g^2 + eps1                             (eps1_mode="add")
        factored leaf (rows r, columns c):
          v_row_t = beta2_t v_row + (1 - beta2_t) mean_c(sq)
          v_col_t = beta2_t v_col + (1 - beta2_t) mean_r(sq)
          v_hat   = v_row_t v_col_t / mean_r(v_row_t)
        other leaves:
          v_t     = beta2_t v + (1 - beta2_t) sq,   v_hat = v_t
        u     = g / sqrt(v_hat)
        u_hat = u / max(1, RMS(u) / clip_threshold)      (update clipping; None: off)
        out   = -(alpha_t * u_hat + lr_t * weight_decay * params)

    The output is the final update (already negative), because the relative
    step puts the learning rate inside the block; chain nothing after it but
    wrappers (momentum, if wanted, is ``optax.ema(b1, debias=False)`` before a
    final sign flip, as optax does it).

    With ``eps1_mode="clamp"`` (PyTorch) ``eps1`` is not added to ``g^2``;
    instead ``mean_r(v_row_t)`` is clamped below at ``eps1`` and ``v_hat`` at
    ``eps1^2``; ``eps1=None`` then means the machine epsilon of the params' dtype.

    Defaults are the paper's: ``beta2_decay = -0.8``, ``eps1 = 1e-30``,
    ``eps2 = 1e-3``, ``clip_threshold = 1``, relative step capped at
    ``1e-2``, parameter scaling on, no momentum.

    Flavors:

    * PyTorch 2.13 ``torch.optim.Adafactor(lr, beta2_decay, eps=(e1, e2), d,
      weight_decay)``: ``learning_rate=lr, eps1=e1, eps2=e2, clip_threshold=d,
      eps1_mode="clamp"`` (factoring over the last two axes, relative step and
      parameter scale always on). Its decay ``params *= 1 - lr * weight_decay``
      is the ``weight_decay`` term here, with ``RMS(params)`` taken before it.
    * Keras 3 ``Adafactor(learning_rate, beta_2_decay, epsilon_1, epsilon_2,
      clip_threshold)``: the defaults here with ``learning_rate`` as given
      (Keras caps it at ``1 / sqrt(t)`` whatever ``relative_step`` says, so use
      ``relative_step=True``); its ``weight_decay`` is applied before the step,
      so the parameter scale sees the decayed params: ``decay_before_scale=True``
      (or, as ``optzoo.keras`` does, decay the params first and pass the decayed
      params with ``weight_decay=0``).
      Keras 3.15 on JAX accumulates every mean in float32, even for float64
      variables: ``mean_dtype=jnp.float32`` reproduces that.
    * optax ``adafactor(learning_rate, min_dim_size_to_factor, decay_rate)``:
      ``relative_step=False, beta2_decay=-decay_rate, factor_dims="largest_two",
      min_dim_size_to_factor=...`` (optax's default 128). optax evaluates
      ``beta2_t`` in float32 even under x64, so the two agree to about 1e-7.

    Args:
      learning_rate: step-size cap (relative step) or step size, >= 0, or a schedule.
      beta2_decay: exponent of the decay-rate schedule, <= 0.
      eps1: regulariser of the squared gradient, >= 0 (None: dtype epsilon, clamp mode).
      eps2: lower bound of the parameter scale, >= 0.
      clip_threshold: ``d`` of update clipping, > 0 (Keras accepts below 1; the
        paper and torch use ``d >= 1``, which ``adafactor`` and
        ``optzoo.pytorch.Adafactor`` require), or None for no clipping.
      relative_step: cap the step at ``1 / sqrt(t)``.
      multiply_by_parameter_scale: scale the step by ``max(eps2, RMS(params))``.
      weight_decay: decoupled decay rate, multiplied by ``lr_t``, >= 0.
      eps1_mode: ``"add"`` (paper, Keras, optax) or ``"clamp"`` (PyTorch).
      factor_dims: ``"last_two"`` (PyTorch, Keras) or ``"largest_two"`` (optax).
      min_dim_size_to_factor: factor only when both axes have at least this size.
      decay_before_scale: take ``RMS(params)`` after the decay (Keras).
      mean_dtype: dtype in which means (row/column statistics, RMS) are
        accumulated; default the leaf's dtype.
      v_dtype: dtype of ``v_row``, ``v_col`` and ``v``. ``None`` (the default)
        follows the params, except that float16 and bfloat16 params get float32;
        ``"params"`` keeps each param's dtype; a dtype sets it (see
        :mod:`optzoo.transforms._dtypes`). The arithmetic runs in at least float32.
    """
    fn = v.owner("scale_by_adafactor")
    v.check_learning_rate(fn, learning_rate)
    v.check_range(fn, "beta2_decay", beta2_decay, high=0.0)
    if eps1 is not None:
        v.check_nonnegative(fn, "eps1", eps1)
    v.check_nonnegative(fn, "eps2", eps2)
    if clip_threshold is not None:
        v.check_positive(fn, "clip_threshold", clip_threshold)
    v.check_bool(fn, "relative_step", relative_step)
    v.check_bool(fn, "multiply_by_parameter_scale", multiply_by_parameter_scale)
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    v.check_choice(fn, "eps1_mode", eps1_mode, ("add", "clamp"))
    v.check_choice(fn, "factor_dims", factor_dims, ("last_two", "largest_two"))
    v.check_int(fn, "min_dim_size_to_factor", min_dim_size_to_factor)
    v.check_bool(fn, "decay_before_scale", decay_before_scale)
    if eps1 is None and eps1_mode == "add":
        raise ValueError(f"{fn}: eps1 must be a number when eps1_mode='add', got None")

    def mean(x, axis=None, keepdims=False):
        return jnp.mean(x, axis=axis, keepdims=keepdims, dtype=mean_dtype).astype(x.dtype)

    def rms(x):
        return jnp.sqrt(mean(jnp.square(x)))

    def axes_of(p):
        return _factored_axes(jnp.shape(p), factor_dims, min_dim_size_to_factor)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        # zeros_like of the param (or of its mean over an axis): the state leaf keeps
        # the param's sharding
        def like(x, p):
            return jnp.zeros_like(x, dtype=_dtypes.state_dtype(v_dtype, p))

        def scalar(p):
            return jnp.zeros([], _dtypes.state_dtype(v_dtype, p))

        def rows(p):
            ax = axes_of(p)
            return scalar(p) if ax is None else like(jnp.mean(p, axis=ax[1]), p)

        def cols(p):
            ax = axes_of(p)
            return scalar(p) if ax is None else like(jnp.mean(p, axis=ax[0]), p)

        def full(p):
            return like(p, p) if axes_of(p) is None else scalar(p)

        return AdafactorState(
            count=jnp.zeros([], jnp.int32),
            v_row=jax.tree.map(rows, params),
            v_col=jax.tree.map(cols, params),
            v=jax.tree.map(full, params),
        )

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.v)
        lr_t = value_at(learning_rate, state.count)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        one_minus_beta2 = t**beta2_decay
        rho = jnp.minimum(lr_t, 1.0 / jnp.sqrt(t)) if relative_step else jnp.asarray(lr_t)

        def one(g, p, v_row, v_col, v_full):
            dtype, kept = g.dtype, (v_row.dtype, v_col.dtype, v_full.dtype)
            g, p, v_row, v_col, v_full = map(wide, (g, p, v_row, v_col, v_full))
            e1 = jnp.finfo(dtype).eps if eps1 is None else eps1
            sq = jnp.square(g) + e1 if eps1_mode == "add" else jnp.square(g)
            ax = axes_of(p)
            if ax is not None:
                r_ax, c_ax = ax
                v_row = v_row + one_minus_beta2 * (mean(sq, axis=c_ax) - v_row)
                v_col = v_col + one_minus_beta2 * (mean(sq, axis=r_ax) - v_col)
                row_mean = mean(v_row, axis=r_ax, keepdims=True)
                if eps1_mode == "clamp":
                    row_mean = jnp.maximum(row_mean, e1)
                v_hat = (
                    jnp.expand_dims(v_row / row_mean, c_ax) * jnp.expand_dims(v_col, r_ax)
                )
            else:
                v_full = v_full + one_minus_beta2 * (sq - v_full)
                v_hat = v_full
            if eps1_mode == "clamp":
                v_hat = jnp.maximum(v_hat, e1 * e1)
            u = g / jnp.sqrt(v_hat)
            if clip_threshold is not None:
                u = u / jnp.maximum(1.0, rms(u) / clip_threshold)
            decayed = p * (1.0 - lr_t * weight_decay) if decay_before_scale else p
            alpha = jnp.maximum(eps2, rms(decayed)) * rho if multiply_by_parameter_scale else rho
            out = alpha * u
            if v.concrete_float(weight_decay) != 0.0:
                out = out + lr_t * weight_decay * p
            states = (v_row, v_col, v_full)
            return (-out).astype(dtype), *map(_dtypes.store_leaf, states, kept)

        quads = jax.tree.map(one, updates, params, state.v_row, state.v_col, state.v)
        out, v_row, v_col, v_full = unzip(updates, quads, 4)
        return out, AdafactorState(count, v_row, v_col, v_full)

    return optax.GradientTransformation(init_fn, update_fn)
