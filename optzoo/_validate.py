"""Hyperparameter and structure checks shared by every public constructor.

Every message has one shape, so users learn it once::

    adam: b1 must be in [0, 1), got 1.2

Checks run at construction time on concrete values only. Traced values (a
hyperparameter passed through ``optax.inject_hyperparams`` inside ``jax.jit``)
and schedules (callables) are not checked: their values are unknown until they
run.
"""

from __future__ import annotations

import contextvars
import functools
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import jax
import numpy as np

__all__ = [
    "named",
    "owner",
    "require_args",
    "is_concrete",
    "concrete_float",
    "check_range",
    "check_positive",
    "check_nonnegative",
    "check_learning_rate",
    "check_int",
    "check_choice",
    "check_bool",
    "check_nonnegative_each",
    "check_tree_match",
]


_OWNER: contextvars.ContextVar[tuple[str, dict[str, str]] | None] = contextvars.ContextVar(
    "optzoo_owner", default=None
)
F = TypeVar("F", bound=Callable[..., Any])


def named(func: F | None = None, /, **spelled: str) -> Any:
    """Decorate a public constructor so that every check it triggers, including the
    ones inside the building blocks it chains, names *it*: ``adam: b1 ...`` rather
    than ``scale_by_adam: b1 ...``. The outermost decorated call wins.

    A flavor whose arguments are spelled differently from the core ones it passes
    them to gives the spellings, core name to its own, so the message names the
    argument the caller wrote::

        @named(b1="beta_1", eps="epsilon")
        def Adam(learning_rate=0.001, beta_1=0.9, ..., epsilon=1e-7): ...

    Errors raised later, by ``update``, name it too: each building block keeps
    :func:`owner` from its construction.
    """

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            token = _OWNER.set(_OWNER.get() or (f.__name__, spelled))
            try:
                return f(*args, **kwargs)
            finally:
                _OWNER.reset(token)

        return wrapper  # type: ignore[return-value]

    return decorate if func is None else decorate(func)


def owner(fn: str) -> str:
    """The name an error should carry: the outermost :func:`named` constructor being
    called now (``adam``, ``AdamW``), else ``fn`` itself.

    Building blocks call it once, at construction, and keep the result in their
    closure, so that the errors their ``update`` raises later, when no constructor
    is running, still name what the user built::

        fn = v.owner("scale_by_adam")   # "adam" inside optzoo.adam(...)
    """
    current = _OWNER.get()
    return current[0] if current else fn


_owner = owner  # the older private spelling, still used by some modules


def _spelled(name: str) -> str:
    """``name`` as the outermost constructor's caller spells it."""
    current = _OWNER.get()
    return current[1].get(name, name) if current else name


def is_concrete(value: Any) -> bool:
    """True when ``value`` is a number whose value is known now (not a tracer)."""
    if isinstance(value, jax.core.Tracer) or callable(value):
        return False
    if isinstance(value, (numbers.Number, np.ndarray, np.generic, jax.Array)):
        return np.ndim(value) == 0
    return False


def concrete_float(value: Any) -> float | None:
    """The value as a float when it is concrete, else ``None``."""
    return float(value) if is_concrete(value) else None


def _fmt(value: Any) -> str:
    if isinstance(value, (np.ndarray, np.generic, jax.Array)) and np.ndim(value) == 0:
        value = value.item()
    return repr(value)


def _fmt_bound(x: float) -> str:
    if x == math.inf:
        return "inf"
    if x == -math.inf:
        return "-inf"
    return f"{x:g}"


def _type_error(fn: str, name: str, what: str, value: Any) -> ValueError:
    return ValueError(f"{owner(fn)}: {_spelled(name)} must be {what}, got {_fmt(value)}")


