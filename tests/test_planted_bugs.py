"""The suite's teeth: known bugs, planted one at a time in a copy of the repository,
must each fail the tests named for them.

Each plant is a file, the exact text to replace (it must occur once) and its
replacement, and the tests expected to catch it. The repository's package and tests
are copied to a temporary folder, one plant is applied there, and only the named
tests run (``python -m pytest -x`` in that folder, so ``import optzoo`` is the copy's);
they must fail. A plant whose text no longer matches fails loudly: update it with
the code it targets.

    python -m pytest -m slow tests/test_planted_bugs.py
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("optzoo", "tests", "pyproject.toml")


@dataclasses.dataclass(frozen=True)
class Plant:
    """``edits``: ``(old, new)`` pairs applied to ``file``; ``tests``: pytest node ids or
    files, with ``k``: an optional ``-k`` expression narrowing them."""

    file: str
    edits: tuple[tuple[str, str], ...]
    tests: tuple[str, ...]
    k: str | None = None


PT = "tests/parity/test_torch_optim.py"
SCHED = "tests/parity/test_torch_schedulers.py"

PLANTS = {
    # ReduceLROnPlateau's relative threshold with the wrong sign (torch flavor and core).
    "plateau-min-rel-threshold-sign": Plant(
        "optzoo/schedules/plateau.py",
        (("best * (1.0 - threshold) if", "best * (1.0 + threshold) if"),),
        (f"{SCHED}::test_reduce_lr_on_plateau_matches_torch",)),
    "plateau-max-rel-threshold-sign": Plant(
        "optzoo/schedules/plateau.py",
        (("best * (1.0 + threshold) if", "best * (1.0 - threshold) if"),),
        (f"{SCHED}::test_reduce_lr_on_plateau_matches_torch",)),
    # torch Muon flavor's Newton-Schulz no longer in bfloat16 by default.
    "muon-ns-dtype-default": Plant(
        "optzoo/pytorch/optim.py",
        (("    ns_dtype=jnp.bfloat16,\n", "    ns_dtype=None,\n"),),
        (f"{PT}::test_muon_bfloat16_default_tracks_torch",)),
    # Keras Adamax ignores beta_1.
    "keras-adamax-beta_1-dropped": Plant(
        "optzoo/keras/optimizers.py",
        (("_adam.scale_by_adamax(\n        beta_1, beta_2,",
          "_adam.scale_by_adamax(\n        0.9, beta_2,"),),
        ("tests/parity/test_keras_optimizers.py::test_parity",), k="Adamax"),
    # The L-BFGS parity test records its result only once its asserts passed.
    "lbfgs-records-after-asserting": Plant(
        "tests/parity/test_torch_lbfgs.py",
        (("        worst = max(errs)\n"
          '        record_parity("torch", "LBFGS", config, worst, STEPS)\n',
          "        worst = max(errs)\n"),
         ("        assert float(loss(params)) < 0.5 * float(loss(jax.tree.map(jnp.asarray, p0)))\n",
          "        assert float(loss(params)) < 0.5 * float(loss(jax.tree.map(jnp.asarray, p0)))\n"
          '        record_parity("torch", "LBFGS", config, worst, STEPS)\n')),
        (f"{PT}::test_parity_results_are_recorded_before_they_are_asserted",)),
    # The parity report written after a failing run.
    "report-written-after-failure": Plant(
        "tests/parity/report.py",
        (("    if code != 0 or not records:\n", "    if False:\n"),),
        (f"{PT}::test_report_is_written_only_after_a_passing_run",)),
    # Classic ones.
    "adam-no-first-moment-bias-correction": Plant(
        "optzoo/transforms/adam.py",
        (("            mu_hat = optax.tree.bias_correction(mu, b1, count)\n",
          "            mu_hat = mu\n"),),
        ("tests/test_first_order.py::test_equals_optax",), k="adam"),
    "torch-rmsprop-eps-inside-the-root": Plant(
        "optzoo/pytorch/optim.py",
        (("_adaptive.scale_by_rms(alpha, eps, 0.0, eps_in_sqrt=False,",
          "_adaptive.scale_by_rms(alpha, eps, 0.0, eps_in_sqrt=True,"),),
        (f"{PT}::test_matches_torch",), k="RMSprop"),
    "one-cycle-first-phase-one-step-late": Plant(
        "optzoo/schedules/cyclic.py",
        (("ends = [float(pct_start * total_steps) - 1.0,",
          "ends = [float(pct_start * total_steps),"),),
        (f"{SCHED}::test_cyclic_lr_and_momentum_match_torch",), k="OneCycleLR"),
    # The schedule command evaluates steps 1..n instead of 0..n-1.
    "cli-schedule-values-off-by-one": Plant(
        "optzoo/cli/schedule_cmd.py",
        (("t = jnp.arange(steps, dtype=jnp.int32)",
          "t = jnp.arange(1, steps + 1, dtype=jnp.int32)"),),
        ("tests/test_cli.py::test_schedule_compare",)),
}


def _ignore(folder, names):
    return [n for n in names if n == "__pycache__" or n.endswith(".pyc")]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The package and tests, copied once; each plant works on a copy of this copy."""
    base = tmp_path_factory.mktemp("pristine")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, base / name, ignore=_ignore)
        else:
            shutil.copy2(src, base / name)
    where = subprocess.run([sys.executable, "-c", "import optzoo; print(optzoo.__file__)"],
                           cwd=base, env=_env(), capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(base), where.stdout  # the copy, not ROOT
    return base


def _env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPTZOO_PARITY_JSON", "OPTZOO_STRICT_SKIPS", "PYTEST_ADDOPTS")}
    return dict(env, PYTHONDONTWRITEBYTECODE="1")


def plant(repo: Path, p: Plant) -> None:
    path = repo / p.file
    text = path.read_text()
    for old, new in p.edits:
        assert text.count(old) == 1, f"{p.file}: {old!r} occurs {text.count(old)} times"
        text = text.replace(old, new)
    path.write_text(text)


@pytest.mark.parametrize("name", sorted(PLANTS))
def test_planted_bug_is_caught(name, pristine, tmp_path):
    p = PLANTS[name]
    repo = tmp_path / "repo"
    shutil.copytree(pristine, repo)
    plant(repo, p)
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-n", "0", "-p", "no:cacheprovider",
           *p.tests] + (["-k", p.k] if p.k else [])
    run = subprocess.run(cmd, cwd=repo, env=_env(), capture_output=True, text=True, timeout=1500)
    tail = (run.stdout + run.stderr)[-3000:]
    # 1: tests ran and some failed (not 0: passed; not 2-5: an error, no tests)
    assert run.returncode == 1, f"{name} not caught (exit {run.returncode}):\n{tail}"
    assert " failed" in tail, tail
