"""optzoo.kron against ``kron_torch.Kron`` (kron-torch 0.3.3), step by step.

Both sides train the same small model (a matrix, a vector, a wide matrix, a
three-dimensional tensor and a scalar) from the same start in float64 for at least
100 steps, and every parameter is compared after every step. The reference's
random numbers are replaced by optzoo's: before each step the probes and the
rebalancing draw that :func:`optzoo.kron_draws` returns for that step are queued,
``torch.randn_like`` (the probes) hands them out in the order the reference asks
for them, and the optimizer's ``rng.random()`` (the rebalancing draw) returns the
uniform number. The preconditioner's update counter is compared after every step
too, so both sides update the preconditioner on the same steps.

Evaluation of the reference: ``torch.compile`` is switched off (its functions run
eagerly, with the same operations), and ``_solve_triangular_right``, which casts
to float32 for ``torch.linalg.solve_triangular``, runs in float64 (optzoo solves
in the factors' dtype). The reference raises on a scalar param at its first
preconditioner update (it permutes a 0-d tensor); its scalar is held as a
``(1,)`` tensor, which is how optzoo preconditions a scalar.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
import torch._dynamo
from kron_torch import kron as kt

import optzoo
from tests.helpers import x64
from tests.parity.harness import TOL, config_label, fast_jit, torch_float64  # noqa: F401

pytestmark = pytest.mark.usefixtures("torch_float64")

STEPS = 120
NAMES = ("a", "b", "c", "e", "s", "w")  # jax.tree.leaves order of the params dict


def _problem():
    rng = np.random.default_rng(7)
    data = {"x": rng.normal(size=(16, 4)), "y": rng.normal(size=(16, 24)),
            "t": rng.normal(size=(2, 3, 4)), "k": rng.uniform(0.5, 2.0, size=(2, 3, 4))}
    params = {"a": rng.normal(size=(4, 5)) * 0.5,
              "b": rng.normal(size=(5,)) * 0.1,
              "c": rng.normal(size=(2, 3, 4)),
              "e": rng.normal(size=(3, 3)) * 0.5,
              "s": np.asarray(0.8),
              "w": rng.normal(size=(5, 24)) * 0.3}
    return data, params


def _loss(p, d, tanh, mean, s):
    h = tanh(d["x"] @ p["a"] + p["b"])
    fit = mean((s(p["s"]) * (h @ p["w"]) - d["y"]) ** 2)
    quad = mean(d["k"] * (p["c"] - d["t"]) ** 2 + 0.1 * tanh(p["c"]) * p["c"] ** 3)
    square = mean((tanh(d["x"][:, :3] @ p["e"]) - d["y"][:, :3]) ** 2)
    return fit + quad + square


def _run(record_parity, ref_kw: dict, ours_kw: dict, seed: int, min_balances: int = 0,
         min_skips: int = 0, label: str | None = None, float32: bool = False) -> float:
    """Train both sides for STEPS steps; return (and record) the worst relative error
    of the params and the factors. ``float32``: both sides in float32 with the
    reference as shipped (its solves in float32 too), not recorded, held to 1e-5."""
    data, init = _problem()
    tdt, jdt = (torch.float32, jnp.float32) if float32 else (torch.float64, jnp.float64)
    tdata = {k: torch.tensor(v, dtype=tdt) for k, v in data.items()}
    tp = {k: torch.tensor(np.reshape(v, (1,)) if k == "s" else v, dtype=tdt,
                          requires_grad=True)
          for k, v in init.items()}
    ref = kt.Kron([tp[k] for k in NAMES], **ref_kw)
    ref._update_counter = torch.tensor(0, dtype=torch.int32)
    queue: list = []
    uniform = [0.0]

    class _Rng:
        def random(self):
            return uniform[0]

    ref.rng = _Rng()

    def randn_like(g, *args, **kwargs):
        z = queue.pop(0)
        assert tuple(z.shape) == tuple(g.shape), (z.shape, g.shape)
        return torch.tensor(np.asarray(z, np.float64), dtype=g.dtype)

    def solve_right_float64(x, a):
        return torch.linalg.solve_triangular(
            a, x.reshape(-1, x.size(-1)), upper=True, left=False).reshape_as(x)

    mp = pytest.MonkeyPatch()
    mp.setattr(torch, "randn_like", randn_like)
    if not float32:
        mp.setattr(kt, "_solve_triangular_right", solve_right_float64)
    balances = skips = 0
    out_of_step = []  # steps where the two sides' counters or draws disagree
    try:
        with torch._dynamo.config.patch(disable=True), x64():
            tx = optzoo.kron(**ours_kw, seed=seed)
            params = {k: jnp.asarray(v, jdt) for k, v in init.items()}
            state = tx.init(params)
            jd = {k: jnp.asarray(v, jdt) for k, v in data.items()}

            @fast_jit
            def step(params, state):
                grads = jax.grad(_loss)(params, jd, jnp.tanh, jnp.mean, lambda v: v)
                updates, state = tx.update(grads, state, params)
                return optax.apply_updates(params, updates), state

            worst = 0.0
            for t in range(STEPS):
                u, probes = optzoo.kron_draws(
                    params, t, seed, merge_dims=ours_kw.get("merge_dims", True),
                    precond_dtype=ours_kw.get("precond_dtype"))
                queue[:] = list(probes)
                uniform[0] = float(u)
                for v in tp.values():
                    v.grad = None
                _loss(tp, tdata, torch.tanh, torch.mean, lambda v: v[0]).backward()
                ref.step()
                params, state = step(params, state)
                kron_state = state[0]
                updated = int(kron_state.update_counter) == 0
                if (int(ref._update_counter) != int(kron_state.update_counter)
                        or (queue if updated else len(queue) != len(NAMES))):
                    out_of_step.append(t)
                balances += int(updated and float(u) < 0.01)
                skips += int(not updated)
                for k in NAMES:
                    e = tp[k].detach().numpy().reshape(np.shape(init[k]))
                    a = np.asarray(params[k])
                    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(e))):
                        worst = np.inf
                    worst = max(worst, float(np.max(np.abs(a - e)) / np.max(np.abs(e))))
                    # the factors themselves (a rebalance moves them, not their product)
                    for qa, qe in zip(kron_state.Q[k], ref.state[tp[k]]["Q"]):
                        qe = qe.numpy()
                        worst = max(worst, float(np.max(np.abs(np.asarray(qa) - qe))
                                                 / np.max(np.abs(qe))))
    finally:
        mp.undo()
    label = label or config_label({**ref_kw, "seed": seed})
    if not float32:
        record_parity("reference", "kron_torch.Kron", label, worst, STEPS)
    assert not out_of_step, (label, "counters or probe draws out of step at", out_of_step)
    assert balances >= min_balances, (label, balances)
    assert skips >= min_skips, (label, skips)
    assert worst <= (1e-5 if float32 else TOL), (label, worst)
    return worst


def _ours(kw: dict) -> dict:
    out = dict(kw)
    out["learning_rate"] = out.pop("lr")
    for name in ("mu_dtype", "precond_dtype"):
        if name in out:
            out[name] = {torch.float64: jnp.float64, torch.float32: jnp.float32}[out[name]]
    return out


# Every keyword of the reference's constructor is set away from its default by some
# configuration; seed 6's rebalancing draws fall at steps 12, 24, 36 and 93.
CONFIGS = [
    (dict(lr=0.01, precond_dtype=torch.float64), 6, 3, 0),
    (dict(lr=0.02, b1=0.8, weight_decay=0.05, preconditioner_update_probability=0.4,
          momentum_into_precond_update=False, precond_dtype=torch.float64), 86, 1, 60),
    *(pytest.param(*config, marks=pytest.mark.slow) for config in [  # 15-30 s each
        (dict(lr=0.01, preconditioner_update_probability=0.7, precond_lr=0.3,
              precond_init_scale=2.0, precond_dtype=torch.float64), 6, 0, 30),
        (dict(lr=0.01, memory_save_mode="one_diag", max_size_triangular=16,
              precond_dtype=torch.float64), 6, 3, 0),
        (dict(lr=0.01, memory_save_mode="smart_one_diag", weight_decay=0.01,
              precond_dtype=torch.float64), 6, 3, 0),
        (dict(lr=0.01, memory_save_mode="all_diag", momentum_into_precond_update=False,
              precond_dtype=torch.float64), 6, 3, 0),
        (dict(lr=0.01, merge_dims=False, min_ndim_triangular=3, max_size_triangular=4,
              precond_dtype=torch.float64), 6, 3, 0),
        (dict(lr=0.005, b1=0.95, min_ndim_triangular=1, mu_dtype=torch.float64,
              precond_dtype=torch.float64), 6, 3, 0),
    ]),
]


def _config(case):
    return case.values[0] if hasattr(case, "values") else case[0]


@pytest.mark.parametrize("ref_kw,seed,balances,skips", CONFIGS,
                         ids=[config_label(_config(c)) for c in CONFIGS])
def test_kron_matches_reference(record_parity, ref_kw, seed, balances, skips):
    _run(record_parity, ref_kw, _ours(ref_kw), seed, balances, skips)


def test_kron_probability_schedule_matches_reference(record_parity):
    """A schedule of the update probability (the reference's own, with a short flat
    start): updates on every step for 30 steps, then ever more rarely."""
    kw = dict(max_prob=1.0, min_prob=0.2, decay=0.05, flat_start=30)
    ref_kw = dict(lr=0.01, preconditioner_update_probability=kt.precond_update_prob_schedule(
        **kw), precond_dtype=torch.float64)
    ours_kw = dict(learning_rate=0.01, precond_dtype=jnp.float64,
                   preconditioner_update_probability=optzoo.precond_update_prob_schedule(**kw))
    label = config_label({"lr": 0.01, "preconditioner_update_probability":
                          f"precond_update_prob_schedule({config_label(kw)})",
                          "precond_dtype": torch.float64, "seed": 6})
    _run(record_parity, ref_kw, ours_kw, 6, 1, 50, label)


def test_probability_schedule_equals_reference_schedule():
    """optzoo's schedule gives the reference's float32 probabilities (within one
    float32 rounding of exp) and the same update thresholds ``1 / p``."""
    for kw in (dict(), dict(max_prob=0.9, min_prob=0.1, decay=0.01, flat_start=50)):
        ref = kt.precond_update_prob_schedule(**kw)
        ours = jax.jit(optzoo.precond_update_prob_schedule(**kw))
        with torch._dynamo.config.patch(disable=True):
            for n in range(0, 6000, 7):
                e = ref(torch.tensor(n, dtype=torch.float32))
                a = ours(n)
                assert a.dtype == jnp.float32
                np.testing.assert_allclose(float(a), float(e), rtol=2e-7)
                assert np.floor(1 / np.float32(a)) == np.floor(float(1 / e)), n


@pytest.mark.slow  # about 40 s
def test_kron_float32_as_shipped():
    """Both sides in float32 with the reference's defaults (momentum and factors in
    float32, its solves in float32 unpatched): they agree to float32 level."""
    kw = dict(lr=0.01, preconditioner_update_probability=0.5, weight_decay=0.01)
    _run(None, kw, _ours(kw), 6, 0, 50, float32=True)
