"""Sophia-H, SAM / ASAM and Friendly SAM: the Hutchinson estimate against a quadratic's Hessian,
the probes, the amortised refresh, SAM's perturbation worked by hand, errors, and
training through ``optzoo.make_train_step`` and ``optzoo.fit``. Step-by-step parity
with pytorch-optimizer is in ``tests/parity/test_reference_curvature.py``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from optzoo.transforms import sophia as sophia_mod
from tests.helpers import x64

# ------------------------------------------------------------------ a quadratic


def _quadratic(n=5, seed=0):
    """``f(x) = 0.5 x^T A x + b^T x`` on params ``{"x": (n,), "y": (2, 2)}`` (the
    two leaves concatenated), with a dense symmetric ``A``; returns ``(f, A)``."""
    rng = np.random.default_rng(seed)
    m = n + 4
    q = rng.normal(size=(m, m))
    a = q @ q.T / m + np.diag(rng.uniform(0.5, 2.0, size=m))
    b = rng.normal(size=m)

    def flat(p):
        return jnp.concatenate([p["x"], p["y"].reshape(-1)])

    def f(p):
        z = flat(p)
        return 0.5 * z @ jnp.asarray(a, z.dtype) @ z + jnp.asarray(b, z.dtype) @ z

    return f, a


def _params(n=5, seed=1, dtype=jnp.float64):
    rng = np.random.default_rng(seed)
    return {"x": jnp.asarray(rng.normal(size=n), dtype),
            "y": jnp.asarray(rng.normal(size=(2, 2)), dtype)}


def _flat(p):
    return np.concatenate([np.asarray(p["x"], np.float64), np.asarray(p["y"], np.float64).ravel()])


# ------------------------------------------------------------------ Hutchinson


def test_hutchinson_estimate_is_mean_of_z_times_hz():
    with x64():
        f, a = _quadratic()
        params = _params()
        probes = optzoo.sophia_h_probes(params, 4, seed=2, num_samples=3)
        est = sophia_mod.hutchinson_diagonal(f, params, probes)
        zs = [_flat(z) for z in probes]
        expected = sum(z * (a @ z) for z in zs) / 3
        np.testing.assert_allclose(_flat(est), expected, rtol=1e-12, atol=1e-12)


def test_rademacher_probes_recover_a_diagonal_hessian_exactly():
    """``z * (D z) = D z^2 = diag(D)`` for every +-1 probe."""
    with x64():
        d = np.array([0.5, 1.0, 2.0, 3.0, -1.5, 0.25, 4.0, 1.5, 2.5])

        def f(p):
            z = jnp.concatenate([p["x"], p["y"].reshape(-1)])
            return 0.5 * jnp.sum(jnp.asarray(d) * z**2)

        params = _params()
        probes = optzoo.sophia_h_probes(params, 0, num_samples=2,
                                        hessian_distribution="rademacher")
        est = sophia_mod.hutchinson_diagonal(f, params, probes)
        np.testing.assert_allclose(_flat(est), d, rtol=1e-15)


def test_gaussian_estimate_converges_to_the_hessian_diagonal():
    """Many probes of the key schedule (drawn and multiplied under ``vmap``)
    average ``z * (H z)`` to the Hessian diagonal."""
    n = 4000
    with x64():
        f, a = _quadratic()
        params = _params()
        key = jax.random.key_data(jax.random.key(0))

        @jax.jit
        def one(i):
            z = sophia_mod._probes_at(key, jnp.int32(0), params, i, "gaussian")
            return sophia_mod.hutchinson_diagonal(f, params, [z])

        est = jax.tree.map(lambda x: x.mean(axis=0), jax.vmap(one)(jnp.arange(n)))
        # variance of z_i (A z)_i is A_ii^2 + sum_j A_ij^2: a few standard errors
        se = np.sqrt((np.diag(a) ** 2 + np.sum(a**2, axis=1)) / n)
        assert np.all(np.abs(_flat(est) - np.diag(a)) < 5 * se)


def test_sophia_state_holds_the_estimate_of_its_probes():
    """With ``b2 = 0`` the Hessian moment after the first step is that step's
    estimate, from the probes ``sophia_h_probes`` returns for step 0."""
    with x64():
        f, a = _quadratic()
        params = _params()
        tx = optzoo.sophia_h(0.1, b2=0.0, num_samples=2, seed=11)
        state = tx.init(params)
        _, state = tx.update(jax.grad(f)(params), state, params, value_fn=f)
        zs = [_flat(z) for z in optzoo.sophia_h_probes(params, 0, seed=11, num_samples=2)]
        expected = sum(z * (a @ z) for z in zs) / 2
        np.testing.assert_allclose(_flat(state[0].hessian), expected, rtol=1e-12)


# ------------------------------------------------------------------ probes


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16, jnp.float16])
def test_probes_distribution_and_dtype(dtype):
    params = {"w": jnp.zeros((200, 100), dtype), "b": jnp.zeros((3,), dtype)}
    (g,) = optzoo.sophia_h_probes(params, 0, seed=5)
    (r,) = optzoo.sophia_h_probes(params, 0, seed=5, hessian_distribution="rademacher")
    assert g["w"].dtype == dtype and r["w"].dtype == dtype and g["b"].shape == (3,)
    w = np.asarray(g["w"], np.float64)
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.02
    rw = np.asarray(r["w"], np.float64)
    assert set(np.unique(rw)) == {-1.0, 1.0} and abs(rw.mean()) < 0.02


def test_probes_follow_the_key_schedule():
    params = {"a": jnp.zeros(64), "b": jnp.zeros((4, 4))}
    first = optzoo.sophia_h_probes(params, 3, seed=1, num_samples=2)
    again = optzoo.sophia_h_probes(params, 3, seed=1, num_samples=2)
    other_step = optzoo.sophia_h_probes(params, 4, seed=1, num_samples=2)
    other_seed = optzoo.sophia_h_probes(params, 3, seed=2, num_samples=2)
    assert jax.tree.all(jax.tree.map(lambda x, y: bool(jnp.all(x == y)), first, again))
    assert not np.allclose(first[0]["a"], first[1]["a"])  # samples differ
    assert not np.allclose(first[0]["a"], other_step[0]["a"])
    assert not np.allclose(first[0]["a"], other_seed[0]["a"])
    # the documented derivation
    k = jax.random.fold_in(jax.random.fold_in(jax.random.key(1), 3), 1)
    np.testing.assert_array_equal(first[1]["b"],
                                  jax.random.normal(jax.random.fold_in(k, 1), (4, 4)))


# ------------------------------------------------------------------ amortisation


def test_hessian_vector_products_only_on_refresh_steps():
    """``value_fn`` runs inside the update (for ``H z``) on steps 1, 1 + k, ... only:
    a ``lax.cond`` skips the products on the others, at run time under ``jit``."""
    calls = []

    def f(p):
        jax.debug.callback(lambda: calls.append(1))
        return jnp.sum(p["w"] ** 4) + jnp.sum(p["w"][:-1] * p["w"][1:])

    params = {"w": jnp.linspace(0.5, 1.5, 4)}
    tx = optzoo.sophia_h(0.05, update_period=3, num_samples=2)
    grads = jax.grad(lambda p: jnp.sum(p["w"] ** 4))(params)
    update = jax.jit(lambda s: tx.update(grads, s, params, value_fn=f)[1])
    state = tx.init(params)
    per_step = []
    for _ in range(7):
        before = len(calls)
        state = update(state)
        jax.effects_barrier()
        per_step.append(len(calls) - before)
    # two probes: two evaluations of value_fn on a refresh step, none between
    assert per_step == [2, 0, 0, 2, 0, 0, 2]


def test_refresh_is_a_cond_in_the_jaxpr():
    f, _ = _quadratic()
    params = _params(dtype=jnp.float32)
    tx = optzoo.sophia_h(update_period=5)
    state = tx.init(params)
    jaxpr = jax.make_jaxpr(lambda g, s: tx.update(g, s, params, value_fn=f))(params, state)
    conds = [e for e in jaxpr.jaxpr.eqns if e.primitive.name == "cond"]
    assert len(conds) == 1
    # everything of the Hessian-vector products lives in one branch
    sizes = sorted(len(b.jaxpr.eqns) for b in conds[0].params["branches"])
    assert sizes[0] == 0 and sizes[1] > 10


def test_external_hessian_needs_no_value_fn_and_is_used_every_time():
    with x64():
        params = _params()
        g = jax.tree.map(lambda x: 0.3 * x, params)
        h = jax.tree.map(lambda x: 1.0 + jnp.abs(x), params)
        tx = optzoo.sophia_h(0.1, b1=0.5, b2=0.5, p=10.0, update_period=100)
        state = tx.init(params)
        u1, state = tx.update(g, state, params, hessian=h)
        u2, state = tx.update(g, state, params, hessian=h)  # not a refresh step: still used
        mu2 = 0.75 * g["x"]
        h2 = 0.75 * h["x"]
        np.testing.assert_allclose(u2["x"], -0.1 * mu2 / h2, rtol=1e-14)
        np.testing.assert_allclose(u1["x"], -0.1 * (0.5 * g["x"]) / (0.5 * h["x"]), rtol=1e-14)


def test_step_is_clipped_to_learning_rate_times_p():
    with x64():
        f, _ = _quadratic()
        params = _params()
        tx = optzoo.sophia_h(0.2, p=0.03)
        state = tx.init(params)
        for _ in range(5):
            u, state = tx.update(jax.grad(f)(params), state, params, value_fn=f)
            assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(u)) <= 0.2 * 0.03 + 1e-15
            params = optax.apply_updates(params, u)


# ------------------------------------------------------------------ SAM by hand


def _sam_problem():
    rng = np.random.default_rng(3)
    a = {"w": rng.uniform(0.5, 2.0, size=(3, 4)), "b": rng.uniform(0.5, 2.0, size=4)}
    c = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    params = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}

    def f(p):
        return sum(jnp.sum(0.5 * a[k] * (p[k] - c[k]) ** 2) for k in p)

    return f, a, c, params


@pytest.mark.parametrize("adaptive", [False, True])
@pytest.mark.parametrize("use_gc", [False, True])
def test_sam_perturbation_by_hand(adaptive, use_gc):
    """``e = rho T^2 gc(g) / (||T g|| + eps)``, ``T = |w|`` (ASAM) or 1; the inner SGD
    steps from ``w`` with the gradient at ``w + e``."""
    with x64():
        f, a, c, p0 = _sam_problem()
        params = {k: jnp.asarray(x) for k, x in p0.items()}
        rho, lr, eps = 0.3, 0.1, 1e-9
        tx = optzoo.sam(optax.sgd(lr), rho=rho, adaptive=adaptive, use_gc=use_gc,
                        perturb_eps=eps)
        g = {k: a[k] * (p0[k] - c[k]) for k in p0}
        t = {k: np.abs(p0[k]) if adaptive else np.ones_like(p0[k]) for k in p0}
        norm = np.sqrt(sum(np.sum((t[k] * g[k]) ** 2) for k in p0))
        direction = dict(g)
        if use_gc:  # the matrix only
            direction["w"] = g["w"] - g["w"].mean(axis=1, keepdims=True)
        e = {k: rho * t[k] ** 2 * direction[k] / (norm + eps) for k in p0}
        g_sam = {k: a[k] * (p0[k] + e[k] - c[k]) for k in p0}
        u, _ = tx.update(jax.grad(f)(params), tx.init(params), params, value_fn=f)
        for k in p0:
            np.testing.assert_allclose(u[k], -lr * g_sam[k], rtol=1e-13)
        pert = optzoo.transforms.sam.sam_perturbation(jax.grad(f)(params), params, rho,
                                                      adaptive, use_gc, eps)
        for k in p0:
            np.testing.assert_allclose(pert[k], e[k], rtol=1e-13)


def test_asam_is_scale_invariant():
    """Scaling a layer's weights by s and the loss's input by 1/s leaves ASAM's
    perturbed loss the same; SAM's changes."""
    with x64():
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.normal(size=(8, 3)))
        y = jnp.asarray(rng.normal(size=8))
        w = jnp.asarray(rng.normal(size=3))

        def loss(s):
            return lambda p: jnp.mean((x @ (p["w"] / s) - y) ** 2)

        def perturbed_loss(adaptive, s):
            p = {"w": w * s}
            g = jax.grad(loss(s))(p)
            e = optzoo.transforms.sam.sam_perturbation(g, p, 0.5, adaptive, False, 0.0)
            return float(loss(s)(jax.tree.map(jnp.add, p, e)))

        assert perturbed_loss(True, 1.0) == pytest.approx(perturbed_loss(True, 7.0), rel=1e-12)
        assert perturbed_loss(False, 1.0) != pytest.approx(perturbed_loss(False, 7.0), rel=1e-3)


