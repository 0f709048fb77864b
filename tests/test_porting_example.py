"""docs/porting.md's worked example runs as printed: the torch script trains 60 steps
and writes a checkpoint at step 30; the JAX port resumes from that checkpoint and
must give torch's numbers for steps 30 to 59 (float64 on both sides, so within
1e-10), its final params and its final loss scale."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import x64

DOC = Path(__file__).resolve().parents[1] / "docs" / "porting.md"


def _block(tag: str) -> str:
    """The ```python block right after ``<!-- porting-example: tag -->``."""
    found = re.findall(rf"<!-- porting-example: {tag} -->\n```python\n(.*?)```",
                       DOC.read_text(), flags=re.S)
    assert len(found) == 1, f"docs/porting.md has {len(found)} blocks marked {tag!r}"
    return found[0]


@pytest.fixture
def torch_default_dtype():
    torch = pytest.importorskip("torch")
    previous, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_default_dtype(previous)
    torch.set_num_threads(threads)


def test_the_jax_port_continues_the_torch_run(tmp_path, monkeypatch, torch_default_dtype):
    monkeypatch.chdir(tmp_path)
    ran_torch: dict = {}
    exec(compile(_block("torch"), f"{DOC}:torch", "exec"), ran_torch)  # noqa: S102 - our docs
    assert (tmp_path / "checkpoint.pt").exists()
    ran_jax: dict = {}
    with x64():
        exec(compile(_block("jax"), f"{DOC}:jax", "exec"), ran_jax)  # noqa: S102
        import optzoo.pytorch as ozt

        scale = float(ozt.get_scale(ran_jax["opt_state"]))
    resume = ran_torch["RESUME"]
    expected = np.asarray(ran_torch["torch_losses"][resume:])
    got = np.asarray(ran_jax["jax_losses"])
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected) / np.abs(expected)) <= 1e-10, (got, expected)
    for name, tensor in ran_torch["model"].state_dict().items():
        layer, kind = name.split(".")
        want = tensor.numpy()
        have = np.asarray(ran_jax["params"][layer][kind])
        assert np.max(np.abs(have - want)) / np.max(np.abs(want)) <= 1e-10, name
    # growth_interval=10 over 60 clean steps: the scale doubled 6 times on both sides
    assert scale == ran_torch["scaler"].get_scale() == 2.0**10 * 2**6
