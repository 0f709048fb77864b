"""MARS: variance-reduced (STORM-like) gradients in AdamW, Lion or Shampoo (Yuan et al., 2024)."""

from __future__ import annotations

import math
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
from optzoo.transforms.orthogonal import newton_schulz

EPS_ROOT = 1e-15  # pytorch-optimizer's apply_ams_bound adds it under the root


class MarsState(NamedTuple):
    count: jax.Array  # int32, saturating
    mu: optax.Updates  # exp_avg
    nu: optax.Updates  # exp_avg_sq
    last_grad: optax.Updates
    nu_max: optax.Updates | None  # ams_bound only


def cautious_mask(u, g):
    """``u`` where it agrees in sign with ``g``, else 0, times ``n / (n_agree + 1)``."""
    mask = (u * g > 0).astype(u.dtype)
    return u * (mask * (mask.size / (jnp.sum(mask) + 1.0)))


def scale_by_mars(b1=0.95, b2=0.99, gamma=0.025, mars_type="adamw", optimize_1d=False,
                  b1_1d=0.9, b2_1d=0.95, ams_bound=False, cautious=False, eps=1e-8,
                  last_grad_decay=0.0, *, ns_dtype=jnp.bfloat16) -> optax.GradientTransformation:
    r"""MARS's direction per leaf, as ``pytorch_optimizer.MARS`` 4.1.0 computes it.

    Leaves of 2+ dimensions (all leaves with ``optimize_1d``), ``y`` the previous gradient::

        c_t   = g_t + gamma b1 / (1 - b1) (g_t - y_{t-1});  c_t /= ||c_t|| if ||c_t|| > 1
        mu_t  = b1 mu_{t-1} + (1 - b1) c_t;     m_t = mu_t (cautious: masked by sign(g_t))
        adamw:   nu_t = b2 nu_{t-1} + (1 - b2) c_t^2   (ams_bound: its running max)
                 out_t = m_t sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(nu_t + 1e-15) + eps)
        lion:    out_t = sign(m_t)
        shampoo: out_t = NS5(m_t / (1 - b1)) sqrt(max(1, rows / cols))  (1-D: adamw)

    ``NS5``: :func:`optzoo.transforms.orthogonal.newton_schulz` in ``ns_dtype``
    (bfloat16, as the reference), on the leaf reshaped to ``(rows, -1)``. Other leaves
    take the adamw rule on ``g_t`` with ``b1_1d, b2_1d``. ``y_t = g_t + last_grad_decay
    params_{t-1}``: the reference's coupled decay, which reaches only this memory.
    """
    fn = v.owner("scale_by_mars")
    _adam.check_betas(fn, b1, b2, eps)
    v.check_range(fn, "b1_1d", b1_1d, 0.0, 1.0, high_open=True)
    v.check_range(fn, "b2_1d", b2_1d, 0.0, 1.0, high_open=True)
    v.check_nonnegative(fn, "gamma", gamma)
    v.check_choice(fn, "mars_type", mars_type, ("adamw", "lion", "shampoo"))
    for name, flag in (("optimize_1d", optimize_1d), ("ams_bound", ams_bound),
                       ("cautious", cautious)):
        v.check_bool(fn, name, flag)
    v.check_dtype(fn, "ns_dtype", ns_dtype)
    decay = not _blocks.is_zero(last_grad_decay)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        z = _dtypes.zeros_like(params)
        return MarsState(jnp.zeros([], jnp.int32), z, z, z, z if ams_bound else None)

    def update_fn(updates, state, params=None):
        v.check_tree_match(fn, updates, state.mu)
        if decay:
            v.require_args(fn, params)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        zeros = jax.tree.map(lambda _: 0.0, updates)

        def adamw(m, nu, nu_max, c, beta1, beta2):
            nu = beta2 * nu + (1.0 - beta2) * jnp.square(c)
            if ams_bound:
                nu_max = jnp.maximum(wide(nu_max), nu)
            scale = jnp.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
            second = nu_max if ams_bound else nu
            return m * scale / (jnp.sqrt(second + EPS_ROOT) + eps), nu, nu_max

        def leaf(g, mu, nu, last, nu_max, p):
            g, mu, nu = wide(g), wide(mu), wide(nu)
            mixed = optimize_1d or g.ndim >= 2
            beta1, beta2 = (b1, b2) if mixed else (b1_1d, b2_1d)
            c = g
            if mixed:
                c = (g - wide(last)) * (gamma * (b1 / (1.0 - b1))) + g
                norm = jnp.sqrt(jnp.sum(jnp.square(c)))
                c = jnp.where(norm > 1.0, c / jnp.where(norm > 1.0, norm, 1.0), c)
            mu = mu + (1.0 - beta1) * (c - mu)
            m = cautious_mask(mu, g) if cautious else mu
            if mixed and mars_type == "lion":
                out = jnp.sign(m)
            elif mixed and mars_type == "shampoo" and g.ndim >= 2 and g.size:  # not empty
                x = (m * (1.0 / (1.0 - b1))).reshape(g.shape[0], -1)
                o = newton_schulz(x, ns_steps=5, eps=eps, ns_dtype=ns_dtype)
                factor = math.sqrt(max(1.0, g.shape[0] / g.shape[1]))
                out = (o * factor).astype(ns_dtype or o.dtype).astype(o.dtype).reshape(g.shape)
            else:
                out, nu, nu_max = adamw(m, nu, nu_max, c, beta1, beta2)
            new_last = g + last_grad_decay * wide(p) if decay else g
            return out, mu, nu, new_last, nu_max

        maxes = state.nu_max if ams_bound else zeros
        out = jax.tree.map(leaf, updates, state.mu, state.nu, state.last_grad, maxes,
                           params if decay else zeros)
        d, mu, nu, last, nu_max = unzip(updates, out, 5)
        d = jax.tree.map(lambda x, g: x.astype(g.dtype), d, updates)
        return d, MarsState(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu),
                            _dtypes.store(last, state.last_grad),
                            _dtypes.store(nu_max, state.nu_max) if ams_bound else None)

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Yuan et al. 2024", year=2024,
    counterparts=(R.reference("pytorch_optimizer", "MARS", "foreach and maximize not taken; "
                              "lr_1d is its own rate (the reference scales it with lr)"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "gamma": "[0, inf)",
            "lr_1d": "[0, inf)", "b1_1d": "[0, 1)", "b2_1d": "[0, 1)", "weight_decay": "[0, inf)",
            "weight_decay_1d": "[0, inf)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.9, b2=0.95, gamma=0.05, lr_1d=0.005,
                       weight_decay=0.01),
              "lion,1d,cautious": dict(learning_rate=0.001, mars_type="lion", optimize_1d=True,
                                       cautious=True, weight_decay=0.01, weight_decouple=False),
              "shampoo,ams,fixed": dict(learning_rate=0.01, mars_type="shampoo", ams_bound=True,
                                        weight_decay=0.001, fixed_decay=True)},
)
@v.named
def mars(learning_rate: _blocks.ScalarOrSchedule = 3e-3, b1: float = 0.95, b2: float = 0.99,
         gamma: float = 0.025, mars_type: str = "adamw", optimize_1d: bool = False,
         lr_1d: _blocks.ScalarOrSchedule = 3e-3, b1_1d: float = 0.9, b2_1d: float = 0.95,
         weight_decay: float = 0.0, weight_decay_1d: float = 1e-1, weight_decouple: bool = True,
         fixed_decay: bool = False, ams_bound: bool = False, cautious: bool = False,
         eps: float = 1e-8, *, ns_dtype=jnp.bfloat16) -> optax.GradientTransformation:
    r"""MARS (Yuan et al., 2024): a STORM-like corrected gradient ``c_t`` fed to AdamW
    (``mars_type="adamw"``), Lion (``"lion"``) or Shampoo by Newton-Schulz (``"shampoo"``).

    ::

        params_t = params_{t-1} (1 - lr weight_decay) - lr out_t    (out_t: :func:`scale_by_mars`)

    with ``lr, weight_decay = learning_rate, weight_decay`` on leaves of 2+
    dimensions (on every leaf with ``optimize_1d``) and ``lr_1d, weight_decay_1d``
    (AdamW with ``betas_1d``) on the others; ``fixed_decay`` drops ``lr`` from the
    decay. ``weight_decouple=False`` follows the reference: the L2 term is added to
    the gradient only after the step has read it, so it reaches only the stored
    previous gradient. ``cautious`` is part of the class (it masks the momentum
    before Lion's sign and Newton-Schulz). Defaults are ``pytorch_optimizer.MARS``
    4.1.0's; its ``betas_1d`` are ``b1_1d, b2_1d`` here. The reference scales
    ``lr_1d`` by ``lr / lr_initial`` when a scheduler changes ``lr``; here ``lr_1d``
    takes its own schedule.
    """
    fn = "mars"
    v.check_learning_rate(fn, learning_rate)
    v.check_learning_rate(fn, lr_1d, "lr_1d")
    _decay.check(fn, weight_decay, weight_decouple, fixed_decay)
    v.check_nonnegative(fn, "weight_decay_1d", weight_decay_1d)
    direction = scale_by_mars(b1, b2, gamma, mars_type, optimize_1d, b1_1d, b2_1d, ams_bound,
                              cautious, eps, 0.0 if weight_decouple else weight_decay,
                              ns_dtype=ns_dtype)

    def tail(lr, wd):  # the learning rate and the decoupled decay of one group of leaves
        if weight_decouple:
            return _decay.chain(fn, [], lr, wd, True, fixed_decay)
        return _blocks.learning_rate(fn, lr, check=False)

    def labels(tree):
        return jax.tree.map(lambda x: "mixed" if jnp.ndim(x) >= 2 else "1d", tree)

    if optimize_1d:
        return optax.chain(direction, tail(learning_rate, weight_decay))
    return optax.chain(direction, optax.multi_transform(
        {"mixed": tail(learning_rate, weight_decay), "1d": tail(lr_1d, weight_decay_1d)}, labels))
