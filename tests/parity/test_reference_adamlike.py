"""optzoo's Adam-like optimizers against pytorch-optimizer 4.1.0, step by step.

Each configuration trains the harness's MLP for 100 steps in float64 on both
sides (``tests/parity/harness.py``) and records its worst relative error. Every
constructor flag of the reference classes is covered by some configuration;
``foreach`` is left to the reference's default, or set where its two kernels
differ; ``maximize`` is not taken by the core optimizers: the configurations with
``maximize=True`` run ``optax.chain(optax.scale(-1), optimizer)`` on the negated loss.
"""

from __future__ import annotations

import optax
import pytest
import torch
import pytorch_optimizer as po

import optzoo
from tests.parity.harness import (  # noqa: F401 (torch_float64: a fixture)
    STEPS,
    TOL,
    config_label,
    run_against,
    torch_float64,
)

pytestmark = pytest.mark.usefixtures("torch_float64")


def _betas(kw: dict, n: int) -> dict:
    """optzoo's keywords for the reference's: ``lr`` -> ``learning_rate``,
    ``betas`` -> ``b1, b2[, b3]``."""
    kw = dict(kw)
    if "lr" in kw:
        kw["learning_rate"] = kw.pop("lr")
    if "betas" in kw:
        kw.update(zip(("b1", "b2", "b3")[:n], kw.pop("betas")))
    return kw


def _check(record_parity, cls_name, ref_kwargs, ours, err):
    record_parity("reference", f"pytorch_optimizer.{cls_name}", config_label(ref_kwargs), err,
                  STEPS)
    assert err <= TOL, (cls_name, ref_kwargs, err)
    return ours


def _mine(kw: dict, n_betas: int = 2, drop=("foreach", "maximize")) -> dict:
    """optzoo's keywords for the reference's ``kw`` (:func:`_betas`, less ``drop``)."""
    return {k: w for k, w in _betas(kw, n_betas).items() if k not in drop}


def _run(make_ref, make_tx, kw, **run):
    """:func:`run_against`; with ``maximize`` in ``kw``, optzoo's side is
    ``optax.scale(-1)`` then ``make_tx()``, on the negated loss."""
    if kw.get("maximize"):
        return run_against(make_ref, lambda: optax.chain(optax.scale(-1.0), make_tx()),
                           sign=-1.0, **run)
    return run_against(make_ref, make_tx, **run)


def _parity(record_parity, cls_name, kw, ours, n_betas=2, **run):
    """Run ``pytorch_optimizer.<cls_name>(**kw)`` against ``optzoo.<ours>`` at the
    same keywords and check the error."""
    mine = _mine(kw, n_betas)
    err = _run(lambda ps: getattr(po, cls_name)(ps, **kw),
               lambda: getattr(optzoo, ours)(**mine), kw, **run)
    _check(record_parity, cls_name, kw, mine, err)


# --- StableAdamW -------------------------------------------------------------------

STABLE_ADAMW = [
    dict(lr=0.01),
    dict(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, kahan_sum=False),
    dict(lr=0.01, weight_decay=0.05, weight_decouple=False, foreach=False, maximize=True),
]


@pytest.mark.parametrize("kw", STABLE_ADAMW, ids=config_label)
def test_stable_adamw(kw, record_parity):
    kw_ours = dict(kw)
    kw_ours.pop("kahan_sum", None)  # float64 params: the reference skips Kahan summation
    mine = _mine(kw_ours)
    err = _run(lambda ps: po.StableAdamW(ps, **kw), lambda: optzoo.stable_adamw(**mine), kw)
    _check(record_parity, "StableAdamW", kw, mine, err)


# --- Yogi --------------------------------------------------------------------------

YOGI = [
    dict(lr=0.01),
    dict(lr=0.02, betas=(0.8, 0.99), eps=1e-4, initial_accumulator=1e-3, weight_decay=0.01),
    dict(lr=0.02, weight_decay=0.05, weight_decouple=False, adam_debias=True, maximize=True),
    dict(lr=0.02, weight_decay=0.005, fixed_decay=True, foreach=False),
]


@pytest.mark.parametrize("kw", YOGI, ids=config_label)
def test_yogi(kw, record_parity):
    _parity(record_parity, "Yogi", kw, "yogi")


# --- Adan --------------------------------------------------------------------------


def _float64_global_norm(param_groups, device=None, **_):
    """The reference's squared global gradient norm, kept in float64 (4.1.0 casts
    it to float32, which moves a clipped step by ~1e-8)."""
    grads = [p.grad for g in param_groups for p in g["params"] if p.grad is not None]
    return torch.stack([g.norm() for g in grads]).square().sum().reshape(1)


