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

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

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


def noisy_linear_cosine_decay_seeded(
    init_value: float,
    decay_steps: int,
    seed: int = 0,
    initial_variance: float = 1.0,
    variance_decay: float = 0.55,
    num_periods: float = 0.5,
    alpha: float = 0.0,
    beta: float = 0.001,
):
    """:func:`optzoo.schedules.noisy_linear_cosine_decay` with ``key =
    jax.random.key(seed)``, for tables and the command line."""
    return s.noisy_linear_cosine_decay(
        init_value, decay_steps, jax.random.key(int(seed)), initial_variance,
        variance_decay, num_periods, alpha, beta,
    )


def product_of(schedules):
    """:func:`optzoo.schedules.product` of a list of schedules or numbers (``product``
    takes them as positional arguments, which a keyword table cannot hold)."""
    return s.product(*schedules)


_TF1 = "TensorFlow 1 tf.compat.v1.train documentation"

SCHEDULES: dict[str, ScheduleInfo] = {
    "constant": ScheduleInfo(
        s.constant, {"value": 1e-3}, "lr = value", "optax.constant_schedule", "constant"),
    "piecewise_constant": ScheduleInfo(
        s.piecewise_constant, {"boundaries": [300, 600, 900], "values": [1e-2, 5e-3, 1e-3, 1e-4]},
        "lr = values[#{j : boundaries[j] < step}]",
        "Keras PiecewiseConstantDecay", "step"),
    "step_decay": ScheduleInfo(
        s.step_decay, {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 200},
        "lr = init_value * decay_rate ** floor(step / decay_steps)",
        "PyTorch StepLR", "step"),
    "multistep_decay": ScheduleInfo(
        s.multistep_decay, {"init_value": 1e-2, "milestones": [300, 600, 800], "decay_rate": 0.1},
        "lr = init_value * decay_rate ** #{j : milestones[j] <= step}",
        "PyTorch MultiStepLR", "step"),
    "exponential_decay": ScheduleInfo(
        s.exponential_decay, {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 200},
        "lr = init_value * decay_rate ** (step / decay_steps)  (floor with staircase)",
        "Keras ExponentialDecay", "exponential"),
    "natural_exp_decay": ScheduleInfo(
        s.natural_exp_decay, {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 100},
        "lr = init_value * exp(-decay_rate * step / decay_steps)  (floor with staircase)",
        _TF1 + " (natural_exp_decay)", "exponential"),
    "inverse_time_decay": ScheduleInfo(
        s.inverse_time_decay, {"init_value": 1e-2, "decay_rate": 0.5, "decay_steps": 50},
        "lr = init_value / (1 + decay_rate * step / decay_steps)  (floor with staircase)",
        "Keras InverseTimeDecay", "exponential"),
    "polynomial_decay": ScheduleInfo(
        s.polynomial_decay,
        {"init_value": 1e-2, "decay_steps": 1000, "end_value": 1e-4, "power": 2.0},
        "lr = (init_value - end_value) * (1 - min(step, T) / T) ** power + end_value, "
        "T = decay_steps (cycle: next multiple of decay_steps)",
        "Keras PolynomialDecay", "polynomial"),
    "linear": ScheduleInfo(
        s.linear, {"init_value": 1e-2, "end_value": 1e-4, "transition_steps": 1000},
        "lr = init_value + (end_value - init_value) * min(step, T) / T, T = transition_steps",
        "optax.linear_schedule; PyTorch LinearLR", "polynomial"),
    "cosine_decay": ScheduleInfo(
        s.cosine_decay, {"init_value": 1e-2, "decay_steps": 1000, "end_value": 1e-4},
        "lr = (init_value - end_value) * (1 + cos(pi * min(step, T) / T)) / 2 + end_value",
        "Loshchilov & Hutter 2017 (SGDR); Keras CosineDecay", "cosine"),
    "linear_cosine_decay": ScheduleInfo(
        s.linear_cosine_decay, {"init_value": 1e-2, "decay_steps": 1000, "num_periods": 2.0},
        "lr = init_value * ((alpha + (T - t) / T) * (1 + cos(2 pi num_periods t / T)) / 2 + beta),"
        " t = min(step, T)",
        "Bello et al. 2017; " + _TF1 + " (linear_cosine_decay)", "cosine"),
    "noisy_linear_cosine_decay": ScheduleInfo(
        noisy_linear_cosine_decay_seeded,
        {"init_value": 1e-2, "decay_steps": 1000, "seed": 0, "initial_variance": 0.1,
         "num_periods": 2.0},
        "lr = init_value * ((alpha + (T - t) / T + eps_t) * (1 + cos(2 pi num_periods t / T)) / 2"
        " + beta), eps_t ~ N(0, initial_variance / (1 + t) ** variance_decay)",
        "Bello et al. 2017; " + _TF1 + " (noisy_linear_cosine_decay)", "cosine"),
    "cosine_restarts": ScheduleInfo(
        s.cosine_restarts,
        {"init_value": 1e-2, "first_decay_steps": 100, "t_mul": 2.0, "m_mul": 0.8, "alpha": 0.01},
        "period i lasts first_decay_steps * t_mul ** i; within it lr = init_value * ((1 - alpha)"
        " * m_mul ** i * (1 + cos(pi * frac)) / 2 + alpha)",
        "Loshchilov & Hutter 2017 (SGDR); Keras CosineDecayRestarts", "cosine"),
    "cyclic": ScheduleInfo(
        s.cyclic,
        {"base_value": 1e-3, "max_value": 1e-2, "step_size_up": 100, "mode": "triangular2"},
        "lr = base_value + (max_value - base_value) * triangle(step) * scale(cycle or step)",
        "Smith 2017; PyTorch CyclicLR", "cyclic"),
    "one_cycle": ScheduleInfo(
        s.one_cycle, {"max_value": 1e-2, "total_steps": 1000},
        "max_value / div_factor -> max_value over pct_start, then -> max_value / div_factor /"
        " final_div_factor (cos or linear)",
        "Smith & Topin 2019; PyTorch OneCycleLR", "cyclic"),
    "warmup": ScheduleInfo(
        s.warmup, {"schedule": s.cosine_decay(1e-2, 900, 1e-4), "warmup_steps": 100},
        "lr = init_value + (schedule(0) - init_value) * step / W for step < W, "
        "else schedule(step - W)",
        "Goyal et al. 2017; Keras CosineDecay(warmup_target, warmup_steps)", "composition"),
    "join": ScheduleInfo(
        s.join,
        {"schedules": [s.linear(0.0, 1e-2, 100), s.constant(1e-2), s.cosine_decay(1e-2, 500)],
         "boundaries": [100, 500]},
        "lr = schedules[i](step - boundaries[i-1]) for boundaries[i-1] <= step < boundaries[i]",
        "optax.join_schedules; PyTorch SequentialLR", "composition"),
    "product": ScheduleInfo(
        product_of,
        {"schedules": [1e-2, s.cosine_decay(1.0, 1000), s.cyclic(0.5, 1.0, 50)]},
        "lr = schedules[0](step) * schedules[1](step) * ...",
        "PyTorch ChainedScheduler", "composition"),
}


TRANSFORMATIONS: dict[str, ScheduleInfo] = {
    "reduce_on_plateau": ScheduleInfo(
        s.reduce_on_plateau, {"factor": 0.5, "patience": 5, "cooldown": 2},
        "scale <- max(scale * factor, min_scale) after more than `patience` calls whose "
        "`value` does not improve on the best by `threshold`",
        "PyTorch ReduceLROnPlateau", "plateau"),
}
