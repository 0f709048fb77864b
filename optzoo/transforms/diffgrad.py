"""diffGrad: Adam's step scaled by a friction from the last gradient change
(Dubey et al., 2019)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _decay, _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms.adabound import NU_EPS
from optzoo.transforms.adam import check_betas, update_moments


class DiffGradState(NamedTuple):
    """State of :func:`scale_by_diffgrad`; ``nu_max`` only with ``ams_bound``."""

    count: jax.Array  # int32, saturating
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates | None
    prev: optax.Updates  # the previous gradient


def rectification(t, b2, n_sma_threshold):
    """RAdam's ``(r_t, rectified)`` as ``pytorch-optimizer`` computes them:
    ``n_sma_t = n_max - 2 t b2^t / (1 - b2^t)``, rectified when ``n_sma_t >=
    n_sma_threshold``, ``r_t = sqrt((1 - b2^t) (n_sma - 4) (n_sma - 2) n_max
    / ((n_max - 4) n_sma (n_max - 2)))`` (``sqrt(1 - b2^t)`` included)."""
    n_max = 2.0 / (1.0 - b2) - 1.0
    b2t = b2**t
    n_sma = n_max - 2.0 * t * b2t / (1.0 - b2t)
    rectified = n_sma >= n_sma_threshold
    safe = jnp.where(rectified, n_sma, n_max)
    r = jnp.sqrt((1.0 - b2t) * (safe - 4) / (n_max - 4) * (safe - 2) / safe * n_max / (n_max - 2))
    return r, rectified


def scale_by_diffgrad(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8,
                      rectify: bool = False, n_sma_threshold: int = 5,
                      degenerated_to_sgd: bool = True, ams_bound: bool = False, *,
                      mu_dtype=None, nu_dtype=None) -> optax.GradientTransformation:
    r"""diffGrad's direction, as ``pytorch_optimizer.DiffGrad`` 4.1.0 computes it::

        mu_t, nu_t  Adam's moments;  nu_max_t = max(nu_max_{t-1}, nu_t)  (ams_bound)
        dfc_t = sigmoid(|g_{t-1} - g_t|)                      (g_0 = 0)
        den_t = sqrt(nu_t + 1e-15) + eps                      (nu_max_t with ams_bound)
        out_t = sqrt(1 - b2^t) / (1 - b1^t) dfc_t mu_t / den_t

    With ``rectify`` (RAdam's rule, :func:`rectification`): ``out_t = r_t / (1 - b1^t)
    dfc_t mu_t / den_t`` once ``n_sma_t >= n_sma_threshold``; before, ``mu_t / (1 -
    b1^t)`` with ``degenerated_to_sgd``, else no step. ``eps`` adds to the root of the
    raw ``nu`` (the paper: of the bias-corrected one), plus the reference's ``1e-15``.
    """
    fn = v.owner("scale_by_diffgrad")
    check_betas(fn, b1, b2, eps)
    v.check_bool(fn, "rectify", rectify)
    v.check_int(fn, "n_sma_threshold", n_sma_threshold)
    v.check_bool(fn, "degenerated_to_sgd", degenerated_to_sgd)
    v.check_bool(fn, "ams_bound", ams_bound)

    def init_fn(params):
        nu = _dtypes.zeros_like(params, nu_dtype)
        return DiffGradState(jnp.zeros([], jnp.int32), _dtypes.zeros_like(params, mu_dtype), nu,
                             nu if ams_bound else None, _dtypes.zeros_like(params, mu_dtype))

    def update_fn(updates, state, params=None):
        del params
        count, mu, nu = update_moments(fn, updates, state, b1, b2)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu) if ams_bound else None
        t = count.astype(jnp.result_type(float))
        bc1 = 1.0 - b1**t
        if rectify:
            r, rectified = rectification(t, b2, n_sma_threshold)
            sgd = 1.0 / bc1 if degenerated_to_sgd else 0.0
        else:
            r, rectified = jnp.sqrt(1.0 - b2**t), True

        def leaf(g, m, n, prev):
            dfc = jax.nn.sigmoid(jnp.abs(wide(prev) - wide(g)))
            step = r / bc1 * (dfc * m / (jnp.sqrt(wide(n) + NU_EPS) + eps))
            return (step if not rectify else jnp.where(rectified, step, sgd * m)).astype(g.dtype)

        out = jax.tree.map(leaf, updates, mu, nu_max if ams_bound else nu, state.prev)
        return out, DiffGradState(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu),
                                  _dtypes.store(nu_max, state.nu_max),
                                  _dtypes.store(updates, state.prev))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Dubey et al. 2019", year=2019,
    counterparts=(R.reference("pytorch_optimizer", "DiffGrad",
                              "maximize and foreach not taken (negate the loss); adanorm and "
                              "adam_debias (keywords the class only forwards) not taken"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)",
            "weight_decay": "[0, inf)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.99, weight_decay=0.01),
              "rectify,amsbound": dict(learning_rate=0.01, rectify=True, ams_bound=True,
                                       weight_decouple=False, weight_decay=0.01),
              "rectify,no sgd": dict(learning_rate=0.01, rectify=True, n_sma_threshold=4,
                                     degenerated_to_sgd=False, fixed_decay=True,
                                     weight_decay=0.01)},
)
@v.named
def diffgrad(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999,
             weight_decay: float = 0.0, weight_decouple: bool = True, fixed_decay: bool = False,
             rectify: bool = False, n_sma_threshold: int = 5, degenerated_to_sgd: bool = True,
             ams_bound: bool = False, eps: float = 1e-8) -> optax.GradientTransformation:
    r"""diffGrad (Dubey et al., 2019, "diffGrad: an optimization method for
    convolutional neural networks").

    With the direction ``out_t`` of :func:`scale_by_diffgrad` (Adam's, each
    coordinate scaled by ``sigmoid(|g_{t-1} - g_t|)``, in ``[0.5, 1)``)::

        params_t = params_{t-1} - learning_rate out_t

    ``rectify`` adds RAdam's rectification, ``ams_bound`` AMSGrad's maximum. Weight
    decay as ``pytorch-optimizer`` (:mod:`optzoo.transforms._decay`): decoupled by
    default; ``weight_decouple=False`` adds it to the gradient (which then also
    becomes the remembered ``g_{t-1}``). Defaults are ``pytorch_optimizer.DiffGrad``
    4.1.0's (Adam's betas and eps).
    """
    fn = "diffgrad"
    block = scale_by_diffgrad(b1, b2, eps, rectify, n_sma_threshold, degenerated_to_sgd,
                              ams_bound)
    return _decay.chain(fn, block, learning_rate, weight_decay, weight_decouple, fixed_decay)
