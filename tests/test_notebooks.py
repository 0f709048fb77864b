"""The notebooks in notebooks/ are stored executed (a reader sees the plots on a code host), and
they still run top to bottom without errors (no network).

``python notebooks/execute.py`` re-executes them and writes them back; the stored run is checked
here cheaply (complete, in order, error-free, small), the fresh run is marked slow.
"""

import base64
import importlib.util
import struct
import time
from pathlib import Path

import nbclient
import nbformat
import pytest

FOLDER = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(FOLDER.glob("*.ipynb"))
MAX_BYTES = 600_000  # per notebook: figures at modest dpi, no huge outputs


def _execute_module():
    spec = importlib.util.spec_from_file_location("notebooks_execute", FOLDER / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png_size(data: str) -> tuple[int, int]:
    raw = base64.b64decode(data)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])


def test_notebooks_exist():
    assert [p.name[0] for p in NOTEBOOKS] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_executed(path):
    book = nbformat.read(path, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    # every code cell ran, once, in order, in one fresh kernel
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), f"{path.name}: not executed in order"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name}: stored with an error"
    images = [o.data["image/png"] for o in outputs if "data" in o and "image/png" in o.data]
    if any("plt.show" in c.source or "savefig" in c.source for c in code):
        assert images, f"{path.name}: plots, but no figure is stored"
    for img in images:
        width, height = _png_size(img)
        assert width <= 1600 and width * height <= 2_500_000, f"{path.name}: a {width}x{height} figure (dpi too high?)"
    assert path.stat().st_size < MAX_BYTES, f"{path.name}: {path.stat().st_size} bytes"
    for c in code:  # no run times or dates stored: a re-run only changes what it computed
        assert "execution" not in c.metadata, f"{path.name}: timings stored"


def _last_losses(text: str) -> dict[str, float]:
    """``{run: loss}`` from notebook 3's "mean loss, last 20 steps (chance: 2.30): a 0.12, ..."."""
    items = text.split(":", 2)[-1].split(",")
    return {name.strip(): float(value) for name, value in (i.strip().rsplit(" ", 1) for i in items)}


def test_vanishing_gradients_loss_panel_is_not_all_at_chance():
    # notebook 3's claim, read from its stored run: the sigmoid net stays at chance (ln 10 = 2.30)
    # while ReLU, leaky ReLU and SELU (each with its own initialisation) learn; clipping does not
    # help the sigmoid net, batch normalisation does
    book = nbformat.read(FOLDER / "3_vanishing_gradients.ipynb", as_version=4)
    printed = [o.text for c in book.cells if c.cell_type == "code" for o in c.outputs
               if o.output_type == "stream" and o.text.startswith("mean loss, last 20 steps")]
    assert len(printed) == 2, printed
    activations, sigmoid = (_last_losses(t) for t in printed)
    assert activations["sigmoid"] > 2.2 and sigmoid["SGD + clipping"] > 2.2
    assert max(activations["relu"], activations["leaky_relu"], activations["selu"]) < 1.8, activations
    assert sigmoid["SGD + batch norm"] < 1.8, sigmoid


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setenv("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    start = time.perf_counter()
    book = _execute_module().execute(path, timeout=300)
    elapsed = time.perf_counter() - start
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    print(f"{path.name}: {elapsed:.1f} s")
