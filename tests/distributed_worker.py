"""Training every case of the zoo on JAX's distributed runtime, run by
``tests/test_distributed.py`` in two processes (and once more, as the reference, in
one process with 8 devices).

Usage::

    python -m tests.distributed_worker OUT PROCESS_ID NUM_PROCESSES PORT [case ...]

``NUM_PROCESSES=2``: this process owns 4 CPU devices, talks to the other through
gloo (``jax_cpu_collectives_implementation``) and joins it with
``jax.distributed.initialize("127.0.0.1:PORT", 2, PROCESS_ID)``.
``NUM_PROCESSES=1``: one process owns all 8 devices (the reference run).

Either way the 8 devices form the global mesh ``(data=4, model=2)``. The params
are a least-squares model whose matrices are sharded over ``model`` and whose
vector and scalar are replicated; each batch is sharded over ``data``, and each
process builds only the rows its devices hold
(``jax.make_array_from_process_local_data``). Every case takes ``STEPS`` jitted
steps (one compile for ``init``, one for the step); the final params and state
are gathered with ``multihost_utils.process_allgather`` and process 0 writes them
to ``OUT/<index>.npz`` with a line per case in ``OUT/results.jsonl``:
``{"case", "index", "errors", "compile_s", "run_s"}``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

STEPS = 5
DEVICES = 8
MESH_SHAPE = (4, 2)
AXES = ("data", "model")
BATCH = 32


def start(process_id: int, num_processes: int, port: int):
    """Fix the device count, and in a multi-process run join the others (before
    anything else touches the backend)."""
    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_num_cpu_devices", DEVICES // num_processes)
    if num_processes > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=num_processes,
                                   process_id=process_id)
    assert jax.device_count() == DEVICES, jax.devices()
    return jax


def main(argv):
    out, process_id, num_processes, port = Path(argv[0]), int(argv[1]), int(argv[2]), int(argv[3])
    jax = start(process_id, num_processes, port)

    import jax.numpy as jnp
    import numpy as np
    import optax
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from optzoo import distributed
    from tests.zoo import ZOO, step_kwargs

    names = argv[4:] or [n for n, c in ZOO.items() if c.sharding is None]
    mesh = Mesh(np.array(jax.devices()).reshape(MESH_SHAPE), AXES)
    specs = {"w": P(None, "model"), "v": P("model", None), "b": P(), "s": P()}
    shardings = {k: NamedSharding(mesh, s) for k, s in specs.items()}

    rng = np.random.default_rng(0)
    host_params = {"w": rng.normal(size=(16, 8)), "v": rng.normal(size=(8, 12)) / 3,
                   "b": rng.normal(size=(12,)), "s": np.asarray(0.7)}
    host_params = {k: np.asarray(v, np.float32) for k, v in host_params.items()}
    batch_sharding = NamedSharding(mesh, P("data"))

    def global_batch(seed):
        """The whole batch, from which each process keeps only its own rows (a real
        loader would read only those)."""
        r = np.random.default_rng(seed)
        return {"x": r.normal(size=(BATCH, 16)), "y1": r.normal(size=(BATCH, 8)),
                "z": r.normal(size=(BATCH, 8)), "y2": r.normal(size=(BATCH, 12)),
                "t": r.normal(size=(BATCH, 12)), "u": r.normal(size=(BATCH,)),
                "r": r.normal(size=(BATCH,))}

    def local_rows(shape):
        """The rows of a ``P("data")`` batch held by this process's devices."""
        index = batch_sharding.addressable_devices_indices_map(shape).values()
        starts = [i[0].start or 0 for i in index]
        stops = [shape[0] if i[0].stop is None else i[0].stop for i in index]
        return slice(min(starts), max(stops))

    def batch(seed):
        full = global_batch(seed)
        return {k: jax.make_array_from_process_local_data(
                    batch_sharding, np.asarray(v[local_rows(v.shape)], np.float32), v.shape)
                for k, v in full.items()}

    batches = [batch(100 + i) for i in range(STEPS)]

    def loss(params, data):
        """A least-squares problem in every leaf: convex, so every case (Newton and
        L-BFGS too) takes sane steps."""
        terms = [jnp.mean((data["x"] @ params["w"] - data["y1"]) ** 2),
                 jnp.mean((data["z"] @ params["v"] - data["y2"]) ** 2),
                 jnp.mean((params["b"] - data["t"]) ** 2),
                 jnp.mean((params["s"] * data["u"] - data["r"]) ** 2)]
        return sum(terms)

    def place(tree):
        return {k: jax.make_array_from_callback(v.shape, shardings[k], lambda i, v=v: v[i])
                for k, v in tree.items()}

    results = out / "results.jsonl"
    if process_id == 0:
        out.mkdir(parents=True, exist_ok=True)
        results.write_text("")
    for index, name in enumerate(names):
        case = ZOO[name]
        errors = []
        t0 = time.perf_counter()
        compile_s = run_s = float("nan")
        try:
            tx = case.make()
            if name.startswith("transforms."):
                # a bare block steps by O(1) per call; scale it like an optimizer would
                tx = optax.chain(tx, optax.scale(-0.05))

            def step(params, state, data, tx=tx, case=case):
                def loss_fn(p):
                    return loss(p, data)

                grads = jax.grad(loss_fn)(params)
                updates, state = tx.update(grads, state, params,
                                           **step_kwargs(case, params, loss_fn, grads))
                return optax.apply_updates(params, updates), state

            params = place(host_params)
            # state shaped like a param sharded like it, the rest split over "data"
            state_shardings = distributed.state_shardings(tx, params, mesh, mode="fsdp")
            state = distributed.init(tx, params, mesh, mode="fsdp")
            jstep = jax.jit(step, out_shardings=(shardings, state_shardings))
            compiled = jstep.lower(params, state, batches[0]).compile()
            compile_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            for data in batches:
                params, state = compiled(params, state, data)
            jax.block_until_ready((params, state))
            run_s = time.perf_counter() - t1
            errors += [f"{jax.tree_util.keystr(path)} has {leaf.sharding}, not {want}"
                       for (path, leaf), want in zip(
                           jax.tree_util.tree_leaves_with_path(state),
                           jax.tree.leaves(state_shardings))
                       if not leaf.sharding.is_equivalent_to(want, leaf.ndim)]
            # typed PRNG keys (Kron's, Sophia-H's) travel as their raw uint32 data
            raw = jax.tree.map(lambda x: jax.random.key_data(x) if jax.dtypes.issubdtype(
                x.dtype, jax.dtypes.prng_key) else x, {"params": params, "state": state})
            gathered = multihost_utils.process_allgather(raw, tiled=True)
            if process_id == 0:
                arrays = {jax.tree_util.keystr(path): np.asarray(leaf)
                          for path, leaf in jax.tree_util.tree_leaves_with_path(gathered)}
                np.savez(out / f"{index}.npz", **arrays)
        except Exception as e:  # reported, not raised: one case must not hide the others
            errors.append(f"{type(e).__name__}: {str(e)[:300]}")
        multihost_utils.sync_global_devices(f"case {index}") if num_processes > 1 else None
        if process_id == 0:
            with results.open("a") as f:
                f.write(json.dumps({"case": name, "index": index, "errors": errors,
                                    "compile_s": compile_s, "run_s": run_s}) + "\n")
    if num_processes > 1:
        jax.distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
