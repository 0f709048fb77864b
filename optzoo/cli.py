"""The ``optzoo`` command: ``list``, ``schedule``, ``race`` and ``bench``.

::

    optzoo list                                   every optimizer and schedule
    optzoo schedule cosine_decay --set decay_steps=500 --out cosine.png
    optzoo schedule --compare step_decay,cosine_decay,one_cycle
    optzoo race                                   the classic zoo on the digits
    optzoo race --problem rosenbrock --optimizers sgd,adam,rmsprop --steps 2000
    optzoo bench ...                              benchmarks (``optzoo.bench``)

``python -m optzoo`` is the same command. Bad input (unknown names, a malformed
``--set``, an unwritable ``--out``) prints one line naming the valid choices and
exits with status 2.

Race defaults (learning rates per problem and optimizer) are in ``RACE_LEARNING_RATES``;
they were chosen once by a sweep over three rates a factor of 3 apart per optimizer
and problem (the best final loss that does not diverge; on the saddle, a rate that
escapes while the path stays on the plot). AdaDelta keeps the paper's rate 1.0
on the digits.
"""

from __future__ import annotations

import argparse
import ast
import csv
import inspect
import math
import os
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["main", "RACE_LEARNING_RATES", "RACE_STEPS", "RACE_TARGETS", "CLASSIC_ZOO", "PROBLEMS"]

CLASSIC_ZOO = (
    "sgd", "momentum", "nag", "adagrad", "adadelta", "rmsprop", "adam", "adamax", "nadam", "amsgrad",
)
PROBLEMS = ("digits", "rosenbrock", "beale", "quadratic", "saddle")

#: learning rate per problem and optimizer (``"*"``: any optimizer not listed)
RACE_LEARNING_RATES: dict[str, dict[str, float]] = {
    "digits": {
        "sgd": 0.3, "momentum": 0.1, "nag": 0.1, "adagrad": 0.1, "adadelta": 1.0,
        "rmsprop": 3e-3, "adam": 1e-2, "adamax": 2e-2, "nadam": 1e-2, "amsgrad": 1e-2,
        "*": 3e-3,
    },
    "rosenbrock": {
        "sgd": 1e-3, "momentum": 1.5e-3, "nag": 5e-4, "adagrad": 0.9, "adadelta": 0.3,
        "rmsprop": 3e-3, "adam": 0.05, "adamax": 0.15, "nadam": 0.015, "amsgrad": 0.05,
        "*": 0.01,
    },
    "beale": {
        "sgd": 0.03, "momentum": 5e-3, "nag": 5e-3, "adagrad": 0.3, "adadelta": 1.0,
        "rmsprop": 3e-3, "adam": 0.05, "adamax": 0.15, "nadam": 0.05, "amsgrad": 0.05,
        "*": 0.01,
    },
    "quadratic": {
        "sgd": 0.015, "momentum": 0.01, "nag": 0.01, "adagrad": 0.3, "adadelta": 3.0,
        "rmsprop": 0.01, "adam": 0.05, "adamax": 0.05, "nadam": 0.05, "amsgrad": 0.05,
        "*": 0.01,
    },
    "saddle": {
        "sgd": 0.03, "momentum": 3e-3, "nag": 3e-3, "adagrad": 0.1, "adadelta": 0.3,
        "rmsprop": 0.01, "adam": 0.01, "adamax": 0.01, "nadam": 0.01, "amsgrad": 0.01,
        "*": 0.01,
    },
}
#: default number of steps per problem
RACE_STEPS = {"digits": 600, "rosenbrock": 2000, "beale": 1000, "quadratic": 300, "saddle": 200}
#: "steps to target": first step whose loss (for digits: smoothed mini-batch loss) is at or below
RACE_TARGETS = {"digits": 0.1, "rosenbrock": 1e-3, "beale": 1e-3, "quadratic": 1e-4, "saddle": -1.0}
DIGITS_BATCH = 64
SCHEDULE_HORIZON = 1000  # the registry's examples span about this many steps


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump
        raise UsageError(message)


