"""Parity tests record the largest error they saw per class and configuration.

With ``OPTZOO_PARITY_JSON=path`` set, the records are written there at the end of
the session, failing ones included; ``python -m tests.parity.report`` turns them into
``docs/parity.md`` and ``optzoo/parity.json`` when the whole run passed.
"""

from __future__ import annotations

import json
import os

import pytest

_RECORDS: list[dict] = []


@pytest.fixture
def record_parity(request):
    """``record_parity(framework, name, config, max_rel_err, steps)``: remember one result,
    with the id of the test that measured it.

    Call it before asserting on the error: a configuration that fails keeps its row
    (the report then refuses to write, see ``report.py``), and every parity test
    must have a row in ``optzoo/parity.json``
    (``test_torch_optim.py::test_every_parity_test_has_a_row_in_the_record``)."""

    def record(framework: str, name: str, config: str, max_rel_err: float, steps: int) -> None:
        _RECORDS.append(
            {
                "framework": framework,
                "name": name,
                "config": config,
                "max_rel_err": float(max_rel_err),
                "steps": int(steps),
                "test": request.node.nodeid,
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