ADAN = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.9, 0.85, 0.95), eps=1e-6, weight_decay=0.05),
    dict(lr=0.01, weight_decay=0.05, weight_decouple=True, max_grad_norm=0.3),
    dict(lr=0.02, max_grad_norm=5.0, foreach=False, adanorm=True),
    dict(lr=0.02, betas=(0.95, 0.9, 0.98), adanorm=True, adanorm_r=0.8, weight_decay=0.01),
]


@pytest.mark.parametrize("kw", ADAN, ids=config_label)
def test_adan(kw, record_parity, monkeypatch):
    import pytorch_optimizer.optimizer.adan as ref_mod

    monkeypatch.setattr(ref_mod, "get_global_gradient_norm", _float64_global_norm)
    ours = {k: w for k, w in _betas(kw, 3).items() if k != "foreach"}
    err = run_against(lambda ps: po.Adan(ps, **kw), lambda: optzoo.adan(**ours))
    _check(record_parity, "Adan", kw, ours, err)


# --- ADOPT -------------------------------------------------------------------------

ADOPT = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-5, weight_decay=0.05, maximize=True),
    dict(lr=0.01, weight_decay=0.05, weight_decouple=True, clip_lambda=None),
    dict(lr=0.005, weight_decay=0.01, weight_decouple=True, fixed_decay=True, foreach=False,
         stable_adamw=True),
]


@pytest.mark.parametrize("kw", ADOPT, ids=config_label)
def test_adopt(kw, record_parity):
    _parity(record_parity, "ADOPT", kw, "adopt")


def _tight_clip(step):
    return 0.2 + 0.001 * step


def test_adopt_custom_clip(record_parity):
    """A ``clip_lambda`` small enough to clip: both sides call it with the step."""
    kw = dict(lr=0.01, clip_lambda=_tight_clip)
    err = run_against(lambda ps: po.ADOPT(ps, **kw),
                      lambda: optzoo.adopt(learning_rate=0.01, clip_lambda=_tight_clip))
    _check(record_parity, "ADOPT", dict(lr=0.01, clip_lambda="0.2 + 0.001 step"), kw, err)


# --- AdEMAMix ----------------------------------------------------------------------

ADEMAMIX = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99, 0.999), eps=1e-6, alpha=3.0, weight_decay=0.05),
    dict(lr=0.01, t_alpha_beta3=60.0, weight_decay=0.05, weight_decouple=True),
    dict(lr=0.01, weight_decay=0.01, cautious=True, foreach=False, maximize=True),
    dict(lr=0.005, betas=(0.9, 0.95, 0.99), t_alpha_beta3=30.0, weight_decay=0.01,
         weight_decouple=True, fixed_decay=True, foreach=False, stable_adamw=True),
]


@pytest.mark.parametrize("kw", ADEMAMIX, ids=config_label)
def test_ademamix(kw, record_parity):
    _parity(record_parity, "AdEMAMix", kw, "ademamix", 3)


# --- LaProp ------------------------------------------------------------------------
# foreach=False everywhere: the reference's foreach path rounds its step sizes to
# float32 (LaProp._get_step_sizes builds a float32 tensor), so only its per-tensor
# path is float64 throughout.

LAPROP = [
    dict(lr=0.01, foreach=False),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.05, foreach=False),
    dict(lr=0.01, centered=True, steps_before_using_centered=5, ams_bound=True,
         weight_decay=0.005, fixed_decay=True, foreach=False),
    dict(lr=0.01, centered=True, weight_decay=0.05, weight_decouple=False, foreach=False,
         maximize=True),
    dict(lr=0.01, ams_bound=True, foreach=False),
]


@pytest.mark.parametrize("kw", LAPROP, ids=config_label)
def test_laprop(kw, record_parity):
    _parity(record_parity, "LaProp", kw, "laprop")


def test_laprop_schedule(record_parity):
    """The learning rate sits inside LaProp's momentum: a torch ``LambdaLR`` stepped
    after every step against the same schedule of the update count."""
    lr0, decay = 0.02, 0.05
    held = {}

    def make_ref(ps):
        opt = po.LaProp(ps, lr=lr0, weight_decay=0.05, foreach=False)
        held["sched"] = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 / (1.0 + decay * k))
        return opt

    def after(ref, tp, state, params):
        held["sched"].step()
        return 0.0

    err = run_against(make_ref, lambda: optzoo.laprop(
        lambda count: lr0 / (1.0 + decay * count), weight_decay=0.05), after=after)
    _check(record_parity, "LaProp",
           dict(lr="LambdaLR 0.02 / (1 + 0.05 k)", weight_decay=0.05, foreach=False), None, err)


