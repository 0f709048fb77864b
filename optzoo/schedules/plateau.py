"""Reduce the step size when a monitored metric stops improving."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo import registry as R
from optzoo.schedules import _common as c

__all__ = ["ReduceOnPlateauState", "reduce_on_plateau"]


class ReduceOnPlateauState(NamedTuple):
    """State of :func:`reduce_on_plateau` (all scalars)."""

    scale: jax.Array  # float: the factor applied to the updates, 1.0 at first
    best_value: jax.Array  # float: best metric so far (+inf for "min", -inf for "max")
    plateau_count: jax.Array  # int32: consecutive calls without improvement
    cooldown_count: jax.Array  # int32: calls left before plateaus count again


def check_plateau(fn: str, mode, threshold, threshold_mode, patience, cooldown) -> None:
    """The checks shared by :func:`reduce_on_plateau` and the PyTorch flavor's
    ``ReduceLROnPlateau``."""
    v.check_int(fn, "patience", patience, low=0)
    v.check_nonnegative(fn, "threshold", threshold)
    v.check_choice(fn, "threshold_mode", threshold_mode, ("rel", "abs"))
    v.check_int(fn, "cooldown", cooldown, low=0)
    v.check_choice(fn, "mode", mode, ("min", "max"))


def worst_value(mode: str) -> jax.Array:
    """The initial best value: +inf for "min", -inf for "max"."""
    return jnp.asarray(jnp.inf if mode == "min" else -jnp.inf, c.float_dtype())


def plateau_step(
    level, best, bad, cool, value, *, mode, threshold, threshold_mode, patience, cooldown,
    factor, floor, eps=0.0,
):
    """One observation of the metric: the plateau rule (see :func:`reduce_on_plateau`).

    ``level`` is what gets reduced (the scale here, the learning rate in the PyTorch
    flavor), to ``max(level * factor, floor)``, and only where that lowers it by more
    than ``eps``. ``bad`` and ``cool`` are the int32 plateau and cooldown counters.
    Returns the new ``(level, best, bad, cool)``.
    """
    if mode == "min":
        bound = best * (1.0 - threshold) if threshold_mode == "rel" else best - threshold
        better = value < bound
    else:
        bound = best * (1.0 + threshold) if threshold_mode == "rel" else best + threshold
        better = value > bound
    best = jnp.where(better, value, best)
    bad = jnp.where(better, 0, optax.safe_increment(bad))
    in_cooldown = cool > 0
    cool = jnp.where(in_cooldown, cool - 1, cool)
    bad = jnp.where(in_cooldown, 0, bad)
    reduce = bad > patience
    lowered = jnp.maximum(level * factor, floor).astype(level.dtype)
    level = jnp.where(reduce & (level - lowered > eps), lowered, level)
    cool = jnp.where(reduce, cooldown, cool).astype(jnp.int32)
    bad = jnp.where(reduce, 0, bad).astype(jnp.int32)
    return level, best, bad, cool


@R.register(
    kind="transformation", family="plateau", year=None,
    reference="PyTorch ReduceLROnPlateau",
    formula="scale <- max(scale * factor, min_scale) after more than `patience` calls whose "
        "`value` does not improve on the best by `threshold`",
    counterparts=(R.torch("lr_scheduler.ReduceLROnPlateau"),
                  R.optax("contrib.reduce_on_plateau",
                          "optax measures patience in accumulated steps"),),
    examples={"": {"factor": 0.5, "patience": 5, "cooldown": 2}},
)
@v.named
def reduce_on_plateau(
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_scale: float = 0.0,
    mode: str = "min",
) -> optax.GradientTransformationExtraArgs:
    r"""Scale updates down by ``factor`` after ``patience`` calls without improvement.

    Each ``update(updates, state, params, value=metric)`` call is one observation of the
    monitored metric (a loss: ``mode="min"``; an accuracy: ``mode="max"``)::

        better = value < best_value * (1 - threshold)   mode "min", threshold_mode "rel"
                 value < best_value - threshold         mode "min", threshold_mode "abs"
                 value > best_value * (1 + threshold)   mode "max", threshold_mode "rel"
                 value > best_value + threshold         mode "max", threshold_mode "abs"
        best_value, plateau_count = (value, 0) if better else (best_value, plateau_count + 1)
        if cooldown_count > 0:  cooldown_count -= 1;  plateau_count = 0
        if plateau_count > patience:
            scale = max(scale * factor, min_scale);  cooldown_count = cooldown;  plateau_count = 0
        updates = scale * updates            (the new scale applies to this call's updates)

    Chain it after the optimizer so that it scales the final step:
    ``optax.chain(optzoo.adam(1e-3), reduce_on_plateau(...))`` and pass the metric as
    ``tx.update(grads, state, params, value=loss)``. It never raises the scale again.

    Args:
      factor: multiply the scale by this on a plateau, in (0, 1); default 0.1 (PyTorch).
      patience: calls without improvement tolerated, integer >= 0; default 10 (PyTorch).
      threshold: the improvement that counts, >= 0; default 1e-4 (PyTorch).
      threshold_mode: "rel" (default) or "abs", as above.
      cooldown: calls after a reduction during which plateaus are not counted, integer
        >= 0; default 0.
      min_scale: the smallest scale, in [0, 1]; default 0 (PyTorch's ``min_lr`` divided
        by the learning rate).
      mode: "min" (default) or "max".

    Reference and equivalent: ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (the same
    rule and defaults, applied to a scale that starts at 1 instead of to the learning
    rate; PyTorch skips reductions smaller than its ``eps = 1e-8`` in learning-rate
    units, this has no such cutoff); Keras ``callbacks.ReduceLROnPlateau`` (patience
    counted with ``>=``, ``min_delta`` absolute). ``optax.contrib.reduce_on_plateau``
    differs: it accumulates values over ``accumulation_size`` calls and uses
    ``rtol``/``atol`` together.
    """
    fn = "reduce_on_plateau"
    v.check_range(fn, "factor", factor, 0.0, 1.0, low_open=True, high_open=True)
    check_plateau(fn, mode, threshold, threshold_mode, patience, cooldown)
    v.check_range(fn, "min_scale", min_scale, 0.0, 1.0)

    def init_fn(params: Any) -> ReduceOnPlateauState:
        del params
        zero = jnp.zeros((), jnp.int32)
        return ReduceOnPlateauState(jnp.ones((), c.float_dtype()), worst_value(mode), zero, zero)

    def update_fn(updates, state: ReduceOnPlateauState, params=None, *, value, **extra_args):
        del params, extra_args
        value = jnp.asarray(value).astype(state.best_value.dtype)
        if value.ndim != 0:
            raise ValueError(f"{fn}: value must be a scalar metric, got shape {value.shape}")
        new = ReduceOnPlateauState(*plateau_step(
            *state, value, mode=mode, threshold=threshold,
            threshold_mode=threshold_mode, patience=patience, cooldown=cooldown,
            factor=factor, floor=min_scale))
        scale = new.scale
        updates = jax.tree.map(lambda u: u * scale.astype(jnp.asarray(u).dtype), updates)
        return updates, new

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
