"""Mini-batches, so batch, mini-batch and stochastic gradient descent are one argument apart.

=====================  ==========================
classic name           ``batch_size``
=====================  ==========================
batch gradient descent  the dataset size (or ``None``)
mini-batch GD           e.g. 32 to 512
stochastic GD           1
=====================  ==========================

Batches have static shapes (with ``drop_remainder=True``, the default) so a
jitted train step compiles once and is reused for every batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optzoo import _validate as v

__all__ = ["batches", "num_batches"]


def _leading_dim(arrays: Any) -> int:
    leaves = jax.tree.leaves(arrays)
    if not leaves:
        raise ValueError("batches: arrays must hold at least one array, got an empty pytree")
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in leaves}
    if None in sizes or len(sizes) != 1:
        shapes = [np.shape(x) for x in leaves]
        raise ValueError(
            f"batches: every array must share the same leading (example) dimension, got shapes {shapes}"
        )
    return sizes.pop()


def num_batches(num_examples: int, batch_size: int | None, drop_remainder: bool = True) -> int:
    """How many batches one epoch of :func:`batches` yields."""
    if batch_size is None:
        return 1 if num_examples else 0
    full, rest = divmod(num_examples, batch_size)
    return full + (0 if drop_remainder or rest == 0 else 1)


def batches(
    key: jax.Array | None,
    arrays: Any,
    batch_size: int | None,
    *,
    drop_remainder: bool = True,
) -> Iterator[Any]:
    """One epoch of mini-batches of ``arrays`` (a pytree sharing a leading axis).

    Args:
      key: a PRNG key to shuffle the examples with, or ``None`` to keep their order.
        Use a new key per epoch (``jax.random.fold_in(key, epoch)``).
      arrays: e.g. ``(x, y)`` or ``{"image": x, "label": y}``.
      batch_size: examples per batch, in [1, dataset size]; ``None`` means the whole
        dataset (batch gradient descent).
      drop_remainder: drop the last, smaller batch so every batch has the same shape
        (one compilation of a jitted step). With ``False`` the last batch is smaller.

    Yields:
      Pytrees with the structure of ``arrays`` and leading dimension ``batch_size``.
    """
    n = _leading_dim(arrays)
    if batch_size is None:
        batch_size = n
    v.check_int("batches", "batch_size", batch_size, 1, max(n, 1))
    v.check_bool("batches", "drop_remainder", drop_remainder)
    # The order lives on the host: slicing it there costs no compilation, and every
    # full batch then runs the same gather program (one compile for the whole epoch).
    order = np.arange(n) if key is None else np.asarray(jax.random.permutation(key, n))
    arrays = jax.tree.map(jnp.asarray, arrays)
    for b in range(num_batches(n, batch_size, drop_remainder)):
        idx = order[b * batch_size : (b + 1) * batch_size]
        yield jax.tree.map(lambda a, idx=idx: jnp.take(a, idx, axis=0), arrays)
