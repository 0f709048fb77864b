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


def test_schedule_compare(tmp_path, capsys, monkeypatch):
    """The plotted series are each schedule at steps 0 .. steps-1 (the registry's example
    arguments), and the printed table holds their quantiles, last, min and max."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from optzoo.cli import schedule_cmd

    plotted = {}
    plot = schedule_cmd._plot_schedules

    def spy(curves, registry, out):
        plotted.update({n: np.asarray(vals) for n, (vals, _) in curves.items()})
        plot(curves, registry, out)

    monkeypatch.setattr(schedule_cmd, "_plot_schedules", spy)
    png = tmp_path / "cmp.png"
    names = ["step_decay", "cosine_decay", "one_cycle"]
    assert main(["schedule", "--compare", ",".join(names), "--steps", "300",
                 "--out", str(png)]) == 0
    assert png.stat().st_size > 10_000
    out = capsys.readouterr().out
    assert list(plotted) == names
    rows = {cells[0]: cells[1:] for cells in
            ([c.strip() for c in line.strip().strip("│").split("│")]
             for line in out.splitlines() if line.startswith("│"))}
    for n in names:
        sched, _ = schedule_cmd.build_schedule(n)
        expected = np.asarray(jax.vmap(sched)(jnp.arange(300)), np.float64)
        np.testing.assert_allclose(plotted[n], expected, rtol=1e-5, err_msg=n)  # XLA fusion
        vals = plotted[n]
        numbers = [vals[i] for i in (0, 74, 149, 224, 299)] + [vals.min(), vals.max()]
        assert rows[n] == [f"{x:.4g}" for x in numbers], (n, rows[n])
    # spot values of the example arguments (step_decay halves at 200; one_cycle peaks)
    assert plotted["step_decay"][0] == plotted["step_decay"][199] == 2 * plotted["step_decay"][200]
    one_cycle = plotted["one_cycle"]
    assert np.argmax(one_cycle) > 0 and one_cycle[0] < one_cycle.max()


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
        (["race", "--preset", "modern", "--optimizers", "adam"], ["--preset modern chooses the optimizers"]),
        (["race", "--preset", "modern", "--problem", "rosenbrock"], ["races on digits, charlm"]),
        (["race", "--preset", "nope"], ["invalid choice"]),
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
    # ranked by final loss, each below the untrained ln(10) = 2.303 of ten classes
    losses = [float(r["final loss"]) for r in rows]
    assert [r["rank"] for r in rows] == ["1", "2"] and losses == sorted(losses)
    assert all(0 < x < 2.303 for x in losses), losses
    assert all(0 <= float(r["test accuracy"].rstrip("%")) <= 100 for r in rows)
    # the Markdown table holds the same numbers as the CSV, row for row
    md = [line for line in (tmp_path / "results.md").read_text().splitlines()
          if line.startswith("| ")]
    table = [[c.strip() for c in line.strip("| ").split(" | ")] for line in md]
    assert table == [list(rows[0])] + [list(r.values()) for r in rows]
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


# ---------------------------------------------------------------- optional extras

_BLOCKED_RUN = """
import sys
for m in {blocked!r}:
    sys.modules[m] = None  # as if not installed: `import m` raises ModuleNotFoundError
from optzoo.cli import main
for argv in {commands!r}:
    print(main(argv))
