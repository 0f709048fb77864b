"""The momentum trace shared by SGD, heavy-ball momentum and Nesterov (NAG)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide


def _cast(x, dtype):
    """``x.astype(dtype)``, skipped when the dtype already matches (less to trace)."""
    return x if x.dtype == dtype else x.astype(dtype)


class TraceState(NamedTuple):
    """State of :func:`scale_by_trace`."""

    count: jax.Array  # int32, saturating; 0 before the first update
    trace: optax.Updates


def scale_by_trace(
    decay: float = 0.9,
    nesterov: bool = False,
    dampening: float = 0.0,
    accumulator_dtype=None,
) -> optax.GradientTransformation:
    r"""Momentum buffer ``buf``, as SGD with momentum keeps it.

    With gradient ``g_t`` at step ``t = 1, 2, ...``::

        buf_1 = g_1
        buf_t = decay * buf_{t-1} + (1 - dampening) * g_t      (t > 1)
        out_t = g_t + decay * buf_t    if nesterov   (Sutskever et al. 2013, as PyTorch writes it)
        out_t = buf_t                  otherwise     (Polyak 1964 heavy ball)

    The first step copies the gradient, as ``torch.optim.SGD`` does; with
    ``dampening = 0`` that equals a zero-initialised buffer, so this block also
    equals ``optax.trace``.

    Args:
      decay: momentum coefficient, in [0, 1].
      nesterov: use the Nesterov look-ahead output.
      dampening: fraction of the gradient held back from the buffer, in [0, 1].
      accumulator_dtype: dtype of ``buf``. ``None`` (the default) follows the
        params, except that float16 and bfloat16 params get float32; ``"params"``
        keeps each param's dtype; a dtype sets it (see :mod:`optzoo.transforms._dtypes`).
        The arithmetic runs in at least float32 whatever the storage.
    """
    fn = v.owner("scale_by_trace")
    v.check_range(fn, "decay", decay, 0.0, 1.0)
    v.check_range(fn, "dampening", dampening, 0.0, 1.0)
    v.check_bool(fn, "nesterov", nesterov)

    def init_fn(params):
        return TraceState(
            count=jnp.zeros([], jnp.int32),
            trace=_dtypes.zeros_like(params, accumulator_dtype),
        )

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.trace)
        first = state.count == 0
        undamped = v.concrete_float(dampening) == 0.0

        def new_buf(g, buf):  # in the buffer's dtype, at least float32
            g, buf = wide(g), wide(buf)
            damped = decay * buf + (g if undamped else (1.0 - dampening) * g)
            if undamped:  # buf_0 = 0 gives buf_1 = g_1 already; no select on the count
                return _cast(damped, buf.dtype)
            return jnp.where(first, g, damped).astype(buf.dtype)

        trace = jax.tree.map(new_buf, updates, state.trace)
        if nesterov:
            out = jax.tree.map(lambda g, buf: _cast(wide(g) + decay * buf, g.dtype), updates, trace)
        else:
            out = jax.tree.map(lambda g, buf: _cast(buf, g.dtype), updates, trace)
        trace = _dtypes.store(trace, state.trace)
        return out, TraceState(count=optax.safe_increment(state.count), trace=trace)

    return optax.GradientTransformation(init_fn, update_fn)
