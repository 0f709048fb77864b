"""StableAdamW: AdamW with AdaFactor's update clipping (Wortsman et al., 2023)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _decay, _dtypes
from optzoo.transforms import adam as _adam
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip


def update_rms(g, nu, eps=1e-16):
    """The per-tensor ``max(1, sqrt(mean(g^2 / max(nu, eps))))`` that divides a
    StableAdamW step (pytorch-optimizer's ``get_stable_adamw_rms``)."""
    return jnp.maximum(jnp.sqrt(jnp.mean(jnp.square(g) / jnp.maximum(nu, eps))), 1.0)


def debias_beta(beta, t):
    """``beta (1 - beta^(t-1)) / (1 - beta^t)``, written ``(beta^t - beta) / (beta^t - 1)``
    as the reference does: the decay that makes an EMA from zero unbiased."""
    beta_t = beta**t
    return (beta_t - beta) / (beta_t - 1.0)


class StableAdamWState(NamedTuple):
    count: jax.Array  # int32, saturating
    mu: optax.Updates
    nu: optax.Updates


def scale_by_stable_adamw(b1=0.9, b2=0.99, eps=1e-8, weight_decay=0.0):
    r"""StableAdamW's direction; ``weight_decay`` is its decoupled decay (needs params)::

        b1_t    = debias_beta(b1, t)     b2_t = debias_beta(b2, t)    (0 at t = 1)
        mu_t    = b1_t mu_{t-1} + (1 - b1_t) g_t
        nu_t    = b2_t nu_{t-1} + (1 - b2_t) g_t^2
        rms_t   = max(1, sqrt(mean(g_t^2 / max(nu_t, eps^2))))       (per tensor)
        out_t   = (mu_t / (sqrt(nu_t) + eps) + weight_decay params_{t-1}) / rms_t
    """
    fn = v.owner("scale_by_stable_adamw")
    _adam.check_betas(fn, b1, b2, eps)
    decay = not _blocks.is_zero(weight_decay)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        return StableAdamWState(jnp.zeros([], jnp.int32), _dtypes.zeros_like(params),
                                _dtypes.zeros_like(params))

    def update_fn(updates, state, params=None):
        v.check_tree_match(fn, updates, state.mu)
        if decay:
            v.require_args(fn, params)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        b1_t, b2_t = debias_beta(b1, t), debias_beta(b2, t)
        ps = params if decay else jax.tree.map(lambda _: 0.0, updates)

        def leaf(g, mu, nu, p):
            g = wide(g)
            mu = wide(mu) + (1.0 - b1_t) * (g - wide(mu))
            nu = b2_t * wide(nu) + (1.0 - b2_t) * jnp.square(g)
            step = mu / (jnp.sqrt(nu) + eps) + (weight_decay * wide(p) if decay else 0.0)
            return step / update_rms(g, nu, eps * eps), mu, nu

        d, mu, nu = unzip(updates, jax.tree.map(leaf, updates, state.mu, state.nu, ps), 3)
        d = jax.tree.map(lambda x, g: x.astype(g.dtype), d, updates)
        return d, StableAdamWState(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Wortsman et al. 2023", year=2023,
    counterparts=(R.reference("pytorch_optimizer", "StableAdamW",
                              "kahan_sum (half-precision params only), foreach and maximize "
                              "not taken"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)",
            "weight_decay": "[0, inf)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.85, b2=0.95, weight_decay=0.05, eps=1e-6),
              "coupled": dict(learning_rate=0.01, weight_decay=0.01, weight_decouple=False)},
)
@v.named
def stable_adamw(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.9,
                 b2: float = 0.99, weight_decay: float = 1e-2, weight_decouple: bool = True,
                 eps: float = 1e-8) -> optax.GradientTransformation:
    r"""StableAdamW (Wortsman et al., 2023): AdamW whose step is divided per tensor by
    the RMS of ``g^2 / nu`` when it exceeds 1 (AdaFactor's update clipping).

    ::

        params_t = params_{t-1} - learning_rate * out_t

    with ``out_t`` of :func:`scale_by_stable_adamw` (debiased decays instead of bias
    corrections; the decoupled decay is divided by ``rms_t`` too, as the reference
    does). ``weight_decouple=False``: ``g_t <- g_t + weight_decay params_{t-1}``
    instead. Defaults are ``pytorch_optimizer.StableAdamW`` 4.1.0's. Its
    ``kahan_sum`` (Kahan-compensated updates of float16/bfloat16 params) is not
    taken: the update is applied by ``optax.apply_updates``.
    """
    fn = "stable_adamw"
    _decay.check(fn, weight_decay, weight_decouple, False)
    if weight_decouple:  # inside the direction: the decay is divided by rms_t too
        direction = scale_by_stable_adamw(b1, b2, eps, weight_decay)
        return optax.chain(direction, _blocks.learning_rate(fn, learning_rate))
    direction = scale_by_stable_adamw(b1, b2, eps)
    return _decay.chain(fn, [direction], learning_rate, weight_decay, False, False)
