"""Handwritten digits: a small real classification task that needs no download.

scikit-learn's bundled 8x8 digits (1797 images of 0-9, UCI ML hand-written digits
test set), pixels scaled to [0, 1], split once into a training and a held-out test
set (stratified, fixed seed). The model is a Flax NNX multi-layer perceptron.

    data = optzoo.problems.load_digits()
    model = optzoo.problems.MLP(rngs=nnx.Rngs(0))
    loss = optzoo.problems.digits_loss(model, (data.x_train, data.y_train))

Needs scikit-learn and Flax (``pip install optzoo[test]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

__all__ = ["DigitsData", "MLP", "load_digits", "digits_loss", "digits_accuracy", "functional_mlp"]


class DigitsData(NamedTuple):
    """Training and held-out test arrays (NumPy): images flattened to 64 features."""

    x_train: np.ndarray  # (n_train, 64) float32 in [0, 1]
    y_train: np.ndarray  # (n_train,) int32 labels 0..9
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> DigitsData:
    """The 8x8 digits, pixels divided by 16, split into train / test.

    The split is stratified by label and fixed by ``seed``; with the default 0.2,
    1437 training and 360 test images.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    from sklearn.datasets import load_digits as _sk_load
    from sklearn.model_selection import train_test_split

    bunch = _sk_load()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return DigitsData(x_tr, y_tr, x_te, y_te)


class MLP(nnx.Module):
    """``64 -> hidden... -> 10`` perceptron with ``activation`` between layers.

    The default, one hidden layer of 64 ReLU units, reaches about 97% test
    accuracy on the digits within a few hundred Adam steps.
    """

    def __init__(
        self,
        hidden: Sequence[int] = (64,),
        *,
        activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
        in_features: int = 64,
        num_classes: int = 10,
        rngs: nnx.Rngs,
    ):
        sizes = [in_features, *hidden, num_classes]
        self.layers = nnx.List(
            [nnx.Linear(a, b, rngs=rngs) for a, b in zip(sizes[:-1], sizes[1:])]
        )
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


def digits_loss(model: Callable[[jax.Array], jax.Array], batch) -> jax.Array:
    """Mean softmax cross-entropy of ``model(x)`` against integer labels ``y``."""
    x, y = batch
    return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()


def digits_accuracy(model: Callable[[jax.Array], jax.Array], x, y) -> jax.Array:
    """Fraction of ``x`` whose arg-max logit is the label."""
    return jnp.mean(jnp.argmax(model(x), axis=-1) == y)


def functional_mlp(model: MLP):
    """Split an NNX model into ``(apply, params)``: ``apply(params, x) -> logits``
    is a pure function, convenient under ``jax.lax.scan`` and ``jax.vmap``."""
    graphdef, params = nnx.split(model)

    def apply(p, x):
        return nnx.merge(graphdef, p)(x)

    return apply, params
