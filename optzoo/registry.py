"""One record per optimizer, wrapper and schedule, declared next to its definition.

A public constructor registers itself with :func:`register`::

    @registry.register(
        family="adam", reference="Kingma & Ba 2015", year=2015,
        counterparts=(registry.torch("Adam"), registry.keras("Adam", "folds the bias
                      corrections into the step size, which moves eps"), registry.optax("adam")),
        ranges={"b1": "[0, 1)", "b2": "[0, 1)", "eps": "[0, inf)"},
        examples={"": dict(learning_rate=0.02, b1=0.8)},
    )
    @v.named
    def adam(learning_rate=1e-3, b1=0.9, ...): ...

and everything that lists the zoo reads the records: ``optzoo.<name>`` itself (the
package exports every registered constructor), ``optzoo.info(name)``, ``optzoo list``
(and ``--json``), the README's zoo tables, the validation tests (each declared range
is probed just outside its bounds) and the property tests (each example is a case).
Adding an optimizer is one module under :mod:`optzoo.transforms` (math, public
constructor, registration; the package imports every module there) and its tests.

The parity record (which configurations of each framework flavor were run against
the real library, and the worst relative error) is package data, ``parity.json``
beside this module, written by ``python -m tests.parity.report``.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
from collections.abc import Callable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "Counterpart",
    "Record",
    "Flavor",
    "PARITY_TOLERANCE",
    "register",
    "torch",
    "keras",
    "optax",
    "records",
    "info",
    "flavors",
    "parity_record",
    "parity_fields",
]

PARITY_TOLERANCE = 1e-10  # float64 bound of the design contract

KINDS = ("optimizer", "wrapper", "schedule", "transformation")

_FLAVOR_MODULES = {"torch": "optzoo.pytorch", "keras": "optzoo.keras"}


@dataclasses.dataclass(frozen=True)
class Counterpart:
    """The same algorithm in another library.

    ``library``: ``"torch"``, ``"keras"``, ``"optax"`` or ``"reference"`` (a
    published implementation, :func:`reference`). ``name``: its name there
    (``"torch.optim.Adam"``). ``flavor``: the optzoo class that reproduces it number
    for number (``"Adam"`` in ``optzoo.pytorch``; for a reference, its parity key
    ``"<package>.<cls>"``, reproduced by the core constructor), or ``None``. ``differences``: how
    the core optimizer differs from it; empty when they are equal.
    """

    library: str
    name: str
    flavor: str | None = None
    differences: str = ""


def torch(cls: str, differences: str = "", *, name: str | None = None) -> Counterpart:
    """``torch.optim.<cls>`` (``lr_scheduler.X`` for a scheduler; ``name`` when it
    lives elsewhere in torch), reproduced by ``optzoo.pytorch.<cls>``."""
    return Counterpart("torch", name or f"torch.optim.{cls}", cls, differences)


def keras(cls: str, differences: str = "") -> Counterpart:
    """``keras.optimizers.<cls>`` (``schedules.X`` for a schedule), reproduced by
    ``optzoo.keras.<cls>``."""
    return Counterpart("keras", f"keras.optimizers.{cls}", cls, differences)


def reference(package: str, cls: str, differences: str = "") -> Counterpart:
    """``cls`` of the PyPI package ``package``: the implementation that the authors of
    an algorithm, or the field, publish (pinned in the ``test`` extra). optzoo's core
    constructor itself reproduces it, checked step by step; the parity record keys
    it ``("reference", "<package>.<cls>")``."""
    return Counterpart("reference", f"{package}.{cls}", f"{package}.{cls}", differences)


def optax(name: str, differences: str = "") -> Counterpart:
    """``optax.<name>`` (optax has no flavor: its core semantics are compared in tests)."""
    return Counterpart("optax", f"optax.{name}", None, differences)


@dataclasses.dataclass(frozen=True)
class Record:
    """Everything optzoo knows about one public constructor.

    ``examples`` maps a variant label (``""`` for the main one) to keyword arguments
    with non-default values (or a function returning them), which the property tests
    run; ``extra_args`` names the
    update's extra keyword arguments (``value``, ``grad``, ``value_fn``);
    ``ranges`` maps an argument to its valid interval as the error message writes it
    (``"[0, 1)"``); ``formula`` is a one-line summary (schedules).
    """

    name: str
    kind: str
    family: str
    reference: str
    year: int | None
    constructor: Callable[..., Any]
    counterparts: tuple[Counterpart, ...] = ()
    ranges: Mapping[str, str] = dataclasses.field(default_factory=dict)
    examples: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    extra_args: tuple[str, ...] = ()
    formula: str = ""
    summary: str = ""

    @property
    def module(self) -> str:
        return self.constructor.__module__

    @property
    def defaults(self) -> dict[str, Any]:
        """Keyword defaults of the constructor (arguments without one are left out)."""
        sig = inspect.signature(self.constructor)
        return {k: p.default for k, p in sig.parameters.items()
                if p.default is not inspect.Parameter.empty}

    def counterpart(self, library: str) -> Counterpart | None:
        return next((c for c in self.counterparts if c.library == library), None)

    def example_kwargs(self, variant: str = "") -> dict[str, Any]:
        """The example's keyword arguments (an example given as a function, for
        arguments that must be built when used, is called)."""
        kw = self.examples[variant]
        return dict(kw() if callable(kw) else kw)

    def example(self, variant: str = ""):
        """The constructor called with the example's arguments (positional ones, for a
        constructor such as ``product(*schedules)``, under the key ``"*args"``)."""
        kw = self.example_kwargs(variant)
        return self.constructor(*kw.pop("*args", ()), **kw)

    def to_json(self, parity: Mapping[tuple[str, str], Mapping[str, Any]] | None = None) -> dict:
        parity = parity_record() if parity is None else parity
        out = {
            "name": self.name,
            "kind": self.kind,
            "family": self.family,
            "reference": self.reference,
            "year": self.year,
            "summary": self.summary,
            "module": self.module,
            "defaults": {k: _jsonable(v) for k, v in self.defaults.items()},
            "ranges": dict(self.ranges),
            "extra_args": list(self.extra_args),
            "counterparts": [],
        }
        if self.formula:
            out["formula"] = self.formula
        for c in self.counterparts:
            row = dataclasses.asdict(c)
            if c.flavor is not None:
                row.update(parity_fields(c.library, c.flavor, parity))
            out["counterparts"].append(row)
        return out


_RECORDS: dict[str, Record] = {}


def register(
    *,
    family: str,
    reference: str,
    year: int | None = None,
    kind: str = "optimizer",
    counterparts: tuple[Counterpart, ...] = (),
    ranges: Mapping[str, str] | None = None,
    examples: Mapping[str, Mapping[str, Any]] | None = None,
    extra_args: tuple[str, ...] = (),
    formula: str = "",
    name: str | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the decorated public constructor in the registry; returns it unchanged.

    ``name`` defaults to the function's name. Registering a name twice with
    different constructors is an error (two modules claiming one optimizer).
    """
    if kind not in KINDS:
        raise ValueError(f"register: kind must be one of {KINDS}, got {kind!r}")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        key = name or fn.__name__
        old = _RECORDS.get(key)
        if old is not None and (old.constructor.__module__, old.constructor.__qualname__) != (
            fn.__module__, fn.__qualname__
        ):
            raise ValueError(
                f"register: {key!r} is already registered by {old.module}; "
                f"{fn.__module__} registers it again"
            )
        doc = inspect.getdoc(fn) or ""
        _RECORDS[key] = Record(
            name=key, kind=kind, family=family, reference=reference, year=year,
            constructor=fn, counterparts=tuple(counterparts), ranges=dict(ranges or {}),
            examples=dict(examples or {"": {}}), extra_args=tuple(extra_args),
            formula=formula, summary=doc.splitlines()[0].rstrip(".:") if doc else "",
        )
        return fn

    return decorate


