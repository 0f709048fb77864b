"""Adan: adaptive Nesterov momentum with gradient differences (Xie et al., 2022)."""

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
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip, value_at


class AdanState(NamedTuple):
    """State of :func:`scale_by_adan`; ``norm_ema`` (one scalar per leaf) only with
    ``adanorm``."""

    count: jax.Array  # int32, saturating
    mu: optax.Updates  # exp_avg
    delta: optax.Updates  # exp_avg_diff
    nu: optax.Updates  # exp_avg_sq
    prev_grad: optax.Updates
    norm_ema: optax.Updates | None = None


def global_clip_factor(updates, max_grad_norm, eps):
    """``min(max_grad_norm / (||g|| + eps), 1)`` over every leaf; 1 when
    ``max_grad_norm`` is 0 (pytorch-optimizer's rule for Adan)."""
    norm = jnp.sqrt(sum(jnp.sum(jnp.square(wide(g))) for g in jax.tree.leaves(updates)))
    return jnp.where(max_grad_norm > 0, jnp.minimum(max_grad_norm / (norm + eps), 1.0), 1.0)


def adanorm_grad(g, norm_ema, r):
    """AdaNorm (Dubey et al., 2023): ``e <- r e + (1 - r) ||g||``; ``g e / ||g||`` when
    ``0 < ||g|| < e``, else ``g``. Returns the gradient and the new ``e``."""
    norm = jnp.sqrt(jnp.sum(jnp.square(g)))
    ema = r * norm_ema + (1.0 - r) * norm
    scaled = jnp.where((norm > 0) & (ema > norm), g * ema / jnp.where(norm > 0, norm, 1.0), g)
    return scaled, ema


def scale_by_adan(b1=0.98, b2=0.92, b3=0.99, eps=1e-8, max_grad_norm=0.0, *,
                  adanorm=False, adanorm_r=0.95) -> optax.GradientTransformation:
    r"""Adan's direction, as ``pytorch_optimizer.Adan`` 4.1.0 computes it::

        g_t     = g_t * min(max_grad_norm / (||g_t||_global + eps), 1)  (max_grad_norm > 0)
        diff_t  = g_t - g_{t-1}                                 (0 at t = 1)
        mu_t    = b1 mu_{t-1} + (1 - b1) g_t                    (adanorm: the AdaNorm g_t)
        delta_t = b2 delta_{t-1} + (1 - b2) diff_t
        nu_t    = b3 nu_{t-1} + (1 - b3) (g_t + b2 diff_t)^2
        den_t   = sqrt(nu_t) / sqrt(1 - b3^t) + eps
        out_t   = mu_t / (1 - b1^t) / den_t + b2 / (1 - b2^t) * delta_t / den_t
    """
    fn = v.owner("scale_by_adan")
    for name, b in (("b1", b1), ("b2", b2), ("b3", b3)):
        v.check_range(fn, name, b, 0.0, 1.0, high_open=True)
    v.check_nonnegative_each(fn, eps=eps, max_grad_norm=max_grad_norm)
    v.check_bool(fn, "adanorm", adanorm)
    v.check_range(fn, "adanorm_r", adanorm_r, 0.0, 1.0)

    def init_fn(params):
        if adanorm:  # a per-tensor factor: depends on each leaf
            _flat.refuse(fn, params)
        z = _dtypes.zeros_like(params)
        norm_ema = jax.tree.map(lambda p: jnp.zeros([], _dtypes.state_dtype(None, p)), params)
        return AdanState(jnp.zeros([], jnp.int32), z, z, z, z, norm_ema if adanorm else None)

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        first = state.count == 0
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        bc1, bc2, root_bc3 = 1.0 - b1**t, 1.0 - b2**t, jnp.sqrt(1.0 - b3**t)
        clip = global_clip_factor(updates, max_grad_norm, eps) if not _blocks.is_zero(
            max_grad_norm) else 1.0
        norm_ema = state.norm_ema if adanorm else jax.tree.map(lambda _: 0.0, updates)

        def leaf(g, mu, delta, nu, prev, ema):
            g = wide(g) * clip
            diff = jnp.where(first, 0.0, g - wide(prev))
            s = g
            if adanorm:
                s, ema = adanorm_grad(g, wide(ema), adanorm_r)
            mu = b1 * wide(mu) + (1.0 - b1) * s
            delta = b2 * wide(delta) + (1.0 - b2) * diff
            nu = b3 * wide(nu) + (1.0 - b3) * jnp.square(g + b2 * diff)
            den = jnp.sqrt(nu) / root_bc3 + eps
            return mu / bc1 / den + (b2 / bc2) * delta / den, mu, delta, nu, g, ema

        out = jax.tree.map(leaf, updates, state.mu, state.delta, state.nu, state.prev_grad,
                           norm_ema)
        d, mu, delta, nu, prev, ema = unzip(updates, out, 6)
        d = jax.tree.map(lambda x, g: x.astype(g.dtype), d, updates)
        return d, AdanState(count, _dtypes.store(mu, state.mu), _dtypes.store(delta, state.delta),
                            _dtypes.store(nu, state.nu), _dtypes.store(prev, state.prev_grad),
                            _dtypes.store(ema, state.norm_ema) if adanorm else None)

    return optax.GradientTransformation(init_fn, update_fn)


