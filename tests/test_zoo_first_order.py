"""The first-order half of the zoo: lars, lamb, rprop, asgd, adafactor, sparse_adam,
lion, muon.

Every optimizer is checked against a float64 NumPy reference written here from the
published update rule (never by calling optzoo), for 60 steps with non-default
hyperparameters; against optax where optax has the same semantics; for convergence
on the ill-conditioned quadratic and Rosenbrock; for jit/no-jit agreement, a
schedule as learning rate, and exact messages for invalid hyperparameters.
"""

from __future__ import annotations

import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from optzoo import problems
from tests.helpers import max_rel_err, x64

STEPS = 60
TOL = 1e-10
FLOOR = 1e-6  # relative error is measured against max(|expected|, FLOOR)


# ----------------------------------------------------------------------------- fixtures


def _params(seed=0):
    """A matrix, a tall matrix, a 3-D tensor, a vector and a scalar (float64 NumPy)."""
    rng = np.random.default_rng(seed)
    return {
        "w": rng.normal(size=(4, 3)),
        "tall": rng.normal(size=(5, 2)),
        "k": rng.normal(size=(2, 3, 4)),
        "b": rng.normal(size=(3,)),
        "s": np.float64(rng.normal()),
    }


def _grads(params, steps=STEPS, seed=1, zero_rows=False):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        g = {k: rng.normal(size=np.shape(p)) for k, p in params.items()}
        if "s" in g:
            g["s"] = np.float64(g["s"])
        if zero_rows:  # some rows (and entries) with no gradient at all
            for k in [k for k in ("w", "tall", "k", "b") if k in params]:
                rows = rng.random(np.shape(params[k])[0]) < 0.4
                g[k][rows] = 0.0
            if "s" in params and rng.random() < 0.3:
                g["s"] = np.float64(0.0)
        out.append(g)
    return out


def _run(tx, params, grads, jit=True):
    """Apply ``tx`` for the gradient sequence; return every iterate and the state.

    ``jit=True`` runs all steps in one compiled ``lax.scan``; ``jit=False`` steps
    eagerly, op by op.
    """
    p = jax.tree.map(jnp.asarray, params)
    gs = [jax.tree.map(lambda x, q: jnp.asarray(x, q.dtype), g, p) for g in grads]
    state = tx.init(p)

    def step(carry, g):
        p, state = carry
        u, state = tx.update(g, state, p)
        p = optax.apply_updates(p, u)
        return (p, state), p

    if jit:
        stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *gs)
        (_, state), ps = jax.jit(lambda c, g: jax.lax.scan(step, c, g))((p, state), stacked)
        ps = jax.tree.map(np.asarray, ps)
        hist = [jax.tree.map(lambda x, i=i: x[i], ps) for i in range(len(gs))]
        return hist, state
    hist = []
    for g in gs:
        (p, state), _ = step((p, state), g)
        hist.append(jax.tree.map(np.asarray, p))
    return hist, state


def _lr_fn(lr):
    return lr if callable(lr) else (lambda k: lr)


def _norm(x):
    return math.sqrt(float(np.sum(np.asarray(x) ** 2)))


def _rms(x):
    return math.sqrt(float(np.mean(np.asarray(x) ** 2)))


# ---------------------------------------------------------------- NumPy references (float64)


def ref_lars(params, grads, lr, momentum, tc, wd, eps, nesterov, masked=True):
    lr = _lr_fn(lr)
    p = {k: np.array(v, dtype=float) for k, v in params.items()}
    buf = {k: np.zeros_like(v) for k, v in p.items()}
    hist = []
    for k_step, g in enumerate(grads):
        for k in p:
            layer = np.ndim(p[k]) >= 2 or not masked
            d = g[k] + wd * p[k] if layer else np.array(g[k], dtype=float)
            ratio = 1.0
            if layer:
                pn, dn = _norm(p[k]), _norm(d)
                if pn > 0 and dn > 0:
                    ratio = tc * pn / (dn + eps)
            step = -lr(k_step) * ratio * d
            buf[k] = momentum * buf[k] + step
            p[k] = p[k] + (step + momentum * buf[k] if nesterov else buf[k])
        hist.append({k: v.copy() for k, v in p.items()})
    return hist


