"""Focused checks of the pytorch-optimizer ports beyond the parity file: the
special cases that reduce to other optimizers, and the reference quirks kept."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from tests.helpers import x64


def _run(tx, steps=30, seed=0):
    """``steps`` updates on a small quadratic; the params after each."""
    rng = np.random.default_rng(seed)
    params = {"w": jnp.asarray(rng.normal(size=(3, 4))), "b": jnp.asarray(rng.normal(size=(4,)))}
    target = jax.tree.map(lambda p: 0.3 * p + 0.1, params)
    state, out = tx.init(params), []
    for _ in range(steps):
        grads = jax.tree.map(lambda p, t: 2.0 * (p - t) ** 3 + (p - t), params, target)
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        out.append(params)
    return out


def _close(a, b, rtol):
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_allclose(x[k], y[k], rtol=rtol, atol=rtol)


def test_sign_sgd_is_optax_signum_and_sign_sgd():
    with x64():
        _close(_run(optzoo.sign_sgd(0.01, momentum=0.8)), _run(optax.signum(0.01, beta=0.8)), 0)
        _close(_run(optzoo.sign_sgd(0.01, momentum=0.0)), _run(optax.sign_sgd(0.01)), 0)
        # a plain zero momentum keeps no state; an injected one keeps Lion's
        assert optzoo.sign_sgd(momentum=0.0).init({"w": jnp.ones(3)}) == (
            optax.EmptyState(), optax.EmptyState())


def test_tiger_is_lion_with_one_beta():
    with x64():
        _close(_run(optzoo.tiger(0.01, beta=0.9, weight_decay=0.02)),
               _run(optzoo.lion(0.01, b1=0.9, b2=0.9, weight_decay=0.02)), 1e-15)


def test_qhadam_with_unit_nus_is_adam_up_to_float32_weights():
    """``nu1 = nu2 = 1`` is Adam; the reference's float32 weight sums move it by
    float32 rounding only."""
    with x64():
        ours = _run(optzoo.qhadam(0.01, b1=0.9, b2=0.99))
        _close(ours, _run(optzoo.adam(0.01, b1=0.9, b2=0.99)), 1e-6)
        with pytest.raises(AssertionError):
            _close(ours, _run(optzoo.adam(0.01, b1=0.9, b2=0.99)), 1e-12)


def test_adamp_coupled_decay_has_no_effect_and_vectors_are_not_projected():
    with x64():
        _close(_run(optzoo.adamp(0.01, weight_decay=0.5, weight_decouple=False, delta=3.0)),
               _run(optzoo.adamp(0.01, delta=3.0)), 0)
        # 1-D leaves: Adam with eps on the raw root (fold_bias_correction)
        vec = {"b": jnp.linspace(-1.0, 1.0, 5)}
        g = {"b": jnp.linspace(0.5, -0.2, 5)}
        tx, adam = optzoo.adamp(0.01, delta=3.0), optax.chain(
            optzoo.transforms.scale_by_adam(fold_bias_correction=True), optax.scale(-0.01))
        u1, _ = tx.update(g, tx.init(vec), vec)
        u2, _ = adam.update(g, adam.init(vec), vec)
        np.testing.assert_allclose(u1["b"], u2["b"], rtol=1e-15)


def test_adamp_projection_removes_the_radial_part():
    """With ``delta`` large every matrix is projected per output channel: the step
    is orthogonal to each row of the params (up to the ``eps`` in the norm)."""
    from optzoo.transforms.adamp import projection

    with x64():
        rng = np.random.default_rng(1)
        p, g, u = (jnp.asarray(rng.normal(size=(3, 4))) for _ in range(3))
        out, ratio = projection(p, g, u, delta=3.0, wd_ratio=0.1, eps=1e-8)
        np.testing.assert_allclose(jnp.sum(out * p, axis=1), 0.0, atol=1e-7)
        assert float(ratio) == 0.1
        out, ratio = projection(p, g, u, delta=0.0, wd_ratio=0.1, eps=1e-8)
        np.testing.assert_array_equal(out, u)
        assert float(ratio) == 1.0


def test_adabound_clips_into_bounds_that_close_in_on_final_lr():
    """Late in training the per-coordinate rate is ``final_lr`` within the bounds'
    width ``final_lr / (gamma t)``."""
    with x64():
        tx = optzoo.adabound(1.0, final_lr=0.05, gamma=1.0)
        params = {"w": jnp.ones(4)}
        state = tx.init(params)
        for _ in range(200):
            g = {"w": jnp.array([1e-3, 1.0, -1e3, 0.5])}
            u, state = tx.update(g, state, params)
        rate = -u["w"] / state[0].mu["w"]
        np.testing.assert_allclose(rate, 0.05, rtol=1.0 / 200)
