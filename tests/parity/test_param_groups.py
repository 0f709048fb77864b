"""Param groups against torch: two groups that differ in learning rate and weight
decay (the transformer recipe: decay on the matrices, none on the vectors), under a
``OneCycleLR`` stepped once per optimizer step, float64, every step within 1e-10.

torch's ``OneCycleLR(opt, max_lr=[a, b])`` gives each group its own peak. optzoo
writes it two ways: each group with its own schedule (``"lr": OneCycleLR(a, ...)``),
or one shared schedule and a number per group, which scales the shared schedule
to the group's own initial lr (``a / div_factor``), as torch's schedulers scale
each group's ``initial_lr``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optzoo
import optzoo.pytorch as ozt
from optzoo.pytorch import lr_scheduler as ozs
from tests.helpers import x64
from tests.parity.harness import STEPS, TOL, run_against, torch_float64  # noqa: F401

pytestmark = pytest.mark.usefixtures("torch_float64")

MAX_LR = (0.02, 0.05)  # matrices, vectors
CYCLE = dict(total_steps=STEPS, pct_start=0.25, div_factor=10.0, final_div_factor=50.0,
             cycle_momentum=False)
MATRICES = ["w1", "w2"]

CASES = {
    "AdamW": (dict(betas=(0.85, 0.98), eps=1e-7), (0.1, 0.0)),
    "SGD": (dict(momentum=0.9, nesterov=True), (0.05, 0.0)),
}


class _Stepped:
    """A torch optimizer whose ``step`` also steps its scheduler, once per step."""

    def __init__(self, opt, sched):
        self.opt, self.sched = opt, sched

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self):
        self.opt.step()
        self.sched.step()


def _torch(name, shared, decays):
    def make(tensors):  # harness order: w1, b1, w2, b2
        groups = [{"params": [tensors[0], tensors[2]], "weight_decay": decays[0]},
                  {"params": [tensors[1], tensors[3]], "weight_decay": decays[1]}]
        opt = getattr(torch.optim, name)(groups, lr=0.1, **shared)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=list(MAX_LR), **CYCLE)
        return _Stepped(opt, sched)

    return make


def _optzoo(name, shared, decays, style):
    if style == "own schedules":
        lrs = [ozs.OneCycleLR(m, **CYCLE) for m in MAX_LR]
        lr = 0.1
    else:  # one shared schedule, each group's initial lr as a number
        lr = ozs.OneCycleLR(MAX_LR[0], **CYCLE)
        lrs = [m / CYCLE["div_factor"] for m in MAX_LR]
    groups = [{"params": MATRICES, "weight_decay": decays[0], "lr": lrs[0]},
              {"params": lambda path, leaf: leaf.ndim == 1, "weight_decay": decays[1],
               "lr": lrs[1]}]
    return lambda: getattr(ozt, name)(lr, groups=groups, **shared)


def _label(name, style):
    shared, decays = CASES[name]
    args = ", ".join(f"{k}={v}" for k, v in shared.items())
    return (f"{args}; groups lr/weight_decay {MAX_LR[0]}/{decays[0]} and "
            f"{MAX_LR[1]}/{decays[1]} under OneCycleLR (max_lr per group, {style})")


STYLES = ["own schedules", "shared schedule scaled"]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_two_groups_under_one_cycle_match_torch(name, style, record_parity):
    shared, decays = CASES[name]
    err = run_against(_torch(name, shared, decays), _optzoo(name, shared, decays, style))
    record_parity("torch", name, _label(name, style), err, STEPS)
    assert err <= TOL, f"{name} ({style}): max relative error {err:.3e}"


def test_two_groups_under_a_multiplicative_scheduler_match_torch(record_parity):
    """torch's StepLR multiplies each group's own lr; a number per group under the
    shared schedule gives ``lr_group * gamma ** (k // step_size)``."""
    lrs, decays = (0.02, 0.05), (0.1, 0.0)

    def make_torch(tensors):
        groups = [{"params": [tensors[0], tensors[2]], "weight_decay": decays[0], "lr": lrs[0]},
                  {"params": [tensors[1], tensors[3]], "weight_decay": decays[1], "lr": lrs[1]}]
        opt = torch.optim.AdamW(groups, lr=0.1)
        return _Stepped(opt, torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.7))

    def make_optzoo():
        return ozt.AdamW(ozs.StepLR(0.1, step_size=7, gamma=0.7), groups=[
            {"params": MATRICES, "weight_decay": decays[0], "lr": lrs[0]},
            {"params": ["b1", "b2"], "weight_decay": decays[1], "lr": lrs[1]}])

    err = run_against(make_torch, make_optzoo)
    record_parity("torch", "AdamW", f"groups lr/weight_decay {lrs[0]}/{decays[0]} and "
                  f"{lrs[1]}/{decays[1]} under StepLR(step_size=7, gamma=0.7) (shared)",
                  err, STEPS)
    assert err <= TOL, f"max relative error {err:.3e}"


