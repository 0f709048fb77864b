"""ZeRO-1 state on 8 simulated CPU devices, run in its own process by
``tests/test_distributed.py`` (the device count must be fixed before JAX starts).

For each case of the zoo, with params ``w1`` (256, 128), ``w2`` (128, 256), ``b`` (256,)
and ``s`` () on the mesh ``(data=8,)`` (large enough that the replicated scalars
weigh under 1% of a split Adam state):

- ``tx.init`` traces on :class:`jax.ShapeDtypeStruct` params (``jax.eval_shape``)
  and :func:`optzoo.distributed.state_shardings` gives a ``NamedSharding`` for every
  leaf, in both modes;
- ``optzoo.distributed.init(..., mode="zero1")`` materialises the state; the bytes
  each device holds are summed from the arrays' addressable shards; ``fraction`` is
  the largest device's bytes over ``total / 8`` (1.0: a perfect split; 8.0: the
  state is replicated);
- for the cases named by ``--train="a;b;..."``: ``STEPS`` jitted steps with the
  ZeRO-1 state equal the same steps with the state replicated, params and every
  state leaf (``train_err``: the largest ``max|a - b| / max|b|`` over the leaves),
  on the smaller params ``TRAIN_SHAPES`` (Newton's Hessian stays small);
- ``--recipes``: the Flax NNX recipe of ``docs/scaling.md`` in both modes
  (cases ``"recipe:zero1"``, ``"recipe:fsdp"``): the sharded run equals the
  replicated one, and the state (FSDP: params too) is split 8 ways.

Prints one JSON object per line:
``{"case", "errors", "fraction", "total_bytes", "train_err"}``.
``--measure="a;b"`` materialises the state of those cases only (the others are
traced and laid out; ``fraction`` NaN). ``--collectives`` adds ``"collectives"``:
the collective ops of the compiled ZeRO-1 step and their result bytes (see
:func:`collectives`).
Usage: ``python -m tests.distributed_zero [--train="a;b"] [--measure="a;b"]
[--only-train] [--recipes] [--collectives] [case ...]``
(``--only-train``: only the cases of ``--train``).
"""

from __future__ import annotations

import json
import math
import re
import sys

import jax

jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_num_cpu_devices", 8)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

from optzoo import distributed  # noqa: E402
from tests.zoo import ZOO, quadratic, step_kwargs  # noqa: E402

STEPS = 5
SHAPES = {"w1": (256, 128), "w2": (128, 256), "b": (256,), "s": ()}
TRAIN_SHAPES = {"w1": (64, 32), "w2": (32, 64), "b": (64,), "s": ()}


def params(shapes=SHAPES):
    rng = np.random.default_rng(0)
    return {k: jnp.asarray(rng.normal(size=s), jnp.float32) for k, s in shapes.items()}


def make(name):
    tx = ZOO[name].make()
    if name.startswith("transforms."):
        tx = optax.chain(tx, optax.scale(-0.05))  # a bare block: scaled as an optimizer
    return tx


def device_bytes(tree) -> dict:
    """Bytes of ``tree`` held by each device, from the arrays' addressable shards."""
    out: dict = {}
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            out[shard.device] = out.get(shard.device, 0) + shard.data.nbytes
    return out


def rel_err(a, b) -> float:
    worst = 0.0
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        diff = np.max(np.abs(x - y), initial=0.0)
        scale = np.max(np.abs(y), initial=0.0)
        worst = max(worst, diff / scale if scale > 0 else diff)
    return worst


def check(name: str, mesh: Mesh, train: bool, measure: bool = True) -> dict:
    errors, fraction, total, train_err = [], float("nan"), 0, float("nan")
    tx = make(name)
    base = params()
    structs = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in base.items()}
    try:
        shapes = jax.eval_shape(tx.init, structs)
        for mode in distributed.MODES:
            sh = distributed.state_shardings(tx, structs, mesh, mode=mode)
            if jax.tree.structure(sh) != jax.tree.structure(shapes):
                errors.append(f"{mode}: shardings {jax.tree.structure(sh)} do not match the "
                              f"state {jax.tree.structure(shapes)}")
            bad = [x for x in jax.tree.leaves(sh) if not isinstance(x, NamedSharding)]
            if bad:
                errors.append(f"{mode}: leaves without a NamedSharding: {bad[:3]}")
        replicated = {k: jax.device_put(v, NamedSharding(mesh, P())) for k, v in base.items()}
        if measure:
            state = distributed.init(tx, replicated, mesh, mode="zero1")
            total = sum(x.nbytes for x in jax.tree.leaves(state))
            per_device = device_bytes(state)
            fraction = max(per_device.values(), default=0) / (total / 8) if total else 1.0
        if train:
            base = params(TRAIN_SHAPES)
            replicated = {k: jax.device_put(v, NamedSharding(mesh, P()))
                          for k, v in base.items()}
            shapes = jax.eval_shape(tx.init, base)
            loss_fn = quadratic(base)
            case = ZOO[name]

            def step(p, s):
                g = jax.grad(loss_fn)(p)
                u, s = tx.update(g, s, p, **step_kwargs(case, p, loss_fn, g))
                return optax.apply_updates(p, u), s

            def run(mode_shardings):
                p, s = replicated, jax.jit(tx.init, out_shardings=mode_shardings)(replicated)
                js = jax.jit(step, out_shardings=(jax.tree.map(lambda x: x.sharding, p),
                                                  mode_shardings))
                for _ in range(STEPS):
                    p, s = js(p, s)
                return p, s

            zero = run(distributed.state_shardings(tx, replicated, mesh, mode="zero1"))
            full = run(jax.tree.map(lambda _: NamedSharding(mesh, P()), shapes))
            train_err = rel_err(zero, full)
    except Exception as e:  # reported, not raised: one case must not hide the others
        errors.append(f"{type(e).__name__}: {str(e)[:300]}")
    return {"case": name, "errors": errors, "fraction": fraction, "total_bytes": total,
            "train_err": train_err}