class ProximalDecayState(NamedTuple):
    count: jax.Array  # int32, saturating: the learning rate's step


def proximal_decay(fn: str, learning_rate, weight_decay) -> optax.GradientTransformation:
    """After the learning rate: ``params_t = (params_{t-1} + u_t) / (1 + lr_t * weight_decay)``
    for the incoming step ``u_t = -lr_t d_t`` (Adan's Algorithm 1, line 6)."""
    owner = v.owner(fn)

    def init_fn(params):
        del params
        return ProximalDecayState(jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        v.require_args(owner, params)
        lr = value_at(learning_rate, state.count)
        out = jax.tree.map(
            lambda u, p: ((wide(p) + wide(u)) / (1.0 + lr * weight_decay)
                          - wide(p)).astype(u.dtype),
            updates, params)
        return out, ProximalDecayState(optax.safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Xie et al. 2022 (Adan)", year=2022,
    counterparts=(R.reference("pytorch_optimizer", "Adan",
                              "maximize, foreach and use_gc not taken; the reference "
                              "computes the global gradient norm in float32"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "b3": "[0, 1)",
            "weight_decay": "[0, inf)", "max_grad_norm": "[0, inf)", "eps": "[0, inf)",
            "adanorm_r": "[0, 1]"},
    examples={"": dict(learning_rate=0.01, b1=0.9, b2=0.9, b3=0.95, weight_decay=0.01),
              "decoupled,clip": dict(learning_rate=0.01, weight_decay=0.02, weight_decouple=True,
                                     max_grad_norm=0.5),
              "adanorm": dict(learning_rate=0.01, adanorm=True, adanorm_r=0.9)},
)
@v.named
def adan(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.98, b2: float = 0.92,
         b3: float = 0.99, weight_decay: float = 0.0, weight_decouple: bool = False,
         max_grad_norm: float = 0.0, eps: float = 1e-8, *, adanorm: bool = False,
         adanorm_r: float = 0.95) -> optax.GradientTransformation:
    r"""Adan (Xie et al., 2022): Nesterov momentum estimated with gradient differences.

    With ``out_t`` the direction of :func:`scale_by_adan` (gradient clipping by
    ``max_grad_norm``, moments ``mu``, ``delta``, ``nu`` with bias corrections)::

        weight_decouple:       params_t = params_{t-1} (1 - learning_rate weight_decay)
                                          - learning_rate out_t
        not weight_decouple:   params_t = (params_{t-1} - learning_rate out_t)
                                          / (1 + learning_rate weight_decay)

    The second form is the paper's proximal decay (Algorithm 1). Betas are the
    reference's: ``b1, b2, b3 = 1 - paper's beta1, beta2, beta3``; defaults
    ``(0.98, 0.92, 0.99)``, ``eps = 1e-8``, ``learning_rate = 1e-3`` are
    ``pytorch_optimizer.Adan`` 4.1.0's. ``adanorm`` (with ``adanorm_r``, the
    reference's hidden keyword options) rescales the gradient entering ``mu`` to
    the running average of its norm (AdaNorm). The reference computes the global
    gradient norm of ``max_grad_norm`` in float32; optzoo in the gradients' precision.
    """
    fn = "adan"
    direction = scale_by_adan(b1, b2, b3, eps, max_grad_norm, adanorm=adanorm,
                              adanorm_r=adanorm_r)
    _decay.check(fn, weight_decay, weight_decouple, False)
    if weight_decouple or _blocks.is_zero(weight_decay):
        return _decay.chain(fn, [direction], learning_rate, weight_decay, True, False)
    return optax.chain(direction, _blocks.learning_rate(fn, learning_rate),
                       proximal_decay(fn, learning_rate, weight_decay))
