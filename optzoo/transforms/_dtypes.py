"""Arithmetic dtype of the adaptive denominators.

The moments of an optimizer follow the params' dtype (or its ``*_dtype``
argument), but the small constants of its denominators do not fit a half
precision: ``eps = 1e-8`` rounds to zero in float16 (whose smallest subnormal
is about 6e-8), so a zero gradient would give ``0 / 0 = NaN``. Every block
therefore computes its step in at least float32 and rounds the result once to
the params' dtype. float32 and float64 leaves are untouched, so their numbers
are exactly those of the formulas and of the PyTorch and Keras flavors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def wide(x: jax.Array) -> jax.Array:
    """``x`` in at least float32 (float16 and bfloat16 widen; others unchanged)."""
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))
