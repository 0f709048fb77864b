"""``optzoo race``: race optimizers on one problem; print the table, write it and the plots."""

from __future__ import annotations

import time
from pathlib import Path

from optzoo.cli.common import UsageError, choices, names_list, writable_dir
from optzoo.cli.common import console as make_console
from optzoo.cli.race_settings import CLASSIC_ZOO, DIGITS_BATCH, PROBLEMS, RACE_LEARNING_RATES, RACE_STEPS


def add_parser(sub) -> None:
    r = sub.add_parser("race", help="race optimizers on a problem; write a table and plots")
    r.add_argument("--problem", default="digits", help=f"one of {', '.join(PROBLEMS)} (default digits)")
    r.add_argument("--optimizers", metavar="A,B,...", help="default: the classic zoo")
    r.add_argument("--schedule", metavar="NAME", help="scale every learning rate by this schedule's shape")
    r.add_argument("--steps", type=int, help="default: " + ", ".join(f"{k} {v}" for k, v in RACE_STEPS.items()))
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="race-results", metavar="DIR")
    r.add_argument("--lr", action="append", metavar="NAME=RATE", help="override one optimizer's rate")
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


def _learning_rates(args, problem: str, names: list[str]) -> dict[str, float]:
    table_lr = RACE_LEARNING_RATES[problem]
    lrs = {n: table_lr.get(n, table_lr["*"]) for n in names}
    for item in args.lr or []:
        key, sep, raw = item.partition("=")
        if not sep or key not in lrs:
            raise UsageError(f"malformed --lr {item!r}: expected NAME=RATE with NAME one of {', '.join(names)}")
        try:
            lrs[key] = float(raw)
        except ValueError:
            raise UsageError(f"malformed --lr {item!r}: {raw!r} is not a number") from None
    return lrs


def run(args) -> int:
    from optzoo.cli import race_engine, race_plots, race_tables

    problem = args.problem
    if problem not in PROBLEMS:
        raise UsageError(f"unknown problem {problem!r}; choose from: {choices(PROBLEMS)}")
    names = _names(args)
    steps = args.steps if args.steps is not None else RACE_STEPS[problem]
    if steps < 1:
        raise UsageError(f"--steps must be a positive integer, got {steps}")
    lrs = _learning_rates(args, problem, names)
    shape = race_engine.schedule_shape(args.schedule, steps) if args.schedule else None
    out = writable_dir(Path(args.out))
    for n in names:  # construction errors (bad rates) before any training
        try:
            race_engine.optimizer(n, lrs[n])
        except (ValueError, TypeError) as e:
            raise UsageError(str(e).splitlines()[0]) from None

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = make_console()
    sched_text = f", schedule {args.schedule}" if args.schedule else ""
    title = f"optzoo race: {problem}, {steps} steps, seed {args.seed}{sched_text}"
    console.print(f"[bold]{title}[/bold]")
    start = time.perf_counter()
    with Progress(
        TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=False, disable=args.quiet,
    ) as bar:
        task = bar.add_task("race", total=len(names))
        seen = [0]

        def progress(name):
            bar.update(task, completed=seen[0], description=name)
            seen[0] += 1

        if problem == "digits":
            results = race_engine.race_digits(names, lrs, steps, args.seed, shape, progress)
        else:
            results = race_engine.race_2d(problem, names, lrs, steps, args.seed, shape, progress)
        bar.update(task, completed=len(names), description="done")
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
    race_plots.plot_losses(results, problem, steps, out, title, n_test)
    files = ["results.md", "results.csv", "loss_curves.png"]
    if problem != "digits":
        race_plots.plot_trajectories(results, problem, out)
        files.append("trajectories.png")
    console.print(f"wrote {', '.join(str(out / f) for f in files)}  ({elapsed:.1f} s)")
    return 0
