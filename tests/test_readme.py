"""The README's Python examples run as written, top to bottom in one namespace."""

import re
from pathlib import Path

import jax.numpy as jnp
import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_examples_run():
    blocks = _python_blocks()
    assert len(blocks) >= 2, "README lost its quick-start examples"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102 - our own docs

    # The quick start's first step moved the params away from zero.
    assert not np.allclose(np.asarray(namespace["params"]["w"]), 0.0)
    # The Flax NNX step from the README trains: the loss goes down on a fixed batch.
    x = jnp.linspace(-1.0, 1.0, 32).reshape(8, 4)
    y = x.sum(axis=1, keepdims=True)
    step = namespace["train_step"]
    first = float(step(namespace["model"], namespace["optimizer"], x, y))
    for _ in range(20):
        last = float(step(namespace["model"], namespace["optimizer"], x, y))
    assert np.isfinite(last) and last < first
