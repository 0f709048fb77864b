"""The race's result table: ranking, formatting, and its writers (``results.csv``,
``results.md``)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from optzoo.cli.race_settings import RACE_TARGETS


def sort_key(r):
    """Rank order: finite before diverged, then higher test accuracy, then lower final loss."""
    bad = not math.isfinite(r.final_loss)
    return (bad, -(r.test_accuracy or 0.0), r.final_loss if not bad else 0.0)


def fmt_loss(x: float) -> str:
    return f"{x:.4g}" if math.isfinite(x) else "diverged"


def fmt_rate(lr: float | None) -> str:
    return "line search" if lr is None else f"{lr:g}"


def table_rows(results, problem) -> list[dict[str, str]]:
    """One ``{column: text}`` per optimizer, best first."""
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
