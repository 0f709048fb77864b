"""The flat parameter layout (:func:`optzoo.flat_params`) in ``optzoo bench --layout``.

Two tables beyond the update rows (whose flat columns come from :mod:`report`):

* whole training step: loss (``0.5 * sum of squares``, written on the pytree), gradient,
  update and apply, jitted with donation (:func:`optzoo.make_train_step`), tree layout
  against flat layout, and ``torch.optim``'s step with the same loss (``zero_grad``,
  ``backward``, ``step``; ``fused=True`` and ``foreach=True``), plus the seconds to lower
  and compile each JAX step;
* end to end: a residual MLP with layer norm (``--model-layers`` layers of width
  ``--model-widths``), its whole training step in both layouts and in torch, compile
  time included.

``benchmarks/flat_params.py`` (the threshold sweep, compile times in fresh processes)
builds on the same pieces: :func:`vector_leaves`, :func:`squares_loss`,
:func:`step_runner`.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from optzoo.cli.bench.timing import rel_spread, time_interleaved

LAYOUTS = ("tree", "flat", "both")


def _print(lines: list[str]) -> None:
    print("\n".join(lines), flush=True)


def _r(a: float | None, b: float | None) -> str:
    """``a / b`` to two decimals (two significant digits below 0.1); "—" when either is
    missing."""
    if not a or not b:
        return "—"
    return f"{a / b:.2f}" if a / b >= 0.1 else f"{a / b:.2g}"


def vector_leaves(shapes, device=None, seed: int = 0) -> list:
    """float32 parameters of the given shapes (a list: the bench's models)."""
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.key(seed), len(shapes))
    return [jax.device_put(jax.random.normal(k, s, jnp.float32), device)
            for k, s in zip(keys, shapes)]


def squares_loss(params, batch=None):
    """``0.5 * sum of squares`` over every leaf of the pytree (one reduction per leaf)."""
    import jax
    import jax.numpy as jnp

    del batch
    return 0.5 * sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(params))


def step_runner(tx, params, loss_fn=squares_loss, batch=None):
    """A callable doing one whole training step (blocking on the loss), and the seconds
    spent tracing, lowering and compiling it (``make_train_step``, donated)."""
    import jax

    from optzoo.train import _unalias, make_train_step

    params = jax.tree.map(lambda x: x.copy(), params)
    params, state = _unalias(params, tx.init(params))
    step = make_train_step(loss_fn, tx)
    t0 = time.perf_counter()
    compiled = step.lower(params, state, batch).compile()
    seconds = time.perf_counter() - t0
    box = [params, state]

    def run():
        box[0], box[1], loss = compiled(box[0], box[1], batch)
        jax.block_until_ready(loss)

    return run, seconds


def torch_step_runner(make, tensors, loss_fn, flags) -> Callable[[], None]:
    """One ``torch.optim`` training step on CPU: ``zero_grad``, ``loss_fn(tensors)``,
    ``backward``, ``step``. Raises when ``flags`` is not supported."""
    opt = make(tensors, flags)

    def run():
        opt.zero_grad()
        loss_fn(tensors).backward()
        opt.step()

    run()  # fails here when the flag is unsupported
    return run


def _torch_leaves(shapes, seed: int = 0) -> list:
    import torch

    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen).requires_grad_(True) for s in shapes]


def _torch_squares(tensors):
    # the same loss as squares_loss: one reduction per leaf, summed
    return 0.5 * sum((t * t).sum() for t in tensors)


