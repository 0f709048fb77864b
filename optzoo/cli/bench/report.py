"""The benchmark's tables, each printed row by row as it is measured and returned as Markdown lines:
one per model shape, the compiled programs, the compile times, and the legend."""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from optzoo.cli.bench.hlo import analyse
from optzoo.cli.bench.runners import bare_update, jax_runner, torch_runner
from optzoo.cli.bench.specs import ALL_SIZES, SIZES, Spec, min_traffic_bytes
from optzoo.cli.bench.timing import rel_spread, time_interleaved


@dataclasses.dataclass(frozen=True)
class Settings:
    """What one benchmark run measures and how."""

    device: Any  # the JAX device
    torch_device: str  # "cpu" or "cuda"
    have_torch: bool
    have_step: bool  # time optzoo.train.make_train_step ...
    step_for: set[str] | None  # ... for these optimizers (None: all)
    undonated: bool
    repeats: int
    sample_s: float
    layout: str = "tree"  # optzoo's params: "tree", "flat" (optzoo.flat_params) or "both"


def _print(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)


def _fmt_ratio(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.2f}"


def _gbs(nbytes: float, seconds: float | None) -> str:
    return "—" if not seconds else f"{nbytes / seconds / 1e9:.1f}"


def _columns(run: Settings) -> list[str]:
    cols = ["optimizer", "optzoo ms", "optzoo/optax"]
    if run.have_step:
        cols.append("train_step/optzoo")
        if run.have_torch:
            cols.append("train_step/torch fused")
    if run.undonated:
        cols.append("undonated/donated")
    if run.layout == "both":
        cols.append("flat/optzoo")
        if run.have_torch:
            cols.append("flat/torch fused")
    if run.have_torch:
        cols += ["optzoo/torch foreach", "optzoo/torch fused", "optzoo/reference"]
    cols += ["GB/s optzoo", "GB/s optax"]
    if run.have_torch:
        cols += ["GB/s torch fused"]
    return cols + ["min B/param", "XLA B/param", "spread %"]


