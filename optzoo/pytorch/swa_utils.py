"""``torch.optim.swa_utils``: ``AveragedModel`` (SWA and EMA of the params) and ``SWALR``.

A torch loop averages a copy of the model after each optimizer step::

    swa_model = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.999))
    for step, batch in enumerate(loader):
        loss_fn(model, batch).backward(); opt.step(); opt.zero_grad()
        if step >= swa_start:
            swa_model.update_parameters(model)

Here the average lives in the optimizer's state: wrap the optimizer, and read the
average with :func:`optzoo.swa_params`::

    tx = AveragedModel(optzoo.pytorch.SGD(lr=0.05), multi_avg_fn=get_ema_multi_avg_fn(0.999),
                       start_step=swa_start)
    ...
    eval_params = optzoo.swa_params(opt_state)

The averaging rules are those of :func:`optzoo.swa` (the core wrapper). The
averaging functions are pure: ``avg_fn(averaged, current, num_averaged)`` returns
one new leaf, ``multi_avg_fn(averaged_list, current_list, num_averaged)`` returns
the new list (torch's update their arguments in place).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax

from optzoo import _validate as v
from optzoo import schedules as S
from optzoo.pytorch.lr_scheduler import LRSchedule, _check_last_epoch
from optzoo.transforms.swa import swa

__all__ = [
    "AveragedModel",
    "SWALR",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
]


def _check_decay(fn: str, decay: float) -> None:
    v.check_range(fn, "decay", decay, 0.0, 1.0)


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable:
    """``averaged + (1 - decay) (current - averaged)`` on lists of leaves."""
    _check_decay("get_ema_multi_avg_fn", decay)
    return lambda averaged, current, n: [a + (1.0 - decay) * (x - a)
                                         for a, x in zip(averaged, current, strict=True)]


def get_swa_multi_avg_fn() -> Callable:
    """``averaged + (current - averaged) / (num_averaged + 1)`` on lists of leaves."""
    return lambda averaged, current, n: [a + (x - a) / (n + 1)
                                         for a, x in zip(averaged, current, strict=True)]


def get_ema_avg_fn(decay: float = 0.999) -> Callable:
    """``decay * averaged + (1 - decay) * current`` on one leaf."""
    _check_decay("get_ema_avg_fn", decay)
    return lambda averaged, current, n: decay * averaged + (1.0 - decay) * current


def get_swa_avg_fn() -> Callable:
    """``averaged + (current - averaged) / (num_averaged + 1)`` on one leaf."""
    return lambda averaged, current, n: averaged + (current - averaged) / (n + 1)


@v.named
def AveragedModel(
    tx: optax.GradientTransformation,
    device: Any = None,
    avg_fn: Callable | None = None,
    multi_avg_fn: Callable | None = None,
    use_buffers: bool = False,
    *,
    start_step: int = 0,
    every: int = 1,
) -> optax.GradientTransformationExtraArgs:
    """``torch.optim.swa_utils.AveragedModel`` around the optimizer ``tx`` (torch
    wraps the model): ``update_parameters`` runs after update ``t`` when ``t >
    start_step`` and ``(t - start_step - 1) % every == 0``. With neither ``avg_fn``
    nor ``multi_avg_fn`` the average is SWA's equal-weight mean; ``multi_avg_fn``
    wins over ``avg_fn``, as in torch. ``device`` is accepted and ignored (JAX
    places the state with the params); ``use_buffers=True`` has no counterpart (a
    params tree has no buffers): recompute batch statistics on the averaged params
    instead of torch's ``update_bn``."""
    fn = "AveragedModel"
    del device
    if use_buffers:
        raise ValueError(f"{fn}: use_buffers must be False (a params tree has no buffers; "
                         "recompute batch statistics with the averaged params), got True")
    if multi_avg_fn is not None:
        def average(averaged, current, n):
            a, treedef = jax.tree.flatten(averaged)
            return jax.tree.unflatten(treedef, multi_avg_fn(a, jax.tree.leaves(current), n))
    elif avg_fn is not None:
        def average(averaged, current, n):
            return jax.tree.map(lambda a, x: avg_fn(a, x, n), averaged, current)
    else:
        average = None
    return swa(tx, start_step=start_step, every=every, average_fn=average)


@v.named(init_value="lr", end_value="swa_lr", value="swa_lr", decay_steps="anneal_epochs",
         transition_steps="anneal_epochs")
def SWALR(lr, swa_lr: float, anneal_epochs: int = 10, anneal_strategy: str = "cos",
          last_epoch: int = -1) -> LRSchedule:
    """``torch.optim.swa_utils.SWALR``: from ``lr`` to ``swa_lr`` over
    ``anneal_epochs`` scheduler steps, then ``swa_lr``::

        t(k)  = min(1, k / max(1, anneal_epochs))      (1 when anneal_epochs = 0)
        a(k)  = (1 - cos(pi t)) / 2    ("cos")    or    t    ("linear")
        lr(k) = swa_lr * a(k) + lr * (1 - a(k))

    torch writes this recursively from the optimizer's current rate; this closed
    form equals it to rounding. ``k`` counts ``scheduler.step()`` calls, as every
    schedule of :mod:`optzoo.pytorch.lr_scheduler`."""
    fn = "SWALR"
    v.check_learning_rate(fn, swa_lr, "swa_lr")
    v.check_int(fn, "anneal_epochs", anneal_epochs, 0)
    v.check_choice(fn, "anneal_strategy", anneal_strategy, ("cos", "linear"))
    _check_last_epoch(fn, last_epoch)
    if anneal_epochs == 0:
        schedule = S.constant(swa_lr)
    elif anneal_strategy == "cos":
        schedule = S.cosine_decay(lr, anneal_epochs, swa_lr)
    else:
        schedule = S.linear(lr, swa_lr, anneal_epochs)
    return LRSchedule(fn, lr, schedule)
