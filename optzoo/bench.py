"""Update-step benchmarks: optzoo against optax and ``torch.optim`` (foreach and fused).

Run as ``optzoo bench [options]``, ``python -m optzoo.bench [options]`` or
``python benchmarks/run.py [options]``. What it measures, all in one process:

* the time of one optimizer update ``(params, state, grads) -> (params, state)``,
  jit-compiled with the params and state donated, for optzoo and for optax's
  version of the same algorithm; the same update through
  :func:`optzoo.train.make_train_step` (the recommended step); and
  ``torch.optim`` with ``foreach=True`` and, where torch has it, ``fused=True``;
* at three shapes of model: (a) 8M float32 parameters in one leaf, (b) 8M in 200
  leaves, (c) 200k in 400 leaves;
* the medians of many timed samples taken after warm-up, with every
  implementation timed in turn inside each round (A B C D, then B C D A, ...), so
  slow drifts of a shared machine hit all of them alike; results are printed as
  ratios of those medians;
* the achieved bandwidth against the update's minimum memory traffic (every
  parameter, gradient and state array read once, and parameters and state
  written once: ``(3 + 2 k) * 4`` bytes per float32 parameter with ``k`` state
  arrays, 28 bytes for Adam), and the traffic that the compiled XLA program
  actually moves (summed over its fusions);
* the time to trace and compile the jitted step at (c), optzoo against optax.

``--device gpu`` runs the same measurements on the first CUDA device (JAX with
CUDA, torch with CUDA); thread settings then do not apply.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import math
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["main", "SIZES", "OPTIMIZERS", "hlo_report", "min_traffic_bytes"]

# name -> (description, leaf shapes)
SIZES: dict[str, tuple[str, list[tuple[int, ...]]]] = {
    "a": ("8M params in 1 leaf", [(8_000_000,)]),
    "b": ("8M params in 200 leaves", [(200, 200)] * 200),
    "c": ("200k params in 400 leaves", [(500,)] * 400),
}
TINY = ("tiny: 4k params in 4 leaves", [(1000,)] * 4)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One algorithm, written for each library with the same hyperparameters.

    ``state_arrays`` is the number of per-parameter state arrays the update reads
    and writes (0 for SGD, 2 for Adam); it fixes the minimum traffic.
    """

    name: str
    optzoo: Callable[[], Any]
    optax: Callable[[], Any] | None
    torch: Callable[[list, dict], Any] | None  # (params, {"foreach"/"fused": True})
    state_arrays: int
    note: str = ""


