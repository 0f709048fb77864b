"""AdEMAMix: Adam with a mixture of a fast and a slow momentum (Pagliardini et al., 2024)."""

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
from optzoo.transforms.mars import cautious_mask
from optzoo.transforms.stable_adamw import update_rms


class AdEMAMixState(NamedTuple):
    count: jax.Array  # int32, saturating
    mu: optax.Updates  # fast momentum (exp_avg)
    nu: optax.Updates  # exp_avg_sq
    mu_slow: optax.Updates  # slow momentum (exp_avg_slow)


def alpha_beta3_warmup(t, alpha, b1, b3, t_alpha_beta3):
    """``(alpha_t, b3_t)``: ``alpha_t = min(t alpha / T, alpha)`` and ``b3_t = min(exp(ln b1
    ln b3 / ((1 - t/T) ln b3 + (t/T) ln b1)), b3)`` for ``T = t_alpha_beta3``."""
    if t_alpha_beta3 is None:
        return alpha, b3
    s = t / t_alpha_beta3
    lb1, lb3 = jnp.log(b1), jnp.log(b3)
    return (jnp.minimum(t * alpha / t_alpha_beta3, alpha),
            jnp.minimum(jnp.exp(lb1 * lb3 / ((1.0 - s) * lb3 + s * lb1)), b3))


def scale_by_ademamix(b1=0.9, b2=0.999, b3=0.9999, alpha=5.0, t_alpha_beta3=None, eps=1e-8, *,
                      stable_adamw=False, cautious=False) -> optax.GradientTransformation:
    r"""AdEMAMix's direction, as ``pytorch_optimizer.AdEMAMix`` 4.1.0 computes it::

        mu_t      = b1 mu_{t-1} + (1 - b1) g_t
        nu_t      = b2 nu_{t-1} + (1 - b2) g_t^2
        mu_slow_t = b3_t mu_slow_{t-1} + (1 - b3_t) g_t
        out_t     = (m_t / (1 - b1^t) + alpha_t mu_slow_t) / (sqrt(nu_t) / sqrt(1 - b2^t) + eps)

    with ``m_t = mu_t``, or with ``cautious`` the fast momentum where it agrees in sign
    with ``g_t`` (0 elsewhere) times ``n / (n_agree + 1)``
    (:func:`optzoo.transforms.mars.cautious_mask`; the slow momentum is not masked).

    ``alpha_t, b3_t`` warm up over ``t_alpha_beta3`` steps (:func:`alpha_beta3_warmup`),
    or stay ``alpha, b3`` when it is None. ``stable_adamw`` divides by
    :func:`optzoo.transforms.stable_adamw.update_rms` ``(g_t, nu_t)``.
    """
    fn = v.owner("scale_by_ademamix")
    _adam.check_betas(fn, b1, b2, eps)
    v.check_range(fn, "b3", b3, 0.0, 1.0)
    v.check_nonnegative(fn, "alpha", alpha)
    if t_alpha_beta3 is not None:
        v.check_positive(fn, "t_alpha_beta3", t_alpha_beta3)
    v.check_bool(fn, "stable_adamw", stable_adamw)
    v.check_bool(fn, "cautious", cautious)

    def init_fn(params):
        if stable_adamw or cautious:  # a per-tensor factor: depends on each leaf
            _flat.refuse(fn, params)
        z = _dtypes.zeros_like(params)
        return AdEMAMixState(jnp.zeros([], jnp.int32), z, z, z)

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        bc1, root_bc2 = 1.0 - b1**t, jnp.sqrt(1.0 - b2**t)
        alpha_t, b3_t = alpha_beta3_warmup(t, alpha, b1, b3, t_alpha_beta3)

        def leaf(g, mu, nu, slow):
            g, mu, nu, slow = wide(g), wide(mu), wide(nu), wide(slow)
            mu = mu + (1.0 - b1) * (g - mu)
            nu = b2 * nu + (1.0 - b2) * jnp.square(g)
            slow = slow + (1.0 - b3_t) * (g - slow)
            m = cautious_mask(mu, g) if cautious else mu
            out = (m / bc1 + alpha_t * slow) / (jnp.sqrt(nu) / root_bc2 + eps)
            return (out / update_rms(g, nu) if stable_adamw else out), mu, nu, slow

        out = jax.tree.map(leaf, updates, state.mu, state.nu, state.mu_slow)
        d, mu, nu, slow = unzip(updates, out, 4)
        d = jax.tree.map(lambda x, g: x.astype(g.dtype), d, updates)
        return d, AdEMAMixState(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu),
                                _dtypes.store(slow, state.mu_slow))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Pagliardini et al. 2024", year=2024,
    counterparts=(R.reference("pytorch_optimizer", "AdEMAMix",
                              "foreach and maximize not taken (negate the loss)"),
                  R.optax("contrib.ademamix", "decoupled decay only; the warmups are "
                          "schedules of the 0-based count")),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "b3": "[0, 1]",
            "weight_decay": "[0, inf)", "alpha": "[0, inf)", "t_alpha_beta3": "(0, inf)",
            "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.99, b3=0.999, alpha=3.0,
                       weight_decay=0.01),
              "warmup,decoupled": dict(learning_rate=0.01, t_alpha_beta3=50.0,
                                       weight_decay=0.05, weight_decouple=True),
              "fixed,stable,cautious": dict(learning_rate=0.01, weight_decay=0.001,
                                            weight_decouple=True, fixed_decay=True,
                                            stable_adamw=True, cautious=True)},
)
@v.named
def ademamix(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999,
             b3: float = 0.9999, weight_decay: float = 0.0, weight_decouple: bool = False,
             fixed_decay: bool = False, alpha: float = 5.0, t_alpha_beta3: float | None = None,
             eps: float = 1e-8, *, stable_adamw: bool = False,
             cautious: bool = False) -> optax.GradientTransformation:
    r"""AdEMAMix (Pagliardini et al., 2024): Adam's fast momentum plus ``alpha`` times a
    slow one (``b3`` close to 1), over Adam's denominator.

    ::

        params_t = params_{t-1} - learning_rate * out_t   (out_t: :func:`scale_by_ademamix`)

    with pytorch-optimizer's decay (:mod:`optzoo.transforms._decay`). The slow
    momentum is not bias-corrected (the paper's Algorithm 1). Defaults
    (``b3 = 0.9999``, ``alpha = 5``, no warmup) are ``pytorch_optimizer.AdEMAMix``
    4.1.0's; the paper warms ``alpha`` and ``b3`` up over ``t_alpha_beta3`` steps
    (there the number of training steps). ``stable_adamw`` and ``cautious`` (which
    masks only the fast momentum, so it is not ``optzoo.cautious`` around the
    optimizer) are the reference's hidden keyword options. With ``weight_decouple=True``
    it equals ``optax.contrib.ademamix`` (whose ``alpha``, ``b3`` schedules see ``t - 1``).
    """
    fn = "ademamix"
    direction = scale_by_ademamix(b1, b2, b3, alpha, t_alpha_beta3, eps,
                                  stable_adamw=stable_adamw, cautious=cautious)
    return _decay.chain(fn, [direction], learning_rate, weight_decay, weight_decouple, fixed_decay)
