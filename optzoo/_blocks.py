"""The chain pieces that every constructor shares: the learning-rate block, the
weight-decay block, and the rule that decides when a zero hyperparameter drops
its block from the chain.

The core optimizers, the PyTorch flavor and the Keras flavor all build their
chains from these, so the rule is one rule: a block is left out only for a plain
Python zero. An array hyperparameter keeps its block even when it is zero: under
``optax.inject_hyperparams`` ``init`` sees concrete arrays and ``update`` sees
traced ones, and both calls must build the same chain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optax

from optzoo import _validate as v

__all__ = ["ScalarOrSchedule", "is_zero", "learning_rate", "weight_decay"]

ScalarOrSchedule = float | Callable[[Any], Any]
"""A hyperparameter given as a number or as a schedule ``step -> value``."""


def is_zero(x: Any) -> bool:
    """True only for a plain Python zero, which drops its block from the chain."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == 0


def learning_rate(
    fn: str, lr: Any, name: str = "learning_rate", *, check: bool = True
) -> optax.GradientTransformation:
    """``optax.scale_by_learning_rate(lr)`` after checking ``lr`` (a number >= 0 or a
    schedule); ``name`` is the argument's spelling in the caller's signature."""
    if check:
        v.check_learning_rate(fn, lr, name)
    return optax.scale_by_learning_rate(lr)


def weight_decay(fn: str, wd: Any, mask: Any = None) -> list[optax.GradientTransformation]:
    """``[optax.add_decayed_weights(wd, mask)]``, or ``[]`` for a plain zero. An
    update without params names the optimizer the user built."""
    v.check_nonnegative(fn, "weight_decay", wd)
    if is_zero(wd):
        return []
    decay, owner = optax.add_decayed_weights(wd, mask), v.owner(fn)

    def update_fn(updates, state, params=None):
        v.require_args(owner, params)
        return decay.update(updates, state, params)

    return [optax.GradientTransformation(decay.init, update_fn)]
