"""Every optimizer of the zoo on JAX's distributed runtime, and ZeRO-1/FSDP state.

Two processes on localhost, 4 CPU devices each, joined by
``jax.distributed.initialize`` over gloo, train each case on the global mesh
``(data=4, model=2)`` with model-sharded matrices, replicated vector and scalar,
process-local batches and state laid out by :mod:`optzoo.distributed`; a third
process with 8 devices runs the same program. Params and every state leaf agree
within ``TOL`` (``tests/distributed_worker.py``).

``tests/distributed_zero.py`` (8 simulated devices, own process) checks the
layouts: ``init`` traces on ``ShapeDtypeStruct`` params, ``state_shardings`` gives
every leaf a sharding, the ZeRO-1 state is split 8 ways, training with it equals
training with a replicated state, and the Flax NNX recipe of ``docs/scaling.md``.

The device counts must be fixed before JAX starts, hence the subprocesses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from optzoo import distributed
from tests.sharding_check import ESTIMATED_STEP, ESTIMATED_STEP_TOL
from tests.zoo import ZOO

ROOT = Path(__file__).resolve().parents[1]
SUPPORTED = [n for n, c in ZOO.items() if c.sharding is None]
UNSUPPORTED = {n: c.sharding for n, c in ZOO.items() if c.sharding is not None}

TOL = 1e-5  # max |a - b| / max |b| over each leaf, float32
# Optimizers whose float32 result amplifies rounding, so that two runs which add the
# same numbers in another order (gloo's all-reduce against the in-process one) part
# by more than TOL; measured on this problem in one process, 5 steps:
# - newton_cg: its conjugate gradient (10 iterations at cg_tol=1e-6, a residual
#   float32 cannot reach): a start moved by one ulp moves the result by 7.0e-4,
#   sharding the same run over 8 devices by 3.4e-4; two processes: 4.4e-4.
SENSITIVE_TOL = {"newton_cg": 2e-3}
# - soap: the (12, 12) column statistic of the (8, 12) matrix has rank 8 after the
#   first step, and eigh returns an arbitrary basis of its 4-fold zero eigenspace,
#   decided by rounding: a start moved by one ulp moves the 5-step result by 2.4e-2
#   (soap[1d,merge,normalize]: 3.4e-2), sharding over 8 devices by 2.4e-2; two
#   processes: 2.3e-2 on that matrix (every other leaf within 1e-7).
NOT_REPRODUCIBLE = {n: "eigenbasis of a rank-deficient statistic decided by rounding "
                       "(see SENSITIVE_TOL's note)" for n in ZOO if n.startswith("soap")}

# The default run: one case of each family whose state or collectives differ (plain
# moments, sign, trust ratio and global norms, factored, Newton-Schulz, estimated
# step sizes, averaging, matrix preconditioners, two gradients per step, block
# second moments); the rest of the zoo, compiled ones such as L-BFGS, SOAP, Kron
# and Sophia-H included, runs in the slow test.
REPRESENTATIVE = ["adamw", "lion", "lamb", "clip_by_global_norm", "adafactor", "muon",
                  "prodigy", "schedule_free_adamw", "shampoo", "sam", "adam_mini"]
DEFAULT = [n for n in REPRESENTATIVE if n in SUPPORTED]
SLOW = [n for n in SUPPORTED if n not in DEFAULT]

# ZeRO-1: the largest device's share of the state over total / 8, at most this for
# these cases (the slow test reports it for every case)
ZERO1_SPLIT = ["adam", "adamw", "lion", "adafactor", "sgd[momentum,wd]", "lamb", "muon",
               "prodigy", "shampoo", "kron", "came", "adan"]
ZERO1_FRACTION = 1.1
# ZeRO-1 training equals training with a replicated state within 1e-6 for these: the
# same arithmetic on a split state, fused in other kernels (2e-7 or less measured).
ZERO1_TRAIN = ["adam", "adamw", "lion", "adafactor", "lamb", "muon"]
ZERO1_TRAIN_TOL = 1e-6
# The whole zoo (slow): the same, within 1e-5, except where a global quantity is
# computed from split pieces and the optimizer amplifies its rounding (measured
# on tests/distributed_zero.py's problem, 5 steps): estimated step sizes like in
# tests/sharding_check.py (prodigy[b1=0]: 2.6e-4); matrix roots and inverses of a
# split Kronecker factor (shampoo 1.8e-5, shampoo[coupled,every 3] 4.5e-5,
# mars[shampoo,...] 2.5e-5 on larger params); Adan's clipped gradient difference
# (a global norm summed from split pieces, fed to three moments: 1.0e-5); and the
# cases of SENSITIVE_TOL and NOT_REPRODUCIBLE above.
ZERO1_TRAIN_TOL_ZOO = 1e-5
ZERO1_SENSITIVE = {**{n: ESTIMATED_STEP_TOL for n in ZOO if n.startswith(ESTIMATED_STEP)},
                   **{n: 1e-4 for n in ZOO if n.startswith(("shampoo", "mars[shampoo"))},
                   "adan[decoupled,clip]": 1e-4,
                   **SENSITIVE_TOL, **{n: 1.0 for n in NOT_REPRODUCIBLE}}
# FSDP splits the gradient's batch sum (a reduce-scatter instead of an all-reduce),
# so its order differs from the replicated run's; Adam divides small gradients by
# their own size, which shows it: measured 3.5e-6 on the NNX recipe.
FSDP_TRAIN_TOL = 1e-5


def _env() -> dict:
    env = dict(os.environ)
    # the workers set their own device counts; an inherited count would clash
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                                if "force_host_platform_device_count" not in f)
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read(out: Path) -> dict:
    path = out / "results.jsonl"
    if not path.exists():
        return {}
    return {r["case"]: r for r in map(json.loads, path.read_text().splitlines())}


def run_distributed(cases: list[str], tmp: Path, timeout: float = 1800) -> dict:
    """Runs the two-process pair and the one-process reference side by side; returns
    ``{"mp": results, "sp": results, "wall_s": seconds, "mp_dir", "sp_dir"}``."""
    port = _free_port()
    mp, sp = tmp / "two_processes", tmp / "one_process"
    cmd = [sys.executable, "-m", "tests.distributed_worker"]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([*cmd, str(mp), str(i), "2", str(port), *cases], cwd=ROOT,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True) for i in range(2)]
    procs.append(subprocess.Popen([*cmd, str(sp), "0", "1", "0", *cases], cwd=ROOT,
                                  env=_env(), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True))
    stderr = []
    try:
        for p in procs:
            stderr.append(p.communicate(timeout=max(1.0, timeout - (time.perf_counter() - t0)))[1])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, err in zip(procs, stderr):
        assert p.returncode == 0, err[-3000:]
    return {"mp": _read(mp), "sp": _read(sp), "wall_s": time.perf_counter() - t0,
            "mp_dir": mp, "sp_dir": sp}


def leaf_errors(a: Path, b: Path) -> dict[str, float]:
    """``max|a - b| / max|b|`` of each saved leaf (``max|a - b|`` where ``b`` is 0)."""
    x, y = np.load(a), np.load(b)
    assert sorted(x.files) == sorted(y.files), (x.files, y.files)
    out = {}
    for k in y.files:
        u, v = np.asarray(x[k], np.float64), np.asarray(y[k], np.float64)
        diff = np.max(np.abs(u - v), initial=0.0)
        scale = np.max(np.abs(v), initial=0.0)
        out[k] = float(diff / scale if scale > 0 else diff)
    return out


def check_case(run: dict, name: str) -> float:
    r, ref = run["mp"].get(name), run["sp"].get(name)
    assert r is not None and ref is not None, f"{name} did not finish"
    assert not r["errors"], "\n".join(r["errors"])
    assert not ref["errors"], "\n".join(ref["errors"])
    errs = leaf_errors(run["mp_dir"] / f"{r['index']}.npz", run["sp_dir"] / f"{ref['index']}.npz")
    tol = SENSITIVE_TOL.get(name, TOL)
    bad = {k: e for k, e in errs.items() if not e <= tol}
    assert not bad, f"two processes differ from one by more than {tol:g}: {bad}"
    return max(errs.values(), default=0.0)


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory):
    return run_distributed(DEFAULT, tmp_path_factory.mktemp("distributed"))


@pytest.mark.parametrize("name", [
    *DEFAULT,
    *(pytest.param(n, marks=pytest.mark.skip(reason=r)) for n, r in UNSUPPORTED.items())])
def test_two_processes_equal_one(distributed_run, name):
    check_case(distributed_run, name)


@pytest.mark.slow
def test_two_processes_equal_one_whole_zoo(tmp_path):
    run = run_distributed(SLOW, tmp_path)
    failed, unexpected = {}, []
    for name in SLOW:
        try:
            check_case(run, name)
            if name in NOT_REPRODUCIBLE:
                unexpected.append(name)
        except AssertionError as e:
            if name not in NOT_REPRODUCIBLE:
                failed[name] = str(e)[:500]
    assert not failed, failed
    if unexpected:
        warnings.warn(f"now within {TOL:g} across processes: {unexpected}", stacklevel=1)


# ------------------------------------------------------------------ layouts, 8 devices
def _zero_check(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "tests.distributed_zero", *args], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {r["case"]: r for r in map(json.loads, (line for line in proc.stdout.splitlines()
                                                   if line.startswith("{")))}


@pytest.fixture(scope="module")
def zero1():
    """Every case's layout and ZeRO-1 fraction; training for ZERO1_TRAIN; the recipe."""
    return _zero_check(["--train=" + ";".join(n for n in ZERO1_TRAIN if n in ZOO),
                        "--measure=" + ";".join(n for n in ZERO1_SPLIT if n in ZOO),
                        "--recipes"])


