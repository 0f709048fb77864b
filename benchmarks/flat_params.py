"""Flat parameter buffers (:func:`optzoo.flat_params`): what ``optzoo bench --layout`` does
not cover.

The update rows (every element-wise optimizer, tree vs flat layout), the whole training
step against ``torch.optim`` (fused and foreach, with the backward pass) and the
end-to-end MLP are ``optzoo bench`` rows (``optzoo/cli/bench/flat.py``)::

    optzoo bench --layout both --sizes c,2m,b --optimizers adam,adamw,sgd,... --train-step none
    optzoo bench --layout flat --sizes c,2m,b --optimizers adam

This script adds, on the same pieces (``vector_leaves``, ``squares_loss``,
``step_runner``, ``time_interleaved``):

- ``--threshold``: the whole Adam step, flat (everything buffered) vs tree, for 200 equal
  leaves (fewer above 40k elements) of growing size: where a buffer stops paying
  (``optzoo.flat.DEFAULT_THRESHOLD``);
- ``--compile``: seconds to lower and compile the whole Adam step at 2M params in 1,000
  leaves (``--shapes equal``: 2,000 elements each; ``varied``: 1,000 to 2,999, drawn), each
  compilation in a fresh process, alternating layouts; the flat layout at each
  ``--max-leaves`` (leaves per buffer; a huge value: one buffer).

    python benchmarks/flat_params.py --threshold [--repeats 9] [--out benchmarks/RESULTS-flat.md]
    python benchmarks/flat_params.py --compile [--rounds 3] [--shapes varied] \
        [--max-leaves 64,1000000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

import optzoo
from optzoo.cli.bench.flat import step_runner, vector_leaves
from optzoo.cli.bench.machine import load_average
from optzoo.cli.bench.timing import time_interleaved


def measure_threshold(repeats: int, sample_s: float) -> list[str]:
    lines = ["| elements per leaf | leaves | tree step (ms) | flat step (ms) | flat / tree |",
             "|---:|---:|---:|---:|---:|"]
    for m in (1_024, 4_096, 16_384, 32_768, 65_536, 262_144):
        k = 200 if m <= 40_000 else max(20, 8_000_000 // m)
        params = vector_leaves([(m,)] * k)
        tx = optzoo.adam(1e-3)
        runners = {"tree": step_runner(tx, params)[0],
                   "flat": step_runner(tx, optzoo.flat_params(params, threshold=m))[0]}
        s = time_interleaved(runners, repeats, sample_s, warmup=2)
        t, f = statistics.median(s["tree"]), statistics.median(s["flat"])
        lines.append(f"| {m:,} | {k} | {t * 1e3:.3f} | {f * 1e3:.3f} | {f / t:.2f} |")
        print(lines[-1], flush=True)
    return lines


def compile_shapes(shapes: str) -> list[tuple[int]]:
    """1,000 leaves, 2M params: all of 2,000 elements, or drawn from 1,000 to 2,999."""
    if shapes == "equal":
        return [(2_000,)] * 1000
    import numpy as np

    return [(int(n),) for n in np.random.default_rng(0).integers(1_000, 3_000, 1000)]


def compile_in_fresh_process(layout: str, shapes: str) -> float:
    out = subprocess.run([sys.executable, __file__, "--compile-one", layout, "--shapes", shapes],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def max_leaves_list(text: str) -> list[int]:
    """``--max-leaves``: positive integers separated by commas."""
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--max-leaves must be positive integers separated "
                                         f"by commas, got {text!r}")
    return values


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threshold", action="store_true", help="the threshold sweep")
    ap.add_argument("--compile", action="store_true",
                    help="compile time at 2M / 1,000 leaves, a fresh process per compilation")
    ap.add_argument("--compile-one", help=argparse.SUPPRESS)  # "tree" or "flat:MAX_LEAVES"
    ap.add_argument("--rounds", type=int, default=3, help="--compile: rounds (default 3)")
    ap.add_argument("--shapes", choices=("equal", "varied"), default="equal",
                    help="--compile: leaf sizes, all 2,000 (default) or 1,000 to 2,999")
    ap.add_argument("--max-leaves", type=max_leaves_list,
                    default=[optzoo.flat.DEFAULT_MAX_LEAVES],
                    help="--compile: leaves per buffer, comma-separated (default "
                         f"{optzoo.flat.DEFAULT_MAX_LEAVES}; 1000000: one buffer)")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="5 rounds of shorter samples")
    ap.add_argument("--out", default=None, help="append the tables to this file")
    args = ap.parse_args(argv)
    if args.compile_one:  # a child of compile_in_fresh_process
        params = vector_leaves(compile_shapes(args.shapes))
        if args.compile_one != "tree":
            params = optzoo.flat_params(params, max_leaves=int(args.compile_one.split(":")[1]))
        print(step_runner(optzoo.adam(1e-3), params)[1])
        return
    if not (args.threshold or args.compile):
        ap.error("choose --threshold or --compile (the other rows: optzoo bench --layout)")
    repeats = 5 if args.quick else args.repeats
    sample_s = 0.05 if args.quick else 0.2
    out = [f"load average before (1, 5, 15 min): {load_average()}, {os.cpu_count()} cpus"]
    print(out[0], flush=True)
    if args.threshold:
        out += ["", "## Threshold sweep (whole Adam step)", ""]
        out += measure_threshold(repeats, sample_s)
    if args.compile:
        layouts = ["tree", *(f"flat:{k}" for k in args.max_leaves)]
        seconds: dict[str, list[float]] = {name: [] for name in layouts}
        for r in range(args.rounds):  # alternating which layout compiles first
            for layout in (layouts if r % 2 == 0 else layouts[::-1]):
                seconds[layout].append(compile_in_fresh_process(layout, args.shapes))
        med = {name: statistics.median(v) for name, v in seconds.items()}
        out += ["", "## Compile time of the whole Adam step, 2M params in 1,000 leaves "
                f"({args.shapes} sizes; fresh process each, median of {args.rounds})", "",
                "| layout | seconds | / tree |", "|---|---:|---:|"]
        out += [f"| {name.replace('flat:', 'flat, max_leaves=')} | {med[name]:.2f} | "
                f"{med[name] / med['tree']:.2f} |" for name in layouts]
        print("\n".join(out[-len(layouts) - 4:]), flush=True)
    out.append(f"\nload average after: {load_average()}")
    print(out[-1])
    if args.out:
        with open(args.out, "a") as fh:
            fh.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
