"""Orbax checkpoints: stop mid-training, restore in a fresh process, carry on.

For every optimizer constructor exported by ``optzoo`` (each one buildable from a
learning rate alone), the parameters and optimizer state after ``SAVE_AT`` steps
are saved with orbax; a new Python process restores them into the structure
``tx.init`` gives, trains the remaining steps, and the final parameters and state
must be bitwise identical to an uninterrupted run. All optimizers share one
checkpoint and one subprocess to keep the test fast.
"""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from optzoo.train import make_train_step

ocp = pytest.importorskip("orbax.checkpoint")

SAVE_AT, TOTAL = 4, 9
LR = 1e-2
ROOT = Path(__file__).resolve().parents[1]


def optimizers() -> dict:
    """name -> transformation, for every constructor in ``optzoo.__all__`` that
    builds a gradient transformation from a learning rate alone."""
    out = {}
    for name in optzoo.__all__:
        fn = getattr(optzoo, name)
        if not inspect.isfunction(fn):
            continue
        params = inspect.signature(fn).parameters
        required = [p for p, v in params.items() if v.default is inspect.Parameter.empty
                    and v.kind in (v.POSITIONAL_ONLY, v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY)]
        if set(required) - {"learning_rate"} or "learning_rate" not in params:
            continue
        try:
            tx = fn(learning_rate=LR)
        except (TypeError, ValueError):
            continue
        if isinstance(tx, optax.GradientTransformation):
            out[name] = tx
    return out


def init_params():
    rng = np.random.default_rng(0)
    return {
        "w": jnp.asarray(rng.normal(size=(6, 5)), jnp.float32),  # a matrix (muon, adafactor)
        "b": jnp.asarray(rng.normal(size=(5,)), jnp.float32),
    }


def batch(t: int):
    rng = np.random.default_rng(100 + t)
    x = rng.normal(size=(8, 6)).astype(np.float32)
    return x, (x @ np.ones((6, 5)) * 0.3).astype(np.float32)


def loss_fn(p, b):
    x, y = b
    return jnp.mean((jnp.tanh(x @ p["w"] + p["b"]) - y) ** 2)


def run(tx, params, state, start, stop):
    step = make_train_step(loss_fn, tx, donate=False)
    for t in range(start, stop):
        params, state, _ = step(params, state, batch(t))
    return params, state


def _flat(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def resume(ckpt_dir: str, out_file: str) -> None:
    """Run in the fresh process: restore every optimizer's checkpoint and finish."""
    txs = optimizers()
    target = {}
    for name, tx in txs.items():
        p = init_params()
        target[name] = {"params": p, "opt_state": tx.init(p)}
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = ocp.StandardCheckpointer().restore(os.path.join(ckpt_dir, "mid"), abstract)
    finals = {}
    for name, tx in txs.items():
        params, state = run(tx, restored[name]["params"], restored[name]["opt_state"], SAVE_AT, TOTAL)
        for i, leaf in enumerate(_flat((params, state))):
            finals[f"{name}/{i}"] = leaf
    np.savez(out_file, **finals)


@pytest.mark.slow  # one compile per optimizer in each of two processes
def test_checkpoint_resume_in_fresh_process_is_bitwise_identical(tmp_path):
    txs = optimizers()
    assert {"sgd", "adam", "adadelta", "nadam", "rmsprop"} <= set(txs)
    mid, finals = {}, {}
    for name, tx in txs.items():
        p = init_params()
        params, state = run(tx, p, tx.init(p), 0, SAVE_AT)
        mid[name] = {"params": params, "opt_state": state}
        finals[name] = _flat(run(tx, params, state, SAVE_AT, TOTAL))
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(tmp_path / "mid", mid)
    ckptr.wait_until_finished()

    out_file = tmp_path / "resumed.npz"
    code = f"import tests.test_checkpoint as t; t.resume({str(tmp_path)!r}, {str(out_file)!r})"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    resumed = np.load(out_file)
    mismatched = []
    for name, leaves in finals.items():
        for i, want in enumerate(leaves):
            got = resumed[f"{name}/{i}"]
            if got.dtype != want.dtype or not np.array_equal(got, want, equal_nan=True):
                mismatched.append(f"{name} leaf {i}")
    assert not mismatched, mismatched
