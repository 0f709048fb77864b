"""Warmup-stable-decay: linear warmup, a constant plateau, then a short cooldown."""

from __future__ import annotations

import jax.numpy as jnp

from optzoo import _validate as v
from optzoo import registry as R
from optzoo.schedules import _common as c

__all__ = ["wsd"]

COOLDOWN_TYPES = ("1-sqrt", "cosine", "linear", "1-square")


@R.register(
    kind="schedule", family="wsd", year=2024,
    reference="Hu et al. 2024 (MiniCPM); Hägele et al. 2024",
    formula="lr = peak_value * (step / W  |  1  |  cooldown((step - W - S) / D)  |  "
            "min_lr_ratio), cooldown 1-sqrt(p), cosine, 1-p or 1-p^2",
    counterparts=(R.reference(
        "pytorch_optimizer", "get_wsd_schedule",
        "a LambdaLR factor of the optimizer's lr (here peak_value); equal by default"),),
    examples={"": {"peak_value": 1e-2, "warmup_steps": 100, "stable_steps": 700,
                   "decay_steps": 200, "min_lr_ratio": 0.05},
              "cosine": {"peak_value": 1e-2, "warmup_steps": 100, "stable_steps": 700,
                         "decay_steps": 200, "min_lr_ratio": 0.05, "cooldown_type": "cosine"}},
)
@v.named
def wsd(
    peak_value: float,
    warmup_steps: int,
    stable_steps: int,
    decay_steps: int,
    min_lr_ratio: float = 0.0,
    cooldown_type: str = "1-sqrt",
    num_cycles: float = 0.5,
    cooldown_to_min: bool = False,
) -> c.Schedule:
    r"""Warmup-stable-decay (WSD, "trapezoidal") schedule::

        W, S, D  = warmup_steps, stable_steps, decay_steps
        p        = (step - W - S) / D                          (cooldown progress)
        lr(step) = peak_value * step / max(W, 1)               step < W
                 = peak_value                                  W <= step < W + S
                 = peak_value * cooldown(p)                    W + S <= step < W + S + D
                 = peak_value * min_lr_ratio                   step >= W + S + D

        cooldown(p) = 1 - sqrt(p)                              "1-sqrt" (default)
                    = 1 - p                                    "linear"
                    = 1 - p^2                                  "1-square"
                    = (1 - m) max(0, (1 + cos(2 pi num_cycles p)) / 2) + m
                                                               "cosine", m = min_lr_ratio

    As in the reference, only the cosine cooldown ends at ``min_lr_ratio``: the
    others fall towards 0 and the value steps up to ``peak_value * min_lr_ratio``
    once the cooldown is over (a jump when ``min_lr_ratio > 0``).
    ``cooldown_to_min=True`` rescales them to ``m + (1 - m) cooldown(p)``, so every
    cooldown ends continuously at the floor (the papers cool down to 0, where both
    forms agree).

    Args:
      peak_value: the plateau's value, >= 0 (the reference's optimizer ``lr``).
      warmup_steps, stable_steps, decay_steps: phase lengths, >= 0.
      min_lr_ratio: the final value as a fraction of ``peak_value``, in [0, 1];
        default 0.
      cooldown_type: ``"1-sqrt"`` (default; Hägele et al.'s best), ``"cosine"``,
        ``"linear"`` or ``"1-square"``.
      num_cycles: cosine periods over the cooldown, >= 0 (cosine only); default 0.5,
        half a period from 1 down to ``min_lr_ratio``.
      cooldown_to_min: end every cooldown at ``min_lr_ratio`` (above); default False.

    References: Hu et al., "MiniCPM", 2024 (WSD); Hägele et al., "Scaling Laws and
    Compute-Optimal Training Beyond Fixed Training Durations", 2024 (the 1-sqrt
    cooldown). Equals ``pytorch_optimizer.get_wsd_schedule(optimizer(lr=peak_value),
    num_warmup_steps=W, num_stable_steps=S, num_decay_steps=D, min_lr_ratio,
    num_cycles, cooldown_type)`` (pytorch-optimizer 4.1.0) at every step, with
    ``cooldown_to_min=False``.
    """
    fn = "wsd"
    c.check_value(fn, "peak_value", peak_value)
    for name, steps in (("warmup_steps", warmup_steps), ("stable_steps", stable_steps),
                        ("decay_steps", decay_steps)):
        c.check_steps(fn, name, steps, allow_zero=True)
    v.check_range(fn, "min_lr_ratio", min_lr_ratio, 0.0, 1.0)
    if cooldown_type not in COOLDOWN_TYPES:
        raise c.fail(fn, f"cooldown_type must be one of {', '.join(map(repr, COOLDOWN_TYPES))}, "
                         f"got {cooldown_type!r}")
    v.check_nonnegative(fn, "num_cycles", num_cycles)
    v.check_bool(fn, "cooldown_to_min", cooldown_to_min)
    stable_end = warmup_steps + stable_steps
    decay_end = stable_end + decay_steps

    def cooldown(progress):
        if cooldown_type == "cosine":
            wave = jnp.maximum(0.0, c.half_cosine(2.0 * num_cycles * progress))
            return (1.0 - min_lr_ratio) * wave + min_lr_ratio
        if cooldown_type == "1-sqrt":
            shape = 1.0 - jnp.sqrt(progress)
        elif cooldown_type == "1-square":
            shape = 1.0 - progress**2
        else:
            shape = 1.0 - progress
        return (1.0 - min_lr_ratio) * shape + min_lr_ratio if cooldown_to_min else shape

    @c.on_step
    def schedule(s):
        t = c.to_float(s)
        warm = t / max(warmup_steps, 1)
        # in [0, 1) wherever it is used; clipped so the unused branches stay finite
        progress = jnp.clip((t - stable_end) / max(decay_steps, 1), 0.0, 1.0)
        ratio = jnp.where(
            t < warmup_steps, warm,
            jnp.where(t < stable_end, 1.0,
                      jnp.where(t < decay_end, cooldown(progress), min_lr_ratio)))
        return peak_value * ratio

    return schedule
