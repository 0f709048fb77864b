"""Focused checks of Defazio's optimizers beyond the reference parity
(tests/parity/test_reference_defazio.py): schedule-free's evaluation params and
the paper's three sequences, and the edge cases the references handle by skipping."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from tests.helpers import x64


def _params():
    rng = np.random.default_rng(0)
    return {"w": jnp.asarray(rng.normal(size=(3, 2))), "b": jnp.asarray(rng.normal(size=(2,)))}


def _loss(p):
    return jnp.sum((p["w"] - 0.3) ** 2) + jnp.sum(jnp.sin(p["b"]))


def _run(tx, params, steps):
    state = tx.init(params)
    for _ in range(steps):
        updates, state = tx.update(jax.grad(_loss)(params), state, params)
        params = optax.apply_updates(params, updates)
    return params, state


@pytest.mark.parametrize("make", [optzoo.schedule_free_adamw, optzoo.schedule_free_sgd,
                                  optzoo.schedule_free_radam])
def test_schedule_free_eval_params_before_any_update_are_the_params(make):
    params = _params()
    state = make().init(params)
    x = optzoo.schedule_free_eval_params(state, params)
    for k in params:
        np.testing.assert_array_equal(x[k], params[k])


def test_schedule_free_sgd_follows_the_papers_three_sequences():
    """Defazio et al. (2024), Eq. 1-3 with c_{t+1} = 1/(t+1) (r = 0, weight_lr_power = 0):
    y_t = (1-b) z_t + b x_t, z_{t+1} = z_t - lr g(y_t), x_{t+1} = (1-c) x_t + c z_{t+1}."""
    lr, b = 0.1, 0.8
    with x64():
        params = _params()
        tx = optzoo.schedule_free_sgd(lr, momentum=b, weight_lr_power=0.0)
        state = tx.init(params)
        x = z = y = params
        for t in range(1, 21):
            g = jax.grad(_loss)(y)
            z = jax.tree.map(lambda z, g: z - lr * g, z, g)
            x = jax.tree.map(lambda x, z: (1 - 1 / t) * x + z / t, x, z)
            y = jax.tree.map(lambda x, z: (1 - b) * z + b * x, x, z)
            updates, state = tx.update(g, state, params)
            params = optax.apply_updates(params, updates)
            x_opt = optzoo.schedule_free_eval_params(state, params)
            for k in params:
                np.testing.assert_allclose(params[k], y[k], rtol=1e-12, atol=1e-12)
                np.testing.assert_allclose(x_opt[k], x[k], rtol=1e-12, atol=1e-12)


def test_schedule_free_eval_params_inside_a_chain_and_without_one():
    params = _params()
    tx = optax.chain(optax.clip_by_global_norm(1.0), optzoo.schedule_free_adamw(0.01))
    _, state = _run(tx, params, 3)
    assert jax.tree.structure(optzoo.schedule_free_eval_params(state, params)) == \
        jax.tree.structure(params)
    with pytest.raises(ValueError, match="expected one ScheduleFreeState"):
        optzoo.schedule_free_eval_params(optzoo.adam(0.1).init(params), params)


def test_schedule_free_radam_silent_phase_leaves_the_params():
    """rho_t <= 4 for the first 4 steps at b2 = 0.999: lr_k = 0, nothing moves."""
    params = _params()
    moved, _ = _run(optzoo.schedule_free_radam(0.1), params, 4)
    for k in params:
        np.testing.assert_array_equal(moved[k], params[k])
    moved, _ = _run(optzoo.schedule_free_radam(0.1), params, 5)
    assert not np.allclose(moved["w"], params["w"])


def test_prodigy_zero_gradient_step_is_skipped_as_the_reference_does():
    """sum |s| = 0: the reference returns before d and k change (moments keep their
    decay); a zero learning rate skips the whole step."""
    from optzoo.transforms.prodigy import ProdigyState

    params = _params()
    tx = optzoo.prodigy(1.0, d0=1e-3)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, new = tx.update(zeros, state, params)
    assert isinstance(new, ProdigyState)
    assert int(new.k) == 0 and int(new.count) == 1 and float(new.d) == float(state.d)
    assert all(float(jnp.max(jnp.abs(u))) == 0.0 for u in jax.tree.leaves(updates))
    tx = optzoo.prodigy(lambda count: 0.0 * count)
    updates, new = tx.update(jax.grad(_loss)(params), tx.init(params), params)
    assert int(new.k) == 0 and all(float(jnp.max(jnp.abs(x))) == 0.0
                                   for x in jax.tree.leaves((updates, new.nu, new.s)))


def test_madgrad_eps_zero_momentum_zero_stays_finite():
    """The reference recomputes x0 = p + s / (grad_sum_sq^(1/3) + eps) without its
    zero-root guard, so eps = 0 and momentum = 0 give 0/0 = NaN at the first step;
    optzoo takes x0 = p there."""
    params = _params()
    moved, _ = _run(optzoo.madgrad(0.01, momentum=0.0, eps=0.0), params, 3)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(moved))
    assert not np.allclose(moved["w"], params["w"])


@pytest.mark.parametrize("make", [optzoo.dadapt_adam, optzoo.dadapt_sgd, optzoo.dadapt_adagrad])
def test_dadapt_zero_gradient_step_is_skipped(make):
    """All-zero gradients: no progress measure, so d stays d0 and nothing moves (the
    reference returns early; DAdaptSGD divides by the zero first-gradient norm)."""
    params = _params()
    tx = make(d0=1e-3)
    state = tx.init(params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, new = tx.update(zeros, state, params)
    assert float(new.d) == float(state.d)
    assert all(bool(jnp.all(u == 0)) for u in jax.tree.leaves(updates))
    moved, _ = _run(tx, params, 3)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(moved))


def test_schedule_free_eval_params_under_inject_hyperparams():
    """The state keeps b1, so an injected (traced) b1 still gives the right x."""
    with x64():
        params = _params()
        plain = optzoo.schedule_free_adamw(0.02, b1=0.8)
        injected = optax.inject_hyperparams(
            optzoo.schedule_free_adamw, static_args=("warmup_steps",))(learning_rate=0.02, b1=0.8)
        y_plain, s_plain = _run(plain, params, 3)
        y_inj, s_inj = _run(injected, params, 3)
        x_plain = optzoo.schedule_free_eval_params(s_plain, y_plain)
        x_inj = optzoo.schedule_free_eval_params(s_inj, y_inj)
    for k in params:
        np.testing.assert_allclose(x_inj[k], x_plain[k], rtol=1e-12)
        assert not np.allclose(x_plain[k], y_plain[k])
