"""AdaBound and AMSBound: Adam with step sizes clipped into bounds that close
in on SGD's (Luo et al., 2019)."""

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
from optzoo.transforms._tree import value_at
from optzoo.transforms.adam import check_betas, update_moments

NU_EPS = 1e-15
"""Added to ``nu`` under the root by the reference (``BaseOptimizer.apply_ams_bound``)."""


class AdaBoundState(NamedTuple):
    """State of :func:`scale_by_adabound`; ``nu_max`` only with ``ams_bound``;
    ``base_lr`` is the rate ``final_lr`` is relative to (0 until known)."""

    count: jax.Array  # int32, saturating
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates | None
    base_lr: jax.Array


def scale_by_adabound(learning_rate: _blocks.ScalarOrSchedule = 1e-3, final_lr: float = 0.1,
                      b1: float = 0.9, b2: float = 0.999, gamma: float = 1e-3, eps: float = 1e-8,
                      ams_bound: bool = False, *, base_lr: float | None = None,
                      mu_dtype=None, nu_dtype=None) -> optax.GradientTransformation:
    r"""AdaBound's step, as ``pytorch_optimizer.AdaBound`` 4.1.0 computes it. The
    output is the final update (the learning rate sits inside the clip)::

        mu_t, nu_t  Adam's moments;  nu_max_t = max(nu_max_{t-1}, nu_t)  (ams_bound)
        lr_t        = learning_rate(t - 1);  base = base_lr, or the first positive lr_t
        final_t     = final_lr * lr_t / base
        lower_t     = final_t (1 - 1 / (gamma t + 1)),  upper_t = final_t (1 + 1 / (gamma t))
        step_size_t = lr_t sqrt(1 - b2^t) / (1 - b1^t)
        out_t       = -clip(step_size_t / (sqrt(nu_t + 1e-15) + eps), lower_t, upper_t) mu_t

    (``nu_max_t`` for ``nu_t`` with ``ams_bound``). ``eps`` adds to the root of the
    raw ``nu`` (bias correction folded into the step size), plus the reference's
    ``1e-15`` under the root; Luo et al.'s code has no ``1e-15``.

    ``base_lr``: the rate ``final_lr`` is relative to. The reference takes the ``lr``
    given to its constructor (0: the first positive rate), which a torch scheduler
    then scales; ``None`` takes the first positive ``lr_t``, the same unless a
    schedule starts below its base value (a warmup): give ``base_lr`` there.
    """
    fn = v.owner("scale_by_adabound")
    v.check_learning_rate(fn, learning_rate)
    v.check_nonnegative(fn, "final_lr", final_lr)
    check_betas(fn, b1, b2, eps)
    v.check_positive(fn, "gamma", gamma)
    v.check_bool(fn, "ams_bound", ams_bound)
    if base_lr is not None:
        v.check_positive(fn, "base_lr", base_lr)

    def init_fn(params):
        nu = _dtypes.zeros_like(params, nu_dtype)
        base = jnp.full([], 0.0 if base_lr is None else base_lr, jnp.result_type(float))
        return AdaBoundState(jnp.zeros([], jnp.int32), _dtypes.zeros_like(params, mu_dtype), nu,
                             nu if ams_bound else None, base)

    def update_fn(updates, state, params=None):
        del params
        lr = value_at(learning_rate, state.count)
        base = jnp.where((state.base_lr == 0) & (lr > 0), lr, state.base_lr)
        count, mu, nu = update_moments(fn, updates, state, b1, b2)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu) if ams_bound else None
        t = count.astype(jnp.result_type(float))
        final = jnp.where(base > 0, final_lr * lr / jnp.where(base > 0, base, 1.0), 0.0)
        lower, upper = final * (1.0 - 1.0 / (gamma * t + 1.0)), final * (1.0 + 1.0 / (gamma * t))
        step_size = lr * jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)

        def leaf(g, m, n):
            rate = jnp.clip(step_size / (jnp.sqrt(wide(n) + NU_EPS) + eps), lower, upper)
            return (-rate * m).astype(g.dtype)

        out = jax.tree.map(leaf, updates, mu, nu_max if ams_bound else nu)
        return out, AdaBoundState(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu),
                                  _dtypes.store(nu_max, state.nu_max),
                                  base.astype(state.base_lr.dtype))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Luo et al. 2019", year=2019,
    counterparts=(R.reference("pytorch_optimizer", "AdaBound",
                              "maximize and foreach not taken (negate the loss)"),),
    ranges={"learning_rate": "[0, inf)", "final_lr": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)",
            "gamma": "(0, inf)", "weight_decay": "[0, inf)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, final_lr=0.05, b1=0.8, b2=0.99, gamma=0.01),
              "amsbound,coupled": dict(learning_rate=0.01, ams_bound=True, weight_decay=0.01,
                                       weight_decouple=False),
              "fixed_decay": dict(learning_rate=0.01, weight_decay=0.01, fixed_decay=True)},
)
@v.named
def adabound(learning_rate: _blocks.ScalarOrSchedule = 1e-3, final_lr: float = 0.1,
             b1: float = 0.9, b2: float = 0.999, gamma: float = 1e-3, weight_decay: float = 0.0,
             weight_decouple: bool = True, fixed_decay: bool = False, ams_bound: bool = False,
             eps: float = 1e-8, *, base_lr: float | None = None) -> optax.GradientTransformation:
    r"""AdaBound (Luo et al., 2019, "Adaptive gradient methods with dynamic bound of
    learning rate"); AMSBound with ``ams_bound=True``.

    ``params_t = params_{t-1} + out_t`` with the clipped Adam step ``out_t`` of
    :func:`scale_by_adabound`: the per-coordinate rate ``learning_rate sqrt(1 - b2^t)
    / (1 - b1^t) / (sqrt(nu_t) + eps)`` is clipped into ``[lower_t, upper_t]``, which
    both tend to ``final_lr`` (SGD's rate) at speed ``gamma``. With a schedule,
    ``final_lr`` follows it (``final_lr lr_t / base``, ``base = base_lr`` or the first
    positive rate).
    Weight decay as ``pytorch-optimizer`` (:mod:`optzoo.transforms._decay`):
    decoupled by default (``params (1 - learning_rate weight_decay)``; ``fixed_decay``:
    ``params (1 - weight_decay)``), ``weight_decouple=False`` adds ``weight_decay
    params`` to the gradient (the paper's and Luo et al.'s code's form). Defaults are
    ``pytorch_optimizer.AdaBound`` 4.1.0's (the paper's ``final_lr = 0.1``,
    ``gamma = 1e-3``).
    """
    fn = "adabound"
    block = scale_by_adabound(learning_rate, final_lr, b1, b2, gamma, eps, ams_bound,
                              base_lr=base_lr)
    return _decay.chain(fn, block, learning_rate, weight_decay, weight_decouple, fixed_decay,
                        scale=False)