def check_range(
    fn: str,
    name: str,
    value: Any,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ``ValueError`` unless ``low <=/< value <=/< high``.

    Infinite bounds are always open. NaN is always rejected. Traced values pass.
    """
    if isinstance(value, jax.core.Tracer):
        return
    if isinstance(value, bool) or not is_concrete(value):
        raise _type_error(fn, name, "a real number", value)
    x = float(value)
    low_open = low_open or low == -math.inf
    high_open = high_open or high == math.inf
    ok_low = x > low if low_open else x >= low
    ok_high = x < high if high_open else x <= high
    if not (ok_low and ok_high):  # also catches NaN
        interval = (
            ("(" if low_open else "[")
            + f"{_fmt_bound(low)}, {_fmt_bound(high)}"
            + (")" if high_open else "]")
        )
        raise ValueError(
            f"{owner(fn)}: {_spelled(name)} must be in {interval}, got {_fmt(value)}"
        )


def check_positive(fn: str, name: str, value: Any) -> None:
    """``value`` in (0, inf)."""
    check_range(fn, name, value, 0.0, math.inf, low_open=True)


def check_nonnegative(fn: str, name: str, value: Any) -> None:
    """``value`` in [0, inf)."""
    check_range(fn, name, value, 0.0, math.inf)


def check_learning_rate(fn: str, learning_rate: Any, name: str = "learning_rate") -> None:
    """A learning rate is a schedule (any callable ``step -> lr``) or a number >= 0."""
    if callable(learning_rate) or isinstance(learning_rate, jax.core.Tracer):
        return
    if isinstance(learning_rate, bool) or not is_concrete(learning_rate):
        raise _type_error(fn, name, "a number in [0, inf) or a schedule step -> lr", learning_rate)
    check_nonnegative(fn, name, learning_rate)


def check_int(fn: str, name: str, value: Any, low: int = 0, high: float = math.inf) -> None:
    """``value`` is an integer in ``[low, high]``."""
    if isinstance(value, jax.core.Tracer):
        return
    is_int = isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, bool)
    if not is_int:
        raise _type_error(fn, name, f"an integer in [{_fmt_bound(low)}, {_fmt_bound(high)}]", value)
    check_range(fn, name, value, low, high)


def check_choice(fn: str, name: str, value: Any, choices: Iterable[Any]) -> None:
    """``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(
            f"{owner(fn)}: {_spelled(name)} must be one of {listed}, got {_fmt(value)}"
        )


def check_bool(fn: str, name: str, value: Any) -> None:
    """``value`` is a Python or NumPy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise _type_error(fn, name, "a bool", value)


def check_nonnegative_each(fn: str, **values: Any) -> None:
    """:func:`check_nonnegative` on every keyword, in order: ``check_nonnegative_each(fn,
    lambd=lambd, alpha=alpha)``."""
    for name, value in values.items():
        check_nonnegative(fn, name, value)


# How each extra argument of ``update`` reads in the call a message suggests.
_CALL_SPELLING = {"value_fn": "value_fn=loss_fn", "value": "value=loss", "grad": "grad=grads"}


def require_args(fn: str, params: Any, **extra: Any) -> None:
    """Raise when ``update`` was called without ``params`` or without one of the
    keyword arguments in ``extra`` (name to the value received, ``None`` if absent).

    ``fn`` is the owner captured at construction (:func:`owner`). The message names
    every argument the update needs and shows the call that supplies them::

        asgd: update needs params: call tx.update(grads, state, params)
    """
    if params is not None and all(x is not None for x in extra.values()):
        return
    needed = " and ".join(["params", *extra])
    call = ", ".join(["grads", "state", "params", *(_CALL_SPELLING.get(k, k) for k in extra)])
    raise ValueError(f"{fn}: update needs {needed}: call tx.update({call})")


def check_tree_match(fn: str, updates: Any, state_tree: Any, what: str = "state") -> None:
    """Raise a readable error when ``updates`` and a state pytree differ in structure.

    ``fn`` is the owner captured at construction (:func:`owner`), not looked up
    now: ``update`` runs when no constructor is active. Runs at trace time
    (structures are static), so it costs nothing per step.
    """
    u_def = jax.tree.structure(updates)
    s_def = jax.tree.structure(state_tree)
    if u_def != s_def:
        if what == "params":
            problem = "the params (pass the params the gradients were taken of)"
        else:
            problem = f"the optimizer {what} (was the state initialised from other params?)"
        raise ValueError(
            f"{fn}: the gradient structure does not match {problem}\n"
            f"  gradients: {u_def}\n  {what}: {s_def}"
        )

