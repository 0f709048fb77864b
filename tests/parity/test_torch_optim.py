"""optzoo.pytorch optimizers against real torch.optim, side by side.

Both sides train the same small MLP (two matrices, two vectors) from the same
start on the same data, float64, each computing its own gradients (torch
autograd on the torch side, ``jax.grad`` on the optzoo side). Every step the
parameters are compared: the error of a leaf is ``max|p_optzoo - p_torch| /
max|p_torch|`` and the largest over leaves and steps must stay below 1e-10.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optzoo.pytorch as ozt
from tests.helpers import x64
from tests.parity.harness import (  # noqa: F401 (torch_float64: a fixture)
    NAMES,
    STEPS,
    TOL,
    leaf_rel_err,
    loss_jax,
    loss_torch,
    problem,
    run_against,
    torch_float64,
)

pytestmark = pytest.mark.usefixtures("torch_float64")


def run_side_by_side(name: str, kwargs: dict, steps: int = STEPS, torch_kwargs=None,
                     names=NAMES, torch_cls=None, after=None):
    """``torch.optim.<name>`` against ``optzoo.pytorch.<name>`` at the same keyword
    arguments; return the largest per-step relative error. With ``maximize`` both
    sides maximize the negated loss, so training stays stable."""
    cls = torch_cls or getattr(torch.optim, name)
    return run_against(
        lambda tensors: cls(tensors, **(torch_kwargs if torch_kwargs is not None else kwargs)),
        lambda: getattr(ozt, name)(**kwargs),
        steps=steps, names=names, sign=-1.0 if kwargs.get("maximize") else 1.0,
        after=None if after is None else (lambda ref, tp, state, params: after(ref, tp, state)),
    )


CONFIGS = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.02, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, foreach=False, capturable=False,
                  differentiable=False)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, betas=(0.85, 0.95), eps=1e-7, weight_decay=0.2, amsgrad=True,
                   maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-5, weight_decay=0.05, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, momentum_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.05)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.001, alpha=0.9, eps=1e-6, weight_decay=0.05, momentum=0.8)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, maximize=True)),
    ("Adagrad", dict(lr=0.05)),
    ("Adagrad", dict(lr=0.05, lr_decay=0.01, weight_decay=0.05, initial_accumulator_value=0.1,
                     eps=1e-6)),
    ("Adagrad", dict(lr=0.05, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.05, maximize=True)),
    ("Rprop", dict()),
    ("Rprop", dict(lr=0.02, etas=(0.3, 1.5), step_sizes=(1e-4, 0.05), maximize=True,
                   foreach=False)),
    ("Adafactor", dict()),
    # lr=0.01: at lr=0.05 this trajectory is ill-conditioned (torch against itself from a
    # start moved by one ulp differs by 7e-11 after 30 steps), so the comparison would
    # measure the problem's rounding amplification, not the implementation.
    ("Adafactor", dict(lr=0.01, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=1.5, weight_decay=0.1,
                       maximize=True)),
    ("Adafactor", dict(lr=0.02, eps=(0.1, 1e-2))),  # the eps1 clamps bind
]


def _cfg(kwargs: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in kwargs.items()) or "defaults"


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{_cfg(k)}" for n, k in CONFIGS])
def test_matches_torch(name, kwargs, record_parity):
    err = run_side_by_side(name, kwargs)
    record_parity("torch", name, _cfg(kwargs), err, STEPS)
    assert err <= TOL, f"{name}({_cfg(kwargs)}): max relative error {err:.3e}"


def _asgd_average(topt, tp, state):
    """Also compare the averaged parameters (torch's ``state["ax"]``)."""
    from optzoo.transforms.averaging import asgd_averaged_params

    ax = asgd_averaged_params(state)
    expected = {k: topt.state[t]["ax"].numpy() for k, t in tp.items()}
    return leaf_rel_err(ax, expected)


ASGD_CONFIGS = [
    dict(),
    dict(lr=0.05, lambd=1e-3, alpha=0.6, t0=30, weight_decay=0.02),
    dict(lr=0.05, t0=10, maximize=True),
]


@pytest.mark.parametrize("kwargs", ASGD_CONFIGS, ids=[_cfg(k) for k in ASGD_CONFIGS])
def test_asgd_matches_torch(kwargs, record_parity):
    err = run_side_by_side("ASGD", kwargs, after=_asgd_average)
    record_parity("torch", "ASGD", _cfg(kwargs) + " (params and averaged params)", err, STEPS)
    assert err <= TOL, f"ASGD({_cfg(kwargs)}): {err:.3e}"


def _newton_schulz_float64(grad, ns_coefficients, ns_steps, eps):
    """torch's Muon iteration without its cast to bfloat16 (Jordan et al., 2024):
    normalise by the Frobenius norm, then ``X <- a X + (b A + c A^2) X`` with
    ``A = X X^T``, on the wide orientation."""
    a, b, c = ns_coefficients
    x = grad.clone()
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


MUON_CONFIGS = [
    dict(lr=0.02),
    dict(lr=0.02, weight_decay=0.05, momentum=0.9, nesterov=False, ns_steps=3,
         ns_coefficients=(2.0, -1.5, 0.5), eps=1e-5, adjust_lr_fn="match_rms_adamw"),
    dict(lr=0.02, weight_decay=0.0, adjust_lr_fn="original"),
]


@pytest.mark.parametrize("kwargs", MUON_CONFIGS, ids=[_cfg(k) for k in MUON_CONFIGS])
def test_muon_matches_torch(kwargs, record_parity, monkeypatch):
    """float64 on both sides: torch's Newton-Schulz cast to bfloat16 is taken out
    (``ns_dtype=None`` here), all else is torch's code."""
    import torch.optim._muon as tmuon

    monkeypatch.setattr(tmuon, "_zeropower_via_newtonschulz", _newton_schulz_float64)
    err = run_side_by_side(
        "Muon", dict(kwargs, ns_dtype=None), torch_kwargs=kwargs, names=("w1", "w2"),
        torch_cls=torch.optim.Muon,
    )
    record_parity("torch", "Muon", _cfg(kwargs) + " (float64 Newton-Schulz)", err, STEPS)
    assert err <= TOL, f"Muon({_cfg(kwargs)}): {err:.3e}"


def test_muon_bfloat16_default_tracks_torch():
    """With torch's own bfloat16 iteration and optzoo's default ``ns_dtype``, both
    sides round the same float64 products to bfloat16 at the same points: over 50
    steps they agree to float64 rounding (6e-16 measured). A Newton-Schulz run in
    another precision on one side (``ns_dtype=None``: 4e-3 after 5 steps, 3e-2
    after 50) is far outside this bound."""
    err = run_side_by_side("Muon", dict(lr=0.02), steps=50, names=("w1", "w2"))
    assert err <= 1e-12, f"Muon(lr=0.02) with bfloat16 Newton-Schulz: {err:.3e}"


def test_muon_rejects_non_matrices():
    tx = ozt.Muon()
    match = r"Muon: every parameter must be a matrix, got shape \(3,\)"
    with pytest.raises(ValueError, match=match):
        tx.init({"w": jnp.ones((3, 2)), "b": jnp.ones(3)})


SPARSE_CONFIGS = [
    dict(lr=0.01),
    dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, maximize=True),
]


