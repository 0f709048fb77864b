"""Building schedules from schedules: linear warmup, joining in time, products."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from optzoo import _validate as v
from optzoo import registry as R
from optzoo.schedules import _common as c

__all__ = ["warmup", "join", "product"]


def _s():
    """The schedules package, for examples built from other schedules (imported
    when an example is built, after the package has loaded)."""
    from optzoo import schedules

    return schedules


def _as_schedule(fn: str, name: str, s) -> c.Schedule:
    """A callable is used as is; a number ``x >= 0`` becomes ``step -> x``."""
    if callable(s):
        return s
    if isinstance(s, bool) or not v.is_concrete(s):
        raise c.fail(fn, f"{name} must be a schedule (a callable step -> value) or a "
                         f"number >= 0, got {s!r}")
    c.check_value(fn, name, s)
    x = float(s)
    return lambda step: jnp.full(jnp.shape(step), x, c.float_dtype())


def _call(sched, step):
    return jnp.asarray(sched(step)).astype(c.float_dtype())


@R.register(
    kind="schedule", family="composition", year=2017,
    reference="Goyal et al. 2017; Keras CosineDecay(warmup_target, warmup_steps)",
    formula="lr = init_value + (schedule(0) - init_value) * step / W for step < W, "
        "else schedule(step - W)",
    counterparts=(R.keras("schedules.CosineDecay", "warmup_target and warmup_steps"),
                  R.optax("warmup_cosine_decay_schedule", "optax warms up cosine decay only"),),
    examples={"": lambda: {"schedule": _s().cosine_decay(1e-2, 900, 1e-4), "warmup_steps": 100}},
)
@v.named
def warmup(schedule, warmup_steps: int, init_value: float = 0.0) -> c.Schedule:
    r"""Linear warmup from ``init_value`` to the schedule's first value, then the schedule.

    With ``W = warmup_steps`` and ``peak = schedule(0)``::

        lr(step) = (peak - init_value) * (step / W) + init_value    for step < W
                   schedule(step - W)                               for step >= W

    The wrapped schedule is counted from the end of warmup, so its full shape follows
    the warmup (``lr(W) = schedule(0) = peak``).

    Args:
      schedule: any schedule ``step -> value`` (optzoo or optax), or a number.
      warmup_steps: integer >= 0 (0 returns the schedule unchanged in value).
      init_value: the value at step 0, >= 0; default 0.

    Reference: Goyal et al., "Accurate, Large Minibatch SGD", 2017 (gradual warmup).
    Equivalents: Keras ``CosineDecay(initial_learning_rate=init_value, decay_steps,
    alpha, warmup_target=peak, warmup_steps=W)`` is ``warmup(cosine_decay(peak,
    decay_steps, alpha * peak), W, init_value)``; ``optax.warmup_cosine_decay_schedule``
    (whose ``decay_steps`` counts the warmup too); PyTorch ``SequentialLR([LinearLR,
    ...], milestones=[W])``.
    """
    fn = "warmup"
    sched = _as_schedule(fn, "schedule", schedule)
    v.check_int(fn, "warmup_steps", warmup_steps, low=0)
    c.check_value(fn, "init_value", init_value)
    w = int(warmup_steps)

    def out(step):
        s = c.as_step(step)
        after = _call(sched, jnp.maximum(s - w, 0))
        if w == 0:
            return after
        peak = _call(sched, jnp.zeros((), s.dtype))
        ramp = (peak - init_value) * (c.to_float(s) / w) + init_value
        return jnp.where(s < w, ramp, after)

    return out


@R.register(
    kind="schedule", family="composition", year=None,
    reference="optax.join_schedules; PyTorch SequentialLR",
    formula="lr = schedules[i](step - boundaries[i-1]) for boundaries[i-1] <= step < boundaries[i]",
    counterparts=(R.torch("lr_scheduler.SequentialLR"), R.optax("join_schedules"),),
    examples={"": lambda: {"schedules": [_s().linear(0.0, 1e-2, 100), _s().constant(1e-2),
                                         _s().cosine_decay(1e-2, 500)],
         "boundaries": [100, 500]}},
)
@v.named
def join(schedules: Sequence, boundaries: Sequence[int]) -> c.Schedule:
    r"""Schedules one after another, each counted from its own start::

        lr(step) = schedules[0](step)                    for step < boundaries[0]
                   schedules[i](step - boundaries[i-1])  for boundaries[i-1] <= step
                                                         and step < boundaries[i]
                   schedules[-1](step - boundaries[-1])  for step >= boundaries[-1]

    Args:
      schedules: ``len(boundaries) + 1`` schedules (or numbers).
      boundaries: strictly increasing integer steps >= 0.

    Every schedule is evaluated and one is selected per step (no Python branching on
    the step), so all of them must accept any step >= 0.

    Equivalents: ``optax.join_schedules(schedules, boundaries)`` (same convention);
    PyTorch ``SequentialLR(schedulers, milestones=boundaries)``.
    """
    fn = "join"
    if isinstance(schedules, (str, bytes)) or not isinstance(schedules, Sequence):
        raise c.fail(fn, f"schedules must be a sequence of schedules, got {schedules!r}")
    bounds = c.check_sorted(fn, "boundaries", boundaries)
    for i, b in enumerate(bounds):
        v.check_int(fn, f"boundaries[{i}]", b, low=0)
    if len(schedules) != len(bounds) + 1:
        raise c.fail(fn, f"schedules must have len(boundaries) + 1 = {len(bounds) + 1} "
                         f"entries, got {len(schedules)}")
    scheds = [_as_schedule(fn, f"schedules[{i}]", s) for i, s in enumerate(schedules)]

    def out(step):
        s = c.as_step(step)
        result = _call(scheds[0], s)
        for b, sched in zip(bounds, scheds[1:]):
            result = jnp.where(s >= b, _call(sched, jnp.maximum(s - int(b), 0)), result)
        return result

    return out


@R.register(
    kind="schedule", family="composition", year=None,
    reference="PyTorch ChainedScheduler",
    formula="lr = schedules[0](step) * schedules[1](step) * ...",
    counterparts=(R.torch("lr_scheduler.ChainedScheduler"),),
    examples={"": lambda: {"*args": (1e-2, _s().cosine_decay(1.0, 1000),
                                     _s().cyclic(0.5, 1.0, 50))}},
)
@v.named
def product(*schedules) -> c.Schedule:
    r"""The pointwise product of schedules (or numbers)::

        lr(step) = schedules[0](step) * schedules[1](step) * ...

    Useful to scale a shape schedule by a peak value, or to combine a warmup factor with
    a decay. Equivalent: PyTorch ``ChainedScheduler`` of multiplicative schedulers;
    Keras and optax have no direct equivalent.
    """
    fn = "product"
    if not schedules:
        raise c.fail(fn, "schedules must hold at least one schedule, got ()")
    scheds = [_as_schedule(fn, f"schedules[{i}]", s) for i, s in enumerate(schedules)]

    def out(step):
        s = c.as_step(step)
        result = _call(scheds[0], s)
        for sched in scheds[1:]:
            result = result * _call(sched, s)
        return result

    return out
