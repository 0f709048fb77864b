"""Gradient clipping. optax's blocks are re-exported where their semantics are the
ones users expect; only the per-leaf L2-norm clip, which optax lacks, is written here."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms._dtypes import wide, wide_tree


@R.register(
    kind="wrapper", family="clipping", reference="Pascanu, Mikolov & Bengio 2013", year=2013,
    counterparts=(R.torch("clip_grad_value", name="torch.nn.utils.clip_grad_value_"),
                  R.Counterpart("keras", "keras.optimizers.Optimizer(clipvalue=...)"),
                  R.optax("clip")),
    ranges={"max_delta": "[0, inf)"}, examples={"": dict(max_delta=0.5)},
)
@v.named
def clip_by_value(max_delta: float) -> optax.GradientTransformation:
    """Clip every gradient coordinate to ``[-max_delta, max_delta]``: ``optax.clip``."""
    v.check_nonnegative("clip_by_value", "max_delta", max_delta)
    return optax.clip(max_delta)


@R.register(
    kind="wrapper", family="clipping", reference="Pascanu, Mikolov & Bengio 2013", year=2013,
    counterparts=(R.torch("clip_grad_norm", "torch divides by norm + 1e-6",
                          name="torch.nn.utils.clip_grad_norm_"),
                  R.Counterpart("keras", "keras.optimizers.Optimizer(global_clipnorm=...)"),
                  R.optax("clip_by_global_norm")),
    ranges={"max_norm": "(0, inf)"}, examples={"": dict(max_norm=0.9)},
)
@v.named
def clip_by_global_norm(max_norm: float) -> optax.GradientTransformation:
    """Rescale all gradients together so their joint L2 norm is at most ``max_norm``.

    ``g <- g * max_norm / ||g||`` when ``||g|| > max_norm``, with ``||g||`` the
    norm over every leaf: ``optax.clip_by_global_norm`` (Pascanu et al., 2013).
    PyTorch's ``clip_grad_norm_`` divides by ``||g|| + 1e-6`` instead; see
    ``optzoo.pytorch.clip_grad_norm``.
    """
    v.check_positive("clip_by_global_norm", "max_norm", max_norm)

    def update_fn(updates, state, params=None):
        del params
        # optax's rule, with the norm and the rescaling in at least float32 (the
        # squares of float16 gradients above ~256 overflow, and the clip then zeroes
        # every gradient); float32 and float64 leaves are optax's numbers exactly
        g_norm = optax.tree.norm(wide_tree(updates))
        trigger = jnp.squeeze(g_norm < max_norm)

        def clip(t):
            tw = wide(t)
            scaled = ((tw / g_norm.astype(tw.dtype)) * max_norm).astype(t.dtype)
            return jax.lax.select(trigger, t, scaled)

        return jax.tree.map(clip, updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


@R.register(
    kind="wrapper", family="clipping", reference="Pascanu, Mikolov & Bengio 2013", year=2013,
    counterparts=(R.Counterpart("keras", "keras.optimizers.Optimizer(clipnorm=...)"),),
    ranges={"max_norm": "(0, inf)"}, examples={"": dict(max_norm=0.7)},
)
@v.named
def clip_by_norm(max_norm: float) -> optax.GradientTransformation:
    """Rescale each leaf on its own so its L2 norm is at most ``max_norm``.

    ``g_leaf <- g_leaf * min(1, max_norm / ||g_leaf||)``; leaves with zero norm
    pass unchanged. This is Keras's ``clipnorm`` rule (per variable).
    """
    v.check_positive("clip_by_norm", "max_norm", max_norm)

    def clip_leaf(g):
        norm = jnp.sqrt(jnp.sum(jnp.square(g.astype(jnp.promote_types(g.dtype, jnp.float32)))))
        scale = jnp.where(norm > max_norm, max_norm / jnp.where(norm > 0, norm, 1), 1)
        return (g * scale).astype(g.dtype)

    def update_fn(updates, state, params=None):
        del params
        return jax.tree.map(clip_leaf, updates), state

    # on a FlatParams: per original leaf (the same arithmetic, leaf by leaf)
    return optax.GradientTransformation(lambda params: optax.EmptyState(),
                                        _flat.per_leaf(update_fn))