def _torch_runners(spec, model: dict) -> dict[str, Callable[[], None]]:
    """torch's whole-step runners (fused, foreach) for ``model``: ``{"shapes": [...]}`` (the
    squares loss) or ``{"width", "layers", "batch"}`` (the MLP)."""
    import numpy as np
    import torch

    # XLA flushes denormals to zero on CPU; without the same setting torch's steps on the
    # MLP ran 100x slower (2.5 s instead of 20 ms: Adam's second moments go denormal)
    torch.set_flush_denormal(True)
    out = {}
    for flag in ("fused", "foreach"):
        if "shapes" in model:
            tensors, loss = _torch_leaves([tuple(s) for s in model["shapes"]]), _torch_squares
        else:
            host = mlp_params(model["width"], model["layers"])
            tensors, mlp = _torch_mlp(host)
            rng = np.random.default_rng(1)
            tb = tuple(torch.tensor(rng.normal(size=(model["batch"], model["width"]))
                                    .astype(np.float32)) for _ in range(2))
            loss = (lambda _t, mlp=mlp, tb=tb: mlp(tb))
        try:
            out["torch " + flag] = torch_step_runner(spec.torch, tensors, loss, {flag: True})
        except (RuntimeError, TypeError, ValueError):
            pass
    return out


#: time torch "alone" in a child process (False: in this process; for tests)
SEPARATE_PROCESS = True


def _torch_alone(spec, model: dict, run) -> dict[str, float]:
    """Medians of torch's whole steps timed in a child process that never starts XLA
    (keys ``"torch fused alone"``, ``"torch foreach alone"``): in this process XLA's
    worker threads slow torch's steps down by up to 100x on a small CPU."""
    import torch

    job = {"spec": spec.name, "model": model, "repeats": run.repeats, "sample_s": run.sample_s,
           "threads": torch.get_num_threads()}  # (the child inherits --threads' pinning)
    try:
        if SEPARATE_PROCESS:
            code = ("import sys; from optzoo.cli.bench.flat import _child; "
                    "print(_child(sys.argv[1]))")
            out = subprocess.run([sys.executable, "-c", code, json.dumps(job)], capture_output=True,
                                 text=True, check=True, timeout=3600).stdout
        else:
            out = _child(json.dumps(job))
        return {f"{k} alone": v for k, v in json.loads(out.splitlines()[-1]).items()}
    except (subprocess.SubprocessError, ValueError, IndexError) as e:
        print(f"optzoo bench: torch in its own process failed ({e})", file=sys.stderr)
        return {}


def _child(job: str) -> str:
    """Time torch's steps for ``job`` (JSON); the medians as JSON."""
    from optzoo.cli.bench.specs import specs

    job = json.loads(job)
    if job.get("threads"):
        import torch

        torch.set_num_threads(job["threads"])
    spec = next(s for s in specs() if s.name == job["spec"])
    samples = time_interleaved(_torch_runners(spec, job["model"]), job["repeats"],
                               job["sample_s"], warmup=3)
    return json.dumps({k: statistics.median(v) for k, v in samples.items()})


def _time_rows(runners: dict, run) -> dict[str, float]:
    samples = time_interleaved(runners, run.repeats, run.sample_s, warmup=3)
    med = {k: statistics.median(v) for k, v in samples.items()}
    med["spread"] = max(rel_spread(v) for v in samples.values())
    return med


def _medians(spec, model: dict, runners: dict, run) -> dict:
    """Median seconds of ``runners`` plus, where torch is timed, torch's steps in this
    process and alone in a child process."""
    with_torch = run.have_torch and spec.torch is not None
    if with_torch:
        runners.update(_torch_runners(spec, model))
    med = _time_rows(runners, run)
    if with_torch:
        med.update(_torch_alone(spec, model, run))
    return med


def _jax_pair(spec_tx: Callable[[], Any], params, loss_fn, batch, first_flat: bool):
    """Tree and flat step runners (compiled in alternating order) and their compile seconds;
    ``None`` for the flat ones when the optimizer refuses a FlatParams."""
    import optzoo

    runners, compiled = {}, {}
    for layout in (("flat", "tree") if first_flat else ("tree", "flat")):
        p = optzoo.flat_params(params) if layout == "flat" else params
        try:
            runners[layout], compiled[layout] = step_runner(spec_tx(), p, loss_fn, batch)
        except TypeError:  # refuses a FlatParams
            continue
    return runners, compiled


