"""``optzoo race``: race optimizers on one problem; print the table, write it and the plots."""

from __future__ import annotations

import time
from pathlib import Path

from optzoo.cli.common import (
    INT32_MAX,
    SEED_MAX,
    UsageError,
    choices,
    int_in,
    names_list,
    require,
    writable_dir,
)
from optzoo.cli.common import console as make_console
from optzoo.cli.race_settings import (
    CLASSIC_ZOO,
    CHARLM_BATCH,
    CHARLM_CONTEXT,
    CHARLM_EVAL_WINDOWS,
    DIGITS_BATCH,
    PRESETS,
    PROBLEMS,
    RACE_LEARNING_RATES,
    RACE_STEPS,
    SWEEP_FACTORS,
    SWEEP_STEPS,
)


def add_parser(sub) -> None:
    r = sub.add_parser("race", help="race optimizers on a problem; write a table and plots")
    r.add_argument("--problem", default=None,
                   help=f"one of {', '.join(PROBLEMS)} (default digits; with --preset: each of the preset's)")
    r.add_argument("--optimizers", metavar="A,B,...", help="comma-separated names (default: the classic zoo, "
                   + ", ".join(CLASSIC_ZOO) + ")")
    r.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="a set of optimizers raced on several problems, scored by held-out loss per step "
                        "and per second, one folder of results per problem under --out: "
                        + "; ".join(f"{k}: {', '.join(v['optimizers'])} on {' and '.join(v['problems'])}"
                                    for k, v in PRESETS.items()))
    r.add_argument("--schedule", metavar="NAME", help="scale every learning rate by this schedule's shape")
    r.add_argument("--steps", type=int_in("--steps", 1, INT32_MAX),
                   help="training steps (default: " + ", ".join(f"{k} {v}" for k, v in RACE_STEPS.items())
                   + "); memory does not grow with it")
    r.add_argument("--seed", type=int_in("--seed", 0, SEED_MAX), default=0,
                   help="seed of the initial weights and the mini-batch order on the digits and charlm (default 0)")
    r.add_argument("--out", default="race-results", metavar="DIR",
                   help="folder for results.md, results.csv and the plots (default race-results)")
    r.add_argument("--lr", action="append", metavar="NAME=RATE",
                   help="override one optimizer's rate (repeatable); otherwise the tuned rate of "
                        "optzoo.cli.race_settings, else the constructor's default")
    r.add_argument("--sweep", action="store_true",
                   help=f"first try each optimizer at its rate times {len(SWEEP_FACTORS)} log-spaced factors "
                        f"from {min(SWEEP_FACTORS):.3g} to {max(SWEEP_FACTORS):.3g} for up to {SWEEP_STEPS} "
                        "steps, then race at the rate with the lowest final loss")
    r.add_argument("--quiet", action="store_true", help="no progress bar")


def _preset_names(preset: str) -> tuple[list[str], list[str]]:
    """``(names, missing)``: the preset's optimizers that this optzoo has, and those it has not yet."""
    import optzoo
    from optzoo import catalog

    valid = set(catalog.optimizer_names())
    names = list(PRESETS[preset]["optimizers"])
    have = [n for n in names if n in valid and getattr(optzoo, n, None) is not None]
    return have, [n for n in names if n not in have]


def _problems(args) -> list[str]:
    if args.preset is None:
        problem = args.problem or "digits"
        if problem not in PROBLEMS:
            raise UsageError(f"unknown problem {problem!r}; choose from: {choices(PROBLEMS)}")
        return [problem]
    if args.optimizers:
        raise UsageError(f"--preset {args.preset} chooses the optimizers; drop --optimizers")
    preset_problems = list(PRESETS[args.preset]["problems"])
    if args.problem is None:
        return preset_problems
    if args.problem not in preset_problems:
        raise UsageError(f"--preset {args.preset} races on {', '.join(preset_problems)}; got --problem {args.problem}")
    return [args.problem]


def _names(args) -> list[str]:
    from optzoo import catalog

    valid = catalog.optimizer_names()
    names = names_list(args.optimizers or ",".join(CLASSIC_ZOO))
    if not names:
        raise UsageError(f"--optimizers is empty; choose from: {choices(valid)}")
    for n in names:
        if n not in valid:
            raise UsageError(f"unknown optimizer {n!r}; choose from: {choices(valid)}")
    if len(set(names)) != len(names):
        raise UsageError("--optimizers lists an optimizer twice")
    return names


def default_rate(problem: str, name: str) -> tuple[float | None, str]:
    """``(rate, source)`` for ``name`` on ``problem``: the tuned rate of ``RACE_LEARNING_RATES``
    ("tuned"); else the constructor's default learning rate from its registry record
    ("default": 1.0 for newton, None for lbfgs's line search); else, for a constructor that
    requires a rate, the problem's ``"*"`` rate ("fallback")."""
    import optzoo

    table = RACE_LEARNING_RATES[problem]
    if name in table:
        return table[name], "tuned"
    defaults = optzoo.info(name).defaults
    if "learning_rate" in defaults and not callable(defaults["learning_rate"]):
        lr = defaults["learning_rate"]
        return (None if lr is None else float(lr)), "default"
    return table["*"], "fallback"