def _specs() -> list[Spec]:
    import optax

    import optzoo

    def t(cls_name, **kw):
        def make(params, flags):
            import torch

            return getattr(torch.optim, cls_name)(params, **kw, **flags)

        return make

    specs = [
        Spec("sgd", lambda: optzoo.sgd(1e-2), lambda: optax.sgd(1e-2), t("SGD", lr=1e-2), 0),
        Spec(
            "momentum",
            lambda: optzoo.momentum(1e-2, 0.9),
            lambda: optax.sgd(1e-2, momentum=0.9),
            t("SGD", lr=1e-2, momentum=0.9),
            1,
        ),
        Spec(
            "nag",
            lambda: optzoo.nag(1e-2, 0.9),
            lambda: optax.sgd(1e-2, momentum=0.9, nesterov=True),
            t("SGD", lr=1e-2, momentum=0.9, nesterov=True),
            1,
        ),
        Spec(
            "adagrad",
            lambda: optzoo.adagrad(1e-2, initial_accumulator_value=0.1, eps=1e-7),
            lambda: optax.adagrad(1e-2, initial_accumulator_value=0.1, eps=1e-7),
            t("Adagrad", lr=1e-2, initial_accumulator_value=0.1, eps=1e-7),
            1,
        ),
        Spec(
            "adadelta",
            lambda: optzoo.adadelta(1.0, rho=0.95, eps=1e-6),
            lambda: optax.adadelta(1.0, rho=0.95, eps=1e-6),
            t("Adadelta", lr=1.0, rho=0.95, eps=1e-6),
            2,
        ),
        Spec(
            "rmsprop",
            lambda: optzoo.rmsprop(1e-3, decay=0.9, eps=1e-8),
            lambda: optax.rmsprop(1e-3, decay=0.9, eps=1e-8),
            t("RMSprop", lr=1e-3, alpha=0.9, eps=1e-8),
            1,
        ),
        Spec("adam", lambda: optzoo.adam(1e-3), lambda: optax.adam(1e-3), t("Adam", lr=1e-3), 2),
        Spec(
            "adamw",
            lambda: optzoo.adamw(1e-3, weight_decay=1e-2),
            lambda: optax.adamw(1e-3, weight_decay=1e-2),
            t("AdamW", lr=1e-3, weight_decay=1e-2),
            2,
        ),
        Spec("adamax", lambda: optzoo.adamax(2e-3), lambda: optax.adamax(2e-3), t("Adamax", lr=2e-3), 2),
        Spec(
            "nadam",
            lambda: optzoo.nadam(2e-3),
            lambda: optax.nadam(2e-3),
            t("NAdam", lr=2e-3, momentum_decay=4e-3),
            2,
            "optax.nadam keeps m_t = b1; per-element work is the same",
        ),
        Spec("radam", lambda: optzoo.radam(1e-3), lambda: optax.radam(1e-3, threshold=5.0), t("RAdam", lr=1e-3), 2),
        Spec(
            "amsgrad",
            lambda: optzoo.amsgrad(1e-3),
            lambda: optax.amsgrad(1e-3),
            t("Adam", lr=1e-3, amsgrad=True),
            3,
            "optax.amsgrad takes the max of the bias-corrected nu; same traffic",
        ),
    ]
    # optimizers added to optzoo later; torch has only Rprop among them
    def every_leaf(params):
        import jax

        return jax.tree.map(lambda _: True, params)

    extra = {
        "lion": (lambda z: z.lion(1e-4, b1=0.9, b2=0.99, weight_decay=0.0),
                 lambda: optax.lion(1e-4, b1=0.9, b2=0.99, weight_decay=0.0), None, 1, ""),
        "lamb": (lambda z: z.lamb(1e-3, eps=1e-6, weight_decay=0.0),
                 lambda: optax.lamb(1e-3, eps=1e-6, weight_decay=0.0), None, 2, ""),
        "lars": (lambda z: z.lars(1e-2, momentum=0.9, trust_coefficient=1e-3, weight_decay=5e-4,
                                  eps=0.0, weight_decay_mask=every_leaf, trust_ratio_mask=every_leaf),
                 lambda: optax.lars(1e-2, weight_decay=5e-4, trust_coefficient=1e-3, eps=0.0,
                                    momentum=0.9),
                 None, 1, ""),
        "adafactor": (lambda z: z.adafactor(1e-2), lambda: optax.adafactor(1e-2), None, 1,
                      "each library's own Adafactor defaults (not the same hyperparameters); "
                      "1-D leaves keep an unfactored second moment"),
        "rprop": (lambda z: z.rprop(1e-2, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6,
                                    max_step_size=50.0),
                  lambda: optax.rprop(1e-2, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6,
                                      max_step_size=50.0),
                  t("Rprop", lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50.0)), 2, ""),
    }
    for name, (zoo, ox, tt, k, note) in extra.items():
        if getattr(optzoo, name, None) is not None:
            specs.append(Spec(name, (lambda zoo=zoo: zoo(optzoo)), ox, tt, k, note))
    return specs


OPTIMIZERS = (
    "sgd momentum nag adagrad adadelta rmsprop adam adamw adamax nadam radam amsgrad "
    "lion lamb lars adafactor rprop"
).split()


def min_traffic_bytes(state_arrays: int, itemsize: int = 4) -> int:
    """Bytes per parameter an update must move at least: read params, grads and
    ``state_arrays`` state arrays, write params and the state arrays."""
    return (3 + 2 * state_arrays) * itemsize


# ------------------------------------------------------------------------ HLO analysis

_SHAPE = re.compile(r"(pred|s8|u8|s16|u16|s32|u32|s64|u64|f16|bf16|f32|f64)\[([0-9,]*)\]")
_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
          "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8}
_FREE = {"parameter", "tuple", "get-tuple-element", "bitcast", "constant"}


def _shape_bytes(text: str) -> int:
    total = 0
    for dtype, dims in _SHAPE.findall(text):
        n = 1
        for d in dims.split(","):
            if d:
                n *= int(d)
        total += n * _BYTES[dtype]
    return total


