"""The first-order zoo against float64 NumPy references written from the papers'
formulas, against optax where the semantics are the same, and on test problems."""

from __future__ import annotations

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import parameterized

import optzoo
from tests.helpers import max_rel_err, random_grads, random_params, run_optimizer, x64

STEPS = 60


# ----------------------------------------------------------------------------- references
# Each reference keeps its own NumPy state and returns the new parameters; t counts from 1.


class Ref:
    def __init__(self, params):
        self.t = 0
        self.state = {k: self.init_leaf(np.asarray(p, np.float64)) for k, p in params.items()}

    def init_leaf(self, p):
        return {}

    def step(self, params, grads):
        self.t += 1
        return {k: self.leaf(np.asarray(params[k], np.float64), grads[k], self.state[k], k)
                for k in params}


class SGDRef(Ref):
    def __init__(self, params, lr, momentum=0.0, nesterov=False, wd=0.0):
        self.lr, self.mom, self.nesterov, self.wd = lr, momentum, nesterov, wd
        super().__init__(params)

    def leaf(self, p, g, s, k):
        g = g + self.wd * p
        if self.mom:
            s["buf"] = g if self.t == 1 else self.mom * s["buf"] + g
            g = g + self.mom * s["buf"] if self.nesterov else s["buf"]
        return p - self.lr * g


class AdagradRef(Ref):
    def __init__(self, params, lr, init, eps, eps_in_sqrt):
        self.lr, self.init, self.eps, self.inside = lr, init, eps, eps_in_sqrt
        super().__init__(params)

    def init_leaf(self, p):
        return {"acc": np.full_like(p, self.init)}

    def leaf(self, p, g, s, k):
        s["acc"] = s["acc"] + g * g
        root = np.sqrt(s["acc"] + self.eps) if self.inside else np.sqrt(s["acc"]) + self.eps
        return p - self.lr * g / root


class AdadeltaRef(Ref):
    def __init__(self, params, lr, rho, eps):
        self.lr, self.rho, self.eps = lr, rho, eps
        super().__init__(params)

    def init_leaf(self, p):
        return {"eg": np.zeros_like(p), "ex": np.zeros_like(p)}

    def leaf(self, p, g, s, k):
        s["eg"] = self.rho * s["eg"] + (1 - self.rho) * g * g
        dx = np.sqrt(s["ex"] + self.eps) / np.sqrt(s["eg"] + self.eps) * g
        s["ex"] = self.rho * s["ex"] + (1 - self.rho) * dx * dx
        return p - self.lr * dx


class RMSPropRef(Ref):
    def __init__(self, params, lr, decay, eps, init, inside, centered, momentum, nesterov=False):
        self.lr, self.decay, self.eps, self.init = lr, decay, eps, init
        self.inside, self.centered, self.mom, self.nesterov = inside, centered, momentum, nesterov
        super().__init__(params)

    def init_leaf(self, p):
        return {"nu": np.full_like(p, self.init), "mu": np.zeros_like(p), "buf": np.zeros_like(p)}

    def leaf(self, p, g, s, k):
        s["nu"] = self.decay * s["nu"] + (1 - self.decay) * g * g
        var = s["nu"]
        if self.centered:
            s["mu"] = self.decay * s["mu"] + (1 - self.decay) * g
            var = s["nu"] - s["mu"] ** 2
        d = g / (np.sqrt(var + self.eps) if self.inside else np.sqrt(var) + self.eps)
        if self.mom:
            s["buf"] = self.mom * s["buf"] + d
            d = d + self.mom * s["buf"] if self.nesterov else s["buf"]
        return p - self.lr * d


