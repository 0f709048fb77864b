"""monitor_gradients and gradient_report."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optzoo.transforms.monitor import MonitorState, gradient_report, monitor_gradients
from tests.helpers import max_rel_err, random_grads, random_params, x64

DEPTH, WIDTH = 10, 32


def _mlp_grads(activation, init_gain, seed=0):
    """Gradient of an MSE loss of a DEPTH-layer MLP at its initialisation."""
    rng = np.random.default_rng(seed)
    params = {
        f"layer{i:02d}": {
            "w": jnp.asarray(
                rng.normal(size=(WIDTH, WIDTH)) * np.sqrt(init_gain / WIDTH), jnp.float32
            ),
            "b": jnp.zeros(WIDTH, jnp.float32),
        }
        for i in range(DEPTH)
    }
    x = jnp.asarray(rng.normal(size=(64, WIDTH)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(64, WIDTH)), jnp.float32)

    def loss(p):
        h = x
        for i in range(DEPTH):
            h = h @ p[f"layer{i:02d}"]["w"] + p[f"layer{i:02d}"]["b"]
            if i < DEPTH - 1:
                h = activation(h)
        return jnp.mean((h - y) ** 2)

    return params, jax.jit(jax.grad(loss))(params)


def _weight_norms(state):
    return np.array([float(state.norm[f"layer{i:02d}"]["w"]) for i in range(DEPTH)])


def test_deep_sigmoid_net_vanishes_relu_does_not():
    tx = optax.chain(monitor_gradients(), optax.sgd(0.1))
    # sigmoid with Xavier-like init (gain 1): sigma' <= 1/4 per layer
    params, grads = _mlp_grads(jax.nn.sigmoid, 1.0)
    _, state = tx.update(grads, tx.init(params), params)
    mon = state[0]
    norms = _weight_norms(mon)
    assert norms[0] < 1e-4 * norms[-1]  # first layer orders of magnitude below the last
    assert np.all(np.diff(np.log(norms[:-1])) > 0)  # growing towards the output
    assert bool(mon.vanishing["layer00"]["w"]) and bool(mon.vanishing["layer01"]["w"])
    assert not bool(mon.vanishing["layer09"]["w"])
    report = gradient_report(state)
    assert "['layer00']['w']" in report and "VANISHING" in report
    # ReLU with He init (gain 2) keeps the gradient scale through depth
    params, grads = _mlp_grads(jax.nn.relu, 2.0)
    _, state = tx.update(grads, tx.init(params), params)
    mon = state[0]
    norms = _weight_norms(mon)
    assert norms.min() > 0.05 * norms.max()
    assert not any(jax.tree.leaves(mon.vanishing)) and not any(jax.tree.leaves(mon.exploding))
    assert "0 vanishing, 0 exploding" in gradient_report(state)


def test_statistics_match_numpy_and_updates_pass_through():
    with x64():
        params = random_params(dtype=jnp.float64)
        grads = random_grads(params, 55, seed=4, scale=2.0)
        tx = monitor_gradients(
            vanishing_ratio=0.2, vanishing_threshold=1e-3, exploding_threshold=9.0
        )
        state = tx.init(params)
        upd = jax.jit(tx.update)
        norms = {k: [] for k in params}
        for g in grads:
            g = jax.tree.map(jnp.asarray, g)
            out, state = upd(g, state, params)
            assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.all(a == b)), out, g))
            for k in params:
                norms[k].append(np.sqrt(np.sum(np.asarray(g[k]) ** 2)))
        top = max(norms[k][-1] for k in params)
        for k in params:
            n = np.array(norms[k])
            assert max_rel_err(state.norm[k], n[-1]) <= 1e-12
            assert max_rel_err(state.mean[k], n.mean()) <= 1e-12
            assert max_rel_err(state.max[k], n.max()) <= 1e-12
            assert bool(state.vanishing[k]) == bool(n[-1] < max(1e-3, 0.2 * top))
            assert bool(state.exploding[k]) == bool(n[-1] > 9.0)
        assert int(state.count) == 55


def test_exploding_and_nonfinite_are_flagged():
    params = {"a": jnp.ones(3), "b": jnp.ones(2)}
    tx = monitor_gradients(exploding_threshold=10.0)
    _, st = tx.update({"a": jnp.full(3, 100.0), "b": jnp.array([jnp.nan, 1.0])}, tx.init(params))
    assert bool(st.exploding["a"]) and bool(st.exploding["b"])
    assert "2 exploding" in gradient_report(st)


def test_jit_equals_no_jit_and_float32_state():
    params = random_params()
    grads = [
        jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g) for g in random_grads(params, 5)
    ]
    tx = monitor_gradients()
    a = b = tx.init(params)
    for g in grads:
        _, a = jax.jit(tx.update)(g, a)
        _, b = tx.update(g, b)
    assert max_rel_err(a.mean, b.mean) <= 1e-6
    assert jax.tree.leaves(a.norm)[0].dtype == jnp.float32


def test_report_finds_state_inside_wrappers():
    params = random_params()
    everything = lambda p: jax.tree.map(lambda _: True, p)  # noqa: E731
    tx = optax.chain(optax.clip(1.0), optax.masked(monitor_gradients(), everything))
    st = tx.init(params)
    report = gradient_report(st)
    assert "gradient report after 0 steps" in report
    with pytest.raises(ValueError, match="no monitor_gradients state"):
        gradient_report(optax.sgd(0.1).init(params))
    assert isinstance(monitor_gradients().init(params), MonitorState)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(vanishing_ratio=1.5), "vanishing_ratio must be in [0, 1], got 1.5"),
        (dict(vanishing_threshold=-1.0), "vanishing_threshold must be in [0, inf), got -1.0"),
        (dict(exploding_threshold=0.0), "exploding_threshold must be in (0, inf), got 0.0"),
    ],
)
def test_invalid_hyperparameters(kwargs, message):
    with pytest.raises(ValueError) as e:
        monitor_gradients(**kwargs)
    assert str(e.value).startswith("monitor_gradients: ") and message in str(e.value)


def test_structure_mismatch():
    tx = monitor_gradients()
    with pytest.raises(ValueError, match="gradient structure does not match"):
        tx.update({"z": jnp.ones(2)}, tx.init({"a": jnp.ones(2)}))
