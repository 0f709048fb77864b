"""``optzoo bench``'s options and its run: settings, then one table per model shape, the compiled
programs, the compile times and the legend, printed as measured and optionally written to a file."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from optzoo.cli.bench import flat, report
from optzoo.cli.common import Parser, UsageError, float_in, int_in
from optzoo.cli.bench.machine import load_average, machine_description, pin_threads
from optzoo.cli.bench.specs import ALL_SIZES, OPTIMIZERS, select, specs as all_specs


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="optzoo bench",
        description="Time optimizer update steps: optzoo vs optax vs torch.optim (foreach, fused).",
    )
    p.add_argument("--sizes", default="a,b,c",
                   help="comma-separated model shapes: a (8M, 1 leaf), b (8M, 200 leaves), "
                        "c (200k, 400 leaves), 2m (2M, 1,000 leaves), tiny (4k, 4 leaves); "
                        "default a,b,c")
    p.add_argument("--optimizers", default="classic",
                   help="comma-separated names or groups: classic (the default: " + ", ".join(OPTIMIZERS)
                        + "), modern (optzoo/optax/published torch reference: "
                        "schedule-free, Prodigy, AdEMAMix, ADOPT, ...), all (both)")
    p.add_argument("--repeats", type=int_in("--repeats", 1, 10_000), default=None,
                   help="timed rounds per comparison (default 15, 5 with --quick)")
    p.add_argument("--sample-ms", type=float_in("--sample-ms", 0.0, 60_000.0, low_open=True), default=None,
                   help="minimum length of one timed sample in ms (default 20, 5 with --quick)")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu", help="where to time (default cpu)")
    p.add_argument("--threads", type=int_in("--threads", 1, 4096), default=None,
                   help="cores for XLA and torch on CPU (default: all usable cores); the "
                        "process is pinned to that many cores and torch uses as many threads")
    p.add_argument("--compile-repeats", type=int_in("--compile-repeats", 0, 1000), default=None,
                   help="extra rounds of the compile-time comparison at (c), beyond the compilations "
                        "the timing at (c) does anyway (default 1, 0 with --quick)")
    p.add_argument("--no-torch", action="store_true", help="skip torch.optim")
    p.add_argument("--train-step", default="adam",
                   help="optimizers also timed through optzoo.train.make_train_step: "
                        "comma-separated names, 'all' or 'none' (default adam)")
    p.add_argument("--no-train-step", action="store_true", help="same as --train-step none")
    p.add_argument("--undonated", action="store_true",
                   help="also time optzoo's step without buffer donation")
    p.add_argument("--layout", choices=flat.LAYOUTS, default="tree",
                   help="optzoo's params: tree (the pytree, the default), flat (optzoo.flat_params "
                        "in the update tables) or both (a flat/optzoo column); flat and both add "
                        "the whole-training-step table (tree vs flat vs torch, with backward) "
                        "and the end-to-end MLP table")
    p.add_argument("--model-widths", default="128,256",
                   help="--layout flat/both: widths of the end-to-end MLP, comma-separated, or "
                        "'none' (default 128,256: every leaf buffered, and the 256x256 weights kept)")
    p.add_argument("--model-layers", type=int_in("--model-layers", 1, 1000), default=24,
                   help="--layout flat/both: layers of the end-to-end MLP (default 24)")
    p.add_argument("--model-batch", type=int_in("--model-batch", 1, 1_000_000), default=64,
                   help="--layout flat/both: batch size of the end-to-end MLP (default 64)")
    p.add_argument("--hlo", action="store_true", help="print the kernel count and traffic of each compiled step")
    p.add_argument("--quick", action="store_true", help="fewer rounds and shorter samples")
    p.add_argument("--out", default=None, help="write the tables and machine description to this Markdown file")
    return p


def _error(message: str) -> int:
    print(f"optzoo bench: {message}", file=sys.stderr)
    return 2


def _torch(args, threads: int | None) -> bool:
    """Set torch's thread count on CPU (recorded even when torch is not timed); whether torch is timed."""
    try:
        import torch
    except ImportError:
        if not args.no_torch:
            print("optzoo bench: torch is not installed; skipping torch", file=sys.stderr)
        return False
    if args.device == "cpu":
        torch.set_num_threads(threads)
    elif not args.no_torch and not torch.cuda.is_available():
        print("optzoo bench: torch sees no CUDA device; skipping torch", file=sys.stderr)
        return False
    return not args.no_torch