# --- MARS --------------------------------------------------------------------------

MARS = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.9, 0.95), gamma=0.05, lr_1d=0.005, betas_1d=(0.8, 0.9), eps=1e-6,
         weight_decay=0.05, weight_decay_1d=0.02, ams_bound=True),
    dict(lr=0.002, mars_type="lion", cautious=True, weight_decay=0.05, weight_decouple=False,
         maximize=True),
    dict(lr=0.01, optimize_1d=True, weight_decay=0.005, fixed_decay=True, cautious=True),
    dict(lr=0.002, mars_type="lion", optimize_1d=True, foreach=False),
    dict(lr=0.01, mars_type="shampoo", optimize_1d=True, ams_bound=True, weight_decay=0.05),
    dict(lr=0.01, mars_type="shampoo", cautious=True, gamma=0.1),
]


@pytest.mark.parametrize("kw", MARS, ids=config_label)
def test_mars(kw, record_parity, monkeypatch):
    """Shampoo: the reference's Newton-Schulz runs in bfloat16; both sides run it in
    float64 here (``ns_dtype`` on optzoo's side)."""
    import functools

    import jax.numpy as jnp
    import pytorch_optimizer.optimizer.mars as ref_mod

    ns = functools.partial(ref_mod.zero_power_via_newton_schulz_5, dtype=torch.float64)
    monkeypatch.setattr(ref_mod, "zero_power_via_newton_schulz_5", ns)
    mine = _mine(kw, drop=("foreach", "maximize", "betas_1d"))
    if "betas_1d" in kw:
        mine["b1_1d"], mine["b2_1d"] = kw["betas_1d"]
    err = _run(lambda ps: po.MARS(ps, **kw), lambda: optzoo.mars(**mine, ns_dtype=jnp.float64),
               kw)
    _check(record_parity, "MARS", kw, mine, err)


# --- Adan's maximize -----------------------------------------------------------------


def test_adan_maximize(record_parity, monkeypatch):
    """Adan's reference starts its previous gradient from the gradient *before*
    maximize negates it, so its first gradient difference is ``2 g_1`` instead of 0;
    with that start negated, ``maximize=True`` is the negated gradient."""
    import pytorch_optimizer.optimizer.adan as ref_mod

    init_group = ref_mod.Adan.init_group

    def negated_start(self, group, **kwargs):
        fresh = [p for p in group["params"] if p.grad is not None and not self.state[p]]
        init_group(self, group, **kwargs)
        for p in fresh:
            self.state[p]["previous_grad"].neg_()

    monkeypatch.setattr(ref_mod.Adan, "init_group", negated_start)
    monkeypatch.setattr(ref_mod, "get_global_gradient_norm", _float64_global_norm)
    kw = dict(lr=0.01, max_grad_norm=0.3, maximize=True)
    err = _run(lambda ps: po.Adan(ps, **kw), lambda: optzoo.adan(**_mine(kw)), kw)
    _check(record_parity, "Adan", {**kw, "previous_grad_start": "negated"}, None, err)


# --- cautious ----------------------------------------------------------------------
# ADOPT's and LaProp's hidden cautious option masks their whole step, so it is the
# generic wrapper optzoo.cautious around their direction block (MARS and AdEMAMix
# build theirs in; see above).


def test_adopt_cautious_is_the_wrapper(record_parity):
    from optzoo import _blocks
    from optzoo.transforms.adopt import scale_by_adopt

    kw = dict(lr=0.01, weight_decay=0.02, weight_decouple=True, foreach=False, cautious=True)
    err = run_against(lambda ps: po.ADOPT(ps, **kw), lambda: optax.chain(
        optzoo.cautious(scale_by_adopt(), direction=True), optax.add_decayed_weights(0.02),
        _blocks.learning_rate("adopt", 0.01)))
    _check(record_parity, "ADOPT", kw, None, err)


def test_laprop_cautious_is_the_wrapper(record_parity):
    from optzoo.transforms.laprop import decay_after_step, scale_by_laprop

    kw = dict(lr=0.01, weight_decay=0.05, centered=True, foreach=False, cautious=True)
    err = run_against(lambda ps: po.LaProp(ps, **kw), lambda: optax.chain(
        optzoo.cautious(scale_by_laprop(0.01, centered=True)),
        decay_after_step("laprop", 0.01, 0.05, False)))
    _check(record_parity, "LaProp", kw, None, err)
