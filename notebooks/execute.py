"""Execute the notebooks and store them with their outputs, so that a reader sees the plots
on a code host without running anything.

    python notebooks/execute.py                 every notebook in this folder
    python notebooks/execute.py 3_vanishing_gradients.ipynb

Each notebook runs top to bottom in a fresh kernel (no network). Figures are stored as PNG at
``DPI`` dots per inch, and the outputs are made reproducible: no timestamps or run times in the
metadata, execution counts 1, 2, 3, ... ``tests/test_notebooks.py`` checks that what is stored
is a complete, error-free run, and (marked slow) that a fresh run still succeeds.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DPI = 72  # figures at modest resolution: the stored notebooks stay small
#: run in the kernel before the first cell (not stored): PNG figures at DPI, no metadata dates
SETUP = (
    "import matplotlib\n"
    "matplotlib.rcParams.update({'figure.dpi': %d, 'savefig.dpi': %d})\n"
    "from matplotlib_inline.backend_inline import set_matplotlib_formats\n"
    "set_matplotlib_formats('png', metadata={'Software': None})\n"
) % (DPI, DPI)


def notebooks() -> list[Path]:
    return sorted(HERE.glob("*.ipynb"))


def execute(path: Path, timeout: int = 600):
    """``path`` run top to bottom in a fresh kernel: the executed notebook (not written).

    ``SETUP`` runs as an extra first cell, which is then taken out again (and the execution
    counts renumbered from 1)."""
    import nbclient
    import nbformat

    os.environ.setdefault("KERAS_BACKEND", "jax")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    book = nbformat.read(path, as_version=4)
    book.cells.insert(0, nbformat.v4.new_code_cell(SETUP))
    client = nbclient.NotebookClient(
        book, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    client.execute()
    setup = book.cells.pop(0)
    if setup.outputs:
        raise RuntimeError(f"{path.name}: the setup cell printed {setup.outputs}")
    for cell in book.cells:
        if cell.cell_type == "code":
            if cell.execution_count is not None:
                cell.execution_count -= 1
            for out in cell.outputs:
                if "execution_count" in out and out.execution_count is not None:
                    out.execution_count -= 1
    return book


def clean(book):
    """``book`` without the volatile parts of a run: execution timings, kernel versions."""
    for cell in book.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)
    book.metadata.pop("widgets", None)
    book.metadata.get("language_info", {}).pop("version", None)
    return book


def main(argv: list[str]) -> int:
    import nbformat

    paths = [HERE / a for a in argv] if argv else notebooks()
    for path in paths:
        start = time.perf_counter()
        book = clean(execute(path))
        nbformat.write(book, path)
        size = path.stat().st_size
        print(f"{path.name}: {time.perf_counter() - start:.1f} s, {size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
