"""Sharded params on 8 simulated CPU devices (1-D and 2-D meshes): state leaves
carry their params' sharding and 20 steps equal the unsharded run within 1e-6.
The check runs in a separate process (``tests/sharding_check.py``) because the
device count must be fixed before JAX starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.zoo import ZOO

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = [n for n, c in ZOO.items() if c.sharding is None]
# Default run: each optimizer of the flat API at its base configuration (which
# chains every shared block), the variants whose state has another layout
# (diagonal or blocked factors, merged dimensions, per-head blocks), and the blocks
# no alias uses; the other variants (a coupled decay, a flag inside the same
# arithmetic) and the remaining blocks run in the slow test.
FAST_BLOCKS = {"transforms.scale_by_ftrl", "transforms.scale_by_trust_ratio"}
LAYOUT_VARIANTS = {"kron[diag,half-prob]", "kron[all_diag]", "shampoo[decoupled,max dim]",
                   "soap[1d,merge,normalize]", "soap[no bias correction,max dim]",
                   "adam_mini[heads,rows]", "mars[shampoo,ams,fixed]", "swa[ema]"}
CASES = [n for n in SUPPORTED
         if (n.startswith("transforms.") and n in FAST_BLOCKS)
         or (not n.startswith("transforms.") and ("[" not in n or n in LAYOUT_VARIANTS))]
SLOW_CASES = [n for n in SUPPORTED if n not in CASES]


def _run_check(cases):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8")
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-m", "tests.sharding_check", *cases], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[tuple[str, str], dict] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            out[(r["case"], r["mesh"])] = r
    return out


@pytest.fixture(scope="module")
def results():
    return _run_check(CASES)


@pytest.mark.parametrize("name,mesh", [(n, m) for n in CASES for m in ("1d", "2d")])
def test_sharded_equals_unsharded(results, name, mesh):
    r = results[(name, mesh)]
    assert not r["errors"], "\n".join(r["errors"])


@pytest.mark.slow
def test_sharded_blocks():
    results = _run_check(SLOW_CASES)
    bad = {k: r["errors"] for k, r in results.items() if r["errors"]}
    assert not bad and len(results) == 2 * len(SLOW_CASES), bad


def test_unsupported_cases_say_why():
    for name, case in ZOO.items():
        assert case.sharding is None or len(case.sharding) > 20, name
