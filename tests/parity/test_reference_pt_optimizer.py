"""optzoo's ports of pytorch-optimizer 4.1.0 (QHAdam, AdaBound, NovoGrad, AdamP,
DiffGrad, Tiger, SignSGD) against the reference classes, step by step.

Each configuration trains the harness's MLP for 100 steps in float64 on both sides
(``tests/parity/harness.py``) and records its worst relative error. Every
constructor flag of the reference classes is covered by some configuration.
``maximize`` is not a core argument: ``optax.chain(optax.scale(-1), tx)`` is the
reference's ``maximize=True`` (the gradient is negated before anything else), run
on the negated loss. ``foreach`` only picks the reference's kernel; it is left at
its default except where a configuration runs the other kernel too.
"""

from __future__ import annotations

import jax.numpy as jnp
import optax
import pytest
import pytorch_optimizer as po
import torch

import optzoo
from tests.parity.harness import (  # noqa: F401 (torch_float64: a fixture)
    STEPS,
    TOL,
    config_label,
    run_against,
    torch_float64,
)

pytestmark = pytest.mark.usefixtures("torch_float64")


def _ours(kw: dict) -> dict:
    """optzoo's keywords for the reference's: ``lr`` -> ``learning_rate``,
    ``betas`` -> ``b1, b2``, ``nus`` -> ``nu1, nu2``; ``maximize``, ``foreach`` dropped."""
    kw = {k: x for k, x in kw.items() if k not in ("maximize", "foreach")}
    if "lr" in kw:
        kw["learning_rate"] = kw.pop("lr")
    for name, split in (("betas", ("b1", "b2")), ("nus", ("nu1", "nu2"))):
        if name in kw:
            kw.update(zip(split, kw.pop(name)))
    return kw


def _run(record_parity, cls_name: str, make, kw: dict, **run_kwargs) -> float:
    """Run ``pytorch_optimizer.<cls_name>(**kw)`` against ``make(**_ours(kw))``
    (negated first with ``maximize``); record and check the worst error."""
    maximize = kw.get("maximize", False)

    def make_tx():
        tx = make(**_ours(kw))
        return optax.chain(optax.scale(-1.0), tx) if maximize else tx

    err = run_against(lambda ps: getattr(po, cls_name)(ps, **kw), make_tx,
                      sign=-1.0 if maximize else 1.0, **run_kwargs)
    record_parity("reference", f"pytorch_optimizer.{cls_name}", config_label(kw), err, STEPS)
    assert err <= TOL, (cls_name, kw, err)
    return err


QHADAM = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.95, 0.99), nus=(0.7, 0.9), eps=1e-6, weight_decay=0.05),
    dict(lr=0.01, nus=(0.8, 1.0), weight_decay=0.05, weight_decouple=True, maximize=True),
    dict(lr=0.01, betas=(0.8, 0.9), nus=(1.0, 0.5), weight_decay=0.02, weight_decouple=True,
         fixed_decay=True, foreach=False),
]


@pytest.mark.parametrize("kw", QHADAM, ids=config_label)
def test_qhadam(kw, record_parity):
    _run(record_parity, "QHAdam", optzoo.qhadam, kw)


def _scheduled(factor):
    """``make_ref`` wrapper: a ``LambdaLR(factor)`` stepped after every optimizer step."""

    def wrap(opt):
        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        step = opt.step

        def stepped(closure=None):
            loss = step(closure)
            sched.step()
            return loss

        opt.step = stepped
        return opt

    return wrap


ADABOUND = [
    dict(lr=0.01),
    dict(lr=0.01, final_lr=0.05, betas=(0.8, 0.99), gamma=0.01, eps=1e-6, weight_decay=0.05),
    dict(lr=0.01, gamma=0.1, ams_bound=True, weight_decay=0.05, weight_decouple=False,
         maximize=True),
    dict(lr=0.01, final_lr=0.02, gamma=0.05, weight_decay=0.02, fixed_decay=True,
         ams_bound=True, foreach=False),
]