"""


def _run_blocked(tmp_path, blocked, commands):
    proc = subprocess.run(
        [sys.executable, "-c", _BLOCKED_RUN.format(blocked=blocked, commands=commands)],
        capture_output=True, text=True, timeout=180, cwd=tmp_path,
    )
    return proc.stdout.split(), proc.stderr.strip().splitlines()


def test_without_the_cli_extra_each_command_names_it_and_writes_nothing(tmp_path):
    commands = [["list"], ["schedule", "cosine_decay"], ["race", "--steps", "2"],
                ["race", "--problem", "quadratic", "--steps", "2", "--out", "r2"]]
    codes, errors = _run_blocked(tmp_path, ["matplotlib", "rich", "flax", "sklearn"], commands)
    assert codes == ["2"] * len(commands), errors
    assert len(errors) == len(commands), errors
    for line in errors:
        assert 'pip install "optzoo[cli]"' in line and "Traceback" not in line, line
    assert list(tmp_path.iterdir()) == []  # no results table without its plot, no empty PNG


def test_race_checks_every_dependency_before_writing(tmp_path):
    # only the digits' dependencies missing: the race stops before creating --out
    codes, errors = _run_blocked(tmp_path, ["flax", "sklearn"],
                                 [["race", "--steps", "2", "--optimizers", "sgd", "--out", "out"]])
    assert codes == ["2"] and len(errors) == 1 and "flax, scikit-learn" in errors[0], errors
    assert not (tmp_path / "out").exists()


def test_cli_extra_installs_every_default_dependency():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    cli = {d.split(">")[0].split("=")[0].split("[")[0].strip()
           for d in project["project"]["optional-dependencies"]["cli"]}
    assert {"matplotlib", "rich", "flax", "scikit-learn"} <= cli


# ---------------------------------------------------------------- bounded work, clean errors


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["race", "--seed", "-1"], ["--seed must be an integer in [0, 4294967295], got -1"]),
        (["race", "--steps", "-5"], ["--steps must be an integer in [1, 2147483647]"]),
        (["race", "--steps", "lots"], ["--steps must be an integer", "got lots"]),
        (["schedule", "linear", "--steps", "0"], ["--steps must be an integer in [1, "]),
        (["schedule", "linear", "--out", "noext"], ["needs an image extension", ".png", "noext.png"]),
        (["schedule", "reduce_on_plateau"], ["gradient transformation", "value=loss", "optax.chain"]),
    ],
)
def test_bad_values_are_one_line_and_exit_2(argv, needles, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    _one_line_error(capsys, *needles)
    assert list(tmp_path.iterdir()) == []  # nothing written, not even an empty file


def test_race_memory_does_not_grow_with_steps():
    from optzoo.cli import race_engine
    from optzoo.cli.race_settings import CURVE_POINTS

    for steps in (1, 7, CURVE_POINTS, CURVE_POINTS + 1, 10**8, 2**31 - 1):
        at = race_engine.curve_steps(steps)
        assert len(at) <= CURVE_POINTS and at[-1] == steps and (at[0] >= 1) and (len(at) == steps or steps > CURVE_POINTS)
        assert (at[1:] > at[:-1]).all()
    # a real run of many steps on a trivially cheap problem keeps a bounded curve and path
    (r,) = race_engine.race_2d("quadratic", ["sgd"], {"sgd": 0.015}, 200_000, 0, None, lambda n: None)
    assert len(r.curve) == len(r.curve_steps) == len(r.trajectory) == CURVE_POINTS + 1
    assert r.curve_steps[-1] == 200_000 and r.steps_to_target == 282


def test_race_curve_matches_every_step_below_the_bound():
    import numpy as np

    from optzoo.cli import race_engine

    # below CURVE_POINTS steps every step is recorded: the same numbers as a plain loop
    (r,) = race_engine.race_2d("quadratic", ["sgd"], {"sgd": 0.015}, 50, 0, None, lambda n: None)
    prob = race_engine.problem("quadratic")
    import jax

    x, f = np.asarray(prob.init, np.float32), [float(prob.fn(np.asarray(prob.init, np.float32)))]
    for _ in range(50):
        x = x - 0.015 * np.asarray(jax.grad(prob.fn)(x))
        f.append(float(prob.fn(x)))
    np.testing.assert_allclose(r.curve, f, rtol=1e-5)
    assert list(r.curve_steps) == list(range(51))


# ---------------------------------------------------------------- learning rates in the race


def test_race_default_rates_come_from_the_registry():
    from optzoo.cli.race_cmd import default_rate

    assert default_rate("digits", "newton") == (1.0, "default")
    assert default_rate("digits", "newton_cg") == (1.0, "default")
    assert default_rate("digits", "lbfgs") == (None, "default")  # its line search
    assert default_rate("digits", "adam") == (1e-2, "tuned")
    assert default_rate("digits", "muon") == (0.02, "default")
    assert default_rate("digits", "angd")[1] == "fallback"  # the constructor requires a rate


def test_race_second_order_on_quadratic_uses_its_own_rate(tmp_path):
    assert main(["race", "--problem", "quadratic", "--optimizers", "newton,lbfgs,sgd", "--steps", "20",
                 "--out", str(tmp_path), "--quiet"]) == 0
    rows = {r["optimizer"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert rows["newton"]["learning rate"] == "1" and rows["newton"]["rate from"] == "default"
    assert rows["lbfgs"]["learning rate"] == "line search"
    assert float(rows["newton"]["final loss"]) < 1e-8  # one Newton step solves a quadratic


def test_race_sweep_reports_the_best_rate(tmp_path):
    from optzoo.cli import race_engine

    assert race_engine.sweep_rates(1.0) == [0.0316, 0.1, 0.316, 1.0, 3.16, 10.0, 31.6]
    assert main(["race", "--problem", "quadratic", "--optimizers", "newton,sgd", "--steps", "5",
                 "--sweep", "--lr", "sgd=0.01", "--out", str(tmp_path), "--quiet"]) == 0
    rows = {r["optimizer"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert rows["newton"]["rate from"] == "sweep" and rows["newton"]["learning rate"] == "1"
    assert rows["sgd"]["rate from"] == "--lr" and rows["sgd"]["learning rate"] == "0.01"


# ---------------------------------------------------------------- plots, version, help


def _results(problem, names, steps=40):
    from optzoo.cli import race_engine
    from optzoo.cli.race_cmd import default_rate

    lrs = {n: default_rate(problem, n)[0] for n in names}
    return race_engine.race(problem, names, lrs, steps, 0, None, lambda n: None)


def test_race_plot_legend_hides_no_curve_and_accuracy_axis_starts_at_0():
    from optzoo.cli.plots import pyplot
    from optzoo.cli.race_plots import loss_figure

    plt = pyplot()
    fig = loss_figure(_results("rosenbrock", ["sgd", "momentum", "nag", "adam", "rmsprop"]), "rosenbrock", "t")
    fig.canvas.draw()
    (ax,) = fig.axes
    legend = ax.get_legend().get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())
    plt.close(fig)
    fig = loss_figure(_results("digits", ["sgd", "adam"], steps=5), "digits", "t", 359)
    assert fig.axes[1].get_xlim()[0] == 0
    plt.close(fig)


def test_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"optzoo {version('optzoo')}"


def test_every_option_of_every_subcommand_has_help():
    import argparse

    parser = optzoo.cli._parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    from optzoo.cli.bench.command import _parser as bench_parser

    parsers = dict(subparsers.choices, bench=bench_parser(), optzoo=parser)
    missing = [
        f"{name} {action.option_strings or action.dest}"
        for name, p in parsers.items()
        for action in p._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
        and not (name == "bench" and action.dest == "rest")
        and not (p is subparsers.choices.get("bench") and action.dest == "rest")
    ]
    assert not missing, missing


# ---------------------------------------------------------------- held-out races: --preset, charlm


def test_race_preset_modern_resolves_its_names():
    import optzoo
    from optzoo.cli.race_cmd import _preset_names
    from optzoo.cli.race_settings import PRESETS

    names, missing = _preset_names("modern")
    assert names[0] == "adamw" and {"schedule_free_adamw", "prodigy", "muon", "lion"} <= set(names)
    assert sorted(names + missing) == sorted(PRESETS["modern"]["optimizers"])
    assert all(getattr(optzoo, n, None) is None for n in missing)
    assert PRESETS["modern"]["problems"] == ("digits", "charlm")


def test_race_preset_writes_a_table_and_plots_per_problem(tmp_path, capsys, monkeypatch):
    from optzoo.cli import race_cmd

    # the modern preset's machinery on two of its optimizers and a name this optzoo lacks
    small = {"optimizers": ("adamw", "schedule_free_adamw", "not_yet_written"), "problems": ("digits", "charlm")}
    monkeypatch.setitem(race_cmd.PRESETS, "modern", small)
    assert main(["race", "--preset", "modern", "--steps", "3", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "skipping not_yet_written (not in this optzoo yet)" in out
    for problem in ("digits", "charlm"):
        rows = list(csv.DictReader(open(tmp_path / problem / "results.csv")))
        assert {r["optimizer"] for r in rows} == {"adamw", "schedule_free_adamw"}
        sf = next(r for r in rows if r["optimizer"] == "schedule_free_adamw")
        assert sf["learning rate"] == "0.0025" and sf["rate from"] == "default"
        assert any(c.startswith("held-out loss at ") and c.endswith(" s") for c in rows[0])
        assert float(rows[0]["held-out loss"]) > 0 and float(rows[0]["ms / step"]) > 0
        assert "held-out" in (tmp_path / problem / "results.md").read_text()
        assert (tmp_path / problem / "heldout_curves.png").stat().st_size > 10_000


@pytest.mark.slow
def test_race_preset_modern_full_list(tmp_path):
    from optzoo.cli.race_cmd import _preset_names

    assert main(["race", "--preset", "modern", "--steps", "2", "--out", str(tmp_path), "--quiet"]) == 0
    for problem in ("digits", "charlm"):
        rows = list(csv.DictReader(open(tmp_path / problem / "results.csv")))
        assert {r["optimizer"] for r in rows} == set(_preset_names("modern")[0])


def test_race_charlm_problem(tmp_path, capsys):
    assert main(["race", "--problem", "charlm", "--optimizers", "adam,lion", "--steps", "4",
                 "--out", str(tmp_path), "--quiet"]) == 0
    rows = {r["optimizer"]: r for r in csv.DictReader(open(tmp_path / "results.csv"))}
    assert set(rows) == {"adam", "lion"} and rows["adam"]["rate from"] == "tuned"
    assert all(3.0 < float(r["held-out loss"]) < 5.0 for r in rows.values())  # ln 96 = 4.56 at the start
    assert (tmp_path / "heldout_curves.png").exists() and not (tmp_path / "loss_curves.png").exists()


def test_race_heldout_curve_steps_and_seconds():
    import numpy as np

    (r,) = _results("charlm", ["adam"], steps=3)
    assert list(r.curve_steps) == [0, 1, 2, 3] and len(r.curve) == len(r.curve_seconds) == 4
    assert r.curve_seconds[0] == 0 and (np.diff(r.curve_seconds) > 0).all()
    assert r.final_loss == r.curve[-1] < r.curve[0]


def test_race_scores_schedule_free_at_its_eval_params():
    import jax
    import numpy as np

    import optzoo
    from optzoo.cli import race_engine
    from optzoo.train import make_train_step

    assert race_engine.eval_params_reader("schedule_free_adamw") is optzoo.schedule_free_eval_params
    (r,) = race_engine.race_heldout("digits", ["schedule_free_adamw"], {"schedule_free_adamw": 0.01}, 5, 0,
                                    None, lambda n: None)
    # the same five steps by hand: the held-out loss at x = schedule_free_eval_params, not at y
    task = race_engine.heldout_task("digits", 0)
    tx = optzoo.schedule_free_adamw(learning_rate=0.01)
    step = make_train_step(task.loss_fn, tx, donate=False)
    p, s, d = task.params0, tx.init(task.params0), task.data0
    for t in range(5):
        b, d = jax.jit(task.batch)(t, d)
        p, s, _ = step(p, s, b)
    at_x = float(task.heldout(optzoo.schedule_free_eval_params(s, p)))
    at_y = float(task.heldout(p))
    assert abs(at_x - at_y) > 1e-4
    np.testing.assert_allclose(r.final_loss, at_x, rtol=1e-5)


def test_eval_params_readers_take_state_and_params_or_state(monkeypatch):
    import jax.numpy as jnp

    import optzoo
    from optzoo.cli import race_engine

    params = {"w": jnp.ones(3)}
    assert race_engine.eval_params_reader("adam")(None, params) is params
    monkeypatch.setitem(race_engine.EVAL_PARAMS, "averaged", "swa_params")
    tx = optzoo.swa(optzoo.sgd(0.1))
    state = tx.init(params)
    assert (race_engine.eval_params_reader("averaged")(state, params)["w"] == 1).all()


def test_race_sweep_on_a_heldout_race_scores_the_heldout_loss(monkeypatch):
    import math

    from optzoo.cli import race_engine

    seen = []

    def fake_heldout(problem, names, lrs, *_):  # held-out loss lowest at rate 0.01
        seen.append(problem)
        (n,) = names
        return [race_engine.RaceResult(n, lrs[n], [0], [1.0], abs(math.log10(lrs[n]) + 2), None, None,
                                       1.0, 0.0, curve_seconds=[0.0])]

    monkeypatch.setattr(race_engine, "race_heldout", fake_heldout)
    assert race_engine.sweep("digits", "sgd", 0.1, 3, 0, None, lambda n: None, heldout=True) == 0.01
    assert seen == ["digits"] * 7
