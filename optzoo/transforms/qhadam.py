"""QHAdam: Adam with quasi-hyperbolic momentum (Ma and Yarats, 2019)."""

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
from optzoo.transforms._tree import unzip
from optzoo.transforms.adam import check_betas


class QHAdamState(NamedTuple):
    """State of :func:`scale_by_qhadam`: ``w1, w2`` are the float32 sums
    ``1 + b + ... + b^(t-1)`` whose reciprocals weight the newest gradient."""

    count: jax.Array  # int32, saturating
    w1: jax.Array  # float32 scalar
    w2: jax.Array  # float32 scalar
    mu: optax.Updates
    nu: optax.Updates


def scale_by_qhadam(b1: float = 0.9, b2: float = 0.999, nu1: float = 1.0, nu2: float = 1.0,
                    eps: float = 1e-8, *, mu_dtype=None, nu_dtype=None
                    ) -> optax.GradientTransformation:
    r"""QHAdam's direction, as ``pytorch_optimizer.QHAdam`` 4.1.0 computes it::

        w1_t  = b1 w1_{t-1} + 1,   w2_t = b2 w2_{t-1} + 1     (float32; w_0 = 0)
        mu_t  = mu_{t-1} + (g_t - mu_{t-1}) / w1_t            (bias-corrected EMA)
        nu_t  = nu_{t-1} + (g_t^2 - nu_{t-1}) / w2_t
        out_t = (nu1 mu_t + (1 - nu1) g_t) / (sqrt(nu2 nu_t + (1 - nu2) g_t^2) + eps)

    ``1 / w_t = (1 - b) / (1 - b^t)`` makes ``mu_t, nu_t`` the paper's
    bias-corrected moments. The reference keeps ``w1, w2`` in float32 whatever the
    params' dtype, so its float64 moments carry float32 rounding (about 1e-7
    relative) in their weights; optzoo does the same.
    """
    fn = v.owner("scale_by_qhadam")
    check_betas(fn, b1, b2, eps)
    v.check_range(fn, "nu1", nu1, 0.0, 1.0)
    v.check_range(fn, "nu2", nu2, 0.0, 1.0)

    def init_fn(params):
        zero = jnp.zeros([], jnp.float32)
        mu, nu = _dtypes.zeros_like(params, mu_dtype), _dtypes.zeros_like(params, nu_dtype)
        return QHAdamState(jnp.zeros([], jnp.int32), zero, zero, mu, nu)

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        f32 = jnp.float32
        w1 = state.w1 * jnp.asarray(b1, f32) + f32(1.0)
        w2 = state.w2 * jnp.asarray(b2, f32) + f32(1.0)
        a1, a2 = f32(1.0) / w1, f32(1.0) / w2

        def leaf(g, mu, nu):
            g, g2 = wide(g), jnp.square(wide(g))
            mu = wide(mu) + a1.astype(g.dtype) * (g - wide(mu))
            nu = wide(nu) + a2.astype(g.dtype) * (g2 - wide(nu))
            out = (nu1 * mu + (1.0 - nu1) * g) / (jnp.sqrt(nu2 * nu + (1.0 - nu2) * g2) + eps)
            return out, mu, nu

        out, mu, nu = unzip(updates, jax.tree.map(leaf, updates, state.mu, state.nu), 3)
        out = jax.tree.map(lambda d, g: d.astype(g.dtype), out, updates)
        return out, QHAdamState(optax.safe_increment(state.count), w1, w2,
                                _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Ma and Yarats 2019", year=2019,
    counterparts=(R.reference("pytorch_optimizer", "QHAdam",
                              "maximize and foreach not taken (negate the loss)"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "nu1": "[0, 1]",
            "nu2": "[0, 1]", "weight_decay": "[0, inf)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.9, b2=0.99, nu1=0.7, nu2=0.9),
              "decoupled": dict(learning_rate=0.01, nu1=0.8, weight_decay=0.05,
                                weight_decouple=True),
              "fixed_decay": dict(learning_rate=0.01, weight_decay=0.01, weight_decouple=True,
                                  fixed_decay=True)},
)
@v.named
def qhadam(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999,
           nu1: float = 1.0, nu2: float = 1.0, weight_decay: float = 0.0,
           weight_decouple: bool = False, fixed_decay: bool = False, eps: float = 1e-8
           ) -> optax.GradientTransformation:
    r"""QHAdam (Ma and Yarats, 2019, "Quasi-hyperbolic momentum and Adam for deep learning").

    With the bias-corrected moments ``mu_t, nu_t`` of :func:`scale_by_qhadam`::

        params_t = params_{t-1} - learning_rate (nu1 mu_t + (1 - nu1) g_t)
                                  / (sqrt(nu2 nu_t + (1 - nu2) g_t^2) + eps)

    ``nu1 = nu2 = 1`` is Adam. Weight decay as ``pytorch-optimizer``
    (:mod:`optzoo.transforms._decay`): coupled ``g + weight_decay params`` by default;
    ``weight_decouple`` shrinks the params by ``1 - learning_rate weight_decay``,
    ``fixed_decay`` by ``1 - weight_decay``. The reference's ``betas``, ``nus``
    become ``b1, b2``, ``nu1, nu2``; defaults are ``pytorch_optimizer.QHAdam``
    4.1.0's (``nus = (1, 1)``; the paper recommends ``nu1 = 0.7, nu2 = 1`` with
    ``b1 = 0.995``).
    """
    fn = "qhadam"
    return _decay.chain(fn, scale_by_qhadam(b1, b2, nu1, nu2, eps), learning_rate,
                        weight_decay, weight_decouple, fixed_decay)