def hlo_report(compiled_text: str) -> dict[str, Any]:
    """Read the optimized HLO of a compiled step (``jit(f).lower(...).compile().as_text()``).

    Returns the number of fusions and other kernels in the entry computation, the
    number of ``copy`` instructions, the bytes those kernels read and write (each
    operand and result counted once per kernel: the passes over memory), and
    whether every donated parameter is aliased to an output.
    """
    lines = compiled_text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.startswith("ENTRY"))
    except StopIteration:
        return {}
    sizes: dict[str, int] = {}
    kernels = fusions = copies = moved = 0
    for ln in lines[start + 1:]:
        if ln.startswith("}"):
            break
        m = re.match(r"\s*(?:ROOT )?%?([\w.\-]+) = (.+?) ([\w\-]+)\((.*?)\)(,|$)", ln)
        if not m:
            continue
        name, shape, op, args = m.group(1), m.group(2), m.group(3), m.group(4)
        # A multi-output fusion returns a tuple: each of its results is written.
        out_bytes = _shape_bytes(shape)
        sizes[name] = out_bytes
        if op in _FREE:
            continue
        kernels += 1
        fusions += op == "fusion"
        copies += op == "copy"
        operands = re.findall(r"%([\w.\-]+)", args)
        moved += out_bytes + sum(sizes.get(o, 0) for o in operands)
    header = lines[0] if lines else ""
    n_alias = len(re.findall(r"may-alias|must-alias", header))
    return {"kernels": kernels, "fusions": fusions, "copies": copies, "bytes_moved": moved,
            "aliased_outputs": n_alias}


def _analyse(compiled) -> dict[str, Any]:
    """hlo_report of a compiled executable plus its temporary buffer size."""
    if compiled is None:
        return {}
    rep = hlo_report(compiled.as_text())
    try:
        rep["temp_mb"] = compiled.memory_analysis().temp_size_in_bytes / 2**20
    except Exception:  # noqa: BLE001 - not every backend reports it
        pass
    return rep


# ------------------------------------------------------------------------------ timing


def _time_interleaved(
    runners: dict[str, Callable[[], None]], repeats: int, sample_s: float, warmup: int
) -> dict[str, list[float]]:
    """Median-ready samples of seconds per call, each runner timed in turn per round.

    Each sample runs a runner ``inner`` times in a row (enough calls to last about
    ``sample_s``) and records the mean; the order of runners is shuffled every round.
    """
    names = list(runners)
    inner = {}
    for n in names:
        for _ in range(warmup):
            runners[n]()
        t0 = time.perf_counter()
        runners[n]()
        one = max(time.perf_counter() - t0, 1e-7)
        inner[n] = max(1, min(1000, int(sample_s / one)))
    samples: dict[str, list[float]] = {n: [] for n in names}
    rng = random.Random(0)
    for r in range(repeats):
        # a fresh order each round, so that no runner always follows the same one
        # (torch's and XLA's worker threads spin for a while after a parallel loop
        # and slow down whatever runs next), plus a short pause to let them sleep
        order = names[:]
        rng.shuffle(order)
        for n in order:
            run, k = runners[n], inner[n]
            time.sleep(0.002)
            t0 = time.perf_counter()
            for _ in range(k):
                run()
            samples[n].append((time.perf_counter() - t0) / k)
    return samples


def _rel_spread(xs: list[float]) -> float:
    """Median absolute deviation relative to the median."""
    med = statistics.median(xs)
    return statistics.median(abs(x - med) for x in xs) / med if med else 0.0


# ----------------------------------------------------------------------- implementations