def recipe(mode: str) -> dict:
    """docs/scaling.md's recipe: a Flax NNX model trained with ``optzoo.adamw``, its
    state (and under FSDP its params) split over ``data``, against the same steps
    with everything replicated."""
    from flax import nnx

    import optzoo

    errors, fraction, total, train_err = [], float("nan"), 0, float("nan")
    try:
        mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        model = nnx.Sequential(nnx.Linear(64, 256, rngs=nnx.Rngs(0)), nnx.relu,
                               nnx.Linear(256, 64, rngs=nnx.Rngs(1)))
        graphdef, params = nnx.split(model)
        params = jax.tree.map(np.asarray, params)  # host copies: each run places its own
        tx = optzoo.adamw(1e-3, weight_decay=0.1)

        def loss_fn(params, batch):
            x, y = batch
            logits = nnx.merge(graphdef, params)(x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        rng = np.random.default_rng(0)
        batches = [(rng.normal(size=(64, 64)).astype(np.float32), rng.integers(0, 64, 64))
                   for _ in range(STEPS)]

        # the recipe
        params_s = jax.device_put(params, distributed.param_shardings(params, mesh, mode))
        state_s = distributed.init(tx, params_s, mesh, mode)
        step = distributed.make_train_step(loss_fn, tx, params_s, mesh, mode)
        for batch in batches:
            params_s, state_s, _ = step(params_s, state_s,
                                        jax.device_put(batch, NamedSharding(mesh, P("data"))))

        # everything replicated
        params_r = jax.device_put(params, NamedSharding(mesh, P()))
        state_r = tx.init(params_r)
        plain = optzoo.make_train_step(loss_fn, tx)
        for batch in batches:
            params_r, state_r, _ = plain(params_r, state_r,
                                         jax.device_put(batch, NamedSharding(mesh, P())))

        held = (params_s, state_s) if mode == "fsdp" else state_s
        total = sum(x.nbytes for x in jax.tree.leaves(held))
        fraction = max(device_bytes(held).values()) / (total / 8)
        train_err = rel_err((params_s, state_s), (params_r, state_r))
    except Exception as e:
        errors.append(f"{type(e).__name__}: {str(e)[:300]}")
    return {"case": f"recipe:{mode}", "errors": errors, "fraction": fraction,
            "total_bytes": total, "train_err": train_err}


_COLLECTIVE = re.compile(r"=\s*(\([^()]*\)|[a-z]+\d*\[[\d,]*\])\S*\s+"
                         r"(all-reduce|all-gather|reduce-scatter|all-to-all|"
                         r"collective-permute)(?:-start)?\(")
_ARRAY = re.compile(r"([a-z]+)(\d+)\[([\d,]*)\]")


def collectives(name: str, mesh: Mesh) -> dict:
    """The collectives XLA put in one ZeRO-1 step of ``name`` on ``TRAIN_SHAPES``
    (the loss has no data, so the gradient needs none: all of them are the
    optimizer's): ``{op: [count, result bytes]}``."""
    tx, case = make(name), ZOO[name]
    base = params(TRAIN_SHAPES)
    replicated = {k: jax.device_put(v, NamedSharding(mesh, P())) for k, v in base.items()}
    loss_fn = quadratic(base)
    sh = distributed.state_shardings(tx, replicated, mesh, mode="zero1")

    def step(p, s):
        g = jax.grad(loss_fn)(p)
        u, s = tx.update(g, s, p, **step_kwargs(case, p, loss_fn, g))
        return optax.apply_updates(p, u), s

    state = jax.jit(tx.init, out_shardings=sh)(replicated)
    text = jax.jit(step, out_shardings=(jax.tree.map(lambda x: x.sharding, replicated), sh)
                   ).lower(replicated, state).compile().as_text()
    out: dict = {}
    for shape, op in _COLLECTIVE.findall(text):
        nbytes = sum(int(bits) // 8 * math.prod(int(d) for d in dims.split(",") if d)
                     for _, bits, dims in _ARRAY.findall(shape))
        count, total = out.get(op, [0, 0])
        out[op] = [count + 1, total + nbytes]
    return out


def main(argv):
    flags = [a for a in argv if a.startswith("--")]
    train, measure = set(), None
    for f in flags:
        if f.startswith("--train="):
            train |= {n for n in f.split("=", 1)[1].split(";") if n}
        if f.startswith("--measure="):
            measure = {n for n in f.split("=", 1)[1].split(";") if n}
    names = [a for a in argv if not a.startswith("--")] or list(ZOO)
    if "--only-train" in flags:
        names = [n for n in names if n in train]
    mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
    for name in names:
        r = check(name, mesh, name in train, measure is None or name in measure)
        if "--collectives" in flags:
            try:
                r["collectives"] = collectives(name, mesh)
            except Exception as e:
                r["errors"].append(f"collectives: {type(e).__name__}: {str(e)[:300]}")
        print(json.dumps(r), flush=True)
    if "--recipes" in flags:
        for mode in distributed.MODES:
            print(json.dumps(recipe(mode)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