def step_table(sizes: list[str], specs: dict, run, step_for: set[str] | None) -> list[str]:
    """The whole training step, tree vs flat vs torch, for every optimizer of ``specs``
    that ``step_for`` names (None: all) at each of ``sizes``."""
    from optzoo.cli.bench.specs import ALL_SIZES

    cols = ["size", "optimizer", "tree ms", "flat ms", "flat/tree"]
    if run.have_torch:
        cols += ["flat/torch fused", "flat/torch foreach", "tree/torch fused",
                 "flat/torch fused alone", "flat/torch foreach alone", "tree/torch fused alone"]
    cols += ["compile tree s", "compile flat/tree", "spread %"]
    lines = ["## Whole training step: loss on the pytree, gradient, update, apply "
             "(tree vs flat layout)", "", "| " + " | ".join(cols) + " |",
             "|" + "|".join("---" for _ in cols) + "|"]
    _print(lines)
    chosen = [s for s in specs.values() if step_for is None or s.name in step_for]
    for i, size in enumerate(sizes):
        desc, shapes = ALL_SIZES[size]
        params = vector_leaves(shapes, run.device)
        for j, spec in enumerate(chosen):
            runners, compiled = _jax_pair(spec.optzoo, params, squares_loss, None,
                                          first_flat=bool((i + j) % 2))
            model = {"shapes": [list(x) for x in shapes]}
            med = _medians(spec, model, runners, run)
            g = med.get
            row = [desc, spec.name, f"{g('tree', 0) * 1e3:.3f}",
                   f"{g('flat', 0) * 1e3:.3f}" if "flat" in med else "refused",
                   _r(g("flat"), g("tree"))]
            if run.have_torch:
                row += [_r(g("flat"), g(f"torch {t}")) for t in ("fused", "foreach")]
                row.append(_r(g("tree"), g("torch fused")))
                row += [_r(g("flat"), g(f"torch {t} alone")) for t in ("fused", "foreach")]
                row.append(_r(g("tree"), g("torch fused alone")))
            row += [f"{compiled['tree']:.2f}", _r(compiled.get("flat"), compiled["tree"]),
                    f"{100 * med['spread']:.0f}"]
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
            del runners
    return lines + [""]


# --- end to end: a residual MLP with layer norm -------------------------------------------

