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
    DIGITS_BATCH,
    PROBLEMS,
    RACE_LEARNING_RATES,
    RACE_STEPS,
    SWEEP_FACTORS,
    SWEEP_STEPS,
)


def add_parser(sub) -> None:
    r = sub.add_parser("race", help="race optimizers on a problem; write a table and plots")
    r.add_argument("--problem", default="digits", help=f"one of {', '.join(PROBLEMS)} (default digits)")
    r.add_argument("--optimizers", metavar="A,B,...", help="comma-separated names (default: the classic zoo, "
                   + ", ".join(CLASSIC_ZOO) + ")")
    r.add_argument("--schedule", metavar="NAME", help="scale every learning rate by this schedule's shape")
    r.add_argument("--steps", type=int_in("--steps", 1, INT32_MAX),
                   help="training steps (default: " + ", ".join(f"{k} {v}" for k, v in RACE_STEPS.items())
                   + "); memory does not grow with it")
    r.add_argument("--seed", type=int_in("--seed", 0, SEED_MAX), default=0,
                   help="seed of the initial weights and the mini-batch order on the digits (default 0)")
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
    problem = args.problem
    if problem not in PROBLEMS:
        raise UsageError(f"unknown problem {problem!r}; choose from: {choices(PROBLEMS)}")
    # every dependency before any output: a missing one writes nothing
    require("race", "rich", "matplotlib", *(("flax", "sklearn") if problem == "digits" else ()))
    from optzoo.cli import race_engine, race_plots, race_tables

    names = _names(args)
    steps = args.steps if args.steps is not None else RACE_STEPS[problem]
    rates = _learning_rates(args, problem, names)
    shape = race_engine.schedule_shape(args.schedule, steps) if args.schedule else None
    for n in names:  # construction errors (bad rates) before any training
        try:
            race_engine.optimizer(n, rates[n][0])
        except (ValueError, TypeError) as e:
            raise UsageError(str(e).splitlines()[0]) from None
    out = writable_dir(Path(args.out))

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = make_console()
    sched_text = f", schedule {args.schedule}" if args.schedule else ""
    title = f"optzoo race: {problem}, {steps} steps, seed {args.seed}{sched_text}"
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
            rates[n] = race_engine.sweep(problem, n, rates[n][0], steps, args.seed, args.schedule, progress), "sweep"
        lrs = {n: rate for n, (rate, _) in rates.items()}
        results = race_engine.race(problem, names, lrs, steps, args.seed, shape, progress)
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
    if problem == "digits":
        from optzoo.problems import digits

        data = digits.load_digits()
        n_test = len(data.x_test)
        caption = (f"{title}. Digits: {len(data.x_train)} training / {n_test} test images, MLP 64-64-10 (ReLU), batch "
                   f"{DIGITS_BATCH}; final loss is the full training-set cross-entropy.")
    else:
        n_test = 0
        caption = f"{title}. Full-batch gradient from the customary start."
    race_tables.write_tables(rows, out, caption)
    race_plots.plot_losses(results, problem, out, title, n_test)
    files = ["results.md", "results.csv", "loss_curves.png"]
    if problem != "digits":
        race_plots.plot_trajectories(results, problem, out)
        files.append("trajectories.png")
    console.print(f"wrote {', '.join(str(out / f) for f in files)}  ({elapsed:.1f} s)")
    return 0
