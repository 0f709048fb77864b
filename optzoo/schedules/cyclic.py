"""Cyclical learning rates (Smith 2017) and the one-cycle policy (Smith and Topin 2019)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp

from optzoo import _validate as v
from optzoo import registry as R
from optzoo.schedules import _common as c

__all__ = ["cyclic", "one_cycle"]

_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
_SCALE_MODES = ("cycle", "iterations")


@R.register(
    kind="schedule", family="cyclic", year=2017,
    reference="Smith 2017; PyTorch CyclicLR",
    formula="lr = base_value + (max_value - base_value) * triangle(step) * scale(cycle or step)",
    counterparts=(R.torch("lr_scheduler.CyclicLR"),),
    examples={"": {"base_value": 1e-3, "max_value": 1e-2, "step_size_up": 100,
                   "mode": "triangular2"}},
)
@v.named
def cyclic(
    base_value: float,
    max_value: float,
    step_size_up: int,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[Any], Any] | None = None,
    scale_mode: str = "cycle",
) -> c.Schedule:
    r"""Cyclical learning rate between ``base_value`` and ``max_value``.

    One cycle lasts ``total = step_size_up + step_size_down`` steps: up linearly for
    ``step_size_up`` steps, then down linearly for ``step_size_down`` steps::

        cycle    = floor(step / total)                     (0, 1, ...)
        pos      = step - cycle * total                    (in [0, total))
        height   = pos / step_size_up                      if pos <= step_size_up
                   (total - pos) / step_size_down          otherwise
        scale    = 1                                       mode "triangular"
                   0.5 ** cycle                            mode "triangular2"
                   gamma ** step                           mode "exp_range"
                   scale_fn(cycle + 1)                     scale_fn, scale_mode "cycle"
                   scale_fn(step)                          scale_fn, scale_mode "iterations"
        lr(step) = base_value + (max_value - base_value) * height * scale

    Args:
      base_value: the lower value, >= 0.
      max_value: the upper value, >= 0 (usually > ``base_value``).
      step_size_up: steps of the rising half, integer >= 1.
      step_size_down: steps of the falling half, integer >= 1; default
        ``step_size_up`` (PyTorch).
      mode: "triangular" (default), "triangular2" (halve the height each cycle),
        "exp_range" (multiply the height by ``gamma ** step``).
      gamma: in (0, 1]; used by "exp_range" only; default 1.0 (PyTorch).
      scale_fn: a traceable ``x -> scale`` used instead of ``mode``, called with the
        cycle number counted from 1 (PyTorch's convention) or with the step, as
        ``scale_mode`` says; default None.
      scale_mode: "cycle" (default) or "iterations"; used with ``scale_fn`` only.

    Reference: Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017.
    Equivalent: ``torch.optim.lr_scheduler.CyclicLR(base_lr, max_lr, step_size_up,
    step_size_down, mode, gamma)`` (the learning-rate part; its momentum cycling is not
    included). Keras and optax have none.
    """
    fn = "cyclic"
    c.check_values(fn, base_value=base_value, max_value=max_value)
    c.check_int_steps(fn, "step_size_up", step_size_up)
    if step_size_down is None:
        step_size_down = step_size_up
    c.check_int_steps(fn, "step_size_down", step_size_down)
    if scale_fn is None:
        v.check_choice(fn, "mode", mode, _CYCLIC_MODES)
    else:
        c.check_callable(fn, "scale_fn", scale_fn)
        v.check_choice(fn, "scale_mode", scale_mode, _SCALE_MODES)
    v.check_range(fn, "gamma", gamma, 0.0, 1.0, low_open=True)
    up, down = int(step_size_up), int(step_size_down)
    total = up + down

    def scale(cycle, s):
        if scale_fn is not None:
            x = cycle + 1.0 if scale_mode == "cycle" else c.to_float(s)
            return jnp.asarray(scale_fn(x)).astype(c.float_dtype())
        if mode == "triangular":
            return 1.0
        if mode == "triangular2":
            return jnp.power(jnp.asarray(0.5, c.float_dtype()), cycle)
        return jnp.power(jnp.asarray(gamma, c.float_dtype()), c.to_float(s))

    @c.on_step
    def schedule(s):
        cycle = s // total if jnp.issubdtype(s.dtype, jnp.integer) else jnp.floor(s / total)
        pos = c.to_float(s - cycle * total)
        cycle = c.to_float(cycle)
        height = jnp.where(pos <= up, pos / up, (total - pos) / down)
        return base_value + (max_value - base_value) * (height * scale(cycle, s))

    return schedule


_ANNEALS = ("cos", "linear")


@R.register(
    kind="schedule", family="cyclic", year=2019,
    reference="Smith & Topin 2019; PyTorch OneCycleLR",
    formula="max_value / div_factor -> max_value over pct_start, then -> max_value / div_factor /"
        " final_div_factor (cos or linear)",
    counterparts=(R.torch("lr_scheduler.OneCycleLR"),
                  R.optax("cosine_onecycle_schedule", "optax has no three-phase variant"),),
    examples={"": {"max_value": 1e-2, "total_steps": 1000}},
)
@v.named
def one_cycle(
    max_value: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    hold_from: int | None = None,
) -> c.Schedule:
    r"""The one-cycle policy: warm up to ``max_value``, then anneal far below the start.

    With ``init = max_value / div_factor`` and ``low = init / final_div_factor``, and
    phase ends ``e1 = pct_start * total_steps - 1``, ``e2 = 2 * pct_start * total_steps -
    2``, ``e_last = total_steps - 1``::

        two phases:    [0, e1] init -> max_value,  (e1, e_last] max_value -> low
        three_phase:   [0, e1] init -> max_value,  (e1, e2] max_value -> init,
                       (e2, e_last] init -> low
        within a phase from a (at step s0) to b (at step s1), pct = (step - s0) / (s1 - s0):
          anneal "cos":    lr = b + (a - b) * (1 + cos(pi * pct)) / 2
          anneal "linear": lr = a + (b - a) * pct

    From ``hold_from`` on the value stays where it is (``low`` with the default
    ``hold_from = total_steps - 1``); before, the last phase continues.

    Args:
      max_value: the peak, >= 0.
      total_steps: the length of the cycle, integer >= 2.
      pct_start: the fraction of steps spent warming up; every phase must last more
        than 0 steps, so ``1 / total_steps < pct_start < 1`` (three phases: ``<
        (total_steps + 1) / (2 * total_steps)``); default 0.3 (PyTorch).
      anneal: "cos" (default) or "linear" (PyTorch's ``anneal_strategy``).
      div_factor: ``init = max_value / div_factor``, > 0; default 25 (PyTorch).
      final_div_factor: ``low = init / final_div_factor``, > 0; default 1e4 (PyTorch).
      three_phase: go back down to ``init`` before the final annealing (fast.ai's
        original schedule is two-phase; PyTorch's ``three_phase`` option).
      hold_from: the step from which the value is held, an integer >= ``total_steps -
        1``; default ``total_steps - 1``. PyTorch continues the last phase to step
        ``total_steps`` (and raises after it): ``hold_from=total_steps``.

    Reference: Smith and Topin, "Super-Convergence", 2019. Equivalent:
    ``torch.optim.lr_scheduler.OneCycleLR(max_lr=max_value, total_steps, pct_start,
    anneal_strategy=anneal, div_factor, final_div_factor, three_phase)`` (the learning
    rate; momentum cycling is not included); ``optax.cosine_onecycle_schedule`` and
    ``optax.linear_onecycle_schedule`` (which use different phase ends).
    """
    fn = "one_cycle"
    c.check_value(fn, "max_value", max_value)
    c.check_int_steps(fn, "total_steps", total_steps, low=2)
    v.check_bool(fn, "three_phase", three_phase)
    high = (total_steps + 1) / (2 * total_steps) if three_phase else 1.0
    v.check_range(fn, "pct_start", pct_start, 1.0 / total_steps, high,
                  low_open=True, high_open=True)
    v.check_choice(fn, "anneal", anneal, _ANNEALS)
    v.check_positive(fn, "div_factor", div_factor)
    v.check_positive(fn, "final_div_factor", final_div_factor)
    if hold_from is not None:
        v.check_int(fn, "hold_from", hold_from, low=total_steps - 1)

    init = max_value / div_factor
    low = init / final_div_factor
    values = (init, max_value, init, low) if three_phase else (init, max_value, low)
    return one_cycle_phases(total_steps, pct_start, values, anneal, hold_from)


def one_cycle_phases(
    total_steps: int, pct_start: float, values: Sequence[float], anneal: str,
    hold_from: int | None = None,
) -> c.Schedule:
    """The phases of :func:`one_cycle` through other values (unchecked).

    ``values`` holds the value at step 0 and at the end of each phase: three values
    for two phases, four for three phases (ends as :func:`one_cycle` documents). The
    PyTorch flavor's ``OneCycleLR`` cycles its momentum through this too.
    """
    hold = float(total_steps - 1 if hold_from is None else hold_from)
    ends = [float(pct_start * total_steps) - 1.0, float(total_steps - 1)]
    if len(values) == 4:
        ends.insert(1, float(2 * pct_start * total_steps) - 2.0)
    starts = [0.0] + ends[:-1]
    phases = list(zip(starts, ends, values[:-1], values[1:]))

    def interp(a, b, pct):
        if anneal == "cos":
            return c.cosine_anneal(a, b, pct)
        return (b - a) * pct + a

    @c.on_step
    def schedule(s):
        t = jnp.minimum(c.to_float(s), hold)
        out = None
        for s0, s1, a, b in reversed(phases):
            val = interp(a, b, (t - s0) / (s1 - s0))
            out = val if out is None else jnp.where(t <= s1, val, out)
        return out

    return schedule
