"""Errors name what the user built, at build time and at update time, and say what
to do: ``optzoo.asgd(...)`` fails as ``asgd: ...``, ``optzoo.pytorch.AdamW(...)`` as
``AdamW: ...``, a bare ``transforms.scale_by_adam(...)`` as ``scale_by_adam: ...``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import pytest

import optzoo
from optzoo import _validate as v
from optzoo import keras as K
from optzoo import pytorch as P
from optzoo import transforms as T
from tests.zoo import ZOO, public_name, quadratic, step_kwargs

MISMATCH = "the gradient structure does not match the optimizer state"

# Who the user built, where it is not the key of the zoo table: a wrapper or a
# chain reports the optimizer inside it whose state does not fit.
BUILT = {"skip_nonfinite": "adam", "schedules.reduce_on_plateau": "adam", "cautious": "adamw",
         "cautious[direction]": "scale_by_lion"}


def _short(key: str) -> str:
    return BUILT.get(key, public_name(key).split(".")[-1])


def _params():
    return {"w": jnp.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": jnp.array([0.5, -0.25])}


CORE = [k for k in ZOO if not k.startswith(("transforms.", "schedules."))]


# ------------------------------------------------------------------ update without params


@pytest.mark.parametrize("key", CORE)
def test_update_without_params_names_the_optimizer(key):
    """Every core optimizer either runs without params or says it needs them,
    naming itself (not one of its blocks) and the call to make."""
    case = ZOO[key]
    params = _params()
    loss_fn = quadratic(params)
    tx = case.make()
    state = tx.init(params)
    try:
        tx.update(jax.grad(loss_fn)(params), state, **step_kwargs(case, params, loss_fn))
    except ValueError as e:
        msg = str(e)
        assert msg.startswith(f"{_short(key)}: update needs params"), msg
        assert "call tx.update(grads, state, params" in msg, msg


@pytest.mark.parametrize("key", [k for k in CORE if ZOO[k].extra_args])
def test_update_without_extra_args_names_the_optimizer(key):
    case = ZOO[key]
    params = _params()
    loss_fn = quadratic(params)
    tx = case.make()
    state = tx.init(params)
    try:
        tx.update(jax.grad(loss_fn)(params), state, params)
    except ValueError as e:
        msg = str(e)
        assert msg.startswith(f"{_short(key)}: update needs params and "), msg
        for name in ("value_fn",):
            if name in case.extra_args:
                assert name in msg, msg


def test_messages_say_what_to_do():
    params = _params()
    tx = optzoo.asgd(0.05)
    with pytest.raises(ValueError) as info:
        tx.update(params, tx.init(params))
    assert str(info.value) == "asgd: update needs params: call tx.update(grads, state, params)"

    tx = optzoo.newton(0.5)
    with pytest.raises(ValueError) as info:
        tx.update(params, tx.init(params), params)
    assert str(info.value) == (
        "newton: update needs params and value_fn: "
        "call tx.update(grads, state, params, value_fn=loss_fn)"
    )


# ------------------------------------------------------------------ structure mismatch


@pytest.mark.parametrize("key", [k for k, c in ZOO.items() if not c.stateless])
def test_structure_mismatch_names_what_was_built(key):
    """Core optimizers name themselves, bare blocks theirs, a wrapper or chain the
    optimizer inside it whose state does not fit."""
    case = ZOO[key]
    params = _params()
    tx = case.make()
    state = tx.init(params)
    other = {**params, "extra": jnp.ones(2)}
    loss_fn = quadratic(other)
    with pytest.raises(ValueError) as info:
        tx.update(jax.grad(loss_fn)(other), state, other, **step_kwargs(case, other, loss_fn))
    msg = str(info.value)
    assert msg.startswith(f"{_short(key)}: {MISMATCH} (was the state initialised from other "
                          "params?)"), msg
    assert str(jax.tree.structure(other)) in msg and str(jax.tree.structure(params)) in msg


def test_wrapper_mismatch_names_the_wrapped_optimizer():
    params = _params()
    msg = _mismatch(optzoo.skip_nonfinite(optzoo.nadam(0.01)), params)
    assert msg.startswith(f"nadam: {MISMATCH}"), msg


def test_params_mismatch_says_which_params():
    tx = T.scale_by_trust_ratio()
    params = _params()
    with pytest.raises(ValueError) as info:
        tx.update(params, tx.init(params), {"w": params["w"]})
    assert str(info.value).startswith(
        "scale_by_trust_ratio: the gradient structure does not match the params ("
    )


# ------------------------------------------------------------------ flavors


def _mismatch(tx, params):
    state = tx.init(params)
    other = {**params, "extra": jnp.ones((2, 2))}
    with pytest.raises(ValueError) as info:
        tx.update(other, state, other)
    return str(info.value)


@pytest.mark.parametrize("make,name", [
    (lambda: P.AdamW(lr=0.01, weight_decay=0.1), "AdamW"),
    (lambda: P.Adam(lr=0.01, amsgrad=True), "Adam"),
    (lambda: P.NAdam(), "NAdam"),
    (lambda: P.RAdam(decoupled_weight_decay=True, weight_decay=0.1), "RAdam"),
    (lambda: P.RMSprop(centered=True), "RMSprop"),
    (lambda: P.SGD(lr=0.1, momentum=0.9), "SGD"),
    (lambda: P.ASGD(), "ASGD"),
    (lambda: P.Adafactor(), "Adafactor"),
    (lambda: P.Muon(), "Muon"),
    (lambda: P.SparseAdam(), "SparseAdam"),
    (lambda: K.Adam(), "Adam"),
    (lambda: K.Nadam(), "Nadam"),
    (lambda: K.Lamb(), "Lamb"),
    (lambda: K.Lion(), "Lion"),
    (lambda: K.Ftrl(), "Ftrl"),
    (lambda: K.Adafactor(), "Adafactor"),
])
def test_flavor_mismatch_names_the_flavor(make, name):
    params = {"w": jnp.ones((2, 3)), "v": jnp.ones((3, 2))}
    msg = _mismatch(make(), params)
    assert msg.startswith(f"{name}: {MISMATCH}"), msg


@pytest.mark.parametrize("make,name", [
    (lambda: P.ASGD(), "ASGD"),
    (lambda: P.Adafactor(), "Adafactor"),
    (lambda: P.LBFGS(), "LBFGS"),
    (lambda: K.Ftrl(), "Ftrl"),
    (lambda: K.Adam(), "Adam"),
])
def test_flavor_without_params_names_the_flavor(make, name):
    params = {"w": jnp.ones((2, 3))}
    tx = make()
    with pytest.raises(ValueError) as info:
        tx.update(params, tx.init(params))
    assert str(info.value).startswith(f"{name}: "), str(info.value)


def test_torch_lbfgs_without_closure():
    params = {"w": jnp.ones((2, 3))}
    tx = P.LBFGS()
    with pytest.raises(ValueError) as info:
        tx.update(params, tx.init(params), params)
    assert str(info.value) == (
        "LBFGS: update needs params and value_fn: "
        "call tx.update(grads, state, params, value_fn=loss_fn)"
    )


# ------------------------------------------------------------------ whose name, when


def test_owner_is_captured_at_construction_and_does_not_leak():
    params = _params()
    built_inside = optzoo.adam(0.1)
    bare = T.scale_by_adam()  # built after adam returned: its own name
    for tx, name in ((built_inside, "adam"), (bare, "scale_by_adam")):
        msg = _mismatch(tx, params)
        assert msg.startswith(f"{name}: {MISMATCH}"), msg


def test_owner_under_inject_hyperparams():
    """inject_hyperparams rebuilds the optimizer inside init and update; the
    rebuilt blocks still name the constructor."""
    params = _params()
    tx = optax.inject_hyperparams(optzoo.adam)(learning_rate=0.1)
    msg = _mismatch(tx, params)
    assert msg.startswith(f"adam: {MISMATCH}"), msg


def test_owner_function():
    assert v.owner("scale_by_adam") == "scale_by_adam"

    @v.named
    def outer():
        return v.owner("scale_by_adam")

    assert outer() == "outer"
    assert v.owner("scale_by_adam") == "scale_by_adam"