def test_every_case_traces_on_shapes_and_has_a_sharding_per_leaf(zero1):
    missing = [n for n in ZOO if n not in zero1]
    bad = {n: r["errors"] for n, r in zero1.items() if r["errors"]}
    assert not missing and not bad, (missing, bad)


@pytest.mark.parametrize("name", ZERO1_SPLIT)
def test_zero1_splits_the_state_eight_ways(zero1, name):
    assert name in zero1, f"{name} was not measured"
    r = zero1[name]
    assert r["fraction"] <= ZERO1_FRACTION, r


@pytest.mark.parametrize("name", ZERO1_TRAIN)
def test_zero1_training_equals_replicated_state(zero1, name):
    assert name in zero1, f"{name} was not measured"
    assert zero1[name]["train_err"] <= ZERO1_TRAIN_TOL, zero1[name]


def test_nnx_recipe(zero1):
    """docs/scaling.md's Flax NNX recipe: ZeRO-1 and FSDP runs equal the replicated run
    and hold a split state (tests/distributed_zero.py: recipes)."""
    for mode, tol in (("zero1", ZERO1_TRAIN_TOL), ("fsdp", FSDP_TRAIN_TOL)):
        r = zero1[f"recipe:{mode}"]
        assert not r["errors"], r["errors"]
        assert r["train_err"] <= tol, r
        assert r["fraction"] <= ZERO1_FRACTION, r