def ref_lamb(params, grads, lr, b1, b2, eps, wd):
    lr = _lr_fn(lr)
    p = {k: np.array(v, dtype=float) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    s = {k: np.zeros_like(v) for k, v in p.items()}
    hist = []
    for i, g in enumerate(grads):
        t = i + 1
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            s[k] = b2 * s[k] + (1 - b2) * g[k] ** 2
            r = (m[k] / (1 - b1**t)) / (np.sqrt(s[k] / (1 - b2**t)) + eps)
            d = r + wd * p[k]
            pn, dn = _norm(p[k]), _norm(d)
            ratio = pn / dn if pn > 0 and dn > 0 else 1.0
            p[k] = p[k] - lr(i) * ratio * d
        hist.append({k: v.copy() for k, v in p.items()})
    return hist


def ref_rprop(params, grads, lr, etaminus, etaplus, smin, smax, zero=True):
    p = {k: np.array(v, dtype=float) for k, v in params.items()}
    step = {k: np.full_like(v, lr) for k, v in p.items()}
    prev = {k: np.zeros_like(v) for k, v in p.items()}
    hist = []
    for g in grads:
        for k in p:
            gk = np.array(g[k], dtype=float)
            prod = gk * prev[k]
            factor = np.ones_like(prod)
            factor[prod > 0] = etaplus
            factor[prod < 0] = etaminus
            step[k] = np.minimum(np.maximum(step[k] * factor, smin), smax)
            if zero:
                gk[prod < 0] = 0.0
            p[k] = p[k] - step[k] * np.sign(gk)
            prev[k] = gk
        hist.append({k: v.copy() for k, v in p.items()})
    return hist


def ref_asgd(params, grads, lr, lambd, alpha, t0, wd):
    lr = _lr_fn(lr)
    p = {k: np.array(v, dtype=float) for k, v in params.items()}
    ax = {k: np.zeros_like(v) for k, v in p.items()}
    hist, avgs = [], []
    for i, g in enumerate(grads):
        eta = lr(i) / (1 + lambd * lr(i) * i) ** alpha  # i steps already taken
        mu = 1.0 / max(1.0, i - t0)
        for k in p:
            p[k] = p[k] * (1 - lambd * eta) - eta * (g[k] + wd * p[k])
            ax[k] = p[k].copy() if mu == 1 else ax[k] + mu * (p[k] - ax[k])
        hist.append({k: v.copy() for k, v in p.items()})
        avgs.append({k: v.copy() for k, v in ax.items()})
    return hist, avgs


def ref_adafactor(params, grads, lr, decay, eps1, eps2, d, wd, relative=True, clamp=False):
    lr = _lr_fn(lr)
    p = {k: np.array(v, dtype=float) for k, v in params.items()}
    row = {k: np.zeros(np.shape(v)[:-1]) for k, v in p.items() if np.ndim(v) >= 2}
    col = {k: np.zeros(np.shape(v)[:-2] + np.shape(v)[-1:])
           for k, v in p.items() if np.ndim(v) >= 2}
    full = {k: np.zeros_like(v) for k, v in p.items() if np.ndim(v) < 2}
    hist = []
    for i, g in enumerate(grads):
        t = i + 1
        w = t**decay  # 1 - beta2_t
        rho = min(lr(i), 1 / math.sqrt(t)) if relative else lr(i)
        for k in p:
            sq = g[k] ** 2 if clamp else g[k] ** 2 + eps1
            if k in row:
                row[k] = (1 - w) * row[k] + w * sq.mean(axis=-1)
                col[k] = (1 - w) * col[k] + w * sq.mean(axis=-2)
                outer = np.einsum("...r,...c->...rc", row[k], col[k])
                denom = row[k].mean(axis=-1)[..., None, None]
                if clamp:
                    denom = np.maximum(denom, eps1)
                vhat = outer / denom
            else:
                full[k] = (1 - w) * full[k] + w * sq
                vhat = full[k]
            if clamp:
                vhat = np.maximum(vhat, eps1 * eps1)
            u = g[k] / np.sqrt(vhat)
            u = u / max(1.0, _rms(u) / d)
            a = max(eps2, _rms(p[k])) * rho
            p[k] = p[k] - a * u - lr(i) * wd * p[k]
        hist.append({k: v.copy() for k, v in p.items()})
    return hist


def ref_sparse_adam(params, grads, lr, b1, b2, eps, eps_hat=False, element=False):
    lr = _lr_fn(lr)
    p = {k: np.array(v, dtype=float) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    s = {k: np.zeros_like(v) for k, v in p.items()}
    hist, states = [], []
    for i, g in enumerate(grads):
        t = i + 1
        for k in p:
            gk = np.asarray(g[k])
            if gk.ndim <= 1 or element:
                rows = [idx for idx in np.ndindex(gk.shape) if gk[idx] != 0]
            else:
                rows = [(r,) for r in range(gk.shape[0]) if np.any(gk[r] != 0)]
            for r in rows:
                m[k][r] = b1 * m[k][r] + (1 - b1) * gk[r]
                s[k][r] = b2 * s[k][r] + (1 - b2) * gk[r] ** 2
                if eps_hat:
                    step = lr(i) * math.sqrt(1 - b2**t) / (1 - b1**t)
                    p[k][r] = p[k][r] - step * m[k][r] / (np.sqrt(s[k][r]) + eps)
                else:
                    mh, vh = m[k][r] / (1 - b1**t), s[k][r] / (1 - b2**t)
                    p[k][r] = p[k][r] - lr(i) * mh / (np.sqrt(vh) + eps)
        hist.append({k: np.array(v) for k, v in p.items()})
        states.append(({k: np.array(v) for k, v in m.items()},
                       {k: np.array(v) for k, v in s.items()}))
    return hist, states


def ref_lion(params, grads, lr, b1, b2, wd):
    lr = _lr_fn(lr)
    p = {k: np.array(v, dtype=float) for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    hist = []
    for i, g in enumerate(grads):
        for k in p:
            c = b1 * m[k] + (1 - b1) * g[k]
            p[k] = p[k] - lr(i) * (np.sign(c) + wd * p[k])
            m[k] = b2 * m[k] + (1 - b2) * g[k]
        hist.append({k: v.copy() for k, v in p.items()})
    return hist


def _ns(mat, coeffs, steps, eps):
    a, b, c = coeffs
    x = mat.T if mat.shape[0] > mat.shape[1] else mat
    x = x / max(np.linalg.norm(x), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if mat.shape[0] > mat.shape[1] else x


def ref_muon(params, grads, lr, mom, nesterov, coeffs, steps, eps, adjust, wd, b2, adam_eps):
    lr = _lr_fn(lr)
    p = {k: np.array(v, dtype=float) for k, v in params.items()}
    buf = {k: np.zeros_like(v) for k, v in p.items()}
    nu = {k: np.zeros_like(v) for k, v in p.items()}
    hist = []
    for i, g in enumerate(grads):
        t = i + 1
        for k in p:
            buf[k] = mom * buf[k] + (1 - mom) * g[k]
            look = (1 - mom) * g[k] + mom * buf[k] if nesterov else buf[k]
            if np.ndim(p[k]) == 2:
                rows, cols = np.shape(p[k])
                ratio = {"original": math.sqrt(max(1, rows / cols)),
                         "match_rms_adamw": 0.2 * math.sqrt(max(rows, cols)), "none": 1.0}[adjust]
                d = ratio * _ns(look, coeffs, steps, eps)
            else:
                nu[k] = b2 * nu[k] + (1 - b2) * g[k] ** 2
                d = (buf[k] / (1 - mom**t)) / (np.sqrt(nu[k] / (1 - b2**t)) + adam_eps)
            p[k] = p[k] - lr(i) * (d + wd * p[k])
        hist.append({k: v.copy() for k, v in p.items()})
    return hist


# ------------------------------------------------------------------- the reference table
# name -> (optzoo constructor, kwargs, reference, reference kwargs, gradient options)

COEFFS = (3.0, -3.2, 1.2)

CASES = {
    "lars": (
        optzoo.lars,
        dict(learning_rate=0.3, momentum=0.8, trust_coefficient=0.02, weight_decay=1e-2, eps=1e-4),
        ref_lars,
        dict(lr=0.3, momentum=0.8, tc=0.02, wd=1e-2, eps=1e-4, nesterov=False),
        {},
    ),
    "lars_nesterov_unmasked": (
        lambda **kw: optzoo.lars(**kw, weight_decay_mask=True, trust_ratio_mask=True),
        dict(learning_rate=0.2, momentum=0.7, trust_coefficient=0.05, weight_decay=3e-3,
             nesterov=True),
        ref_lars,
        dict(lr=0.2, momentum=0.7, tc=0.05, wd=3e-3, eps=0.0, nesterov=True, masked=False),
        {},
    ),
    "lamb": (
        optzoo.lamb,
        dict(learning_rate=0.02, b1=0.8, b2=0.95, eps=1e-5, weight_decay=0.05),
        ref_lamb,
        dict(lr=0.02, b1=0.8, b2=0.95, eps=1e-5, wd=0.05),
        {},
    ),
    "rprop": (
        optzoo.rprop,
        dict(learning_rate=0.05, eta_minus=0.4, eta_plus=1.3, min_step_size=1e-3,
             max_step_size=0.4),
        ref_rprop,
        dict(lr=0.05, etaminus=0.4, etaplus=1.3, smin=1e-3, smax=0.4),
        dict(zero_rows=True),
    ),
    "rprop_no_zeroing": (
        lambda **kw: optzoo.rprop(**kw, zero_after_sign_change=False),
        dict(learning_rate=0.02, eta_minus=0.6, eta_plus=1.1, min_step_size=1e-4,
             max_step_size=1.0),
        ref_rprop,
        dict(lr=0.02, etaminus=0.6, etaplus=1.1, smin=1e-4, smax=1.0, zero=False),
        {},
    ),
    "adafactor": (
        optzoo.adafactor,
        dict(learning_rate=0.05, beta2_decay=-0.7, eps1=1e-20, eps2=1e-2, clip_threshold=1.5,
             weight_decay=1e-3),
        ref_adafactor,
        dict(lr=0.05, decay=-0.7, eps1=1e-20, eps2=1e-2, d=1.5, wd=1e-3),
        {},
    ),
    "adafactor_fixed_step": (
        optzoo.adafactor,
        dict(learning_rate=0.01, beta2_decay=-0.9, eps1=1e-12, eps2=1e-4, clip_threshold=1.2,
             relative_step=False),
        ref_adafactor,
        dict(lr=0.01, decay=-0.9, eps1=1e-12, eps2=1e-4, d=1.2, wd=0.0, relative=False),
        {},
    ),
    "adafactor_clamp_eps": (
        lambda **kw: optax.chain(optzoo.transforms.scale_by_adafactor(**kw, eps1_mode="clamp")),
        dict(learning_rate=0.03, beta2_decay=-0.6, eps1=1e-3, eps2=1e-2, clip_threshold=1.3,
             weight_decay=2e-2),
        ref_adafactor,
        dict(lr=0.03, decay=-0.6, eps1=1e-3, eps2=1e-2, d=1.3, wd=2e-2, clamp=True),
        {},
    ),
    "lion": (
        optzoo.lion,
        dict(learning_rate=1e-2, b1=0.7, b2=0.95, weight_decay=0.1),
        ref_lion,
        dict(lr=1e-2, b1=0.7, b2=0.95, wd=0.1),
        {},
    ),
    "muon": (
        optzoo.muon,
        dict(learning_rate=0.01, momentum=0.9, ns_coefficients=COEFFS, ns_steps=4, eps=1e-6,
             adjust_lr_fn="match_rms_adamw", weight_decay=0.01, b2=0.99, adam_eps=1e-6),
        ref_muon,
        dict(lr=0.01, mom=0.9, nesterov=True, coeffs=COEFFS, steps=4, eps=1e-6,
             adjust="match_rms_adamw", wd=0.01, b2=0.99, adam_eps=1e-6),
        {},
    ),
    "muon_plain_momentum": (
        optzoo.muon,
        dict(learning_rate=0.02, momentum=0.8, nesterov=False, ns_steps=6,
             adjust_lr_fn="original", b2=0.9, adam_eps=1e-7),
        ref_muon,
        dict(lr=0.02, mom=0.8, nesterov=False, coeffs=(3.4445, -4.7750, 2.0315), steps=6,
             eps=1e-7, adjust="original", wd=0.0, b2=0.9, adam_eps=1e-7),
        {},
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_float64_reference(name):
    make, kwargs, ref, ref_kwargs, gopts = CASES[name]
    params = _params()
    grads = _grads(params, **gopts)
    with x64():
        hist, _ = _run(make(**kwargs), params, grads)
    expected = ref(params, grads, **ref_kwargs)
    assert len(hist) >= 50
    err = max_rel_err(hist, expected, floor=FLOOR)
    assert err <= TOL, f"{name}: max relative error {err:.3e}"


def test_asgd_reference_and_exact_average():
    params = _params()
    grads = _grads(params)
    t0 = 10
    with x64():
        tx = optzoo.asgd(learning_rate=0.05, lambd=1e-2, alpha=0.6, t0=t0, weight_decay=1e-3)
        hist, state = _run(tx, params, grads)
        averaged = optzoo.asgd_averaged_params(state)
    expected, avgs = ref_asgd(params, grads, lr=0.05, lambd=1e-2, alpha=0.6, t0=t0, wd=1e-3)
    assert max_rel_err(hist, expected, floor=FLOOR) <= TOL
    assert max_rel_err(averaged, avgs[-1], floor=FLOOR) <= TOL
    # The average is exactly the mean of the iterates from step t0 + 2 (1-based) on.
    mean = {k: np.mean([h[k] for h in hist[t0 + 1:]], axis=0) for k in params}
    assert max_rel_err(averaged, mean, floor=FLOOR) <= 1e-12


def test_asgd_averaged_params_errors_and_before_first_step():
    params = {"a": jnp.ones(3)}
    state = optzoo.asgd().init(params)
    np.testing.assert_array_equal(optzoo.asgd_averaged_params(state)["a"], np.zeros(3))
    with pytest.raises(ValueError, match="expected one AsgdState in the state, found 0"):
        optzoo.asgd_averaged_params(optzoo.adam().init(params))
    # works through wrappers
    wrapped = optax.inject_hyperparams(optzoo.asgd)(learning_rate=0.1)
    st = wrapped.init(params)
    _, st = wrapped.update({"a": jnp.ones(3)}, st, params)
    assert optzoo.asgd_averaged_params(st)["a"].shape == (3,)


# ----------------------------------------------------------------------- sparse_adam


@pytest.mark.parametrize("eps_hat,granularity", [(False, "row"), (True, "row"),
                                                 (False, "element")])
def test_sparse_adam_reference(eps_hat, granularity):
    params = _params()
    grads = _grads(params, zero_rows=True)
    rng = np.random.default_rng(5)
    for g in grads:  # scattered zeros inside rows too
        g["w"][rng.random(g["w"].shape) < 0.2] = 0.0
    with x64():
        tx = optzoo.sparse_adam(0.02, b1=0.8, b2=0.95, eps=1e-6, eps_hat=eps_hat,
                                granularity=granularity)
        hist, state = _run(tx, params, grads)
    expected, states = ref_sparse_adam(params, grads, 0.02, 0.8, 0.95, 1e-6, eps_hat,
                                       element=granularity == "element")
    assert max_rel_err(hist, expected, floor=FLOOR) <= TOL
    mu, nu = state[0].mu, state[0].nu
    assert max_rel_err(mu, states[-1][0], floor=FLOOR) <= TOL
    assert max_rel_err(nu, states[-1][1], floor=FLOOR) <= TOL


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_sparse_adam_untouched_rows_bitwise(dtype):
    rng = np.random.default_rng(3)
    table = jnp.asarray(rng.normal(size=(8, 5)), dtype)
    tx = optzoo.sparse_adam(1e-2)
    state = tx.init(table)
    update = jax.jit(tx.update)
    p = table
    for step in range(20):
        g = rng.normal(size=(8, 5))
        rows = rng.choice(8, size=3, replace=False)
        untouched = np.setdiff1d(np.arange(8), rows)
        g[untouched] = 0.0
        g[rows[0], :2] = 0.0  # zeros inside a touched row still update
        g = jnp.asarray(g, dtype)
        before_p = np.asarray(p).copy()
        before_mu = np.asarray(state[0].mu).copy()
        before_nu = np.asarray(state[0].nu).copy()
        u, state = update(g, state, p)
        p = optax.apply_updates(p, u)
        for name, new, old in (
            ("params", p, before_p),
            ("mu", state[0].mu, before_mu),
            ("nu", state[0].nu, before_nu),
        ):
            new = np.asarray(new)
            assert new.tobytes() != b""  # arrays, not scalars
            np.testing.assert_array_equal(
                new[untouched].view(np.uint16 if dtype == jnp.bfloat16 else np.uint32),
                old[untouched].view(np.uint16 if dtype == jnp.bfloat16 else np.uint32),
                err_msg=f"{name} changed on an untouched row at step {step}",
            )
        assert not np.array_equal(np.asarray(p)[rows], before_p[rows])
        assert int(state[0].count) == step + 1


def test_sparse_adam_equals_adam_when_every_row_touched():
    params = _params()
    grads = _grads(params)  # normal draws: no zero entries
    with x64():
        a, _ = _run(optzoo.sparse_adam(3e-3, b1=0.85, b2=0.97, eps=1e-7), params, grads)
        b, _ = _run(optax.adam(3e-3, b1=0.85, b2=0.97, eps=1e-7), params, grads)
    assert max_rel_err(a, b, floor=FLOOR) <= TOL


# --------------------------------------------------------------------- optax equality


OPTAX_EQUAL = {
    "lars": (
        lambda: optzoo.lars(0.3, momentum=0.8, trust_coefficient=0.02, weight_decay=1e-2,
                            eps=1e-4, nesterov=True, weight_decay_mask=True, trust_ratio_mask=True),
        lambda: optax.lars(0.3, weight_decay=1e-2, trust_coefficient=0.02, eps=1e-4,
                           momentum=0.8, nesterov=True),
    ),
    "lamb": (
        lambda: optzoo.lamb(0.02, b1=0.8, b2=0.95, eps=1e-5, weight_decay=0.05),
        lambda: optax.lamb(0.02, b1=0.8, b2=0.95, eps=1e-5, weight_decay=0.05),
    ),
    "lion": (
        lambda: optzoo.lion(1e-2, b1=0.7, b2=0.95, weight_decay=0.1),
        lambda: optax.lion(1e-2, b1=0.7, b2=0.95, weight_decay=0.1),
    ),
}


@pytest.mark.parametrize("name", sorted(OPTAX_EQUAL))
def test_equals_optax(name):
    mine, theirs = OPTAX_EQUAL[name]
    params = _params()
    grads = _grads(params)
    with x64():
        a, _ = _run(mine(), params, grads)
        b, _ = _run(theirs(), params, grads)
    err = max_rel_err(a, b, floor=FLOOR)
    assert err <= TOL, f"{name}: {err:.3e}"


def test_adafactor_equals_optax_up_to_its_float32_decay_rate():
    # optax computes beta2_t in float32 even under x64; everything else matches.
    params = _params()
    grads = _grads(params)
    with x64():
        a, _ = _run(
            optzoo.adafactor(0.05, beta2_decay=-0.8, relative_step=False,
                             factor_dims="largest_two", min_dim_size_to_factor=3),
            params, grads,
        )
        b, _ = _run(optax.adafactor(0.05, min_dim_size_to_factor=3, decay_rate=0.8), params, grads)
    assert max_rel_err(a[0], b[0], floor=FLOOR) <= TOL  # beta2_1 = 0 exactly in both
    assert max_rel_err(a, b, floor=FLOOR) <= 1e-4  # float32 beta2_t from step 2 on


def _step_sizes(state):
    return [s for s in jax.tree.leaves(state, is_leaf=lambda x: hasattr(x, "step_sizes")
                                       or hasattr(x, "step_size")) if hasattr(s, "step_sizes")
            or hasattr(s, "step_size")][0]


def test_rprop_step_sizes_equal_optax_updates_differ():
    # optax (0.2.8) shares the step-size rule, so the step sizes agree; but it
    # applies each update one step late (its first update is zero), so the
    # iterates do not.
    params = _params()
    grads = _grads(params, zero_rows=True)
    kw = dict(eta_minus=0.4, eta_plus=1.3, min_step_size=1e-3, max_step_size=0.4)
    with x64():
        a, sa = _run(optzoo.rprop(0.05, **kw), params, grads)
        b, sb = _run(optax.rprop(0.05, **kw), params, grads)
    assert max_rel_err(_step_sizes(sa).step_size, _step_sizes(sb).step_sizes) <= TOL
    assert max_rel_err(b[0], params) == 0.0  # optax's first update is zero
    assert max_rel_err(a, b, floor=FLOOR) > 1e-3


def test_rprop_clips_initial_step_size_like_pytorch():
    # PyTorch clips every step size on every step, optax only after a sign test.
    params = {"x": np.array([1.0, -2.0])}
    grads = [{"x": np.array([1.0, 1.0])}]
    with x64():
        a, sa = _run(optzoo.rprop(2.0, max_step_size=0.5), params, grads)
        _, sb = _run(optax.rprop(2.0, max_step_size=0.5), params, grads)
    np.testing.assert_allclose(a[0]["x"], [0.5, -2.5])
    np.testing.assert_allclose(_step_sizes(sa).step_size["x"], [0.5, 0.5])
    np.testing.assert_allclose(_step_sizes(sb).step_sizes["x"], [2.0, 2.0])


# ------------------------------------------------------------------------ convergence

# (optimizer, problem, steps, tolerance on loss - min_value), all full-batch, float32.
CONVERGENCE = [
    ("lars", lambda: optzoo.lars(0.05, momentum=0.9, trust_coefficient=1.0, weight_decay=0.0,
                                 trust_ratio_mask=True), "quadratic", 500, 1e-6),
    ("lamb", lambda: optzoo.lamb(optax.cosine_decay_schedule(0.1, 1000)), "quadratic", 1000, 1e-6),
    ("rprop", lambda: optzoo.rprop(0.1), "quadratic", 200, 1e-8),
    ("asgd", lambda: optzoo.asgd(0.015, lambd=0.0, t0=1e6), "quadratic", 1000, 1e-6),
    ("adafactor", lambda: optzoo.adafactor(0.1, relative_step=False), "quadratic", 600, 1e-6),
    ("sparse_adam", lambda: optzoo.sparse_adam(optax.cosine_decay_schedule(0.1, 1000)),
     "quadratic", 1000, 1e-6),
    ("lion", lambda: optzoo.lion(optax.cosine_decay_schedule(0.05, 1000)), "quadratic", 1000, 1e-6),
    ("muon", lambda: optzoo.muon(optax.cosine_decay_schedule(0.1, 1000)), "quadratic", 1000, 1e-6),
    ("lars", lambda: optzoo.lars(3e-3, momentum=0.9, trust_coefficient=1.0, weight_decay=0.0,
                                 trust_ratio_mask=True), "rosenbrock", 3000, 1e-3),
    ("lamb", lambda: optzoo.lamb(optax.cosine_decay_schedule(0.02, 3000)),
     "rosenbrock", 3000, 1e-3),
    ("rprop", lambda: optzoo.rprop(0.01), "rosenbrock", 3000, 1e-4),
    ("asgd", lambda: optzoo.asgd(1.9e-3, lambd=0.0), "rosenbrock", 5000, 1e-3),
    ("adafactor", lambda: optzoo.adafactor(optax.cosine_decay_schedule(0.05, 5000),
                                           relative_step=False), "rosenbrock", 5000, 1e-3),
    ("sparse_adam", lambda: optzoo.sparse_adam(optax.cosine_decay_schedule(0.05, 3000)),
     "rosenbrock", 3000, 1e-3),
    ("lion", lambda: optzoo.lion(optax.cosine_decay_schedule(0.01, 3000)),
     "rosenbrock", 3000, 1e-3),
    ("muon", lambda: optzoo.muon(optax.cosine_decay_schedule(0.05, 3000)),
     "rosenbrock", 3000, 1e-3),
]


def _minimise(tx, problem, steps):
    def body(carry, _):
        p, s = carry
        g = jax.grad(problem.fn)(p)
        u, s = tx.update(g, s, p)
        return (optax.apply_updates(p, u), s), None

    (p, _), _ = jax.lax.scan(body, (problem.init, tx.init(problem.init)), None, length=steps)
    return float(problem.fn(p) - problem.min_value)


@pytest.mark.parametrize("name,make,problem,steps,tol", CONVERGENCE,
                         ids=[f"{c[0]}-{c[2]}" for c in CONVERGENCE])
def test_converges(name, make, problem, steps, tol):
    prob = (problems.ill_conditioned_quadratic(100.0) if problem == "quadratic"
            else problems.rosenbrock())
    gap = _minimise(make(), prob, steps)
    assert gap <= tol, f"{name} on {problem}: loss gap {gap:.3e} after {steps} steps"


# ------------------------------------------------------------- jit, schedules, wrappers

ALL = {
    "lars": lambda lr: optzoo.lars(lr),
    "lamb": lambda lr: optzoo.lamb(lr, weight_decay=0.01),
    "asgd": lambda lr: optzoo.asgd(lr, lambd=1e-2, t0=5),
    "adafactor": lambda lr: optzoo.adafactor(lr, weight_decay=1e-2),
    "sparse_adam": lambda lr: optzoo.sparse_adam(lr),
    "lion": lambda lr: optzoo.lion(lr, weight_decay=0.1),
    "muon": lambda lr: optzoo.muon(lr, weight_decay=0.1),
}


@pytest.mark.parametrize("name", sorted(ALL) + ["rprop"])
def test_jit_equals_no_jit(name):
    make = (lambda lr: optzoo.rprop(lr)) if name == "rprop" else ALL[name]
    full = _params()
    params = {"w": full["w"], "b": full["b"]}  # few shapes: eager mode compiles per shape
    grads = _grads(params, steps=3, zero_rows=True)
    with x64():
        a, _ = _run(make(0.05), params, grads, jit=True)
        b, _ = _run(make(0.05), params, grads, jit=False)
    assert max_rel_err(a, b, floor=FLOOR) <= 1e-12


# A schedule where the learning rate enters inside the block (lars: inside the
# momentum; asgd: inside eta; adafactor: capped by the relative step) and one where
# it is the final scale (lion; lamb, sparse_adam and muon chain the same scale, and
# the convergence tests run them with cosine schedules).
SCHEDULE_REFS = {
    "lars": (lambda lr: optzoo.lars(lr, momentum=0.8, trust_coefficient=0.02, weight_decay=1e-2),
             lambda lr, p, g: ref_lars(p, g, lr, 0.8, 0.02, 1e-2, 0.0, False)),
    "asgd": (lambda lr: optzoo.asgd(lr, lambd=1e-2, t0=5),
             lambda lr, p, g: ref_asgd(p, g, lr, 1e-2, 0.75, 5, 0.0)[0]),
    "adafactor": (lambda lr: optzoo.adafactor(lr, weight_decay=1e-2),
                  lambda lr, p, g: ref_adafactor(p, g, lr, -0.8, 1e-30, 1e-3, 1.0, 1e-2)),
    "lion": (lambda lr: optzoo.lion(lr, weight_decay=0.1),
             lambda lr, p, g: ref_lion(p, g, lr, 0.9, 0.99, 0.1)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULE_REFS))
def test_schedule_as_learning_rate(name):
    make, ref = SCHEDULE_REFS[name]
    params = _params()
    grads = _grads(params, steps=STEPS, zero_rows=(name == "sparse_adam"))
    with x64():
        sched = optax.cosine_decay_schedule(0.05, decay_steps=40, alpha=0.1)
        hist, _ = _run(make(sched), params, grads)
    expected = ref(lambda k: 0.05 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(k, 40) / 40))),
                   params, grads)
    err = max_rel_err(hist, expected, floor=FLOOR)
    assert err <= TOL, f"{name}: {err:.3e}"


@pytest.mark.parametrize("name", sorted(ALL))
def test_inject_hyperparams_and_bfloat16_params(name):
    # A traced learning rate (inject_hyperparams under jit) and low-precision params:
    # updates follow the params' dtype and stay finite; floating state is float32 (the
    # half-precision policy of docs/guarantees.md), except asgd's averages, which are
    # params and keep their dtype.
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.bfloat16), _params())
    tx = optax.inject_hyperparams(ALL[name])(lr=0.01)
    state = tx.init(params)
    g = jax.tree.map(lambda p: jnp.full_like(p, 0.5), params)
    update = jax.jit(tx.update)
    for _ in range(2):
        u, state = update(g, state, params)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(u))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(u))
    inner = state.inner_state
    floating = [x for x in jax.tree.leaves(inner) if jnp.issubdtype(x.dtype, jnp.floating)
                and x.ndim > 0]
    state_dtype = jnp.bfloat16 if name == "asgd" else jnp.float32
    assert floating and all(x.dtype == state_dtype for x in floating), name


