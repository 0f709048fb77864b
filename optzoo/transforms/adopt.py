"""ADOPT: Adam with the current gradient kept out of its own normalizer (Taniguchi et al., 2024)."""

from __future__ import annotations

from collections.abc import Callable

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
from optzoo.transforms.stable_adamw import update_rms


def clip_quarter_power(step):
    """ADOPT's default clipping bound ``step^(1/4)`` (the reference's ``clip_lambda``)."""
    return step**0.25


def scale_by_adopt(b1=0.9, b2=0.9999, eps=1e-6,
                   clip_lambda: Callable | None = clip_quarter_power, *,
                   stable_adamw=False) -> optax.GradientTransformation:
    r"""ADOPT's direction (Algorithm 2 with clipping), as ``pytorch_optimizer.ADOPT`` 4.1.0::

        t = 1:  nu_1 = g_1^2,  out_1 = 0
        t > 1:  x_t   = clip(g_t / max(sqrt(nu_{t-1}), eps), clip_lambda(t))
                mu_t  = b1 mu_{t-1} + (1 - b1) x_t
                out_t = mu_t                   (stable_adamw: mu_t / rms(g_t, nu_{t-1}))
                nu_t  = b2 nu_{t-1} + (1 - b2) g_t^2

    ``clip(x, c)`` clamps to ``[-c, c]``; ``clip_lambda = None`` does not clip.
    ``stable_adamw`` divides by :func:`optzoo.transforms.stable_adamw.update_rms`.
    """
    fn = v.owner("scale_by_adopt")
    _adam.check_betas(fn, b1, b2, eps)
    v.check_bool(fn, "stable_adamw", stable_adamw)
    if clip_lambda is not None and not callable(clip_lambda):
        raise ValueError(f"{fn}: clip_lambda must be a function step -> bound or None, "
                         f"got {clip_lambda!r}")

    def init_fn(params):
        if stable_adamw:  # a per-tensor factor: depends on each leaf
            _flat.refuse(fn, params)
        return _adam.init_moments(params, None)

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        first = state.count == 0
        count = optax.safe_increment(state.count)
        bound = None if clip_lambda is None else clip_lambda(count.astype(jnp.result_type(float)))

        def leaf(g, mu, nu):
            g, mu, nu = wide(g), wide(mu), wide(nu)
            x = g / jnp.maximum(jnp.sqrt(nu), eps)
            if bound is not None:
                x = jnp.clip(x, -bound, bound)
            new_mu = mu + (1.0 - b1) * (x - mu)
            out = new_mu / update_rms(g, nu) if stable_adamw else new_mu
            new_nu = b2 * nu + (1.0 - b2) * jnp.square(g)
            return (jnp.where(first, 0.0, out), jnp.where(first, mu, new_mu),
                    jnp.where(first, nu + jnp.square(g), new_nu))

        d, mu, nu = unzip(updates, jax.tree.map(leaf, updates, state.mu, state.nu), 3)
        d = jax.tree.map(lambda x, g: x.astype(g.dtype), d, updates)
        return d, _adam.AdamState(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Taniguchi et al. 2024", year=2024,
    counterparts=(R.reference("pytorch_optimizer", "ADOPT",
                              "foreach, maximize and cautious (optzoo.cautious) not taken"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "eps": "[0, inf)",
            "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-5, weight_decay=0.01),
              "decoupled": dict(learning_rate=0.01, weight_decay=0.05, weight_decouple=True),
              "fixed,stable": dict(learning_rate=0.01, weight_decay=0.001, weight_decouple=True,
                                   fixed_decay=True, stable_adamw=True)},
)
@v.named
def adopt(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.9999,
          clip_lambda: Callable | None = clip_quarter_power, weight_decay: float = 0.0,
          weight_decouple: bool = False, fixed_decay: bool = False, eps: float = 1e-6, *,
          stable_adamw: bool = False) -> optax.GradientTransformation:
    r"""ADOPT (Taniguchi et al., 2024): normalize the gradient by the second moment of
    the *previous* steps, then take its momentum; converges for any ``b2``.

    ::

        params_t = params_{t-1} - learning_rate * out_t     (out_t: :func:`scale_by_adopt`)

    with pytorch-optimizer's decay (:mod:`optzoo.transforms._decay`; a decoupled decay
    also shrinks the params at ``t = 1``, where ``out_1 = 0``). Defaults
    (``b2 = 0.9999``, ``eps = 1e-6``, ``clip_lambda(t) = t^(1/4)``) are the paper's and
    ``pytorch_optimizer.ADOPT`` 4.1.0's; ``stable_adamw`` is the reference's hidden
    keyword option; its ``cautious`` is ``optzoo.cautious(scale_by_adopt(...),
    direction=True)`` chained before the decay and the learning rate (checked).
    ``clip_lambda`` is a function of the step, not a schedule: under
    ``optax.inject_hyperparams`` list it in ``static_args``.
    """
    fn = "adopt"
    direction = scale_by_adopt(b1, b2, eps, clip_lambda, stable_adamw=stable_adamw)
    return _decay.chain(fn, [direction], learning_rate, weight_decay, weight_decouple, fixed_decay)
