"""Sharding check, run in its own process by ``tests/test_sharding.py``.

It must see ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` before JAX is
imported (the test sets it). For every case of the zoo table that supports
sharding, on a 1-D mesh ``(8,)`` and a 2-D mesh ``(4, 2)``:

- params ``w`` (16, 8), ``b`` (24,) sharded with ``NamedSharding``, ``s`` () replicated;
- every state leaf shaped like a param carries that param's sharding, every scalar
  leaf is fully replicated (after ``init`` and after 20 jitted steps);
- 20 jitted steps on the sharded params equal 20 steps on unsharded params within
  ``1e-6 * max(1, |x|)``.

Prints one JSON object per line: ``{"case", "mesh", "errors": [...], "max_err"}``.
Usage: ``python -m tests.sharding_check [case ...]``.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from tests.zoo import ZOO, quadratic, step_kwargs  # noqa: E402

STEPS = 20
TOL = 1e-6
# Prodigy and D-Adaptation take their step size d from a ratio of sums over every
# param whose numerator <g, x0 - x> cancels while x is near x0, so the order in which
# a sharded run adds it shows: over 20 float32 steps a start moved by one ulp moves
# prodigy's result by 1.6e-5 and dadapt_adam's by 2.4e-5 (adam's: 3e-7), and the
# sharded sums moved them by 4e-6 and 3.6e-4. Their sharded runs are held to this.
ESTIMATED_STEP_TOL = 1e-3
ESTIMATED_STEP = ("prodigy", "dadapt_")
# SOAP runs Adam in the eigenbasis of float32 statistics, whose eigenvectors for close
# eigenvalues move with the rounding of the sums that make them: a start moved by one
# ulp moves its examples' 20-step results by 9e-7 to 3.8e-6, and the sharded sums
# moved them by 2.1e-6 to 5.4e-6.
EIGENBASIS_TOL = 5e-5
EIGENBASIS = ("soap",)


def _meshes():
    devices = np.array(jax.devices()[:8])
    one = Mesh(devices.reshape(8), ("x",))
    two = Mesh(devices.reshape(4, 2), ("x", "y"))
    return {
        "1d": (one, {"w": P("x", None), "b": P("x"), "s": P()}),
        "2d": (two, {"w": P("x", "y"), "b": P(("x", "y")), "s": P()}),
    }


def _params():
    rng = np.random.default_rng(0)
    return {"w": jnp.asarray(rng.normal(size=(16, 8)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=(24,)), jnp.float32),
            "s": jnp.asarray(0.7, jnp.float32)}


def _check_state(state, params, where):
    """Leaves shaped like a param must be sharded like it; scalars replicated."""
    by_shape = {p.shape: p.sharding for p in jax.tree.leaves(params) if p.ndim > 0}
    errors = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(state):
        if not isinstance(leaf, jax.Array):
            continue
        name = jax.tree_util.keystr(path)
        if leaf.ndim == 0:
            if not leaf.sharding.is_fully_replicated:
                errors.append(f"{where}: scalar {name} not replicated: {leaf.sharding}")
        elif leaf.shape in by_shape:
            if not leaf.sharding.is_equivalent_to(by_shape[leaf.shape], leaf.ndim):
                errors.append(f"{where}: {name} {leaf.shape} has {leaf.sharding}, "
                              f"its param has {by_shape[leaf.shape]}")
    return errors


def check(name: str) -> list[dict]:
    case = ZOO[name]
    base = _params()
    loss_fn = quadratic(base)
    tx = case.make()
    if name.startswith("transforms."):
        # A bare block steps by O(1) per call; scale it like an optimizer would.
        tx = optax.chain(tx, optax.scale(-0.05))

    def step(params, state):
        grads = jax.grad(loss_fn)(params)
        updates, state = tx.update(grads, state, params,
                                   **step_kwargs(case, params, loss_fn, grads))
        return optax.apply_updates(params, updates), state

    def run(params):
        state = tx.init(params)
        first = state
        jstep = jax.jit(step)
        for _ in range(STEPS):
            params, state = jstep(params, state)
        return params, first, state

    ref, _, _ = run(jax.device_put(base, jax.devices()[0]))
    results = []
    for mesh_name, (mesh, specs) in _meshes().items():
        sharded = {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in base.items()}
        errors = []
        try:
            out, first, last = run(sharded)
            errors += _check_state(first, sharded, "init")
            errors += _check_state(last, sharded, f"after {STEPS} steps")
            errors += [f"param {k} lost its sharding: {out[k].sharding}" for k in out
                       if not out[k].sharding.is_equivalent_to(sharded[k].sharding, out[k].ndim)]
            err = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))
                                   / np.maximum(1.0, np.abs(np.asarray(b))), initial=0.0))
                      for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref)))
            tol = ESTIMATED_STEP_TOL if name.startswith(ESTIMATED_STEP) else TOL
            tol = EIGENBASIS_TOL if name.startswith(EIGENBASIS) else tol
            if not err <= tol:
                errors.append(f"sharded run differs from unsharded by {err:.3g} > {tol:g}")
        except Exception as e:  # reported, not raised: one case must not hide the others
            err = float("nan")
            errors.append(f"{type(e).__name__}: {str(e)[:300]}")
        results.append({"case": name, "mesh": mesh_name, "errors": errors, "max_err": err})
    return results


def main(argv):
    assert len(jax.devices()) >= 8, "set XLA_FLAGS=--xla_force_host_platform_device_count=8"
    names = argv or [n for n, c in ZOO.items() if c.sharding is None]
    for name in names:
        for r in check(name):
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