_EXPORTS: dict[str, Callable[..., Any]] = {}


def export(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Export a public helper of an optimizer's module (one that reads its state,
    such as :func:`optzoo.swa_params`) as ``optzoo.<name>``; returns it unchanged."""
    _EXPORTS[fn.__name__] = fn
    return fn


def exports() -> dict[str, Callable[..., Any]]:
    """The helpers declared with :func:`export`, by name."""
    _load()
    return dict(_EXPORTS)


def _load() -> None:
    """Import every module that registers something."""
    importlib.import_module("optzoo")


def records(kind: str | None = None) -> list[Record]:
    """Every record (of one ``kind``), in registration order."""
    _load()
    return [r for r in _RECORDS.values() if kind is None or r.kind == kind]


def info(name: str) -> Record:
    """The record of ``name`` (``optzoo.info("adam")``)."""
    _load()
    try:
        return _RECORDS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_RECORDS), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise KeyError(f"info: no optimizer, wrapper or schedule named {name!r}{hint}") from None


# ----------------------------------------------------------------------------- parity


@lru_cache(maxsize=1)
def _parity_rows() -> tuple[dict, ...]:
    try:
        text = resources.files("optzoo").joinpath("parity.json").read_text()
    except FileNotFoundError:
        return ()
    return tuple(json.loads(text)["records"])


def parity_record() -> dict[tuple[str, str], dict[str, Any]]:
    """``{(framework, class): {"worst_error", "configurations", "steps"}}`` from the
    parity record shipped with the package (empty when it is absent)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for r in _parity_rows():
        key = (r["framework"], r["name"])
        row = out.setdefault(key, {"worst_error": 0.0, "configurations": 0, "steps": 0})
        err = float(r["max_rel_err"])
        row["worst_error"] = err if math.isnan(err) else max(row["worst_error"], err)
        row["configurations"] += 1
        row["steps"] = max(row["steps"], int(r["steps"]))
    return out


