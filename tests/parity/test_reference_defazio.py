"""Defazio's optimizers against the implementations their authors publish, side by
side in float64 (tests/parity/harness.py): schedule-free AdamW, SGD and RAdam
(``schedulefree`` 1.4.1, train-mode params every step and eval-mode params through
``schedule_free_eval_params``), Prodigy (``prodigyopt`` 1.1.2), D-Adaptation
(``dadaptation`` 3.2) and MADGRAD (``madgrad`` 1.3). Every configuration's worst
relative error over 100 steps must stay below 1e-10 and is recorded."""

from __future__ import annotations

import dadaptation
import madgrad as madgrad_ref
import prodigyopt
import pytest
import schedulefree
import torch

import optzoo
from tests.parity.harness import (  # noqa: F401 (torch_float64: a fixture)
    STEPS,
    TOL,
    config_label,
    fast_jit,
    leaf_rel_err,
    run_against,
    torch_float64,
)


pytestmark = pytest.mark.usefixtures("torch_float64")



def core_kwargs(kwargs: dict) -> dict:
    """The reference's keyword arguments in optzoo's spelling: ``lr`` ->
    ``learning_rate``, ``betas=(b1, b2[, b3])`` -> ``b1, b2[, b3]``; ``foreach`` (a
    torch speed option) dropped."""
    out = {}
    for k, val in kwargs.items():
        if k == "lr":
            out["learning_rate"] = val
        elif k == "betas":
            out.update(zip(("b1", "b2", "b3"), val))
        elif k != "foreach":
            out[k] = val
    return out


def check(record_parity, package, cls, kwargs, make_tx, after=None, steps=STEPS, **ref_setup):
    ref_cls = getattr(package, cls)

    def make_ref(tensors):
        opt = ref_cls(tensors, **kwargs)
        for hook in ref_setup.values():
            hook(opt)
        return opt

    def finite_after(ref, tp, state, params):
        """A non-finite reference would compare as 0 (NaN is not larger): count it as inf."""
        if not all(torch.isfinite(t).all() for t in tp.values()):
            return float("inf")
        return 0.0 if after is None else after(ref, tp, state, params)

    err = run_against(make_ref, make_tx, steps=steps, after=finite_after)
    record_parity("reference", f"{package.__name__}.{cls}", config_label(kwargs), err, steps)
    assert err <= TOL, (cls, kwargs, err)


# ---------------------------------------------------------------- schedule-free

eval_params = fast_jit(optzoo.schedule_free_eval_params)


def schedule_free_eval_after(ref, tp, state, params):
    """The reference's ``eval()`` (params -> x) against ``schedule_free_eval_params``,
    then ``train()`` back; the train-mode params are restored bit for bit (the
    round trip y -> x -> y rounds), so the eval check does not perturb the run."""
    y = {k: t.detach().clone() for k, t in tp.items()}
    ref.eval()
    expected = {k: t.detach().numpy().copy() for k, t in tp.items()}
    ref.train()
    with torch.no_grad():
        for k, t in tp.items():
            t.copy_(y[k])
    return leaf_rel_err(eval_params(state, params), expected)


SCHEDULE_FREE = [
    ("AdamWScheduleFree", optzoo.schedule_free_adamw, dict(lr=0.01)),
    ("AdamWScheduleFree", optzoo.schedule_free_adamw,
     dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, warmup_steps=10)),
    ("AdamWScheduleFree", optzoo.schedule_free_adamw,
     dict(lr=0.01, betas=(0.95, 0.9), weight_decay=0.1, r=1.0, weight_lr_power=1.0,
          foreach=False)),
    ("AdamWScheduleFree", optzoo.schedule_free_adamw,
     dict(lr=0.005, warmup_steps=20, r=0.5, weight_lr_power=0.0)),
    ("SGDScheduleFree", optzoo.schedule_free_sgd, dict(lr=0.1)),
    ("SGDScheduleFree", optzoo.schedule_free_sgd,
     dict(lr=0.2, momentum=0.8, weight_decay=0.05, warmup_steps=10, r=1.0, weight_lr_power=1.0)),
    ("SGDScheduleFree", optzoo.schedule_free_sgd,
     dict(lr=0.1, momentum=0.95, warmup_steps=5, r=0.5, weight_lr_power=0.0, foreach=False)),
    ("RAdamScheduleFree", optzoo.schedule_free_radam, dict(lr=0.01)),
    ("RAdamScheduleFree", optzoo.schedule_free_radam,
     dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, r=1.0, weight_lr_power=1.0)),
    ("RAdamScheduleFree", optzoo.schedule_free_radam,
     dict(lr=0.01, betas=(0.9, 0.95), weight_decay=0.02, silent_sgd_phase=False,
          foreach=False)),
    ("RAdamScheduleFree", optzoo.schedule_free_radam,
     dict(lr=0.01, r=0.5, weight_lr_power=0.0, silent_sgd_phase=False)),
]


@pytest.mark.parametrize("cls,make,kwargs", SCHEDULE_FREE,
                         ids=[f"{c}-{config_label(k)}" for c, _, k in SCHEDULE_FREE])
def test_schedule_free(record_parity, cls, make, kwargs):
    check(record_parity, schedulefree, cls, kwargs, lambda: make(**core_kwargs(kwargs)),
          after=schedule_free_eval_after, train=lambda opt: opt.train())


# ---------------------------------------------------------------- Prodigy


