"""The race's result table: ranking, formatting, and its writers (``results.csv``,
``results.md``)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from optzoo.cli.race_settings import HELDOUT_TARGETS, RACE_TARGETS


def sort_key(r):
    """Rank order: finite before diverged, then higher test accuracy, then lower final loss (a
    held-out race: the lower final held-out loss)."""
    bad = not math.isfinite(r.final_loss)
    if r.curve_seconds is not None:
        return (bad, r.final_loss if not bad else 0.0)
    return (bad, -(r.test_accuracy or 0.0), r.final_loss if not bad else 0.0)


def equal_time(results) -> float:
    """A held-out race's common time budget: the shortest total training time of the racers."""
    return min(float(r.curve_seconds[-1]) for r in results)


def loss_at_seconds(r, seconds: float) -> float:
    """The held-out loss of ``r`` after ``seconds`` of training (linear between evaluations)."""
    return float(np.interp(seconds, r.curve_seconds, r.curve))


def heldout_rows(results, problem) -> list[dict[str, str]]:
    """The held-out race's table: the final held-out loss, its loss at the equal time budget
    (:func:`equal_time`), the steps and seconds to the held-out target, the step time."""
    target = HELDOUT_TARGETS.get(problem, RACE_TARGETS[problem])
    budget = equal_time(results)
    rows = []
    for rank, r in enumerate(sorted(results, key=sort_key), 1):
        row = {
            "rank": str(rank),
            "optimizer": r.name,
            "learning rate": fmt_rate(r.learning_rate),
            "rate from": r.rate_source,
            "held-out loss": fmt_loss(r.final_loss),
        }
        if r.test_accuracy is not None:
            row["test accuracy"] = f"{100 * r.test_accuracy:.1f}%"
        row[f"held-out loss at {budget:.3g} s"] = fmt_loss(loss_at_seconds(r, budget))
        hit = r.steps_to_target
        row[f"steps to held-out ≤ {target:g}"] = str(hit) if hit is not None else "not reached"
        row[f"s to held-out ≤ {target:g}"] = (
            f"{float(np.interp(hit, r.curve_steps, r.curve_seconds)):.3g}" if hit is not None else "not reached")
        row["ms / step"] = f"{r.ms_per_step:.3g}"
        row["compile s"] = f"{r.compile_s:.2f}"
        rows.append(row)
    return rows


def fmt_loss(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else "diverged"


def fmt_rate(lr: float | None) -> str:
    return "line search" if lr is None else f"{lr:g}"


def table_rows(results, problem) -> list[dict[str, str]]:
    """One ``{column: text}`` per optimizer, best first (:func:`heldout_rows` for a held-out race)."""
    if results and results[0].curve_seconds is not None:
        return heldout_rows(results, problem)
    rows = []
    for rank, r in enumerate(sorted(results, key=sort_key), 1):
        row = {
            "rank": str(rank),
            "optimizer": r.name,
            "learning rate": fmt_rate(r.learning_rate),
            "rate from": r.rate_source,
            "final loss": fmt_loss(r.final_loss),
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


def write_tables(rows, out: Path, caption: str) -> None:
    """``out/results.csv`` and ``out/results.md`` (the caption, then a Markdown table)."""
    cols = list(rows[0])
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    lines = [caption, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
    (out / "results.md").write_text("\n".join(lines) + "\n")