def size_table(size: str, specs: dict[str, Spec], run: Settings,
               compile_samples: dict[str, list[dict[str, float]]],
               hlo_lines: list[str]) -> list[str]:
    """Time every optimizer at one model shape; returns the table's lines.

    Appends this shape's rows to ``hlo_lines`` and, at (c), the compile times of the
    timed steps to ``compile_samples``.
    """
    desc, shapes = ALL_SIZES[size]
    n_params = sum(math.prod(s) for s in shapes)
    cols = _columns(run)
    where = {"flat": ", optzoo in the flat layout (optzoo.flat_params)",
             "both": ", optzoo in the tree layout; flat/optzoo: the flat layout"}.get(run.layout, "")
    table = [f"## ({size}) {desc}{where}", "", "| " + " | ".join(cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    _print(table)
    refused: list[str] = []
    for index, spec in enumerate(specs.values()):
        runners: dict[str, Callable[[], None]] = {}
        texts: dict[str, Any] = {}
        # build (and compile) optzoo and optax alternately first, so that their
        # compile times at (c) form one more interleaved sample
        pair = [("optzoo", spec.optzoo)] + ([("optax", spec.optax)] if spec.optax else [])
        if index % 2:
            pair.reverse()
        compiled_s = {}
        # --layout flat: optzoo in the flat layout, or in the tree one when it refuses a FlatParams
        flat = run.layout == "flat" and _takes_flat(spec, shapes, run.device)
        if run.layout == "flat" and not flat:
            refused.append(f"- {spec.name}: refuses a FlatParams; its row is the tree layout")
        for which, ctor in pair:
            runners[which], texts[which], compiled_s[which] = jax_runner(
                ctor(), shapes, run.device, flat=flat and which == "optzoo")
        if size == "c" and not flat:  # (the compile-time table compares tree layouts)
            compile_samples.setdefault(spec.name, []).append(compiled_s)
        rep = analyse(texts["optzoo"])
        orep = analyse(texts["optax"]) if "optax" in texts else {}
        runners = {k: runners[k] for k in ("optzoo", "optax") if k in runners}
        if run.have_step and (run.step_for is None or spec.name in run.step_for):
            runners["step"], step_exe, _ = jax_runner(spec.optzoo(), shapes, run.device,
                                                      via_train_step=True, flat=flat)
            srep = analyse(step_exe)
        else:
            srep = {}
        if run.undonated:
            runners["undonated"], _, _ = jax_runner(spec.optzoo(), shapes, run.device, donate=False,
                                                    flat=flat)
        if run.layout == "both":
            try:
                runners["flat"], _, _ = jax_runner(spec.optzoo(), shapes, run.device, flat=True)
            except TypeError:  # refuses a FlatParams: "—" in the flat columns
                pass
        if run.have_torch and spec.torch is not None:
            for flag in ("foreach", "fused"):
                try:
                    runners["torch " + flag] = torch_runner(spec.torch, shapes, {flag: True}, run.torch_device)
                except (RuntimeError, TypeError, ValueError):
                    pass
        if run.have_torch and spec.reference is not None:
            runners["reference"] = torch_runner(lambda ps, _flags: spec.reference(ps), shapes, {},
                                                run.torch_device)
        samples = time_interleaved(runners, run.repeats, run.sample_s, warmup=3)
        med = {k: statistics.median(v) for k, v in samples.items()}
        mb = min_traffic_bytes(spec.state_arrays) * n_params

        def ratio(a, b):
            return _fmt_ratio(med[a] / med[b] if a in med and b in med else None)

        row = [spec.name, f"{med['optzoo'] * 1e3:.3f}", ratio("optzoo", "optax")]
        if run.have_step:
            row.append(ratio("step", "optzoo"))
            if run.have_torch:
                row.append(ratio("step", "torch fused"))
        if run.undonated:
            row.append(ratio("undonated", "optzoo"))
        if run.layout == "both":
            row.append(ratio("flat", "optzoo"))
            if run.have_torch:
                row.append(ratio("flat", "torch fused"))
        if run.have_torch:
            row += [ratio("optzoo", "torch foreach"), ratio("optzoo", "torch fused"),
                    ratio("optzoo", "reference")]
        row += [_gbs(mb, med.get("optzoo")), _gbs(mb, med.get("optax"))]
        if run.have_torch:
            row.append(_gbs(mb, med.get("torch fused")))
        xla_bpp = rep.get("bytes_moved", 0) / n_params
        row += [str(min_traffic_bytes(spec.state_arrays)), f"{xla_bpp:.0f}",
                f"{100 * max(rel_spread(v) for v in samples.values()):.0f}"]
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
    if refused:
        table += [""] + refused
        _print([""] + refused)
    return table


def _takes_flat(spec: Spec, shapes, device) -> bool:
    """Whether optzoo's ``spec`` accepts a FlatParams (refusing ones raise at init)."""
    from optzoo.flat import flat_params
    import jax.numpy as jnp

    try:
        spec.optzoo().init(flat_params([jnp.zeros(s, jnp.float32, device=device) for s in shapes[:2]]))
    except TypeError:
        return False
    return True


def hlo_table(hlo_lines: list[str]) -> list[str]:
    return ["## Compiled programs (optzoo / optax)", "",
            "| size | optimizer | kernels | copies | XLA bytes moved per param | donated outputs "
            "aliased (optzoo) | temporaries MB (optzoo) | train step: kernels / copies / bytes per param |",
            "|---|---|---|---|---|---|---|---|"] + hlo_lines + [""]


def compile_times(specs: dict[str, Spec], repeats: int, device,
                  samples: dict[str, list[dict[str, float]]]) -> list[str]:
    """Trace + lower + compile time of the donated step at (c), optzoo vs optax:
    the compilations done for the timing runs at (c) (``samples``) plus ``repeats``
    more rounds, alternating which of the two compiles first."""
    import jax
    import jax.numpy as jnp

    shapes = SIZES["c"][1]
    params = [jnp.zeros(s, jnp.float32, device=device) for s in shapes]
    lines = ["## Compile time of the jitted step at (c), 400 leaves", "",
             "| optimizer | optzoo s | optzoo/optax | samples |", "|---|---|---|---|"]
    header = len(lines)
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
                state, update = tx.init(params), bare_update(tx)
                t0 = time.perf_counter()
                jax.jit(update, donate_argnums=(0, 1)).lower(params, state, params).compile()
                times[which].append(time.perf_counter() - t0)
        if not times["optzoo"]:
            continue
        a, b = statistics.median(times["optzoo"]), statistics.median(times["optax"])
        if len(lines) == header:
            _print(lines)
        line = f"| {spec.name} | {a:.2f} | {a / b:.2f} | {len(times['optzoo'])} |"
        lines.append(line)
        print(line, flush=True)
    # no samples (--layout flat times no tree-layout step at (c)): no table
    return lines + [""] if len(lines) > header else []


def legend(device: str) -> list[str]:
    lines = [
        "Columns: `optzoo ms` is the median time of optzoo's donated jitted update "
        "(the only absolute time; compare ratios, not times, across machines). "
        "`a/b` columns are ratios of medians measured in the same rounds (below 1: the "
        "first is faster). `train_step/...`: optzoo.train.make_train_step doing the "
        "same update (with a loss whose gradient is the batch; timed for --train-step "
        "optimizers only) over the bare update or torch's fused step. "
        "`optzoo/reference`: over the published torch implementation that a modern "
        "optimizer's parity is checked against (schedulefree, pytorch_optimizer, ...). "
        "`GB/s`: minimum traffic over median time. `min B/param`: bytes per parameter "
        "an update must read and write. `XLA B/param`: bytes the compiled program's "
        "kernels read and write, from its optimized HLO. `spread %`: the largest median "
        "absolute deviation of the samples, relative to their median.",
        "",
    ]
    if device == "cpu":
        lines.append("GPU: not measured in this run (run `optzoo bench --device gpu` on a CUDA machine).")
        lines.append("")
    return lines
