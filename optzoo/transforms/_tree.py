"""Small pytree helpers the building blocks share."""

from __future__ import annotations

from typing import Any

import jax


def value_at(hyperparameter: Any, count: jax.Array) -> Any:
    """A hyperparameter given as a number or as a schedule ``count -> value``, at ``count``."""
    return hyperparameter(count) if callable(hyperparameter) else hyperparameter


def unzip(like: Any, pairs: Any, n: int) -> tuple:
    """Split a pytree shaped like ``like`` whose leaves are ``n``-tuples (the result
    of a per-leaf function returning several arrays) into ``n`` pytrees."""
    return jax.tree.transpose(jax.tree.structure(like), jax.tree.structure((0,) * n), pairs)
