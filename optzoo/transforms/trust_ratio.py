"""Layer-wise trust ratio: the block LARS and LAMB share."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _validate as v
from optzoo.transforms._dtypes import wide


def weight_matrices_mask(params):
    """``True`` for leaves with two or more dimensions (weight matrices, conv kernels),
    ``False`` for biases, normalisation scales and scalars.

    The LARS and LAMB papers exclude biases and batch/layer-norm parameters from
    weight decay and from the trust ratio; pass this function as ``mask`` (or
    ``weight_decay_mask`` / ``trust_ratio_mask``) to do the same. Masks are
    pytrees of bools or functions of the params returning one, as in
    ``optax.masked``.
    """
    _flat.refuse("weight_matrices_mask", params)
    return jax.tree.map(lambda p: jnp.ndim(p) >= 2, params)


def scale_by_trust_ratio(
    trust_coefficient: float = 1.0, eps: float = 0.0, min_norm: float = 0.0
) -> optax.GradientTransformation:
    r"""Scale each leaf by its trust ratio ``||params|| / ||update||``.

    Per leaf (a "layer"), with Euclidean norms over the whole leaf::

        param_norm  = max(||params||, min_norm)
        update_norm = max(||updates||, min_norm)
        ratio = trust_coefficient * param_norm / (update_norm + eps)
        ratio = 1                 where param_norm == 0 or update_norm == 0
        out   = ratio * updates

    LARS (You, Gitman and Ginsburg, 2017) applies it to the decayed gradient
    ``g + weight_decay * params`` with ``trust_coefficient = 1e-3``; LAMB (You
    et al., 2020) applies it to Adam's direction plus decay with
    ``trust_coefficient = 1``. Mask it with ``optax.masked(...,
    weight_matrices_mask)`` to leave biases and norms untouched.

    Flavors: equals ``optax.scale_by_trust_ratio`` (same arguments). Keras
    ``Lamb`` uses ``trust_coefficient = 1, eps = 0, min_norm = 0``. The LARS paper
    writes the denominator as ``||g|| + weight_decay * ||params||``; here (as in
    optax) it is the norm of the update actually scaled, ``||g + weight_decay *
    params||``, which is never larger; the two agree without weight decay.

    Args:
      trust_coefficient: multiplier ``eta`` of the ratio, > 0.
      eps: added to ``update_norm``, >= 0.
      min_norm: lower bound on both norms, >= 0 (0: no bound).
    """
    fn = v.owner("scale_by_trust_ratio")
    v.check_positive(fn, "trust_coefficient", trust_coefficient)
    v.check_nonnegative_each(fn, eps=eps, min_norm=min_norm)

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, params, "params")

        def scale(u, p):
            param_norm = jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(wide(p)))), min_norm)
            update_norm = jnp.maximum(jnp.sqrt(jnp.sum(jnp.square(wide(u)))), min_norm)
            ratio = trust_coefficient * param_norm / (update_norm + eps)
            zero = jnp.logical_or(param_norm == 0.0, update_norm == 0.0)
            ratio = jnp.where(zero, 1.0, ratio)
            return (ratio * u).astype(u.dtype)

        return jax.tree.map(scale, updates, params), state

    # on a FlatParams: per original leaf (the same arithmetic, leaf by leaf)
    return optax.GradientTransformation(optax.init_empty_state, _flat.per_leaf(update_fn))
