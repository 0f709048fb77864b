"""Drawing helpers shared by the subcommands: matplotlib without a display, colours, text plots."""

from __future__ import annotations

from pathlib import Path

from optzoo.cli.common import UsageError


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, no window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_path(path: Path) -> Path:
    """``path``, if its extension is an image format matplotlib writes (``.png``,
    ``.pdf``, ``.svg``, ...); otherwise a one-line :class:`UsageError`."""
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in formats:
        raise UsageError(
            f"--out {str(path)!r} needs an image extension: "
            + ", ".join(f".{f}" for f in sorted(formats))
            + f" (e.g. {path.with_name(path.name + '.png')})"
        )
    return path


def colors(n: int) -> list:
    """``n`` distinct colours: tab10, or tab20 beyond ten."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def ascii_plot(values, width: int = 64, height: int = 12) -> str:
    """``values`` against their index as a text plot (the min and max of each column)."""
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
