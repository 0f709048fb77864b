"""optzoo.pytorch.clip_grad_norm / clip_grad_value against torch.nn.utils.

The same gradients (a matrix, a vector, a scalar; float64) are clipped by torch
in place and by optzoo as a pure function; the clipped gradients and the total
norm must agree to a relative error of 1e-12 (they are the same few operations).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

import optzoo.pytorch as ozt
from tests.helpers import x64

TOL = 1e-12


def _grads(seed, scale):
    rng = np.random.default_rng(seed)
    return {"w": rng.normal(size=(4, 3)) * scale, "b": rng.normal(size=(3,)) * scale,
            "s": np.asarray(rng.normal() * scale)}


def _torch_clip(grads, fn):
    ps = []
    for k in ("w", "b", "s"):
        p = torch.nn.Parameter(torch.zeros(np.shape(grads[k]), dtype=torch.float64))
        p.grad = torch.tensor(grads[k], dtype=torch.float64)
        ps.append(p)
    out = fn(ps)
    return {k: p.grad.numpy() for k, p in zip(("w", "b", "s"), ps)}, out


def _rel(a, e):
    worst = 0.0
    for k in e:
        ea, aa = np.asarray(e[k]), np.asarray(a[k])
        worst = max(worst, float(np.max(np.abs(aa - ea)) / max(np.max(np.abs(ea)), 1e-300)))
    return worst


NORM_CASES = [
    # (max_norm, norm_type, gradient scale): clipping and not clipping, several p
    (1.0, 2.0, 1.0),
    (100.0, 2.0, 1.0),
    (0.5, 1.0, 1.0),
    (0.5, math.inf, 1.0),
    (2.0, 3.0, 1.0),
    (0.3, "inf", 2.0),
    (1e-3, 2.0, 1e-4),  # the 1e-6 in the denominator matters here
]


@pytest.mark.parametrize("max_norm,norm_type,scale", NORM_CASES)
def test_clip_grad_norm_matches_torch(max_norm, norm_type, scale, record_parity):
    worst = 0.0
    clip = jax.jit(lambda g: ozt.clip_grad_norm(g, max_norm, norm_type=float(norm_type)))
    for seed in range(5):
        g = _grads(seed, scale)
        expected, tnorm = _torch_clip(
            g, lambda ps: torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type))
        with x64():
            actual, norm = clip(jax.tree.map(jnp.asarray, g))
            worst = max(worst, _rel(actual, expected),
                        abs(float(norm) - float(tnorm)) / float(tnorm))
    config = f"max_norm={max_norm}, norm_type={norm_type}"
    record_parity("torch", "clip_grad_norm", config, worst, 5)
    assert worst <= TOL


@pytest.mark.parametrize("clip_value", [0.1, 0.7, 5.0])
def test_clip_grad_value_matches_torch(clip_value, record_parity):
    worst = 0.0
    for seed in range(5):
        g = _grads(seed, 1.0)
        expected, _ = _torch_clip(g, lambda ps: torch.nn.utils.clip_grad_value_(ps, clip_value))
        with x64():
            actual = ozt.clip_grad_value(jax.tree.map(jnp.asarray, g), clip_value)
        worst = max(worst, _rel(actual, expected))
    record_parity("torch", "clip_grad_value", f"clip_value={clip_value}", worst, 5)
    assert worst <= TOL


def test_nonfinite_norm():
    g = {"w": np.array([1.0, np.inf]), "b": np.array([2.0])}
    expected, tnorm = _torch_clip({"w": g["w"], "b": g["b"], "s": np.asarray(0.5)},
                                  lambda ps: torch.nn.utils.clip_grad_norm_(ps, 1.0))
    with x64():
        actual, norm = ozt.clip_grad_norm(
            {"w": jnp.asarray(g["w"]), "b": jnp.asarray(g["b"]), "s": jnp.asarray(0.5)}, 1.0)
    assert math.isinf(float(norm)) and math.isinf(float(tnorm))
    for k in expected:  # torch scales by 0: finite entries become 0, inf becomes nan
        np.testing.assert_array_equal(np.asarray(actual[k]), expected[k])
    nan_param = torch.nn.Parameter(torch.zeros(1))
    nan_param.grad = torch.tensor([float("nan")])
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_([nan_param], 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        ozt.clip_grad_norm({"w": jnp.asarray([jnp.nan])}, 1.0, error_if_nonfinite=True)


def test_as_transformation_in_chain():
    """``chain(ClipGradNorm(c), SGD(lr))`` is torch's clip_grad_norm_ then step()."""
    g = _grads(0, 3.0)
    expected, _ = _torch_clip(g, lambda ps: torch.nn.utils.clip_grad_norm_(ps, 1.0))
    with x64():
        tx = optax.chain(ozt.ClipGradNorm(1.0), ozt.SGD(lr=1.0))
        params = jax.tree.map(lambda x: jnp.zeros(np.shape(x)), g)
        upd, _ = tx.update(jax.tree.map(jnp.asarray, g), tx.init(params), params)
        assert _rel(jax.tree.map(lambda u: -u, upd), expected) <= TOL
        tx = ozt.ClipGradValue(0.5)
        upd, _ = tx.update(jax.tree.map(jnp.asarray, g), tx.init(params), params)
        np.testing.assert_array_equal(upd["w"], np.clip(g["w"], -0.5, 0.5))


def test_invalid_max_norm():
    with pytest.raises(ValueError, match="clip_grad_norm: max_norm must be in"):
        ozt.clip_grad_norm({"w": jnp.ones(2)}, -1.0)