def test_core_param_groups_equal_the_flavor():
    """``optzoo.param_groups(optzoo.adamw, ...)`` is the same transformation shape:
    with torch's arguments mapped to the core's, the updates agree."""
    rng = np.random.default_rng(0)
    with x64():
        params = {"enc": {"kernel": jnp.asarray(rng.normal(size=(3, 2))),
                          "bias": jnp.asarray(rng.normal(size=2))}}
        grads = {"enc": {"kernel": jnp.asarray(rng.normal(size=(3, 2))),
                         "bias": jnp.asarray(rng.normal(size=2))}}
        sched = ozs.StepLR(0.01, step_size=2, gamma=0.5)
        core = optzoo.param_groups(optzoo.adamw, learning_rate=sched, b1=0.8, groups=[
            {"params": ["enc/kernel"], "weight_decay": 0.1},
            {"params": ["enc/bias"], "weight_decay": 0.0, "learning_rate": 0.02}])
        flavor = ozt.AdamW(sched, betas=(0.8, 0.999), groups=[
            {"params": ["enc/kernel"], "weight_decay": 0.1},
            {"params": ["enc/bias"], "weight_decay": 0.0, "lr": 0.02}])
        sc, sf = core.init(params), flavor.init(params)
        for _ in range(5):
            uc, sc = core.update(grads, sc, params)
            uf, sf = flavor.update(grads, sf, params)
            np.testing.assert_allclose(uc["enc"]["kernel"], uf["enc"]["kernel"], rtol=1e-12)
            np.testing.assert_allclose(uc["enc"]["bias"], uf["enc"]["bias"], rtol=1e-12)
            params = optax.apply_updates(params, uc)


def test_a_predicate_on_values_is_refused_under_jit():
    import jax

    params = {"w": jnp.ones(2)}
    tx = ozt.SGD(0.1, groups=[{"params": lambda path, leaf: leaf.sum() > 0}])
    state = tx.init(params)  # concrete at init
    with pytest.raises(ValueError, match=r'^SGD: groups\[0\]\["params"\] read the values'):
        jax.jit(tx.update)(params, state, params)


@pytest.mark.parametrize("groups,match", [
    ([{"params": ["enc/kernel"]}], r"^AdamW: param 'enc/bias' is in no group; every param"),
    ([{"params": lambda p, x: True}, {"params": ["enc/bias"]}],
     r"^AdamW: param 'enc/bias' is in groups 0, 1; every param must belong"),
    ([{"params": ["enc/kernel", "enc/bais"]}, {"params": ["enc/bias"]}],
     r"^AdamW: groups\[0\] lists 'enc/bais', which is not a param path"),
])
def test_every_param_in_exactly_one_group(groups, match):
    params = {"enc": {"kernel": jnp.ones((3, 2)), "bias": jnp.ones(2)}}
    with pytest.raises(ValueError, match=match):
        ozt.AdamW(groups=groups).init(params)


@pytest.mark.parametrize("make,match", [
    (lambda: ozt.SGD(0.1, groups=[{"params": ["w"], "betas": (0.9, 0.9)}]),
     r"^SGD: groups\[0\] sets 'betas', which is not an argument of the optimizer"),
    (lambda: ozt.SGD(0.1, groups=[{"lr": 0.1}]), r'^SGD: groups\[0\] must be a dict with'),
    (lambda: ozt.SGD(0.1, groups={"params": ["w"]}), r"^SGD: groups must be a non-empty list"),
    (lambda: ozt.SGD(0.1, groups=[{"params": "w"}]), r'^SGD: groups\[0\]\["params"\] must be'),
    (lambda: ozt.SGD(0.1, groups=[{"params": ["w"], "momentum": -1.0}]),
     r"^SGD: momentum must be in \[0, inf\), got -1.0$"),
    (lambda: ozt.SGD(lambda k: 0.1, groups=[{"params": ["w"], "lr": 0.2}]),
     r"^SGD: groups\[0\] sets lr=0.2, but the shared lr is a schedule with no base lr"),
    (lambda: optzoo.param_groups(optzoo.adamw, groups=[{"params": ["w"]}], lr=0.1),
     r"^param_groups: 'lr' is not an argument of 'adamw'$"),
])
def test_invalid_groups(make, match):
    with pytest.raises(ValueError, match=match):
        make()