def _learning_rates(args, problem: str, names: list[str]) -> dict[str, tuple[float | None, str]]:
    lrs = {n: default_rate(problem, n) for n in names}
    for item in args.lr or []:
        key, sep, raw = item.partition("=")
        if not sep or key not in lrs:
            raise UsageError(f"malformed --lr {item!r}: expected NAME=RATE with NAME one of {', '.join(names)}")
        try:
            lrs[key] = float(raw), "--lr"
        except ValueError:
            raise UsageError(f"malformed --lr {item!r}: {raw!r} is not a number") from None
    return lrs


def run(args) -> int:
    problems = _problems(args)
    # every dependency before any output: a missing one writes nothing
    require("race", "rich", "matplotlib", *(("flax", "sklearn") if "digits" in problems else ()))
    from optzoo.cli import race_engine

    missing: list[str] = []
    if args.preset:
        names, missing = _preset_names(args.preset)
    else:
        names = _names(args)
    heldout = args.preset is not None
    plans = []
    for problem in problems:
        steps = args.steps if args.steps is not None else RACE_STEPS[problem]
        rates = _learning_rates(args, problem, names)
        shape = race_engine.schedule_shape(args.schedule, steps) if args.schedule else None
        for n in names:  # construction errors (bad rates) before any training
            try:
                race_engine.optimizer(n, rates[n][0])
            except (ValueError, TypeError) as e:
                raise UsageError(str(e).splitlines()[0]) from None
        plans.append((problem, steps, rates, shape))
    out = writable_dir(Path(args.out))
    if heldout:
        out = {p: writable_dir(out / p) for p in problems}
    else:
        out = {problems[0]: out}

    console = make_console()
    if missing:
        console.print(f"--preset {args.preset}: skipping {', '.join(missing)} (not in this optzoo yet)")
    for problem, steps, rates, shape in plans:
        _race_one(args, console, problem, names, steps, rates, shape, heldout, out[problem])
    return 0


def _caption(problem: str, title: str, heldout: bool) -> tuple[str, int]:
    """The table's caption and the number of held-out digits images (0 elsewhere)."""
    if problem == "digits":
        from optzoo.problems import digits

        data = digits.load_digits()
        n_test = len(data.x_test)
        scored = (f"held-out loss is the cross-entropy on the {n_test} test images" if heldout
                  else "final loss is the full training-set cross-entropy")
        return (f"{title}. Digits: {len(data.x_train)} training / {n_test} test images, MLP 64-64-10 (ReLU), "
                f"batch {DIGITS_BATCH}; {scored}."), n_test
    if problem == "charlm":
        from optzoo.problems import charlm

        data = charlm.load_stdlib_text()
        return (f"{title}. Character-level transformer LM (optzoo.problems.charlm: 2 layers, d_model 64, "
                f"4 heads) on the standard library's docstrings ({len(data.train)} training / {len(data.test)} "
                f"held-out characters), batch {CHARLM_BATCH} random windows of {CHARLM_CONTEXT}; held-out loss "
                f"(nats per character) over {CHARLM_EVAL_WINDOWS} fixed held-out windows."), 0
    return f"{title}. Full-batch gradient from the customary start.", 0


def _race_one(args, console, problem, names, steps, rates, shape, heldout, out) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from optzoo.cli import race_engine, race_plots, race_tables

    heldout = heldout or problem == "charlm"
    sched_text = f", schedule {args.schedule}" if args.schedule else ""
    preset_text = f"preset {args.preset}, " if args.preset else ""
    title = f"optzoo race: {preset_text}{problem}, {steps} steps, seed {args.seed}{sched_text}"
    console.print(f"[bold]{title}[/bold]")
    start = time.perf_counter()
    with Progress(
        TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False, disable=args.quiet,
    ) as bar:
        swept = [n for n in names if args.sweep and rates[n][0] is not None and rates[n][1] != "--lr"]
        task = bar.add_task("race", total=len(names) + len(swept) * len(SWEEP_FACTORS))
        seen = [0]

        def progress(name):
            bar.update(task, completed=seen[0], description=name)
            seen[0] += 1

        for n in swept:  # a rate given with --lr is kept
            rates[n] = race_engine.sweep(problem, n, rates[n][0], steps, args.seed, args.schedule, progress,
                                         heldout), "sweep"
        lrs = {n: rate for n, (rate, _) in rates.items()}
        results = race_engine.race(problem, names, lrs, steps, args.seed, shape, progress, heldout)
        results = [r._replace(rate_source=rates[r.name][1]) for r in results]
        bar.update(task, completed=bar.tasks[0].total, description="done")
    elapsed = time.perf_counter() - start

    rows = race_tables.table_rows(results, problem)
    table = Table(title=title, title_justify="left")
    for c in rows[0]:
        table.add_column(c, justify="left" if c == "optimizer" else "right")
    for r in rows:
        table.add_row(*r.values())
    console.print(table)
    caption, n_test = _caption(problem, title, heldout)
    race_tables.write_tables(rows, out, caption)
    if heldout:
        race_plots.plot_heldout(results, problem, out, title)
        files = ["results.md", "results.csv", "heldout_curves.png"]
    else:
        race_plots.plot_losses(results, problem, out, title, n_test)
        files = ["results.md", "results.csv", "loss_curves.png"]
        if problem != "digits":
            race_plots.plot_trajectories(results, problem, out)
            files.append("trajectories.png")
    console.print(f"wrote {', '.join(str(out / f) for f in files)}  ({elapsed:.1f} s)")
