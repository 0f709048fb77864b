"""Per-coordinate adaptive scaling: AdaGrad (root sum of squares), RMSProp (root
mean square) and AdaDelta (ratio of two running RMS)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide, wide_tree


def _divide_by_root(g, sq, eps, eps_in_sqrt, guard=True):
    """``g / sqrt(sq + eps)`` or ``g / (sqrt(sq) + eps)``; zero where the root is zero.

    ``guard=False`` leaves the zero test out when the root cannot be zero (see
    :func:`_root_can_vanish`): the same numbers for finite squares, half the
    operations to trace (a NaN square then gives a NaN output, as in optax and PyTorch)."""
    dtype, g, sq = g.dtype, wide(g), wide(sq)
    root = jnp.sqrt(sq + eps) if eps_in_sqrt else jnp.sqrt(sq) + eps
    if not guard:
        return (g / root).astype(dtype)
    safe = jnp.where(root > 0, root, 1)
    return jnp.where(root > 0, g / safe, 0).astype(dtype)


def _root_can_vanish(eps, centered=False) -> bool:
    """False when ``eps > 0`` is known now and the squares cannot go negative (not
    centered): then the root is at least ``sqrt(eps)`` or ``eps`` and never zero."""
    e = v.concrete_float(eps)
    return centered or e is None or e <= 0.0


class RssState(NamedTuple):
    """State of :func:`scale_by_rss`."""

    sum_of_squares: optax.Updates


def scale_by_rss(
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    eps_in_sqrt: bool = True,
    *,
    accumulator_dtype=None,
) -> optax.GradientTransformation:
    r"""AdaGrad's scaling by the root of the running sum of squared gradients.

    ::

        sum_of_squares_t = initial_accumulator_value + sum_{i<=t} g_i^2
        out_t = g_t / sqrt(sum_of_squares_t + eps)      (eps_in_sqrt, as optax and Keras)
        out_t = g_t / (sqrt(sum_of_squares_t) + eps)    (not eps_in_sqrt, as PyTorch)

    Where the root is zero (only possible with ``eps = 0``) the output is zero.
    Reference: Duchi, Hazan and Singer, 2011. ``accumulator_dtype`` stores
    ``sum_of_squares``: ``None`` (the default) follows the params, except that
    float16 and bfloat16 params get float32; ``"params"`` keeps each param's dtype;
    a dtype sets it (see :mod:`optzoo.transforms._dtypes`). The arithmetic runs in
    at least float32 whatever the storage.
    """
    fn = v.owner("scale_by_rss")
    v.check_nonnegative(fn, "initial_accumulator_value", initial_accumulator_value)
    v.check_nonnegative(fn, "eps", eps)
    v.check_bool(fn, "eps_in_sqrt", eps_in_sqrt)

    def init_fn(params):
        return RssState(
            sum_of_squares=_dtypes.full_like(params, initial_accumulator_value, accumulator_dtype)
        )

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.sum_of_squares)
        def accumulate(g, s):  # in the wider of the accumulator's dtype and float32
            s = wide(s)
            return s + g.astype(s.dtype) ** 2

        sum_of_squares = jax.tree.map(accumulate, updates, state.sum_of_squares)
        out = jax.tree.map(
            lambda g, s: _divide_by_root(g, s, eps, eps_in_sqrt, _root_can_vanish(eps)),
            updates,
            sum_of_squares,
        )
        return out, RssState(sum_of_squares=_dtypes.store(sum_of_squares, state.sum_of_squares))

    return optax.GradientTransformation(init_fn, update_fn)


class RmsState(NamedTuple):
    """State of :func:`scale_by_rms`. ``mu`` is ``None`` unless ``centered``."""

    nu: optax.Updates
    mu: optax.Updates | None


def scale_by_rms(
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    *,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""RMSProp's scaling by a running root mean square of the gradients.

    ::

        nu_t = decay * nu_{t-1} + (1 - decay) * g_t^2          (nu_0 = initial_scale)
        mu_t = decay * mu_{t-1} + (1 - decay) * g_t            (centered only, mu_0 = 0)
        var_t = nu_t - mu_t^2 if centered else nu_t
        out_t = g_t / sqrt(var_t + eps)       (eps_in_sqrt: TensorFlow 1, Keras, optax)
        out_t = g_t / (sqrt(var_t) + eps)     (not eps_in_sqrt: PyTorch)

    Reference: Hinton, Neural Networks for Machine Learning, lecture 6e (2012);
    centered variant: Graves, 2013. ``nu_dtype`` stores ``nu`` (and ``mu``):
    ``None`` (the default) follows the params, except that float16 and bfloat16
    params get float32; ``"params"`` keeps each param's dtype; a dtype sets it (see
    :mod:`optzoo.transforms._dtypes`). The arithmetic runs in at least float32.
    """
    fn = v.owner("scale_by_rms")
    v.check_range(fn, "decay", decay, 0.0, 1.0)
    v.check_nonnegative(fn, "eps", eps)
    v.check_nonnegative(fn, "initial_scale", initial_scale)
    v.check_bool(fn, "eps_in_sqrt", eps_in_sqrt)
    v.check_bool(fn, "centered", centered)

    def init_fn(params):
        nu = _dtypes.full_like(params, initial_scale, nu_dtype)
        mu = _dtypes.zeros_like(params, nu_dtype) if centered else None
        return RmsState(nu=nu, mu=mu)

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.nu)
        wide_updates = wide_tree(updates)  # g^2 in at least float32
        nu = optax.tree.update_moment(wide_updates, wide_tree(state.nu), decay, 2)
        if centered:  # var from the stored mu, as PyTorch and Keras compute it
            mu = optax.tree.update_moment(wide_updates, wide_tree(state.mu), decay, 1)
            mu = _dtypes.store(mu, state.mu)
            var = jax.tree.map(lambda n, m: n - wide(m) * wide(m), nu, mu)
        else:
            mu, var = None, nu
        nu = _dtypes.store(nu, state.nu)
        guard = _root_can_vanish(eps, centered)
        out = jax.tree.map(lambda g, s: _divide_by_root(g, s, eps, eps_in_sqrt, guard), updates, var)
        return out, RmsState(nu=nu, mu=mu)

    return optax.GradientTransformation(init_fn, update_fn)


