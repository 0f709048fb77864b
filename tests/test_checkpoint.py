"""Orbax checkpoints: stop mid-training, restore in a fresh process, carry on.

For every optimizer constructor exported by ``optzoo`` (each one buildable from a
learning rate alone), one Python process trains ``SAVE_AT`` steps, saves the
parameters and optimizer state with orbax and runs on to ``TOTAL``; a second
process restores them into the structure
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
import orbax.checkpoint as ocp
import pytest

import optzoo
from optzoo.train import make_train_step

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


def first_run(ckpt_dir: str, out_file: str) -> None:
    """Run in a fresh process: train every optimizer SAVE_AT steps, save, and go on
    uninterrupted to TOTAL steps."""
    txs = optimizers()
    mid, finals = {}, {}
    for name, tx in txs.items():
        p = init_params()
        params, state = run(tx, p, tx.init(p), 0, SAVE_AT)
        mid[name] = {"params": params, "opt_state": state}
        for i, leaf in enumerate(_flat(run(tx, params, state, SAVE_AT, TOTAL))):
            finals[f"{name}/{i}"] = leaf
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(os.path.join(ckpt_dir, "mid"), mid)
    ckptr.wait_until_finished()
    np.savez(out_file, **finals)


def _in_fresh_process(tmp_path, fn: str, out_file) -> None:
    # both processes share a compilation cache, so the second one loads the first
    # one's executables instead of compiling them again
    env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "xla-cache"),
               JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
               JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
    code = f"import tests.test_checkpoint as t; t.{fn}({str(tmp_path)!r}, {str(out_file)!r})"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow  # one compile per optimizer
def test_checkpoint_resume_in_fresh_process_is_bitwise_identical(tmp_path):
    assert {"sgd", "adam", "adadelta", "nadam", "rmsprop"} <= set(optimizers())
    _in_fresh_process(tmp_path, "first_run", tmp_path / "uninterrupted.npz")
    _in_fresh_process(tmp_path, "resume", tmp_path / "resumed.npz")
    want, got = np.load(tmp_path / "uninterrupted.npz"), np.load(tmp_path / "resumed.npz")
    assert sorted(want.files) == sorted(got.files)
    mismatched = [k for k in want.files
                  if got[k].dtype != want[k].dtype or not np.array_equal(got[k], want[k], equal_nan=True)]
    assert not mismatched, mismatched
    assert len({k.split("/")[0] for k in want.files}) == len(optimizers())
