"""Helpers shared by the schedule modules: step conversion and argument checks.

A schedule receives a step that may be a Python int, a NumPy/JAX integer or float
scalar or array, or a tracer (inside ``jax.jit`` / ``jax.vmap``). Every schedule
converts it the same way, so every schedule returns the default float dtype
(float32, or float64 under x64) and treats negative steps as step 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from optzoo import _validate as v

Schedule = Callable[[Any], jax.Array]


def float_dtype():
    """The default float dtype now: float32, or float64 when x64 is enabled."""
    return jnp.result_type(float)


def as_step(step: Any) -> jax.Array:
    """The step as an array of its own (integer or float) dtype, clipped at 0.

    A Python or NumPy integer beyond the default integer dtype (int32 unless x64 is
    on) saturates at its maximum, as the optimizers' step counters do, instead of
    overflowing on conversion."""
    if isinstance(step, (int, np.integer)) and not isinstance(step, bool):
        step = min(max(int(step), 0), jnp.iinfo(jnp.asarray(0).dtype).max)
    s = jnp.asarray(step)
    if not (jnp.issubdtype(s.dtype, jnp.integer) or jnp.issubdtype(s.dtype, jnp.floating)):
        s = s.astype(jnp.int32)
    return jnp.maximum(s, 0)


def to_float(s: jax.Array) -> jax.Array:
    return s.astype(float_dtype())


def on_step(rule: Callable[[jax.Array], jax.Array]) -> Schedule:
    """The schedule ``step -> rule(as_step(step))``: the one place where a schedule's
    step is converted (and negative steps become step 0)."""

    def schedule(step):
        return rule(as_step(step))

    return schedule


def half_cosine(frac: Any) -> jax.Array:
    """``(1 + cos(pi * frac)) / 2``: 1 at ``frac = 0``, 0 at ``frac = 1``."""
    return 0.5 * (1.0 + jnp.cos(math.pi * frac))


def cosine_anneal(start: Any, end: Any, frac: Any) -> jax.Array:
    """``end + (start - end) * half_cosine(frac)``: from ``start`` at ``frac = 0`` to
    ``end`` at ``frac = 1`` along half a cosine (the rule of every cosine schedule)."""
    return (start - end) * half_cosine(frac) + end


def is_int(x: Any) -> bool:
    return isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, bool)


def floor_div(s: jax.Array, d: Any) -> jax.Array:
    """``floor(s / d)`` as a float; exact integer division when both are integers
    (a float32 quotient can round up to the next integer at large steps)."""
    if jnp.issubdtype(s.dtype, jnp.integer) and is_int(d):
        return to_float(s // jnp.asarray(d, s.dtype))
    return jnp.floor(to_float(s) / d)


def int_step(s: jax.Array) -> jax.Array:
    """The step as int32 (floored, saturated at 2**31 - 1) for integer-only uses."""
    if jnp.issubdtype(s.dtype, jnp.integer):
        return jnp.minimum(s, jnp.iinfo(jnp.int32).max).astype(jnp.int32)
    return jnp.floor(jnp.minimum(s, float(jnp.iinfo(jnp.int32).max))).astype(jnp.int32)


# ----------------------------------------------------------------------------- checks


def fail(fn: str, message: str) -> ValueError:
    """A ``ValueError`` whose text starts with the public constructor's name."""
    return ValueError(f"{v._owner(fn)}: {message}")


def check_value(fn: str, name: str, value: Any) -> None:
    """A schedule value (learning rate): a finite number >= 0."""
    v.check_nonnegative(fn, name, value)


def check_values(fn: str, **values: Any) -> None:
    """:func:`check_value` for each ``name=value``, in order."""
    for name, value in values.items():
        check_value(fn, name, value)


def check_steps(fn: str, name: str, value: Any, allow_zero: bool = False) -> None:
    """A step count: a positive number (or >= 0 with ``allow_zero``), finite."""
    if allow_zero:
        v.check_nonnegative(fn, name, value)
    else:
        v.check_positive(fn, name, value)


def check_int_steps(fn: str, name: str, value: Any, low: int = 1) -> None:
    v.check_int(fn, name, value, low=low)


def check_sorted(fn: str, name: str, seq: Any) -> tuple[float, ...]:
    """A non-empty-or-empty sequence of numbers >= 0, strictly increasing."""
    name = v._spelled(name)  # as the caller of a flavor spells it
    if isinstance(seq, (str, bytes)) or not isinstance(seq, (Sequence, np.ndarray, jax.Array)):
        raise fail(fn, f"{name} must be a sequence of numbers, got {seq!r}")
    items = list(np.asarray(seq).tolist()) if not isinstance(seq, Sequence) else list(seq)
    for i, b in enumerate(items):
        if isinstance(b, bool) or not v.is_concrete(b) or not math.isfinite(float(b)) or b < 0:
            raise fail(fn, f"{name} must hold finite numbers >= 0, got {items!r} "
                           f"(entry {i} is {b!r})")
    for a, b in zip(items, items[1:]):
        if not b > a:
            raise fail(fn, f"{name} must be strictly increasing, got {items!r}")
    return tuple(items)


def check_callable(fn: str, name: str, value: Any) -> None:
    if not callable(value):
        raise fail(fn, f"{name} must be a schedule (a callable step -> value), got {value!r}")


def check_key(fn: str, name: str, key: Any) -> None:
    """A JAX PRNG key: a typed key (``jax.random.key``) or a raw uint32[2]
    (``jax.random.PRNGKey``)."""
    if isinstance(key, jax.core.Tracer):
        return
    ok = False
    if isinstance(key, (jax.Array, np.ndarray)):
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            ok = key.ndim == 0
        else:
            ok = key.dtype == np.uint32 and key.shape == (2,)
    if not ok:
        raise fail(fn, f"{name} must be a PRNG key from jax.random.key(seed) or "
                       f"jax.random.PRNGKey(seed), got {key!r}")