@pytest.mark.parametrize("kwargs", SPARSE_CONFIGS, ids=[_cfg(k) for k in SPARSE_CONFIGS])
def test_sparse_adam_matches_torch(kwargs, record_parity):
    """Two embedding tables; each step looks up a few rows, so torch gets sparse
    gradients and optzoo dense ones that are zero on the other rows."""
    rng = np.random.default_rng(5)
    e1, e2 = rng.normal(size=(12, 3)), rng.normal(size=(9, 3))
    batches = [(rng.integers(0, 12, size=4), rng.integers(0, 9, size=4), rng.normal(size=4))
               for _ in range(STEPS)]
    sign = -1.0 if kwargs.get("maximize") else 1.0
    t1 = torch.tensor(e1, requires_grad=True)
    t2 = torch.tensor(e2, requires_grad=True)
    topt = torch.optim.SparseAdam([t1, t2], **kwargs)

    def loss_j(p, i, j, y):
        return sign * jnp.sum((jnp.sum(p["e1"][i] * p["e2"][j], axis=1) - y) ** 2)

    with x64():
        tx = ozt.SparseAdam(**kwargs)
        params = {"e1": jnp.asarray(e1), "e2": jnp.asarray(e2)}
        state = tx.init(params)

        @jax.jit
        def step(params, state, i, j, y):
            grads = jax.grad(loss_j)(params, i, j, y)
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        worst = 0.0
        for i, j, y in batches:
            topt.zero_grad()
            ti, tj = torch.tensor(i), torch.tensor(j)
            a = torch.nn.functional.embedding(ti, t1, sparse=True)
            b = torch.nn.functional.embedding(tj, t2, sparse=True)
            (sign * torch.sum((torch.sum(a * b, dim=1) - torch.tensor(y)) ** 2)).backward()
            topt.step()
            params, state = step(params, state, i, j, y)
            worst = max(worst, leaf_rel_err(
                params, {"e1": t1.detach().numpy(), "e2": t2.detach().numpy()}))
    record_parity("torch", "SparseAdam", _cfg(kwargs) + " (embedding lookups)", worst, STEPS)
    assert worst <= TOL, f"SparseAdam({_cfg(kwargs)}): {worst:.3e}"


