"""AdaBelief: Adam with the second moment of the gradient's deviation from its EMA
(Zhuang et al., 2020), as ``adabelief_pytorch.AdaBelief`` 0.2.1 computes it."""

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


class AdaBeliefState(NamedTuple):
    """State of :func:`scale_by_adabelief`: ``mu`` (exp_avg), ``nu`` (exp_avg_var,
    eps included) and, with AMSGrad, ``nu_max`` (max_exp_avg_var)."""

    count: jax.Array  # int32, saturating
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates | None = None


def scale_by_adabelief(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    *,
    amsgrad: bool = False,
    rectify: bool = True,
    degenerated_to_sgd: bool = True,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""AdaBelief's direction (the update is ``-learning_rate`` times it)::

        mu_t     = b1 mu_{t-1} + (1 - b1) g_t
        nu_t     = b2 nu_{t-1} + (1 - b2) (g_t - mu_t)^2 + eps     (eps stays in the state)
        nu_max_t = max(nu_max_{t-1}, nu_t)                          (amsgrad)
        bc1, bc2 = 1 - b1^t, 1 - b2^t
        out_t    = mu_t / bc1 / (sqrt(nu_t) / sqrt(bc2) + eps)     (not rectify; amsgrad: nu_max_t)

    Rectified (RAdam's rule, switching at ``rho_t >= 5``)::

        rho_inf = 2 / (1 - b2) - 1,   rho_t = rho_inf - 2 t b2^t / bc2
        r_t     = sqrt(bc2 (rho_t - 4) / (rho_inf - 4) (rho_t - 2) / rho_t rho_inf / (rho_inf - 2))
        out_t   = r_t / bc1 * mu_t / (sqrt(nu_t) + eps)            rho_t >= 5 (nu_t, even amsgrad)
                = mu_t / bc1                                        rho_t < 5, degenerated_to_sgd
                = 0                                                 rho_t < 5, otherwise
    """
    fn = v.owner("scale_by_adabelief")
    check_betas(fn, b1, b2, eps)
    for name, flag in (("amsgrad", amsgrad), ("rectify", rectify),
                       ("degenerated_to_sgd", degenerated_to_sgd)):
        v.check_bool(fn, name, flag)
    rho_inf = 2.0 / (1.0 - b2) - 1.0

    def init_fn(params):
        return AdaBeliefState(
            count=jnp.zeros([], jnp.int32),
            mu=_dtypes.zeros_like(params, mu_dtype),
            nu=_dtypes.zeros_like(params, nu_dtype),
            nu_max=_dtypes.zeros_like(params, nu_dtype) if amsgrad else None,
        )

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        bc1, b2_t = 1.0 - b1**t, b2**t
        bc2 = 1.0 - b2_t
        rho_t = rho_inf - 2.0 * t * b2_t / bc2
        rectified = rho_t >= 5.0
        safe_rho = jnp.where(rectified, rho_t, rho_inf)
        r_t = jnp.sqrt(bc2 * (safe_rho - 4.0) / (rho_inf - 4.0) * (safe_rho - 2.0) / safe_rho
                       * rho_inf / (rho_inf - 2.0)) / bc1
        sgd = (1.0 / bc1) if degenerated_to_sgd else 0.0

        def one(g, mu, nu, *nu_max):
            g = wide(g)
            mu = b1 * wide(mu) + (1.0 - b1) * g
            nu = b2 * wide(nu) + (1.0 - b2) * jnp.square(g - mu) + eps
            nu_max = tuple(jnp.maximum(wide(n), nu) for n in nu_max)  # () unless amsgrad
            if rectify:
                step = jnp.where(rectified, r_t * mu / (jnp.sqrt(nu) + eps), sgd * mu)
            else:
                denom = jnp.sqrt(nu_max[0] if amsgrad else nu) / jnp.sqrt(bc2) + eps
                step = mu / bc1 / denom
            return (step, mu, nu, *nu_max)

        rest = (state.nu_max,) if amsgrad else ()
        leaves = jax.tree.map(one, updates, state.mu, state.nu, *rest)
        out, mu, nu, *nu_max = unzip(updates, leaves, 4 if amsgrad else 3)
        out = jax.tree.map(lambda o, g: o.astype(g.dtype), out, updates)
        return out, AdaBeliefState(
            count=count, mu=_dtypes.store(mu, state.mu), nu=_dtypes.store(nu, state.nu),
            nu_max=_dtypes.store(nu_max[0], state.nu_max) if amsgrad else None)

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Zhuang et al. 2020", year=2020,
    counterparts=(
        R.reference("adabelief_pytorch", "AdaBelief",
                    "print_change_log not taken; with amsgrad and rectify the reference keeps "
                    "nu_max but steps with nu (matched)"),
        R.optax("adabelief", "no rectification, weight decay or AMSGrad; equal to "
                "rectify=False with eps_root = eps (eps accumulates in its state too)"),
    ),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "eps": "[0, inf)",
            "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-12, weight_decay=0.01),
              "adam-like": dict(learning_rate=0.01, rectify=False, amsgrad=True,
                                weight_decouple=False, weight_decay=0.01),
              "fixed_decay": dict(learning_rate=0.01, weight_decay=0.01, fixed_decay=True,
                                  degenerated_to_sgd=False)},
)
@v.named
def adabelief(
    learning_rate: _blocks.ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-16,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    weight_decouple: bool = True,
    fixed_decay: bool = False,
    rectify: bool = True,
    degenerated_to_sgd: bool = True,
) -> optax.GradientTransformation:
    r"""AdaBelief (Zhuang et al., 2020): Adam whose second moment tracks the
    "belief" ``(g - mu)^2``, as ``adabelief_pytorch.AdaBelief`` 0.2.1 computes it.

    With ``out_t`` the direction of :func:`scale_by_adabelief` (``nu_t`` keeps
    ``eps``, added to the state every step; ``eps`` is added again outside the root)::

        g_t      = g_t + weight_decay params            (weight_decouple=False)
        params_t = params - learning_rate (out_t + weight_decay params)    (weight_decouple)
        params_t = params - learning_rate out_t - weight_decay params      (and fixed_decay)

    By default the step is rectified as in RAdam (``rectify=True``): while
    ``rho_t < 5`` (the first 5 steps at ``b2 = 0.999``) it is SGD with momentum,
    ``mu_t / (1 - b1^t)``, or no step at all with ``degenerated_to_sgd=False``.

    Reference quirks kept: eps enters twice (inside the state and outside the
    root; the paper's Algorithm 2 adds it to ``s_t`` and writes the denominator
    ``sqrt(s_hat_t) + eps``, so the two agree up to the bias correction of the
    accumulated eps); AMSGrad's maximum is used only by the unrectified step;
    the rectified branch switches at ``rho_t >= 5`` (RAdam's code: ``> 5``).

    Defaults are the reference's (0.2.1): ``eps = 1e-16``, decoupled decay,
    rectification and the SGD fallback on. Its ``print_change_log`` is not taken.
    ``optax.adabelief`` equals ``rectify=False`` (its ``eps_root`` is this ``eps``
    in the state).
    """
    fn = "adabelief"
    direction = scale_by_adabelief(b1, b2, eps, amsgrad=amsgrad, rectify=rectify,
                                   degenerated_to_sgd=degenerated_to_sgd)
    return _decay.chain(fn, direction, learning_rate, weight_decay, weight_decouple, fixed_decay)
