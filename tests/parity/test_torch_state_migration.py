"""Optimizer state moved between torch.optim and optzoo.pytorch mid-run.

For every torch class, float64, on the harness problem: train 30 steps on one side,
move the state (``from_torch_state`` / ``to_torch_state``), then continue 30 steps on
both sides from the same params; every step of the continuation must agree within
1e-10. torch's parameter order (w1, b1, w2, b2) differs from the params dict's
``jax.tree.leaves`` order (b1, b2, w1, w2), so ``order`` is exercised throughout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optzoo.pytorch as ozt
from optzoo.pytorch import lr_scheduler as ozs
from optzoo.transforms.averaging import asgd_averaged_params
from tests.helpers import x64
from tests.parity.harness import (  # noqa: F401 (torch_float64: a fixture)
    NAMES,
    TOL,
    fast_jit,
    leaf_rel_err,
    loss_jax,
    loss_torch,
    problem,
    torch_float64,
)
from tests.parity.test_torch_optim import _newton_schulz_float64

pytestmark = pytest.mark.usefixtures("torch_float64")

BEFORE, AFTER = 30, 30

# A non-default configuration per class (the flavor takes the same arguments).
CASES = {
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "Adam": dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True),
    "AdamW": dict(lr=0.01, betas=(0.85, 0.95), weight_decay=0.2),
    "Adamax": dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.05),
    "NAdam": dict(lr=0.01, momentum_decay=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    "RAdam": dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.05),
    "RMSprop": dict(lr=0.005, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.01),
    "Adagrad": dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1, eps=1e-6),
    "Adadelta": dict(lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.05),
    "Rprop": dict(lr=0.02, etas=(0.3, 1.5), step_sizes=(1e-4, 0.05)),
    "ASGD": dict(lr=0.02, lambd=1e-3, alpha=0.6, t0=10.0, weight_decay=0.01),
    "Adafactor": dict(lr=0.01, beta2_decay=-0.5, d=1.5, weight_decay=0.1),
    "SparseAdam": dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6),
    "Muon": dict(lr=0.02, momentum=0.9, nesterov=False, weight_decay=0.05),
    # L-BFGS without a line search amplifies rounding on this non-convex net for most
    # settings (torch against optzoo without any migration drifts to 1e-2 by step 60 at
    # lr=0.5, max_iter=4); this one stays within 3e-13 over 60 steps, history full.
    "LBFGS": dict(lr=0.3, max_iter=2, history_size=5),
}
# Default run: these; the rest run in the slow run.
FAST = ("SGD", "Adam", "ASGD", "Adafactor", "LBFGS")


class Run:
    """One torch optimizer (optionally with a scheduler stepped once per step) and one
    optzoo flavor on the harness problem, each stepping on its own params."""

    def __init__(self, name, kwargs, names=NAMES, sched=None, groups=None, order=None):
        self.name, self.kwargs, self.names = name, kwargs, names
        self.order = list(order or names)  # as torch's state_dict numbers the params
        self.x, self.y, init = problem(0)
        self.init = {k: init[k] for k in names}
        self.sched_args = sched  # (torch scheduler factory, flavor schedule) or None
        self.groups = groups  # (torch groups from tensors, flavor groups) or None
        self.xt, self.yt = torch.tensor(self.x), torch.tensor(self.y)
        self.tx = self._tx()
        self.extra = {}

    # torch side
    def torch_side(self, values):
        self.tp = {k: torch.tensor(np.asarray(values[k]), requires_grad=True) for k in self.names}
        tensors = [self.tp[k] for k in self.names]
        cls = getattr(torch.optim, self.name)
        kwargs = dict(self.kwargs)
        target = self.groups[0](tensors) if self.groups else tensors
        self.opt = cls(target, **kwargs)
        self.sched = self.sched_args[0](self.opt) if self.sched_args else None

    def torch_step(self):
        def closure():
            self.opt.zero_grad()
            value = loss_torch(self.tp, self.xt, self.yt)
            value.backward()
            if self.name == "SparseAdam":
                for t in self.tp.values():
                    t.grad = t.grad.to_sparse(1)
            return value

        if self.name == "LBFGS":
            self.opt.step(closure)
        else:
            closure()
            self.opt.step()
        if self.sched is not None:
            self.sched.step()

    def torch_params(self):
        return {k: t.detach().numpy().copy() for k, t in self.tp.items()}

    # optzoo side
    def _tx(self):
        kwargs = dict(self.kwargs)
        if self.name == "Muon":
            kwargs["ns_dtype"] = None  # float64 Newton-Schulz (torch's is patched to match)
        if self.sched_args:
            kwargs["lr"] = self.sched_args[1]
        if self.groups:
            kwargs["groups"] = self.groups[1]
        return getattr(ozt, self.name)(**kwargs)

    def jax_side(self, values, state=None):
        self.params = {k: jnp.asarray(values[k], jnp.float64) for k in self.names}
        self.state = self.tx.init(self.params) if state is None else state
        xj, yj = jnp.asarray(self.x), jnp.asarray(self.y)
        tx = self.tx

        def value_fn(p):
            return loss_jax(p, xj, yj)

        @fast_jit
        def step(params, state):
            grads = jax.grad(value_fn)(params)
            extra = {"value_fn": value_fn} if self.name == "LBFGS" else {}
            updates, state = tx.update(grads, state, params, **extra)
            return optax.apply_updates(params, updates), state

        self._step = step

    def jax_step(self):
        self.params, self.state = self._step(self.params, self.state)

    def error(self):
        err = leaf_rel_err(self.params, self.torch_params())
        if self.name == "ASGD":  # the averaged params moved too
            ax = {k: self.opt.state[self.tp[k]]["ax"].numpy() for k in self.names}
            err = max(err, leaf_rel_err(asgd_averaged_params(self.state), ax))
        return err

    def both(self, steps):
        worst = 0.0
        for _ in range(steps):
            self.torch_step()
            self.jax_step()
            worst = max(worst, self.error())
        return worst


def _names(name):
    return ("w1", "w2") if name == "Muon" else NAMES


def torch_then_jax(run: Run, **kw) -> float:
    """30 steps in torch, its state_dict into optzoo, 30 steps on both sides."""
    run.torch_side(run.init)
    for _ in range(BEFORE):
        run.torch_step()
    with x64():
        values = run.torch_params()
        params = {k: jnp.asarray(values[k]) for k in run.names}
        sched = {"scheduler_state": run.sched.state_dict()} if run.sched else {}
        state = ozt.from_torch_state(run.tx, run.opt.state_dict(), params, order=run.order,
                                     **sched, **kw)
        run.jax_side(values, state)
        return run.both(AFTER)


def jax_then_torch(run: Run, **kw) -> float:
    """30 steps in optzoo, to_torch_state into a fresh torch optimizer, 30 steps on both."""
    with x64():
        run.jax_side(run.init)
        for _ in range(BEFORE):
            run.jax_step()
        values = {k: np.asarray(x) for k, x in run.params.items()}
        run.torch_side(values)
        # the scheduler wrote keys of its own into torch's groups: keep them (like=)
        sched = {"scheduler_state": run.sched.state_dict(), "like": run.opt.state_dict()} \
            if run.sched else {}
        out = ozt.to_torch_state(run.tx, run.state, run.params, order=run.order, **sched, **kw)
        if run.sched:
            out, sched_state = out
            run.sched.load_state_dict(sched_state)
        run.opt.load_state_dict(out)
        return run.both(AFTER)


@pytest.fixture
def float64_muon(monkeypatch):
    import torch.optim._muon as tmuon

    monkeypatch.setattr(tmuon, "_zeropower_via_newtonschulz", _newton_schulz_float64)


DIRECTIONS = {"torch->jax": torch_then_jax, "jax->torch": jax_then_torch}
PARAMS = [pytest.param(name, d, id=f"{name}-{d}",
                       marks=[] if name in FAST else [pytest.mark.slow])
          for name in CASES for d in DIRECTIONS]


@pytest.mark.parametrize("name,direction", PARAMS)
def test_state_migrates_mid_run(name, direction, record_parity, float64_muon):
    kw = {"step": BEFORE} if (name, direction) == ("Adadelta", "jax->torch") else {}
    err = DIRECTIONS[direction](Run(name, CASES[name], _names(name)), **kw)
    config = ", ".join(f"{k}={v}" for k, v in CASES[name].items())
    record_parity("torch", name, f"{config}; state migration {direction}, "
                  f"{BEFORE}+{AFTER} steps", err, BEFORE + AFTER)
    assert err <= TOL, f"{name} {direction}: max relative error {err:.3e}"


def _two_groups():
    """AdamW, decay on the matrices and none on the vectors, each group its own lr."""
    def torch_groups(t):  # t: w1, b1, w2, b2
        return [{"params": [t[0], t[2]], "lr": 0.02, "weight_decay": 0.1},
                {"params": [t[1], t[3]], "lr": 0.05, "weight_decay": 0.0}]

    ours = [{"params": ["w1", "w2"], "lr": 0.02, "weight_decay": 0.1},
            {"params": ["b1", "b2"], "lr": 0.05, "weight_decay": 0.0}]
    # torch numbers the params group by group: w1, w2, then b1, b2
    return Run("AdamW", dict(lr=0.01, betas=(0.85, 0.95)), groups=(torch_groups, ours),
               order=["w1", "w2", "b1", "b2"])


def _one_cycle():
    """SGD (torch keeps no step count) under OneCycleLR stepped once per step: the
    count comes from the scheduler's last_epoch."""
    cycle = dict(total_steps=BEFORE + AFTER, pct_start=0.3, cycle_momentum=False)
    return Run("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01), sched=(
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, **cycle),
        ozs.OneCycleLR(0.05, **cycle)))


