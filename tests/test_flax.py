"""optzoo inside Flax: NNX ``nnx.Optimizer`` and Linen ``TrainState``, with schedules.

The reference for each run is the same training written with optax's own
optimizer of the same algorithm (where optax's semantics match), so optzoo must
plug into Flax without changing a number.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen, nnx
from flax.training import train_state

import optzoo

X = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
Y = (np.sin(X @ np.array([1.0, -2.0, 0.5, 1.5])) > 0).astype(np.int32)

SCHED = optax.warmup_cosine_decay_schedule(0.0, 0.05, 5, 40)

# optzoo optimizer, optax optimizer of the same algorithm (same hyperparameters)
PAIRS = {
    "adam": (lambda lr: optzoo.adam(lr), lambda lr: optax.adam(lr)),
    "adamw": (lambda lr: optzoo.adamw(lr, weight_decay=1e-2), lambda lr: optax.adamw(lr, weight_decay=1e-2)),
    "momentum": (lambda lr: optzoo.momentum(lr, 0.9), lambda lr: optax.sgd(lr, momentum=0.9)),
    "rmsprop": (lambda lr: optzoo.rmsprop(lr), lambda lr: optax.rmsprop(lr)),
    "nadam": (lambda lr: optzoo.nadam(lr, momentum_decay=None), lambda lr: optax.nadam(lr)),
    "adagrad": (lambda lr: optzoo.adagrad(lr), lambda lr: optax.adagrad(lr)),
}


class NnxNet(nnx.Module):
    def __init__(self, rngs):
        self.l1 = nnx.Linear(4, 16, rngs=rngs)
        self.l2 = nnx.Linear(16, 2, rngs=rngs)

    def __call__(self, x):
        return self.l2(nnx.tanh(self.l1(x)))


def _nnx_loss(model, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


def _train_nnx(tx, steps=40):
    model = NnxNet(nnx.Rngs(0))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)

    @nnx.jit
    def step(model, opt, x, y):
        loss, grads = nnx.value_and_grad(_nnx_loss)(model, x, y)
        opt.update(model, grads)
        return loss

    losses = [float(step(model, opt, X, Y)) for _ in range(steps)]
    return model, losses


@pytest.mark.parametrize("name", ["adamw", "momentum", "nadam"])
def test_nnx_optimizer_with_schedule_matches_optax(name):
    ours, theirs = PAIRS[name]
    model, losses = _train_nnx(ours(SCHED))
    ref, ref_losses = _train_nnx(theirs(SCHED))
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(model.l1.kernel[...], ref.l1.kernel[...], rtol=1e-4, atol=1e-6)


def test_nnx_with_optzoo_schedule_and_inject_hyperparams():
    sched = optzoo.schedules.cosine_decay(0.05, 40, 1e-3)
    tx = optax.inject_hyperparams(optzoo.amsgrad)(learning_rate=sched)
    model, losses = _train_nnx(tx)
    assert losses[-1] < 0.8 * losses[0]


class LinenNet(linen.Module):
    @linen.compact
    def __call__(self, x):
        return linen.Dense(2)(linen.tanh(linen.Dense(16)(x)))


def _train_linen(tx, steps=40):
    net = LinenNet()
    params = net.init(jax.random.key(0), X)["params"]
    state = train_state.TrainState.create(apply_fn=net.apply, params=params, tx=tx)

    @jax.jit
    def step(state):
        def loss_fn(p):
            logits = state.apply_fn({"params": p}, X)
            return optax.softmax_cross_entropy_with_integer_labels(logits, Y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        return state.apply_gradients(grads=grads), loss

    losses = []
    for _ in range(steps):
        state, loss = step(state)
        losses.append(float(loss))
    return state, losses


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_linen_train_state_with_schedule_matches_optax(name):
    ours, theirs = PAIRS[name]
    state, losses = _train_linen(ours(SCHED))
    ref, ref_losses = _train_linen(theirs(SCHED))
    assert int(state.step) == 40 and losses[-1] < losses[0]
    np.testing.assert_allclose(losses, ref_losses, rtol=2e-5, atol=1e-6)
    for a, b in zip(jax.tree.leaves(state.params), jax.tree.leaves(ref.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_linen_with_optzoo_schedule_and_chain():
    tx = optax.chain(optzoo.clip_by_global_norm(1.0), optzoo.adadelta(optzoo.schedules.cosine_decay(1.0, 40)))
    state, losses = _train_linen(tx)
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