def _console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 120)


def _choices(values) -> str:
    return ", ".join(sorted(values))


# ------------------------------------------------------------------------------ list


def cmd_list(args) -> int:
    from rich.table import Table

    from optzoo import catalog

    record = catalog.parity_record()
    console = _console()
    for title, rows in (
        ("Optimizers", catalog.optimizer_rows(record)),
        ("Schedules", catalog.schedule_rows(record)),
    ):
        table = Table(title=f"{title} ({len(rows)})", title_justify="left")
        for col in ("name", "family", "reference", "flavors", "parity-verified"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r.name, r.family, r.reference, r.flavors, r.verified)
        console.print(table)
    if not record:
        console.print("No parity record (docs/parity.md); run `python -m tests.parity.report`.")
    return 0


# -------------------------------------------------------------------------- schedule


def _registry() -> dict:
    try:
        from optzoo.schedules.registry import SCHEDULES
    except ImportError as e:  # pragma: no cover - only while schedules are missing
        raise UsageError(f"the schedule registry is not available ({e})") from None
    return SCHEDULES


def _parse_sets(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier() or not raw.strip():
            raise UsageError(f"malformed --set {item!r}: expected key=value, e.g. decay_steps=500")
        try:
            out[key] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            out[key] = raw.strip()  # a bare word, e.g. mode=triangular2
    return out


def build_schedule(name: str, overrides: dict | None = None):
    """``(schedule, kwargs)`` for a registry entry with some example arguments replaced."""
    schedules = _registry()
    if name not in schedules:
        raise UsageError(f"unknown schedule {name!r}; choose from: {_choices(schedules)}")
    info = schedules[name]
    kwargs = dict(info.example_kwargs)
    valid = [p for p in inspect.signature(info.fn).parameters]
    for key in overrides or {}:
        if key not in valid:
            raise UsageError(f"{name} has no argument {key!r}; valid: {', '.join(valid)}")
    kwargs.update(overrides or {})
    try:
        return info.fn(**kwargs), kwargs
    except (ValueError, TypeError) as e:
        raise UsageError(str(e).splitlines()[0]) from None


def schedule_values(schedule, steps: int):
    """``schedule(step)`` for ``step = 0 .. steps-1`` as a float64 NumPy array."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    t = jnp.arange(steps, dtype=jnp.int32)
    try:
        return np.asarray(jax.jit(jax.vmap(schedule))(t), np.float64)
    except Exception:  # a schedule that does not vmap: evaluate step by step
        return np.array([float(schedule(i)) for i in range(steps)], np.float64)


def _ascii_plot(values, width: int = 64, height: int = 12) -> str:
    import numpy as np

    v = np.asarray(values, np.float64)
    cols = np.array_split(np.arange(len(v)), min(width, len(v)))
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    span = hi - lo if hi > lo else 1.0
    grid = [[" "] * len(cols) for _ in range(height)]
    for j, idx in enumerate(cols):
        for y in (float(np.nanmax(v[idx])), float(np.nanmin(v[idx]))):
            row = height - 1 - int(round((y - lo) / span * (height - 1)))
            grid[row][j] = "•"
    lines = []
    for i, row in enumerate(grid):
        label = f"{hi:>10.3g} ┤" if i == 0 else (f"{lo:>10.3g} ┤" if i == height - 1 else " " * 11 + "│")
        lines.append(label + "".join(row))
    lines.append(" " * 11 + "└" + "─" * len(cols))
    lines.append(" " * 12 + f"0{'step':^{max(len(cols) - 2 - len(str(len(v) - 1)), 4)}}{len(v) - 1}")
    return "\n".join(lines)


def _writable_file(path: Path) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab"):
            pass
    except OSError as e:
        raise UsageError(f"cannot write --out {str(path)!r}: {e.strerror or e}") from None
    return path


def cmd_schedule(args) -> int:
    import numpy as np

    names = ([args.name] if args.name else []) + [
        n.strip() for n in (args.compare or "").split(",") if n.strip()
    ]
    if not names:
        raise UsageError(f"name a schedule or use --compare A,B; choose from: {_choices(_registry())}")
    if args.steps < 1:
        raise UsageError(f"--steps must be a positive integer, got {args.steps}")
    overrides = _parse_sets(args.set or [])
    registry = _registry()
    for n in names:
        if n not in registry:
            raise UsageError(f"unknown schedule {n!r}; choose from: {_choices(registry)}")
    if overrides and len(names) == 1:
        build_schedule(names[0], overrides)  # unknown keys: one-line error with the valid ones
    if overrides and len(names) > 1:
        accepted = {k for n in names for k in inspect.signature(registry[n].fn).parameters}
        for key in overrides:
            if key not in accepted:
                raise UsageError(f"no compared schedule takes {key!r}")
    out = Path(args.out or (f"schedule-{names[0]}.png" if len(names) == 1 else "schedules.png"))
    _writable_file(out)

    curves = {}
    for n in names:
        params = set(inspect.signature(registry[n].fn).parameters)
        mine = {k: val for k, val in overrides.items() if k in params}
        sched, kwargs = build_schedule(n, mine)
        curves[n] = (schedule_values(sched, args.steps), kwargs)

    console = _console()
    from rich.table import Table

    for n, (vals, kwargs) in curves.items():
        info = registry[n]
        console.print(f"[bold]{n}[/bold]  ({info.family}; {info.reference})")
        console.print(f"  {info.formula}", highlight=False, markup=False)
        console.print("  " + ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items()), markup=False)
        console.print(_ascii_plot(vals), highlight=False, markup=False)
    table = Table("schedule", "step 0", "25%", "50%", "75%", "last", "min", "max")
    for n, (vals, _) in curves.items():
        q = [vals[int(f * (len(vals) - 1))] for f in (0, 0.25, 0.5, 0.75, 1.0)]
        table.add_row(n, *(f"{x:.4g}" for x in q), f"{np.min(vals):.4g}", f"{np.max(vals):.4g}")
    console.print(table)

    _plot_schedules(curves, registry, out)
    console.print(f"wrote {out}")
    return 0


def _short(value) -> str:
    if callable(value):
        return getattr(value, "__name__", "schedule")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(x) for x in value) + "]"
    return repr(value)


def _plot_schedules(curves: dict, registry: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for n, (vals, _) in curves.items():
        ax.plot(vals, label=n, lw=1.8)
    ax.set_xlabel("step")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    if len(curves) == 1:
        n = next(iter(curves))
        ax.set_title(n, fontweight="bold", loc="left")
        fig.text(0.01, 0.01, textwrap.fill(registry[n].formula, 130), fontsize=7, va="bottom")
        fig.subplots_adjust(bottom=0.22)
    else:
        ax.legend()
        ax.set_title("schedules compared", loc="left", fontweight="bold")
    fig.tight_layout(rect=(0, 0.06 if len(curves) == 1 else 0, 1, 1))
    fig.savefig(out)
    plt.close(fig)


# ------------------------------------------------------------------------------ race


class RaceResult(NamedTuple):
    name: str
    learning_rate: float
    losses: Any  # (steps,) loss per step (digits: mini-batch loss)
    final_loss: float  # digits: full training-set loss at the end
    test_accuracy: float | None
    steps_to_target: int | None
    ms_per_step: float
    compile_s: float
    trajectory: Any = None  # (steps + 1, 2) for 2-D problems


def _optimizer(name: str, learning_rate):
    import optzoo

    fn = getattr(optzoo, name)
    if "learning_rate" in inspect.signature(fn).parameters:
        return fn(learning_rate=learning_rate)
    return fn()


def _schedule_shape(name: str, steps: int):
    """A registry schedule rescaled to ``steps`` and to a peak of 1: ``t -> s(t H / steps) / peak``."""
    import jax.numpy as jnp
    import numpy as np

    sched, _ = build_schedule(name)
    peak = float(np.max(np.abs(schedule_values(sched, SCHEDULE_HORIZON)))) or 1.0
    scale = SCHEDULE_HORIZON / steps

    def shape(t):
        return sched(jnp.floor(jnp.asarray(t, jnp.float32) * scale).astype(jnp.int32)) / peak

    return shape


def _ema(x, beta: float = 0.9):
    import numpy as np

    out = np.empty(len(x))
    acc = 0.0
    for i, val in enumerate(np.asarray(x, np.float64)):
        acc = beta * acc + (1 - beta) * val
        out[i] = acc / (1 - beta ** (i + 1))
    return out


def _first_at_or_below(values, target) -> int | None:
    import numpy as np

    hits = np.nonzero(np.asarray(values) <= target)[0]
    return int(hits[0]) + 1 if hits.size else None


def _time_run(run, *args):
    """Compile ``run`` ahead of time, then time one execution: (outputs, compile_s, run_s)."""
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(run).lower(*args).compile()
    t1 = time.perf_counter()
    out = compiled(*args)
    jax.block_until_ready(out)
    return out, t1 - t0, time.perf_counter() - t1


def _race_digits(names, lrs, steps, seed, shape, progress):
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from flax import nnx

    from optzoo.problems import digits
    from optzoo.train import make_train_step

    data = digits.load_digits()
    apply, params0 = digits.numpy_mlp((64,), seed)
    x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    rng = np.random.default_rng(seed)
    per_epoch = len(data.x_train) // DIGITS_BATCH
    epochs = -(-steps // per_epoch)
    order = np.concatenate([rng.permutation(len(data.x_train)) for _ in range(epochs)])
    idx = jnp.asarray(order[: steps * DIGITS_BATCH].reshape(steps, DIGITS_BATCH))

    def loss_fn(p, batch):
        xb, yb = batch
        return optax.softmax_cross_entropy_with_integer_labels(apply(p, xb), yb).mean()

    @jax.jit
    def evaluate(p):
        acc = jnp.mean(jnp.argmax(apply(p, x_te), -1) == y_te)
        return loss_fn(p, (x_tr, y_tr)), acc

    results = []
    for name in names:
        progress(name)
        lr = lrs[name]
        tx = _optimizer(name, lr if shape is None else (lambda t, lr=lr: lr * shape(t)))
        step = make_train_step(loss_fn, tx, jit=False)

        def run(params, idx, step=step, tx=tx):
            def body(carry, ib):
                p, s, _ = step(*carry, (x_tr[ib], y_tr[ib]))
                return (p, s), _

            (p, _), losses = jax.lax.scan(body, (params, tx.init(params)), idx)
            return p, losses

        (p, losses), compile_s, run_s = _time_run(run, params0, idx)
        final_loss, acc = (float(x) for x in evaluate(p))
        losses = np.asarray(losses, np.float64)
        results.append(RaceResult(
            name, lr, losses, final_loss, acc,
            _first_at_or_below(_ema(losses), RACE_TARGETS["digits"]),
            1e3 * run_s / steps, compile_s,
        ))
    return results


def _problem(name: str):
    from optzoo import problems

    return {
        "rosenbrock": problems.rosenbrock,
        "beale": problems.beale,
        "quadratic": problems.ill_conditioned_quadratic,
        "saddle": problems.saddle,
    }[name]()


def _race_2d(problem_name, names, lrs, steps, seed, shape, progress):
    import jax
    import jax.numpy as jnp
    import numpy as np

    from optzoo.train import make_train_step

    prob = _problem(problem_name)
    x0 = jnp.asarray(prob.init, jnp.float32)
    loss_fn = lambda p, _batch: prob.fn(p)  # noqa: E731  (full-batch: no data)

    results = []
    for name in names:
        progress(name)
        lr = lrs[name]
        tx = _optimizer(name, lr if shape is None else (lambda t, lr=lr: lr * shape(t)))
        step = make_train_step(loss_fn, tx, jit=False)

        def run(x, step=step, tx=tx):
            def body(carry, _):
                x, s, loss = step(*carry, None)
                return (x, s), (carry[0], loss)

            (x, _), (path, losses) = jax.lax.scan(body, (x, tx.init(x)), None, length=steps)
            return jnp.concatenate([path, x[None]]), jnp.append(losses, prob.fn(x))

        (path, losses), compile_s, run_s = _time_run(run, x0)
        losses = np.asarray(losses, np.float64)
        final = float(losses[-1])
        results.append(RaceResult(
            name, lr, losses[:-1], final, None,
            _first_at_or_below(losses[1:], RACE_TARGETS[problem_name]),
            1e3 * run_s / steps, compile_s, np.asarray(path, np.float64),
        ))
    return results


def _sort_key(r: RaceResult):
    bad = not math.isfinite(r.final_loss)
    return (bad, -(r.test_accuracy or 0.0), r.final_loss if not bad else 0.0)


def _fmt_loss(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else "diverged"


def _table_rows(results, problem):
    rows = []
    for rank, r in enumerate(sorted(results, key=_sort_key), 1):
        row = {
            "rank": str(rank),
            "optimizer": r.name,
            "learning rate": f"{r.learning_rate:g}",
            "final loss": _fmt_loss(r.final_loss),
        }
        if problem == "digits":
            row["test accuracy"] = f"{100 * r.test_accuracy:.1f}%"
        row[f"steps to loss ≤ {RACE_TARGETS[problem]:g}"] = (
            str(r.steps_to_target) if r.steps_to_target is not None else "not reached"
        )
        row["ms / step"] = f"{r.ms_per_step:.3g}"
        row["compile s"] = f"{r.compile_s:.2f}"
        rows.append(row)
    return rows


def _write_tables(rows, out: Path, caption: str) -> None:
    cols = list(rows[0])
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    lines = [caption, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def _colors(n):
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _plot_losses(results, problem, steps, out: Path, title: str, n_test: int = 0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    colors = dict(zip([r.name for r in results], _colors(len(results))))
    ranked = sorted(results, key=_sort_key)
    if problem == "digits":
        fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5), dpi=110, gridspec_kw={"width_ratios": [2, 1]})
    else:
        fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    for r in ranked:
        y = _ema(r.losses) if problem == "digits" else r.losses
        ax.plot(np.arange(1, len(y) + 1), y, color=colors[r.name], lw=1.6, label=f"{r.name} (lr {r.learning_rate:g})")
    target = RACE_TARGETS[problem]
    if problem == "saddle":
        ax.set_yscale("symlog", linthresh=1e-2)
    else:
        ax.set_yscale("log")
    finite = np.concatenate([r.losses[np.isfinite(r.losses)] for r in results] or [np.zeros(1)])
    if problem != "saddle" and finite.size:
        lo = max(float(np.min(finite[finite > 0])) if np.any(finite > 0) else 1e-12, 1e-12)
        ax.set_ylim(min(lo, target) / 2, float(np.max(finite)) * 2)
    else:
        ax.set_ylim(max(float(np.min(finite)), -1e3), float(np.max(finite)) + 1)
    ax.axhline(target, color="0.4", ls=":", lw=1)
    ax.text(0.005, target, f" target {target:g}", va="bottom", fontsize=8, color="0.3",
            transform=ax.get_yaxis_transform(), clip_on=True)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (mini-batch, smoothed)" if problem == "digits" else "f(x)")
    ax.set_title(title, loc="left", fontweight="bold", fontsize=11)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, ncol=2 if len(results) > 6 else 1, loc="upper right", framealpha=0.9)
    if problem == "digits":
        names = [r.name for r in ranked][::-1]
        accs = [100 * r.test_accuracy for r in ranked][::-1]
        bx.barh(names, accs, color=[colors[n] for n in names])
        for i, a in enumerate(accs):
            bx.text(a, i, f" {a:.1f}%", va="center", fontsize=8)
        low = min(accs)
        bx.set_xlim(max(0.0, low - 10), 100.5)
        bx.set_xlabel("test accuracy after the race (%)")
        bx.set_title(f"held-out test split ({n_test} images)", loc="left", fontsize=10)
        bx.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "loss_curves.png")
    plt.close(fig)


def _plot_trajectories(results, problem, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    prob = _problem(problem)
    (x_lo, x_hi), (y_lo, y_hi) = prob.bounds
    gx, gy = np.meshgrid(np.linspace(x_lo, x_hi, 300), np.linspace(y_lo, y_hi, 300))
    import jax
    import jax.numpy as jnp

    z = np.asarray(jax.vmap(prob.fn, in_axes=1)(jnp.stack([gx.ravel(), gy.ravel()])).reshape(gx.shape))
    if problem == "saddle":
        levels = np.linspace(float(z.min()), float(z.max()), 25)
        zz = z
    else:
        zz = np.log10(z - prob.min_value + 1e-3)
        levels = 25
    n = len(results)
    cols = min(5, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.0 * rows + 0.4), dpi=110, squeeze=False)
    colors = _colors(n)
    for ax, r, c in zip(axes.flat, results, colors):
        ax.contourf(gx, gy, zz, levels=levels, cmap="Greys_r", alpha=0.55)
        ax.contour(gx, gy, zz, levels=levels if isinstance(levels, int) else levels, colors="0.5", linewidths=0.3)
        path = r.trajectory
        path = np.clip(path, [x_lo - 1, y_lo - 1], [x_hi + 1, y_hi + 1])
        ax.plot(path[:, 0], path[:, 1], "-", color=c, lw=1.5)
        ax.plot(path[::max(1, len(path) // 25), 0], path[::max(1, len(path) // 25), 1], ".", color=c, ms=3)
        ax.plot(*path[0], "o", color="white", mec="black", ms=6, zorder=5)
        ax.plot(*path[-1], "s", color=c, mec="black", ms=6, zorder=5)
        ax.plot(*np.asarray(prob.minimum), "*", color="gold", mec="black", ms=12, zorder=6)
        ax.set_xlim(x_lo, x_hi)
        ax.set_ylim(y_lo, y_hi)
        ax.set_title(f"{r.name} (lr {r.learning_rate:g})\nf = {_fmt_loss(r.final_loss)}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    mark = "saddle point" if problem == "saddle" else "minimum"
    fig.suptitle(
        f"{problem}: paths from ○ start to ■ end, ★ {mark}"
        + ("" if problem == "saddle" else " (contours of log10 f)"),
        fontweight="bold",
    )
    fig.tight_layout()
    fig.savefig(out / "trajectories.png")
    plt.close(fig)


def _check_out_dir(out: Path) -> Path:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".optzoo-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise UsageError(f"cannot write --out {str(out)!r}: {e.strerror or e}") from None
    return out


def cmd_race(args) -> int:
    from optzoo import catalog

    problem = args.problem
    if problem not in PROBLEMS:
        raise UsageError(f"unknown problem {problem!r}; choose from: {_choices(PROBLEMS)}")
    valid = catalog.optimizer_names()
    names = [n.strip() for n in (args.optimizers or ",".join(CLASSIC_ZOO)).split(",") if n.strip()]
    if not names:
        raise UsageError(f"--optimizers is empty; choose from: {_choices(valid)}")
    for n in names:
        if n not in valid:
            raise UsageError(f"unknown optimizer {n!r}; choose from: {_choices(valid)}")
    if len(set(names)) != len(names):
        raise UsageError("--optimizers lists an optimizer twice")
    steps = args.steps if args.steps is not None else RACE_STEPS[problem]
    if steps < 1:
        raise UsageError(f"--steps must be a positive integer, got {steps}")
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
    shape = _schedule_shape(args.schedule, steps) if args.schedule else None
    out = _check_out_dir(Path(args.out))
    for n in names:  # construction errors (bad rates) before any training
        try:
            _optimizer(n, lrs[n])
        except (ValueError, TypeError) as e:
            raise UsageError(str(e).splitlines()[0]) from None

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = _console()
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
            results = _race_digits(names, lrs, steps, args.seed, shape, progress)
        else:
            results = _race_2d(problem, names, lrs, steps, args.seed, shape, progress)
        bar.update(task, completed=len(names), description="done")
    elapsed = time.perf_counter() - start

    from rich.table import Table

    rows = _table_rows(results, problem)
    table = Table(title=title, title_justify="left")
    for c in rows[0]:
        table.add_column(c, justify="left" if c == "optimizer" else "right")
    for r in rows:
        table.add_row(*r.values())
    console.print(table)
    if problem == "digits":
        from optzoo.problems import digits

        data = digits.load_digits()
        caption = (f"{title}. Digits: {len(data.x_train)} training / {len(data.x_test)} test images, MLP 64-64-10 (ReLU), batch "
                   f"{DIGITS_BATCH}; final loss is the full training-set cross-entropy.")
    else:
        caption = f"{title}. Full-batch gradient from the customary start."
    _write_tables(rows, out, caption)
    _plot_losses(results, problem, steps, out, title, len(data.x_test) if problem == "digits" else 0)
    files = ["results.md", "results.csv", "loss_curves.png"]
    if problem != "digits":
        _plot_trajectories(results, problem, out)
        files.append("trajectories.png")
    console.print(f"wrote {', '.join(str(out / f) for f in files)}  ({elapsed:.1f} s)")
    return 0


# ----------------------------------------------------------------------------- bench


def cmd_bench(args) -> int:
    try:
        from optzoo import bench
    except ImportError as e:
        raise UsageError(f"benchmarks are not available ({e})") from None
    code = bench.main(list(args.rest))
    return int(code or 0)


# ------------------------------------------------------------------------------ main


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="optzoo", description="The optimizer and learning-rate schedule zoo for JAX.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    sub.add_parser("list", help="every optimizer and schedule: family, reference, flavors, parity")

    s = sub.add_parser("schedule", help="preview and plot a learning-rate schedule")
    s.add_argument("name", nargs="?", help="a schedule name (see `optzoo list`)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override an example argument")
    s.add_argument("--steps", type=int, default=1000)
    s.add_argument("--out", metavar="FILE.png")
    s.add_argument("--compare", metavar="A,B,C", help="overlay several schedules")

    r = sub.add_parser("race", help="race optimizers on a problem; write a table and plots")
    r.add_argument("--problem", default="digits", help=f"one of {', '.join(PROBLEMS)} (default digits)")
    r.add_argument("--optimizers", metavar="A,B,...", help="default: the classic zoo")
    r.add_argument("--schedule", metavar="NAME", help="scale every learning rate by this schedule's shape")
    r.add_argument("--steps", type=int, help="default: " + ", ".join(f"{k} {v}" for k, v in RACE_STEPS.items()))
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", default="race-results", metavar="DIR")
    r.add_argument("--lr", action="append", metavar="NAME=RATE", help="override one optimizer's rate")
    r.add_argument("--quiet", action="store_true", help="no progress bar")

    b = sub.add_parser("bench", help="benchmarks (arguments go to optzoo.bench)", add_help=False)
    b.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``optzoo`` command; returns the exit status (2 for bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    if argv and argv[0] == "bench":  # everything after `bench` belongs to the benchmarks
        argv = ["bench", *argv[1:]]
        args = argparse.Namespace(command="bench", rest=argv[1:])
    else:
        try:
            args = parser.parse_args(argv)
        except UsageError as e:
            print(f"optzoo: error: {e}", file=sys.stderr)
            return 2
        except SystemExit as e:  # --help
            return int(e.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    os.environ.setdefault("KERAS_BACKEND", "jax")
    handler = {"list": cmd_list, "schedule": cmd_schedule, "race": cmd_race, "bench": cmd_bench}[args.command]
    try:
        return handler(args)
    except UsageError as e:
        print(f"optzoo {args.command}: error: {e}", file=sys.stderr)
        return 2
