"""Dynamic loss scaling for float16 training: the block under
``optzoo.pytorch.GradScaler`` (``torch.amp.GradScaler``) and
``optzoo.keras.LossScaleOptimizer`` (Keras 3).

The loss is multiplied by a scale ``S`` before differentiation, so that small
float16 gradients do not flush to zero; the wrapper receives the gradients of
the scaled loss, and each call::

    finite_t = all(isfinite(grads_t))                 (the scaled gradients)
    g_t      = grads_t / S_{t-1}                      (unscaled, in at least float32)
    updates_t, inner_t = inner(g_t)  if finite_t  else  (zeros, inner_{t-1})
    if finite_t:  n_t = n_{t-1} + 1
                  if n_t == growth_interval:  S_t = S_{t-1} * growth_factor,  n_t = 0
    else:         S_t = S_{t-1} * backoff_factor,  n_t = 0

A skipped step leaves the params (the update is exactly zero) and the inner
state, its step counter included, bitwise unchanged. ``S`` is float32 and ``n``
int32, as both frameworks keep them. The two frameworks differ in two details,
chosen by the flavors: torch multiplies by the float32 reciprocal of ``S``
(computed in float64) where Keras divides by ``S``, and torch keeps ``S`` when
growing it would overflow float32 where Keras lets it reach ``inf``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo.transforms._tree import all_finite, instances

__all__ = [
    "LossScaleState", "all_finite", "dynamic_loss_scale", "find_loss_scale_state", "scaled",
]


class LossScaleState(NamedTuple):
    """State of a loss-scaling wrapper.

    ``scale``: the loss scale ``S`` (float32; torch's ``scaler.get_scale()``, Keras's
    ``dynamic_scale``). ``growth_tracker``: finite steps since the scale last changed
    (int32; torch's ``_growth_tracker``, Keras's ``step_counter``). ``inner_state``:
    the wrapped optimizer's state, untouched by skipped steps.
    """

    scale: jax.Array
    growth_tracker: jax.Array
    inner_state: optax.OptState


def _wide() -> Any:
    """float64 when x64 is on, else float32: the widest float available now."""
    return jnp.result_type(float)


def _times(scale: jax.Array, factor) -> jax.Array:
    """``float32(scale * factor)``, the product taken in the widest float (torch's
    ``_amp_update_scale_`` multiplies the float32 scale by a double factor; without
    x64, a factor that is not a power of 2 can give a scale one ulp from torch's)."""
    return (scale.astype(_wide()) * jnp.asarray(factor, _wide())).astype(jnp.float32)


def _unscale(g: jax.Array, scale: jax.Array, reciprocal: bool) -> jax.Array:
    work = jnp.promote_types(g.dtype, jnp.float32)
    if reciprocal:  # torch: grad * float32(1 / float64(scale)), in the grad's opmath dtype
        inv = jnp.reciprocal(scale.astype(_wide()))
        # XLA flushes float32 subnormals to zero; torch keeps them (a scale >= 2^127 has
        # a subnormal reciprocal): below float32's smallest normal, keep the wide value
        # (exact for a power of 2).
        normal = inv >= jnp.finfo(jnp.float32).tiny
        inv = jnp.where(normal, inv.astype(jnp.float32).astype(inv.dtype), inv)
        return (g.astype(work) * inv.astype(work)).astype(g.dtype)
    return (g.astype(work) / scale.astype(work)).astype(g.dtype)  # Keras: grad / scale


def dynamic_loss_scale(
    fn: str,
    inner: optax.GradientTransformation,
    init_scale: Any,
    growth_factor: Any,
    backoff_factor: Any,
    growth_interval: int,
    *,
    reciprocal: bool,
    keep_finite: bool,
    enabled: bool = True,
) -> optax.GradientTransformationExtraArgs:
    """The loss-scaling wrapper of the module docstring around ``inner``.

    ``reciprocal``: unscale by multiplying with the float32 reciprocal (torch) rather
    than by dividing (Keras). ``keep_finite``: a growth that would make the scale
    infinite is not applied (torch). ``enabled=False``: the scale stays 1 and every
    step is applied unchecked (torch's ``GradScaler(enabled=False)``). The
    hyperparameters are checked by the flavors; ``fn`` names them in errors.
    """
    if not isinstance(inner, optax.GradientTransformation):
        raise ValueError(
            f"{fn}: inner must be an optax.GradientTransformation, got {type(inner).__name__}"
        )
    inner = optax.with_extra_args_support(inner)

    def init_fn(params):
        scale = jnp.asarray(init_scale if enabled else 1.0, jnp.float32)
        return LossScaleState(scale, jnp.zeros([], jnp.int32), inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        if not enabled:
            new, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
            return new, state._replace(inner_state=inner_state)
        scale = state.scale
        finite = all_finite(updates)
        unscaled = jax.tree.map(lambda g: _unscale(g, scale, reciprocal), updates)
        new, new_inner = inner.update(unscaled, state.inner_state, params, **extra_args)
        out = jax.tree.map(lambda u: jnp.where(finite, u, jnp.zeros_like(u)), new)
        inner_state = jax.tree.map(lambda a, b: jnp.where(finite, a, b), new_inner,
                                   state.inner_state)

        successful = state.growth_tracker + 1
        grow = jnp.logical_and(finite, successful >= growth_interval)
        grown = _times(scale, growth_factor)
        if keep_finite:
            grown = jnp.where(jnp.isfinite(grown), grown, scale)
        new_scale = jnp.where(finite, jnp.where(grow, grown, scale), _times(scale, backoff_factor))
        tracker = jnp.where(jnp.logical_and(finite, ~grow), successful, 0).astype(jnp.int32)
        return out, LossScaleState(new_scale, tracker, inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def find_loss_scale_state(fn: str, state) -> LossScaleState:
    """The one :class:`LossScaleState` inside ``state`` (an optimizer state, or any
    pytree holding exactly one)."""
    found = instances(state, LossScaleState)
    if len(found) != 1:
        raise ValueError(
            f"{fn}: state must hold exactly one loss-scaling state (LossScaleState), "
            f"got {len(found)}"
        )
    return found[0]


def scaled(loss, scale: jax.Array, keep_dtype: bool) -> jax.Array:
    """``loss * scale``, the product in at least float32; ``keep_dtype``: cast back to
    the loss's dtype (torch), else keep the promoted dtype (Keras)."""
    loss = jnp.asarray(loss)
    work = jnp.promote_types(loss.dtype, jnp.float32)
    out = loss.astype(work) * scale.astype(work)
    return out.astype(loss.dtype) if keep_dtype else out