class AdamRef(Ref):
    """Adam, AMSGrad (max of raw nu, then bias correction) and AdamW."""

    def __init__(self, params, lr, b1, b2, eps, eps_root=0.0, amsgrad=False, wd=0.0, decay_keys=None):
        self.lr, self.b1, self.b2, self.eps, self.eps_root = lr, b1, b2, eps, eps_root
        self.amsgrad, self.wd, self.decay_keys = amsgrad, wd, decay_keys
        super().__init__(params)

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p), "vmax": np.zeros_like(p)}

    def leaf(self, p, g, s, k):
        t = self.t
        s["m"] = self.b1 * s["m"] + (1 - self.b1) * g
        s["v"] = self.b2 * s["v"] + (1 - self.b2) * g * g
        s["vmax"] = np.maximum(s["vmax"], s["v"])
        v = s["vmax"] if self.amsgrad else s["v"]
        m_hat = s["m"] / (1 - self.b1**t)
        v_hat = v / (1 - self.b2**t)
        d = m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps)
        if self.decay_keys is None or k in self.decay_keys:
            d = d + self.wd * p
        return p - self.lr * d


class AdamaxRef(Ref):
    def __init__(self, params, lr, b1, b2, eps):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        super().__init__(params)

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "u": np.zeros_like(p)}

    def leaf(self, p, g, s, k):
        s["m"] = self.b1 * s["m"] + (1 - self.b1) * g
        s["u"] = np.maximum(self.b2 * s["u"], np.abs(g) + self.eps)
        return p - self.lr / (1 - self.b1**self.t) * s["m"] / s["u"]


class NadamRef(Ref):
    """Dozat (2016) with the momentum schedule m_t = b1 (1 - 0.5 * 0.96^(t psi))."""

    def __init__(self, params, lr, b1, b2, eps, psi):
        self.lr, self.b1, self.b2, self.eps, self.psi = lr, b1, b2, eps, psi
        self.prod = 1.0
        super().__init__(params)

    def m(self, t):
        return self.b1 if self.psi is None else self.b1 * (1 - 0.5 * 0.96 ** (t * self.psi))

    def step(self, params, grads):
        self.prod_next = self.prod * self.m(self.t + 1)
        out = super().step(params, grads)
        self.prod = self.prod_next
        return out

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def leaf(self, p, g, s, k):
        t = self.t
        s["m"] = self.b1 * s["m"] + (1 - self.b1) * g
        s["v"] = self.b2 * s["v"] + (1 - self.b2) * g * g
        denom = np.sqrt(s["v"] / (1 - self.b2**t)) + self.eps
        mt, mnext, prod = self.m(t), self.m(t + 1), self.prod_next
        d = (1 - mt) / (1 - prod) * g + mnext / (1 - prod * mnext) * s["m"]
        return p - self.lr * d / denom


class RAdamRef(Ref):
    def __init__(self, params, lr, b1, b2, eps, threshold):
        self.lr, self.b1, self.b2, self.eps, self.threshold = lr, b1, b2, eps, threshold
        super().__init__(params)

    def init_leaf(self, p):
        return {"m": np.zeros_like(p), "v": np.zeros_like(p)}

    def leaf(self, p, g, s, k):
        t, b1, b2 = self.t, self.b1, self.b2
        s["m"] = b1 * s["m"] + (1 - b1) * g
        s["v"] = b2 * s["v"] + (1 - b2) * g * g
        m_hat = s["m"] / (1 - b1**t)
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > self.threshold:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            v_hat = s["v"] / (1 - b2**t)
            return p - self.lr * r * m_hat / (np.sqrt(v_hat) + self.eps)
        return p - self.lr * m_hat


