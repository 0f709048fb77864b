"""Per-step time and optimizer-state memory of the matrix preconditioners, as
multiples of adam's.

Params: an MLP-like tree of four square ``(d, d)`` matrices and their ``(d,)``
biases, named ``mlp/fc{i}/kernel`` and ``mlp/fc{i}/bias`` (so adam_mini keeps one
second moment per row of each kernel and one per entry of each bias), float32, at
about 10^5, 10^6 and 10^7 parameters (d = 158, 500, 1581). Loss: the quadratic
``0.5 sum (p - 1)^2``. One step is ``second_order.make_step``'s: loss and gradient,
update, apply, jitted; sophia_h and sam get ``value_fn`` and their step includes
their extra work (a Hessian-vector product on sophia_h's update steps, a second
gradient at the perturbed params on every sam step).

Preconditioners that are refreshed only every few steps are timed three ways:
``plain`` (the refresh never due: its frequency set to 10^9), ``refresh`` (due on
every step: frequency 1) and, from these two, the per-step average at the
reference's default frequency. Times are medians over rounds in which every
configuration of one size runs in turn, in a shuffled order, in one process
(``optzoo.cli.bench.timing.time_interleaved``); steps longer than 0.25 s (the
refreshes at 10^6) run in fewer rounds of their own. State bytes are the sizes of the
arrays ``init`` returns (the jax PRNG key of kron and sophia_h included).

    python benchmarks/matrix_cost.py [--sizes 1e5,1e6,1e7] [--out benchmarks/RESULTS-matrix.md]

Optimizers not registered in this optzoo are skipped and listed in the output.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

import optzoo
from optzoo import registry
from optzoo.cli.bench.hlo import analyse
from optzoo.cli.bench.machine import load_average, machine_description
from optzoo.cli.bench.timing import rel_spread, time_interleaved

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from second_order import make_step  # noqa: E402  (the step of the second-order table)

SIZES = {"1e5": 158, "1e6": 500, "1e7": 1581}
LAYERS = 4
NEVER = 10**9  # a refresh frequency that is never reached in a benchmark run
SLOW_S = 0.25  # seconds: a step at least this long is timed in fewer rounds


@dataclass(frozen=True)
class Method:
    """One optimizer at its reference's defaults (``make(kind)``, ``kind`` one of
    ``"default"``, ``"plain"``, ``"refresh"``; ``None`` where the kind does not
    apply), with the registry name it needs, whether its update takes ``value_fn``,
    how often the defaults refresh the preconditioner and what its step holds."""

    label: str
    needs: str
    make: Callable[[str], object | None]
    value_fn: bool = False
    every: str = "-"
    refresh_share: float | None = None  # long-run fraction of refreshing steps
    note: str = ""


def _adam(kind):
    return optzoo.adam(1e-3) if kind == "default" else None


def _adam_mini(kind):
    return optzoo.adam_mini(1e-3) if kind == "default" else None


def _shampoo(kind):
    steps = {"default": 1, "plain": NEVER, "refresh": 1}[kind]
    return optzoo.shampoo(1e-3, preconditioning_compute_steps=steps)


def _soap(kind):
    freq = {"default": 10, "plain": NEVER, "refresh": 1}[kind]
    return optzoo.soap(3e-3, precondition_frequency=freq)


def _kron(kind):
    prob = {"default": None, "plain": 1.0 / NEVER, "refresh": 1.0}[kind]
    return optzoo.kron(3e-4, preconditioner_update_probability=prob)


def _sophia_h(kind):
    period = {"default": 10, "plain": NEVER, "refresh": 1}[kind]
    return optzoo.sophia_h(0.06, update_period=period)


def _sam(kind):
    return optzoo.sam(optzoo.adam(1e-3)) if kind == "default" else None


METHODS = [
    Method("adam", "adam", _adam, note="baseline"),
    Method("adam_mini", "adam_mini", _adam_mini,
           note="one second moment per kernel row (mlp rule), per bias entry"),
    Method("shampoo", "shampoo", _shampoo, every="1", refresh_share=1.0,
           note="inverse 4th roots (SVD) of both factors of each kernel"),
    Method("soap", "soap", _soap, every="10", refresh_share=0.1,
           note="refresh: power iteration + QR; eigh on the first call only"),
    Method("kron", "kron", _kron, every="1 to step 500, then 1/p, p -> 0.03",
           refresh_share=0.03, note="average at the long-run p = 0.03"),
    Method("sophia_h", "sophia_h", _sophia_h, value_fn=True, every="10", refresh_share=0.1,
           note="refresh: one Hessian-vector product (Hutchinson probe)"),
    Method("sam(adam)", "sam", _sam, value_fn=True,
           note="every step: a second gradient at the perturbed params"),
]


def problem(d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = {"mlp": {}}
    for i in range(LAYERS):
        params["mlp"][f"fc{i}"] = {
            "kernel": jnp.asarray(rng.normal(size=(d, d)) / math.sqrt(d), jnp.float32),
            "bias": jnp.zeros((d,), jnp.float32)}

    def loss(p):
        return sum(0.5 * jnp.sum((x - 1.0) ** 2) for x in jax.tree.leaves(p))

    return params, loss


def state_bytes(tx, params) -> int:
    shapes = jax.eval_shape(tx.init, params)
    return sum(math.prod(x.shape) * np.dtype(x.dtype).itemsize for x in jax.tree.leaves(shapes))


def runner(tx, params, loss, value_fn: bool):
    """A no-argument call that takes one step and waits for it, the compile time and
    the bytes the compiled step's kernels read and write (``hlo.analyse``; the
    branches of a ``lax.cond`` all counted)."""
    step = make_step(tx, loss, value_fn)
    box = [params, tx.init(params)]
    t0 = time.perf_counter()
    compiled = step.lower(*box).compile()
    compile_s = time.perf_counter() - t0
    traffic = analyse(compiled).get("bytes_moved")

    def run():
        p, s, v = step(*box)
        jax.block_until_ready((p, s, v))
        box[0], box[1] = p, s

    return run, compile_s, traffic


def kinds(m: Method) -> tuple[str, ...]:
    """What is timed: the defaults, or (for a refreshed preconditioner) the step with
    the refresh never due and the step with it always due."""
    return ("default",) if m.refresh_share is None else ("plain", "refresh")


def measure_size(size: str, methods: list[Method], timed: set[str], repeats: int,
                 slow_repeats: int, sample_s: float):
    """Times of the ``timed`` labels, state bytes of every method, at one size."""
    d = SIZES[size]
    params, loss = problem(d)
    n = sum(x.size for x in jax.tree.leaves(params))
    runners, compiles, traffic, nbytes = {}, {}, {}, {}
    for m in methods:
        nbytes[m.label] = state_bytes(m.make(kinds(m)[-1]), params)
        if m.label not in timed:
            continue
        for kind in kinds(m):
            key = (m.label, kind)
            runners[key], compiles[key], traffic[key] = runner(m.make(kind), params, loss,
                                                               m.value_fn)
    # a step longer than SLOW_S (the preconditioner refreshes at 10^6) is timed in
    # rounds of its own, fewer of them, so that it does not set the run's length
    slow = {}
    for key, run in runners.items():
        run()  # the first call: its one-off work (soap's eigh) is not a step's cost
        t0 = time.perf_counter()
        run()
        if time.perf_counter() - t0 > SLOW_S and key[0] != "adam":
            slow[key] = run
    fast = {k: r for k, r in runners.items() if k not in slow}
    samples = time_interleaved(fast, repeats, sample_s, warmup=0)
    if slow:
        samples.update(time_interleaved(slow, slow_repeats, 0.0, warmup=0))
    med = {k: float(np.median(v)) for k, v in samples.items()}
    spread = {k: rel_spread(v) for k, v in samples.items()}
    return n, med, spread, compiles, traffic, nbytes


def rows_for(size, n, methods, med, spread, compiles, traffic, nbytes):
    base_t, base_b = med[("adam", "default")], nbytes["adam"]
    base_traffic = traffic[("adam", "default")]
    rows = []
    for m in methods:
        if (m.label, kinds(m)[0]) not in med:  # state only
            rows.append({
                "size": size, "n": n, "label": m.label, "t": None, "x_t": None,
                "plain": None, "refresh": None, "every": m.every, "x_refresh": None,
                "bytes": nbytes[m.label], "x_bytes": nbytes[m.label] / base_b,
                "spread": None, "compile": None, "traffic": None,
                "note": m.note + " (not timed at this size)"})
            continue
        if m.refresh_share is None:
            t = med[(m.label, "default")]
            plain = refresh = None
            spr = spread[(m.label, "default")]
            comp = compiles[(m.label, "default")]
        else:
            plain, refresh = med[(m.label, "plain")], med[(m.label, "refresh")]
            t = plain + m.refresh_share * (refresh - plain)
            spr = max(spread[(m.label, "plain")], spread[(m.label, "refresh")])
            comp = compiles[(m.label, "refresh")]
        rows.append({
            "size": size, "n": n, "label": m.label, "t": t, "x_t": t / base_t,
            "plain": plain, "refresh": refresh, "every": m.every,
            "x_refresh": None if refresh is None else refresh / base_t,
            "bytes": nbytes[m.label], "x_bytes": nbytes[m.label] / base_b,
            "spread": spr, "compile": comp, "note": m.note,
            # without a lax.cond the compiled step's traffic is that of every step
            "traffic": (traffic[(m.label, "default")] / base_traffic
                        if m.refresh_share is None and traffic[(m.label, "default")] else None)})
    return rows


def table(rows) -> list[str]:
    out = ["| n | optimizer | ms/step at defaults | x adam | refresh every | ms/refresh step "
           "| x adam | ms/plain step | state MB | x adam | bytes moved x adam | spread "
           "| compile s | step holds |",
           "|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]

    def ms(x):
        return "-" if x is None else f"{x * 1e3:.3f}" if x < 0.01 else f"{x * 1e3:.1f}"

    def num(x, f):
        return "-" if x is None else format(x, f)

    for r in rows:
        out.append(
            f"| {r['n']:,} | {r['label']} | {ms(r['t'])} | {num(r['x_t'], '.2f')} | "
            f"{r['every']} | {ms(r['refresh'])} | {num(r['x_refresh'], '.2f')} | "
            f"{ms(r['plain'])} | {r['bytes'] / 2**20:.1f} | {r['x_bytes']:.2f} | "
            f"{num(r['traffic'], '.2f')} | "
            f"{'-' if r['spread'] is None else format(100 * r['spread'], '.0f') + '%'} | "
            f"{num(r['compile'], '.1f')} | {r['note']} |")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e5,1e6,1e7")
    ap.add_argument("--repeats", default="31,31,15",
                    help="rounds at each size, in the order of --sizes")
    ap.add_argument("--slow-repeats", type=int, default=3,
                    help=f"rounds for a step longer than {SLOW_S} s")
    ap.add_argument("--timed", default="all;all;adam,adam_mini,sophia_h,sam(adam)",
                    help="the labels timed at each size, ';'-separated per size ('all' for "
                         "every one); the others get their state bytes only")
    ap.add_argument("--sample-s", type=float, default=0.05,
                    help="each sample repeats a step until it lasts about this long")
    ap.add_argument("--out", default=None, help="also write the Markdown report here")
    args = ap.parse_args(argv)

    known = {r.name for r in registry.records()}
    methods = [m for m in METHODS if m.needs in known]
    skipped = [m.label for m in METHODS if m.needs not in known]
    load_start = load_average()
    started = time.perf_counter()
    header = [f"device: {jax.devices()[0].device_kind}; float32; load average (1, 5, 15 min) "
              f"at start: {load_start}"]
    if skipped:
        header.append(f"skipped (not registered in this optzoo): {', '.join(skipped)}")
    print("\n".join(header), flush=True)
    rows, notes = [], []
    sizes = args.sizes.split(",")
    repeats = [int(r) for r in args.repeats.split(",")]
    timed_per_size = args.timed.split(";")
    for i, size in enumerate(sizes):
        wanted = timed_per_size[min(i, len(timed_per_size) - 1)].split(",")
        timed = {m.label for m in methods if "all" in wanted or m.label in wanted} | {"adam"}
        left = [m.label for m in methods if m.label not in timed]
        if left:
            notes.append(f"n = {size}: state bytes only (not timed) for {', '.join(left)}")
        t0 = time.perf_counter()
        n, med, spread, compiles, traffic, nbytes = measure_size(
            size, methods, timed, repeats[min(i, len(repeats) - 1)], args.slow_repeats,
            args.sample_s)
        new = rows_for(size, n, methods, med, spread, compiles, traffic, nbytes)
        rows += new
        print("\n".join(table(new)[2:]), f"\n({size}: {time.perf_counter() - t0:.0f} s)",
              flush=True)
    load_end = load_average()
    total = time.perf_counter() - started
    command = "python benchmarks/matrix_cost.py " + " ".join(
        a for a in (argv if argv is not None else sys.argv[1:]))
    lines = table(rows)
    print("\n".join(lines))
    print(f"load average at end: {load_end}; total {total:.0f} s")
    if args.out:
        write(args.out, command.strip(), header, lines, notes, skipped, load_start, load_end,
              total, args)


def write(path, command, header, lines, notes, skipped, load_start, load_end, total, args):
    md = ["# Cost of the matrix preconditioners against adam", "",
          f"Command: `{command}` (total {total:.0f} s).", "",
          "Machine:", "",
          *(ln for ln in machine_description("cpu") if not ln.startswith("- load average")),
          f"- load average (1, 5, 15 min, os.getloadavg) at start: {load_start}; at end: "
          f"{load_end} (a load above the 2 cores means other processes shared them)", "",
          f"Rounds per size ({args.sizes}): {args.repeats}; steps longer than {SLOW_S} s: "
          f"{args.slow_repeats} rounds of their own (one call per sample). Each other sample "
          f"repeats a step until it lasts about {args.sample_s} s. `spread`: median absolute "
          "deviation of the samples over their median (the larger of the two kinds for "
          "the refreshed ones).", "",
          *lines, ""]
    if skipped:
        md += [f"Skipped (not registered): {', '.join(skipped)}.", ""]
    md += [f"- {n}" for n in notes]
    md += ["", "Reading the table:", "",
           "- `ms/step at defaults` is measured for adam, adam_mini and sam; for the "
           "others it is `plain + share * (refresh - plain)` with the long-run share of "
           "refreshing steps at the reference's defaults (shampoo 1, soap and sophia_h "
           "1/10, kron 0.03 once its schedule has decayed; kron refreshes on every step "
           "for its first 500).",
           "- `ms/refresh step`: the step with the preconditioner refresh due (frequency "
           "1); `ms/plain step`: never due (frequency 10^9).",
           "- `state MB`: bytes of the arrays `init` returns; adam's is two moments.",
           "- `bytes moved x adam`: what the compiled step's kernels read and write "
           "(`optzoo.cli.bench.hlo.analyse`), against adam's; given only where the step "
           "has no `lax.cond` (the others' programs hold both branches). It does not "
           "depend on the machine's load. With this quadratic loss sam's second gradient "
           "`p + e - 1` fuses into the update's kernels, so sam moves what adam moves; on "
           "a model its second gradient is a second forward and backward pass.",
           ""]
    with open(path, "w") as f:
        f.write("\n".join(md))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