@pytest.mark.slow
def test_zero1_whole_zoo():
    """Every case: its ZeRO-1 split is measured (printed: the table of
    docs/scaling.md), and ZeRO-1 training equals training with a replicated state."""
    names = [n for n in ZOO if n not in ZERO1_TRAIN]
    results = _zero_check(["--train=" + ";".join(names), "--collectives", *names])
    for n, r in results.items():
        print(f"{n:40s} fraction {r['fraction']:.3f} train_err {r['train_err']:.2g} "
              f"collectives {r.get('collectives')}")
    bad = {n: (r["train_err"], r["errors"]) for n, r in results.items()
           if r["errors"] or not r["train_err"] <= ZERO1_SENSITIVE.get(n, ZERO1_TRAIN_TOL_ZOO)}
    assert not bad and len(results) == len(names), bad


# ------------------------------------------------------------------ errors, in process
def test_bad_arguments_raise_value_errors():
    import optzoo

    mesh = Mesh(np.array(jax.devices()[:1]), ("x",))
    params = {"w": jax.ShapeDtypeStruct((4, 2), np.float32)}
    with pytest.raises(ValueError, match=r"state_shardings: mode must be one of 'zero1', "
                                         r"'fsdp', got 'zero3'"):
        distributed.state_shardings(optzoo.adam(1e-3), params, mesh, mode="zero3",
                                    data_axis="x")
    with pytest.raises(ValueError, match=r"state_shardings: data_axis must be one of the "
                                         r"mesh's axes \('x',\), got 'data'"):
        distributed.state_shardings(optzoo.adam(1e-3), params, mesh)
    with pytest.raises(ValueError, match=r"param_shardings: mode"):
        distributed.param_shardings(params, mesh, mode="ddp", data_axis="x")
