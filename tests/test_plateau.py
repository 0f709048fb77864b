"""reduce_on_plateau against torch.optim.lr_scheduler.ReduceLROnPlateau, the oracle."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optzoo
from optzoo.schedules import ReduceOnPlateauState, reduce_on_plateau
from tests.helpers import x64



def _metrics(n=150, seed=0):
    """A noisy, mostly decreasing loss with long plateaus, repeats and a few spikes."""
    rng = np.random.default_rng(seed)
    level, out = 1.0, []
    for t in range(n):
        if t % 37 < 12:
            level *= 0.93
        value = level + (0.0 if t % 5 == 0 else rng.normal(scale=0.01 * level))
        if t % 23 == 0:
            value += 0.5
        out.append(value)
    out[60:64] = [out[59]] * 4  # exact repeats: not an improvement
    return np.array(out)


def _torch_scales(metrics, **kw):
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=1.0)
    # lr starts at 1, so the learning rate is the scale; eps=0 keeps every reduction.
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, eps=0.0, **kw)
    out = []
    for m in metrics:
        sched.step(float(m))
        out.append(opt.param_groups[0]["lr"])
    return np.array(out)


def _our_scales(metrics, **kw):
    tx = reduce_on_plateau(**kw)
    params = {"w": jnp.zeros(3)}
    grads = {"w": jnp.ones(3)}

    def run(values):
        def body(state, value):
            updates, state = tx.update(grads, state, params, value=value)
            return state, (state.scale, updates["w"][0])

        return jax.lax.scan(body, tx.init(params), values)

    state, (scales, applied) = jax.jit(run)(jnp.asarray(metrics))
    return np.asarray(scales), np.asarray(applied), state


SETTINGS = [
    dict(mode=mode, threshold_mode=tmode, factor=factor, patience=patience, cooldown=cooldown,
         threshold=threshold, min_lr=min_lr)
    for (mode, tmode), (factor, patience, cooldown, threshold, min_lr) in itertools.product(
        [("min", "rel"), ("min", "abs"), ("max", "rel"), ("max", "abs")],
        [(0.5, 3, 0, 1e-2, 0.0), (0.1, 0, 2, 1e-4, 1e-3), (0.7, 5, 4, 0.0, 0.05)],
    )
]


@pytest.mark.parametrize("setting", SETTINGS,
                         ids=["-".join(str(v) for v in s.values()) for s in SETTINGS])
def test_matches_torch_reduce_lr_on_plateau(setting):
    metrics = _metrics()
    if setting["mode"] == "max":
        metrics = 2.0 - metrics  # an accuracy-like metric that rises and plateaus
    torch_kw = dict(setting)
    ours_kw = {**{k: v for k, v in setting.items() if k != "min_lr"},
               "min_scale": setting["min_lr"]}
    expected = _torch_scales(metrics, **torch_kw)
    with x64():
        scales, applied, state = _our_scales(metrics, **ours_kw)
    assert len(np.unique(expected)) >= 3, "the sequence should trigger several reductions"
    np.testing.assert_allclose(scales, expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(applied, expected, rtol=1e-12, atol=0)  # updates * scale


def test_float32_matches_torch_and_state_types():
    metrics = _metrics(seed=3)
    expected = _torch_scales(metrics, factor=0.5, patience=2, cooldown=1)
    scales, _, state = _our_scales(metrics, factor=0.5, patience=2, cooldown=1)
    np.testing.assert_allclose(scales, expected, rtol=1e-6)
    assert isinstance(state, ReduceOnPlateauState)
    assert state.scale.dtype == jnp.float32 and state.best_value.dtype == jnp.float32
    assert state.plateau_count.dtype == jnp.int32 and state.cooldown_count.dtype == jnp.int32
    assert all(np.ndim(x) == 0 for x in state)


def test_defaults_match_torch():
    metrics = np.concatenate([np.linspace(1.0, 0.5, 20), np.full(40, 0.5)])
    expected = _torch_scales(metrics)  # factor 0.1, patience 10, threshold 1e-4 rel
    with x64():
        scales, _, _ = _our_scales(metrics)
    np.testing.assert_allclose(scales, expected, rtol=1e-12)


def test_drives_an_optimizer_in_a_chain_under_jit():
    tx = optax.chain(optzoo.sgd(0.1), reduce_on_plateau(factor=0.5, patience=1))
    params = jnp.asarray([1.0, -2.0])
    state = tx.init(params)

    @jax.jit
    def step(params, state, loss):
        updates, state = tx.update(jnp.ones(2), state, params, value=loss)
        return optax.apply_updates(params, updates), updates, state

    losses = [1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.4]
    expected_scale = [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    for loss, scale in zip(losses, expected_scale):
        params, updates, state = step(params, state, loss)
        np.testing.assert_allclose(np.asarray(updates), -0.1 * scale * np.ones(2), rtol=1e-6)
    assert step._cache_size() == 1


def test_bfloat16_updates_keep_their_dtype_and_nan_is_not_an_improvement():
    tx = reduce_on_plateau(patience=0)
    g = {"w": jnp.ones(2, jnp.bfloat16)}
    state = tx.init(g)
    out, state = tx.update(g, state, value=jnp.float32(1.0))
    assert out["w"].dtype == jnp.bfloat16
    out, state = tx.update(g, state, value=jnp.nan)
    assert float(state.best_value) == 1.0 and float(state.scale) == pytest.approx(0.1)


INVALID = [
    (dict(factor=1.0), "reduce_on_plateau: factor must be in (0, 1), got 1.0"),
    (dict(factor=0.0), "reduce_on_plateau: factor must be in (0, 1), got 0.0"),
    (dict(patience=-1), "reduce_on_plateau: patience must be in [0, inf), got -1"),
    (dict(patience=2.5), "reduce_on_plateau: patience must be an integer in [0, inf], got 2.5"),
    (dict(threshold=-1e-3), "reduce_on_plateau: threshold must be in [0, inf), got -0.001"),
    (dict(threshold_mode="pct"),
     "reduce_on_plateau: threshold_mode must be one of 'rel', 'abs', got 'pct'"),
    (dict(cooldown=-2), "reduce_on_plateau: cooldown must be in [0, inf), got -2"),
    (dict(min_scale=2.0), "reduce_on_plateau: min_scale must be in [0, 1], got 2.0"),
    (dict(mode="avg"), "reduce_on_plateau: mode must be one of 'min', 'max', got 'avg'"),
]


@pytest.mark.parametrize("kwargs,message", INVALID, ids=[str(k) for k, _ in INVALID])
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        reduce_on_plateau(**kwargs)
    assert str(info.value) == message


def test_value_must_be_a_scalar():
    tx = reduce_on_plateau()
    with pytest.raises(ValueError, match="reduce_on_plateau: value must be a scalar metric"):
        tx.update({"w": jnp.ones(2)}, tx.init(None), value=jnp.ones(2))