@pytest.mark.parametrize("kw", ADABOUND, ids=config_label)
def test_adabound(kw, record_parity):
    _run(record_parity, "AdaBound", optzoo.adabound, kw)


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
@pytest.mark.parametrize("start", [1.0, 0.2], ids=["decay", "warmup"])
def test_adabound_schedule(start, record_parity):
    """With a schedule the bounds follow ``final_lr * lr_t / base``: the torch
    scheduler's rates against the same schedule in optzoo; a warmup below the
    base rate needs ``base_lr``."""
    lr, kw = 0.02, dict(final_lr=0.05, gamma=0.1, weight_decay=0.01)

    def factor(k):
        return min(start + (1.0 - start) * k / 20, 1.0) * 0.98**k

    base = {} if start == 1.0 else dict(base_lr=lr)
    err = run_against(
        lambda ps: _scheduled(factor)(po.AdaBound(ps, lr=lr, **kw)),
        lambda: optzoo.adabound(lambda k: lr * (jnp.minimum(start + (1.0 - start) * k / 20, 1.0)
                                                * 0.98**k), **kw, **base))
    label = config_label(dict(lr=f"LambdaLR(start={start})", **kw))
    record_parity("reference", "pytorch_optimizer.AdaBound", label, err, STEPS)
    assert err <= TOL, err


NOVOGRAD = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.9, 0.95), eps=1e-6, weight_decay=0.05),
    dict(lr=0.01, weight_decay=0.05, weight_decouple=True, grad_averaging=True, maximize=True),
    dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.05, weight_decouple=True, fixed_decay=True,
         grad_averaging=True, foreach=False),
]


@pytest.mark.parametrize("kw", NOVOGRAD, ids=config_label)
def test_novograd(kw, record_parity):
    _run(record_parity, "NovoGrad", optzoo.novograd, kw)


# delta = 0.1 projects a matrix 3 times in 200 leaf-steps (whole leaf); 1.0 projects
# 28 times (3 per channel); 1.5 projects 129 times (107 per channel).
ADAMP = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, delta=1.0, wd_ratio=0.3),
    dict(lr=0.01, nesterov=True, delta=1.5, weight_decay=0.1, fixed_decay=True, maximize=True),
    dict(lr=0.01, weight_decay=0.1, weight_decouple=False, delta=1.0),
    dict(lr=0.01, delta=1.5, weight_decay=0.05, nesterov=True, foreach=True),
]


@pytest.mark.parametrize("kw", ADAMP, ids=config_label)
def test_adamp(kw, record_parity):
    _run(record_parity, "AdamP", optzoo.adamp, kw)


DIFFGRAD = [
    dict(lr=0.01),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, ams_bound=True),
    dict(lr=0.01, weight_decay=0.05, weight_decouple=False, rectify=True, maximize=True),
    dict(lr=0.01, rectify=True, n_sma_threshold=4, degenerated_to_sgd=False, weight_decay=0.05,
         fixed_decay=True, ams_bound=True),
    dict(lr=0.01, betas=(0.9, 0.99), rectify=True, ams_bound=True, foreach=False),
]


@pytest.mark.parametrize("kw", DIFFGRAD, ids=config_label)
def test_diffgrad(kw, record_parity):
    _run(record_parity, "DiffGrad", optzoo.diffgrad, kw)


TIGER = [
    dict(lr=0.01),
    dict(lr=0.01, beta=0.9, weight_decay=0.05, weight_decouple=False, maximize=True),
    dict(lr=0.01, weight_decay=0.05, fixed_decay=True, foreach=False),
]


@pytest.mark.parametrize("kw", TIGER, ids=config_label)
def test_tiger(kw, record_parity):
    _run(record_parity, "Tiger", optzoo.tiger, kw)


SIGN_SGD = [
    dict(lr=0.01),
    dict(lr=0.01, momentum=0.0, weight_decay=0.05, weight_decouple=False),
    dict(lr=0.01, momentum=0.0, weight_decay=0.05, maximize=True),
    dict(lr=0.01, momentum=0.5, weight_decay=0.05, weight_decouple=False, foreach=False),
]


@pytest.mark.parametrize("kw", SIGN_SGD, ids=config_label)
def test_sign_sgd(kw, record_parity):
    _run(record_parity, "SignSGD", optzoo.sign_sgd, kw)