def test_adafactor_state_is_factored():
    params = {"w": jnp.zeros((64, 32)), "k": jnp.zeros((3, 8, 16)), "b": jnp.zeros(32)}
    state = optzoo.adafactor().init(params)[0]
    assert state.v_row["w"].shape == (64,) and state.v_col["w"].shape == (32,)
    assert state.v["w"].shape == ()
    assert state.v_row["k"].shape == (3, 8) and state.v_col["k"].shape == (3, 16)
    assert state.v["b"].shape == (32,)
    optax_like = optzoo.transforms.scale_by_adafactor(factor_dims="largest_two",
                                                      min_dim_size_to_factor=10).init(params)
    assert optax_like.v_row["k"].shape == ()  # 8 < 10: not factored
    assert optax_like.v["k"].shape == (3, 8, 16)


def test_muon_ns_in_bfloat16_is_close_to_float32():
    rng = np.random.default_rng(0)
    m = jnp.asarray(rng.normal(size=(6, 4)), jnp.float32)
    a = optzoo.transforms.newton_schulz(m)
    b = optzoo.transforms.newton_schulz(m, ns_dtype=jnp.bfloat16)
    assert a.dtype == b.dtype == jnp.float32
    assert float(jnp.max(jnp.abs(a - b))) < 0.1
    s = np.linalg.svd(np.asarray(a), compute_uv=False)
    assert 0.6 < s.min() and s.max() < 1.3  # roughly orthogonal (Jordan's coefficients)