def parity_fields(library: str, cls: str, parity) -> dict[str, Any]:
    """``verified``, ``worst_error`` and ``configurations`` of one flavor class."""
    row = parity.get((library, cls))
    if row is None:
        return {"verified": False, "worst_error": None, "configurations": 0}
    err = row["worst_error"]
    return {"verified": bool(err <= PARITY_TOLERANCE), "worst_error": err,
            "configurations": row["configurations"]}


# ----------------------------------------------------------------------------- flavors


@dataclasses.dataclass(frozen=True)
class Flavor:
    """One class of ``optzoo.pytorch`` or ``optzoo.keras`` (``name`` as the parity
    record keys it: ``"Adam"``, ``"lr_scheduler.StepLR"``, ``"schedules.CosineDecay"``)
    and the core records that name it as a counterpart."""

    framework: str
    name: str
    core: tuple[str, ...]

    @property
    def qualname(self) -> str:
        return f"{_FLAVOR_MODULES[self.framework]}.{self.name}"

    def to_json(self, parity=None) -> dict:
        parity = parity_record() if parity is None else parity
        return {"framework": self.framework, "name": self.name, "qualname": self.qualname,
                "core": list(self.core), **parity_fields(self.framework, self.name, parity)}


def flavors() -> list[Flavor]:
    """Every class of the framework flavors: the capitalised public names of
    ``optzoo.pytorch`` (and its ``lr_scheduler``) and ``optzoo.keras`` (and its
    ``schedules``), less states and base classes, plus the functions the parity
    record checks (``clip_grad_norm``). ``LRSchedule`` is the type of the torch
    schedules, not a scheduler."""
    _load()
    parity = parity_record()
    core: dict[tuple[str, str], list[str]] = {}
    for r in _RECORDS.values():
        for c in r.counterparts:
            if c.flavor is not None:
                core.setdefault((c.library, c.flavor), []).append(r.name)
    out = []
    for framework, modname in _FLAVOR_MODULES.items():
        for sub in ("", "lr_scheduler", "swa_utils", "schedules"):
            try:
                mod = importlib.import_module(f"{modname}.{sub}" if sub else modname)
            except ImportError:
                continue
            for attr in getattr(mod, "__all__", ()):
                obj = getattr(mod, attr)
                name = f"{sub}.{attr}" if sub else attr
                is_class_like = (attr[:1].isupper() and callable(obj)
                                 and not attr.endswith("State") and attr != "LRSchedule")
                if is_class_like or (framework, name) in parity:
                    out.append(Flavor(framework, name, tuple(core.get((framework, name), ()))))
    return out


def _jsonable(x: Any) -> Any:
    if x is None or isinstance(x, (bool, int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if isinstance(x, (tuple, list)):
        return [_jsonable(y) for y in x]
    if callable(x):
        return getattr(x, "__name__", repr(x))
    return repr(x)