# d_hat's numerator <g, p0 - p> cancels while p is near p0, so a one-ulp difference in
# the gradients (torch autograd and jax.grad round differently) grows along the run:
# the reference against itself from a start moved by one ulp differs by 2e-10 at
# lr=0.5, d0=1e-4, weight_decay=0.05 and 9e-11 at the last row with lr=1, d_coef=2.
# These rows are the well-conditioned ones (self-difference <= 4e-12).
PRODIGY = [
    dict(),
    dict(lr=0.3, betas=(0.8, 0.99), d0=1e-3, weight_decay=0.05),
    dict(lr=1.0, betas=(0.9, 0.95), beta3=0.9, eps=1e-6, use_bias_correction=True,
         weight_decay=0.05, decouple=False),
    dict(lr=1.0, safeguard_warmup=True, d_coef=0.5, growth_rate=1.05, d0=1e-3),
    dict(lr=0.5, betas=(0.0, 0.99), slice_p=3, d0=1e-3, weight_decay=0.01),
    dict(lr=0.5, betas=(0.0, 0.999), beta3=0.95, use_bias_correction=True, safeguard_warmup=True,
         slice_p=2, d_coef=1.5, growth_rate=1.2, weight_decay=0.02, decouple=False, d0=1e-4),
]


@pytest.mark.parametrize("kwargs", PRODIGY, ids=[config_label(k) for k in PRODIGY])
def test_prodigy(record_parity, kwargs):
    check(record_parity, prodigyopt, "Prodigy", kwargs,
          lambda: optzoo.prodigy(**core_kwargs(kwargs)))


# ---------------------------------------------------------------- MADGRAD


MADGRAD = [
    dict(),
    dict(lr=0.02, momentum=0.8, weight_decay=0.05, eps=1e-5),
    dict(lr=0.02, momentum=0.0, weight_decay=0.05, decouple_decay=True),
    dict(lr=0.01, momentum=0.5, eps=0.0),
    dict(lr=0.03, momentum=0.95, weight_decay=0.02, eps=0.0, decouple_decay=True),
]


@pytest.mark.parametrize("kwargs", MADGRAD, ids=[config_label(k) for k in MADGRAD])
def test_madgrad(record_parity, kwargs):
    check(record_parity, madgrad_ref, "MADGRAD", kwargs,
          lambda: optzoo.madgrad(**core_kwargs(kwargs)))


# ---------------------------------------------------------------- D-Adaptation


# DAdaptSGD at lr=1 (its default) overshoots on this problem: the reference against
# itself from a one-ulp-moved start differs by 1e-7 after 100 steps (3e-13 at lr=0.3).
DADAPT = [
    ("DAdaptAdam", optzoo.dadapt_adam, dict()),
    ("DAdaptAdam", optzoo.dadapt_adam,
     dict(lr=0.5, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, d0=1e-3)),
    ("DAdaptAdam", optzoo.dadapt_adam,
     dict(lr=1.0, weight_decay=0.05, decouple=True, use_bias_correction=True, growth_rate=1.1)),
    ("DAdaptSGD", optzoo.dadapt_sgd, dict(lr=0.3)),
    ("DAdaptSGD", optzoo.dadapt_sgd,
     dict(lr=0.5, momentum=0.9, weight_decay=0.05, d0=1e-3, growth_rate=1.2)),
    ("DAdaptAdaGrad", optzoo.dadapt_adagrad, dict()),
    ("DAdaptAdaGrad", optzoo.dadapt_adagrad,
     dict(lr=0.5, momentum=0.8, weight_decay=0.05, eps=1e-5, d0=1e-3, growth_rate=1.2)),
]


@pytest.mark.parametrize("cls,make,kwargs", DADAPT,
                         ids=[f"{c}-{config_label(k)}" for c, _, k in DADAPT])
def test_dadaptation(record_parity, cls, make, kwargs):
    check(record_parity, dadaptation, cls, kwargs, lambda: make(**core_kwargs(kwargs)))


# ---------------------------------------------------------------- a torch scheduler on lr

SCHEDULED = [
    (prodigyopt, "Prodigy", optzoo.prodigy, dict(lr=1.0, d0=1e-3, weight_decay=0.01)),
    (dadaptation, "DAdaptAdam", optzoo.dadapt_adam, dict(lr=0.5, d0=1e-3)),
    (madgrad_ref, "MADGRAD", optzoo.madgrad, dict(lr=0.02, weight_decay=0.01)),
]


@pytest.mark.parametrize("package,cls,make,kwargs", SCHEDULED,
                         ids=[f"{c}-{config_label(k)}" for _, c, _, k in SCHEDULED])
def test_torch_scheduler_is_a_learning_rate_schedule(record_parity, package, cls, make, kwargs):
    """torch's CosineAnnealingLR stepped after every step of the reference equals a
    cosine ``learning_rate`` schedule (evaluated at the update count)."""
    lr = kwargs["lr"]

    def make_ref(tensors):
        opt = getattr(package, cls)(tensors, **kwargs)
        opt.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS)
        return opt

    def after(ref, tp, state, params):
        ref.scheduler.step()
        return 0.0

    core = {**core_kwargs(kwargs), "learning_rate": optzoo.schedules.cosine_decay(lr, STEPS)}
    err = run_against(make_ref, lambda: make(**core), after=after)
    record_parity("reference", f"{package.__name__}.{cls}",
                  config_label({**kwargs, "lr": f"CosineAnnealingLR({lr}, T_max={STEPS})"}),
                  err, STEPS)
    assert err <= TOL, (cls, err)
