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
import inspect
import inspect
import math
import numbers
import sys
import types
import weakref
from collections.abc import Callable, Iterable, Mapping
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
    "check_dtype",
    "check_static",
    "check_nonnegative_each",
    "check_tree_match",
    "checked_updates",
    "ComplexDtypeError",
    "TAKES_COMPLEX",
]

TAKES_COMPLEX = "takes_complex_params"
"""The attribute :func:`optzoo.transforms.complex.with_complex_params` sets on a
constructor whose transformation takes complex params (as real pairs)."""

_COMPLEX_OK = ("adam, amsgrad, adamw, sgd, momentum, nag, rmsprop, adagrad, adadelta, adamax, "
               "nadam, radam, asgd, rprop and their optzoo.pytorch flavors do")


class ComplexDtypeError(TypeError, ValueError):
    """Complex params or gradients given to an optimizer that does not take them, or
    a complex gradient for a real param (and the reverse). A ``TypeError``, and a
    ``ValueError`` as the gradient check raised before complex params were taken."""


# (constructor name, its spellings of core arguments, its module)
_OWNER: contextvars.ContextVar[tuple[str, dict[str, str], str] | None] = contextvars.ContextVar(
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

    The transformation the outermost call returns checks, when ``update`` is
    traced, that every gradient leaf has its param's shape and a real floating
    dtype (:func:`checked_updates`): one place, so every optimizer gets it.
    """

    def decorate(f: F) -> F:
        first = next(iter(inspect.signature(f).parameters), None)
        lr_first = first in ("lr", "learning_rate")
        complex_ok = getattr(f, TAKES_COMPLEX, False)

        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            if lr_first and args and _looks_like_params(args[0]):
                raise _params_first_error(f, first, args[0])
            outermost = _OWNER.get() is None
            token = _OWNER.set(_OWNER.get() or (f.__name__, spelled, f.__module__))
            try:
                if any(map(_complex_array, (*args, *kwargs.values()))):
                    args, kwargs = _real_hyperparameters(f.__name__, complex_ok, args, kwargs)
                out = f(*args, **kwargs)
            finally:
                _OWNER.reset(token)
            if not outermost:
                return out
            out = checked_updates(f.__name__, out, complex_ok=complex_ok)
            _remember(out, f, args, kwargs)
            return out

        return wrapper  # type: ignore[return-value]

    return decorate if func is None else decorate(func)


def _complex_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic)) and _is_complex(x.dtype)


def _real_hyperparameters(fn: str, complex_ok: bool, args: tuple, kwargs: dict):
    """``optax.inject_hyperparams`` gives every number it holds the params' dtype,
    complex for complex params: an optimizer that takes complex params gets the real
    parts (its hyperparameters are real), any other refuses them in one line."""
    if not complex_ok:
        name = next((k for k, x in kwargs.items() if _complex_array(x)), None)
        what = f"{_spelled(name)} is" if name else "a hyperparameter is"
        raise ComplexDtypeError(
            f"{owner(fn)}: {what} complex (optax.inject_hyperparams gives hyperparameters "
            f"the params' dtype): {owner(fn)} does not support complex params ({_COMPLEX_OK})")

    def real(x):
        return x.real if _complex_array(x) else x

    return tuple(map(real, args)), {k: real(x) for k, x in kwargs.items()}


# What each transformation that a public constructor returned was built with, keyed
# by its ``update`` function (weakly: a record lives as long as its transformation).
_BUILT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _remember(built: Any, f: Callable, args: tuple, kwargs: dict) -> None:
    update = getattr(built, "update", None)
    if update is None:
        return
    try:
        bound = inspect.signature(f).bind(*args, **kwargs)
    except TypeError:
        return
    bound.apply_defaults()
    try:
        _BUILT[update] = (f.__name__, dict(bound.arguments))
    except TypeError:  # an update that cannot be weakly referenced
        pass


def built_with(tx: Any) -> tuple[str, dict[str, Any]] | None:
    """``(constructor name, its arguments with defaults filled in)`` for a
    transformation returned by a public constructor, else ``None`` (for example
    after wrapping it in an optax combinator)."""
    try:
        return _BUILT.get(tx.update)
    except (AttributeError, TypeError):
        return None


def _looks_like_params(x: Any) -> bool:
    """``x`` is a pytree of arrays or an array of rank >= 1 (a model's params, or
    torch's ``model.parameters()``), not a learning rate or a schedule."""
    if callable(x) or x is None or isinstance(x, (numbers.Number, str, np.generic)):
        return False
    if isinstance(x, (jax.Array, np.ndarray)):
        return np.ndim(x) > 0
    if isinstance(x, (Mapping, list, tuple, types.GeneratorType)):
        return True
    return jax.tree.structure(x).num_nodes > 1  # a registered pytree node (nnx.State)


def _params_first_error(f: Callable[..., Any], lr: str, params: Any) -> TypeError:
    """torch's habit ``torch.optim.Adam(model.parameters(), lr=...)``: optax
    transformations take the params at ``init``, not at construction."""
    public = _public_path(f.__name__, f.__module__)
    got = (f"an array of shape {tuple(np.shape(params))}"
           if isinstance(params, (jax.Array, np.ndarray)) else f"a {type(params).__name__}")
    return TypeError(
        f"{f.__name__}: the first argument is {lr}, got {got} (params?); "
        f"optax optimizers take the params at init, not here: "
        f"tx = {public}({lr}=...); state = tx.init(params)"
    )


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


def _public_path(name: str, module: str) -> str:
    """Where the public constructor ``name`` defined in ``module`` is reached from:
    the shortest ``optzoo...`` package path that exports it (``optzoo.muon``,
    ``optzoo.pytorch.Muon``)."""
    parts = module.split(".")
    for k in range(1, len(parts) + 1):
        package = sys.modules.get(".".join(parts[:k]))
        if package is not None and name in getattr(package, "__all__", ()):
            return f"{package.__name__}.{name}"
    return f"{module}.{name}"


def _is_array(value: Any) -> bool:
    return isinstance(value, (jax.Array, jax.core.Tracer))


def _structural_error(fn: str, name: str, what: str) -> ValueError:
    """The message for an integer or bool argument that arrived as a JAX array:
    ``optax.inject_hyperparams`` turns every number it is given (or a default it
    fills in) into one unless ``static_args`` lists it, and such an argument fixes
    a shape, a loop count or the chain itself, so it cannot be traced."""
    current = _OWNER.get()
    public = _public_path(current[0], current[2]) if current else fn
    spelled = _spelled(name)
    return ValueError(
        f"{owner(fn)}: {spelled} is structural ({what}); pass it in "
        f'optax.inject_hyperparams({public}, static_args=("{spelled}",))'
    )


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
    if isinstance(value, bool) or not is_concrete(value) or np.iscomplexobj(value):
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
    """``value`` is an integer in ``[low, high]``, known now: a JAX array (what
    ``optax.inject_hyperparams`` makes of an integer not in ``static_args``) is
    refused with :func:`_structural_error`'s message."""
    if _is_array(value):
        raise _structural_error(fn, name, "an integer")
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
    """``value`` is a Python or NumPy bool (a JAX array is refused with
    :func:`_structural_error`'s message)."""
    if _is_array(value):
        raise _structural_error(fn, name, "a bool")
    if not isinstance(value, (bool, np.bool_)):
        raise _type_error(fn, name, "a bool", value)


def check_static(fn: str, name: str, value: Any, what: str) -> None:
    """``value`` is not a JAX array: it is structural (``what``: ``"a bool or a
    mask"``), refused with :func:`_structural_error`'s message when
    ``optax.inject_hyperparams`` made it one."""
    if _is_array(value):
        raise _structural_error(fn, name, what)


def check_dtype(fn: str, name: str, value: Any) -> None:
    """``value`` is ``None`` or something ``jnp.dtype`` accepts. A JAX array (what
    ``optax.inject_hyperparams`` makes of a dtype such as ``jnp.bfloat16``, which it
    takes for a schedule unless ``static_args`` lists it) is refused with
    :func:`_structural_error`'s message."""
    if _is_array(value):
        raise _structural_error(fn, name, "a dtype")
    if value is None:
        return
    try:
        np.dtype(jax.numpy.dtype(value))
    except TypeError:
        raise _type_error(fn, name, "a dtype or None", value) from None


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



# ---------------------------------------------------------------- update-time checks
_MAX_SPECS = 16  # distinct param layouts remembered per tree structure


def _leaf_spec(x: Any) -> tuple[tuple[int, ...], Any]:
    dtype = getattr(x, "dtype", None)
    return tuple(np.shape(x)), None if dtype is None else np.dtype(dtype)


def _where(path: Any) -> str:
    at = jax.tree_util.keystr(path)
    return f"the gradient at {at}" if at else "the gradient"


def _floating(dtype: Any) -> bool:
    return dtype is None or jax.dtypes.issubdtype(dtype, np.floating)


def _is_complex(dtype: Any) -> bool:
    return dtype is not None and jax.dtypes.issubdtype(dtype, np.complexfloating)


def _check_dtypes(fn: str, updates: Any, complex_ok: bool = False) -> None:
    ok = (lambda d: _floating(d) or _is_complex(d)) if complex_ok else _floating
    if all(ok(getattr(g, "dtype", None)) for g in jax.tree.leaves(updates)):
        return  # the common case, without building the leaves' paths
    for path, g in jax.tree_util.tree_flatten_with_path(updates)[0]:
        dtype = getattr(g, "dtype", None)
        if ok(dtype):
            continue
        if _is_complex(dtype):
            raise ComplexDtypeError(
                f"{fn}: {_where(path)} has dtype {np.dtype(dtype).name}: {fn} does not "
                f"support complex gradients ({_COMPLEX_OK}; or split the real and "
                "imaginary parts into separate real params)"
            )
        raise ValueError(
            f"{fn}: {_where(path)} has dtype {np.dtype(dtype).name}: gradients must "
            "be real floating point (take them with respect to float params)"
        )


def _refuse_complex_params(fn: str, params: Any) -> None:
    """At ``init`` of an optimizer that does not take complex params."""
    for path, p in jax.tree_util.tree_flatten_with_path(params)[0]:
        if _is_complex(getattr(p, "dtype", None)):
            at = jax.tree_util.keystr(path)
            raise ComplexDtypeError(
                f"{fn}: the param{' at ' + at if at else ''} has dtype "
                f"{np.dtype(p.dtype).name}: {fn} does not support complex params "
                f"({_COMPLEX_OK}; or split the real and imaginary parts into separate "
                "real params)"
            )


def _check_complex_match(fn: str, updates: Any, reference: Any) -> None:
    """A complex gradient for each complex param and a real one for each real param
    (``reference``: the params, or the ``(shape, dtype)`` pairs ``init`` saw)."""
    kinds = [_is_complex(r[1] if _is_spec(r) else getattr(r, "dtype", None))
             for r in jax.tree.leaves(reference, is_leaf=_is_spec)]
    if kinds == [_is_complex(getattr(g, "dtype", None)) for g in jax.tree.leaves(updates)]:
        return  # the common case, without building the leaves' paths
    for (path, g), r in zip(jax.tree_util.tree_flatten_with_path(updates)[0],
                            jax.tree.leaves(reference, is_leaf=_is_spec)):
        dtype = r[1] if _is_spec(r) else getattr(r, "dtype", None)
        if dtype is None or _is_complex(getattr(g, "dtype", None)) == _is_complex(dtype):
            continue
        if _is_complex(dtype):
            raise ComplexDtypeError(
                f"{fn}: {_where(path)} has dtype {_dtype_name(g)} but its param has dtype "
                f"{_dtype_name(dtype)}: complex params take complex gradients")
        raise ComplexDtypeError(
            f"{fn}: {_where(path)} has dtype {_dtype_name(g)}: {fn} does not support complex "
            f"gradients for real params (its param has dtype {_dtype_name(dtype)})")


def _check_shapes(fn: str, updates: Any, reference: Any, what: str) -> None:
    """Each gradient leaf against the shape of its counterpart in ``reference`` (a
    pytree of arrays, or of ``(shape, dtype)`` pairs recorded at ``init``)."""
    references = jax.tree.leaves(reference, is_leaf=_is_spec)
    if all(np.shape(g) == (r[0] if _is_spec(r) else np.shape(r))
           for g, r in zip(jax.tree.leaves(updates), references)):
        return  # the common case, without building the leaves' paths
    for (path, g), r in zip(jax.tree_util.tree_flatten_with_path(updates)[0],
                            jax.tree.leaves(reference, is_leaf=_is_spec)):
        shape, dtype = r if _is_spec(r) else _leaf_spec(r)
        if tuple(np.shape(g)) != shape:
            raise ValueError(
                f"{fn}: {_where(path)} has shape {tuple(np.shape(g))} ({_dtype_name(g)}) "
                f"but its param has shape {shape} ({_dtype_name(dtype)}, {what}); "
                "gradients must have their param's shape (nothing is broadcast)"
            )


def _is_spec(x: Any) -> bool:
    return isinstance(x, _Spec)


class _Spec(tuple):
    """A leaf's ``(shape, dtype)`` as recorded at ``init``."""


def _dtype_name(x: Any) -> str:
    dtype = x if x is None or isinstance(x, np.dtype) else getattr(x, "dtype", None)
    return "no dtype" if dtype is None else np.dtype(dtype).name


def _buffer_key(x: Any) -> int | None:
    """The device buffer behind a concrete, non-empty array (two array objects may
    share one: ``device_put`` of an array already in place), the object itself when
    it spans several devices; ``None`` for anything else."""
    if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer) or not x.size:
        return None
    try:
        return x.unsafe_buffer_pointer()
    except Exception:  # sharded over several devices, deleted, or not addressable
        return id(x)


def own_buffers(params: Any, state: Any) -> Any:
    """``state`` with a copy of each array whose device buffer is a param's or appears
    earlier in the state (an optimizer keeping the params as an anchor, one zero
    counter used twice). XLA donates a buffer once per call, so
    ``jax.jit(step, donate_argnums=(0, 1))`` needs a state that owns its buffers.
    Traced arrays (``init`` under ``jit``) are left as they are."""
    import jax.numpy as jnp  # noqa: PLC0415

    seen = {k for k in map(_buffer_key, jax.tree.leaves(params)) if k is not None}

    def fresh(x):
        key = _buffer_key(x)
        if key is None:
            return x
        if key in seen:
            return jnp.array(x, copy=True)
        seen.add(key)
        return x

    return jax.tree.map(fresh, state)


def checked_updates(fn: str, tx: Any, complex_ok: bool = False) -> Any:
    """``tx`` (a transformation; anything else is returned as it is) whose
    ``init`` returns a state that owns its buffers (:func:`own_buffers`) and whose
    ``update`` first checks, at trace time, that the gradients are real floating
    point and that each has the shape of its param: the ``params`` passed to
    ``update`` when given, else the params ``init`` last saw with the same tree
    structure (their shapes and dtypes are remembered in this closure, the state
    pytree is unchanged). Structure mismatches are left to the optimizer's own
    message. Complex params are refused at ``init`` and complex gradients at
    ``update`` (:class:`ComplexDtypeError`) unless ``complex_ok``; with it, each
    gradient leaf must be complex exactly where its param is. The checks read
    static shapes and dtypes only: nothing is added to the compiled update. The returned type is ``tx``'s.
    """
    import optax  # noqa: PLC0415  (optax imports nothing from here; kept local for start-up)

    kind = type(tx)
    if kind not in (optax.GradientTransformation, optax.GradientTransformationExtraArgs):
        return tx
    seen: dict[Any, list[tuple[_Spec, ...]]] = {}

    def init(params):
        leaves, treedef = jax.tree.flatten(params)
        if not complex_ok and any(_is_complex(getattr(x, "dtype", None)) for x in leaves):
            _refuse_complex_params(fn, params)
        specs = seen.setdefault(treedef, [])
        spec = tuple(_Spec(_leaf_spec(x)) for x in leaves)
        if spec in specs:
            specs.remove(spec)
        specs.append(spec)
        del specs[:-_MAX_SPECS]
        return own_buffers(params, tx.init(params))

    def update(updates, state, params=None, **extra):
        _check_dtypes(fn, updates, complex_ok)
        leaves, treedef = jax.tree.flatten(updates)
        reference = None
        if params is not None:
            if jax.tree.structure(params) == treedef:
                _check_shapes(fn, updates, params, "from params")
                reference = params
        elif treedef in seen:
            shapes = tuple(tuple(np.shape(x)) for x in leaves)
            specs = seen[treedef]
            matching = [spec for spec in specs if shapes == tuple(s[0] for s in spec)]
            if not matching:
                _check_shapes(fn, updates, jax.tree.unflatten(treedef, specs[-1]),
                              "as init saw it")
            reference = jax.tree.unflatten(treedef, matching[-1])
        if complex_ok and reference is not None:
            _check_complex_match(fn, updates, reference)
        return tx.update(updates, state, params, **extra)

    return kind(init, update)
