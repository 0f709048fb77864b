"""optzoo's Sophia-H and SAM / ASAM against pytorch-optimizer 4.1.0's ``SophiaH`` and
``SAM``, step by step.

Each configuration trains the harness's MLP (``tests/parity/harness.py``) for 100
steps in float64 on both sides and records its worst relative error; every
constructor flag of both reference classes is covered by some configuration.

Sophia-H. The reference draws its Hutchinson probes from torch's global
generator (``torch.randn_like`` / ``torch.randint_like``); here they come from
optzoo's key schedule (``optzoo.sophia_h_probes``) and are handed to the reference
by replacing those two calls, so both sides see the same probes in float64. The
reference's closure runs ``backward(create_graph=True)``, which its Hessian-vector
products need. ``maximize`` is ``optax.chain(optax.scale(-1), tx)`` on the negated
loss, as for the other ports (the estimate is of the closure's own loss on both
sides).

SAM. The reference's ``step(closure)`` follows a first ``closure()`` at the
current weights, as its documentation asks. pytorch-optimizer 4.1.0 takes the
global gradient norm of the perturbation in float32 (``get_global_gradient_norm``
casts the per-tensor norms), which moves the perturbation by ~1e-8 relative; the
exact comparisons keep that norm in float64, and
``test_sam_as_shipped`` measures the unpatched reference at float32 level.

FriendlySAM (``optzoo.friendly_sam``) is run the same way. Its ascent direction
``g - sigma m`` is, at ``sigma = 1``, the difference of two nearly equal gradients,
so it magnifies last-bit differences: with Adam, ``rho = 0.2`` and ``lmbda = 0.5``
the reference's own two kernels (``foreach`` True and False, which round the
average ``m`` differently) end 5.0e-11 apart after 100 steps, and moving its start
by 1e-15 (relative) moves its result by 6.9e-10 (optzoo against it: 2.9e-10). The
configurations below avoid that regime (with ``lmbda = 0.9`` the same two
perturbations give 0 and 6.5e-15).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import pytorch_optimizer as po
import torch

import optzoo
import optzoo.pytorch
from tests.helpers import x64
from tests.parity.harness import (  # noqa: F401 (torch_float64: a fixture)
    NAMES,
    STEPS,
    TOL,
    config_label,
    fast_jit,
    leaf_rel_err,
    loss_jax,
    loss_torch,
    problem,
    torch_float64,
)

pytestmark = [
    pytest.mark.usefixtures("torch_float64"),
    # the reference's Hessian-vector products need backward(create_graph=True)
    pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True"),
]


# --- Sophia-H ----------------------------------------------------------------------

SOPHIA_SEED = 7


def _sophia_ours(kw: dict) -> dict:
    ours = {k: x for k, x in kw.items() if k not in ("maximize", "foreach", "betas", "lr")}
    if "lr" in kw:
        ours["learning_rate"] = kw["lr"]
    if "betas" in kw:
        ours["b1"], ours["b2"] = kw["betas"]
    return ours


def _external_hessian(step: int, shapes: dict) -> dict:
    """A made-up Hessian-diagonal estimate for ``step`` (some entries negative)."""
    rng = np.random.default_rng(1000 + step)
    return {k: rng.uniform(-0.2, 1.5, size=s) for k, s in shapes.items()}


def _run_sophia(monkeypatch, kw: dict, hessian_every: int = 0, steps: int = STEPS) -> float:
    """``steps`` steps of ``pytorch_optimizer.SophiaH(**kw)`` and of ``optzoo.sophia_h``
    on the same probes; ``hessian_every > 0``: every such step (from the second)
    passes an external ``hessian`` to both. Returns the worst relative error."""
    maximize = kw.get("maximize", False)
    sign = -1.0 if maximize else 1.0
    num_samples = kw.get("num_samples", 1)
    distribution = kw.get("hessian_distribution", "gaussian")
    x, y, init = problem(0)
    tp = {k: torch.tensor(init[k], dtype=torch.float64, requires_grad=True) for k in NAMES}
    ref = po.SophiaH([tp[k] for k in NAMES], **kw)
    xt, yt = torch.tensor(x), torch.tensor(y)
    queue: list[torch.Tensor] = []

    def next_probe(like):
        z = queue.pop(0)
        assert z.shape == like.shape and z.dtype == like.dtype
        return z.clone()

    monkeypatch.setattr(torch, "randn_like", lambda like, **_: next_probe(like))
    monkeypatch.setattr(torch, "randint_like",
                        lambda like, low, high, **_: (next_probe(like) + 1.0) / 2.0)

    def closure():
        ref.zero_grad()
        value = loss_torch(tp, xt, yt, sign)
        value.backward(create_graph=True)
        return value

    with x64():
        tx = optzoo.sophia_h(**_sophia_ours(kw), seed=SOPHIA_SEED)
        if maximize:
            tx = optax.chain(optax.scale(-1.0), tx)
        params = {k: jnp.asarray(init[k], jnp.float64) for k in NAMES}
        state = tx.init(params)
        xj, yj = jnp.asarray(x), jnp.asarray(y)

        def value_fn(p):
            return loss_jax(p, xj, yj, sign)

        @fast_jit
        def step(params, state, hessian):
            grads = jax.grad(value_fn)(params)
            updates, state = tx.update(grads, state, params, value_fn=value_fn,
                                       hessian=hessian)
            return optax.apply_updates(params, updates), state

        worst = 0.0
        period = kw.get("update_period", 10)
        for t in range(steps):
            hessian = None
            if hessian_every and t % hessian_every == hessian_every - 1:
                hessian = _external_hessian(t, {k: init[k].shape for k in NAMES})
            elif t % period == 0:
                probes = optzoo.sophia_h_probes(params, t, SOPHIA_SEED, num_samples,
                                                distribution)
                queue[:] = [torch.tensor(np.asarray(z[k])) for z in probes for k in NAMES]
            if hessian is None:
                ref.step(closure)
            else:
                ref.step(closure, hessian=[torch.tensor(hessian[k]) for k in NAMES])
            assert not queue, "the reference drew fewer probes than optzoo"
            params, state = step(params, state, hessian)
            expected = {k: tp[k].detach().numpy() for k in NAMES}
            worst = max(worst, leaf_rel_err(params, expected))
    return worst


SOPHIA = [
    dict(lr=0.01),
    dict(lr=0.02, betas=(0.9, 0.95), p=0.5, update_period=3, eps=1e-8, weight_decay=0.05),
    dict(lr=0.02, weight_decay=0.05, weight_decouple=False, update_period=1, num_samples=3,
         hessian_distribution="rademacher", p=5.0, maximize=True),
    dict(lr=0.01, weight_decay=0.1, fixed_decay=True, p=1.0, update_period=2, num_samples=2,
         foreach=False),
    dict(lr=0.02, betas=(0.8, 0.9), p=0.2, update_period=4, hessian_distribution="rademacher",
         eps=1e-4, foreach=True),
]


@pytest.mark.parametrize("kw", SOPHIA, ids=config_label)
def test_sophia_h(kw, record_parity, monkeypatch):
    err = _run_sophia(monkeypatch, kw)
    record_parity("reference", "pytorch_optimizer.SophiaH", config_label(kw), err, STEPS)
    assert err <= TOL, (kw, err)


def test_sophia_h_external_hessian(record_parity, monkeypatch):
    """``step(closure, hessian=...)`` on every third step, the probes on the others'
    refresh steps: the external estimate replaces the probes' on both sides."""
    kw = dict(lr=0.02, betas=(0.9, 0.9), p=0.1, update_period=2, weight_decay=0.01)
    err = _run_sophia(monkeypatch, kw, hessian_every=3)
    record_parity("reference", "pytorch_optimizer.SophiaH",
                  config_label(kw) + " (hessian= every third step)", err, STEPS)
    assert err <= TOL, (kw, err)


