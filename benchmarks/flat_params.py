"""Flat parameter buffers (:func:`optzoo.flat_params`) against the pytree layout and
against ``torch.optim`` (fused and foreach).

Each model is ``leaves`` float32 vectors of ``n / leaves`` elements; the loss is
``0.5 * sum of squares`` written on the pytree. Rows:

- update: one jitted, donated optimizer update plus ``apply_updates`` with a fixed
  gradient, tree layout vs flat layout, for each optimizer in ``--optimizers``;
- step: a whole training step (loss on the pytree, gradient, Adam update, apply;
  ``optzoo.make_train_step``), tree vs flat, and torch's ``zero_grad``, ``backward``
  and ``Adam.step`` with ``fused=True`` and ``foreach=True`` on the same leaves;
- compile: seconds to lower and compile the whole step at 2M params in 1,000 leaves;
- ``--threshold``: the whole Adam step, flat (everything buffered) vs tree, for 200
  equal leaves (fewer above 40k elements) of growing size: where a buffer stops paying.

Runners are timed in rotating order within each round (``time_interleaved``); the
tables give medians and ratios of medians.

    python benchmarks/flat_params.py [--quick] [--threshold] [--out benchmarks/RESULTS-flat.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optzoo
from optzoo.cli.bench.timing import time_interleaved

SIZES = {"c: 200k / 400": (200_000, 400), "2M / 1000": (2_000_000, 1000),
         "b: 8M / 200": (8_000_000, 200)}
ELEMENTWISE = ("adam", "adamw", "sgd", "momentum", "nag", "rmsprop", "adagrad", "adamax",
               "nadam", "radam", "lion", "amsgrad")


def leaves_of(n: int, k: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    m = n // k
    return {f"l{i:04d}": jnp.asarray(rng.normal(size=m), jnp.float32) for i in range(k)}


def loss_fn(params, batch):
    del batch
    return 0.5 * sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(params))


def fresh(tree):
    return jax.tree.map(jnp.copy, tree)


def update_runner(tx, params):
    """One donated update + apply with a fixed gradient (params and state kept alive
    in a closure list, as a training loop would)."""
    grads = jax.tree.map(lambda p: 0.01 * p, params)

    def upd(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    upd = jax.jit(upd, donate_argnums=(0, 1))
    box = [fresh(params), tx.init(params)]

    def run():
        box[0], box[1] = upd(box[0], box[1], grads)
        jax.block_until_ready(box[0])

    return run


def step_runner(tx, params):
    step = optzoo.make_train_step(loss_fn, tx)
    box = [fresh(params), tx.init(params)]

    def run():
        box[0], box[1], loss = step(box[0], box[1], None)
        jax.block_until_ready(loss)

    return run


def torch_runner(n: int, k: int, mode: str):
    import torch

    rng = np.random.default_rng(0)
    ps = [torch.tensor(rng.normal(size=n // k), dtype=torch.float32, requires_grad=True)
          for _ in range(k)]
    opt = torch.optim.Adam(ps, lr=1e-3, **{mode: True})

    def run():
        opt.zero_grad()
        # one concatenation and one reduction (a Python sum of 400 per-leaf losses
        # would time autograd's per-node overhead rather than the optimizer)
        loss = 0.5 * torch.cat([p.view(-1) for p in ps]).square().sum()
        loss.backward()
        opt.step()

    return run


def compile_seconds(tx, params) -> float:
    step = jax.jit(optzoo.make_train_step(loss_fn, tx, jit=False), donate_argnums=(0, 1))
    state = tx.init(params)
    t0 = time.perf_counter()
    step.lower(params, state, None).compile()
    return time.perf_counter() - t0


def compile_in_fresh_process(layout: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--compile-one", layout],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def med(xs) -> float:
    return statistics.median(xs)


def measure_threshold(repeats: int, sample_s: float) -> list[str]:
    lines = ["| elements per leaf | leaves | tree step (ms) | flat step (ms) | flat / tree |",
             "|---:|---:|---:|---:|---:|"]
    for m in (1_024, 4_096, 16_384, 32_768, 65_536, 262_144):
        k = 200 if m <= 40_000 else max(20, 8_000_000 // m)
        params = leaves_of(m * k, k)
        tx = optzoo.adam(1e-3)
        runners = {"tree": step_runner(tx, params),
                   "flat": step_runner(tx, optzoo.flat_params(params, threshold=m))}
        s = time_interleaved(runners, repeats, sample_s, warmup=2)
        t, f = med(s["tree"]), med(s["flat"])
        lines.append(f"| {m:,} | {k} | {t * 1e3:.3f} | {f * 1e3:.3f} | {f / t:.2f} |")
        print(lines[-1], flush=True)
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, Adam only")
    ap.add_argument("--threshold", action="store_true", help="only the threshold sweep")
    ap.add_argument("--no-update", action="store_true", help="skip the update-only rows")
    ap.add_argument("--compile-one", choices=("tree", "flat"), help=argparse.SUPPRESS)
    ap.add_argument("--optimizers", default=",".join(ELEMENTWISE))
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.compile_one:  # a child of compile_in_fresh_process
        params = leaves_of(2_000_000, 1000)
        params = optzoo.flat_params(params) if args.compile_one == "flat" else params
        print(compile_seconds(optzoo.adam(1e-3), params))
        return
    repeats = 5 if args.quick else args.repeats
    sample_s = 0.05 if args.quick else 0.2
    out = [f"load average before: {os.getloadavg()}",
           f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
           f"jax {jax.__version__}, {jax.default_backend()}"]
    print("\n".join(out), flush=True)
    if args.threshold:
        out += ["", "## Threshold sweep (whole Adam step)", ""]
        out += measure_threshold(repeats, sample_s)
    else:
        names = ["adam"] if args.quick else args.optimizers.split(",")
        names = [] if args.no_update else names
        out += ["", "## Update only (update + apply, donated)", "",
                "| size | optimizer | tree (ms) | flat (ms) | flat / tree |",
                "|---|---|---:|---:|---:|"]
        for label, (n, k) in SIZES.items():
            params = leaves_of(n, k)
            fp = optzoo.flat_params(params)
            for name in names:
                tx = getattr(optzoo, name)(1e-3)
                s = time_interleaved({"tree": update_runner(tx, params),
                                      "flat": update_runner(tx, fp)}, repeats, sample_s, 2)
                t, f = med(s["tree"]), med(s["flat"])
                out.append(f"| {label} | {name} | {t * 1e3:.3f} | {f * 1e3:.3f} | {f / t:.2f} |")
                print(out[-1], flush=True)
        out += ["", "## Whole training step, Adam (loss on the pytree, grad, update, apply)", "",
                "| size | tree (ms) | flat (ms) | torch fused (ms) | torch foreach (ms) "
                "| flat / tree | flat / fused | flat / foreach | tree / fused |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for label, (n, k) in SIZES.items():
            params = leaves_of(n, k)
            tx = optzoo.adam(1e-3)
            runners = {"tree": step_runner(tx, params),
                       "flat": step_runner(tx, optzoo.flat_params(params)),
                       "fused": torch_runner(n, k, "fused"),
                       "foreach": torch_runner(n, k, "foreach")}
            s = {key: med(v) for key, v in
                 time_interleaved(runners, repeats, sample_s, 2).items()}
            out.append(
                f"| {label} | {s['tree'] * 1e3:.3f} | {s['flat'] * 1e3:.3f} | "
                f"{s['fused'] * 1e3:.3f} | {s['foreach'] * 1e3:.3f} | "
                f"{s['flat'] / s['tree']:.2f} | {s['flat'] / s['fused']:.2f} | "
                f"{s['flat'] / s['foreach']:.2f} | {s['tree'] / s['fused']:.2f} |")
            print(out[-1], flush=True)
        ct, cf = [], []
        for _ in range(3):  # each compile in a fresh process, alternating layouts
            ct.append(compile_in_fresh_process("tree"))
            cf.append(compile_in_fresh_process("flat"))
        out += ["", "## Compile time of the whole step, 2M params in 1,000 leaves "
                "(fresh process each, median of 3)", "",
                "| tree (s) | flat (s) | flat / tree |", "|---:|---:|---:|",
                f"| {med(ct):.2f} | {med(cf):.2f} | {med(cf) / med(ct):.2f} |"]
        print(out[-1], flush=True)
    out.append(f"\nload average after: {os.getloadavg()}")
    print(out[-1])
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