SPECIAL = {"AdamW two groups": _two_groups,
           "SGD under OneCycleLR": _one_cycle}


@pytest.mark.parametrize("case", list(SPECIAL))
@pytest.mark.parametrize("direction", list(DIRECTIONS))
def test_groups_and_scheduler_migrate(case, direction, record_parity):
    err = DIRECTIONS[direction](SPECIAL[case]())
    name = case.split()[0]
    config = ("groups lr/weight_decay 0.02/0.1 and 0.05/0.0" if name == "AdamW" else
              "momentum=0.9, weight_decay=0.01 under OneCycleLR(0.05, total_steps=60), "
              "scheduler state migrated")
    record_parity("torch", name, f"{config}; state migration {direction}, "
                  f"{BEFORE}+{AFTER} steps", err, BEFORE + AFTER)
    assert err <= TOL, f"{case} {direction}: max relative error {err:.3e}"


# ----------------------------------------------------------------- refusals


def _trained(cls, steps=2, names=NAMES, **kwargs):
    """A torch optimizer after a few steps on the harness problem, and the params."""
    run = Run(cls, kwargs, names)
    run.torch_side(run.init)
    for _ in range(steps):
        run.torch_step()
    return run.opt.state_dict(), {k: jnp.asarray(v) for k, v in run.torch_params().items()}


