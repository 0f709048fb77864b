"""At (c) (200k params in 400 leaves), how much of a step is the call itself?

Times, interleaved in one process, the donated jitted Adam step at (c); the same
call on a program that does nothing (returns its donated inputs: only the per-array
cost of calling a compiled program and making its outputs); SGD at (c) (a third of
the arrays); Adam on the same 200k params as one leaf; and Adam wrapped in
``optax.flatten`` (state kept as one vector per moment, so 403 arrays cross the call
instead of 1201 + 400 grads).

    python benchmarks/dispatch_overhead.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics

import jax
import jax.numpy as jnp
import optax

import optzoo
from optzoo.cli.bench import time_interleaved


def _runner(fn, params, state, grads, donate=True):
    donate_argnums = (0, 1) if donate else ()
    compiled = jax.jit(fn, donate_argnums=donate_argnums).lower(params, state, grads).compile()
    box = [jax.tree.map(jnp.copy, params), jax.tree.map(jnp.copy, state)]

    def run():
        box[0], box[1] = compiled(box[0], box[1], grads)
        jax.block_until_ready(box[0])

    return run


def _step(tx):
    def update(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    return update


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    leaves = [jnp.ones((500,)) for _ in range(400)]
    grads = [jnp.full((500,), 0.01) for _ in range(400)]
    one, one_g = [jnp.ones((200_000,))], [jnp.full((200_000,), 0.01)]
    adam = optzoo.adam(1e-3)
    runners = {
        "adam, 400 leaves": _runner(_step(adam), leaves, adam.init(leaves), grads),
        "nothing, same 1601 arrays": _runner(lambda p, s, g: (p, s), leaves, adam.init(leaves), grads),
        "nothing, not donated": _runner(
            lambda p, s, g: (p, s), leaves, adam.init(leaves), grads, donate=False),
        "sgd, 400 leaves": _runner(_step(optzoo.sgd(1e-2)), leaves, optzoo.sgd(1e-2).init(leaves), grads),
        "adam, 1 leaf of 200k": _runner(_step(adam), one, adam.init(one), one_g),
        "optax.flatten(adam), 400 leaves": _runner(
            _step(optax.flatten(adam)), leaves, optax.flatten(adam).init(leaves), grads),
    }
    samples = time_interleaved(runners, args.repeats, 0.02, warmup=3)
    base = statistics.median(samples["adam, 400 leaves"])
    for name, v in samples.items():
        med = statistics.median(v)
        print(f"{name:>34}: {med * 1e3:8.3f} ms   {med / base:5.2f} x adam at (c)")


if __name__ == "__main__":
    main()
