"""Complex params (:mod:`optzoo.transforms.complex`).

The torch flavors are checked against torch itself in
``tests/parity/test_torch_complex.py``. Here: each core optimizer that takes complex
params runs on them exactly as on the same problem written with real pairs, and
equals its torch flavor where they share semantics; complex64 under ``jit``; real
params keep their state and their traced update; every other optimizer refuses
complex params in one line naming itself.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optzoo
import optzoo.keras
import optzoo.pytorch as ozt
from optzoo._validate import ComplexDtypeError
from optzoo.transforms import adam as _adam
from optzoo.transforms.complex import from_real_pairs, split_complex, to_real_pairs
from tests.helpers import x64
from tests.parity.harness import fast_jit
from tests.test_inject import CASES

STEPS = 20


def _problem(dtype=jnp.complex128):
    rng = np.random.default_rng(3)

    def c(*shape):
        return rng.normal(size=shape) + 1j * rng.normal(size=shape)

    x, y = jnp.asarray(c(4, 6), dtype), jnp.asarray(c(3, 6), dtype)
    real = jnp.finfo(dtype).dtype
    params = {"W": jnp.asarray(0.5 * c(3, 4), dtype),
              "b": jnp.asarray(0.1 * rng.normal(size=3), real)}
    return x, y, params


def _loss(p, x, y):
    r = p["W"] @ x + p["b"][:, None] - y
    return jnp.mean(r.real**2 + r.imag**2)


def _loss_pairs(p, x, y):
    """:func:`_loss` with ``W`` given as real pairs ``[..., (re, im)]``."""
    return _loss({**p, "W": jax.lax.complex(p["W"][..., 0], p["W"][..., 1])}, x, y)


def _trajectory(tx, params, loss, x, y, steps=STEPS):
    state = tx.init(params)

    @fast_jit
    def step(params, state):
        updates, state = tx.update(jax.grad(loss)(params, x, y), state, params)
        return optax.apply_updates(params, updates), state

    out = []
    for _ in range(steps):
        params, state = step(params, state)
        out.append(params)
    return out, state


def _worst(a_list, b_list):
    worst = 0.0
    for a, b in zip(a_list, b_list):
        for k in b:
            e = np.asarray(b[k])
            worst = max(worst, float(np.max(np.abs(np.asarray(a[k]) - e)) / np.max(np.abs(e))))
    return worst


# core optimizer, its kwargs, and the torch flavor with the same numbers (or None)
CORE = {
    "sgd": (dict(learning_rate=0.05, momentum=0.8, nesterov=True, weight_decay=0.05),
            lambda: ozt.SGD(0.05, momentum=0.8, nesterov=True, weight_decay=0.05)),
    "momentum": (dict(learning_rate=0.05, beta=0.7), lambda: ozt.SGD(0.05, momentum=0.7)),
    "nag": (dict(learning_rate=0.05, beta=0.7), lambda: ozt.SGD(0.05, 0.7, nesterov=True)),
    "adam": (dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-6),
             lambda: ozt.Adam(0.02, (0.8, 0.95), 1e-6)),
    "amsgrad": (dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-6),
                lambda: ozt.Adam(0.02, (0.8, 0.95), 1e-6, amsgrad=True)),
    "adamw": (dict(learning_rate=0.02, weight_decay=0.1),
              lambda: ozt.AdamW(0.02, weight_decay=0.1)),
    "adamax": (dict(learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-5),
               lambda: ozt.Adamax(0.02, (0.8, 0.99), 1e-5)),
    "nadam": (dict(learning_rate=0.02, momentum_decay=0.01),
              lambda: ozt.NAdam(0.02, momentum_decay=0.01)),
    "radam": (dict(learning_rate=0.02, b1=0.8, b2=0.9, eps_root=1e-9), None),
    "rmsprop": (dict(learning_rate=0.005, decay=0.95, eps=1e-6, eps_in_sqrt=False, centered=True,
                     momentum=0.5),
                lambda: ozt.RMSprop(0.005, 0.95, 1e-6, momentum=0.5, centered=True)),
    "adagrad": (dict(learning_rate=0.1, initial_accumulator_value=0.1, eps=1e-6,
                     eps_in_sqrt=False),
                lambda: ozt.Adagrad(0.1, initial_accumulator_value=0.1, eps=1e-6)),
    "adadelta": (dict(learning_rate=0.5, rho=0.95, eps=1e-5),
                 lambda: ozt.Adadelta(0.5, 0.95, 1e-5)),
    "rprop": (dict(learning_rate=0.02, eta_minus=0.3, eta_plus=1.5, min_step_size=1e-4,
                   max_step_size=0.05),
              lambda: ozt.Rprop(0.02, (0.3, 1.5), (1e-4, 0.05))),
    "asgd": (dict(learning_rate=0.05, lambd=1e-3, alpha=0.6, t0=5.0, weight_decay=0.02),
             lambda: ozt.ASGD(0.05, 1e-3, 0.6, 5.0, 0.02)),
}
DEFAULT_RUN = ("adam", "asgd")


@pytest.mark.parametrize("name", [
    n if n in DEFAULT_RUN else pytest.param(n, marks=pytest.mark.slow) for n in CORE])
def test_core_on_complex_params_is_the_same_problem_in_real_pairs(name):
    """A complex leaf is two real coordinates: the complex trajectory, viewed as
    pairs, is the trajectory on the real-pair problem (float64), and equals the
    torch flavor's on the same complex params."""
    kwargs, flavor = CORE[name]
    with x64():
        x, y, params = _problem()
        ours, _ = _trajectory(getattr(optzoo, name)(**kwargs), params, _loss, x, y)
        pairs, _ = _trajectory(getattr(optzoo, name)(**kwargs), to_real_pairs(params),
                               _loss_pairs, x, y)
        assert ours[-1]["W"].dtype == jnp.complex128 and pairs[-1]["W"].shape == (3, 4, 2)
        assert _worst([to_real_pairs(p) for p in ours], pairs) <= 1e-12
        if flavor is not None:
            theirs, _ = _trajectory(flavor(), params, _loss, x, y)
            assert _worst(ours, theirs) <= 1e-12


