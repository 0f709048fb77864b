"""Experiment: does a CPU step that walks the parameters in cache-sized chunks
(one ``fori_loop`` whose body updates params, mu and nu of one chunk) beat XLA's
three whole-array passes for Adam at (a)?

XLA's CPU backend does not build multi-output fusions, so the donated Adam step
compiles to three loops (mu, nu, params) that move 40 bytes per parameter, where
one loop would move 28. Inside a chunked loop the three fusions still run, but
on a chunk that stays in cache between them.

    python benchmarks/chunked_step.py [--n 8000000] [--chunks 62500,250000,1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import optax
from jax import lax

import optzoo
from optzoo.cli.bench import hlo_report, time_interleaved


def whole_step(tx):
    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    return step


def chunked_step(tx, n, chunk):
    """The same update on a one-leaf model, applied chunk by chunk in place.

    Every state leaf of length ``n`` is sliced with the params; scalars (the step
    count) go in whole, and the scalar results of the last chunk are kept (all
    chunks compute the same ones)."""
    assert n % chunk == 0

    def step(p, s, g):
        leaves, treedef = jax.tree.flatten(s)
        big = [x.ndim == 1 and x.shape[0] == n for x in leaves]

        def body(i, carry):
            p, leaves_c, small = carry
            start = i * chunk
            cut = lambda x: lax.dynamic_slice_in_dim(x, start, chunk)  # noqa: E731
            s_in = jax.tree.unflatten(
                treedef, [cut(x) if b else x for x, b in zip(leaves_c, big)]
            )
            pc, gc = cut(p), cut(g)
            u, s_out = tx.update(gc, s_in, pc)
            # materialise the chunk's results before writing them back: otherwise
            # XLA recomputes them from the old state inside each write-back and
            # has to copy the whole state to keep the old values alive
            u, s_out = lax.optimization_barrier((u, s_out))
            pc = optax.apply_updates(pc, u)
            p = lax.dynamic_update_slice_in_dim(p, pc, start, 0)
            out = jax.tree.leaves(s_out)
            new_big = [lax.dynamic_update_slice_in_dim(x, y, start, 0) if b else x
                       for x, y, b in zip(leaves_c, out, big)]
            new_small = [y for y, b in zip(out, big) if not b]
            return p, new_big, new_small

        small0 = [x for x, b in zip(leaves, big) if not b]
        p, new_big, new_small = lax.fori_loop(0, n // chunk, body, (p, leaves, small0))
        it = iter(new_small)
        merged = [nb if b else next(it) for nb, b in zip(new_big, big)]
        return p, jax.tree.unflatten(treedef, merged)

    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8_000_000)
    ap.add_argument("--chunks", default="62500,250000,1000000")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    n = args.n
    tx = optzoo.adam(1e-3)
    key = jax.random.key(0)
    g = 0.01 * jax.random.normal(key, (n,))
    runners = {}
    variants = {"whole": whole_step(tx)}
    for c in (int(x) for x in args.chunks.split(",")):
        m = n - n % c
        if m != n:
            continue
        variants[f"chunk {c}"] = chunked_step(tx, n, c)
    for name, f in variants.items():
        p = jax.random.normal(jax.random.fold_in(key, 1), (n,))
        s = tx.init(p)
        jitted = jax.jit(f, donate_argnums=(0, 1))
        compiled = jitted.lower(p, s, g).compile()
        rep = hlo_report(compiled.as_text())
        print(f"{name}: kernels {rep['kernels']}, copies {rep['copies']}, "
              f"aliased outputs {rep['aliased_outputs']}")
        box = [p, s]

        def run(c=compiled, box=box):
            box[0], box[1] = c(box[0], box[1], g)
            jax.block_until_ready(box[0])

        runners[name] = run
    # same numbers?
    samples = time_interleaved(runners, args.repeats, 0.05, warmup=3)
    base = statistics.median(samples["whole"])
    for name, v in samples.items():
        med = statistics.median(v)
        print(f"{name:>14}: {med * 1e3:7.2f} ms  ratio to whole {med / base:.2f}  "
              f"{28 * n / med / 1e9:.1f} GB/s of minimum traffic")


if __name__ == "__main__":
    main()