def test_lr_schedule_matches_torch_scheduler(record_parity):
    """``lr`` as a schedule equals torch stepping a scheduler once per optimizer step."""
    from optzoo.pytorch import lr_scheduler as ozs

    x, y, init = problem(1)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}
    topt = torch.optim.Adam([tp[k] for k in NAMES], lr=0.02)
    sched = torch.optim.lr_scheduler.StepLR(topt, step_size=7, gamma=0.7)
    with x64():
        tx = ozt.Adam(lr=ozs.StepLR(0.02, step_size=7, gamma=0.7))
        params = {k: jnp.asarray(v) for k, v in init.items()}
        state = tx.init(params)
        step = jax.jit(lambda p, s: _apply(tx, p, s, jnp.asarray(x), jnp.asarray(y)))
        worst = 0.0
        for _ in range(STEPS):
            topt.zero_grad()
            loss_torch(tp, torch.tensor(x), torch.tensor(y)).backward()
            topt.step()
            sched.step()
            params, state = step(params, state)
            worst = max(worst, leaf_rel_err(params, {k: t.detach().numpy() for k, t in tp.items()}))
    record_parity("torch", "Adam", "lr=StepLR(0.02, step_size=7, gamma=0.7)", worst, STEPS)
    assert worst <= TOL


def _apply(tx, params, state, x, y):
    grads = jax.grad(loss_jax)(params, x, y)
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state


def test_kernel_options_are_accepted_and_ignored():
    a = ozt.SGD(0.1, momentum=0.9, foreach=True, differentiable=True, fused=False)
    b = ozt.SGD(0.1, momentum=0.9)
    with x64():
        p = {"w": jnp.ones(3)}
        g = {"w": jnp.arange(3.0)}
        ua, _ = a.update(g, a.init(p), p)
        ub, _ = b.update(g, b.init(p), p)
        np.testing.assert_array_equal(ua["w"], ub["w"])


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: ozt.Adam(betas=(1.2, 0.999)), r"Adam: betas\[0\] must be in \[0, 1\), got 1.2"),
        (lambda: ozt.SGD(lr=-1.0), r"SGD: lr must be in \[0, inf\)"),
        (lambda: ozt.SGD(0.1, nesterov=True), r"SGD: nesterov=True requires momentum > 0"),
        (lambda: ozt.Adagrad(lr_decay=-1.0), r"Adagrad: lr_decay must be in"),
        (lambda: ozt.AdamW(weight_decay=-0.1), r"AdamW: weight_decay must be in"),
        (lambda: ozt.RMSprop(alpha=1.5), r"RMSprop: alpha must be in"),
    ],
)
def test_invalid_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_signatures_match_torch():
    """Names, kinds, order and defaults of every argument equal torch's (``params``
    dropped); the extensions are Muon's keyword-only ``ns_dtype`` and, last in every
    signature, the keyword-only ``groups`` (torch's param groups)."""
    import inspect

    for name in ozt.optim.__all__:
        sig = inspect.signature(getattr(ozt, name)).parameters
        assert list(sig)[-1] == "groups" and sig["groups"].kind == inspect.Parameter.KEYWORD_ONLY
        ours = [(n, p.kind, p.default) for n, p in sig.items()
                if (name, n) != ("Muon", "ns_dtype") and n != "groups"]
        theirs = [(n, p.kind, p.default)
                  for n, p in inspect.signature(getattr(torch.optim, name).__init__)
                  .parameters.items() if n not in ("self", "params")]
        assert ours == theirs, name


