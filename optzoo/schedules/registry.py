"""A table of every schedule with example arguments, for the command line and docs,
built from the records each schedule declares beside its definition
(:mod:`optzoo.registry`).

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
    "usage",
]


class ScheduleInfo(NamedTuple):
    fn: Callable[..., Any]
    example_kwargs: dict
    formula: str
    reference: str
    family: str


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


def _info(record: R.Record) -> ScheduleInfo:
    """A record as a table row; the two schedules whose arguments a keyword table
    cannot hold (a PRNG key, a variable number of schedules) get their adapters."""
    kwargs = record.example_kwargs()
    fn = record.constructor
    if record.name == "noisy_linear_cosine_decay":
        fn = noisy_linear_cosine_decay_seeded
        kwargs = {**{k: v for k, v in kwargs.items() if k != "key"}, "seed": 0}
    elif record.name == "product":
        fn, kwargs = product_of, {"schedules": list(kwargs["*args"])}
    return ScheduleInfo(fn, kwargs, record.formula, record.reference, record.family)


SCHEDULES: dict[str, ScheduleInfo] = {
    r.name: _info(r) for r in R.records("schedule") if r.module.startswith(s.__name__)
}

TRANSFORMATIONS: dict[str, ScheduleInfo] = {
    r.name: _info(r) for r in R.records("transformation") if r.module.startswith(s.__name__)
}


_USAGE = {
    "reduce_on_plateau": (
        "reduce_on_plateau is a gradient transformation driven by a metric, not a step -> lr "
        "schedule, so it has no curve to plot: chain it after an optimizer, "
        "tx = optax.chain(optzoo.adam(1e-3), optzoo.schedules.reduce_on_plateau(patience=5)), "
        "and pass the metric to each update, tx.update(grads, state, params, value=loss)"
    ),
}


def usage(name: str) -> str:
    """One line on how to use the transformation ``name`` (``TRANSFORMATIONS``)."""
    return _USAGE.get(name, f"{name} is a gradient transformation, not a step -> lr schedule")
