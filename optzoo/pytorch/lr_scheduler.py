"""``torch.optim.lr_scheduler`` as functions of the number of ``scheduler.step()`` calls.

Each scheduler here takes the base learning rate where torch takes the
optimizer and returns a schedule ``k -> lr``: ``sched(k)`` is what torch's
``get_last_lr()[0]`` reads after ``k`` calls of ``scheduler.step()`` (``k = 0``:
right after construction). Schedules are jnp code, so they trace under
``jax.jit`` and can be passed as ``lr`` to any optimizer in
:mod:`optzoo.pytorch`; optax evaluates them at the number of updates done, which
is ``k`` when torch steps the scheduler once per optimizer step. To step once
per epoch of ``n`` batches, use ``lambda count: sched(count // n)``.

Each scheduler maps its arguments onto a schedule of :mod:`optzoo.schedules`
(or a composition of them): closed forms replace torch's recursive updates
(``lr <- lr * factor``); they agree to rounding (relative error below 1e-12 in
the parity suite). As every optzoo schedule, a negative ``k`` counts as 0.

:class:`CyclicLR` and :class:`OneCycleLR` also give the momentum torch writes
into the optimizer (``momentum``, or ``betas[0]`` for Adam-type optimizers) as
``sched.momentum(k)``. :class:`ReduceLROnPlateau` depends on the metric, not on
``k``: it is a pure ``init``/``step`` pair over a small state.

``last_epoch`` (resuming) is accepted only as ``-1``: to resume, evaluate the
schedule at later ``k``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo import schedules as S
from optzoo.schedules import _common as c
from optzoo.schedules.cyclic import one_cycle_phases
from optzoo.schedules.plateau import check_plateau, plateau_step, worst_value

__all__ = [
    "LRSchedule",
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "OneCycleLR",
    "LambdaLR",
    "MultiplicativeLR",
    "SequentialLR",
    "ChainedScheduler",
    "ReduceLROnPlateau",
    "PlateauState",
]


def _float(x):
    """``x`` in the default float dtype (float64 under x64)."""
    return jnp.asarray(x, dtype=c.float_dtype())


def _check_last_epoch(fn: str, last_epoch) -> None:
    if last_epoch != -1:
        raise ValueError(
            f"{fn}: last_epoch must be -1 (evaluate the schedule at a later step to resume), "
            f"got {last_epoch!r}"
        )


class LRSchedule:
    """A schedule ``k -> lr`` (``k`` = number of ``scheduler.step()`` calls).

    Attributes: ``base_lr``; ``momentum``, a schedule ``k -> momentum`` or
    ``None``; ``multiplicative``: torch updates this one as ``lr <- lr * r_k``,
    so it can be composed by :class:`ChainedScheduler`.
    """

    multiplicative = False
    momentum: Callable[[Any], Any] | None = None

    def __init__(self, name: str, base_lr, fn: Callable[[Any], Any]):
        v.check_learning_rate(name, base_lr, "lr")
        self.name = name
        self.base_lr = base_lr
        self._fn = fn

    def __call__(self, step):
        return self._fn(c.as_step(step))

    def _after_milestone(self, local_step, previous_lr):
        """The lr when this schedule takes over inside :class:`SequentialLR`:
        torch restarts it at 0 from its closed form, so ``self(local_step)``."""
        del previous_lr
        return self(local_step)

    def __repr__(self) -> str:
        return f"{self.name}(base_lr={self.base_lr!r})"


def _mult(name, base_lr, factor) -> LRSchedule:
    """``base_lr * factor(k)``, ``factor`` a schedule that starts at 1."""
    s = LRSchedule(name, base_lr, lambda k: base_lr * factor(k))
    s.multiplicative = True
    s.factor = factor
    return s


# ----------------------------------------------------------------- multiplicative


@v.named(decay_rate="gamma")
def StepLR(lr, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> LRSchedule:
    """``lr * gamma ** (k // step_size)``: torch ``StepLR``
    (:func:`optzoo.schedules.step_decay`)."""
    fn = "StepLR"
    v.check_int(fn, "step_size", step_size, 1)
    _check_last_epoch(fn, last_epoch)
    return _mult(fn, lr, S.step_decay(1.0, gamma, decay_steps=step_size, allow_growth=True))


@v.named(decay_rate="gamma")
def MultiStepLR(
    lr, milestones: Sequence[int], gamma: float = 0.1, last_epoch: int = -1
) -> LRSchedule:
    """``lr * gamma ** n(k)``, ``n(k)`` = number of milestones ``<= k`` (a milestone
    listed twice counts twice, as torch's ``Counter``): torch ``MultiStepLR``
    (:func:`optzoo.schedules.multistep_decay`, one per repetition)."""
    fn = "MultiStepLR"
    _check_last_epoch(fn, last_epoch)
    counts = Counter(int(m) for m in milestones)
    layers = [sorted(m for m, n in counts.items() if n > r)
              for r in range(max(counts.values(), default=1))]
    return _mult(fn, lr, S.product(
        *[S.multistep_decay(1.0, ms, gamma, allow_growth=True) for ms in layers]))


@v.named
def ConstantLR(
    lr, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
) -> LRSchedule:
    """``lr * factor`` for ``k < total_iters``, then ``lr``: torch ``ConstantLR``
    (:func:`optzoo.schedules.join` of two constants)."""
    fn = "ConstantLR"
    v.check_range(fn, "factor", factor, 0.0, 1.0)
    v.check_int(fn, "total_iters", total_iters, 0)
    _check_last_epoch(fn, last_epoch)
    return _mult(fn, lr, S.join([factor, 1.0], [total_iters]))


@v.named
def LinearLR(
    lr,
    start_factor: float = 1.0 / 3,
    end_factor: float = 1.0,
    total_iters: int = 5,
    last_epoch: int = -1,
) -> LRSchedule:
    """``lr * (start_factor + (end_factor - start_factor) * min(k, total_iters) /
    total_iters)``: torch ``LinearLR`` (:func:`optzoo.schedules.linear`)."""
    fn = "LinearLR"
    v.check_range(fn, "start_factor", start_factor, 0.0, 1.0, low_open=True)
    v.check_range(fn, "end_factor", end_factor, 0.0, 1.0)
    v.check_int(fn, "total_iters", total_iters, 1)
    _check_last_epoch(fn, last_epoch)
    return _mult(fn, lr, S.linear(start_factor, end_factor, total_iters))


@v.named(decay_rate="gamma")
def ExponentialLR(lr, gamma: float, last_epoch: int = -1) -> LRSchedule:
    """``lr * gamma ** k``: torch ``ExponentialLR``
    (:func:`optzoo.schedules.exponential_decay`; ``gamma > 1`` grows)."""
    _check_last_epoch("ExponentialLR", last_epoch)
    return _mult("ExponentialLR", lr, S.exponential_decay(1.0, gamma, allow_growth=True))


@v.named(decay_steps="total_iters")
def PolynomialLR(lr, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> LRSchedule:
    """``lr * (1 - min(k, total_iters) / total_iters) ** power``: torch ``PolynomialLR``
    (:func:`optzoo.schedules.polynomial_decay` to 0)."""
    fn = "PolynomialLR"
    v.check_int(fn, "total_iters", total_iters, 1)
    _check_last_epoch(fn, last_epoch)
    return _mult(fn, lr, S.polynomial_decay(1.0, total_iters, 0.0, power))


@v.named
def MultiplicativeLR(lr, lr_lambda: Callable[[Any], Any], last_epoch: int = -1) -> LRSchedule:
    """``lr * prod_{j=1..k} lr_lambda(j)``: torch ``MultiplicativeLR``.

    ``lr_lambda`` must be jnp-traceable. The product is a loop over ``k`` terms,
    so evaluating at step ``k`` costs O(k) (a constant factor is
    :func:`ExponentialLR`, which costs O(1)); the loop stops early once the
    product is exactly 0, which no later finite factor can change.
    """
    fn = "MultiplicativeLR"
    _check_last_epoch(fn, last_epoch)

    def product(first, k):
        last = c.int_step(k)

        def more(carry):  # j < start: j wrapped past 2**31 - 1
            j, acc = carry
            return (j <= last) & (j >= start) & (acc != 0.0)

        def body(carry):
            j, acc = carry
            return j + 1, acc * _float(lr_lambda(j))

        start = jnp.asarray(first, last.dtype)
        return jax.lax.while_loop(more, body, (start, _float(1.0)))[1]

    s = _mult(fn, lr, lambda k: product(1, k))
    # Inside SequentialLR torch multiplies the running lr by lr_lambda(0) too.
    s._after_milestone = lambda k, prev: prev * product(0, c.as_step(k))
    return s


# ----------------------------------------------------------------- absolute ones


@v.named
def LambdaLR(lr, lr_lambda: Callable[[Any], Any], last_epoch: int = -1) -> LRSchedule:
    """``lr * lr_lambda(k)``: torch ``LambdaLR``. ``lr_lambda`` must be jnp-traceable."""
    _check_last_epoch("LambdaLR", last_epoch)
    return LRSchedule("LambdaLR", lr, lambda k: lr * _float(lr_lambda(k)))


@v.named(init_value="lr", decay_steps="T_max", end_value="eta_min")
def CosineAnnealingLR(lr, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> LRSchedule:
    """``eta_min + (lr - eta_min) * (1 + cos(pi * k / T_max)) / 2``: torch
    ``CosineAnnealingLR`` (SGDR without restarts, Loshchilov and Hutter, 2017;
    :func:`optzoo.schedules.cosine_decay` with ``periodic=True``).

    Past ``T_max`` the cosine goes back up (period ``2 T_max``), as torch's
    recursive form does; it does not stay at ``eta_min``.
    """
    fn = "CosineAnnealingLR"
    v.check_int(fn, "T_max", T_max, 1)
    _check_last_epoch(fn, last_epoch)
    return LRSchedule(fn, lr, S.cosine_decay(lr, T_max, eta_min, periodic=True))


@v.named(init_value="lr", first_decay_steps="T_0", t_mul="T_mult", end_value="eta_min")
def CosineAnnealingWarmRestarts(
    lr, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1
) -> LRSchedule:
    """SGDR (Loshchilov and Hutter, 2017): torch ``CosineAnnealingWarmRestarts``
    stepped without an epoch argument (:func:`optzoo.schedules.cosine_restarts`).

    Cycle ``i`` lasts ``T_i = T_0 * T_mult**i`` steps; ``T_cur`` counts the steps
    since the last restart::

        lr = eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
    """
    fn = "CosineAnnealingWarmRestarts"
    v.check_int(fn, "T_0", T_0, 1)
    v.check_int(fn, "T_mult", T_mult, 1)
    _check_last_epoch(fn, last_epoch)
    return LRSchedule(fn, lr, S.cosine_restarts(lr, T_0, float(T_mult), end_value=eta_min))


@v.named(lr="base_lr", base_value="base_lr", max_value="max_lr")
def CyclicLR(
    base_lr,
    max_lr,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[Any], Any] | None = None,
    scale_mode: str = "cycle",
    cycle_momentum: bool = True,
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
    last_epoch: int = -1,
) -> LRSchedule:
    """Cyclical learning rates (Smith, 2017): torch ``CyclicLR``
    (:func:`optzoo.schedules.cyclic`).

    With ``total = step_size_up + step_size_down``, ``cycle = floor(1 + k / total)``,
    ``x = 1 + k / total - cycle`` and ``r = step_size_up / total``::

        s  = x / r if x <= r else (x - 1) / (r - 1)
        lr = base_lr + (max_lr - base_lr) * s * scale(cycle or k)
        momentum = max_momentum - (max_momentum - base_momentum) * s * scale(cycle or k)

    ``triangular``: scale 1; ``triangular2``: ``1 / 2**(cycle - 1)`` per cycle;
    ``exp_range``: ``gamma**k`` per iteration. A custom ``scale_fn`` (jnp-traceable)
    overrides ``mode`` and uses ``scale_mode``. Here ``base_lr`` replaces torch's
    optimizer (torch overwrites the optimizer's lr with it). With
    ``cycle_momentum`` (the default, as torch) ``sched.momentum(k)`` is the
    momentum (or Adam's ``beta1``) torch writes into the optimizer: the same
    cycle from ``max_momentum`` to ``base_momentum``.
    """
    fn = "CyclicLR"
    _check_last_epoch(fn, last_epoch)
    shape = (step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)
    sched = LRSchedule(fn, base_lr, S.cyclic(base_lr, max_lr, *shape))
    if cycle_momentum:
        v.check_nonnegative(fn, "base_momentum", base_momentum)
        v.check_nonnegative(fn, "max_momentum", max_momentum)
        sched.momentum = S.cyclic(max_momentum, base_momentum, *shape)
    return sched


@v.named(max_value="max_lr", anneal="anneal_strategy")
def OneCycleLR(
    max_lr,
    total_steps: int | None = None,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    cycle_momentum: bool = True,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    last_epoch: int = -1,
) -> LRSchedule:
    """The 1cycle policy (Smith and Topin, 2018): torch ``OneCycleLR``
    (:func:`optzoo.schedules.one_cycle`).

    ``initial_lr = max_lr / div_factor``, ``min_lr = initial_lr / final_div_factor``.
    Two phases: ``initial_lr -> max_lr`` over ``k in [0, pct_start * total - 1]``,
    then ``max_lr -> min_lr`` until ``total - 1``; with ``three_phase`` the
    second phase goes back to ``initial_lr`` (until ``2 pct_start total - 2``)
    and a third anneals to ``min_lr``. Each phase anneals by
    ``end + (start - end) / 2 * (1 + cos(pi * pct))`` (``cos``) or linearly.
    Momentum runs the opposite way between ``max_momentum`` and
    ``base_momentum`` (``sched.momentum(k)``). torch continues the last phase
    to ``k = total_steps`` and raises past it; this schedule holds its value from
    ``total_steps`` on.
    """
    fn = "OneCycleLR"
    _check_last_epoch(fn, last_epoch)
    if total_steps is not None:
        v.check_int(fn, "total_steps", total_steps, 1)
        total = total_steps
    elif epochs is not None and steps_per_epoch is not None:
        v.check_int(fn, "epochs", epochs, 1)
        v.check_int(fn, "steps_per_epoch", steps_per_epoch, 1)
        total = epochs * steps_per_epoch
    else:
        raise ValueError(f"{fn}: give total_steps, or epochs and steps_per_epoch")
    lr = S.one_cycle(max_lr, total, pct_start, anneal_strategy, div_factor, final_div_factor,
                     three_phase, hold_from=total)
    sched = LRSchedule(fn, max_lr / div_factor, lr)
    if cycle_momentum:
        v.check_nonnegative(fn, "base_momentum", base_momentum)
        v.check_nonnegative(fn, "max_momentum", max_momentum)
        moms = (max_momentum, base_momentum, max_momentum) + ((max_momentum,) * three_phase)
        sched.momentum = one_cycle_phases(total, pct_start, moms, anneal_strategy, total)
    return sched


# ----------------------------------------------------------------- combinators


@v.named(boundaries="milestones")
def SequentialLR(
    schedulers: Sequence[LRSchedule], milestones: Sequence[int], last_epoch: int = -1
) -> LRSchedule:
    """torch ``SequentialLR``: ``schedulers[i]`` from ``milestones[i-1]`` on,
    restarted at 0 there (torch re-evaluates it from its closed form):
    :func:`optzoo.schedules.join`.

    ``MultiplicativeLR`` after a milestone continues from the running lr times
    ``lr_lambda(0)``, as torch does. The base lr is ``schedulers[0].base_lr``.
    """
    fn = "SequentialLR"
    _check_last_epoch(fn, last_epoch)
    schedulers = list(schedulers)
    milestones = [int(m) for m in milestones]
    if not schedulers:
        raise ValueError(f"{fn}: schedulers must not be empty")
    if len(milestones) != len(schedulers) - 1:
        raise ValueError(
            f"{fn}: milestones must have len(schedulers) - 1 = {len(schedulers) - 1} "
            f"entries, got {len(milestones)}"
        )
    if any(isinstance(s, ReduceLROnPlateau) for s in schedulers):
        raise ValueError(f"{fn}: ReduceLROnPlateau cannot be sequenced")

    # The lr just before each milestone, needed by schedules that continue from it.
    # Evaluated when the schedule is, not here, so it takes the dtype in force then.
    def value(k: int, upto: int):
        idx = sum(k >= m for m in milestones[:upto])
        if idx == 0:
            return schedulers[0](k)
        start = milestones[idx - 1]
        return schedulers[idx]._after_milestone(k - start, value(start - 1, idx - 1))

    def after(i):  # schedulers[i] counted from milestones[i - 1]
        return lambda local: schedulers[i]._after_milestone(local, value(milestones[i - 1] - 1,
                                                                         i - 1))

    pieces = [schedulers[0]] + [after(i) for i in range(1, len(schedulers))]
    return LRSchedule(fn, schedulers[0].base_lr, S.join(pieces, milestones))


@v.named
def ChainedScheduler(schedulers: Sequence[LRSchedule], optimizer: Any = None) -> LRSchedule:
    """torch ``ChainedScheduler``: every scheduler steps the same lr each step.

    Defined for the multiplicative schedulers (``StepLR``, ``MultiStepLR``,
    ``ConstantLR``, ``LinearLR``, ``ExponentialLR``, ``PolynomialLR``,
    ``MultiplicativeLR``), whose torch updates compose as a product
    (:func:`optzoo.schedules.product`)::

        lr_k = base_lr * prod_s factor_s(k)

    with ``base_lr`` that of the first scheduler. Others raise ``ValueError``.
    ``optimizer`` is accepted and ignored.
    """
    fn = "ChainedScheduler"
    del optimizer
    schedulers = list(schedulers)
    if not schedulers:
        raise ValueError(f"{fn}: schedulers must not be empty")
    for s in schedulers:
        if not getattr(s, "multiplicative", False):
            raise ValueError(
                f"{fn}: schedulers must be multiplicative (StepLR, MultiStepLR, ConstantLR, "
                f"LinearLR, ExponentialLR, PolynomialLR, MultiplicativeLR), got {s!r}"
            )
    return _mult(fn, schedulers[0].base_lr, S.product(*[s.factor for s in schedulers]))


# ----------------------------------------------------------------- plateau


class PlateauState(NamedTuple):
    """State of :class:`ReduceLROnPlateau`: the current ``lr`` and torch's counters."""

    lr: jax.Array
    best: jax.Array
    num_bad_epochs: jax.Array  # int32
    cooldown_counter: jax.Array  # int32
    last_epoch: jax.Array  # int32


class ReduceLROnPlateau(NamedTuple):
    """torch ``ReduceLROnPlateau`` as a pure ``init``/``step`` pair.

    ::

        plateau = ReduceLROnPlateau(lr=0.1, patience=3)
        state = plateau.init()
        state = plateau.step(state, val_loss)     # jit-able; state.lr is the new lr

    ``step`` follows torch: the metric improves on ``best`` when ``a < best *
    (1 - threshold)`` (``min``, ``rel``), ``a < best - threshold`` (``abs``), or
    the mirrored rules for ``max``; otherwise ``num_bad_epochs`` grows (reset to
    0 during a cooldown). Once it exceeds ``patience``, ``lr <- max(lr * factor,
    min_lr)`` when that lowers it by more than ``eps``; a cooldown of
    ``cooldown`` steps starts and ``num_bad_epochs`` resets. This is the rule of
    :func:`optzoo.schedules.reduce_on_plateau` applied to the lr. Feed ``state.lr``
    to the optimizer through ``optax.inject_hyperparams`` (see ``docs/porting.md``).
    """

    lr: float
    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8

    def init(self) -> PlateauState:
        fn = "ReduceLROnPlateau"
        v.check_learning_rate(fn, self.lr, "lr")
        v.check_range(fn, "factor", self.factor, 0.0, 1.0, high_open=True)
        check_plateau(fn, self.mode, self.threshold, self.threshold_mode,
                      self.patience, self.cooldown)
        zero = jnp.zeros([], jnp.int32)
        return PlateauState(_float(self.lr), worst_value(self.mode), zero, zero, zero)

    def step(self, state: PlateauState, metrics) -> PlateauState:
        lr, best, bad, cool = plateau_step(
            *state[:4], _float(metrics), mode=self.mode, threshold=self.threshold,
            threshold_mode=self.threshold_mode, patience=self.patience,
            cooldown=self.cooldown, factor=self.factor, floor=self.min_lr, eps=self.eps)
        return PlateauState(lr, best, bad, cool, optax.safe_increment(state.last_epoch))