def test_refuses_a_state_dict_of_another_class():
    sd, params = _trained("Adam")
    with x64(), pytest.raises(ValueError, match=(
            r"^from_torch_state: the state of param 0 has 'exp_avg_sq', which torch.optim.Adamax "
            r"does not keep \(a state_dict of another optimizer class\?\)$")):
        ozt.from_torch_state(ozt.Adamax(), sd, params, order=list(NAMES))
    with x64(), pytest.raises(ValueError, match=(
            r"^from_torch_state: param_groups\[0\] has 'amsgrad', which torch.optim.NAdam "
            r"does not have \(a state_dict of another optimizer class\?\)$")):
        ozt.from_torch_state(ozt.NAdam(lr=0.001), sd, params, order=list(NAMES))


def test_refuses_a_hyperparameter_tx_was_not_built_with():
    sd, params = _trained("Adam", lr=0.01)
    with x64(), pytest.raises(ValueError, match=(
            r"^from_torch_state: param_groups\[0\] has lr=0.01, but tx was built with "
            r"lr=0.02$")):
        ozt.from_torch_state(ozt.Adam(lr=0.02), sd, params, order=list(NAMES))


def test_refuses_mismatched_params_and_order():
    sd, params = _trained("SGD", lr=0.01, momentum=0.9)
    tx = ozt.SGD(lr=0.01, momentum=0.9)
    with x64():
        three = {k: params[k] for k in ("w1", "b1", "w2")}
        with pytest.raises(ValueError, match=(
                r"^from_torch_state: the state_dict has 4 params, params has 3 leaves$")):
            ozt.from_torch_state(tx, sd, three)
        with pytest.raises(ValueError, match=(
                r"^from_torch_state: order lists 'w3', which is not a param path")):
            ozt.from_torch_state(tx, sd, params, order=["w1", "b1", "w2", "w3"])
        with pytest.raises(ValueError, match=(
                r"^from_torch_state: order has 3 paths for 4 params and misses 'w2'$")):
            ozt.from_torch_state(tx, sd, params, order=["w1", "b1", "b2"])
        with pytest.raises(ValueError, match=(
                r"^from_torch_state: the state of param 'w1' has 'momentum_buffer' of shape "
                r"\(5, 2\), expected \(4, 5\) for a param of shape \(4, 5\)$")):
            ozt.from_torch_state(tx, sd, params, order=["w2", "b1", "w1", "b2"])