def test_sam_rho_zero_is_the_inner_optimizer():
    with x64():
        f, _, _, p0 = _sam_problem()
        params = {k: jnp.asarray(x) for k, x in p0.items()}
        inner = optzoo.adam(0.01)
        tx = optzoo.sam(inner, rho=0.0)
        g = jax.grad(f)(params)
        u, s = tx.update(g, tx.init(params), params, value_fn=f)
        expected, _ = inner.update(g, inner.init(params), params)
        for k in p0:
            np.testing.assert_array_equal(u[k], expected[k])


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize("name,make", [("sam", lambda: optzoo.sam(optzoo.sgd(0.1))),
                                       ("sophia_h", lambda: optzoo.sophia_h())])
def test_missing_value_fn_names_the_argument(name, make):
    tx = make()
    params = {"w": jnp.ones(3)}
    with pytest.raises(ValueError) as info:
        tx.update(params, tx.init(params), params)
    assert str(info.value) == (f"{name}: update needs params and value_fn: "
                               "call tx.update(grads, state, params, value_fn=loss_fn)")


def test_invalid_hyperparameters():
    with pytest.raises(ValueError, match=r"^sam: rho must be in \[0, inf\), got -0.1$"):
        optzoo.sam(optzoo.sgd(0.1), rho=-0.1)
    with pytest.raises(ValueError, match="^sam: tx must be an optax.GradientTransformation"):
        optzoo.sam(optzoo.sgd)
    with pytest.raises(ValueError, match="^sophia_h: hessian_distribution must be one of "
                                         "'gaussian', 'rademacher', got 'uniform'$"):
        optzoo.sophia_h(hessian_distribution="uniform")
    with pytest.raises(ValueError, match=r"^sophia_h: update_period must be an integer"):
        optzoo.sophia_h(update_period=1.5)
    with pytest.raises(ValueError, match=r"^sophia_h: b2 must be in \[0, 1\), got 1.0$"):
        optzoo.sophia_h(b2=1.0)


