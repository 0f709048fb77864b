"""Per-step time and memory of the second-order optimizers, as ratios against adam.

Problem: softmax regression (weights ``(d, 10)`` and bias ``(10,)``, n = 10 d + 10
parameters) on 256 random examples, float32, one jitted step = loss/gradient +
update + apply. Memory is XLA's own account of the compiled step (arguments +
outputs + temporaries, from ``compiled.memory_analysis()``), i.e. the step's peak
working set, state included. Time is the median of repeated calls after warm-up.

    python benchmarks/second_order.py [--sizes 10,100,1000] [--repeats 20]

One run (idle 2-core CPU, 2026-12-02; ``--sizes 10,100,1000,10000``; memory is exact)::

          n method                 time x adam   memory x adam
        110 lbfgs (zoom, m=10)         2.5           1.8
        110 newton_cg (10 CG)          1.5           1.4
        110 angd (default: full)       0.7           3.6
        110 newton (explicit H)        9.3          86.9
       1010 lbfgs                      3.9           5.0
       1010 newton_cg                  3.5           1.1
       1010 angd (w: 1000 <= 1024, full) 8.4       178.8
       1010 newton                   282           462.5     (34 ms/step)
      10010 lbfgs                      2.4           8.3
      10010 newton_cg                  6.4           1.2
      10010 angd (default: diagonal)   0.8           0.7
      10010 angd (forced full)       207          3287       (763 MB, 107 ms/step)
     100010 lbfgs                      3.6           8.3
     100010 newton_cg                  9.7           1.2
     100010 angd (diagonal)            0.9           0.7

Size limits: newton holds the n x n Hessian plus jax.hessian's n-tangent
intermediates and an O(n^3) solve (34 ms per step at n = 1010 on this
CPU; n = 10^4 would need 400 MB for H alone); angd's full matrix costs n^2 per
leaf (4 MB at the default max_full_size = 1024, 400 MB at 10^4), above which the
diagonal is cheaper than adam; lbfgs costs (2 m + 2) param copies (8x adam's
working set at m = 10) and newton_cg about 1.2x adam's memory but ~2 gradient
costs per CG iteration (10x adam's time at 10 CG iterations).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import optzoo

K, BATCH = 10, 256


def problem(d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.normal(size=(BATCH, d)), jnp.float32)
    y = jax.nn.one_hot(rng.integers(0, K, BATCH), K)
    params = {"w": jnp.asarray(0.01 * rng.normal(size=(d, K)), jnp.float32), "b": jnp.zeros(K)}

    def loss(p):
        logits = x @ p["w"] + p["b"]
        nll = -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=1))
        return nll + 1e-3 * jnp.sum(p["w"] ** 2)

    return params, loss


def make_step(tx, loss, extra: bool):
    def step(p, s):
        val, g = jax.value_and_grad(loss)(p)
        if extra:
            u, s = tx.update(g, s, p, value=val, grad=g, value_fn=loss)
        else:
            u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, val

    return jax.jit(step)


def measure(name, tx, d, repeats, extra=True):
    params, loss = problem(d)
    state = tx.init(params)
    step = make_step(tx, loss, extra)
    compiled = step.lower(params, state).compile()
    mem = compiled.memory_analysis()
    nbytes = None
    if mem is not None:
        nbytes = (mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
                  - getattr(mem, "alias_size_in_bytes", 0))
    p, s = params, state
    for _ in range(3):
        p, s, v = step(p, s)
    jax.block_until_ready(v)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        p, s, v = step(p, s)
        jax.block_until_ready((p, v))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), nbytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--newton-max", type=int, default=1100, help="largest n for explicit Newton")
    args = ap.parse_args()
    print(f"device: {jax.devices()[0].device_kind}; float32; ratios are against adam at the same n")
    print(f"{'n':>7} {'method':<22} {'time/step':>11} {'x adam':>8} {'memory':>11} {'x adam':>8}")
    for d in [int(s) for s in args.sizes.split(",")]:
        n = d * K + K
        methods = [
            ("adam", optzoo.adam(1e-3), False),
            ("lbfgs (zoom, m=10)", optzoo.lbfgs(), True),
            ("newton_cg (10 CG)", optzoo.newton_cg(max_cg_iters=10), True),
            ("angd (default)", optzoo.angd(1e-2), False),
            ("angd (all full)", optzoo.angd(1e-2, max_full_size=10**9), False),
            ("newton (explicit H)", optzoo.newton(damping=1e-3), True),
        ]
        base_t = base_m = None
        for name, tx, extra in methods:
            if name.startswith("newton (") and n > args.newton_max:
                print(f"{n:>7} {name:<22} {'skipped: n^2 Hessian, n^3 solve':>40}")
                continue
            if name == "angd (all full)" and n > 20_000:
                continue
            t, m = measure(name, tx, d, args.repeats, extra)
            if name == "adam":
                base_t, base_m = t, m
            mr = f"{m / base_m:8.1f}" if (m and base_m) else "       ?"
            ms = f"{m / 2**20:9.2f}MB" if m else "        ?"
            print(f"{n:>7} {name:<22} {t * 1e3:9.3f}ms {t / base_t:8.1f} {ms} {mr}", flush=True)


if __name__ == "__main__":
    main()
