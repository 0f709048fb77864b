"""Small shared test utilities (no optzoo algorithm code here: references live in
each test, written from the published formulas)."""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np


@contextlib.contextmanager
def x64():
    """Run a block with 64-bit JAX types, restoring the default afterwards."""
    with jax.enable_x64(True):
        yield


def max_rel_err(actual, expected, floor: float = 1e-30) -> float:
    """max |a - e| / max(|e|, floor) over every leaf of two pytrees."""
    errs = jax.tree.map(
        lambda a, e: float(
            np.max(np.abs(np.asarray(a, np.float64) - np.asarray(e, np.float64))
                   / np.maximum(np.abs(np.asarray(e, np.float64)), floor), initial=0.0)
        ),
        actual,
        expected,
    )
    return max(jax.tree.leaves(errs), default=0.0)


def random_params(seed: int = 0, dtype=jnp.float32):
    """A small pytree with a matrix, a vector and a scalar leaf."""
    rng = np.random.default_rng(seed)
    return {
        "w": jnp.asarray(rng.normal(size=(4, 3)), dtype),
        "b": jnp.asarray(rng.normal(size=(3,)), dtype),
        "s": jnp.asarray(rng.normal(), dtype),
    }


def random_grads(params, steps: int, seed: int = 1, scale: float = 1.0):
    """A list of ``steps`` gradient pytrees shaped like ``params`` (NumPy float64)."""
    rng = np.random.default_rng(seed)
    return [
        jax.tree.map(lambda p: scale * rng.normal(size=np.shape(p)), params) for _ in range(steps)
    ]


def run_optimizer(tx, params, grads, jit: bool = True):
    """Apply ``tx`` to ``params`` with the given gradient sequence; return every iterate."""
    state = tx.init(params)
    update = jax.jit(tx.update) if jit else tx.update
    history = []
    for g in grads:
        g = jax.tree.map(lambda x, p: jnp.asarray(x, p.dtype), g, params)
        updates, state = update(g, state, params)
        params = jax.tree.map(lambda p, u: p + u, params, updates)
        history.append(params)
    return history, state
