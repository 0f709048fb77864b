"""A table of every schedule with example arguments, for the command line and docs.

``SCHEDULES[name]`` is a :class:`ScheduleInfo`; ``info.fn(**info.example_kwargs)``
builds a representative schedule over about 1000 steps, and any example argument can
be overridden: ``info.fn(**{**info.example_kwargs, "decay_steps": 500})``.

``noisy_linear_cosine_decay`` needs a PRNG key; its registry entry takes an integer
``seed`` instead (``seed=0`` in the example) and builds ``key = jax.random.key(seed)``,
so ``optzoo schedule noisy_linear_cosine_decay --set seed=3`` works from the command
line. The composition entries (``warmup``, ``join``, ``product``) take schedules as
arguments; their examples hold ready-made ones (``product``'s entry is
:func:`product_of`, which takes the list as ``schedules=[...]``).

``reduce_on_plateau`` is a gradient transformation driven by a metric, not a
``step -> lr`` function, so it is listed apart in ``TRANSFORMATIONS``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from optzoo import registry as R
from optzoo import schedules as s

__all__ = [
    "SCHEDULES",
    "TRANSFORMATIONS",
    "ScheduleInfo",
    "noisy_linear_cosine_decay_seeded",
    "product_of",
]


class ScheduleInfo(NamedTuple):
    fn: Callable[..., Any]
    example_kwargs: dict
    formula: str
    reference: str
    family: str


def _declare(name: str, fn, example_kwargs: dict, formula: str, reference: str, family: str,
             year: int | None, counterparts=(), kind: str = "schedule") -> ScheduleInfo:
    """Register one schedule in :mod:`optzoo.registry` and return its table row."""
    R.register(kind=kind, name=name, family=family, reference=reference, year=year,
               counterparts=counterparts, examples={"": example_kwargs}, formula=formula)(fn)
    return ScheduleInfo(fn, example_kwargs, formula, reference, family)


def _seeded(fn):
    """``fn`` with its ``key`` argument replaced by an integer ``seed`` (``key =
    jax.random.key(seed)``), for tables and the command line, which hold numbers."""
    sig = inspect.signature(fn)
    params = [p.replace(name="seed", default=0, annotation=int) if p.name == "key" else p
              for p in sig.parameters.values()]

    @functools.wraps(fn)
    def seeded(*args, **kwargs):
        bound = inspect.signature(seeded).bind(*args, **kwargs)
        bound.apply_defaults()
        kw = dict(bound.arguments)
        kw["key"] = jax.random.key(int(kw.pop("seed")))
        return fn(**kw)

    seeded.__signature__ = sig.replace(parameters=params)
    seeded.__name__ = seeded.__qualname__ = f"{fn.__name__}_seeded"
    seeded.__doc__ = f":func:`optzoo.schedules.{fn.__name__}` with ``key = jax.random.key(seed)``."
    return seeded


noisy_linear_cosine_decay_seeded = _seeded(s.noisy_linear_cosine_decay)


def product_of(schedules):
    """:func:`optzoo.schedules.product` of a list of schedules or numbers (``product``
    takes them as positional arguments, which a keyword table cannot hold)."""
    return s.product(*schedules)


_TF1 = "TensorFlow 1 tf.compat.v1.train documentation"

SCHEDULES: dict[str, ScheduleInfo] = {
    "constant": _declare(
        "constant", s.constant, {"value": 1e-3}, "lr = value", "optax.constant_schedule", "constant",
        year=None),
    "piecewise_constant": _declare(
        "piecewise_constant", s.piecewise_constant, {"boundaries": [300, 600, 900], "values": [1e-2, 5e-3, 1e-3, 1e-4]},
        "lr = values[#{j : boundaries[j] < step}]",
        "Keras PiecewiseConstantDecay", "step",
        year=None, counterparts=(R.torch("lr_scheduler.ConstantLR", "ConstantLR(factor, total_iters) is values=[lr * factor, lr], boundaries=[total_iters]"), R.keras("schedules.PiecewiseConstantDecay"), R.optax("piecewise_constant_schedule", "optax multiplies scales"),)),
    "step_decay": _declare(
        "step_decay", s.step_decay, {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 200},
        "lr = init_value * decay_rate ** floor(step / decay_steps)",
        "PyTorch StepLR", "step",
        year=None, counterparts=(R.torch("lr_scheduler.StepLR"),)),
    "multistep_decay": _declare(
        "multistep_decay", s.multistep_decay, {"init_value": 1e-2, "milestones": [300, 600, 800], "decay_rate": 0.1},
        "lr = init_value * decay_rate ** #{j : milestones[j] <= step}",
        "PyTorch MultiStepLR", "step",
        year=None, counterparts=(R.torch("lr_scheduler.MultiStepLR"),)),
    "exponential_decay": _declare(
        "exponential_decay", s.exponential_decay, {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 200},
        "lr = init_value * decay_rate ** (step / decay_steps)  (floor with staircase)",
        "Keras ExponentialDecay", "exponential",
        year=None, counterparts=(R.torch("lr_scheduler.ExponentialLR", "ExponentialLR(gamma) is decay_rate=gamma, decay_steps=1"), R.keras("schedules.ExponentialDecay"), R.optax("exponential_decay"),)),
    "natural_exp_decay": _declare(
        "natural_exp_decay", s.natural_exp_decay, {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 100},
        "lr = init_value * exp(-decay_rate * step / decay_steps)  (floor with staircase)",
        _TF1 + " (natural_exp_decay)", "exponential",
        year=None),
    "inverse_time_decay": _declare(
        "inverse_time_decay", s.inverse_time_decay, {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 50},
        "lr = init_value / (1 + decay_rate * step / decay_steps)  (floor with staircase)",
        "Keras InverseTimeDecay", "exponential",
        year=None, counterparts=(R.keras("schedules.InverseTimeDecay"),)),
    "polynomial_decay": _declare(
        "polynomial_decay", s.polynomial_decay,
        {"init_value": 1e-2, "decay_steps": 1000, "end_value": 1e-4, "power": 2.0},
        "lr = (init_value - end_value) * (1 - min(step, T) / T) ** power + end_value, "
        "T = decay_steps (cycle: next multiple of decay_steps)",
        "Keras PolynomialDecay", "polynomial",
        year=None, counterparts=(R.torch("lr_scheduler.PolynomialLR"), R.keras("schedules.PolynomialDecay"), R.optax("polynomial_schedule", "no cycle option"),)),
    "linear": _declare(
        "linear", s.linear, {"init_value": 1e-2, "end_value": 1e-4, "transition_steps": 1000},
        "lr = init_value + (end_value - init_value) * min(step, T) / T, T = transition_steps",
        "optax.linear_schedule; PyTorch LinearLR", "polynomial",
        year=None, counterparts=(R.torch("lr_scheduler.LinearLR", "LinearLR takes factors of the base rate"), R.optax("linear_schedule"),)),
    "cosine_decay": _declare(
        "cosine_decay", s.cosine_decay, {"init_value": 1e-2, "decay_steps": 1000, "end_value": 1e-4},
        "lr = (init_value - end_value) * (1 + cos(pi * min(step, T) / T)) / 2 + end_value",
        "Loshchilov & Hutter 2017 (SGDR); Keras CosineDecay", "cosine",
        year=2017, counterparts=(R.torch("lr_scheduler.CosineAnnealingLR", "torch continues the cosine past T_max"), R.keras("schedules.CosineDecay"), R.optax("cosine_decay_schedule"),)),
    "linear_cosine_decay": _declare(
        "linear_cosine_decay", s.linear_cosine_decay, {"init_value": 1e-2, "decay_steps": 1000, "num_periods": 2.0},
        "lr = init_value * ((alpha + (T - t) / T) * (1 + cos(2 pi num_periods t / T)) / 2 + beta),"
        " t = min(step, T)",
        "Bello et al. 2017; " + _TF1 + " (linear_cosine_decay)", "cosine",
        year=2017),
    "noisy_linear_cosine_decay": _declare(
        "noisy_linear_cosine_decay", noisy_linear_cosine_decay_seeded,
        {"init_value": 1e-2, "decay_steps": 1000, "seed": 0, "initial_variance": 0.1,
         "num_periods": 2.0},
        "lr = init_value * ((alpha + (T - t) / T + eps_t) * (1 + cos(2 pi num_periods t / T)) / 2"
        " + beta), eps_t ~ N(0, initial_variance / (1 + t) ** variance_decay)",
        "Bello et al. 2017; " + _TF1 + " (noisy_linear_cosine_decay)", "cosine",
        year=2017),
    "cosine_restarts": _declare(
        "cosine_restarts", s.cosine_restarts,
        {"init_value": 1e-2, "first_decay_steps": 100, "t_mul": 2.0, "m_mul": 0.8, "alpha": 0.01},
        "period i lasts first_decay_steps * t_mul ** i; within it lr = init_value * ((1 - alpha)"
        " * m_mul ** i * (1 + cos(pi * frac)) / 2 + alpha)",
        "Loshchilov & Hutter 2017 (SGDR); Keras CosineDecayRestarts", "cosine",
        year=2017, counterparts=(R.torch("lr_scheduler.CosineAnnealingWarmRestarts"), R.keras("schedules.CosineDecayRestarts"), R.optax("sgdr_schedule", "optax takes a list of periods"),)),
    "cyclic": _declare(
        "cyclic", s.cyclic,
        {"base_value": 1e-3, "max_value": 1e-2, "step_size_up": 100, "mode": "triangular2"},
        "lr = base_value + (max_value - base_value) * triangle(step) * scale(cycle or step)",
        "Smith 2017; PyTorch CyclicLR", "cyclic",
        year=2017, counterparts=(R.torch("lr_scheduler.CyclicLR"),)),
    "one_cycle": _declare(
        "one_cycle", s.one_cycle, {"max_value": 1e-2, "total_steps": 1000},
        "max_value / div_factor -> max_value over pct_start, then -> max_value / div_factor /"
        " final_div_factor (cos or linear)",
        "Smith & Topin 2019; PyTorch OneCycleLR", "cyclic",
        year=2019, counterparts=(R.torch("lr_scheduler.OneCycleLR"), R.optax("cosine_onecycle_schedule", "optax has no three-phase variant"),)),
    "warmup": _declare(
        "warmup", s.warmup, {"schedule": s.cosine_decay(1e-2, 900, 1e-4), "warmup_steps": 100},
        "lr = init_value + (schedule(0) - init_value) * step / W for step < W, "
        "else schedule(step - W)",
        "Goyal et al. 2017; Keras CosineDecay(warmup_target, warmup_steps)", "composition",
        year=2017, counterparts=(R.keras("schedules.CosineDecay", "warmup_target and warmup_steps"), R.optax("warmup_cosine_decay_schedule", "optax warms up cosine decay only"),)),
    "join": _declare(
        "join", s.join,
        {"schedules": [s.linear(0.0, 1e-2, 100), s.constant(1e-2), s.cosine_decay(1e-2, 500)],
         "boundaries": [100, 500]},
        "lr = schedules[i](step - boundaries[i-1]) for boundaries[i-1] <= step < boundaries[i]",
        "optax.join_schedules; PyTorch SequentialLR", "composition",
        year=None, counterparts=(R.torch("lr_scheduler.SequentialLR"), R.optax("join_schedules"),)),
    "product": _declare(
        "product", product_of,
        {"schedules": [1e-2, s.cosine_decay(1.0, 1000), s.cyclic(0.5, 1.0, 50)]},
        "lr = schedules[0](step) * schedules[1](step) * ...",
        "PyTorch ChainedScheduler", "composition",
        year=None, counterparts=(R.torch("lr_scheduler.ChainedScheduler"),)),
}


TRANSFORMATIONS: dict[str, ScheduleInfo] = {
    "reduce_on_plateau": _declare(
        "reduce_on_plateau", s.reduce_on_plateau, {"factor": 0.5, "patience": 5, "cooldown": 2},
        "scale <- max(scale * factor, min_scale) after more than `patience` calls whose "
        "`value` does not improve on the best by `threshold`",
        "PyTorch ReduceLROnPlateau", "plateau",
        year=None, counterparts=(R.torch("lr_scheduler.ReduceLROnPlateau"), R.optax("contrib.reduce_on_plateau", "optax measures patience in accumulated steps"),), kind="transformation"),
}
