"""Every public optimizer and flavor under ``optax.inject_hyperparams``.

Each case wraps a constructor in ``optax.inject_hyperparams`` with every float
hyperparameter injected (held in the state as an array: concrete at ``init``,
traced at ``update``), runs ``STEPS`` jitted steps in float64 and checks that the
trajectory equals the plain constructor's. Arguments that are not numbers (bools,
strings, tuples, transformations) stay Python values; integers that fix a shape or
a loop count, and callables that are not schedules (masks, dtypes), are
``static_args``. Cases with a hyperparameter of 0.0 check that a zero held in an
array keeps its block (the chain must be the same in ``init`` and ``update``).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
import optzoo.keras
import optzoo.pytorch
from tests.helpers import max_rel_err, x64
from tests.zoo import ZOO, public_name, quadratic, step_kwargs

STEPS = 20
TOL = 1e-12


@dataclasses.dataclass(frozen=True)
class Inject:
    """``factory(**kwargs)``, injected and plain. ``extra_args``: the update's extra
    keyword arguments (as in :class:`tests.zoo.Case`); ``matrices``: every param a
    matrix (``optzoo.pytorch.Muon``); ``static``: float arguments that must stay
    Python numbers (besides the integers and callables :func:`_static_args` finds);
    ``ints``: float hyperparameters written as Python integers (``clipnorm=1``),
    injected as integer arrays; ``xfail``: the reason, for a known bug."""

    factory: Callable[..., optax.GradientTransformation]
    kwargs: dict
    extra_args: tuple[str, ...] = ()
    matrices: bool = False
    static: tuple[str, ...] = ()
    ints: tuple[str, ...] = ()
    xfail: str | None = None


def _i(factory, extra_args=(), matrices=False, static=(), ints=(), xfail=None,
       **kwargs) -> Inject:
    return Inject(factory, kwargs, extra_args, matrices, static, ints, xfail)


z, P, K = optzoo, optzoo.pytorch, optzoo.keras
_LBFGS_ARGS = ("value", "grad", "value_fn")
# Non-default hyperparameters (the values of tests/zoo.py where it has the name).
CORE = {
    "sgd[zeros]": _i(z.sgd, learning_rate=0.05, momentum=0.0, weight_decay=0.0),
    "sgd[momentum,wd]": _i(z.sgd, learning_rate=0.05, momentum=0.8, weight_decay=1e-3),
    "sgd[nesterov]": _i(z.sgd, learning_rate=0.05, momentum=0.7, nesterov=True),
    "momentum": _i(z.momentum, learning_rate=0.03, beta=0.85, weight_decay=1e-3),
    "nag[wd=0]": _i(z.nag, learning_rate=0.03, beta=0.8, weight_decay=0.0),
    "adagrad": _i(z.adagrad, learning_rate=0.2, initial_accumulator_value=0.05, eps=1e-6),
    "adadelta": _i(z.adadelta, learning_rate=0.5, rho=0.9, eps=1e-5),
    "rmsprop[momentum=0]": _i(z.rmsprop, learning_rate=0.01, decay=0.95, eps=1e-7,
                              initial_scale=0.1, momentum=0.0),
    "rmsprop[centered,momentum]": _i(z.rmsprop, learning_rate=0.01, decay=0.8, eps=1e-6,
                                     eps_in_sqrt=False, centered=True, momentum=0.5,
                                     nesterov=True),
    "adam": _i(z.adam, learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9),
    "amsgrad": _i(z.amsgrad, learning_rate=0.02, b1=0.85, b2=0.95, eps=1e-6),
    "adamw": _i(z.adamw, learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.05),
    "adamw[wd=0]": _i(z.adamw, learning_rate=0.02, weight_decay=0.0),
    "adamax": _i(z.adamax, learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-6),
    "nadam": _i(z.nadam, learning_rate=0.01, b1=0.85, b2=0.995, eps=1e-6,
                momentum_decay=0.01),
    "radam": _i(z.radam, learning_rate=0.01, b1=0.85, b2=0.99, eps=1e-6, threshold=6.0),
    "lars": _i(z.lars, learning_rate=0.05, momentum=0.8, trust_coefficient=0.01,
               weight_decay=1e-3, eps=1e-8, nesterov=True),
    "lamb": _i(z.lamb, learning_rate=0.01, b1=0.85, b2=0.99, eps=1e-5, weight_decay=0.01),
    "rprop": _i(z.rprop, learning_rate=0.05, eta_minus=0.4, eta_plus=1.3,
                min_step_size=1e-5, max_step_size=10.0),
    "asgd": _i(z.asgd, learning_rate=0.05, lambd=1e-3, alpha=0.7, t0=5.0, weight_decay=1e-3),
    "adafactor": _i(z.adafactor, learning_rate=0.02, beta2_decay=-0.7, eps2=1e-2,
                    clip_threshold=2.0, relative_step=False, min_dim_size_to_factor=2),
    "sparse_adam": _i(z.sparse_adam, learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-6),
    "lion": _i(z.lion, learning_rate=3e-3, b1=0.8, b2=0.95, weight_decay=0.01),
    "qhadam": _i(z.qhadam, learning_rate=0.01, b1=0.85, b2=0.99, nu1=0.7, nu2=0.9,
                 weight_decay=0.01, eps=1e-6),
    "adabound": _i(z.adabound, learning_rate=0.01, final_lr=0.05, b1=0.85, b2=0.99, gamma=0.05,
                   weight_decay=0.01, ams_bound=True, eps=1e-6),
    "novograd": _i(z.novograd, learning_rate=0.01, b1=0.9, b2=0.95, weight_decay=0.01,
                   grad_averaging=True, eps=1e-6),
    "adamp": _i(z.adamp, learning_rate=0.01, b1=0.85, b2=0.99, weight_decay=0.01, delta=1.5,
                wd_ratio=0.2, nesterov=True, eps=1e-6),
    "diffgrad": _i(z.diffgrad, learning_rate=0.01, b1=0.85, b2=0.99, weight_decay=0.01,
                   rectify=True, ams_bound=True, eps=1e-6),
    "tiger": _i(z.tiger, learning_rate=0.01, beta=0.9, weight_decay=0.02, fixed_decay=True),
    "sign_sgd": _i(z.sign_sgd, learning_rate=0.01, momentum=0.8, weight_decay=0.01),
    "sign_sgd[momentum=0]": _i(z.sign_sgd, learning_rate=0.01, momentum=0.0, weight_decay=0.01),
    "muon": _i(z.muon, learning_rate=0.01, momentum=0.9, ns_steps=4, weight_decay=0.01),
    "angd": _i(z.angd, learning_rate=0.05, eps=1e-2, max_full_size=64, init_scale=0.5),
    "lbfgs": _i(z.lbfgs, _LBFGS_ARGS, memory_size=4, max_linesearch_steps=4),
    "lbfgs[lr]": _i(z.lbfgs, _LBFGS_ARGS, learning_rate=0.05, memory_size=3, linesearch=None),
    "newton": _i(z.newton, ("value_fn",), learning_rate=0.5, damping=0.1),
    "newton_cg": _i(z.newton_cg, ("value_fn",), learning_rate=0.5, damping=0.1,
                    max_cg_iters=10, cg_tol=1e-6),
    "monitor_gradients": _i(z.monitor_gradients, vanishing_ratio=1e-2,
                            vanishing_threshold=1e-6, exploding_threshold=1e2),
    "clip_by_value": _i(z.clip_by_value, max_delta=0.5),
    "clip_by_norm": _i(z.clip_by_norm, max_norm=0.7),
    "clip_by_global_norm": _i(z.clip_by_global_norm, max_norm=0.9),
    "skip_nonfinite": _i(z.skip_nonfinite, inner=optzoo.adam(0.02, b1=0.8),
                         max_consecutive=3),
    "swa[ema]": _i(z.swa, tx=optzoo.sgd(0.05, momentum=0.9), decay=0.9),
    "swa": _i(z.swa, tx=optzoo.adam(0.02, b1=0.8), start_step=2, every=2),
    "schedule_free_adamw": _i(z.schedule_free_adamw, learning_rate=0.02, b1=0.8, b2=0.99,
                              eps=1e-6, weight_decay=1e-3, warmup_steps=3, r=0.5,
                              weight_lr_power=1.5),
    "schedule_free_sgd": _i(z.schedule_free_sgd, learning_rate=0.05, momentum=0.8,
                            weight_decay=1e-3, warmup_steps=3, r=0.5, weight_lr_power=1.5),
    "schedule_free_radam": _i(z.schedule_free_radam, learning_rate=0.02, b1=0.8, b2=0.9,
                              eps=1e-6, weight_decay=1e-3, r=0.5, weight_lr_power=1.5,
                              silent_sgd_phase=False),
    "adabelief": _i(z.adabelief, learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-10,
                    weight_decay=1e-3),
    "adabelief[adam-like]": _i(z.adabelief, learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-10,
                               weight_decay=1e-3, rectify=False, amsgrad=True,
                               weight_decouple=False),
    "adam_atan2": _i(z.adam_atan2, learning_rate=0.02, b1=0.8, b2=0.95, weight_decay=1e-3,
                     cautious_wd=True, cautious_factor=0.5, a=1.1, b=0.9),
    "adam_atan2[regen,decoupled]": _i(z.adam_atan2, learning_rate=0.02, regen_reg_rate=1e-3,
                                      decoupled_wd=True),
    "adan": _i(z.adan, learning_rate=0.01, b1=0.9, b2=0.9, b3=0.95, weight_decay=0.01,
               max_grad_norm=0.5, eps=1e-6),
    "adan[decoupled,adanorm]": _i(z.adan, learning_rate=0.01, weight_decay=0.02,
                                  weight_decouple=True, adanorm=True, adanorm_r=0.9),
    "adopt": _i(z.adopt, static=("clip_lambda",), learning_rate=0.01, b1=0.8, b2=0.99,
                weight_decay=0.01, eps=1e-5),
    "adopt[fixed,stable]": _i(z.adopt, learning_rate=0.01, weight_decay=1e-3, clip_lambda=None,
                              weight_decouple=True, fixed_decay=True, stable_adamw=True),
    "ademamix": _i(z.ademamix, learning_rate=0.01, b1=0.8, b2=0.99, b3=0.999, alpha=3.0,
                   t_alpha_beta3=10.0, weight_decay=0.01, eps=1e-6),
    "laprop": _i(z.laprop, learning_rate=0.01, b1=0.8, b2=0.99, weight_decay=0.01, eps=1e-8,
                 centered=True, steps_before_using_centered=3, ams_bound=True),
    "mars": _i(z.mars, learning_rate=0.01, b1=0.9, b2=0.95, gamma=0.05, lr_1d=0.005,
               b1_1d=0.8, b2_1d=0.9, weight_decay=0.01, weight_decay_1d=0.02, eps=1e-6),
    "mars[lion,coupled]": _i(z.mars, learning_rate=0.001, mars_type="lion", optimize_1d=True,
                             cautious=True, weight_decay=0.01, weight_decouple=False),
    "stable_adamw": _i(z.stable_adamw, learning_rate=0.01, b1=0.85, b2=0.95, weight_decay=0.05,
                       eps=1e-6),
    "yogi": _i(z.yogi, learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-4, initial_accumulator=1e-3,
               weight_decay=1e-3, fixed_decay=True),
    "came": _i(z.came, learning_rate=0.02, eps1=1e-20, eps2=1e-12, clip_threshold=0.5, b1=0.8,
               b2=0.99, b3=0.995, weight_decay=1e-3),
    "lookahead": _i(z.lookahead, inner=optzoo.adamw(0.02, b1=0.8, weight_decay=1e-3), k=3,
                    alpha=0.6),
    "cautious": _i(z.cautious, inner=optzoo.adamw(0.02, b1=0.8, weight_decay=1e-3)),
    "sam": _i(z.sam, ("value_fn",), tx=optzoo.sgd(0.05, momentum=0.8), rho=0.1,
              perturb_eps=1e-8),
    "sam[adaptive,gc]": _i(z.sam, ("value_fn",), tx=optzoo.adamw(0.02, b1=0.8,
                                                                 weight_decay=1e-3),
                           rho=0.5, adaptive=True, use_gc=True),
    "friendly_sam": _i(z.friendly_sam, ("value_fn",), tx=optzoo.sgd(0.05, momentum=0.8),
                       rho=0.1, sigma=0.8, lmbda=0.7, perturb_eps=1e-8),
    "friendly_sam[adaptive]": _i(z.friendly_sam, ("value_fn",), tx=optzoo.adam(0.02, b1=0.8),
                                 rho=0.5, adaptive=True),
    "sophia_h": _i(z.sophia_h, ("value_fn",), learning_rate=0.05, b1=0.9, b2=0.95,
                   weight_decay=0.01, p=0.05, update_period=2, eps=1e-8, seed=3),
    "sophia_h[rademacher,fixed]": _i(
        z.sophia_h, ("value_fn",), learning_rate=0.05, weight_decay=0.01, update_period=1,
        num_samples=2, hessian_distribution="rademacher", fixed_decay=True),
    "adam_mini": _i(z.adam_mini, learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-6,
                    weight_decay=0.01, dim=4, n_heads=2),
    "shampoo": _i(z.shampoo, learning_rate=0.05, momentum=0.5, weight_decay=0.01,
                  preconditioning_compute_steps=2, matrix_eps=0.5),
    "shampoo[decoupled]": _i(z.shampoo, learning_rate=0.05, weight_decay=0.01,
                             weight_decouple=True, matrix_eps=0.5, max_precondition_dim=3),
    "soap": _i(z.soap, learning_rate=0.02, b1=0.8, b2=0.9, shampoo_beta=0.85,
               weight_decay=0.01, precondition_frequency=3, eps=1e-6),
    "soap[1d,normalize]": _i(z.soap, learning_rate=0.02, precondition_1d=True,
                             normalize_gradient=True, correct_bias=False),
    "kron": _i(z.kron, learning_rate=0.01, b1=0.8, weight_decay=0.01,
               preconditioner_update_probability=0.5, precond_lr=0.2,
               precond_init_scale=0.5, seed=1),
    "kron[diag]": _i(z.kron, learning_rate=0.01, memory_save_mode="all_diag",
                     momentum_into_precond_update=False),
    "prodigy": _i(z.prodigy, learning_rate=0.5, b1=0.8, b2=0.99, beta3=0.9, eps=1e-6,
                  weight_decay=0.01, use_bias_correction=True, d0=1e-3, d_coef=0.8,
                  growth_rate=1.5, slice_p=2),
    "prodigy[b1=0,coupled]": _i(z.prodigy, learning_rate=0.5, b1=0.0, weight_decay=0.01,
                                decouple=False, safeguard_warmup=True, d0=1e-3),
    "madgrad": _i(z.madgrad, learning_rate=0.02, momentum=0.8, weight_decay=0.01, eps=1e-5),
    "madgrad[momentum=0,decoupled]": _i(z.madgrad, learning_rate=0.02, momentum=0.0,
                                        weight_decay=0.01, eps=1e-5, decouple_decay=True),
    "dadapt_adam": _i(z.dadapt_adam, learning_rate=0.5, b1=0.8, b2=0.99, eps=1e-6,
                      weight_decay=0.01, use_bias_correction=True, d0=1e-3, growth_rate=1.5),
    "dadapt_adam[decoupled]": _i(z.dadapt_adam, learning_rate=0.5, weight_decay=0.01,
                                 decouple=True, d0=1e-3),
    "dadapt_sgd": _i(z.dadapt_sgd, learning_rate=0.5, momentum=0.8, weight_decay=0.01, d0=1e-3,
                     growth_rate=1.5),
    "dadapt_adagrad": _i(z.dadapt_adagrad, learning_rate=0.5, momentum=0.5, weight_decay=0.01,
                         eps=1e-5, d0=1e-3, growth_rate=1.5),
}

TORCH = {
    "SGD[zeros]": _i(P.SGD, lr=0.05, momentum=0.0, dampening=0.0, weight_decay=0.0),
    "SGD[momentum,dampening,wd,maximize]": _i(P.SGD, lr=0.05, momentum=0.8, dampening=0.1,
                                               weight_decay=1e-3, maximize=True),
    "SGD[nesterov]": _i(P.SGD, lr=0.05, momentum=0.7, dampening=0.0, nesterov=True),
    "Adam[amsgrad]": _i(P.Adam, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3,
                        amsgrad=True),
    "Adam[decoupled]": _i(P.Adam, lr=0.02, weight_decay=0.05, decoupled_weight_decay=True),
    "AdamW[wd=0]": _i(P.AdamW, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.0),
    "AdamW": _i(P.AdamW, lr=0.02, weight_decay=0.05),
    "Adamax": _i(P.Adamax, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3),
    "NAdam": _i(P.NAdam, lr=0.01, eps=1e-6, weight_decay=1e-3, momentum_decay=0.01,
                decoupled_weight_decay=True),
    "RAdam": _i(P.RAdam, lr=0.01, eps=1e-6, weight_decay=1e-3),
    "RMSprop[momentum=0]": _i(P.RMSprop, lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.0,
                              momentum=0.0),
    "RMSprop[centered,momentum]": _i(P.RMSprop, lr=0.01, alpha=0.9, momentum=0.5,
                                     centered=True),
    "Adagrad[lr_decay=0]": _i(P.Adagrad, lr=0.2, lr_decay=0.0, initial_accumulator_value=0.1,
                              eps=1e-8),
    "Adagrad[lr_decay]": _i(P.Adagrad, lr=0.2, lr_decay=0.05, weight_decay=1e-3),
    "Adadelta": _i(P.Adadelta, lr=0.5, rho=0.8, eps=1e-5, weight_decay=1e-3),
    "Rprop": _i(P.Rprop, lr=0.05, etas=(0.4, 1.3), step_sizes=(1e-5, 10.0)),
    # Pairs and triples held as one array each, so that they are injected too.
    "Adam[betas array]": _i(P.Adam, lr=0.02, betas=np.array([0.8, 0.99]), eps=1e-6),
    "Rprop[arrays]": _i(P.Rprop, lr=0.05, etas=np.array([0.4, 1.3]),
                        step_sizes=np.array([1e-5, 10.0])),
    "SGD[momentum=0.9,nesterov]": _i(P.SGD, lr=0.05, momentum=0.9, nesterov=True),
    "ASGD": _i(P.ASGD, lr=0.05, lambd=1e-3, alpha=0.7, t0=5.0, weight_decay=1e-3),
    "Adafactor": _i(P.Adafactor, lr=0.02, beta2_decay=-0.7, eps=(None, 1e-2), d=1.5,
                    weight_decay=1e-2),
    "SparseAdam": _i(P.SparseAdam, lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    "Muon": _i(P.Muon, matrices=True, lr=0.01, weight_decay=0.01, momentum=0.9, ns_steps=4,
               ns_dtype=None),
    "Muon[coefficients array]": _i(P.Muon, matrices=True, lr=0.01, ns_dtype=None,
                                   ns_coefficients=np.array([3.0, -3.2, 1.2])),
    "LBFGS": _i(P.LBFGS, ("value_fn",), lr=0.5, max_iter=3, history_size=3,
                line_search_fn="strong_wolfe"),
    "ClipGradNorm": _i(P.ClipGradNorm, static=("norm_type",), max_norm=0.7, norm_type=3.0),
    "ClipGradValue": _i(P.ClipGradValue, clip_value=0.5),
    "GradScaler": _i(P.GradScaler, inner=P.SGD(0.05, momentum=0.5), init_scale=4.0,
                     growth_factor=3.0, backoff_factor=0.25, growth_interval=3),
}

KERAS = {
    "SGD[momentum=0]": _i(K.SGD, learning_rate=0.1, momentum=0.0),
    "SGD[nesterov,wd,clipnorm]": _i(K.SGD, learning_rate=0.05, momentum=0.8, nesterov=True,
                                    weight_decay=1e-3, clipnorm=1.0),
    "Adam[ema,amsgrad]": _i(K.Adam, learning_rate=0.02, beta_1=0.8, beta_2=0.99,
                            epsilon=1e-6, amsgrad=True, use_ema=True, ema_momentum=0.9,
                            ema_overwrite_frequency=5),
    "Adam[clipnorm=1]": _i(K.Adam, ints=("clipnorm",), learning_rate=0.02, clipnorm=1),
    "AdamW[wd=0]": _i(K.AdamW, learning_rate=0.02, weight_decay=0.0),
    "AdamW[accumulation]": _i(K.AdamW, learning_rate=0.02, weight_decay=0.01,
                              gradient_accumulation_steps=3, loss_scale_factor=4.0),
    "Adamax[global_clipnorm]": _i(K.Adamax, learning_rate=0.01, beta_1=0.8, epsilon=1e-6,
                                  global_clipnorm=1.5),
    "Nadam[clipvalue]": _i(K.Nadam, learning_rate=0.01, beta_2=0.99, clipvalue=0.5),
    "RMSprop[momentum=0]": _i(K.RMSprop, learning_rate=0.01, rho=0.8, momentum=0.0),
    "RMSprop[centered,momentum]": _i(K.RMSprop, learning_rate=0.01, momentum=0.5,
                                     centered=True, weight_decay=1e-3),
    "Adagrad": _i(K.Adagrad, learning_rate=0.1, initial_accumulator_value=0.2, epsilon=1e-6),
    "Adadelta": _i(K.Adadelta, learning_rate=0.5, rho=0.9, epsilon=1e-5),
    "Ftrl": _i(K.Ftrl, learning_rate=0.05, learning_rate_power=-0.6,
               initial_accumulator_value=0.2, l1_regularization_strength=1e-3,
               l2_regularization_strength=1e-3, l2_shrinkage_regularization_strength=1e-3,
               beta=0.1),
    "Ftrl[zeros]": _i(K.Ftrl, learning_rate=0.05),
    "Adafactor": _i(K.Adafactor, learning_rate=0.02, beta_2_decay=-0.7, epsilon_2=1e-2,
                    clip_threshold=1.5, weight_decay=1e-2),
    "Lamb": _i(K.Lamb, learning_rate=0.01, beta_1=0.85, beta_2=0.99, epsilon=1e-5,
               weight_decay=1e-2),
    "Lion": _i(K.Lion, learning_rate=3e-3, beta_1=0.8, beta_2=0.95, weight_decay=1e-2),
    "ScheduleFreeAdamW": _i(K.ScheduleFreeAdamW, learning_rate=0.01, beta_1=0.8, beta_2=0.99,
                            epsilon=1e-6, warmup_steps=3, weight_decay=1e-2),
    "Muon": _i(K.Muon, learning_rate=0.01, adam_beta_1=0.8, adam_beta_2=0.99,
               adam_weight_decay=1e-2, epsilon=1e-6, weight_decay=1e-2, momentum=0.9,
               adam_lr_ratio=0.5, rms_rate=0.3),
    "LossScaleOptimizer": _i(K.LossScaleOptimizer, inner_optimizer=K.SGD(0.05, momentum=0.5),
                             initial_scale=4.0, dynamic_growth_steps=3),
    "Muon[no-rms,plain]": _i(K.Muon, learning_rate=0.01, nesterov=False, rms_rate=None,
                             weight_decay=None, muon_a=3.0, muon_b=-3.2, muon_c=1.2,
                             adam_lr_ratio=1.0),
}

CASES = {**CORE, **{f"pytorch.{k}": c for k, c in TORCH.items()},
         **{f"keras.{k}": c for k, c in KERAS.items()}}


def _static_args(case: Inject) -> tuple[str, ...]:
    """Integers (shapes, loop counts, frequencies) and callables that are not
    schedules (masks, dtypes): what ``inject_hyperparams`` must not turn into
    arrays. Floats and float defaults are all injected."""
    bound = inspect.signature(case.factory).bind(**case.kwargs)
    bound.apply_defaults()
    return case.static + tuple(
        name for name, value in bound.arguments.items()
        if (isinstance(value, int) and not isinstance(value, bool) and name not in case.ints)
        or (callable(value) and not isinstance(value, optax.GradientTransformation)
            and name not in ("learning_rate", "lr"))
    )


def _injected_floats(case: Inject) -> list[str]:
    bound = inspect.signature(case.factory).bind(**case.kwargs)
    bound.apply_defaults()
    return [n for n, x in bound.arguments.items()
            if (isinstance(x, float) or n in case.ints
                or (isinstance(x, np.ndarray) and x.dtype.kind == "f"))
            and n not in case.static]


def _trajectories(plain, injected, case: Inject, params, loss_fn):
    """``STEPS`` updates of both transformations from ``params``, both in one jitted
    step (``init`` runs eagerly, on concrete hyperparameters); returns the two
    lists of params."""
    grad_fn = jax.grad(loss_fn)
    extra = dataclasses.replace(ZOO["lbfgs"], extra_args=case.extra_args)

    def one(tx, params, state):
        grads = grad_fn(params)
        updates, state = tx.update(grads, state, params,
                                   **step_kwargs(extra, params, loss_fn, grads))
        return optax.apply_updates(params, updates), state

    @jax.jit
    def step(plain_carry, injected_carry):
        return one(plain, *plain_carry), one(injected, *injected_carry)

    carries = (params, plain.init(params)), (params, injected.init(params))
    expected, actual = [], []
    for _ in range(STEPS):
        carries = step(*carries)
        expected.append(carries[0][0])
        actual.append(carries[1][0])
    return expected, actual


def _params(matrices: bool):
    rng = np.random.default_rng(0)
    shapes = {"w": (4, 3), "v": (3, 2)} if matrices else {"w": (4, 3), "b": (3,)}
    return {k: jnp.asarray(rng.normal(size=s), jnp.float64) for k, s in shapes.items()}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else [])
    for n, c in CASES.items()])
def test_injected_equals_plain(name):
    case = CASES[name]
    with x64():
        params = _params(case.matrices)
        loss_fn = quadratic(params)
        plain = case.factory(**case.kwargs)
        injected = optax.inject_hyperparams(case.factory, static_args=_static_args(case))(
            **case.kwargs)
        state = injected.init(params)
        assert set(_injected_floats(case)) <= set(state.hyperparams), name
        expected, actual = _trajectories(plain, injected, case, params, loss_fn)
    moved = max_rel_err(expected[-1], params)
    assert moved > 1e-6, f"{name}: the params did not move ({moved:.1e})"
    for k, (a, e) in enumerate(zip(actual, expected)):
        err = max_rel_err(a, e, floor=1e-8)
        assert err <= TOL, f"{name}: step {k + 1}: relative error {err:.2e}"


def _public(factory) -> str:
    for prefix, module in (("optzoo.pytorch", P), ("optzoo.keras", K), ("optzoo", z)):
        if getattr(module, factory.__name__, None) is factory:
            return f"{prefix}.{factory.__name__}"
    raise AssertionError(factory)


# torch's implementation switches, accepted and ignored by the PyTorch flavors.
_IGNORED = {"foreach", "fused", "capturable", "differentiable"}
# Structural arguments only read inside update (by a function also called on its own,
# which names itself): a known gap.
_CHECKED_LATE = {("ClipGradNorm", "error_if_nonfinite")}


def _structural(case: Inject) -> dict[str, str]:
    """The case's integer, bool, mask and dtype arguments (given or default): name
    to what the message calls it."""
    bound = inspect.signature(case.factory).bind(**case.kwargs)
    bound.apply_defaults()
    kinds = {}
    for name, x in bound.arguments.items():
        if name in _IGNORED or (case.factory.__name__, name) in _CHECKED_LATE:
            continue
        if name == "trust_ratio_mask" and x is True:
            kinds[name] = "a bool or a mask"
        elif isinstance(x, bool):
            kinds[name] = "a bool"
        elif isinstance(x, int) and name not in case.ints:
            kinds[name] = "an integer"
        elif name.endswith("_dtype") and x is not None:
            kinds[name] = "a dtype"
    return kinds


@pytest.mark.parametrize("name", [n for n, c in CASES.items()
                                  if not c.xfail and _structural(c)])
def test_structural_arguments_left_out_of_static_args_say_so(name):
    """An integer left out of ``static_args`` is injected as an array (a dtype as a
    schedule's value); ``inject_hyperparams`` keeps a Python bool static, so a bool
    is only injected when it is given as an array. Either way ``init`` refuses it
    in one line that names the ``static_args`` to pass."""
    case = CASES[name]
    with x64():
        params = jax.tree.map(lambda x: np.asarray(x, np.float32), _params(case.matrices))
    wrong = []
    for arg, what in _structural(case).items():
        kwargs = dict(case.kwargs)
        static = tuple(s for s in _static_args(case) if s != arg)
        given = inspect.signature(case.factory).bind(**kwargs)
        given.apply_defaults()
        if isinstance(given.arguments[arg], bool):
            kwargs[arg] = jnp.asarray(given.arguments[arg])
        injected = optax.inject_hyperparams(case.factory, static_args=static)(**kwargs)
        expected = (f"{case.factory.__name__}: {arg} is structural ({what}); pass it in "
                    f"optax.inject_hyperparams({_public(case.factory)}, "
                    f'static_args=("{arg}",))')
        try:
            injected.init(params)
            wrong.append(f"{arg}: no error")
        except ValueError as e:
            if str(e) != expected:
                wrong.append(f"{arg}: {e}")
    assert not wrong, wrong


def test_bools_stay_static_without_static_args():
    """``inject_hyperparams`` keeps Python bools as they are: ``nesterov=True``,
    ``amsgrad=True`` need no ``static_args`` (and are not in the hyperparams)."""
    with x64():
        params = jax.tree.map(lambda x: np.asarray(x, np.float32), _params(False))
    for factory, kwargs in ((P.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
                            (K.Adam, dict(learning_rate=0.01, amsgrad=True)),
                            (z.sgd, dict(learning_rate=0.05, momentum=0.9, nesterov=True))):
        tx = optax.inject_hyperparams(factory)(**kwargs)
        state = tx.init(params)
        assert not {"nesterov", "amsgrad"} & set(state.hyperparams)
        jax.jit(tx.update)(params, state, params)


def test_every_optimizer_and_flavor_has_a_case():
    core = {public_name(k) for k in ZOO if "." not in k}
    have = {public_name(k) for k in CORE}
    assert core <= have, sorted(core - have)
    for prefix, module in (("pytorch", optzoo.pytorch), ("keras", optzoo.keras)):
        classes = {n for n in module.__all__
                   if n[0].isupper() and inspect.isfunction(getattr(module, n))}
        have = {public_name(k).split(".", 1)[1] for k in CASES if k.startswith(prefix + ".")}
        assert classes <= have, (prefix, sorted(classes - have))


@pytest.mark.parametrize("injected,plain", [
    (lambda: optax.inject_hyperparams(z.sgd)(learning_rate=0.1, momentum=0.0, weight_decay=0.0),
     lambda: optax.sgd(0.1)),
    (lambda: optax.inject_hyperparams(z.rmsprop)(learning_rate=0.1, momentum=0.0),
     lambda: z.rmsprop(0.1)),
    (lambda: optax.inject_hyperparams(z.adamw)(learning_rate=0.1, weight_decay=0.0),
     lambda: z.adam(0.1)),
], ids=["sgd", "rmsprop", "adamw"])
def test_zero_valued_injected_options_give_the_optimizer_without_them(injected, plain):
    """A momentum or weight decay of 0 held in the state as an array (concrete at
    ``init``, traced at ``update``) gives, step for step, the updates of the optimizer
    without that block: plain SGD, RMSprop without momentum, Adam (float64: in float32
    Adam's ``1 - b2^t`` rounds differently from an array ``b2`` than from a Python
    float, by up to 1e-5 relative)."""
    rng = np.random.default_rng(7)
    with x64():
        params = {"w": jnp.asarray(rng.normal(size=(4, 3))), "b": jnp.asarray(rng.normal(size=3))}
        a, b = injected(), plain()
        sa, sb = a.init(params), b.init(params)
        step_a, step_b = jax.jit(a.update), jax.jit(b.update)
        for k in range(5):
            grads = jax.tree.map(lambda p, k=k: jnp.cos(p * (k + 1.0)) + 0.1 * p, params)
            ua, sa = step_a(grads, sa, params)
            ub, sb = step_b(grads, sb, params)
            assert max_rel_err(ua, ub) <= TOL, f"step {k + 1}: {max_rel_err(ua, ub):.2e}"
            assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(ua)) > 1e-3
            params = optax.apply_updates(params, ua)
