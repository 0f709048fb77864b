"""The Adam-like optimizers ported from pytorch-optimizer (tests/parity/ checks them
against it) against optax where optax has the same algorithm, and their edge steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import pytest

import optzoo
from tests.helpers import max_rel_err, x64

STEPS = 40


def _run(tx, steps=STEPS):
    with x64():
        params = {"w": jnp.linspace(-1.0, 2.0, 6).reshape(2, 3), "b": jnp.array([0.5, -0.3])}
        def loss(p):
            return sum(jnp.sum((x - 0.1) ** 4 + x**2) for x in jax.tree.leaves(p))

        state = tx.init(params)
        out = []
        for _ in range(steps):
            updates, state = tx.update(jax.grad(loss)(params), state, params)
            params = optax.apply_updates(params, updates)
            out.append(params)
        return out


def _assert_same(a, b, tol=1e-12):
    for x, y in zip(a, b):
        assert max_rel_err(x, y) <= tol


def test_yogi_equals_optax():
    kw = dict(learning_rate=0.05, b1=0.8, b2=0.99, eps=1e-4)
    _assert_same(_run(optzoo.yogi(**kw)), _run(optax.yogi(**kw)))


@pytest.mark.parametrize("warmup", [None, 15.0])
def test_ademamix_equals_optax_contrib(warmup):
    import math

    b1, b3, alpha, wd = 0.85, 0.99, 3.0, 0.02
    ours = optzoo.ademamix(0.02, b1=b1, b2=0.95, b3=b3, alpha=alpha, t_alpha_beta3=warmup,
                           weight_decay=wd, weight_decouple=True)
    if warmup is None:
        a_s, b3_s = alpha, b3
    else:  # optax's schedules see the 0-based count
        def a_s(c):
            return jnp.minimum((c + 1) * alpha / warmup, alpha)

        def b3_s(c):
            s = (c + 1) / warmup
            lb1, lb3 = math.log(b1), math.log(b3)
            return jnp.minimum(jnp.exp(lb1 * lb3 / ((1 - s) * lb3 + s * lb1)), b3)
    theirs = optax.contrib.ademamix(0.02, b1=b1, b2=0.95, b3=b3_s, alpha=a_s, weight_decay=wd)
    _assert_same(_run(ours), _run(theirs))


def test_adopt_first_step_moves_only_by_decay():
    with x64():
        params = {"w": jnp.array([1.0, -2.0])}
        grads = {"w": jnp.array([0.3, 0.4])}
        tx = optzoo.adopt(0.1, weight_decay=0.5, weight_decouple=True)
        updates, state = tx.update(grads, tx.init(params), params)
        assert jnp.allclose(updates["w"], -0.1 * 0.5 * params["w"])
        assert jnp.allclose(state[0].nu["w"], grads["w"] ** 2)


def test_laprop_constant_rate_is_bias_corrected_momentum_of_normalized_gradient():
    """With a constant rate, LaProp's lr-EMA correction is 1 - b1^t."""
    b1, b2, lr = 0.8, 0.9, 0.05
    with x64():
        params = {"w": jnp.array([1.0, -2.0, 0.5])}
        tx = optzoo.laprop(lr, b1=b1, b2=b2)
        state = tx.init(params)
        mu = nu = jnp.zeros(3)
        for t in range(1, 6):
            g = 2.0 * params["w"] + t
            updates, state = tx.update({"w": g}, state, params)
            nu = b2 * nu + (1 - b2) * g**2
            den = (jnp.sqrt(nu + 1e-15) + 1e-15) / jnp.sqrt(1 - b2**t)
            mu = b1 * mu + (1 - b1) * g / den
            assert jnp.allclose(updates["w"], -lr * mu / (1 - b1**t), rtol=1e-12)
            params = optax.apply_updates(params, updates)


def test_mars_shampoo_default_bfloat16_runs():
    params = _run(optzoo.mars(0.01, mars_type="shampoo"), steps=5)[-1]
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))