def mlp_params(width: int, layers: int, seed: int = 0) -> dict:
    """Per layer: ``w`` (width x width), ``b``, and the layer norm's ``scale`` and
    ``bias`` (width each): ``4 * layers`` leaves."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return {f"layer{i:02d}": {
        "w": (rng.normal(size=(width, width)) / math.sqrt(width)).astype(np.float32),
        "b": np.zeros(width, np.float32), "scale": np.ones(width, np.float32),
        "bias": np.zeros(width, np.float32)} for i in range(layers)}


def mlp_loss(params, batch):
    """Mean squared error of ``h <- h + relu(layer_norm(h) @ w + b)`` over the layers."""
    import jax
    import jax.numpy as jnp

    x, y = batch
    h = x
    for layer in params.values():
        mu = jnp.mean(h, -1, keepdims=True)
        var = jnp.var(h, -1, keepdims=True)
        z = (h - mu) * jax.lax.rsqrt(var + 1e-5) * layer["scale"] + layer["bias"]
        h = h + jax.nn.relu(z @ layer["w"] + layer["b"])
    return jnp.mean(jnp.square(h - y))


def _torch_mlp(params: dict):
    import torch
    import torch.nn.functional as F

    tensors = {k: {n: torch.tensor(v).requires_grad_(True) for n, v in layer.items()}
               for k, layer in params.items()}
    flat_list = [t for layer in tensors.values() for t in layer.values()]

    def loss(batch):
        x, y = batch
        h = x
        for layer in tensors.values():
            z = F.layer_norm(h, h.shape[-1:], layer["scale"], layer["bias"], eps=1e-5)
            h = h + torch.relu(z @ layer["w"] + layer["b"])
        return (h - y).square().mean()

    return flat_list, loss


def model_table(widths: list[int], layers: int, batch: int, specs: dict, run,
                step_for: set[str] | None) -> list[str]:
    """The MLP's whole training step in both layouts and in torch, with compile times and
    the time of the first 1,000 steps including the compilation."""
    import jax.numpy as jnp
    import numpy as np

    import optzoo

    cols = ["model", "optimizer", "compile tree s", "compile flat s", "tree ms", "flat ms",
            "flat/tree"]
    if run.have_torch:
        cols += ["flat/torch fused", "flat/torch foreach", "flat/torch fused alone",
                 "flat/torch foreach alone"]
    cols += ["1,000 steps + compile, flat/tree", "spread %"]
    lines = [f"## End to end: residual MLP with layer norm, {layers} layers, batch {batch}",
             "", "| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    _print(lines)
    chosen = [s for s in specs.values() if step_for is None or s.name in step_for]
    for i, width in enumerate(widths):
        host = mlp_params(width, layers)
        params = {k: {n: jnp.asarray(v) for n, v in layer.items()} for k, layer in host.items()}
        rng = np.random.default_rng(1)
        xb = rng.normal(size=(batch, width)).astype(np.float32)
        yb = rng.normal(size=(batch, width)).astype(np.float32)
        n = sum(v.size for layer in host.values() for v in layer.values())
        fp = optzoo.flat_params(params)
        kept = len(fp.children) - fp.layout.n_buffers
        desc = f"width {width}: {n / 1e6:.2f}M params, {4 * layers} leaves ({kept} kept)"
        for j, spec in enumerate(chosen):
            runners, compiled = _jax_pair(spec.optzoo, params, mlp_loss,
                                          (jnp.asarray(xb), jnp.asarray(yb)),
                                          first_flat=bool((i + j) % 2))
            model = {"width": width, "layers": layers, "batch": batch}
            med = _medians(spec, model, runners, run)
            g = med.get
            ct, cf = compiled["tree"], compiled.get("flat")
            row = [desc, spec.name, f"{ct:.2f}", f"{cf:.2f}" if cf else "refused",
                   f"{g('tree', 0) * 1e3:.3f}",
                   f"{g('flat', 0) * 1e3:.3f}" if "flat" in med else "refused",
                   _r(g("flat"), g("tree"))]
            if run.have_torch:
                row += [_r(g("flat"), g(f"torch {t}{a}")) for a in ("", " alone")
                        for t in ("fused", "foreach")]
            total = (lambda c, s: c + 1000 * s if c and s else None)
            row += [_r(total(cf, g("flat")), total(ct, g("tree"))), f"{100 * med['spread']:.0f}"]
            lines.append("| " + " | ".join(row) + " |")
            print(lines[-1], flush=True)
            del runners
    return lines + [""]


def legend() -> str:
    """What the flat layout's columns mean (printed under the tables)."""
    from optzoo.flat import DEFAULT_MAX_LEAVES, DEFAULT_THRESHOLD

    return (
        "Flat layout (`--layout`): `flat` is the same optimizer on `optzoo.flat_params(params)` "
        f"(leaves of at most {DEFAULT_THRESHOLD:,} elements in buffers of at most "
        f"{DEFAULT_MAX_LEAVES} leaves, bigger ones kept as they are). Whole "
        "training step: `optzoo.make_train_step` (loss written on the pytree, gradient, update, "
        "apply; donated) against torch's `zero_grad`, loss, `backward`, `step` on the same leaves "
        "(the same loss: one reduction per leaf, summed), timed in the same rounds. `compile` "
        "columns: seconds to lower and compile the jitted step in this process (tree and flat "
        "alternate which compiles first). `1,000 steps + compile`: compile seconds plus 1,000 "
        "median steps, flat over tree. torch runs with `torch.set_flush_denormal(True)`, as XLA "
        "flushes denormals on CPU. `torch ... alone`: torch's step timed in a child process "
        "that never starts XLA (interleaved fused/foreach rounds, the same settings), since XLA's "
        "worker threads in the same process slow torch's steps down on a small CPU; those ratios "
        "compare medians from two processes.")

