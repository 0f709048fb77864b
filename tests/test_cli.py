"""The ``optzoo`` command: list, schedule, race, bench, and its one-line errors."""

import csv
import subprocess
import sys
import types

import pytest

import optzoo.cli
from optzoo.cli import main


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in err, err
    return err


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("adam", "nadam", "adadelta", "cosine_decay", "one_cycle"):
        assert name in out
    assert "Kingma" in out and "torch.Adam" in out


def test_schedule_preview_and_plot(tmp_path, capsys):
    png = tmp_path / "cos.png"
    assert main(["schedule", "cosine_decay", "--set", "decay_steps=300", "--set", "init_value=0.1",
                 "--steps", "400", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "decay_steps=300" in out and "cos(" in out and "•" in out
    assert png.stat().st_size > 10_000


def test_schedule_compare(tmp_path):
    png = tmp_path / "cmp.png"
    assert main(["schedule", "--compare", "step_decay,cosine_decay,one_cycle", "--steps", "300",
                 "--out", str(png)]) == 0
    assert png.exists()


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["schedule", "cosine_dekay"], ["unknown schedule", "cosine_decay"]),
        (["schedule", "cosine_decay", "--set", "decay_steps"], ["malformed --set", "key=value"]),
        (["schedule", "cosine_decay", "--set", "nope=1"], ["no argument 'nope'", "decay_steps"]),
        (["schedule", "--compare", "linear,nope"], ["unknown schedule 'nope'"]),
        (["race", "--optimizers", "adam,adamm"], ["unknown optimizer 'adamm'", "nadam"]),
        (["race", "--problem", "mnist"], ["unknown problem", "rosenbrock"]),
        (["race", "--lr", "adam"], ["malformed --lr"]),
        (["race", "--steps", "0"], ["--steps"]),
        (["frobnicate"], ["invalid choice"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needles, capsys):
    assert main(argv) == 2
    _one_line_error(capsys, *needles)


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["race", "--steps", "2", "--out", str(blocker / "dir")]) == 2
    _one_line_error(capsys, "cannot write --out")
    assert main(["schedule", "linear", "--out", str(blocker / "x.png")]) == 2
    _one_line_error(capsys, "cannot write --out")


def test_race_digits_small(tmp_path, capsys):
    assert main(["race", "--steps", "6", "--optimizers", "sgd,adam", "--out", str(tmp_path),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "ms / step" in out
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert {r["optimizer"] for r in rows} == {"sgd", "adam"}
    assert (tmp_path / "results.md").read_text().count("\n| ") == 3
    assert (tmp_path / "loss_curves.png").stat().st_size > 10_000


def test_race_2d_with_schedule(tmp_path, capsys):
    assert main(["race", "--problem", "rosenbrock", "--optimizers", "adam,momentum",
                 "--schedule", "cosine_decay", "--steps", "30", "--lr", "adam=0.1",
                 "--out", str(tmp_path), "--quiet"]) == 0
    rows = {r["optimizer"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert rows["adam"]["learning rate"] == "0.1"
    assert (tmp_path / "trajectories.png").stat().st_size > 10_000
    assert (tmp_path / "loss_curves.png").exists()


def test_bench_forwards_its_arguments(monkeypatch):
    seen = []
    fake = types.ModuleType("optzoo.cli.bench")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "optzoo.cli.bench", fake)
    monkeypatch.setattr(optzoo.cli, "bench", fake, raising=False)
    assert main(["bench", "--quick", "--only", "adam"]) == 0
    assert seen == [["--quick", "--only", "adam"]]


def test_python_dash_m_exit_status():
    proc = subprocess.run(
        [sys.executable, "-m", "optzoo", "race", "--optimizers", "nope"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown optimizer 'nope'" in proc.stderr


def test_race_model_initialisation():
    # the race's NumPy-initialised MLP: LeCun-normal kernels (std 1/sqrt(fan_in)), zero biases
    import jax
    import numpy as np

    from optzoo.problems import numpy_mlp

    apply, params = numpy_mlp((64,), seed=0)
    leaves = {jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_flatten_with_path(params)[0]}
    kernels = [v for k, v in leaves.items() if "kernel" in k]
    biases = [v for k, v in leaves.items() if "bias" in k]
    assert len(kernels) == 2 and all(not b.any() for b in biases)
    assert abs(kernels[0].std() * np.sqrt(64) - 1) < 0.05 and np.abs(kernels[0]).max() <= 2 / np.sqrt(64) / 0.8796
    assert apply(params, np.ones((3, 64), np.float32)).shape == (3, 10)


def test_list_json_reads_the_registry_and_parity_record(capsys):
    import json

    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in listing["optimizers"]}
    assert {"adam", "lbfgs", "muon"} <= names
    adam = next(r for r in listing["optimizers"] if r["name"] == "adam")
    torch = next(c for c in adam["counterparts"] if c["library"] == "torch")
    assert torch["verified"] and torch["worst_error"] <= listing["parity_tolerance"]
    assert any(r["name"] == "one_cycle" for r in listing["schedules"])


def test_list_markdown_rewrites_the_readme_block(tmp_path, capsys):
    from optzoo import catalog

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{catalog.README_BEGIN}\nstale\n{catalog.README_END}\nrest\n")
    assert main(["list", "--markdown", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n") and text.endswith("rest\n") and "stale" not in text
    assert "| `adam` |" in text
    assert main(["list", "--readme", str(readme)]) == 2
    _one_line_error(capsys, "--readme goes with --markdown")