class AdadeltaState(NamedTuple):
    """State of :func:`scale_by_adadelta`."""

    e_g2: optax.Updates  # running mean of squared gradients, E[g^2]
    e_dx2: optax.Updates  # running mean of squared updates, E[dx^2]


def scale_by_adadelta(
    rho: float = 0.95, eps: float = 1e-6, *, accumulator_dtype=None
) -> optax.GradientTransformation:
    r"""AdaDelta's unit-corrected step (Zeiler, 2012, Algorithm 1).

    ::

        e_g2_t  = rho * e_g2_{t-1} + (1 - rho) * g_t^2
        dx_t    = sqrt(e_dx2_{t-1} + eps) / sqrt(e_g2_t + eps) * g_t
        e_dx2_t = rho * e_dx2_{t-1} + (1 - rho) * dx_t^2
        out_t   = dx_t

    Equals ``optax.scale_by_adadelta`` and the step of ``torch.optim.Adadelta``.
    ``accumulator_dtype`` stores ``e_g2`` and ``e_dx2``: ``None`` (the default)
    follows the params, except that float16 and bfloat16 params get float32;
    ``"params"`` keeps each param's dtype; a dtype sets it (see
    :mod:`optzoo.transforms._dtypes`). The arithmetic runs in at least float32.
    """
    fn = v.owner("scale_by_adadelta")
    v.check_range(fn, "rho", rho, 0.0, 1.0)
    v.check_nonnegative(fn, "eps", eps)

    def init_fn(params):
        return AdadeltaState(_dtypes.zeros_like(params, accumulator_dtype),
                             _dtypes.zeros_like(params, accumulator_dtype))

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.e_g2)
        e_g2 = optax.tree.update_moment(wide_tree(updates), wide_tree(state.e_g2), rho, 2)
        dx = jax.tree.map(
            # one root of the ratio: XLA then keeps dx in one fused pass instead of
            # materialising both roots (56 instead of 68 bytes per parameter on CPU)
            lambda g, eg, ex: wide(g) * jnp.sqrt((wide(ex) + eps) / (wide(eg) + eps)),
            updates,
            e_g2,
            state.e_dx2,
        )
        e_dx2 = optax.tree.update_moment(dx, wide_tree(state.e_dx2), rho, 2)
        out = jax.tree.map(lambda d, g: d.astype(g.dtype), dx, updates)
        return out, AdadeltaState(e_g2=_dtypes.store(e_g2, state.e_g2),
                                  e_dx2=_dtypes.store(e_dx2, state.e_dx2))

    return optax.GradientTransformation(init_fn, update_fn)
