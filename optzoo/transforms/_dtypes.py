"""Half precision: the arithmetic dtype of every block and the default dtype of its state.

Arithmetic. float16 cannot hold the squares an optimizer forms (``(1e-3)^2 = 1e-6``
is a float16 subnormal with two significant bits, ``(1e-4)^2`` is 0, ``(1e3)^2`` is
inf) nor its small constants (``eps = 1e-8`` rounds to 0, so a zero gradient would
give ``0 / 0``); bfloat16 holds the range but only 8 significant bits (``0.999``
rounds to 1.0). Every block therefore widens its half-precision inputs with
:func:`wide` *before the first operation* (``g^2`` included), computes its step and
its new state in at least float32, stores the state once with :func:`store` and
rounds the step once to the gradients' dtype. float32 and float64 leaves are never
converted, so their numbers are exactly those of the formulas and of the PyTorch
and Keras flavors.

State. A block's ``*_dtype`` argument (``mu_dtype``, ``nu_dtype``,
``accumulator_dtype``) resolves per leaf with :func:`state_dtype`:

* ``None`` (the default): the param's dtype, but float32 for float16 and bfloat16
  params, as Keras mixed precision and PyTorch AMP keep optimizer state in float32;
* :data:`PARAMS`: the param's own dtype, even half (the PyTorch and Keras flavors,
  whose frameworks keep the state in the param's dtype);
* a dtype: that dtype for every leaf (e.g. ``jnp.float16`` to halve the memory).

A state stored in float16 cannot hold a square above 65504: :func:`store` saturates
finite values at the dtype's largest finite number instead of turning them into
inf (an inf that did not come from the gradient would freeze the step at 0 forever),
and keeps the NaN and inf that came from a non-finite gradient.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

PARAMS = "params"
"""A ``*_dtype`` value: store that state in each param's own dtype (half precision too)."""


def _is_half(dtype) -> bool:
    dtype = jnp.dtype(dtype)
    return jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32


def wide(x: jax.Array) -> jax.Array:
    """``x`` in at least float32 (float16 and bfloat16 widen; others unchanged)."""
    x = jnp.asarray(x)
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def wide_tree(tree: Any) -> Any:
    """:func:`wide` on every leaf."""
    return jax.tree.map(wide, tree)


def state_dtype(dtype: Any, like: jax.Array):
    """The dtype of a state leaf kept for the param ``like`` (see the module docstring):
    ``dtype`` when given, ``like``'s own for :data:`PARAMS`, else ``like``'s dtype
    with float16 and bfloat16 widened to float32."""
    own = jnp.asarray(like).dtype
    if isinstance(dtype, str) and dtype == PARAMS:
        return own
    if dtype is not None:
        return jnp.dtype(dtype)
    return jnp.dtype(jnp.float32) if _is_half(own) else own


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """Zeros shaped like every leaf of ``tree``, in :func:`state_dtype` ``(dtype, leaf)``."""
    # zeros_like, not zeros(shape): a sharded param gives a state leaf sharded like it
    return jax.tree.map(lambda p: jnp.zeros_like(p, dtype=state_dtype(dtype, p)), tree)


def copy_like(tree: Any, dtype: Any = None) -> Any:
    """A copy of every leaf of ``tree`` in :func:`state_dtype` ``(dtype, leaf)``: the
    params an optimizer keeps as an anchor (``x0``) or a sequence (``z``)."""
    return jax.tree.map(lambda p: jnp.array(p, state_dtype(dtype, p)), tree)


def full_like(tree: Any, value: Any, dtype: Any = None) -> Any:
    """``value`` shaped like every leaf of ``tree``, in :func:`state_dtype` ``(dtype, leaf)``."""
    return jax.tree.map(lambda p: jnp.full_like(p, value, dtype=state_dtype(dtype, p)), tree)


def store_leaf(x: jax.Array, dtype) -> jax.Array:
    """``x`` (computed wide) rounded once to the state dtype ``dtype``; into a half
    precision, finite values saturate at its largest finite number."""
    x, dtype = jnp.asarray(x), jnp.dtype(dtype)
    if x.dtype == dtype:
        return x
    if _is_half(dtype) and jnp.issubdtype(x.dtype, jnp.floating):
        top = float(jnp.finfo(dtype).max)
        x = jnp.where(jnp.isfinite(x), jnp.clip(x, -top, top), x)
    return x.astype(dtype)


def store(new: Any, old: Any) -> Any:
    """Every leaf of ``new`` stored (:func:`store_leaf`) in the dtype of the matching
    leaf of ``old``, the previous state (``None`` stays ``None``)."""
    return jax.tree.map(lambda n, o: store_leaf(n, jnp.asarray(o).dtype), new, old)
