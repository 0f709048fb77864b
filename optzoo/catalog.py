"""What optzoo holds: one row per optimizer and per schedule, for ``optzoo list``.

Each row gives the family, the reference, the framework flavors (the PyTorch and
Keras class of the same algorithm, when ``optzoo.pytorch`` / ``optzoo.keras``
provide it) and whether that flavor is parity-verified: listed in
``docs/parity.md``, the record written by ``python -m tests.parity.report``, with
an error below the float64 tolerance.

Optimizers are discovered from ``optzoo.__all__`` (every public constructor
returning a gradient transformation, outside clipping and wrappers), so a new
optimizer appears here without editing this file; the table below only adds its
family and reference when the docstring alone would not say them well.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["CatalogRow", "optimizer_rows", "schedule_rows", "optimizer_names", "parity_record"]

PARITY_TOLERANCE = 1e-10  # float64 bound from the design contract

# name -> (family, reference, pytorch class, keras class)
_OPTIMIZERS: dict[str, tuple[str, str, str | None, str | None]] = {
    "sgd": ("sgd", "Robbins & Monro 1951", "SGD", "SGD"),
    "momentum": ("sgd", "Polyak 1964", "SGD", "SGD"),
    "nag": ("sgd", "Nesterov 1983; Sutskever et al. 2013", "SGD", "SGD"),
    "adagrad": ("adaptive", "Duchi, Hazan & Singer 2011", "Adagrad", "Adagrad"),
    "adadelta": ("adaptive", "Zeiler 2012", "Adadelta", "Adadelta"),
    "rmsprop": ("adaptive", "Hinton 2012 (lecture 6e)", "RMSprop", "RMSprop"),
    "adam": ("adam", "Kingma & Ba 2015", "Adam", "Adam"),
    "adamw": ("adam", "Loshchilov & Hutter 2019", "AdamW", "AdamW"),
    "adamax": ("adam", "Kingma & Ba 2015, sec. 7.1", "Adamax", "Adamax"),
    "nadam": ("adam", "Dozat 2016", "NAdam", "Nadam"),
    "amsgrad": ("adam", "Reddi, Kale & Kumar 2018", "Adam", "Adam"),
    "radam": ("adam", "Liu et al. 2020", "RAdam", None),
    "lars": ("trust ratio", "You, Gitman & Ginsburg 2017", None, None),
    "lamb": ("trust ratio", "You et al. 2020", None, "Lamb"),
    "rprop": ("sign", "Riedmiller & Braun 1993", "Rprop", None),
    "lion": ("sign", "Chen et al. 2023", None, "Lion"),
    "signsgd": ("sign", "Bernstein et al. 2018", None, None),
    "adafactor": ("factored", "Shazeer & Stern 2018", "Adafactor", "Adafactor"),
    "asgd": ("averaging", "Polyak & Juditsky 1992", "ASGD", None),
    "ftrl": ("ftrl", "McMahan et al. 2013", None, "Ftrl"),
    "sparse_adam": ("lazy", "Kingma & Ba 2015 (lazy variant)", "SparseAdam", None),
    "lbfgs": ("second order", "Liu & Nocedal 1989", "LBFGS", None),
    "newton": ("second order", "Newton's method", None, None),
    "muon": ("orthogonal", "Jordan et al. 2024", None, "Muon"),
}

# schedule name -> (pytorch scheduler, keras schedule)
_SCHEDULE_FLAVORS: dict[str, tuple[str | None, str | None]] = {
    "constant": ("ConstantLR", None),
    "piecewise_constant": (None, "PiecewiseConstantDecay"),
    "step_decay": ("StepLR", None),
    "multistep_decay": ("MultiStepLR", None),
    "exponential_decay": ("ExponentialLR", "ExponentialDecay"),
    "inverse_time_decay": (None, "InverseTimeDecay"),
    "polynomial_decay": ("PolynomialLR", "PolynomialDecay"),
    "linear": ("LinearLR", None),
    "cosine_decay": ("CosineAnnealingLR", "CosineDecay"),
    "cosine_restarts": ("CosineAnnealingWarmRestarts", "CosineDecayRestarts"),
    "cyclic": ("CyclicLR", None),
    "one_cycle": ("OneCycleLR", None),
    "join": ("SequentialLR", None),
    "product": ("ChainedScheduler", None),
    "reduce_on_plateau": ("ReduceLROnPlateau", None),
}

_NOT_OPTIMIZERS = {"optzoo.transforms.clipping", "optzoo.wrappers", "optzoo.transforms.monitor", "optzoo.train"}


class CatalogRow(NamedTuple):
    kind: str  # "optimizer" or "schedule"
    name: str
    family: str
    reference: str
    flavors: str  # e.g. "torch.Adam ✓, keras.Adam"
    verified: str  # "yes", "partly", "no" or "n/a" (no framework flavor)


def optimizer_names() -> list[str]:
    """Every optimizer constructor exported by ``optzoo``, sorted by name."""
    import optzoo

    names = []
    for name in getattr(optzoo, "__all__", []):
        obj = getattr(optzoo, name, None)
        if not inspect.isfunction(obj) or obj.__module__ in _NOT_OPTIMIZERS:
            continue
        ret = str(getattr(obj, "__annotations__", {}).get("return", ""))
        if "GradientTransformation" in ret:
            names.append(name)
    return sorted(names)


def parity_record(path: str | Path | None = None) -> dict[tuple[str, str], float]:
    """``{(framework, class): worst relative error}`` from ``docs/parity.md`` ({} if absent)."""
    if path is None:
        path = Path(__file__).resolve().parents[1] / "docs" / "parity.md"
    path = Path(path)
    if not path.exists():
        return {}
    worst: dict[tuple[str, str], float] = {}
    row = re.compile(r"^\|\s*(\w+)\s*\|\s*`?([\w.]+)`?\s*\|.*\|\s*([0-9.eE+-]+|nan|inf)\s*\|\s*$")
    for line in path.read_text().splitlines():
        m = row.match(line)
        if not m:
            continue
        try:
            err = float(m.group(3))
        except ValueError:
            continue
        key = (m.group(1).lower(), m.group(2))
        worst[key] = max(worst.get(key, 0.0), err)
    return worst


def _flavor_cells(torch_cls, keras_cls, record) -> tuple[str, str]:
    import optzoo

    parts, checks = [], []
    for framework, module, cls in (("pytorch", "pytorch", torch_cls), ("keras", "keras", keras_cls)):
        if cls is None:
            continue
        mod = getattr(optzoo, module, None)
        sub = getattr(mod, "lr_scheduler", None) if framework == "pytorch" else getattr(mod, "schedules", None)
        if not (hasattr(mod, cls) or (sub is not None and hasattr(sub, cls))):
            continue
        err = record.get((framework, cls))
        ok = err is not None and err <= PARITY_TOLERANCE
        prefix = "torch" if framework == "pytorch" else "keras"
        parts.append(f"{prefix}.{cls}" + (" ✓" if ok else ""))
        checks.append(ok)
    if not checks:
        return "-", "n/a"
    verified = "yes" if all(checks) else ("partly" if any(checks) else "no")
    return ", ".join(parts), verified


def _first_line(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.splitlines()[0].rstrip(".") if doc else ""


def optimizer_rows(record: dict | None = None) -> list[CatalogRow]:
    """One row per optimizer."""
    import optzoo

    record = parity_record() if record is None else record
    rows = []
    for name in optimizer_names():
        fn = getattr(optzoo, name)
        family, reference, torch_cls, keras_cls = _OPTIMIZERS.get(
            name, (fn.__module__.rsplit(".", 1)[-1], _first_line(fn), None, None)
        )
        flavors, verified = _flavor_cells(torch_cls, keras_cls, record)
        rows.append(CatalogRow("optimizer", name, family, reference, flavors, verified))
    return rows


def schedule_rows(record: dict | None = None) -> list[CatalogRow]:
    """One row per schedule in ``optzoo.schedules.registry`` (empty if it is absent)."""
    record = parity_record() if record is None else record
    try:
        from optzoo.schedules import registry
    except ImportError:
        return []
    entries = dict(registry.SCHEDULES)
    entries.update(getattr(registry, "TRANSFORMATIONS", {}))
    rows = []
    for name, info in entries.items():
        torch_cls, keras_cls = _SCHEDULE_FLAVORS.get(name, (None, None))
        flavors, verified = _flavor_cells(torch_cls, keras_cls, record)
        rows.append(CatalogRow("schedule", name, info.family, info.reference, flavors, verified))
    return rows
