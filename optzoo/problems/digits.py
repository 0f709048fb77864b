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

__all__ = ["DigitsData", "MLP", "load_digits", "digits_loss", "digits_accuracy", "functional_mlp", "numpy_mlp"]


class DigitsData(NamedTuple):
    """Training and held-out test arrays (NumPy): images flattened to 64 features."""

    x_train: np.ndarray  # (n_train, 64) float32 in [0, 1]
    y_train: np.ndarray  # (n_train,) int32 labels 0..9
    x_test: np.ndarray
    y_test: np.ndarray


def _digits_csv() -> str:
    """Path of scikit-learn's bundled ``digits.csv.gz``, found without importing
    scikit-learn (whose import is slow)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("load_digits needs scikit-learn installed (it ships the data file)")
    root = list(spec.submodule_search_locations)[0]
    return os.path.join(root, "datasets", "data", "digits.csv.gz")


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> DigitsData:
    """The 8x8 digits, pixels divided by 16, split into train / test.

    The split is stratified by label (each digit contributes ``round(test_fraction
    * count)`` test images, chosen by a NumPy generator seeded with ``seed``); with
    the default 0.2, 1438 training and 359 test images.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    table = np.loadtxt(_digits_csv(), delimiter=",", dtype=np.float32)
    x = table[:, :-1] / 16.0
    y = table[:, -1].astype(np.int32)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        test[members[: int(round(test_fraction * len(members)))]] = True
    train_idx = rng.permutation(np.flatnonzero(~test))
    test_idx = np.flatnonzero(test)
    return DigitsData(x[train_idx], y[train_idx], x[test_idx], y[test_idx])


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


def numpy_mlp(hidden: Sequence[int] = (64,), seed: int = 0, **mlp_kwargs):
    """``(apply, params)`` of an :class:`MLP` whose weights are drawn with NumPy.

    The distribution is Flax's default for ``nnx.Linear`` (LeCun normal: a normal
    truncated at two standard deviations, variance ``1 / fan_in``; zero biases),
    the random stream is NumPy's ``default_rng(seed)``. Nothing is compiled, which
    saves several seconds of start-up on CPU where JAX's random-number programs
    are slow to compile.
    """
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: MLP(hidden, rngs=nnx.Rngs(0), **mlp_kwargs)))
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        shape, dtype = leaf.shape, leaf.dtype
        if "kernel" not in jax.tree_util.keystr(path):
            return jnp.asarray(np.zeros(shape, dtype))
        z = rng.standard_normal(shape)
        while np.any(bad := np.abs(z) > 2.0):
            z[bad] = rng.standard_normal(int(bad.sum()))
        std = np.sqrt(1.0 / shape[0]) / 0.87962566103423978  # std of N(0,1) truncated at +-2
        return jnp.asarray(z * std, dtype)

    params = jax.tree.map_with_path(draw, abstract)

    def apply(p, x):
        return nnx.merge(graphdef, p)(x)

    return apply, params