# (optimizer, reference) pairs with non-default hyperparameters.
CASES = {
    "sgd": (lambda: optzoo.sgd(0.05), lambda p: SGDRef(p, 0.05)),
    "sgd_full": (
        lambda: optzoo.sgd(0.03, momentum=0.7, nesterov=True, weight_decay=0.05),
        lambda p: SGDRef(p, 0.03, 0.7, True, 0.05),
    ),
    "momentum": (lambda: optzoo.momentum(0.02, beta=0.8), lambda p: SGDRef(p, 0.02, 0.8)),
    "nag": (
        lambda: optzoo.nag(0.02, beta=0.85, weight_decay=1e-2),
        lambda p: SGDRef(p, 0.02, 0.85, True, 1e-2),
    ),
    "adagrad": (
        lambda: optzoo.adagrad(0.3, initial_accumulator_value=0.5, eps=1e-3),
        lambda p: AdagradRef(p, 0.3, 0.5, 1e-3, True),
    ),
    "adagrad_eps_outside": (
        lambda: optzoo.adagrad(0.3, initial_accumulator_value=0.0, eps=1e-3, eps_in_sqrt=False),
        lambda p: AdagradRef(p, 0.3, 0.0, 1e-3, False),
    ),
    "adadelta": (
        lambda: optzoo.adadelta(0.7, rho=0.8, eps=1e-4),
        lambda p: AdadeltaRef(p, 0.7, 0.8, 1e-4),
    ),
    "rmsprop": (
        lambda: optzoo.rmsprop(0.01, decay=0.8, eps=1e-3, initial_scale=0.2),
        lambda p: RMSPropRef(p, 0.01, 0.8, 1e-3, 0.2, True, False, 0.0),
    ),
    "rmsprop_centered_momentum": (
        lambda: optzoo.rmsprop(0.01, 0.85, 1e-2, 0.5, eps_in_sqrt=False, centered=True, momentum=0.6),
        lambda p: RMSPropRef(p, 0.01, 0.85, 1e-2, 0.5, False, True, 0.6),
    ),
    "rmsprop_nesterov": (
        lambda: optzoo.rmsprop(0.01, 0.85, 1e-3, momentum=0.5, nesterov=True),
        lambda p: RMSPropRef(p, 0.01, 0.85, 1e-3, 0.0, True, False, 0.5, True),
    ),
    "adam": (
        lambda: optzoo.adam(0.02, b1=0.8, b2=0.95, eps=1e-4, eps_root=1e-6),
        lambda p: AdamRef(p, 0.02, 0.8, 0.95, 1e-4, 1e-6),
    ),
    "amsgrad": (
        lambda: optzoo.amsgrad(0.02, b1=0.7, b2=0.9, eps=1e-5),
        lambda p: AdamRef(p, 0.02, 0.7, 0.9, 1e-5, amsgrad=True),
    ),
    "adamw": (
        lambda: optzoo.adamw(0.02, b1=0.85, b2=0.98, eps=1e-6, weight_decay=0.1),
        lambda p: AdamRef(p, 0.02, 0.85, 0.98, 1e-6, wd=0.1),
    ),
    "adamw_masked": (
        lambda: optzoo.adamw(0.02, weight_decay=0.3, mask={"w": True, "b": False, "s": True}),
        lambda p: AdamRef(p, 0.02, 0.9, 0.999, 1e-8, wd=0.3, decay_keys={"w", "s"}),
    ),
    "adamax": (
        lambda: optzoo.adamax(0.01, b1=0.8, b2=0.95, eps=1e-4),
        lambda p: AdamaxRef(p, 0.01, 0.8, 0.95, 1e-4),
    ),
    "nadam": (
        lambda: optzoo.nadam(0.01, b1=0.85, b2=0.99, eps=1e-5, momentum_decay=0.01),
        lambda p: NadamRef(p, 0.01, 0.85, 0.99, 1e-5, 0.01),
    ),
    "nadam_constant_momentum": (
        lambda: optzoo.nadam(0.01, b1=0.85, b2=0.99, eps=1e-5, momentum_decay=None),
        lambda p: NadamRef(p, 0.01, 0.85, 0.99, 1e-5, None),
    ),
    "radam": (
        lambda: optzoo.radam(0.01, b1=0.85, b2=0.9, eps=1e-6, threshold=4.5),
        lambda p: RAdamRef(p, 0.01, 0.85, 0.9, 1e-6, 4.5),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_float64_reference(name):
    make_tx, make_ref = CASES[name]
    with x64():
        params = random_params(0, jnp.float64)
        grads = random_grads(params, STEPS, seed=hash(name) % 1000)
        history, _ = run_optimizer(make_tx(), params, grads)
        ref = make_ref(params)
        p_ref = {k: np.asarray(v) for k, v in params.items()}
        worst = 0.0
        for g, ours in zip(grads, history):
            p_ref = ref.step(p_ref, g)
            worst = max(worst, max_rel_err(ours, p_ref))
    assert worst <= 1e-10, f"{name}: max relative error {worst:.3e}"


# optzoo and optax implement the same semantics for these (see each docstring).
OPTAX_EQUAL = {
    "sgd": (lambda: optzoo.sgd(0.05, momentum=0.9, nesterov=True), lambda: optax.sgd(0.05, 0.9, nesterov=True)),
    "adagrad": (lambda: optzoo.adagrad(0.1, 0.2, 1e-6), lambda: optax.adagrad(0.1, 0.2, 1e-6)),
    "adadelta": (lambda: optzoo.adadelta(0.5, 0.9, 1e-5), lambda: optax.adadelta(0.5, 0.9, 1e-5)),
    "rmsprop": (
        lambda: optzoo.rmsprop(0.01, 0.8, 1e-4, 0.1, centered=True, momentum=0.5),
        lambda: optax.rmsprop(0.01, 0.8, 1e-4, 0.1, centered=True, momentum=0.5),
    ),
    "adam": (lambda: optzoo.adam(0.01, 0.8, 0.95, 1e-6), lambda: optax.adam(0.01, 0.8, 0.95, 1e-6)),
    "adamw": (
        lambda: optzoo.adamw(0.01, 0.8, 0.95, 1e-6, weight_decay=0.1),
        lambda: optax.adamw(0.01, 0.8, 0.95, 1e-6, weight_decay=0.1),
    ),
    "adamax": (lambda: optzoo.adamax(0.01, 0.8, 0.95, 1e-6), lambda: optax.adamax(0.01, 0.8, 0.95, 1e-6)),
    "nadam": (
        lambda: optzoo.nadam(0.01, 0.8, 0.95, 1e-6, momentum_decay=None),
        lambda: optax.nadam(0.01, 0.8, 0.95, 1e-6),
    ),
    "radam": (lambda: optzoo.radam(0.01, 0.8, 0.95, 1e-6), lambda: optax.radam(0.01, 0.8, 0.95, 1e-6)),
}


@pytest.mark.parametrize("name", sorted(OPTAX_EQUAL))
def test_equals_optax(name):
    ours, theirs = OPTAX_EQUAL[name]
    with x64():
        params = random_params(3, jnp.float64)
        grads = random_grads(params, STEPS, seed=4)
        a, _ = run_optimizer(ours(), params, grads)
        b, _ = run_optimizer(theirs(), params, grads)
    assert max_rel_err(a[-1], b[-1]) <= 1e-12


def test_amsgrad_differs_from_optax_as_documented():
    """optax keeps the max of the bias-corrected nu; optzoo (and torch) of the raw nu."""
    with x64():
        params = random_params(3, jnp.float64)
        grads = random_grads(params, 30, seed=5)
        ours, _ = run_optimizer(optzoo.amsgrad(0.01), params, grads)
        theirs, _ = run_optimizer(optax.amsgrad(0.01), params, grads)
    assert max_rel_err(ours[-1], theirs[-1]) > 1e-8


# ------------------------------------------------------------------------------ convergence
# (constructor, steps, tolerance on the loss) per problem: the budget each optimizer gets.

QUADRATIC = {
    "sgd": (lambda: optzoo.sgd(0.015), 500, 1e-6),
    "momentum": (lambda: optzoo.momentum(0.01, 0.9), 300, 1e-6),
    "nag": (lambda: optzoo.nag(0.01, 0.9), 300, 1e-6),
    "adagrad": (lambda: optzoo.adagrad(0.5), 300, 1e-6),
    "adadelta": (lambda: optzoo.adadelta(), 2000, 1e-6),
    "rmsprop": (lambda: optzoo.rmsprop(0.01, decay=0.99), 2000, 1e-6),
    "adam": (lambda: optzoo.adam(0.05), 500, 1e-6),
    "adamw": (lambda: optzoo.adamw(0.05, weight_decay=1e-3), 500, 1e-6),
    "adamax": (lambda: optzoo.adamax(0.05), 500, 1e-6),
    "nadam": (lambda: optzoo.nadam(0.05), 500, 1e-6),
    "amsgrad": (lambda: optzoo.amsgrad(0.05), 500, 1e-6),
    "radam": (lambda: optzoo.radam(0.05), 2000, 1e-6),
}

# Rosenbrock starts at loss 24.2 from (-1.2, 1). AdaDelta is known to crawl along the
# curved valley (its step grows only as fast as its running RMS of past steps), so its
# budget is "well into the valley", not the minimum. RAdam's un-rectified first steps are
# plain momentum SGD, which diverges on Rosenbrock's large early gradients above ~5e-3.
ROSENBROCK = {
    "sgd": (lambda: optzoo.sgd(1e-3), 5000, 1e-2),
    "momentum": (lambda: optzoo.momentum(2e-4, 0.95), 5000, 1e-4),
    "nag": (lambda: optzoo.nag(2e-4, 0.95), 5000, 1e-4),
    "adagrad": (lambda: optzoo.adagrad(0.5), 5000, 1e-4),
    "adadelta": (lambda: optzoo.adadelta(), 20000, 1.0),
    "rmsprop": (lambda: optzoo.rmsprop(1e-3), 5000, 1e-2),
    "adam": (lambda: optzoo.adam(0.02), 5000, 1e-6),
    "adamw": (lambda: optzoo.adamw(0.02, weight_decay=1e-5), 5000, 1e-6),
    "adamax": (lambda: optzoo.adamax(0.02), 5000, 1e-4),
    "nadam": (lambda: optzoo.nadam(0.01), 5000, 1e-5),
    "amsgrad": (lambda: optzoo.amsgrad(0.02), 8000, 1e-7),
    "radam": (lambda: optzoo.radam(5e-3), 20000, 1e-8),
}


def _minimise(problem, tx, steps):
    def body(carry, _):
        params, state = carry
        grads = jax.grad(problem.fn)(params)
        updates, state = tx.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    run = jax.jit(lambda p: jax.lax.scan(body, (p, tx.init(p)), None, length=steps)[0][0])
    return float(problem.fn(run(problem.init)))


@pytest.mark.parametrize("name", sorted(QUADRATIC))
def test_converges_on_ill_conditioned_quadratic(name):
    make, steps, tol = QUADRATIC[name]
    loss = _minimise(optzoo.problems.ill_conditioned_quadratic(100.0), make(), steps)
    assert loss < tol, f"{name}: loss {loss:.3e} after {steps} steps"


@pytest.mark.parametrize("name", sorted(ROSENBROCK))
def test_converges_on_rosenbrock(name):
    make, steps, tol = ROSENBROCK[name]
    loss = _minimise(optzoo.problems.rosenbrock(), make(), steps)
    assert loss < tol, f"{name}: loss {loss:.3e} after {steps} steps"


# --------------------------------------------------------------------- jit, schedules, optax


class JitAgreementTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.parameters(*sorted(CASES))
    def test_jit_and_no_jit_agree(self, name):
        tx = CASES[name][0]()
        params = random_params(1)
        grads = [jax.tree.map(jnp.asarray, g) for g in random_grads(params, 5, seed=2)]
        jnp_grads = [jax.tree.map(lambda x: x.astype(jnp.float32), g) for g in grads]
        update = self.variant(tx.update)
        state = tx.init(params)
        for g in jnp_grads:
            updates, state = update(g, state, params)
            params = optax.apply_updates(params, updates)
        expected, _ = run_optimizer(tx, random_params(1), grads, jit=False)
        chex.assert_trees_all_close(params, expected[-1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", ["sgd", "adagrad", "rmsprop", "adam", "nadam", "radam"])
def test_schedule_as_learning_rate(name):
    schedule = optax.cosine_decay_schedule(0.1, decay_steps=20)
    tx = getattr(optzoo, name)(schedule)
    const = getattr(optzoo, name)(1.0)
    params = random_params(2)
    s, c = tx.init(params), const.init(params)
    for step, g in enumerate(random_grads(params, 25, seed=3)):
        g = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g)
        u, s = jax.jit(tx.update)(g, s, params)
        u1, c = jax.jit(const.update)(g, c, params)
        expected = jax.tree.map(lambda x: x * schedule(step), u1)
        chex.assert_trees_all_close(u, expected, rtol=1e-5, atol=1e-8)


def test_chains_with_optax_clip_and_inject_hyperparams():
    tx = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.inject_hyperparams(optzoo.adamw)(learning_rate=0.01, weight_decay=0.1),
    )
    params = random_params(0)
    state = tx.init(params)
    step = jax.jit(tx.update)
    for g in random_grads(params, 3):
        g = jax.tree.map(lambda x: jnp.asarray(x * 100, jnp.float32), g)
        updates, state = step(g, state, params)
        params = optax.apply_updates(params, updates)
    hp = state[1].hyperparams
    assert float(hp["learning_rate"]) == pytest.approx(0.01)
    # Change a hyperparameter inside the state: the next update uses it, no retrace needed.
    state[1].hyperparams["learning_rate"] = jnp.asarray(0.0)
    updates, _ = step(g, state, params)
    assert all(float(jnp.max(jnp.abs(u))) == 0.0 for u in jax.tree.leaves(updates))


def test_clipping_blocks():
    g = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([0.0, 0.5])}
    out, _ = optzoo.clip_by_norm(1.0).update(g, optax.EmptyState())
    np.testing.assert_allclose(out["a"], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_allclose(out["b"], [0.0, 0.5])
    out, _ = optzoo.clip_by_value(0.4).update(g, optax.EmptyState())
    np.testing.assert_allclose(out["a"], [0.4, 0.4])
    out, _ = optzoo.clip_by_global_norm(1.0).update(g, optax.EmptyState())
    norm = math.sqrt(25.25)
    np.testing.assert_allclose(out["a"], np.array([3.0, 4.0]) / norm, rtol=1e-6)


# ------------------------------------------------------------------------------- validation

INVALID = [
    (lambda: optzoo.sgd(-0.1), "sgd: learning_rate must be in [0, inf), got -0.1"),
    (lambda: optzoo.sgd("fast"), "sgd: learning_rate must be a number in [0, inf) or a schedule step -> lr, got 'fast'"),
    (lambda: optzoo.sgd(0.1, momentum=1.5), "sgd: momentum must be in [0, 1], got 1.5"),
    (lambda: optzoo.sgd(0.1, nesterov=True), "sgd: momentum must be in (0, 1] when nesterov=True, got 0.0"),
    (lambda: optzoo.sgd(0.1, weight_decay=-1), "sgd: weight_decay must be in [0, inf), got -1"),
    (lambda: optzoo.sgd(0.1, nesterov="yes"), "sgd: nesterov must be a bool, got 'yes'"),
    (lambda: optzoo.momentum(0.1, beta=0.0), "momentum: beta must be in (0, 1], got 0.0"),
    (lambda: optzoo.nag(0.1, beta=2.0), "nag: beta must be in (0, 1], got 2.0"),
    (lambda: optzoo.adagrad(0.1, initial_accumulator_value=-1.0), "adagrad: initial_accumulator_value must be in [0, inf), got -1.0"),
    (lambda: optzoo.adagrad(0.1, eps=float("nan")), "adagrad: eps must be in [0, inf), got nan"),
    (lambda: optzoo.adadelta(rho=1.5), "adadelta: rho must be in [0, 1], got 1.5"),
    (lambda: optzoo.rmsprop(decay=-0.1), "rmsprop: decay must be in [0, 1], got -0.1"),
    (lambda: optzoo.rmsprop(momentum=3.0), "rmsprop: momentum must be in [0, 1], got 3.0"),
    (lambda: optzoo.adam(b1=1.2), "adam: b1 must be in [0, 1), got 1.2"),
    (lambda: optzoo.adam(b2=1.0), "adam: b2 must be in [0, 1), got 1.0"),
    (lambda: optzoo.adam(eps=-1e-8), "adam: eps must be in [0, inf), got -1e-08"),
    (lambda: optzoo.adamw(weight_decay=-0.1), "adamw: weight_decay must be in [0, inf), got -0.1"),
    (lambda: optzoo.amsgrad(b1=-0.5), "amsgrad: b1 must be in [0, 1), got -0.5"),
    (lambda: optzoo.adamax(b2=2), "adamax: b2 must be in [0, 1), got 2"),
    (lambda: optzoo.nadam(momentum_decay=-1.0), "nadam: momentum_decay must be in [0, inf), got -1.0"),
    (lambda: optzoo.radam(threshold=3.0), "radam: threshold must be in [4, inf), got 3.0"),
    (lambda: optzoo.clip_by_norm(0.0), "clip_by_norm: max_norm must be in (0, inf), got 0.0"),
    (lambda: optzoo.clip_by_value(-1.0), "clip_by_value: max_delta must be in [0, inf), got -1.0"),
    (lambda: optzoo.clip_by_global_norm(-1.0), "clip_by_global_norm: max_norm must be in (0, inf), got -1.0"),
]


@pytest.mark.parametrize("make,message", INVALID, ids=[m for _, m in INVALID])
def test_invalid_hyperparameters(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message


def test_traced_hyperparameters_are_not_checked():
    @jax.jit
    def build_and_step(b1):
        tx = optzoo.adam(0.1, b1=b1)
        p = jnp.ones(3)
        return tx.update(p, tx.init(p))[0]

    assert np.all(np.isfinite(build_and_step(0.5)))


def test_structure_mismatch_names_both_structures():
    tx = optzoo.adam(0.1)
    state = tx.init({"a": jnp.ones(2)})
    with pytest.raises(ValueError, match=r"gradients: .*'b'.*\n.*state: .*'a'"):
        tx.update({"b": jnp.ones(2)}, state)


def test_counter_saturates_at_int32_max():
    tx = optzoo.adam(0.1)
    p = jnp.ones(2)
    state = tx.init(p)
    adam_state = state[0]._replace(count=jnp.asarray(np.iinfo(np.int32).max, jnp.int32))
    updates, new = tx.update(p, (adam_state, state[1]))
    assert int(new[0].count) == np.iinfo(np.int32).max
    assert np.all(np.isfinite(updates))


# ------------------------------------------------------------------------------------- Flax


@pytest.mark.parametrize("name", ["sgd", "nag", "rmsprop", "adam", "adamw", "nadam"])
def test_flax_nnx_model_trains(name):
    from flax import nnx

    lrs = {"sgd": 0.1, "nag": 0.05, "rmsprop": 1e-2, "adam": 1e-2, "adamw": 1e-2, "nadam": 1e-2}

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(4, 16, rngs=rngs)
            self.l2 = nnx.Linear(16, 1, rngs=rngs)

        def __call__(self, x):
            return self.l2(jax.nn.tanh(self.l1(x)))

    key = jax.random.key(0)
    x = jax.random.normal(key, (64, 4))
    y = jnp.sin(x[:, :1]) + 0.5 * x[:, 1:2]
    model = MLP(nnx.Rngs(0))
    opt = nnx.Optimizer(model, getattr(optzoo, name)(lrs[name]), wrt=nnx.Param)

    @nnx.jit
    def step(model, opt):
        loss, grads = nnx.value_and_grad(lambda m: jnp.mean((m(x) - y) ** 2))(model)
        opt.update(model, grads)
        return loss

    first = float(step(model, opt))
    for _ in range(150):
        last = float(step(model, opt))
    assert last < 0.3 * first, f"{name}: loss {first:.4f} -> {last:.4f}"


@pytest.mark.parametrize(
    "make",
    [
        lambda: optax.inject_hyperparams(optzoo.sgd)(learning_rate=0.1, momentum=0.0, weight_decay=0.0),
        lambda: optax.inject_hyperparams(optzoo.rmsprop)(learning_rate=0.1, momentum=0.0),
        lambda: optax.inject_hyperparams(optzoo.adamw)(learning_rate=0.1, weight_decay=0.0),
    ],
)
def test_inject_hyperparams_with_zero_valued_options(make):
    """Zero-valued injected hyperparameters are arrays: the chain keeps the same blocks
    in init (concrete) and update (traced)."""
    tx = make()
    params = random_params(0)
    state = tx.init(params)
    updates, state = jax.jit(tx.update)(params, state, params)
    assert all(np.all(np.isfinite(u)) for u in jax.tree.leaves(updates))


# ------------------------------------------------- one Adam direction, shared by its users


def _adam_pair_errors(tx_a, tx_b, params, steps=25):
    """Largest relative difference of the outputs of two transformations fed the
    same gradients for ``steps`` steps."""
    sa, sb = tx_a.init(params), tx_b.init(params)
    worst = 0.0
    for i in range(steps):
        g = jax.tree.map(lambda p: jnp.cos(p * (i + 1.0)) * (1.0 + 0.1 * i), params)
        ua, sa = tx_a.update(g, sa, params)
        ub, sb = tx_b.update(g, sb, params)
        worst = max(worst, max_rel_err(ua, ub))
    return worst


@pytest.mark.parametrize("use_x64", [False, True])
def test_muon_adam_fallback_is_adam(use_x64):
    """Leaves that are not matrices take exactly scale_by_adam's direction
    (b1 = momentum, eps = adam_eps): the same code, so equal to rounding."""
    from optzoo import transforms as T

    with jax.enable_x64(use_x64):
        dtype = jnp.float64 if use_x64 else jnp.float32
        params = {"b": jnp.linspace(-1.0, 1.0, 7, dtype=dtype), "s": jnp.asarray(0.3, dtype)}
        muon = T.scale_by_muon(0.9, b2=0.99, adam_eps=1e-6)
        adam = T.scale_by_adam(0.9, 0.99, 1e-6)
        assert _adam_pair_errors(muon, adam, params) < (1e-14 if use_x64 else 1e-6)


@pytest.mark.parametrize("use_x64", [False, True])
def test_sparse_adam_on_touched_rows_is_adam(use_x64):
    """With every row touched, lazy Adam is Adam: the paper's form (eps_hat=False)
    and PyTorch's (eps_hat=True, Adam with the bias corrections folded)."""
    from optzoo import transforms as T

    with jax.enable_x64(use_x64):
        dtype = jnp.float64 if use_x64 else jnp.float32
        params = {"e": jnp.linspace(0.5, 2.0, 12, dtype=dtype).reshape(4, 3)}
        tol = 1e-14 if use_x64 else 1e-6
        for eps_hat, fold in ((False, False), (True, True)):
            sparse = T.scale_by_sparse_adam(0.8, 0.95, 1e-6, eps_hat=eps_hat)
            adam = T.scale_by_adam(0.8, 0.95, 1e-6, fold_bias_correction=fold)
            assert _adam_pair_errors(sparse, adam, params) < tol