def test_refuses_what_it_cannot_derive():
    sd, params = _trained("SGD", lr=0.01, momentum=0.9)
    with x64():
        with pytest.raises(ValueError, match=(
                r"^from_torch_state: torch.optim.SGD keeps no step count and tx's lr is a "
                r"schedule: pass scheduler_state=scheduler.state_dict\(\)$")):
            ozt.from_torch_state(ozt.SGD(lr=ozs.StepLR(0.01, step_size=5), momentum=0.9), sd,
                                 params, order=list(NAMES))
        with pytest.raises(ValueError, match=r"^from_torch_state: tx must be an optzoo.pytorch"):
            ozt.from_torch_state(optax.chain(ozt.SGD(lr=0.01, momentum=0.9)), sd, params)
        tx = ozt.Adadelta()
        with pytest.raises(ValueError, match=(
                r"^to_torch_state: tx \(Adadelta\) keeps no step count here; pass step=")):
            ozt.to_torch_state(tx, tx.init(params), params)


def test_refuses_groups_that_differ():
    run = _two_groups()
    run.torch_side(run.init)
    run.torch_step()
    sd = run.opt.state_dict()
    params = {k: jnp.asarray(v) for k, v in run.torch_params().items()}
    with x64(), pytest.raises(ValueError, match=(
            r"^from_torch_state: param_groups\[0\] holds 'b1', which tx puts in group 1$")):
        ozt.from_torch_state(run.tx, sd, params, order=["b1", "w2", "w1", "b2"])
    with x64(), pytest.raises(ValueError, match=(
            r"^from_torch_state: the state_dict has 2 param groups, tx has 1$")):
        ozt.from_torch_state(ozt.AdamW(lr=0.01, betas=(0.85, 0.95)), sd, params,
                             order=run.order)


def test_a_fresh_optimizer_is_the_initial_state():
    """Before the first step torch's state is empty (Adagrad's excepted): both ways
    give the initial state."""
    sd, params = _trained("Adam", steps=0, amsgrad=True)
    with x64():
        tx = ozt.Adam(amsgrad=True)
        state = ozt.from_torch_state(tx, sd, params, order=list(NAMES))
        assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), state,
                                         tx.init(params)))
        assert ozt.to_torch_state(tx, state, params, order=list(NAMES))["state"] == {}


def test_refuses_a_keras_flavor_of_the_same_name():
    import optzoo.keras

    sd, params = _trained("Adam")
    with x64(), pytest.raises(ValueError, match=(
            r"^from_torch_state: tx must be an optzoo.pytorch optimizer as its constructor "
            r"returned it \(not wrapped\), got Adam with arguments learning_rate")):
        ozt.from_torch_state(optzoo.keras.Adam(), sd, params)
