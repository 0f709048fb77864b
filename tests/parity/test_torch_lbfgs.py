"""optzoo.pytorch.LBFGS against real torch.optim.LBFGS, step by step, float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from optzoo.pytorch.lbfgs import LBFGS
from tests.helpers import max_rel_err, x64

TOL = 1e-10
D1 = 12  # features seen by the first weight matrix
L2 = 1e-2


def _data(seed=0, n=200, d1=D1, d2=8, k=5):
    """Softmax regression with two feature groups (two weight matrices and a bias):
    strongly convex (L2), so both runs head for one minimiser and rounding noise
    is damped, not amplified as on a non-convex net."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d1 + d2)) * np.logspace(-0.5, 0.5, d1 + d2)  # mildly ill-conditioned
    labels = np.argmax(x @ rng.normal(size=(d1 + d2, k)) + 1.5 * rng.normal(size=(n, k)), axis=1)
    y = np.eye(k)[labels]
    params = {
        "w1": 0.3 * rng.normal(size=(d1, k)),
        "w2": 0.3 * rng.normal(size=(d2, k)),
        "b": 0.1 * rng.normal(size=(k,)),
    }
    return x, y, params




def _jax_loss(x, y):
    x1, x2, y = jnp.asarray(x[:, :D1]), jnp.asarray(x[:, D1:]), jnp.asarray(y)

    def loss(p):
        logits = x1 @ p["w1"] + x2 @ p["w2"] + p["b"]
        logp = logits - jax.scipy.special.logsumexp(logits, axis=1, keepdims=True)
        reg = jnp.sum(p["w1"] ** 2) + jnp.sum(p["w2"] ** 2)
        return -jnp.mean(jnp.sum(y * logp, axis=1)) + L2 * reg

    return loss


def _run_torch(x, y, params, steps, **kw):
    names = ["w1", "w2", "b"]
    tp = {k: torch.tensor(params[k], dtype=torch.float64, requires_grad=True) for k in names}
    x1, x2, ty = torch.tensor(x[:, :D1]), torch.tensor(x[:, D1:]), torch.tensor(y)
    opt = torch.optim.LBFGS([tp[k] for k in names], **kw)

    def closure():
        opt.zero_grad()
        logits = x1 @ tp["w1"] + x2 @ tp["w2"] + tp["b"]
        logp = torch.log_softmax(logits, dim=1)
        reg = torch.sum(tp["w1"] ** 2) + torch.sum(tp["w2"] ** 2)
        loss = -torch.mean(torch.sum(ty * logp, dim=1)) + L2 * reg
        loss.backward()
        return loss

    history = []
    for _ in range(steps):
        opt.step(closure)
        history.append({k: tp[k].detach().numpy().copy() for k in names})
    evals = opt.state[tp["w1"]]["func_evals"]
    return history, evals


# Iterates move for the first 3-46 steps (the step at which each run reaches
# torch's own stopping tests is in the comment) and are then held by them; all 100
# steps are compared. Near the minimiser L-BFGS amplifies last-bit differences (its
# pairs y = g - g_prev are differences of tiny gradients, and torch and XLA sum in
# different orders): torch against itself with the start perturbed by 1e-15 drifts
# by up to 1e-9 on configurations such as strong_wolfe with max_iter=3, so the ones
# below are those whose end game stays inside 1e-10.
CONFIGS = {
    # moves until step 46
    "lr=1,max_iter=1,history_size=5": dict(lr=1, max_iter=1, history_size=5),
    # moves until step 23
    "lr=0.7,max_iter=3,history_size=8": dict(lr=0.7, max_iter=3, history_size=8),
    # moves until step 14 (stops on tolerance_grad)
    "lr=0.5,max_iter=4,history_size=10,tolerance_grad=1e-6": dict(
        lr=0.5, max_iter=4, history_size=10, tolerance_grad=1e-6
    ),
    # moves until step 30; max_eval = 1 leaves the search a single trial per step
    "max_iter=1,history_size=8,strong_wolfe": dict(
        max_iter=1, history_size=8, line_search_fn="strong_wolfe"
    ),
    # torch's defaults with the search: moves for 3 steps (49 evaluations; one
    # extrapolation and two zoom trials in torch's search)
    "history_size=10,strong_wolfe": dict(history_size=10, line_search_fn="strong_wolfe"),
    # a first trial 5x too long: the search brackets at once and zooms (27 zoom trials);
    # moves until step 9
    "lr=5,max_iter=3,max_eval=10,history_size=7,tolerance_change=1e-7,strong_wolfe": dict(
        lr=5, max_iter=3, max_eval=10, history_size=7, tolerance_change=1e-7,
        line_search_fn="strong_wolfe",
    ),
}
STEPS = 100


@pytest.mark.parametrize("config", list(CONFIGS))
def test_lbfgs_matches_torch(config, record_parity):
    kw = CONFIGS[config]
    x, y, p0 = _data()
    expected, torch_evals = _run_torch(x, y, p0, STEPS, **kw)
    with x64():
        loss = _jax_loss(x, y)
        params = jax.tree.map(jnp.asarray, p0)
        tx = LBFGS(**kw)
        state = tx.init(params)
        update = jax.jit(lambda p, s: tx.update(p, s, p, value_fn=loss))
        errs = []
        for i in range(STEPS):
            upd, state = update(params, state)
            params = jax.tree.map(lambda a, b: a + b, params, upd)
            errs.append(max_rel_err(params, expected[i]))
        worst = max(errs)
        record_parity("torch", "LBFGS", config, worst, STEPS)
        first_bad = next((i for i, e in enumerate(errs) if not e <= TOL), None)
        assert first_bad is None, f"step {first_bad}: max rel err {errs[first_bad]:.3e}"
        assert int(state.func_evals) == torch_evals
        assert float(loss(params)) < 0.5 * float(loss(jax.tree.map(jnp.asarray, p0)))


def test_lbfgs_validation_and_early_return():
    with pytest.raises(ValueError, match="LBFGS: line_search_fn must be one of None, 'strong_"):
        LBFGS(line_search_fn="backtracking")
    with pytest.raises(ValueError, match=r"LBFGS: history_size must be in \[1, inf\), got 0"):
        LBFGS(history_size=0)
    with pytest.raises(ValueError, match=r"LBFGS: lr must be in \[0, inf\)"):
        LBFGS(lr=-1.0)
    # at a stationary point the step returns at once: params unchanged, one evaluation
    with x64():
        p = {"a": jnp.zeros(3)}
        tx = LBFGS()
        upd, st = tx.update(p, tx.init(p), p, value_fn=lambda q: jnp.sum(q["a"] ** 2))
        assert float(jnp.max(jnp.abs(upd["a"]))) == 0.0 and int(st.func_evals) == 1
