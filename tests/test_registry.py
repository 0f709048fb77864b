"""The registry: one record per optimizer, wrapper and schedule, and everything that
reads it (the package's exports, ``optzoo.info``, the README tables, the packaged
parity record, a non-editable install)."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import optax
import pytest

import optzoo
import optzoo.keras
import optzoo.pytorch
from optzoo import catalog, registry

ROOT = Path(__file__).resolve().parents[1]


def test_every_exported_optimizer_is_registered_and_every_record_exported():
    names = {r.name for r in registry.records() if r.kind in ("optimizer", "wrapper")}
    for name in names:
        assert getattr(optzoo, name) is registry.info(name).constructor
        assert name in optzoo.__all__
    for r in registry.records("schedule"):
        assert callable(r.constructor)


@pytest.mark.parametrize("record", registry.records(), ids=lambda r: r.name)
def test_record_is_complete_and_its_examples_build(record):
    assert record.kind in registry.KINDS
    assert record.family and record.reference and record.summary, record
    assert record.examples, record.name
    params = inspect_params(record)
    for arg in record.ranges:
        assert arg in params, f"{record.name}: range for unknown argument {arg!r}"
    for variant in record.examples:
        built = record.example(variant)
        if record.kind in ("optimizer", "wrapper", "transformation"):
            assert isinstance(built, optax.GradientTransformation), (record.name, variant)
        else:
            assert callable(built), (record.name, variant)


def inspect_params(record):
    import inspect

    return inspect.signature(record.constructor).parameters


def test_info_returns_the_record_and_suggests_close_names():
    r = optzoo.info("adam")
    assert r.name == "adam" and r.family == "adam" and r.year == 2015
    assert r.defaults["b1"] == 0.9 and r.ranges["b1"] == "[0, 1)"
    assert r.counterpart("torch").name == "torch.optim.Adam"
    assert r.counterpart("keras").differences  # Keras folds the bias corrections
    with pytest.raises(KeyError, match="did you mean 'adam'"):
        optzoo.info("adamm")


def test_registering_a_name_twice_from_another_function_fails():
    def adam():  # same name, another module's function
        return optax.identity()

    with pytest.raises(ValueError, match="'adam' is already registered by optzoo.optimizers"):
        registry.register(family="x", reference="y")(adam)


def test_every_counterpart_flavor_exists():
    modules = {"torch": optzoo.pytorch, "keras": optzoo.keras}
    for r in registry.records():
        for c in r.counterparts:
            assert c.library in ("torch", "keras", "optax", "reference"), c
            if c.library == "reference":  # a class of a PyPI package pinned in the test extra
                package, _, name = c.name.partition(".")
                module = importlib.import_module(package.replace("-", "_"))
                assert callable(getattr(module, name)), (r.name, c)
                continue
            if c.flavor is None:
                continue
            obj = modules[c.library]
            for part in c.flavor.split("."):
                obj = getattr(obj, part)
            assert callable(obj), (r.name, c)


def _docs_rows() -> list[tuple[str, str, str, int, float]]:
    row = re.compile(r"^\| (\w+) \| `([\w.]+)` \| (.*) \| (\d+) \| ([0-9.e+-]+) \|$")
    out = []
    for line in (ROOT / "docs" / "parity.md").read_text().splitlines():
        m = row.match(line)
        if m:
            out.append((m[1], m[2], m[3], int(m[4]), float(m[5])))
    return out


def test_packaged_parity_record_matches_docs():
    """``python -m tests.parity.report`` writes both files from one run."""
    data = json.loads((ROOT / "optzoo" / "parity.json").read_text())
    packaged = sorted((r["framework"], r["name"], r["config"], r["steps"],
                       float(f"{r['max_rel_err']:.2e}")) for r in data["records"])
    assert packaged == sorted(_docs_rows())


def test_every_flavor_is_parity_verified():
    """Every framework class is checked against the real library within the float64
    tolerance; ClipGradNorm/ClipGradValue are the chainable forms of the verified
    clip_grad_norm/clip_grad_value and have no record of their own."""
    rows = {f"{f.framework}.{f.name}": f.to_json() for f in registry.flavors()}
    unverified = sorted(k for k, row in rows.items() if not row["verified"])
    assert unverified == ["torch.ClipGradNorm", "torch.ClipGradValue"]
    import optzoo.pytorch.lr_scheduler as lr

    schedulers = [n for n in lr.__all__ if n not in ("LRSchedule", "PlateauState")]
    assert len(schedulers) == 15
    for n in schedulers:
        assert rows[f"torch.lr_scheduler.{n}"]["verified"], n


def test_readme_tables_are_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    assert catalog.update_readme(readme) == readme, (
        "README.md's zoo tables are out of date: run `optzoo list --markdown --readme README.md`"
    )


@pytest.mark.slow
def test_installed_wheel_lists_verified_flavors(tmp_path):
    """A wheel built from the repository, installed (not editable) into a fresh virtual
    environment: ``optzoo list --json`` reads the packaged parity record. The new
    environment reuses this one's dependencies through a path entry (the wheel's own
    files come first), so the check needs no network."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(ROOT)], check=True)
    (wheel,) = wheels.glob("optzoo-*.whl")
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"),
                    "install", "--no-deps", "-q", str(wheel)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    out = subprocess.run([str(env_dir / "bin" / "optzoo"), "list", "--json"], cwd=tmp_path,
                         env=env, check=True, capture_output=True, text=True).stdout
    listing = json.loads(out)
    where = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                            "import optzoo; print(optzoo.__file__)"], cwd=tmp_path, env=env,
                           check=True, capture_output=True, text=True).stdout
    assert str(site) in where, where  # the installed copy, not the source tree
    adam = next(r for r in listing["optimizers"] if r["name"] == "adam")
    cells = {c["library"]: c for c in adam["counterparts"]}
    expected = registry.parity_record()
    for lib in ("torch", "keras"):
        assert cells[lib]["verified"], cells[lib]
        assert cells[lib]["worst_error"] == expected[(lib, "Adam")]["worst_error"]
    torch_schedulers = [f for f in listing["flavors"]
                        if f["framework"] == "torch" and f["name"].startswith("lr_scheduler.")]
    assert len(torch_schedulers) == 15
    assert all(f["verified"] for f in torch_schedulers), torch_schedulers
