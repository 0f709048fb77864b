"""NovoGrad: momentum on layer-wise normalized gradients (Ginsburg et al., 2019)."""

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
from optzoo.transforms._tree import unzip
from optzoo.transforms.adam import check_betas


class NovoGradState(NamedTuple):
    """State of :func:`scale_by_novograd`: ``nu`` is one scalar per leaf (the EMA of
    the leaf's squared gradient norm)."""

    count: jax.Array  # int32, saturating
    mu: optax.Updates
    nu: optax.Updates


def scale_by_novograd(b1: float = 0.95, b2: float = 0.98, eps: float = 1e-8,
                      weight_decay: float = 0.0, grad_averaging: bool = False, *,
                      mu_dtype=None) -> optax.GradientTransformation:
    r"""NovoGrad's momentum, as ``pytorch_optimizer.NovoGrad`` 4.1.0 computes it, per leaf::

        nu_t  = ||g_1||^2 (t = 1),   nu_{t-1} + (1 - b2) (||g_t||^2 - nu_{t-1})  (t > 1)
        n_t   = g_t / (sqrt(nu_t) + eps) + weight_decay params_{t-1}
        mu_t  = n_1 (t = 1),   b1 mu_{t-1} + c n_t  (t > 1; c = 1 - b1 with
                grad_averaging, else 1)
        out_t = mu_t

    ``weight_decay`` here is the paper's (coupled, added after the normalization);
    needs params when nonzero.
    """
    fn = v.owner("scale_by_novograd")
    check_betas(fn, b1, b2, eps)
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    v.check_bool(fn, "grad_averaging", grad_averaging)
    decay = not _blocks.is_zero(weight_decay)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        nu = jax.tree.map(lambda p: jnp.zeros([], _dtypes.state_dtype(None, p)), params)
        return NovoGradState(jnp.zeros([], jnp.int32), _dtypes.zeros_like(params, mu_dtype), nu)

    def update_fn(updates, state, params=None):
        v.check_tree_match(fn, updates, state.mu)
        if decay:
            v.require_args(fn, params)
        first = state.count == 0
        c = 1.0 - b1 if grad_averaging else 1.0

        def leaf(g, mu, nu, p):
            g = wide(g)
            sq = jnp.sum(jnp.square(g))
            nu = jnp.where(first, sq, wide(nu) + (1.0 - b2) * (sq - wide(nu)))
            n = g / (jnp.sqrt(nu) + eps)
            if decay:
                n = n + weight_decay * wide(p)
            return jnp.where(first, n, b1 * wide(mu) + c * n), nu

        ps = params if decay else state.mu
        mu, nu = unzip(updates, jax.tree.map(leaf, updates, state.mu, state.nu, ps), 2)
        out = jax.tree.map(lambda m, g: m.astype(g.dtype), mu, updates)
        return out, NovoGradState(optax.safe_increment(state.count), _dtypes.store(mu, state.mu),
                                  _dtypes.store(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adaptive", reference="Ginsburg et al. 2019", year=2019,
    counterparts=(R.reference("pytorch_optimizer", "NovoGrad",
                              "maximize and foreach not taken (negate the loss); adam_debias "
                              "(a keyword the class only forwards) not taken"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)",
            "weight_decay": "[0, inf)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.9, b2=0.95, weight_decay=0.01),
              "decoupled,averaging": dict(learning_rate=0.01, weight_decay=0.01,
                                          weight_decouple=True, grad_averaging=True),
              "fixed_decay": dict(learning_rate=0.01, weight_decay=0.01, weight_decouple=True,
                                  fixed_decay=True)},
)
@v.named
def novograd(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.95, b2: float = 0.98,
             weight_decay: float = 0.0, weight_decouple: bool = False, fixed_decay: bool = False,
             grad_averaging: bool = False, eps: float = 1e-8) -> optax.GradientTransformation:
    r"""NovoGrad (Ginsburg et al., 2019, "Stochastic gradient methods with layer-wise
    adaptive moments for training of deep networks").

    With the momentum ``mu_t`` of :func:`scale_by_novograd` (each leaf's gradient
    divided by the root of an EMA of its squared norm)::

        params_t = params_{t-1} - learning_rate mu_t

    Weight decay: by default the paper's, ``weight_decay params`` added to the
    normalized gradient; ``weight_decouple`` shrinks the params by ``1 -
    learning_rate weight_decay`` instead, ``fixed_decay`` by ``1 - weight_decay``.
    The first step sets ``nu_1 = ||g_1||^2`` and ``mu_1 = n_1`` (no ``1 - b1`` even
    with ``grad_averaging``). Defaults are ``pytorch_optimizer.NovoGrad`` 4.1.0's
    (``b1, b2 = 0.95, 0.98``, the paper's).
    """
    fn = "novograd"
    _decay.check(fn, weight_decay, weight_decouple, fixed_decay)
    block = scale_by_novograd(b1, b2, eps, 0.0 if weight_decouple else weight_decay,
                              grad_averaging)
    return _decay.chain(fn, block, learning_rate, weight_decay if weight_decouple else 0.0,
                        True, fixed_decay)