# ------------------------------------------------------------------ the parity record
# (for every file of tests/parity)

PARITY_DIR = Path(__file__).resolve().parent


def _asserts_before_recording(fn: ast.FunctionDef) -> list[int]:
    """Lines of the ``assert`` statements and ``assert_*`` / ``pytest.raises`` calls of a
    test that come before its first ``record_parity(...)`` call; ``[]`` when it passes
    ``record_parity`` on to a helper."""
    records = [n.lineno for n in ast.walk(fn) if isinstance(n, ast.Call)
               and isinstance(n.func, ast.Name) and n.func.id == "record_parity"]
    if not records:
        return []

    def checks(n):
        if isinstance(n, ast.Assert):
            return True
        f = getattr(n, "func", None) if isinstance(n, ast.Call) else None
        name = getattr(f, "attr", getattr(f, "id", ""))
        return name.startswith("assert_") or name == "raises"

    def own_nodes(node):  # not those of functions defined inside (run when called)
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                      ast.ClassDef)):
                yield child
                yield from own_nodes(child)

    return sorted(n.lineno for n in own_nodes(fn) if checks(n) and n.lineno < min(records))


def test_parity_results_are_recorded_before_they_are_asserted():
    """A configuration that fails must still have its row in the record (with the
    error that failed it), not vanish from the report. Checked in every test and
    helper that takes ``record_parity``."""
    late = []
    for path in sorted(PARITY_DIR.glob("test_*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if (isinstance(fn, ast.FunctionDef)
                    and "record_parity" in [a.arg for a in fn.args.args]):
                lines = _asserts_before_recording(fn)
                if lines:
                    late.append(f"{path.name}::{fn.name} asserts on lines {lines}")
    assert not late, late


def test_every_parity_test_has_a_row_in_the_record(request):
    """Every collected test of tests/parity that records a result has at least one row
    in ``optzoo/parity.json``; regenerate it with ``python -m tests.parity.report``."""
    import optzoo

    rows = json.loads((Path(optzoo.__file__).parent / "parity.json").read_text())["records"]
    recorded = {r.get("test") for r in rows}
    tests = [item.nodeid for item in request.session.items
             if "record_parity" in getattr(item, "fixturenames", ())]
    assert not tests or recorded != {None}, (
        "optzoo/parity.json names no tests (written before its rows did): regenerate it "
        "with python -m tests.parity.report")
    missing = [t for t in tests if t not in recorded]
    assert not missing, (f"{len(missing)} of {len(tests)} parity tests have no row in "
                         f"optzoo/parity.json (python -m tests.parity.report): {missing}")


def test_report_is_written_only_after_a_passing_run(tmp_path, monkeypatch, capsys):
    from tests.parity import report

    rows = [{"framework": "torch", "name": "Adam", "config": "lr=0.01", "max_rel_err": 3e-14,
             "steps": 100, "test": "tests/parity/test_torch_optim.py::test_matches_torch[x]"}]

    def suite(code, records):
        def run(path):
            if records:
                Path(path).write_text(json.dumps(records))
            return code
        return run

    (tmp_path / "docs").mkdir()
    (tmp_path / "optzoo").mkdir()
    monkeypatch.setattr(report, "ROOT", tmp_path)
    for code, records in ((1, rows), (0, [])):
        monkeypatch.setattr(report, "run_suite", suite(code, records))
        assert report.main() == (code or 1)
        assert "left as they were" in capsys.readouterr().err
        assert not list((tmp_path / "docs").iterdir()) + list((tmp_path / "optzoo").iterdir())
    monkeypatch.setattr(report, "run_suite", suite(0, rows))
    assert report.main() == 0
    table = (tmp_path / "docs" / "parity.md").read_text()
    assert "| torch | `Adam` | lr=0.01 | 100 | 3.00e-14 |" in table
    data = json.loads((tmp_path / "optzoo" / "parity.json").read_text())
    assert data["records"] == rows
