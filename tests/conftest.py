"""Test-wide settings. Keras must see its backend before it is first imported.

Skips. Every test dependency is pinned by the ``[test]`` extra and imported outright,
so a skipped test means a broken install or a test that silently stopped running.
With ``OPTZOO_STRICT_SKIPS=1`` (``.ci/run`` sets it) any skip fails its test (a skip
while collecting a module fails the collection) unless ``SKIPS_ALLOWED`` names the
test with the reason its skip is expected. Expected failures (``xfail``) are not skips.
"""

from __future__ import annotations

import os

import pytest

# The Keras flavors are checked against Keras running on JAX, the only backend whose
# stateless optimizer API takes JAX arrays; Keras reads this once, at its first import.
os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

# node id (a test, a parametrized test without its brackets, or a file) -> why it may
# skip. Empty: nothing in the suite is expected to skip.
SKIPS_ALLOWED: dict[str, str] = {}


def strict_skips() -> bool:
    return os.environ.get("OPTZOO_STRICT_SKIPS", "") not in ("", "0")


def skip_allowed(nodeid: str) -> bool:
    return any(nodeid == key or nodeid.startswith((key + "[", key + "::"))
               for key in SKIPS_ALLOWED)


def _reason(longrepr) -> str:
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, line, "Skipped: why")
        return f"{longrepr[2]} ({longrepr[0]}:{longrepr[1]})"
    return str(longrepr)


def _fail_unexpected_skip(report) -> None:
    if (report.skipped and not hasattr(report, "wasxfail") and strict_skips()
            and not skip_allowed(report.nodeid)):
        report.outcome = "failed"
        report.longrepr = (f"unexpected skip: {_reason(report.longrepr)}\n"
                           "(OPTZOO_STRICT_SKIPS is set: fix the cause, or add the test to "
                           "SKIPS_ALLOWED in tests/conftest.py with the reason)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())



# A worker compiles thousands of programs over a run and JAX keeps every executable in
# its caches: one worker of the slow run passed 4.7 GB within one test file, and two
# such workers on a 24 GB machine ended in a crashed worker. Once a worker has grown by
# this much since its last drop, it drops JAX's caches after the test it is on (later
# tests recompile what they use: a dropped cache costs time, never results) and hands
# the freed heap back to the system.
CACHE_GROWTH_BYTES = int(float(os.environ.get("OPTZOO_TEST_CACHE_GROWTH_GB", "2")) * 2**30)
_cache_floor = {"bytes": None}


def _resident_bytes() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # not Linux: nothing is dropped
        return 0


def _release_heap() -> None:
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    resident = _resident_bytes()
    if _cache_floor["bytes"] is None:
        _cache_floor["bytes"] = resident
    if resident - _cache_floor["bytes"] > CACHE_GROWTH_BYTES:
        import gc

        import jax

        jax.clear_caches()
        gc.collect()
        _release_heap()
        _cache_floor["bytes"] = _resident_bytes()
