"""Gradients are checked against their params when ``update`` is traced.

Every public optimizer and flavor (the cases of ``tests/test_inject.py``) refuses,
in one line naming the leaf's path and both shapes or the dtype, gradients that
would otherwise be broadcast against the params (``(3, 1)`` or a scalar for a
``(3,)`` param), a mismatched length, and integer or complex gradients. The check
is the ``named`` decorator's (``optzoo._validate.checked_updates``): it reads
static shapes only, so the traced update is the optimizer's own.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
import optzoo.pytorch
from tests.test_inject import CASES

NAMES = sorted(CASES)


def _make(name):
    case = CASES[name]
    rng = np.random.default_rng(0)
    shapes = {"w": (4, 3), "v": (3, 2)} if case.matrices else {"w": (4, 3), "b": (3,)}
    params = {k: jnp.asarray(rng.normal(size=s), jnp.float32) for k, s in shapes.items()}
    kwargs = {k: (np.asarray(x, np.float32) if isinstance(x, np.ndarray) else x)
              for k, x in case.kwargs.items()}
    return case.factory, case.factory(**kwargs), params, kwargs


def _last(params):
    return sorted(params)[-1]


def _with(params, leaf, value):
    return {**params, leaf: value}


def _shape_message(fn, leaf, bad, good):
    return (rf"^{fn}: the gradient at \['{leaf}'\] has shape {re.escape(str(bad))} \(float32\) "
            rf"but its param has shape {re.escape(str(good))} \(float32, ")


@pytest.mark.parametrize("name", NAMES)
def test_broadcastable_and_mismatched_shapes_are_refused(name):
    factory, tx, params, _ = _make(name)
    leaf = _last(params)
    good = params[leaf].shape
    state = tx.init(params)
    update = jax.jit(tx.update)
    for bad in (good + (1,), (), (good[0] + 1,) + good[1:]):
        grads = _with(params, leaf, jnp.ones(bad, jnp.float32))
        with pytest.raises(ValueError, match=_shape_message(factory.__name__, leaf, bad, good)):
            update(grads, state, params)
        # Without params the shapes init saw are the reference.
        with pytest.raises(ValueError, match=_shape_message(factory.__name__, leaf, bad, good)):
            update(grads, state)


@pytest.mark.parametrize("name", NAMES)
def test_integer_and_complex_gradients_are_refused(name):
    factory, tx, params, _ = _make(name)
    leaf = _last(params)
    state = tx.init(params)
    fn = factory.__name__
    for dtype, what in ((jnp.int32, "gradients must be real floating point"),
                        (jnp.complex64, f"{fn} does not support complex gradients")):
        grads = _with(params, leaf, params[leaf].astype(dtype))
        pattern = rf"^{fn}: the gradient at \['{leaf}'\] has dtype {jnp.dtype(dtype).name}: {what}"
        with pytest.raises(ValueError, match=pattern):
            jax.jit(tx.update)(grads, state, params)
        with pytest.raises(ValueError, match=pattern):
            tx.update(grads, state)


@pytest.mark.parametrize("name", NAMES)
def test_the_check_keeps_the_type_and_adds_nothing_to_the_update(name):
    """``named`` returns the constructor's own kind of transformation, and the
    traced update (jaxpr) is exactly the unchecked one's."""
    factory, tx, params, kwargs = _make(name)
    raw = factory.__wrapped__(**kwargs)
    assert type(tx) is type(raw)
    grads = jax.tree.map(lambda p: 0.1 * p, params)
    extra = CASES[name].extra_args
    if extra:  # the line searches and Newton need a loss; their jaxprs differ only by it
        return
    state = tx.init(params)
    checked = jax.make_jaxpr(tx.update)(grads, state, params)
    unchecked = jax.make_jaxpr(raw.update)(grads, raw.init(params), params)
    assert str(checked) == str(unchecked)


def test_one_transformation_for_params_of_several_shapes():
    """The shapes of every init are remembered: reusing a transformation for a
    second model of the same structure is not an error."""
    tx = optzoo.adam(0.1)
    small, big = {"w": jnp.ones(3)}, {"w": jnp.ones(5)}
    s_small, s_big = tx.init(small), tx.init(big)
    tx.update(small, s_small)
    tx.update(big, s_big)
    with pytest.raises(ValueError, match=r"has shape \(4,\) \(float32\) but its param has "
                                         r"shape \(5,\) \(float32, as init saw it\)"):
        tx.update({"w": jnp.ones(4)}, s_big)


def test_vmap_multisteps_masked_inject_and_mixed_precision():
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    grads = jax.tree.map(lambda p: p + 0.5, params)
    # vmap over init and update: the check sees the per-example shapes on both sides.
    tx = optzoo.pytorch.AdamW(lr=0.1)
    batched = jax.tree.map(lambda x: jnp.stack([x, 2 * x]), params)
    states = jax.vmap(tx.init)(batched)
    jax.vmap(tx.update)(batched, states, batched)
    # Wrappers pass the gradients through unchanged or masked alike.
    for wrapped in (optax.MultiSteps(optzoo.adam(0.1), 2).gradient_transformation(),
                    optax.masked(optzoo.lion(0.1), {"w": False, "b": True}),
                    optax.multi_transform({"a": optzoo.sgd(0.1), "b": optzoo.adam(0.1)},
                                          {"w": "a", "b": "b"}),
                    optax.inject_hyperparams(optzoo.adam)(learning_rate=0.1)):
        state = wrapped.init(params)
        jax.jit(wrapped.update)(grads, state, params)
        # (optax.MultiSteps adds the gradient to its (3,) accumulator first: (3, 3))
        with pytest.raises(ValueError, match=r"the gradient at \['b'\] has shape \(3, [13]\)"):
            jax.jit(wrapped.update)({**grads, "b": jnp.ones((3, 1))}, state, params)
    # bfloat16 gradients for float32 params (mixed precision) are fine.
    tx = optzoo.adam(0.1)
    tx.update(jax.tree.map(lambda g: g.astype(jnp.bfloat16), grads), tx.init(params), params)
