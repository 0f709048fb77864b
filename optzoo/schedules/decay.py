"""Step-wise, exponential, polynomial and linear decays.

Each constructor checks its arguments and returns a pure ``schedule(step) -> lr``
that traces: it accepts a Python int, an integer or float array, or a tracer
(``jax.jit``, ``jax.vmap``) and returns the default float dtype (float32, float64
under x64). Negative steps are treated as step 0.

In :func:`step_decay`, :func:`exponential_decay`, :func:`natural_exp_decay` and
:func:`inverse_time_decay` every argument after ``init_value, decay_rate`` is
keyword-only (``decay_steps=``, ``staircase=``): Keras, TensorFlow and optax take
``decay_steps`` before ``decay_rate``, so their positional habit,
``exponential_decay(0.1, 1000, 0.5)``, fails loudly here instead of decaying at a
rate of 1000 every half step.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from optzoo import _validate as v
from optzoo import registry as R
from optzoo.schedules import _common as c

__all__ = [
    "constant",
    "piecewise_constant",
    "step_decay",
    "multistep_decay",
    "exponential_decay",
    "natural_exp_decay",
    "inverse_time_decay",
    "polynomial_decay",
    "linear",
]


@R.register(
    kind="schedule", family="constant", year=None,
    reference="optax.constant_schedule",
    formula="lr = value",
    examples={"": {"value": 1e-3}},
)
@v.named
def constant(value: float) -> c.Schedule:
    r"""A constant schedule::

        lr(step) = value

    Equivalent: ``optax.constant_schedule(value)``, ``torch.optim.lr_scheduler.ConstantLR``
    with ``factor = 1``, a float learning rate in Keras.
    """
    c.check_value("constant", "value", value)
    return c.on_step(lambda s: jnp.full(s.shape, value, c.float_dtype()))


@R.register(
    kind="schedule", family="step", year=None,
    reference="Keras PiecewiseConstantDecay",
    formula="lr = values[#{j : boundaries[j] < step}]",
    counterparts=(R.torch("lr_scheduler.ConstantLR", "ConstantLR(factor, total_iters) is "
                          "values=[lr * factor, lr], boundaries=[total_iters]"),
                  R.keras("schedules.PiecewiseConstantDecay"),
                  R.optax("piecewise_constant_schedule", "optax multiplies scales"),),
    examples={"": {"boundaries": [300, 600, 900], "values": [1e-2, 5e-3, 1e-3, 1e-4]}},
)
@v.named
def piecewise_constant(boundaries, values) -> c.Schedule:
    r"""Piecewise constant values between step boundaries::

        lr(step) = values[i]   where i = #{ j : boundaries[j] < step }

    so ``values[0]`` holds for ``step <= boundaries[0]``, ``values[i]`` for
    ``boundaries[i-1] < step <= boundaries[i]`` and ``values[-1]`` for
    ``step > boundaries[-1]`` (the change takes effect one step *after* a boundary).

    Args:
      boundaries: strictly increasing steps >= 0.
      values: ``len(boundaries) + 1`` values >= 0.

    Reference and equivalent: Keras ``keras.optimizers.schedules.PiecewiseConstantDecay``
    (same boundary convention). ``optax.piecewise_constant_schedule`` multiplies scales
    instead and switches at ``step >= boundary``; ``torch.optim.lr_scheduler.MultiStepLR``
    (:func:`multistep_decay`) also switches at ``step >= milestone``.
    """
    fn = "piecewise_constant"
    bounds = c.check_sorted(fn, "boundaries", boundaries)
    try:
        vals = list(values)
    except TypeError:  # not iterable
        raise c.fail(fn, f"values must be a sequence of numbers, got {values!r}") from None
    if len(vals) != len(bounds) + 1:
        raise c.fail(
            fn,
            f"values must have len(boundaries) + 1 = {len(bounds) + 1} entries, got {len(vals)}",
        )
    for i, x in enumerate(vals):
        c.check_value(fn, f"values[{i}]", x)

    @c.on_step
    def schedule(s):
        idx = jnp.zeros(s.shape, jnp.int32)
        for b in bounds:
            idx = idx + (s > b).astype(jnp.int32)
        return jnp.take(jnp.asarray(vals, c.float_dtype()), idx)

    return schedule


def _check_rate(fn: str, decay_rate, allow_growth: bool, low_open: bool = False) -> None:
    """``decay_rate`` in [0, 1] (``(0, 1]`` with ``low_open``), or up to inf with
    ``allow_growth``."""
    v.check_bool(fn, "allow_growth", allow_growth)
    high = math.inf if allow_growth else 1.0
    v.check_range(fn, "decay_rate", decay_rate, 0.0, high, low_open=low_open)


def _powers(init_value, decay_rate, exponent) -> c.Schedule:
    """``init_value * decay_rate ** exponent(step)``: the rule of the step, multistep
    and exponential decays."""
    return c.on_step(
        lambda s: init_value * jnp.power(jnp.asarray(decay_rate, c.float_dtype()), exponent(s))
    )


@R.register(
    kind="schedule", family="step", year=None,
    reference="PyTorch StepLR",
    formula="lr = init_value * decay_rate ** floor(step / decay_steps)",
    counterparts=(R.torch("lr_scheduler.StepLR"),),
    examples={"": {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 200}},
)
@v.named
def step_decay(
    init_value: float, decay_rate: float, *, decay_steps: int, allow_growth: bool = False
) -> c.Schedule:
    r"""Multiply by ``decay_rate`` every ``decay_steps`` steps::

        lr(step) = init_value * decay_rate ** floor(step / decay_steps)

    Args:
      init_value: the value at step 0, >= 0.
      decay_rate: in [0, 1].
      decay_steps: the period, > 0 (integer division when it is an int).
      allow_growth: accept ``decay_rate > 1`` (the value then grows, as PyTorch allows
        for ``gamma``); default False.

    Reference and equivalents: ``torch.optim.lr_scheduler.StepLR(step_size=decay_steps,
    gamma=decay_rate)``; Keras ``ExponentialDecay(..., staircase=True)``;
    ``optax.exponential_decay(..., staircase=True)``.
    """
    fn = "step_decay"
    c.check_value(fn, "init_value", init_value)
    _check_rate(fn, decay_rate, allow_growth)
    c.check_steps(fn, "decay_steps", decay_steps)
    return _powers(init_value, decay_rate, lambda s: c.floor_div(s, decay_steps))


@R.register(
    kind="schedule", family="step", year=None,
    reference="PyTorch MultiStepLR",
    formula="lr = init_value * decay_rate ** #{j : milestones[j] <= step}",
    counterparts=(R.torch("lr_scheduler.MultiStepLR"),),
    examples={"": {"init_value": 1e-2, "milestones": [300, 600, 800], "decay_rate": 0.1}},
)
@v.named
def multistep_decay(
    init_value: float, milestones, decay_rate: float, *, allow_growth: bool = False
) -> c.Schedule:
    r"""Multiply by ``decay_rate`` at each milestone::

        lr(step) = init_value * decay_rate ** #{ j : milestones[j] <= step }

    Args:
      init_value: the value at step 0, >= 0.
      milestones: strictly increasing steps >= 0.
      decay_rate: in [0, 1].
      allow_growth: accept ``decay_rate > 1``, as :func:`step_decay`; default False.

    Reference and equivalent: ``torch.optim.lr_scheduler.MultiStepLR(milestones,
    gamma=decay_rate)`` (the decay applies *at* the milestone step). Keras has no
    direct equivalent (``PiecewiseConstantDecay`` switches one step later).
    """
    fn = "multistep_decay"
    c.check_value(fn, "init_value", init_value)
    ms = c.check_sorted(fn, "milestones", milestones)
    _check_rate(fn, decay_rate, allow_growth)

    def passed(s):  # the number of milestones <= step
        n = jnp.zeros(s.shape, jnp.int32)
        for m in ms:
            n = n + (s >= m).astype(jnp.int32)
        return n

    return _powers(init_value, decay_rate, passed)


def _progress(fn: str, decay_steps, staircase: bool):
    c.check_steps(fn, "decay_steps", decay_steps)
    v.check_bool(fn, "staircase", staircase)

    def p(s):
        return c.floor_div(s, decay_steps) if staircase else c.to_float(s) / decay_steps

    return p


def _progress_of_rate(fn: str, init_value, decay_rate, decay_steps, staircase: bool):
    """The checks of the schedules with a rate >= 0 and :func:`_progress`."""
    c.check_value(fn, "init_value", init_value)
    v.check_nonnegative(fn, "decay_rate", decay_rate)
    return _progress(fn, decay_steps, staircase)


@R.register(
    kind="schedule", family="exponential", year=None,
    reference="Keras ExponentialDecay",
    formula="lr = init_value * decay_rate ** (step / decay_steps)  (floor with staircase)",
    counterparts=(R.torch("lr_scheduler.ExponentialLR",
                          "ExponentialLR(gamma) is decay_rate=gamma, decay_steps=1"),
                  R.keras("schedules.ExponentialDecay"),
                  R.optax("exponential_decay"),),
    examples={"": {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 200}},
)
@v.named
def exponential_decay(
    init_value: float,
    decay_rate: float,
    *,
    decay_steps: float = 1,
    staircase: bool = False,
    allow_growth: bool = False,
) -> c.Schedule:
    r"""Exponential decay::

        p        = step / decay_steps        (floor(step / decay_steps) if staircase)
        lr(step) = init_value * decay_rate ** p

    Args:
      init_value: the value at step 0, >= 0.
      decay_rate: in (0, 1].
      decay_steps: > 0; default 1 (``decay_rate`` is the per-step factor).
      staircase: decay in discrete jumps every ``decay_steps`` steps.
      allow_growth: accept ``decay_rate > 1`` (exponential growth, e.g. a learning-rate
        range test; PyTorch's ``ExponentialLR`` allows any ``gamma``); default False.

    Reference and equivalents: Keras ``keras.optimizers.schedules.ExponentialDecay``
    (same formula and arguments); ``torch.optim.lr_scheduler.ExponentialLR(gamma)`` is
    ``decay_steps = 1``; ``optax.exponential_decay`` (which adds ``transition_begin``
    and ``end_value``).
    """
    fn = "exponential_decay"
    c.check_value(fn, "init_value", init_value)
    _check_rate(fn, decay_rate, allow_growth, low_open=True)
    return _powers(init_value, decay_rate, _progress(fn, decay_steps, staircase))


@R.register(
    kind="schedule", family="exponential", year=None,
    reference="TensorFlow 1 tf.compat.v1.train documentation (natural_exp_decay)",
    formula="lr = init_value * exp(-decay_rate * step / decay_steps)  (floor with staircase)",
    examples={"": {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 100}},
)
@v.named
def natural_exp_decay(
    init_value: float, decay_rate: float, *, decay_steps: float = 1, staircase: bool = False
) -> c.Schedule:
    r"""Exponential decay with a natural-log rate::

        p        = step / decay_steps        (floor(step / decay_steps) if staircase)
        lr(step) = init_value * exp(-decay_rate * p)

    Args:
      init_value: the value at step 0, >= 0.
      decay_rate: >= 0 (0 gives a constant).
      decay_steps: > 0; default 1.
      staircase: decay in discrete jumps every ``decay_steps`` steps.

    Reference: TensorFlow 1 ``tf.compat.v1.train.natural_exp_decay`` (same formula and
    arguments). Equals :func:`exponential_decay` with ``decay_rate = exp(-decay_rate)``;
    PyTorch ``ExponentialLR(gamma=exp(-decay_rate))`` for ``decay_steps = 1``.
    """
    p = _progress_of_rate("natural_exp_decay", init_value, decay_rate, decay_steps, staircase)
    return c.on_step(lambda s: init_value * jnp.exp(-decay_rate * p(s)))


@R.register(
    kind="schedule", family="exponential", year=None,
    reference="Keras InverseTimeDecay",
    formula="lr = init_value / (1 + decay_rate * step / decay_steps)  (floor with staircase)",
    counterparts=(R.keras("schedules.InverseTimeDecay"),),
    examples={"": {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 50}},
)
@v.named
def inverse_time_decay(
    init_value: float, decay_rate: float, *, decay_steps: float = 1, staircase: bool = False
) -> c.Schedule:
    r"""Inverse-time decay::

        p        = step / decay_steps        (floor(step / decay_steps) if staircase)
        lr(step) = init_value / (1 + decay_rate * p)

    Args:
      init_value: the value at step 0, >= 0.
      decay_rate: >= 0.
      decay_steps: > 0; default 1.
      staircase: decay in discrete jumps every ``decay_steps`` steps.

    Reference and equivalents: Keras ``keras.optimizers.schedules.InverseTimeDecay`` and
    TensorFlow 1 ``inverse_time_decay`` (same formula). PyTorch: ``LambdaLR`` with
    ``lambda t: 1 / (1 + decay_rate * t / decay_steps)``.
    """
    p = _progress_of_rate("inverse_time_decay", init_value, decay_rate, decay_steps, staircase)
    return c.on_step(lambda s: init_value / (1.0 + decay_rate * p(s)))


@R.register(
    kind="schedule", family="polynomial", year=None,
    reference="Keras PolynomialDecay",
    formula="lr = (init_value - end_value) * (1 - min(step, T) / T) ** power + end_value, "
        "T = decay_steps (cycle: next multiple of decay_steps)",
    counterparts=(R.torch("lr_scheduler.PolynomialLR"),
                  R.keras("schedules.PolynomialDecay"),
                  R.optax("polynomial_schedule", "no cycle option"),),
    examples={"": {"init_value": 1e-2, "decay_steps": 1000, "end_value": 1e-4, "power": 2.0}},
)
@v.named
def polynomial_decay(
    init_value: float,
    decay_steps: int,
    end_value: float = 0.0,
    power: float = 1.0,
    cycle: bool = False,
) -> c.Schedule:
    r"""Polynomial decay from ``init_value`` to ``end_value``::

        without cycle:  T = decay_steps,  t = min(step, decay_steps)
        with cycle:     T = decay_steps * max(1, ceil(step / decay_steps)),  t = step
        lr(step) = (init_value - end_value) * (1 - t / T) ** power + end_value

    With ``cycle`` the horizon grows to the next multiple of ``decay_steps`` (so the
    value jumps back up just after each multiple), as in TensorFlow/Keras.

    Args:
      init_value: the value at step 0, >= 0.
      decay_steps: the horizon, > 0.
      end_value: the final value, >= 0; default 0.
      power: > 0; default 1 (linear).
      cycle: restart the decay past the horizon.

    Reference and equivalents: Keras ``keras.optimizers.schedules.PolynomialDecay``
    (same formula and arguments, ``end_learning_rate`` there);
    ``optax.polynomial_schedule`` (no cycle); PyTorch ``PolynomialLR(total_iters,
    power)`` matches for ``end_value = 0`` and no cycle.
    """
    fn = "polynomial_decay"
    c.check_value(fn, "init_value", init_value)
    c.check_steps(fn, "decay_steps", decay_steps)
    c.check_value(fn, "end_value", end_value)
    v.check_positive(fn, "power", power)
    v.check_bool(fn, "cycle", cycle)

    @c.on_step
    def schedule(s):
        t = c.to_float(s)
        if cycle:
            mult = jnp.maximum(jnp.ceil(t / decay_steps), 1.0)
            horizon = decay_steps * mult
        else:
            t = jnp.minimum(t, decay_steps)
            horizon = decay_steps
        # At t = T the remainder is set to exactly 0: XLA may turn t / T into t * (1 / T),
        # leaving a tiny positive 1 - t / T that pow then magnifies (1e-8 ** 0.5 = 1e-4),
        # and its pow is inexact or NaN at 0. The end of the decay is exactly end_value.
        remaining = jnp.where(t >= horizon, 0.0, 1.0 - t / horizon)
        safe = jnp.where(remaining > 0, remaining, 1.0)
        frac = jnp.where(remaining > 0, jnp.power(safe, power), 0.0)
        return (init_value - end_value) * frac + end_value

    return schedule


@R.register(
    kind="schedule", family="polynomial", year=None,
    reference="optax.linear_schedule; PyTorch LinearLR",
    formula="lr = init_value + (end_value - init_value) * min(step, T) / T, T = transition_steps",
    counterparts=(R.torch("lr_scheduler.LinearLR", "LinearLR takes factors of the base rate"),
                  R.optax("linear_schedule"),),
    examples={"": {"init_value": 1e-2, "end_value": 1e-4, "transition_steps": 1000}},
)
@v.named
def linear(init_value: float, end_value: float, transition_steps: int) -> c.Schedule:
    r"""Linear interpolation, then constant::

        frac     = min(step, transition_steps) / transition_steps
        lr(step) = init_value * (1 - frac) + end_value * frac

    Args:
      init_value: the value at step 0, >= 0.
      end_value: the value from ``transition_steps`` on, >= 0 (may exceed
        ``init_value``: a linear ramp up).
      transition_steps: > 0.

    Equivalents: ``optax.linear_schedule(init_value, end_value, transition_steps)``;
    ``torch.optim.lr_scheduler.LinearLR(start_factor, end_factor, total_iters)`` with
    ``lr * start_factor = init_value``, ``lr * end_factor = end_value``.
    """
    fn = "linear"
    c.check_values(fn, init_value=init_value, end_value=end_value)
    c.check_steps(fn, "transition_steps", transition_steps)

    @c.on_step
    def schedule(s):
        frac = jnp.minimum(c.to_float(s), transition_steps) / transition_steps
        # Weighted form: exactly init_value at 0 and end_value from transition_steps on.
        return init_value * (1.0 - frac) + end_value * frac

    return schedule
