"""The character-level language model problem: data, model and loss."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from optzoo.problems import charlm as C


@pytest.fixture(scope="module")
def data():
    return C.load_stdlib_text(max_chars=200_000)


def test_text_is_the_stdlib_docstrings_in_the_vocabulary(data):
    assert len(C.VOCAB) == 96 and C.VOCAB[0] == "\n"
    text = "".join(C.VOCAB[i] for i in data.train[:60])
    assert text.startswith("Abstract Base Classes")  # abc's module docstring
    assert data.train.dtype == np.int32 and data.train.max() < 96
    assert len(data.test) == pytest.approx(0.1 * (len(data.train) + len(data.test)), abs=1)
    again = C.load_stdlib_text(max_chars=200_000)
    np.testing.assert_array_equal(again.train, data.train)


def test_batches_are_shifted_windows(data):
    x, y = next(C.lm_batches(data.train, batch_size=4, context=16, seed=3))
    assert x.shape == y.shape == (4, 16)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    ex, ey = C.lm_eval_windows(data.test, count=8, context=16)
    assert ex.shape == (8, 16) and np.array_equal(ex[:, 1:], ey[:, :-1])


def test_model_is_causal_and_starts_at_chance(data):
    apply, params = C.transformer_lm(context=16, d_model=32, layers=1, heads=2)
    x, y = next(C.lm_batches(data.train, batch_size=2, context=16))
    logits = apply(params, x)
    assert logits.shape == (2, 16, 96)
    changed = x.copy()
    changed[:, -1] = (changed[:, -1] + 1) % 96  # only the last position's input differs
    np.testing.assert_allclose(apply(params, changed)[:, :-1], logits[:, :-1], atol=1e-6)
    assert float(C.lm_loss(apply)(params, (x, y))) == pytest.approx(math.log(96), abs=0.15)
    with pytest.raises(ValueError, match="d_model .* multiple of heads"):
        C.transformer_lm(d_model=30, heads=4)


def test_a_few_adam_steps_lower_the_held_out_loss(data):
    apply, params = C.transformer_lm(context=16, d_model=32, layers=1, heads=2)
    loss = C.lm_loss(apply)
    tx = optzoo.adam(1e-2)
    state = tx.init(params)

    @jax.jit
    def step(p, s, batch):
        g = jax.grad(loss)(p, batch)
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    held_out = C.lm_eval_windows(data.test, count=16, context=16)
    before = float(loss(params, held_out))
    batches = C.lm_batches(data.train, batch_size=16, context=16)
    for _ in range(60):
        params, state = step(params, state, next(batches))
    assert float(loss(params, held_out)) < before - 1.0
    assert all(jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(params))
