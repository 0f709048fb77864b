"""optzoo.pytorch.swa_utils against torch.optim.swa_utils, float64, side by side.

``AveragedModel``: torch averages a copy of the model after each optimizer step
(``update_parameters``) when the loop says so; optzoo keeps the average in the
optimizer's state. Both the trained params and the averaged ones are compared
after every step. ``SWALR``: the learning rate after every scheduler step.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.optim import swa_utils as tswa

import optzoo
import optzoo.pytorch as ozt
from optzoo.pytorch import swa_utils as oswa
from tests.helpers import x64
from tests.parity.harness import (  # noqa: F401 (torch_float64: a fixture)
    NAMES,
    STEPS,
    TOL,
    config_label,
    leaf_rel_err,
    run_against,
    torch_float64,
)

pytestmark = pytest.mark.usefixtures("torch_float64")


class _TorchLoop:
    """A torch optimizer plus the loop's ``if`` around ``update_parameters``."""

    def __init__(self, tensors, make_opt, averaging: dict, start_step: int, every: int):
        self.opt = make_opt(tensors)
        module = torch.nn.ParameterList([torch.nn.Parameter(t) for t in tensors])
        self.module = module  # shares storage with the tensors the optimizer updates
        self.swa = tswa.AveragedModel(module, **averaging)
        self.start_step, self.every, self.t = start_step, every, 0

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self):
        self.opt.step()
        self.t += 1
        if self.t > self.start_step and (self.t - self.start_step - 1) % self.every == 0:
            self.swa.update_parameters(self.module)


# (label, torch averaging kwargs, optzoo averaging kwargs)
AVERAGING = [
    ("swa", {}, {}),
    ("ema_multi(0.9)", dict(multi_avg_fn=tswa.get_ema_multi_avg_fn(0.9)),
     dict(multi_avg_fn=oswa.get_ema_multi_avg_fn(0.9))),
    ("ema(0.95)", dict(avg_fn=tswa.get_ema_avg_fn(0.95)), dict(avg_fn=oswa.get_ema_avg_fn(0.95))),
    ("swa_avg_fn", dict(avg_fn=tswa.get_swa_avg_fn()), dict(avg_fn=oswa.get_swa_avg_fn())),
    ("swa_multi", dict(multi_avg_fn=tswa.get_swa_multi_avg_fn()),
     dict(multi_avg_fn=oswa.get_swa_multi_avg_fn())),
]
SCHEDULES = [dict(start_step=0, every=1), dict(start_step=10, every=3)]
OPTIMIZERS = [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("when", SCHEDULES, ids=config_label)
@pytest.mark.parametrize("label, t_avg, o_avg", AVERAGING, ids=[a[0] for a in AVERAGING])
@pytest.mark.parametrize("opt, kwargs", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_averaged_model_matches_torch(opt, kwargs, label, t_avg, o_avg, when, record_parity):
    def averaged_err(ref, tp, state, params):
        expected = {k: p.detach().numpy() for k, p in zip(NAMES, ref.swa.module)}
        return leaf_rel_err(optzoo.swa_params(state), expected)

    err = run_against(
        lambda tensors: _TorchLoop(tensors, lambda ts: getattr(torch.optim, opt)(ts, **kwargs),
                                   t_avg, **when),
        lambda: oswa.AveragedModel(getattr(ozt, opt)(**kwargs), **o_avg, **when),
        after=averaged_err,
    )
    config = f"{label}, {config_label(when)}, around {opt}({config_label(kwargs)})"
    record_parity("torch", "swa_utils.AveragedModel", config, err, STEPS)
    assert err <= TOL, f"{config}: {err:.3e}"


@pytest.mark.parametrize("kwargs", [
    dict(swa_lr=0.01), dict(swa_lr=0.2, anneal_epochs=5, anneal_strategy="linear"),
    dict(swa_lr=0.02, anneal_epochs=0), dict(swa_lr=0.03, anneal_epochs=7),
], ids=config_label)
def test_swalr_matches_torch(kwargs, record_parity):
    lr = 0.1
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = tswa.SWALR(topt, **kwargs)
    with x64():
        ours = oswa.SWALR(lr, **kwargs)
        worst = 0.0
        for k in range(40):
            expected = sched.get_last_lr()[0]
            worst = max(worst, abs(float(ours(k)) - expected) / expected)
            topt.step()
            sched.step()
    record_parity("torch", "swa_utils.SWALR", config_label(kwargs), worst, 40)
    assert worst <= TOL


def test_averaged_model_rejects_buffers_and_bad_decay():
    with pytest.raises(ValueError, match="AveragedModel: use_buffers must be False"):
        oswa.AveragedModel(ozt.SGD(lr=0.1), use_buffers=True)
    with pytest.raises(ValueError, match=r"get_ema_multi_avg_fn: decay must be in \[0, 1\]"):
        oswa.get_ema_multi_avg_fn(1.5)
    with pytest.raises(ValueError, match="SWALR: anneal_strategy"):
        oswa.SWALR(0.1, 0.01, anneal_strategy="exp")
    assert math.isfinite(float(oswa.SWALR(0.1, 0.01)(10**6)))
