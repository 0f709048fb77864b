"""Second-order optimizers: lbfgs, newton, newton_cg, angd.

References are float64 NumPy written here from the published formulas (two-loop
recursion, Newton solve, conjugate gradients, Amari's recursion); optax.lbfgs is the
oracle where the semantics are the same.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from optzoo.problems.functions import ill_conditioned_quadratic, rosenbrock
from optzoo.optimizers import angd, lbfgs, newton, newton_cg
from optzoo.transforms.angd import scale_by_angd
from optzoo.transforms.lbfgs import scale_by_lbfgs
from tests.helpers import max_rel_err, random_grads, x64

TOL = 1e-10
STEPS = 60

# --------------------------------------------------------------------------- test function
# f(z) = 0.5 z'Az + 0.25 sum(z^4) + c.z over z = [b, w.ravel()] (a 2-leaf pytree):
# strongly convex, non-quadratic, with a closed-form gradient and Hessian.
_RNG = np.random.default_rng(7)
_N = 2 + 6
_M = _RNG.normal(size=(_N, _N))
_A = _M @ _M.T / _N + 0.5 * np.eye(_N)
_C = _RNG.normal(size=_N)


def _flat(p):
    return jnp.concatenate([p["b"], p["w"].ravel()])


def _unflat(z):
    return {"b": z[:2], "w": z[2:].reshape(3, 2)}


def _loss(p):
    z = _flat(p)
    return 0.5 * z @ jnp.asarray(_A) @ z + 0.25 * jnp.sum(z**4) + jnp.asarray(_C) @ z


def _np_grad(z):
    return _A @ z + z**3 + _C


def _np_hess(z):
    return _A + np.diag(3 * z**2)


def _start():
    rng = np.random.default_rng(3)
    return {"b": rng.normal(size=2), "w": rng.normal(size=(3, 2))}


def _run(tx, params, steps, jit=True, loss=_loss, with_value=False):
    """Iterates of ``tx`` driven by the true gradient of ``loss`` (value_fn passed)."""
    state = tx.init(params)

    def step(p, s):
        val, g = jax.value_and_grad(loss)(p)
        extra = dict(value=val, grad=g) if with_value else {}
        u, s = tx.update(g, s, p, value_fn=loss, **extra)
        return optax.apply_updates(p, u), s

    step = jax.jit(step) if jit else step
    out = []
    for _ in range(steps):
        params, state = step(params, state)
        out.append(params)
    return out, state


# --------------------------------------------------------------------------- L-BFGS


def _np_lbfgs(z0, lr, memory, steps):
    """Fixed-step L-BFGS: two-loop recursion (Nocedal and Wright, Alg. 7.4)."""
    z, pairs, gamma, prev = z0.copy(), [], None, None
    out = []
    for k in range(steps):
        g = _np_grad(z)
        if prev is not None:
            s, y = z - prev[0], g - prev[1]
            if y @ s > 0:
                pairs.append((s, y, 1.0 / (y @ s)))
                gamma = (s @ y) / (y @ y)
            else:
                pairs.append((s, y, 0.0))
            pairs = pairs[-memory:]
        else:
            gamma = min(1.0, 1.0 / np.linalg.norm(g))
        q, alphas = g.copy(), []
        for s, y, rho in reversed(pairs):
            a = rho * (s @ q)
            q -= a * y
            alphas.append(a)
        r = gamma * q
        for (s, y, rho), a in zip(pairs, reversed(alphas)):
            b = rho * (y @ r)
            r += (a - b) * s
        prev = (z.copy(), g)
        z = z - lr * r
        out.append(z.copy())
    return out


def test_lbfgs_two_loop_matches_numpy_reference():
    with x64():
        p0 = jax.tree.map(jnp.asarray, _start())
        tx = lbfgs(learning_rate=0.3, memory_size=4, linesearch=None)
        got, _ = _run(tx, p0, STEPS)
        ref = _np_lbfgs(np.asarray(_flat(p0)), 0.3, 4, STEPS)
        err = max(max_rel_err(_flat(g), r) for g, r in zip(got, ref))
        assert err <= TOL, err
        assert np.linalg.norm(_np_grad(ref[-1])) < 1e-6  # it does converge


ROSENBROCK_ITERS = {"zoom": 40, "backtracking": 80}


def _rosenbrock_run(tx, iters):
    prob = rosenbrock()
    f = prob.fn
    p, s = prob.init, tx.init(prob.init)
    vg = optax.value_and_grad_from_state(f)

    @jax.jit
    def step(p, s):
        val, g = vg(p, state=s)
        u, s = tx.update(g, s, p, value=val, grad=g, value_fn=f)
        return optax.apply_updates(p, u), s

    out = []
    for _ in range(iters):
        p, s = step(p, s)
        out.append(p)
    return out


def test_lbfgs_equals_optax_lbfgs_and_converges_on_rosenbrock():
    """Default zoom line search: equal to optax.lbfgs step by step, and from the
    customary start (-1.2, 1) f < 1e-8 within ROSENBROCK_ITERS["zoom"] iterations."""
    with x64():
        ours = _rosenbrock_run(lbfgs(memory_size=5), ROSENBROCK_ITERS["zoom"])
        theirs = _rosenbrock_run(optax.lbfgs(memory_size=5), 25)
        errs = [max_rel_err(x, y) for x, y in zip(ours, theirs)]
        assert max(errs) <= TOL, errs
        assert float(rosenbrock().fn(ours[-1])) < 1e-8


@pytest.mark.slow
def test_lbfgs_backtracking_converges_on_rosenbrock():
    with x64():
        got = _rosenbrock_run(lbfgs(linesearch="backtracking"), ROSENBROCK_ITERS["backtracking"])
        assert float(rosenbrock().fn(got[-1])) < 1e-8


# --------------------------------------------------------------------------- Newton


def test_newton_solves_quadratic_in_one_step():
    with x64():
        prob = ill_conditioned_quadratic(condition=1e4)
        got, _ = _run(newton(), prob.init, 1, loss=prob.fn)
        np.testing.assert_allclose(np.asarray(got[0]), np.zeros(2), atol=1e-14)
        got, _ = _run(newton_cg(), prob.init, 1, loss=prob.fn)
        np.testing.assert_allclose(np.asarray(got[0]), np.zeros(2), atol=1e-12)


def test_newton_matches_numpy_reference():
    lr, damping = 0.3, 0.5
    with x64():
        p0 = jax.tree.map(jnp.asarray, _start())
        got, _ = _run(newton(learning_rate=lr, damping=damping), p0, STEPS)
        z, ref = np.asarray(_flat(p0)), []
        for _ in range(STEPS):
            z = z - lr * np.linalg.solve(_np_hess(z) + damping * np.eye(_N), _np_grad(z))
            ref.append(z)
        err = max(max_rel_err(_flat(g), r) for g, r in zip(got, ref))
        assert err <= TOL, err


def _np_cg(hmat, g, max_iters, tol):
    z, r = np.zeros_like(g), g.copy()
    p, rr, j = r.copy(), r @ r, 0
    while j < max_iters and rr > tol**2 * (g @ g):
        ap = hmat @ p
        pap = p @ ap
        if pap <= 0:
            break
        alpha = rr / pap
        z, r = z + alpha * p, r - alpha * ap
        rr_new = r @ r
        p, rr, j = r + (rr_new / rr) * p, rr_new, j + 1
    return (g if j == 0 else z), j


def test_newton_cg_matches_numpy_reference():
    lr, damping, iters, tol = 0.7, 0.1, 3, 1e-12
    with x64():
        p0 = jax.tree.map(jnp.asarray, _start())
        tx = newton_cg(learning_rate=lr, damping=damping, max_cg_iters=iters, cg_tol=tol)
        got, state = _run(tx, p0, STEPS)
        z, ref, used = np.asarray(_flat(p0)), [], 0
        for _ in range(STEPS):
            d, used = _np_cg(_np_hess(z) + damping * np.eye(_N), _np_grad(z), iters, tol)
            z = z - lr * d
            ref.append(z)
        err = max(max_rel_err(_flat(g), r) for g, r in zip(got, ref))
        assert err <= TOL, err
        assert int(state[0].cg_iters) == used == iters  # the cap binds


def test_newton_cg_converges_on_rosenbrock_and_handles_negative_curvature():
    with x64():
        prob = rosenbrock()
        got, state = _run(newton_cg(), prob.init, 10, loss=prob.fn)
        assert float(prob.fn(got[-1])) < 1e-8
        # at (0, 1) the Rosenbrock Hessian is indefinite: the output is still a descent direction
        p = jnp.array([0.0, 1.0])
        g = jax.grad(prob.fn)(p)
        tx = newton_cg()
        u, _ = tx.update(g, tx.init(p), p, value_fn=prob.fn)
        assert float(jnp.vdot(u, g)) < 0


# --------------------------------------------------------------------------- ANGD


def test_angd_matches_numpy_reference_full_and_diagonal():
    """Leaf ``w`` (6 entries) keeps a full matrix, ``v`` (12) is diagonal; a schedule."""
    eps, init_scale = 0.02, 0.5
    def sched(count):  # any traceable step -> lr
        return 0.1 * 0.5 ** (jnp.asarray(count, jnp.float64) / 10)

    with x64():
        rng = np.random.default_rng(0)
        params = {
            "w": jnp.asarray(rng.normal(size=(3, 2))),
            "v": jnp.asarray(rng.normal(size=(4, 3))),
        }
        grads = random_grads(params, STEPS, seed=5, scale=0.5)
        tx = angd(sched, eps=eps, max_full_size=6, init_scale=init_scale)
        state = tx.init(params)
        upd = jax.jit(tx.update)
        h_w, h_v = init_scale * np.eye(6), np.full((4, 3), init_scale)
        pw, pv = np.asarray(params["w"]), np.asarray(params["v"])
        p = params
        worst = 0.0
        for t, g in enumerate(grads):
            u, state = upd(jax.tree.map(jnp.asarray, g), state, p)
            p = optax.apply_updates(p, u)
            lr = 0.1 * 0.5 ** (t / 10)
            gw = g["w"].ravel()
            hg = h_w @ gw
            pw = pw - lr * hg.reshape(3, 2)
            h_w = (1 + eps) * h_w - eps * np.outer(hg, hg)
            hv = h_v * g["v"]
            pv = pv - lr * hv
            h_v = (1 + eps) * h_v - eps * hv**2
            g_inv = state[0].g_inv
            worst = max(worst, max_rel_err({"w": p["w"], "v": p["v"]}, {"w": pw, "v": pv}),
                        max_rel_err(g_inv["w"], h_w), max_rel_err(g_inv["v"], h_v))
        assert worst <= TOL, worst
        assert g_inv["w"].shape == (6, 6) and g_inv["v"].shape == (4, 3)


def test_angd_fixed_point_is_inverse_fisher():
    """Averaged over the gradient distribution, the recursion's fixed point is
    G_inv = F^{-1}: (1 + eps) F^{-1} - eps F^{-1} E[g g^T] F^{-1} = F^{-1}."""
    with x64():
        rng = np.random.default_rng(1)
        m = rng.normal(size=(4, 4))
        fisher = m @ m.T + np.eye(4)
        g_inv = np.linalg.inv(fisher)
        tx = scale_by_angd(eps=0.1)
        state = tx.init(jnp.zeros(4))._replace(g_inv=jnp.asarray(g_inv))
        # E[g g^T] = fisher exactly over the columns of its symmetric square root (x2, +-)
        w, vecs = np.linalg.eigh(fisher)
        root = vecs @ np.diag(np.sqrt(w * 4)) @ vecs.T  # 4 samples: mean of g g^T = fisher
        nxt = [tx.update(jnp.asarray(root[:, i]), state)[1].g_inv for i in range(4)]
        np.testing.assert_allclose(np.mean(np.stack(nxt), axis=0), g_inv, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- common


@pytest.mark.parametrize(
    "make",
    [
        # the two-loop recursion (the line searches are optax's, tested there)
        lambda: lbfgs(0.1, memory_size=3, linesearch=None),
        pytest.param(lambda: newton(0.5, damping=0.1), marks=pytest.mark.slow),
        pytest.param(lambda: newton_cg(0.5, max_cg_iters=4), marks=pytest.mark.slow),
        lambda: angd(0.05, eps=0.01, max_full_size=4),
    ],
    ids=["lbfgs", "newton", "newton_cg", "angd"],
)
def test_jit_equals_no_jit(make):
    p0 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), _start())
    a, _ = _run(make(), p0, 2, jit=True, with_value=True)
    b, _ = _run(make(), p0, 2, jit=False, with_value=True)
    assert max_rel_err(a[-1], b[-1], floor=1e-3) <= 1e-5


def test_schedule_as_learning_rate_newton():
    def sched(count):  # linear from 1 to 0.1 over 5 steps, in float64
        return jnp.maximum(1.0 - 0.18 * jnp.asarray(count, jnp.float64), 0.1)

    with x64():
        p0 = jax.tree.map(jnp.asarray, _start())
        got, _ = _run(newton(sched, damping=0.2), p0, 6)
        z = np.asarray(_flat(p0))
        for t in range(6):
            lr = 1.0 + (0.1 - 1.0) * min(t, 5) / 5
            z = z - lr * np.linalg.solve(_np_hess(z) + 0.2 * np.eye(_N), _np_grad(z))
        assert max_rel_err(_flat(got[-1]), z) <= TOL


@pytest.mark.parametrize(
    "call,message",
    [
        (lambda: lbfgs(memory_size=0), "lbfgs: memory_size must be in [1, inf), got 0"),
        (lambda: lbfgs(learning_rate=-1.0), "lbfgs: learning_rate must be in [0, inf)"),
        (lambda: lbfgs(linesearch="armijo"), "lbfgs: linesearch must be one of"),
        (lambda: newton(damping=-0.1), "newton: damping must be in [0, inf)"),
        (lambda: newton_cg(max_cg_iters=0), "newton_cg: max_cg_iters must be"),
        (lambda: newton_cg(cg_tol=-1.0), "newton_cg: cg_tol must be in [0, inf)"),
        (lambda: angd(0.1, eps=1.0), "angd: eps must be in (0, 1)"),
        (lambda: angd(0.1, max_full_size=-1), "angd: max_full_size must be"),
        (lambda: angd(0.1, init_scale=0.0), "angd: init_scale must be in (0, inf)"),
    ],
)
def test_invalid_hyperparameters(call, message):
    with pytest.raises(ValueError) as e:
        call()
    assert message in str(e.value)


def test_missing_value_fn_and_structure_mismatch():
    p = {"a": jnp.ones(2)}
    tx = newton()
    with pytest.raises(ValueError, match="value_fn"):
        tx.update(p, tx.init(p), p)
    tx = angd(0.1)
    with pytest.raises(ValueError, match="gradient structure does not match"):
        tx.update({"b": jnp.ones(2)}, tx.init(p), p)
    tx = scale_by_lbfgs()
    with pytest.raises(ValueError, match="gradient structure does not match"):
        tx.update({"b": jnp.ones(2)}, tx.init(p), p)


# ---------------------------------------------------------------- the two-loop recursion


def _bfgs_inverse_hessian(s_list, y_list, gamma):
    """H from H0 = gamma I by the BFGS inverse update, one pair at a time, oldest
    first (Nocedal and Wright, eq. 6.17)."""
    n = s_list[0].shape[0]
    h = gamma * np.eye(n)
    for s, y in zip(s_list, y_list):
        rho = 1.0 / (y @ s)
        left = np.eye(n) - rho * np.outer(s, y)
        h = left @ h @ left.T + rho * np.outer(s, s)
    return h


def _pairs(rng, k, n):
    s = rng.normal(size=(k, n))
    y = s + 0.3 * rng.normal(size=(k, n))  # y . s > 0 for these
    assert np.all(np.sum(s * y, axis=1) > 0)
    return s, y


def test_two_loop_recursion_is_the_bfgs_inverse_hessian():
    from optzoo.transforms.lbfgs import two_loop_recursion

    rng = np.random.default_rng(3)
    with x64():
        s, y = _pairs(rng, 4, 6)
        q = rng.normal(size=6)
        rho = 1.0 / np.sum(s * y, axis=1)
        got = two_loop_recursion(jnp.asarray(q), jnp.asarray(s), jnp.asarray(y),
                                 jnp.asarray(rho), jnp.asarray(0.7))
        want = _bfgs_inverse_hessian(list(s), list(y), 0.7) @ q
        assert max_rel_err(got, want) < 1e-12


def test_two_loop_recursion_ring_and_history_orders_agree():
    """The ring buffer of scale_by_lbfgs (oldest pair at any slot, pytree leaves) and
    PyTorch's oldest-first history with a pair count give the same ``H q``; a pair
    with ``rho = 0`` is skipped."""
    from optzoo.transforms.lbfgs import two_loop_recursion

    rng = np.random.default_rng(4)
    with x64():
        s, y = _pairs(rng, 5, 7)
        rho = 1.0 / np.sum(s * y, axis=1)
        q = rng.normal(size=7)
        want = two_loop_recursion(jnp.asarray(q), jnp.asarray(s), jnp.asarray(y),
                                  jnp.asarray(rho), 1.3)
        for oldest in range(5):  # the same pairs stored as a ring starting at `oldest`
            ring = lambda a: np.roll(a, oldest, axis=0)  # noqa: E731
            tree = lambda a: {"a": jnp.asarray(a[:, :3]), "b": jnp.asarray(a[:, 3:])}  # noqa: E731
            got = two_loop_recursion({"a": jnp.asarray(q[:3]), "b": jnp.asarray(q[3:])},
                                     tree(ring(s)), tree(ring(y)), jnp.asarray(ring(rho)), 1.3,
                                     oldest=oldest)
            assert max_rel_err(jnp.concatenate([got["a"], got["b"]]), want) < 1e-13
        # a history of 3 pairs in a buffer of 5: the unused rows are not read
        padded = lambda a: np.concatenate([a[:3], np.full_like(a[3:], np.nan)])  # noqa: E731
        got = two_loop_recursion(jnp.asarray(q), jnp.asarray(padded(s)), jnp.asarray(padded(y)),
                                 jnp.asarray(padded(rho)), 1.3, num_pairs=jnp.int32(3))
        assert max_rel_err(got, _bfgs_inverse_hessian(list(s[:3]), list(y[:3]), 1.3) @ q) < 1e-12
        # rho = 0 skips a pair
        skip = rho.copy()
        skip[1] = 0.0
        got = two_loop_recursion(jnp.asarray(q), jnp.asarray(s), jnp.asarray(y),
                                 jnp.asarray(skip), 1.3)
        keep = [0, 2, 3, 4]
        want = _bfgs_inverse_hessian(list(s[keep]), list(y[keep]), 1.3) @ q
        assert max_rel_err(got, want) < 1e-12


def test_newton_singular_hessian_takes_the_least_squares_step():
    """``damping = 0`` on a function flat along ``x0 - x1``: LU fails on the singular
    Hessian; the step is ``pinv(H) g`` (no move along the flat direction), finite,
    jitted or not, and reaches the minimum in one step."""

    def loss(p):
        return (p["w"][0] + p["w"][1]) ** 2 + (p["w"][2] - 1.0) ** 2

    with x64():
        p = {"w": jnp.asarray([1.0, 2.0, 3.0])}
        g = jax.grad(loss)(p)
        hess = np.array([[2.0, 2.0, 0.0], [2.0, 2.0, 0.0], [0.0, 0.0, 2.0]])
        ref = -np.linalg.lstsq(hess, np.asarray(g["w"]), rcond=None)[0]
        for damping in (0.0, 0.0 * jnp.ones([])):  # a plain zero and an array zero
            tx = newton(damping=damping)
            for update in (tx.update, jax.jit(tx.update, static_argnames="value_fn")):
                u, _ = update(g, tx.init(p), p, value_fn=loss)
                np.testing.assert_allclose(np.asarray(u["w"]), ref, rtol=1e-12, atol=1e-12)
        assert float(loss(optax.apply_updates(p, u))) < 1e-20
    with jax.enable_x64(False):  # float32: finite, and the same step
        p32 = {"w": jnp.asarray([1.0, 2.0, 3.0], jnp.float32)}
        tx = newton()
        u, _ = tx.update(jax.grad(loss)(p32), tx.init(p32), p32, value_fn=loss)
        np.testing.assert_allclose(np.asarray(u["w"]), ref, rtol=1e-6)
