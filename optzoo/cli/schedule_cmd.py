"""``optzoo schedule``: preview a learning-rate schedule (or several) as text, a table and a plot.

``build_schedule`` and ``schedule_values`` also serve ``optzoo race --schedule``.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from pathlib import Path
from typing import Any

from optzoo.cli.common import INT32_MAX, UsageError, choices, int_in, names_list, require, writable_file
from optzoo.cli.common import console as make_console
from optzoo.cli.plots import ascii_plot, image_path, pyplot


def add_parser(sub) -> None:
    s = sub.add_parser("schedule", help="preview and plot a learning-rate schedule")
    s.add_argument("name", nargs="?", help="a schedule name (see `optzoo list`)")
    s.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override an example argument (repeatable), e.g. --set decay_steps=500")
    s.add_argument("--steps", type=int_in("--steps", 1, INT32_MAX), default=1000,
                   help="steps to evaluate, 0 .. STEPS-1 (default 1000)")
    s.add_argument("--out", metavar="FILE.png",
                   help="the plot's file; its extension picks the format: .png, .pdf, .svg, ... "
                        "(default schedule-NAME.png, or schedules.png with --compare)")
    s.add_argument("--compare", metavar="A,B,C", help="overlay several schedules")


def _registry() -> dict:
    try:
        from optzoo.schedules.registry import SCHEDULES
    except ImportError as e:  # pragma: no cover - only while schedules are missing
        raise UsageError(f"the schedule registry is not available ({e})") from None
    return SCHEDULES


def _known(name: str, schedules: dict):
    if name not in schedules:
        from optzoo.schedules.registry import TRANSFORMATIONS, usage

        if name in TRANSFORMATIONS:  # listed by `optzoo list`, but not a step -> lr function
            raise UsageError(usage(name))
        raise UsageError(f"unknown schedule {name!r}; choose from: {choices(schedules)}")
    return schedules[name]


def _parameters(info) -> list[str]:
    return list(inspect.signature(info.fn).parameters)


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
    info = _known(name, _registry())
    kwargs = dict(info.example_kwargs)
    valid = _parameters(info)
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


def run(args) -> int:
    require("schedule", "rich", "matplotlib")
    import numpy as np
    from rich.table import Table

    names = ([args.name] if args.name else []) + names_list(args.compare or "")
    if not names:
        raise UsageError(f"name a schedule or use --compare A,B; choose from: {choices(_registry())}")
    overrides = _parse_sets(args.set or [])
    registry = _registry()
    for n in names:
        _known(n, registry)
    if overrides and len(names) == 1:
        build_schedule(names[0], overrides)  # unknown keys: one-line error with the valid ones
    if overrides and len(names) > 1:
        accepted = {k for n in names for k in _parameters(registry[n])}
        for key in overrides:
            if key not in accepted:
                raise UsageError(f"no compared schedule takes {key!r}")
    default = f"schedule-{names[0]}.png" if len(names) == 1 else "schedules.png"
    out = writable_file(image_path(Path(args.out or default)))

    curves = {}
    for n in names:
        params = set(_parameters(registry[n]))
        mine = {k: val for k, val in overrides.items() if k in params}
        sched, kwargs = build_schedule(n, mine)
        curves[n] = (schedule_values(sched, args.steps), kwargs)

    console = make_console()
    for n, (vals, kwargs) in curves.items():
        info = registry[n]
        console.print(f"[bold]{n}[/bold]  ({info.family}; {info.reference})")
        console.print(f"  {info.formula}", highlight=False, markup=False)
        console.print("  " + ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items()), markup=False)
        console.print(ascii_plot(vals), highlight=False, markup=False)
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
    plt = pyplot()
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