def _jax_runner(tx, shapes, device, donate=True, via_train_step=False):
    """A callable doing one update (and blocking), the compiled executable (None
    when not donated through the train step), and the seconds spent tracing,
    lowering and compiling it."""
    import jax
    import jax.numpy as jnp
    import optax

    keys = jax.random.split(jax.random.key(0), len(shapes))
    params = [jax.device_put(jax.random.normal(k, s, jnp.float32), device) for k, s in zip(keys, shapes)]
    grads = [jax.device_put(0.01 * jax.random.normal(jax.random.fold_in(k, 1), s, jnp.float32), device)
             for k, s in zip(keys, shapes)]
    state = jax.device_put(tx.init(params), device)

    if via_train_step:
        from optzoo.train import make_train_step

        step = make_train_step(_grad_is_batch_loss(), tx, donate=donate)
        t0 = time.perf_counter()
        compiled = step.lower(params, state, grads).compile() if donate else None
        seconds = time.perf_counter() - t0
        box = [params, state]

        def run():
            box[0], box[1], loss = step(box[0], box[1], grads)
            jax.block_until_ready(box[0])

        return run, compiled, seconds

    def update(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    jitted = jax.jit(update, donate_argnums=(0, 1) if donate else ())
    t0 = time.perf_counter()
    compiled = jitted.lower(params, state, grads).compile()
    seconds = time.perf_counter() - t0
    box = [params, state]

    def run():
        box[0], box[1] = compiled(box[0], box[1], grads)
        jax.block_until_ready(box[0])

    return run, compiled, seconds


def _grad_is_batch_loss():
    """A loss whose gradient with respect to the params is the batch itself and
    whose value costs nothing, so a train step measures the update alone."""
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def loss(params, batch):
        return jnp.zeros([], jnp.float32)

    def fwd(params, batch):
        return loss(params, batch), batch

    def bwd(batch, ct):
        return jax.tree.map(lambda g: (ct * g).astype(g.dtype), batch), jax.tree.map(jnp.zeros_like, batch)

    loss.defvjp(fwd, bwd)
    return loss


def _torch_runner(make, shapes, flags, device):
    import torch

    gen = torch.Generator().manual_seed(0)
    params = []
    for s in shapes:
        p = torch.randn(s, generator=gen).to(device).requires_grad_(True)
        p.grad = (0.01 * torch.randn(s, generator=gen)).to(device)
        params.append(p)
    opt = make(params, flags)
    opt.step()  # fails here when the flag is unsupported
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def run():
        opt.step()
        sync()

    return run


# --------------------------------------------------------------------------- reporting


def machine_description(device: str) -> list[str]:
    import jax
    import jaxlib
    import numpy
    import optax

    try:
        import torch

        torch_version = torch.__version__
        torch_threads = torch.get_num_threads()
    except ImportError:  # pragma: no cover
        torch_version, torch_threads = "absent", None
    lines = [f"- date (UTC): {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}"]
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        keep = ("Model name", "CPU(s):", "Thread(s) per core", "Core(s) per socket", "L2 cache",
                "L3 cache", "Flags")
        for ln in out.splitlines():
            if ln.startswith(keep):
                key, _, val = ln.partition(":")
                val = val.strip()
                if key == "Flags":
                    val = " ".join(f for f in val.split() if f.startswith(("avx512f", "avx2", "amx")))
                lines.append(f"- lscpu {key.strip()}: {val}")
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        mem = next(ln for ln in open("/proc/meminfo") if ln.startswith("MemTotal"))
        lines.append(f"- memory: {int(mem.split()[1]) / 2**20:.1f} GiB")
    except (OSError, StopIteration):
        pass
    lines.append(f"- cores this process runs on (sched_getaffinity; --threads pins it): "
                 f"{len(os.sched_getaffinity(0))}")
    lines.append(f"- python {platform.python_version()}, jax {jax.__version__}, jaxlib "
                 f"{jaxlib.__version__}, optax {optax.__version__}, torch {torch_version}, "
                 f"numpy {numpy.__version__}")
    lines.append(f"- device: {device} ({jax.devices(device if device != 'gpu' else 'gpu')[0].device_kind})")
    if device == "cpu":
        lines.append(f"- threads: torch.get_num_threads() = {torch_threads} "
                     f"(XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r})")
    lines.append(f"- load average at start (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return lines


def _fmt_ratio(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.2f}"


def _gbs(nbytes: float, seconds: float | None) -> str:
    return "—" if not seconds else f"{nbytes / seconds / 1e9:.1f}"


# -------------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="optzoo bench",
        description="Time optimizer update steps: optzoo vs optax vs torch.optim (foreach, fused).",
    )
    p.add_argument("--sizes", default="a,b,c",
                   help="comma-separated model shapes: a (8M, 1 leaf), b (8M, 200 leaves), "
                        "c (200k, 400 leaves), tiny (4k, 4 leaves); default a,b,c")
    p.add_argument("--optimizers", default="all",
                   help="comma-separated names (default: all shared ones): " + ", ".join(OPTIMIZERS))
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds per comparison (default 15, 5 with --quick)")
    p.add_argument("--sample-ms", type=float, default=None,
                   help="minimum length of one timed sample in ms (default 20, 5 with --quick)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--threads", type=int, default=None,
                   help="cores for XLA and torch on CPU (default: all usable cores); the "
                        "process is pinned to that many cores and torch uses as many threads")
    p.add_argument("--compile-repeats", type=int, default=None,
                   help="extra rounds of the compile-time comparison at (c), beyond the compilations "
                        "the timing at (c) does anyway (default 1, 0 with --quick)")
    p.add_argument("--no-torch", action="store_true", help="skip torch.optim")
    p.add_argument("--train-step", default="adam",
                   help="optimizers also timed through optzoo.train.make_train_step: "
                        "comma-separated names, 'all' or 'none' (default adam)")
    p.add_argument("--no-train-step", action="store_true", help="same as --train-step none")
    p.add_argument("--undonated", action="store_true",
                   help="also time optzoo's step without buffer donation")
    p.add_argument("--hlo", action="store_true", help="print the kernel count and traffic of each compiled step")
    p.add_argument("--quick", action="store_true", help="fewer rounds and shorter samples")
    p.add_argument("--out", default=None, help="write the tables and machine description to this Markdown file")
    return p


def _ensure_threads(threads: int | None, argv: Sequence[str]) -> int:
    """Pin this process, XLA's threads and torch's alike, to ``threads`` cores.

    The affinity is set before JAX starts its backend (threads created later inherit
    it); when the backend is already running, this module is re-run in a fresh process
    that inherits the narrower affinity. XLA's own thread-pool flags are not used:
    with jaxlib 0.10 (thunk runtime) they leave its loops running on every core.
    """
    cores = sorted(os.sched_getaffinity(0))
    if threads is None or threads >= len(cores):
        return len(cores)
    if threads < 1:
        raise SystemExit(f"optzoo bench: --threads must be at least 1, got {threads}")
    os.sched_setaffinity(0, cores[:threads])
    from jax._src import xla_bridge

    if xla_bridge.backends_are_initialized():
        sys.stdout.flush()
        os.execv(sys.executable, [sys.executable, "-m", "optzoo.bench", *argv])
    return threads


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables; returns a process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    threads = _ensure_threads(args.threads, argv) if args.device == "cpu" else None
    repeats = args.repeats or (5 if args.quick else 15)
    sample_s = (args.sample_ms or (5.0 if args.quick else 20.0)) / 1e3
    compile_repeats = args.compile_repeats if args.compile_repeats is not None else (0 if args.quick else 1)

    import jax

    if args.device == "gpu":
        try:
            device = jax.devices("gpu")[0]
        except RuntimeError as e:
            print(f"optzoo bench: no GPU visible to JAX ({e})", file=sys.stderr)
            return 2
        torch_device = "cuda"
    else:
        device = jax.devices("cpu")[0]
        torch_device = "cpu"
    have_torch = not args.no_torch
    if args.device == "cpu":
        try:  # same thread count as XLA even when torch is not timed (it is recorded)
            import torch

            torch.set_num_threads(threads)
        except ImportError:
            pass
    if have_torch:
        try:
            import torch

            if args.device == "cpu":
                torch.set_num_threads(threads)
            elif not torch.cuda.is_available():
                print("optzoo bench: torch sees no CUDA device; skipping torch", file=sys.stderr)
                have_torch = False
        except ImportError:
            print("optzoo bench: torch is not installed; skipping torch", file=sys.stderr)
            have_torch = False
    have_step = not args.no_train_step and args.train_step != "none"
    step_for = None if args.train_step == "all" else set(args.train_step.split(","))
    if have_step:
        try:
            from optzoo.train import make_train_step  # noqa: F401
        except ImportError:
            have_step = False

    specs = {s.name: s for s in _specs()}
    if args.optimizers != "all":
        wanted = [n.strip() for n in args.optimizers.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in specs]
        if unknown:
            print(f"optzoo bench: unknown or unavailable optimizers {unknown}; have {sorted(specs)}",
                  file=sys.stderr)
            return 2
        specs = {n: specs[n] for n in wanted}
    size_names = [s.strip() for s in args.sizes.split(",") if s.strip()]
    sizes = dict(SIZES, tiny=TINY)
    bad = [s for s in size_names if s not in sizes]
    if bad:
        print(f"optzoo bench: unknown sizes {bad}; have a, b, c, tiny", file=sys.stderr)
        return 2

    out: list[str] = ["# optzoo update-step benchmark", ""]
    out += ["Machine:", ""] + machine_description(args.device) + [""]
    out += [f"Settings: {repeats} interleaved rounds per comparison, samples of at least "
            f"{sample_s * 1e3:.0f} ms, medians; all updates in float32; JAX steps jitted with "
            "params and state donated.", ""]
    print("\n".join(out), flush=True)
    hlo_lines: list[str] = []
    compile_samples: dict[str, list[dict[str, float]]] = {}

    for size in size_names:
        desc, shapes = sizes[size]
        n_params = sum(math.prod(s) for s in shapes)
        cols = ["optimizer", "optzoo ms", "optzoo/optax"]
        if have_step:
            cols.append("train_step/optzoo")
            if have_torch:
                cols.append("train_step/torch fused")
        if args.undonated:
            cols.append("undonated/donated")
        if have_torch:
            cols += ["optzoo/torch foreach", "optzoo/torch fused"]
        cols += ["GB/s optzoo", "GB/s optax"]
        if have_torch:
            cols += ["GB/s torch fused"]
        cols += ["min B/param", "XLA B/param", "spread %"]
        table = [f"## ({size}) {desc}", "", "| " + " | ".join(cols) + " |",
                 "|" + "|".join("---" for _ in cols) + "|"]
        print("\n".join(table), flush=True)
        for index, spec in enumerate(specs.values()):
            runners: dict[str, Callable[[], None]] = {}
            texts: dict[str, str] = {}
            # build (and compile) optzoo and optax alternately first, so that their
            # compile times at (c) form one more interleaved sample
            pair = [("optzoo", spec.optzoo)] + ([("optax", spec.optax)] if spec.optax else [])
            if index % 2:
                pair.reverse()
            compiled_s = {}
            for which, ctor in pair:
                runners[which], texts[which], compiled_s[which] = _jax_runner(ctor(), shapes, device)
            if size == "c":
                compile_samples.setdefault(spec.name, []).append(compiled_s)
            rep = _analyse(texts["optzoo"])
            orep = _analyse(texts["optax"]) if "optax" in texts else {}
            runners = {k: runners[k] for k in ("optzoo", "optax") if k in runners}
            if have_step and (step_for is None or spec.name in step_for):
                runners["step"], step_exe, _ = _jax_runner(spec.optzoo(), shapes, device, via_train_step=True)
                srep = _analyse(step_exe)
            else:
                srep = {}
            if args.undonated:
                runners["undonated"], _, _ = _jax_runner(spec.optzoo(), shapes, device, donate=False)
            if have_torch and spec.torch is not None:
                for flag in ("foreach", "fused"):
                    try:
                        runners["torch " + flag] = _torch_runner(spec.torch, shapes, {flag: True}, torch_device)
                    except (RuntimeError, TypeError, ValueError):
                        pass
            samples = _time_interleaved(runners, repeats, sample_s, warmup=3)
            med = {k: statistics.median(v) for k, v in samples.items()}
            mb = min_traffic_bytes(spec.state_arrays) * n_params

            def ratio(a, b):
                return med[a] / med[b] if a in med and b in med else None

            row = [spec.name, f"{med['optzoo'] * 1e3:.3f}", _fmt_ratio(ratio("optzoo", "optax"))]
            if have_step:
                row.append(_fmt_ratio(ratio("step", "optzoo")))
                if have_torch:
                    row.append(_fmt_ratio(ratio("step", "torch fused")))
            if args.undonated:
                row.append(_fmt_ratio(ratio("undonated", "optzoo")))
            if have_torch:
                row += [_fmt_ratio(ratio("optzoo", "torch foreach")), _fmt_ratio(ratio("optzoo", "torch fused"))]
            row += [_gbs(mb, med.get("optzoo")), _gbs(mb, med.get("optax"))]
            if have_torch:
                row.append(_gbs(mb, med.get("torch fused")))
            xla_bpp = rep.get("bytes_moved", 0) / n_params
            row += [str(min_traffic_bytes(spec.state_arrays)), f"{xla_bpp:.0f}",
                    f"{100 * max(_rel_spread(v) for v in samples.values()):.0f}"]
            line = "| " + " | ".join(row) + " |"
            table.append(line)
            print(line, flush=True)
            hlo_lines.append(
                f"| {size} | {spec.name} | {rep.get('kernels')} / {orep.get('kernels', '—')} | "
                f"{rep.get('copies')} / {orep.get('copies', '—')} | "
                f"{rep.get('bytes_moved', 0) / n_params:.0f} / "
                f"{(orep.get('bytes_moved', 0) / n_params) if orep else float('nan'):.0f} | "
                f"{rep.get('aliased_outputs')} | {rep.get('temp_mb', float('nan')):.1f} | "
                f"{srep.get('kernels', '—')} / {srep.get('copies', '—')} / "
                f"{srep.get('bytes_moved', 0) / n_params:.0f} |"
            )
            del runners, samples
        notes = [f"- {s.name}: {s.note}" for s in specs.values() if s.note]
        table += [""] + notes + [""]
        out += table
        _write(args.out, out + ["(run in progress)"])
        print("\n".join([""] + notes + [""]), flush=True)

    hlo_table = ["## Compiled programs (optzoo / optax)", "",
                 "| size | optimizer | kernels | copies | XLA bytes moved per param | donated outputs "
                 "aliased (optzoo) | temporaries MB (optzoo) | train step: kernels / copies / bytes per param |",
                 "|---|---|---|---|---|---|---|---|"] + hlo_lines + [""]
    if args.hlo:
        print("\n".join(hlo_table), flush=True)
    out += hlo_table

    if "c" in size_names or compile_repeats > 0:
        out += _compile_times(specs, compile_repeats, device, compile_samples)

    legend = [
        "Columns: `optzoo ms` is the median time of optzoo's donated jitted update "
        "(the only absolute time; compare ratios, not times, across machines). "
        "`a/b` columns are ratios of medians measured in the same rounds (below 1: the "
        "first is faster). `train_step/...`: optzoo.train.make_train_step doing the "
        "same update (with a loss whose gradient is the batch; timed for --train-step "
        "optimizers only) over the bare update or torch's fused step. "
        "`GB/s`: minimum traffic over median time. `min B/param`: bytes per parameter "
        "an update must read and write. `XLA B/param`: bytes the compiled program's "
        "kernels read and write, from its optimized HLO. `spread %`: the largest median "
        "absolute deviation of the samples, relative to their median.",
        "",
    ]
    if args.device == "cpu":
        legend.append("GPU: not measured in this run (run `optzoo bench --device gpu` on a CUDA machine).")
        legend.append("")
    out += legend
    print("\n".join(legend), flush=True)
    out.append(f"Load average at end (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.out:
        _write(args.out, out)
        print(f"wrote {args.out}")
    return 0


def _write(path: str | None, lines: list[str]) -> None:
    """Write the report so far (after each table, so an interrupted run keeps its tables)."""
    if path:
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")


def _compile_times(specs: dict[str, Spec], repeats: int, device,
                   samples: dict[str, list[dict[str, float]]]) -> list[str]:
    """Trace + lower + compile time of the donated step at (c), optzoo vs optax:
    the compilations done for the timing runs at (c) (``samples``) plus ``repeats``
    more rounds, alternating which of the two compiles first."""
    import jax
    import jax.numpy as jnp
    import optax

    shapes = SIZES["c"][1]
    params = [jnp.zeros(s, jnp.float32, device=device) for s in shapes]
    lines = ["## Compile time of the jitted step at (c), 400 leaves", "",
             "| optimizer | optzoo s | optzoo/optax | samples |", "|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for spec in specs.values():
        if spec.optax is None:
            continue
        times: dict[str, list[float]] = {"optzoo": [], "optax": []}
        for sample in samples.get(spec.name, []):
            for which in times:
                times[which].append(sample[which])
        for r in range(repeats):
            order = ("optzoo", "optax") if r % 2 == 0 else ("optax", "optzoo")
            for which in order:
                tx = spec.optzoo() if which == "optzoo" else spec.optax()
                state = tx.init(params)

                def update(p, s, g, tx=tx):
                    u, s = tx.update(g, s, p)
                    return optax.apply_updates(p, u), s

                t0 = time.perf_counter()
                jax.jit(update, donate_argnums=(0, 1)).lower(params, state, params).compile()
                times[which].append(time.perf_counter() - t0)
        if not times["optzoo"]:
            continue
        a, b = statistics.median(times["optzoo"]), statistics.median(times["optax"])
        line = f"| {spec.name} | {a:.2f} | {a / b:.2f} | {len(times['optzoo'])} |"
        lines.append(line)
        print(line, flush=True)
    return lines + [""]


if __name__ == "__main__":
    sys.exit(main())