def test_complex64_under_jit():
    """complex64 params stay complex64 (state float32 pairs) and follow the
    complex128 trajectory to float32 precision."""
    with x64():
        x, y, p128 = _problem(jnp.complex128)
        wide, _ = _trajectory(optzoo.adam(0.02), p128, _loss, x, y)
        x, y, p64 = _problem(jnp.complex64)
        narrow, state = _trajectory(optzoo.adam(0.02), p64, _loss, x, y)
    assert narrow[-1]["W"].dtype == jnp.complex64 and narrow[-1]["b"].dtype == jnp.float32
    mu = state[0].mu
    assert mu["W"].shape == (3, 4, 2) and mu["W"].dtype == jnp.float32
    assert _worst(narrow, wide) <= 1e-5


def test_gradient_convention_follows_torch():
    """``jax.grad`` is the conjugate of torch's ``.grad``; one SGD step from either
    moves the params the same way (and ``conjugate_gradients=False`` takes torch's)."""
    with x64():
        z = jnp.asarray([1.0 + 2.0j, -0.5 + 0.25j])

        def f(z):
            return jnp.sum(jnp.abs(z) ** 2 + 3.0 * z.imag)

        t = torch.tensor(np.asarray(z), requires_grad=True)
        (t.abs() ** 2 + 3.0 * t.imag).sum().backward()
        torch_grad = t.grad.numpy()
        np.testing.assert_allclose(np.asarray(jax.grad(f)(z)), np.conj(torch_grad))
        tx = ozt.SGD(0.1)
        u, _ = tx.update(jax.grad(f)(z), tx.init(z), z)
        np.testing.assert_allclose(np.asarray(u), -0.1 * torch_grad)
        raw = split_complex(optax.sgd(0.1), conjugate_gradients=False)
        u, _ = raw.update(jnp.asarray(torch_grad), raw.init(z), z)
        np.testing.assert_allclose(np.asarray(u), -0.1 * torch_grad)


def test_param_groups_select_on_the_complex_params():
    """A group predicate sees each complex leaf as it is (here by dtype), and each
    group follows torch's param group on complex params."""
    with x64():
        x, y, params = _problem()
        groups = [{"params": lambda path, leaf: jnp.iscomplexobj(leaf), "lr": 0.1},
                  {"params": lambda path, leaf: not jnp.iscomplexobj(leaf)}]
        ours, _ = _trajectory(ozt.SGD(0.01, momentum=0.5, groups=groups), params, _loss, x, y,
                              steps=10)
    tp = {k: torch.tensor(np.asarray(v), requires_grad=True) for k, v in params.items()}
    ref = torch.optim.SGD([{"params": [tp["W"]], "lr": 0.1}, {"params": [tp["b"]]}],
                          lr=0.01, momentum=0.5)
    tx_, ty_ = torch.tensor(np.asarray(x)), torch.tensor(np.asarray(y))
    worst = 0.0
    for p in ours:
        ref.zero_grad()
        r = tp["W"] @ tx_ + tp["b"][:, None] - ty_
        torch.mean(r.real**2 + r.imag**2).backward()
        ref.step()
        worst = max(worst, _worst([p], [{k: t.detach().numpy() for k, t in tp.items()}]))
    assert worst <= 1e-12


def test_inject_hyperparams_on_complex_params():
    with x64():
        x, y, params = _problem()
        plain, _ = _trajectory(optzoo.adamw(0.02, weight_decay=0.1), params, _loss, x, y, 5)
        tx = optax.inject_hyperparams(optzoo.adamw)(learning_rate=0.02, weight_decay=0.1)
        injected, _ = _trajectory(tx, params, _loss, x, y, 5)
    assert _worst(injected, plain) <= 1e-14


