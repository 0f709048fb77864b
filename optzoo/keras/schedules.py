"""``keras.optimizers.schedules`` (Keras 3): same names, arguments and defaults.

Each constructor returns a traceable function ``step -> lr`` (``step`` = Keras's
``optimizer.iterations``, i.e. the number of completed updates), equal to the
Keras schedule called at that step; pass it as ``learning_rate`` to any optzoo or
optax optimizer. The result is in the default float dtype (float32, float64
under x64); Keras computes in the dtype of ``initial_learning_rate`` as a tensor,
i.e. ``keras.config.floatx()``. ``name`` is accepted and ignored.

Each is the matching :mod:`optzoo.schedules` function (same formula, Keras's
argument names and defaults), so a negative step counts as step 0 and
``PolynomialDecay`` keeps ``0 ** power`` finite under ``jit`` + ``vmap``/``scan``
(Keras's own is NaN there on CPU). The shared schedules accept a narrower domain
than Keras in a few rarely used corners, and these raise ``ValueError`` there:
``decay_rate`` above 1 (a growing ``ExponentialDecay``), ``power <= 0`` in
``PolynomialDecay``, non-integer ``warmup_steps``, ``t_mul < 1`` or ``m_mul > 1``
in ``CosineDecayRestarts``, negative learning rates or boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence

from optzoo import _validate as v
from optzoo import schedules as _shared
from optzoo.schedules._common import Schedule

__all__ = [
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
]

@v.named(init_value="initial_learning_rate")
def ExponentialDecay(
    initial_learning_rate: float,
    decay_steps: float,
    decay_rate: float,
    staircase: bool = False,
    name: str = "ExponentialDecay",
) -> Schedule:
    r"""``lr(step) = initial_learning_rate * decay_rate ^ (step / decay_steps)``,
    with ``floor(step / decay_steps)`` when ``staircase``. Same as
    ``optax.exponential_decay(init, decay_steps, decay_rate, staircase=...)`` with
    no ``transition_begin``; PyTorch's ``ExponentialLR`` decays every step
    (``decay_steps = 1``)."""
    return _shared.exponential_decay(
        initial_learning_rate, decay_rate, decay_steps=decay_steps, staircase=staircase
    )


@v.named(init_value="initial_learning_rate")
def PiecewiseConstantDecay(
    boundaries: Sequence[float], values: Sequence[float], name: str = "PiecewiseConstant"
) -> Schedule:
    r"""``values[0]`` for ``step <= boundaries[0]``, ``values[i]`` for
    ``boundaries[i-1] < step <= boundaries[i]``, ``values[-1]`` after the last
    boundary. The step *at* a boundary still gets the earlier value (PyTorch's
    ``MultiStepLR`` switches at the milestone itself)."""
    return _shared.piecewise_constant(boundaries, values)


@v.named(init_value="initial_learning_rate", end_value="end_learning_rate")
def PolynomialDecay(
    initial_learning_rate: float,
    decay_steps: float,
    end_learning_rate: float = 0.0001,
    power: float = 1.0,
    cycle: bool = False,
    name: str = "PolynomialDecay",
) -> Schedule:
    r"""Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate``::

        s   = min(step, decay_steps)                                   (not cycle)
        D   = decay_steps * max(1, ceil(step / decay_steps))           (cycle; D = decay_steps at 0)
        lr  = (initial - end) * (1 - s / D) ^ power + end

    With ``cycle`` the decay restarts from ``initial`` with a period that grows to
    cover the step. ``optax.polynomial_schedule`` has no cycle; PyTorch's
    ``PolynomialLR`` decays to zero and counts ``total_iters``.
    """
    return _shared.polynomial_decay(
        initial_learning_rate, decay_steps, end_learning_rate, power, cycle
    )


@v.named(init_value="initial_learning_rate")
def InverseTimeDecay(
    initial_learning_rate: float,
    decay_steps: float,
    decay_rate: float,
    staircase: bool = False,
    name: str = "InverseTimeDecay",
) -> Schedule:
    r"""``lr(step) = initial_learning_rate / (1 + decay_rate * step / decay_steps)``,
    with ``floor(step / decay_steps)`` when ``staircase`` (TensorFlow 1's
    ``inverse_time_decay``)."""
    return _shared.inverse_time_decay(
        initial_learning_rate, decay_rate, decay_steps=decay_steps, staircase=staircase
    )


@v.named(init_value="initial_learning_rate")
def CosineDecay(
    initial_learning_rate: float,
    decay_steps: float,
    alpha: float = 0.0,
    name: str = "CosineDecay",
    warmup_target: float | None = None,
    warmup_steps: float = 0,
) -> Schedule:
    r"""Cosine decay (Loshchilov and Hutter, 2017), with an optional linear warmup.

    Without ``warmup_target`` (``warmup_steps`` is then ignored, as in Keras)::

        s  = min(step, decay_steps)
        lr = initial * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)

    With ``warmup_target``, ``s = min(step, warmup_steps + decay_steps)``::

        lr = initial + (warmup_target - initial) * s / warmup_steps     (s < warmup_steps)
        lr = warmup_target * cosine(s - warmup_steps) as above          (otherwise)

    ``alpha`` is the final fraction of the peak (``optax.cosine_decay_schedule``
    calls it ``alpha`` too; PyTorch's ``CosineAnnealingLR`` has an absolute
    ``eta_min`` and keeps oscillating past ``T_max``; Keras holds the end value).
    """
    v.check_range("CosineDecay", "alpha", alpha, 0.0, 1.0)
    if warmup_target is None:
        return _shared.cosine_decay(
            initial_learning_rate, decay_steps, alpha * initial_learning_rate
        )
    return _shared.warmup(
        _shared.cosine_decay(warmup_target, decay_steps, alpha * warmup_target),
        warmup_steps,
        initial_learning_rate,
    )


@v.named(init_value="initial_learning_rate")
def CosineDecayRestarts(
    initial_learning_rate: float,
    first_decay_steps: float,
    t_mul: float = 2.0,
    m_mul: float = 1.0,
    alpha: float = 0.0,
    name: str = "SGDRDecay",
) -> Schedule:
    r"""Cosine decay with warm restarts, SGDR (Loshchilov and Hutter, 2017).

    With ``f = step / first_decay_steps``, the restart index ``i`` and the
    fraction ``c`` of the current period::

        i = floor(f), c = f - i                                        (t_mul = 1)
        i = floor(log(1 - f * (1 - t_mul)) / log(t_mul))               (t_mul != 1)
        c = (f - (1 - t_mul^i) / (1 - t_mul)) / t_mul^i
        lr = initial * ((1 - alpha) * 0.5 * m_mul^i * (1 + cos(pi * c)) + alpha)

    Period ``i`` lasts ``first_decay_steps * t_mul^i`` steps and peaks at
    ``initial * m_mul^i``. Note Keras (and TensorFlow) scale only the cosine part
    by ``m_mul^i``, not ``alpha``. PyTorch's ``CosineAnnealingWarmRestarts`` has
    integer ``T_mult`` and no ``m_mul``.
    """
    return _shared.cosine_restarts(initial_learning_rate, first_decay_steps, t_mul, m_mul, alpha)
