"""The weight-decay variants of ``pytorch-optimizer`` (``weight_decay``,
``weight_decouple``, ``fixed_decay``), as chain pieces its ports share.

``pytorch-optimizer``'s ``BaseOptimizer.apply_weight_decay`` has three forms:

* coupled (``weight_decouple=False``): ``g <- g + weight_decay * params`` before
  the optimizer's own step (an L2 penalty in the gradient);
* decoupled (``weight_decouple=True``): ``params <- params * (1 - weight_decay * lr)``
  before the step (AdamW's form), i.e. ``- lr * weight_decay * params`` added to
  the update;
* fixed (``weight_decouple=True, fixed_decay=True``): ``params <- params * (1 -
  weight_decay)``, not scaled by the learning rate.

A step that does not read the params, as in every optimizer here but AdamP, gives the
same numbers whether the params shrink before it or the shrink is added to its update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import value_at


def check(fn: str, weight_decay: Any, weight_decouple: Any, fixed_decay: Any) -> None:
    """``weight_decay >= 0``; ``weight_decouple`` and ``fixed_decay`` are bools."""
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    v.check_bool(fn, "weight_decouple", weight_decouple)
    v.check_bool(fn, "fixed_decay", fixed_decay)


def coupled(fn: str, weight_decay: Any,
            weight_decouple: bool) -> list[optax.GradientTransformation]:
    """``g + weight_decay * params`` (first in the chain) unless decoupled or a plain zero."""
    return [] if weight_decouple else _blocks.weight_decay(fn, weight_decay)


def decoupled(
    fn: str, weight_decay: Any, learning_rate: Any, weight_decouple: bool, fixed_decay: bool,
) -> list[optax.GradientTransformation]:
    """Adds ``-weight_decay * lr_t * params`` (``-weight_decay * params`` with
    ``fixed_decay``) to the final update: last in the chain, after the learning rate.
    ``lr_t`` is ``learning_rate`` at the number of updates done before this one.
    ``[]`` when coupled or for a plain zero."""
    if not weight_decouple or _blocks.is_zero(weight_decay):
        return []
    owner, scheduled = v.owner(fn), callable(learning_rate) and not fixed_decay

    def init_fn(params):
        del params
        if scheduled:
            return optax.ScaleByScheduleState(jnp.zeros([], jnp.int32))
        return optax.EmptyState()

    def update_fn(updates, state, params=None):
        v.require_args(owner, params)
        if fixed_decay:
            rate = weight_decay
        else:
            rate = weight_decay * value_at(learning_rate, state.count if scheduled else None)
        if scheduled:
            state = optax.ScaleByScheduleState(optax.safe_increment(state.count))
        out = jax.tree.map(lambda u, p: (wide(u) - rate * wide(p)).astype(u.dtype), updates, params)
        return out, state

    return [optax.GradientTransformation(init_fn, update_fn)]


def chain(
    fn: str,
    direction: optax.GradientTransformation | Sequence[optax.GradientTransformation],
    learning_rate: Any,
    weight_decay: Any,
    weight_decouple: bool,
    fixed_decay: bool = False,
    *,
    scale: bool = True,
) -> optax.GradientTransformation:
    """``[coupled decay], direction, learning rate, [decoupled decay]``: the chain of a
    ``pytorch-optimizer`` port whose step does not read the params. ``direction`` is
    one block or a sequence of blocks; ``scale=False`` when they already give the
    final update (their step holds the learning rate)."""
    check(fn, weight_decay, weight_decouple, fixed_decay)
    blocks = [direction] if isinstance(direction, optax.GradientTransformation) else direction
    lr = [_blocks.learning_rate(fn, learning_rate)] if scale else []
    return optax.chain(
        *coupled(fn, weight_decay, weight_decouple),
        *blocks,
        *lr,
        *decoupled(fn, weight_decay, learning_rate, weight_decouple, fixed_decay),
    )