# --- SAM / ASAM --------------------------------------------------------------------


def _float64_global_norm(param_groups, device=None, *, weight_adaptive=False):
    """The reference's squared global gradient norm (``|p|``-weighted for the groups
    with ``adaptive``), kept in float64 (4.1.0 casts it to float32)."""
    norms = []
    for group in param_groups:
        adaptive = weight_adaptive and group.get("adaptive", False)
        for p in group["params"]:
            if p.grad is not None:
                norms.append((p.grad * p.abs() if adaptive else p.grad).norm())
    return torch.stack(norms).square().sum().reshape(1)


_BASES = {"SGD": (torch.optim.SGD, optzoo.pytorch.SGD),
          "Adam": (torch.optim.Adam, optzoo.pytorch.Adam)}
_SAM_ARGS = ("rho", "adaptive", "use_gc", "perturb_eps", "sigma", "lmbda")


def _run_sam(base: str, kw: dict, steps: int = STEPS, cls: str = "SAM") -> float:
    """``steps`` steps of ``pytorch_optimizer.SAM(params, torch.optim.<base>, **kw)``
    (a ``closure()`` at the current weights, then ``step(closure)``) and of
    ``optzoo.sam(optzoo.pytorch.<base>(**base keywords), **SAM keywords)``;
    ``cls="FriendlySAM"``: that class and ``optzoo.friendly_sam``."""
    torch_cls, flavor = _BASES[base]
    x, y, init = problem(0)
    tp = {k: torch.tensor(init[k], dtype=torch.float64, requires_grad=True) for k in NAMES}
    ref = getattr(po, cls)([tp[k] for k in NAMES], torch_cls, **kw)
    ours = optzoo.sam if cls == "SAM" else optzoo.friendly_sam
    xt, yt = torch.tensor(x), torch.tensor(y)

    def closure():
        ref.zero_grad()
        value = loss_torch(tp, xt, yt)
        value.backward()
        return value

    with x64():
        tx = ours(flavor(**{k: w for k, w in kw.items() if k not in _SAM_ARGS}),
                        **{k: w for k, w in kw.items() if k in _SAM_ARGS})
        params = {k: jnp.asarray(init[k], jnp.float64) for k in NAMES}
        state = tx.init(params)
        xj, yj = jnp.asarray(x), jnp.asarray(y)

        def value_fn(p):
            return loss_jax(p, xj, yj)

        @fast_jit
        def step(params, state):
            grads = jax.grad(value_fn)(params)
            updates, state = tx.update(grads, state, params, value_fn=value_fn)
            return optax.apply_updates(params, updates), state

        worst = 0.0
        for _ in range(steps):
            closure()
            ref.step(closure)
            params, state = step(params, state)
            expected = {k: tp[k].detach().numpy() for k in NAMES}
            worst = max(worst, leaf_rel_err(params, expected))
    return worst


