"""The rows of ``optzoo list``: one per optimizer and per schedule, read from
:mod:`optzoo.registry` and the parity record shipped with the package.

Each row gives the family, the reference, the framework flavors (the PyTorch and
Keras classes that reproduce the same algorithm) and whether they are
parity-verified (worst float64 error at most ``registry.PARITY_TOLERANCE``).
"""

from __future__ import annotations

from typing import NamedTuple

from optzoo import registry

__all__ = ["CatalogRow", "optimizer_rows", "schedule_rows", "optimizer_names", "parity_record"]

parity_record = registry.parity_record


class CatalogRow(NamedTuple):
    kind: str  # "optimizer", "wrapper", "schedule" or "transformation"
    name: str
    family: str
    reference: str
    flavors: str  # e.g. "torch.Adam ✓, keras.Adam ✓"
    verified: str  # "yes", "partly", "no" or "n/a" (no framework flavor)


def optimizer_names() -> list[str]:
    """Every optimizer of the registry, sorted by name."""
    return sorted(r.name for r in registry.records("optimizer"))


def _row(record: registry.Record, parity) -> CatalogRow:
    parts, checks = [], []
    for c in record.counterparts:
        if c.flavor is None:
            continue
        ok = registry._parity_fields(c.library, c.flavor, parity)["verified"]
        parts.append(f"{c.library}.{c.flavor}" + (" ✓" if ok else ""))
        checks.append(ok)
    verified = "n/a" if not checks else "yes" if all(checks) else "partly" if any(checks) else "no"
    reference = record.reference + (f" ({record.year})" if record.year and
                                    str(record.year) not in record.reference else "")
    return CatalogRow(record.kind, record.name, record.family, reference,
                      ", ".join(parts) or "-", verified)


def optimizer_rows(record: dict | None = None) -> list[CatalogRow]:
    """One row per optimizer and wrapper, sorted by name."""
    parity = registry.parity_record() if record is None else record
    rows = [_row(r, parity) for r in registry.records() if r.kind in ("optimizer", "wrapper")]
    return sorted(rows, key=lambda r: r.name)


def schedule_rows(record: dict | None = None) -> list[CatalogRow]:
    """One row per schedule (and the plateau transformation), in the registry's order."""
    parity = registry.parity_record() if record is None else record
    return [_row(r, parity) for r in registry.records()
            if r.kind in ("schedule", "transformation")]