def test_real_params_trace_and_keep_the_inner_update():
    """Without complex leaves the wrapper hands the tree on: same state, same jaxpr."""
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    grads = jax.tree.map(lambda p: 0.1 + p, params)
    inner = optax.chain(_adam.scale_by_adam(), optax.scale(-0.1))
    wrapped = split_complex(inner)
    state, inner_state = wrapped.init(params), inner.init(params)
    assert jax.tree.structure(state) == jax.tree.structure(inner_state)
    assert str(jax.make_jaxpr(wrapped.update)(grads, state, params)) == str(
        jax.make_jaxpr(inner.update)(grads, inner_state, params))
    assert jax.tree.structure(optzoo.adam(0.1).init(params)) == jax.tree.structure(inner_state)


def test_pairs_round_trip():
    z = {"a": jnp.asarray([1 + 2j, 3 - 4j], jnp.complex64), "r": jnp.arange(3.0)}
    pairs = to_real_pairs(z)
    assert pairs["a"].shape == (2, 2) and pairs["a"].dtype == jnp.float32
    np.testing.assert_array_equal(pairs["a"], [[1, 2], [3, -4]])
    np.testing.assert_array_equal(to_real_pairs(z, conjugate=True)["a"], [[1, -2], [3, 4]])
    back = from_real_pairs(pairs, z)
    assert back["a"].dtype == jnp.complex64 and back["r"] is pairs["r"]
    np.testing.assert_array_equal(back["a"], z["a"])


FLAVORS = ("SGD", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta",
           "ASGD", "Rprop")
SUPPORTED = {getattr(optzoo, n) for n in CORE} | {getattr(ozt, n) for n in FLAVORS}


def test_every_other_optimizer_refuses_complex_params_in_one_line():
    """Each case of ``tests/test_inject.py`` (every public optimizer and flavor):
    those of :data:`SUPPORTED` initialise on complex params; every other one raises
    a ``TypeError`` at ``init`` naming itself."""
    params = {"w": jnp.ones((4, 3), jnp.complex64), "v": jnp.ones((3, 2), jnp.float32)}
    accepted = set()
    for name, case in sorted(CASES.items()):
        tx = case.factory(**case.kwargs)
        fn = case.factory.__name__
        if case.factory in SUPPORTED:
            tx.init(params)
            accepted.add(case.factory)
            continue
        with pytest.raises(TypeError, match=".") as info:
            tx.init(params)
        message = str(info.value)
        assert isinstance(info.value, ComplexDtypeError) and "\n" not in message, name
        assert message.startswith(f"{fn}: the param at ['w'] has dtype complex64: {fn} does "
                                  "not support complex params ("), (name, message)
    assert accepted == SUPPORTED


def test_inject_hyperparams_of_an_unsupported_optimizer_names_it():
    """``optax.inject_hyperparams`` makes the hyperparameters complex for complex
    params; an optimizer that does not take them says so, not ``float()``."""
    tx = optax.inject_hyperparams(optzoo.lion)(learning_rate=0.1, b1=0.9)
    with pytest.raises(TypeError, match=r"^lion: (learning_rate|b1) is complex \(optax\."
                                        r"inject_hyperparams .*lion does not support complex"):
        tx.init({"w": jnp.ones(3, jnp.complex64)})


@pytest.mark.parametrize("make", [optzoo.adam, lambda lr: ozt.Adam(lr)])
def test_a_gradient_of_the_other_kind_is_refused(make):
    params = {"W": jnp.ones((2, 2), jnp.complex64), "b": jnp.ones(2)}
    tx = make(0.1)
    state = tx.init(params)
    fn = "adam" if make is optzoo.adam else "Adam"
    real_w = {"W": jnp.ones((2, 2)), "b": jnp.ones(2)}
    with pytest.raises(TypeError, match=rf"^{fn}: the gradient at \['W'\] has dtype float32 "
                                        r"but its param has dtype complex64"):
        jax.jit(tx.update)(real_w, state, params)
    complex_b = {"W": params["W"], "b": jnp.ones(2, jnp.complex64)}
    with pytest.raises(TypeError, match=rf"^{fn}: the gradient at \['b'\] has dtype complex64: "
                                        rf"{fn} does not support complex gradients for real"):
        tx.update(complex_b, state)  # without params: the dtypes init saw


def test_unsupported_flavor_names_itself_on_complex_gradients():
    tx = optzoo.keras.Adam(0.1)
    params = {"w": jnp.ones(3)}
    with pytest.raises(TypeError, match=r"^Adam: the gradient at \['w'\] has dtype complex64: "
                                        r"Adam does not support complex gradients"):
        tx.update({"w": jnp.ones(3, jnp.complex64)}, tx.init(params), params)
