"""Parity tests record the largest error they saw per class and configuration.

With ``OPTZOO_PARITY_JSON=path`` set, the records are written there at the end of
the session; ``python -m tests.parity.report`` turns them into ``docs/parity.md``.
"""

from __future__ import annotations

import json
import os

import pytest

_RECORDS: list[dict] = []


@pytest.fixture
def record_parity():
    """``record_parity(framework, name, config, max_rel_err, steps)``: remember one result."""

    def record(framework: str, name: str, config: str, max_rel_err: float, steps: int) -> None:
        _RECORDS.append(
            {
                "framework": framework,
                "name": name,
                "config": config,
                "max_rel_err": float(max_rel_err),
                "steps": int(steps),
            }
        )

    return record


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("OPTZOO_PARITY_JSON")
    if path and _RECORDS:
        existing = []
        if os.path.exists(path):
            with open(path) as f:
                existing = json.load(f)
        with open(path, "w") as f:
            json.dump(existing + _RECORDS, f, indent=1)