SAM = [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3, rho=0.1,
                 adaptive=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.1, rho=0.3, use_gc=True, adaptive=True,
                 foreach=False)),
    ("Adam", dict(lr=0.01, rho=0.2, use_gc=True)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.01, rho=0.5, adaptive=True,
                  perturb_eps=1e-6, foreach=True)),
    ("Adam", dict(lr=0.005, amsgrad=True, rho=0.05, perturb_eps=0.0)),
]


@pytest.mark.parametrize("base,kw", SAM, ids=[f"{b}: {config_label(kw)}" for b, kw in SAM])
def test_sam(base, kw, record_parity, monkeypatch):
    import pytorch_optimizer.optimizer.sam as ref_mod

    monkeypatch.setattr(ref_mod, "get_global_gradient_norm", _float64_global_norm)
    err = _run_sam(base, kw)
    record_parity("reference", "pytorch_optimizer.SAM",
                  f"base_optimizer=torch.optim.{base}, {config_label(kw)}", err, STEPS)
    assert err <= TOL, (base, kw, err)


@pytest.mark.parametrize("base,kw", [SAM[1], SAM[3]], ids=["SGD adaptive", "Adam gc"])
def test_sam_as_shipped(base, kw):
    """Unpatched, the reference's perturbation norm is a float32 number: the two
    agree to float32 level (max |difference| / max |weight| <= 1e-6)."""
    assert _run_sam(base, kw) <= 1e-6


FRIENDLY_SAM = [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, rho=0.1, sigma=0.5, lmbda=0.6,
                 adaptive=True)),
    ("Adam", dict(lr=0.01, rho=0.2, foreach=True)),
    ("Adam", dict(lr=0.005, amsgrad=True, weight_decay=0.01, rho=0.3, sigma=1.5, lmbda=0.95,
                  perturb_eps=1e-6, adaptive=True, foreach=False)),
]


@pytest.mark.parametrize("base,kw", FRIENDLY_SAM,
                         ids=[f"{b}: {config_label(kw)}" for b, kw in FRIENDLY_SAM])
def test_friendly_sam(base, kw, record_parity, monkeypatch):
    import pytorch_optimizer.optimizer.sam as ref_mod

    monkeypatch.setattr(ref_mod, "get_global_gradient_norm", _float64_global_norm)
    err = _run_sam(base, kw, cls="FriendlySAM")
    record_parity("reference", "pytorch_optimizer.FriendlySAM",
                  f"base_optimizer=torch.optim.{base}, {config_label(kw)}", err, STEPS)
    assert err <= TOL, (base, kw, err)
