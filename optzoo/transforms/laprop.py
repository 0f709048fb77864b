"""LaProp: momentum of the RMS-normalized gradient (Ziyin et al., 2020)."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _decay, _dtypes
from optzoo.transforms import adam as _adam
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip, value_at

EPS_ROOT = 1e-15  # pytorch-optimizer's apply_ams_bound adds it under the root


class LaPropState(NamedTuple):
    """``lr_ema``: the EMA of the learning rate (``exp_avg_lr_1``); ``mean`` with
    ``centered``, ``nu_max`` with ``ams_bound``, else None."""

    count: jax.Array  # int32, saturating
    mu: optax.Updates  # holds the learning rate: mu_t = sum of (1 - b1) lr g / den
    nu: optax.Updates
    lr_ema: jax.Array
    mean: optax.Updates | None
    nu_max: optax.Updates | None


def scale_by_laprop(learning_rate=4e-4, b1=0.9, b2=0.999, eps=1e-15, centered=False,
                    steps_before_using_centered=10, ams_bound=False):
    r"""LaProp's step, learning rate included, as ``pytorch_optimizer.LaProp`` 4.1.0::

        nu_t     = b2 nu_{t-1} + (1 - b2) g_t^2
        mean_t   = b2 mean_{t-1} + (1 - b2) g_t                      (centered)
        s_t      = nu_t - mean_t^2 if centered and t > steps_before_using_centered else nu_t
        s_t      = max(s_max_{t-1}, s_t) =: s_max_t                     (ams_bound)
        den_t    = (sqrt(s_t + 1e-15) + eps) / sqrt(1 - b2^t)
        mu_t     = b1 mu_{t-1} + (1 - b1) lr_t g_t / den_t
        lr_ema_t = b1 lr_ema_{t-1} + (1 - b1) lr_t
        out_t    = -(lr_t / lr_ema_t) mu_t        (-mu_t when lr_t = 0)

    The learning rate sits inside the momentum (so a schedule changes only new
    contributions); with a constant one ``out_t = -lr mu'_t / (1 - b1^t)``, ``mu'``
    the momentum of ``g / den``.
    """
    fn = v.owner("scale_by_laprop")
    v.check_learning_rate(fn, learning_rate)
    _adam.check_betas(fn, b1, b2, eps)
    v.check_bool(fn, "centered", centered)
    v.check_int(fn, "steps_before_using_centered", steps_before_using_centered)
    v.check_bool(fn, "ams_bound", ams_bound)

    def init_fn(params):
        z = _dtypes.zeros_like(params)
        return LaPropState(jnp.zeros([], jnp.int32), z, z, jnp.zeros([], jnp.result_type(float)),
                           z if centered else None, z if ams_bound else None)

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        lr = value_at(learning_rate, state.count)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        root_bc2 = jnp.sqrt(1.0 - b2**t)
        lr_ema = state.lr_ema * b1 + (1.0 - b1) * lr
        step = jnp.where(lr != 0.0, 1.0 / (lr_ema / jnp.where(lr != 0.0, lr, 1.0)), 1.0)
        zeros = jax.tree.map(lambda _: 0.0, updates)
        means = state.mean if centered else zeros
        maxes = state.nu_max if ams_bound else zeros

        def leaf(g, mu, nu, mean, nu_max):
            g, mu, nu = wide(g), wide(mu), wide(nu)
            nu = b2 * nu + (1.0 - b2) * jnp.square(g)
            second = nu
            if centered:
                mean = wide(mean) + (1.0 - b2) * (g - wide(mean))
                second = jnp.where(t > steps_before_using_centered, nu - jnp.square(mean), nu)
            if ams_bound:
                nu_max = second = jnp.maximum(wide(nu_max), second)
            den = (jnp.sqrt(second + EPS_ROOT) + eps) / root_bc2
            mu = b1 * mu + ((1.0 - b1) * lr) * (g / den)
            return -step * mu, mu, nu, mean, nu_max

        out = jax.tree.map(leaf, updates, state.mu, state.nu, means, maxes)
        d, mu, nu, mean, nu_max = unzip(updates, out, 5)
        d = jax.tree.map(lambda x, g: x.astype(g.dtype), d, updates)
        return d, LaPropState(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu),
                              lr_ema, _dtypes.store(mean, state.mean) if centered else None,
                              _dtypes.store(nu_max, state.nu_max) if ams_bound else None)

    return optax.GradientTransformation(init_fn, update_fn)


def decay_after_step(fn, learning_rate, weight_decay, fixed_decay):
    """``params_t = (params_{t-1} + u_t) (1 - rate_t)``, ``rate_t = lr_t weight_decay``
    (``weight_decay`` with ``fixed_decay``): the decay of the params *after* the step."""
    owner = v.owner(fn)

    def init_fn(params):
        del params
        return optax.ScaleByScheduleState(jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None):
        v.require_args(owner, params)
        rate = weight_decay if fixed_decay else weight_decay * value_at(learning_rate, state.count)
        out = jax.tree.map(lambda u, p: (wide(u) - rate * (wide(p) + wide(u))).astype(u.dtype),
                           updates, params)
        return out, optax.ScaleByScheduleState(optax.safe_increment(state.count))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Ziyin et al. 2020", year=2020,
    counterparts=(R.reference("pytorch_optimizer", "LaProp",
                              "foreach, maximize and cautious (optzoo.cautious) not taken"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "eps": "[0, inf)",
            "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-8, weight_decay=0.01),
              "centered,ams": dict(learning_rate=0.01, centered=True,
                                   steps_before_using_centered=3, ams_bound=True),
              "fixed": dict(learning_rate=0.01, weight_decay=0.001, fixed_decay=True)},
)
@v.named
def laprop(learning_rate: _blocks.ScalarOrSchedule = 4e-4, b1: float = 0.9, b2: float = 0.999,
           centered: bool = False, steps_before_using_centered: int = 10,
           weight_decay: float = 0.0, weight_decouple: bool = True, fixed_decay: bool = False,
           ams_bound: bool = False, eps: float = 1e-15) -> optax.GradientTransformation:
    r"""LaProp (Ziyin et al., 2020): Adam with the normalization moved inside the momentum.

    ::

        params'_t = params_{t-1} + out_t                    (out_t: :func:`scale_by_laprop`)
        params_t  = params'_t (1 - learning_rate weight_decay)     (weight_decouple)
        params_t  = params'_t (1 - weight_decay)                   (and fixed_decay)

    As in ``pytorch_optimizer.LaProp`` 4.1.0 the decay shrinks the params *after*
    the step. ``weight_decouple=False`` has no effect there (the reference adds the
    L2 term to the gradient after the step has read it), and here neither. Defaults
    (``learning_rate = 4e-4``, ``eps = 1e-15``, 10 steps before centering) are the
    reference's, which follow the authors' code. Its hidden ``cautious`` option is
    ``optzoo.cautious(scale_by_laprop(...))`` chained before :func:`decay_after_step`
    (checked).
    """
    fn = "laprop"
    _decay.check(fn, weight_decay, weight_decouple, fixed_decay)
    step = scale_by_laprop(learning_rate, b1, b2, eps, centered, steps_before_using_centered,
                           ams_bound)
    if not weight_decouple or _blocks.is_zero(weight_decay):
        return step
    return optax.chain(step, decay_after_step(fn, learning_rate, weight_decay, fixed_decay))
