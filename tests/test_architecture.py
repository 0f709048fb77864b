"""docs/architecture.md's worked example: adding an optimizer is one module.

The test copies the package, adds the example module exactly as the page prints it
under ``optzoo/transforms/``, and checks in a fresh interpreter that the optimizer is
exported, registered, listed, validated and runs."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = textwrap.dedent(
    """
    import jax.numpy as jnp, optax, pytest
    import optzoo
    from optzoo import catalog

    assert "signum" in optzoo.__all__
    r = optzoo.info("signum")
    assert (r.family, r.year, r.module) == ("sign", 2018, "optzoo.transforms.signum")
    assert r.defaults == {"learning_rate": 1e-3, "momentum": 0.9}
    assert "`signum`" in catalog.markdown()
    assert any(o["name"] == "signum" for o in catalog.as_json()["optimizers"])

    with pytest.raises(ValueError, match=r"^signum: momentum must be in \\[0, 1\\), got 1.0$"):
        optzoo.signum(momentum=1.0)

    tx = optzoo.signum(0.1, momentum=0.5)
    params = {"w": jnp.array([1.0, -2.0, 0.5])}
    state = tx.init(params)
    grads = {"w": jnp.array([0.3, -0.1, 0.0])}
    updates, state = tx.update(grads, state)
    assert jnp.allclose(updates["w"], jnp.array([-0.1, 0.1, 0.0]))
    with pytest.raises(ValueError, match="^signum: the gradient structure does not match"):
        tx.update({"v": grads["w"]}, state)

    # the validation and property tables pick it up
    from tests.test_validation import registry_rows
    from tests.zoo import ZOO
    assert any(e == "optzoo.signum" for e, *_ in registry_rows())
    assert "signum" in ZOO
    print("ok")
    """
)


def _example_source() -> str:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Worked example", 1)[1]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)[:1]
    return code


def test_adding_an_optimizer_is_one_module(tmp_path):
    shutil.copytree(ROOT / "optzoo", tmp_path / "optzoo",
                    ignore=shutil.ignore_patterns("__pycache__", "cli"))
    shutil.copytree(ROOT / "tests", tmp_path / "tests",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "optzoo" / "transforms" / "signum.py").write_text(_example_source())
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin",
                                         "JAX_PLATFORMS": "cpu"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