def test_muon_momentum_fallback_and_lars_masks():
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    g = {"w": jnp.full((3, 2), 0.5), "b": jnp.array([1.0, -2.0])}
    tx = optzoo.muon(1.0, momentum=0.5, nesterov=False, fallback="momentum")
    u, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_allclose(u["b"], [-0.5, 1.0])  # -lr (1 - momentum) g
    # lars leaves masked-out leaves as plain (momentum) SGD
    tx = optzoo.lars(0.1, momentum=0.0, trust_coefficient=1e-3, weight_decay=0.5)
    u, _ = tx.update(g, tx.init(params), params)
    np.testing.assert_allclose(u["b"], [-0.1, 0.2])


def test_structure_mismatch_names_both_structures():
    params = {"a": jnp.ones(2), "b": jnp.ones(3)}
    for tx in (optzoo.lion(), optzoo.rprop(), optzoo.adafactor(), optzoo.sparse_adam(),
               optzoo.muon(), optzoo.asgd()):
        state = tx.init(params)
        with pytest.raises(ValueError, match="gradients: .*\n.*state"):
            tx.update({"a": jnp.ones(2)}, state, {"a": jnp.ones(2)})


# ------------------------------------------------------------------ invalid hyperparameters

INVALID = [
    (optzoo.lars, dict(learning_rate=0.1, momentum=1.5),
     "lars: momentum must be in [0, 1], got 1.5"),
    (optzoo.lars, dict(learning_rate=0.1, trust_coefficient=0.0),
     "lars: trust_coefficient must be in (0, inf), got 0.0"),
    (optzoo.lars, dict(learning_rate=-1.0), "lars: learning_rate must be in [0, inf), got -1.0"),
    (optzoo.lars, dict(learning_rate=0.1, weight_decay=-1e-4),
     "lars: weight_decay must be in [0, inf), got -0.0001"),
    (optzoo.lamb, dict(b1=1.0), "lamb: b1 must be in [0, 1), got 1.0"),
    (optzoo.lamb, dict(eps=-1.0), "lamb: eps must be in [0, inf), got -1.0"),
    (optzoo.rprop, dict(eta_minus=1.2), "rprop: eta_minus must be in (0, 1), got 1.2"),
    (optzoo.rprop, dict(eta_plus=0.9), "rprop: eta_plus must be in (1, inf), got 0.9"),
    (optzoo.rprop, dict(learning_rate=0.0), "rprop: learning_rate must be in (0, inf), got 0.0"),
    (optzoo.rprop, dict(min_step_size=1.0, max_step_size=0.5),
     "rprop: max_step_size must be in [1, inf), got 0.5"),
    (optzoo.rprop, dict(learning_rate=optax.constant_schedule(0.1)),
     "rprop: learning_rate must be a real number, got "),
    (optzoo.asgd, dict(lambd=-1.0), "asgd: lambd must be in [0, inf), got -1.0"),
    (optzoo.asgd, dict(alpha=-0.5), "asgd: alpha must be in [0, inf), got -0.5"),
    (optzoo.asgd, dict(t0=-1), "asgd: t0 must be in [0, inf), got -1"),
    (optzoo.adafactor, dict(beta2_decay=0.5),
     "adafactor: beta2_decay must be in (-inf, 0], got 0.5"),
    (optzoo.adafactor, dict(clip_threshold=0.5),
     "adafactor: clip_threshold must be in [1, inf), got 0.5"),
    (optzoo.transforms.scale_by_adafactor, dict(eps1=None),
     "scale_by_adafactor: eps1 must be a number when eps1_mode='add', got None"),
    (optzoo.adafactor, dict(eps2=-1.0), "adafactor: eps2 must be in [0, inf), got -1.0"),
    (optzoo.adafactor, dict(factor_dims="all"),
     "adafactor: factor_dims must be one of 'last_two', 'largest_two', got 'all'"),
    (optzoo.adafactor, dict(relative_step=1), "adafactor: relative_step must be a bool, got 1"),
    (optzoo.sparse_adam, dict(b2=1.0), "sparse_adam: b2 must be in [0, 1), got 1.0"),
    (optzoo.sparse_adam, dict(granularity="col"),
     "sparse_adam: granularity must be one of 'row', 'element', got 'col'"),
    (optzoo.lion, dict(b1=1.1), "lion: b1 must be in [0, 1], got 1.1"),
    (optzoo.lion, dict(weight_decay=-0.1), "lion: weight_decay must be in [0, inf), got -0.1"),
    (optzoo.muon, dict(momentum=1.0), "muon: momentum must be in [0, 1), got 1.0"),
    (optzoo.muon, dict(ns_steps=100), "muon: ns_steps must be in [0, 99], got 100"),
    (optzoo.muon, dict(ns_steps=2.5), "muon: ns_steps must be an integer in [0, 99], got 2.5"),
    (optzoo.muon, dict(adjust_lr_fn="fast"),
     "muon: adjust_lr_fn must be one of 'original', 'match_rms_adamw', 'none', got 'fast'"),
    (optzoo.muon, dict(fallback="sgd"),
     "muon: fallback must be one of 'adam', 'momentum', got 'sgd'"),
    (optzoo.muon, dict(ns_coefficients=(1.0, 2.0)),
     "muon: ns_coefficients must be a tuple of three numbers, got (1.0, 2.0)"),
]


@pytest.mark.parametrize("make,kwargs,message", INVALID,
                         ids=[m.split(" must")[0].replace(": ", "-") for *_, m in INVALID])
def test_invalid_hyperparameters(make, kwargs, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        make(**kwargs)


def test_traced_hyperparameters_are_not_checked():
    @jax.jit
    def build_and_step(b1):
        tx = optzoo.lion(1e-3, b1=b1)
        p = jnp.ones(3)
        u, _ = tx.update(jnp.ones(3), tx.init(p), p)
        return u

    assert build_and_step(0.5).shape == (3,)