def _train_step_available() -> bool:
    try:
        from optzoo.train import make_train_step  # noqa: F401
    except ImportError:
        return False
    return True


def _write(path: str | None, lines: list[str]) -> None:
    """Write the report so far (after each table, so an interrupted run keeps its tables)."""
    if path:
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the tables; returns a process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _parser().parse_args(argv)
    except UsageError as e:
        return _error(f"error: {e}")
    threads = pin_threads(args.threads, argv) if args.device == "cpu" else None
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 15)
    sample_ms = args.sample_ms if args.sample_ms is not None else (5.0 if args.quick else 20.0)
    sample_s = sample_ms / 1e3
    compile_repeats = args.compile_repeats if args.compile_repeats is not None else (0 if args.quick else 1)

    import jax

    if args.device == "gpu":
        try:
            device = jax.devices("gpu")[0]
        except RuntimeError as e:
            return _error(f"no GPU visible to JAX ({e})")
    else:
        device = jax.devices("cpu")[0]
    have_step = not args.no_train_step and args.train_step != "none" and _train_step_available()
    run = report.Settings(
        device=device,
        torch_device="cuda" if args.device == "gpu" else "cpu",
        have_torch=_torch(args, threads),
        have_step=have_step,
        step_for=None if args.train_step == "all" else set(args.train_step.split(",")),
        undonated=args.undonated,
        repeats=repeats,
        sample_s=sample_s,
        layout=args.layout,
    )

    try:
        specs = select(all_specs(), args.optimizers)
    except ValueError as e:
        return _error(str(e))
    size_names = [s.strip() for s in args.sizes.split(",") if s.strip()]
    bad = [s for s in size_names if s not in ALL_SIZES]
    if bad:
        return _error(f"unknown sizes {bad}; have a, b, c, 2m, tiny")
    try:
        widths = ([] if args.model_widths.strip() == "none" else
                  [int(w) for w in args.model_widths.split(",") if w.strip()])
        if any(w < 1 for w in widths):
            raise ValueError
    except ValueError:
        return _error(f"--model-widths must be positive integers or 'none', got {args.model_widths!r}")

    out: list[str] = ["# optzoo update-step benchmark", ""]
    out += ["Machine:", ""] + machine_description(args.device) + [""]
    out += [f"Settings: {repeats} interleaved rounds per comparison, samples of at least "
            f"{sample_s * 1e3:.0f} ms, medians; all updates in float32; JAX steps jitted with "
            "params and state donated.", ""]
    print("\n".join(out), flush=True)
    hlo_lines: list[str] = []
    compile_samples: dict[str, list[dict[str, float]]] = {}

    for size in size_names:
        table = report.size_table(size, specs, run, compile_samples, hlo_lines)
        notes = [f"- {s.name}: {s.note}" for s in specs.values() if s.note]
        out += table + [""] + notes + [""]
        _write(args.out, out + ["(run in progress)"])
        print("\n".join([""] + notes + [""]), flush=True)

    if args.layout != "tree":
        if args.device != "cpu":
            print("optzoo bench: the whole-step and model tables time torch on CPU only; "
                  "skipping torch there", file=sys.stderr)
        frun = dataclasses.replace(run, have_torch=run.have_torch and args.device == "cpu")
        out += flat.step_table(size_names, specs, frun, run.step_for)
        _write(args.out, out + ["(run in progress)"])
        if widths:
            out += flat.model_table(widths, args.model_layers, args.model_batch, specs, frun,
                                    run.step_for)
            _write(args.out, out + ["(run in progress)"])

    hlo_table = report.hlo_table(hlo_lines)
    if args.hlo:
        print("\n".join(hlo_table), flush=True)
    out += hlo_table

    if "c" in size_names or compile_repeats > 0:
        out += report.compile_times(specs, compile_repeats, device, compile_samples)

    legend = report.legend(args.device) + ([flat.legend(), ""] if args.layout != "tree" else [])
    out += legend
    print("\n".join(legend), flush=True)
    out.append(f"Load average at end (1, 5, 15 min): {load_average()}")
    if args.out:
        _write(args.out, out)
        print(f"wrote {args.out}")
    return 0