def test_sophia_external_hessian_structure_is_checked():
    params = {"w": jnp.ones(3), "b": jnp.ones(2)}
    tx = optzoo.sophia_h()
    with pytest.raises(ValueError, match="^sophia_h: hessian must have the gradients' "):
        tx.update(params, tx.init(params), params, hessian={"w": jnp.ones(3)})


# ------------------------------------------------------------------ training


def _regression():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 6)).astype(np.float32)
    y = (x @ rng.normal(size=6) + 0.1 * rng.normal(size=256)).astype(np.float32)
    params = {"w": jnp.zeros(6), "b": jnp.zeros(())}

    def loss_fn(p, batch):
        xb, yb = batch
        return jnp.mean((xb @ p["w"] + p["b"] - yb) ** 2)

    return x, y, params, loss_fn


OPTIMIZERS = {
    "sam": lambda: optzoo.sam(optzoo.sgd(0.05, momentum=0.9), rho=0.05),
    "asam": lambda: optzoo.sam(optzoo.adam(0.05), rho=0.5, adaptive=True),
    "friendly_sam": lambda: optzoo.friendly_sam(optzoo.sgd(0.05, momentum=0.9), rho=0.05),
    "sophia_h": lambda: optzoo.sophia_h(0.05, p=1.0, update_period=2),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_make_train_step_trains(name):
    x, y, params, loss_fn = _regression()
    tx = OPTIMIZERS[name]()
    step = optzoo.make_train_step(loss_fn, tx)
    state = tx.init(params)
    first = float(loss_fn(params, (x, y)))
    for _ in range(150):
        params, state, loss = step(params, state, (x, y))
    assert float(loss_fn(params, (x, y))) < 0.05 * first


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_fit_trains(name):
    x, y, params, loss_fn = _regression()
    _, _, hist = optzoo.fit(loss_fn, params, OPTIMIZERS[name](), (x, y), batch_size=32,
                            epochs=15, key=jax.random.key(0), progress=False)
    assert np.all(np.isfinite(hist.loss))
    assert hist.loss[-8:].mean() < 0.1 * hist.loss[:8].mean()


def test_friendly_sam_by_hand():
    """Step 1 is SAM's; then the ascent direction is ``g - sigma m`` with ``m`` the
    gradients' average ``lerp(m, g, 1 - lmbda)``, ``m_1 = g_1``."""
    with x64():
        f, a, c, p0 = _sam_problem()
        params = {k: jnp.asarray(x) for k, x in p0.items()}
        rho, lr, sigma, lmbda = 0.3, 0.1, 0.7, 0.8
        tx = optzoo.friendly_sam(optax.sgd(lr), rho=rho, sigma=sigma, lmbda=lmbda,
                                 perturb_eps=0.0)
        state = tx.init(params)
        m = None
        p = {k: np.array(x) for k, x in p0.items()}
        for _ in range(3):
            g = {k: a[k] * (p[k] - c[k]) for k in p}
            d = g if m is None else {k: g[k] - sigma * m[k] for k in p}
            m = g if m is None else {k: lmbda * m[k] + (1 - lmbda) * g[k] for k in p}
            norm = np.sqrt(sum(np.sum(d[k] ** 2) for k in p))
            g_sam = {k: a[k] * (p[k] + rho * d[k] / norm - c[k]) for k in p}
            u, state = tx.update(jax.grad(f)(params), state, params, value_fn=f)
            for k in p:
                np.testing.assert_allclose(u[k], -lr * g_sam[k], rtol=1e-12)
                np.testing.assert_allclose(state.momentum[k], m[k], rtol=1e-12)
            params = optax.apply_updates(params, u)
            p = {k: p[k] - lr * g_sam[k] for k in p}


@pytest.mark.parametrize("name", ["sam", "sophia_h"])
def test_nnx_train_step_trains(name):
    """Through ``nnx.Optimizer``, ``value_fn`` is a function of the parameter state."""
    from flax import nnx
    x, y, _, _ = _regression()
    model = nnx.Linear(6, 1, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, OPTIMIZERS[name](), wrt=nnx.Param)

    def loss_fn(m, batch):
        xb, yb = batch
        return jnp.mean((m(xb)[:, 0] - yb) ** 2)

    step = optzoo.make_train_step(loss_fn, optimizer)
    first = float(loss_fn(model, (x, y)))
    for _ in range(150):
        step(model, optimizer, (x, y))
    assert float(loss_fn(model, (x, y))) < 0.05 * first
