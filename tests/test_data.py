"""optzoo.data.batches: batch, mini-batch and stochastic GD one argument apart."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optzoo
from optzoo.data import batches, num_batches

X = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
Y = np.arange(10)


@pytest.mark.parametrize("batch_size,drop,expected", [(None, True, [10]), (4, True, [4, 4]),
                                                      (4, False, [4, 4, 2]), (1, True, [1] * 10)])
def test_batch_sizes(batch_size, drop, expected):
    out = list(batches(None, (X, Y), batch_size, drop_remainder=drop))
    assert [len(y) for _, y in out] == expected
    assert num_batches(10, batch_size, drop) == len(expected)


def test_shuffled_epoch_is_a_permutation_and_pairs_stay_together():
    out = list(batches(jax.random.key(0), {"x": X, "y": Y}, 5))
    labels = np.concatenate([np.asarray(b["y"]) for b in out])
    assert sorted(labels.tolist()) == list(range(10))
    assert labels.tolist() != list(range(10))  # shuffled
    for b in out:
        np.testing.assert_array_equal(np.asarray(b["x"]), X[np.asarray(b["y"])])


def test_same_key_same_order_and_no_key_keeps_order():
    a = [np.asarray(y) for _, y in batches(jax.random.key(3), (X, Y), 3)]
    b = [np.asarray(y) for _, y in batches(jax.random.key(3), (X, Y), 3)]
    assert all((u == v).all() for u, v in zip(a, b))
    ordered = np.concatenate([np.asarray(y) for _, y in batches(None, (X, Y), 5)])
    assert ordered.tolist() == list(range(10))


def test_full_batch_sgd_equals_batch_gradient_descent():
    """One epoch with batch_size=None is one step on the whole-data gradient."""
    w0 = jnp.zeros(3)
    loss = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
    tx = optzoo.sgd(1e-3)
    state = tx.init(w0)
    (batch,) = list(batches(jax.random.key(0), (X, Y.astype(np.float32)), None))
    updates, _ = tx.update(jax.grad(loss)(w0, batch), state)
    full = jax.grad(loss)(w0, (jnp.asarray(X), jnp.asarray(Y, jnp.float32)))
    np.testing.assert_allclose(updates, -1e-3 * full, rtol=1e-6)


def test_every_full_batch_has_the_same_shape():
    shapes = {tuple(b[0].shape) for b in batches(jax.random.key(1), (X, Y), 3)}
    assert shapes == {(3, 3)}


@pytest.mark.parametrize("args,message", [
    (((X, Y), 0), "batches: batch_size must be in [1, 10], got 0"),
    (((X, Y), 11), "batches: batch_size must be in [1, 10], got 11"),
    (((X, Y), 2.5), "batches: batch_size must be an integer in [1, 10], got 2.5"),
    (((X, Y[:5]), 2), "batches: every array must share the same leading (example) dimension"),
    (({}, 2), "batches: arrays must hold at least one array"),
])
def test_invalid_input(args, message):
    with pytest.raises(ValueError) as info:
        list(batches(None, *args))
    assert str(info.value).startswith(message)
