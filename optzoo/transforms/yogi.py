"""Yogi: additive second-moment updates (Zaheer et al., 2018)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _decay, _dtypes
from optzoo.transforms import adam as _adam
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip


def scale_by_yogi(b1=0.9, b2=0.999, eps=1e-3, initial_accumulator=1e-6, *,
                  adam_debias=False) -> optax.GradientTransformation:
    r"""Yogi's direction, as ``pytorch_optimizer.Yogi`` 4.1.0 computes it::

        mu_0 = nu_0 = initial_accumulator
        mu_t  = b1 mu_{t-1} + (1 - b1) g_t
        nu_t  = nu_{t-1} - (1 - b2) sign(nu_{t-1} - g_t^2) g_t^2
        out_t = mu_t / (1 - b1^t) / (sqrt(nu_t) / sqrt(1 - b2^t) + eps)

    ``adam_debias`` (AdamD) drops the ``1 / (1 - b1^t)``. The state is an
    :class:`optzoo.transforms.adam.AdamState`.
    """
    fn = v.owner("scale_by_yogi")
    _adam.check_betas(fn, b1, b2, eps)
    v.check_nonnegative(fn, "initial_accumulator", initial_accumulator)
    v.check_bool(fn, "adam_debias", adam_debias)

    def init_fn(params):
        full = _dtypes.full_like(params, initial_accumulator)
        return _adam.AdamState(jnp.zeros([], jnp.int32), full, full)

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        step = 1.0 if adam_debias else 1.0 / (1.0 - b1**t)
        root_bc2 = jnp.sqrt(1.0 - b2**t)

        def leaf(g, mu, nu):
            g, mu, nu = wide(g), wide(mu), wide(nu)
            g2 = jnp.square(g)
            mu = mu + (1.0 - b1) * (g - mu)
            nu = nu - (1.0 - b2) * jnp.sign(nu - g2) * g2
            return step * mu / (jnp.sqrt(nu) / root_bc2 + eps), mu, nu

        d, mu, nu = unzip(updates, jax.tree.map(leaf, updates, state.mu, state.nu), 3)
        d = jax.tree.map(lambda x, g: x.astype(g.dtype), d, updates)
        return d, _adam.AdamState(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Zaheer et al. 2018", year=2018,
    counterparts=(R.reference("pytorch_optimizer", "Yogi", "foreach and maximize not taken"),
                  R.optax("yogi", "no weight decay; otherwise equal")),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "eps": "[0, inf)",
            "initial_accumulator": "[0, inf)", "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-4, initial_accumulator=1e-3),
              "coupled,debias": dict(learning_rate=0.02, weight_decay=0.01,
                                     weight_decouple=False, adam_debias=True),
              "fixed": dict(learning_rate=0.02, weight_decay=0.001, fixed_decay=True)},
)
@v.named
def yogi(learning_rate: _blocks.ScalarOrSchedule = 1e-2, b1: float = 0.9, b2: float = 0.999,
         initial_accumulator: float = 1e-6, weight_decay: float = 0.0,
         weight_decouple: bool = True, fixed_decay: bool = False, eps: float = 1e-3, *,
         adam_debias: bool = False) -> optax.GradientTransformation:
    r"""Yogi (Zaheer et al., 2018): Adam whose second moment moves additively toward ``g^2``.

    ::

        params_t = params_{t-1} - learning_rate * out_t      (out_t: :func:`scale_by_yogi`)

    with pytorch-optimizer's decay (:mod:`optzoo.transforms._decay`): coupled
    (``weight_decouple=False``), decoupled, or decoupled not scaled by the learning
    rate (``fixed_decay``). Defaults (``learning_rate = 1e-2``, ``eps = 1e-3``,
    ``initial_accumulator = 1e-6`` for both moments) are ``pytorch_optimizer.Yogi``
    4.1.0's, which follow the paper's recommendation. ``adam_debias`` is the
    reference's hidden keyword option (AdamD: no first-moment bias correction).
    Without weight decay it equals ``optax.yogi`` at the same hyperparameters.
    """
    fn = "yogi"
    direction = scale_by_yogi(b1, b2, eps, initial_accumulator, adam_debias=adam_debias)
    return _decay.chain(fn, [direction], learning_rate, weight_decay, weight_decouple, fixed_decay)
