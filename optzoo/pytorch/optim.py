"""``torch.optim`` optimizers as optax transformations: same names, argument names,
argument order and defaults as torch 2.13, equal number for number.

Each function returns an ``optax.GradientTransformation`` built by chaining
optzoo's shared blocks (:mod:`optzoo.transforms`) with optax plumbing. The torch
``params`` argument is dropped: call ``tx.init(params)`` instead. Param groups
are the keyword-only ``groups=[{"params": ..., "lr": ..., ...}, ...]`` that every
optimizer here takes (``optax.multi_transform`` underneath; see
:mod:`optzoo.transforms.groups` and ``docs/porting.md``).

Common to every optimizer here:

- ``lr`` is a number or a schedule ``count -> lr`` (``count`` = number of
  updates applied so far, as ``optax.scale_by_learning_rate`` passes it). A
  schedule from :mod:`optzoo.pytorch.lr_scheduler` evaluated at the number of
  ``scheduler.step()`` calls gives torch's numbers when the scheduler steps once
  per optimizer step.
- ``maximize=True`` negates the gradient first (``optax.scale(-1)``), before any
  weight decay, as torch does.
- Coupled weight decay (``weight_decay`` without ``decoupled_weight_decay``)
  adds ``weight_decay * param`` to the gradient (``optax.add_decayed_weights``
  first in the chain). Decoupled weight decay (``AdamW``,
  ``decoupled_weight_decay=True``) multiplies the parameter by
  ``1 - lr * weight_decay``; it is written as ``optax.add_decayed_weights``
  *after* the direction block and before ``scale_by_learning_rate``, which gives
  ``param - lr * (direction + weight_decay * param)``, the same number.
- The state is kept in each param's dtype, as torch keeps it (``"params"`` in
  the blocks' ``*_dtype`` arguments); the arithmetic runs in at least float32, so
  float16 and bfloat16 params get finite, bounded steps where torch's own
  float16 arithmetic underflows (see :mod:`optzoo.transforms._dtypes`).
- Complex params (``SGD``, ``Adam``, ``AdamW``, ``Adamax``, ``NAdam``, ``RAdam``,
  ``RMSprop``, ``Adagrad``, ``Adadelta``, ``ASGD``, ``Rprop``, as in torch): each
  complex number is a pair of reals, every operation acting on the real and
  imaginary parts separately (torch's ``view_as_real``); the state of a complex
  leaf is real with a trailing axis of 2. ``update`` takes ``jax.grad``'s
  gradients, the conjugates of torch's ``.grad``. See
  :mod:`optzoo.transforms.complex`. ``Adafactor``, ``SparseAdam`` and ``Muon``
  refuse complex params (``TypeError``), as torch does.
- ``foreach``, ``fused``, ``capturable`` and ``differentiable`` only choose a
  torch kernel. They are accepted and ignored (JAX compiles one kernel; every
  update here is differentiable).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo._blocks import ScalarOrSchedule
from optzoo.transforms import adam as _adam
from optzoo.transforms._dtypes import PARAMS
from optzoo.transforms.complex import with_complex_params
from optzoo.transforms.groups import build_groups
from optzoo.transforms import adaptive as _adaptive
from optzoo.transforms import averaging as _averaging
from optzoo.transforms import factored as _factored
from optzoo.transforms import orthogonal as _orthogonal
from optzoo.transforms import sign as _sign
from optzoo.transforms import sparse as _sparse
from optzoo.transforms.momentum import scale_by_trace

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Rprop",
    "ASGD",
    "Adafactor",
    "SparseAdam",
    "Muon",
]


def _grouped(make):
    """Add torch's param groups to ``make``: a keyword-only ``groups=None``. With
    groups, each group's leaves get ``make(**arguments, **group overrides)``, the
    groups joined by ``optax.multi_transform`` (:func:`optzoo.transforms.groups.
    build_groups`); a group's number ``lr`` under a shared schedule scales that
    schedule, as torch's schedulers scale each group's own lr."""
    signature = inspect.signature(make)
    groups_arg = inspect.Parameter("groups", inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation="Sequence[dict] | None")

    @functools.wraps(make)
    def optimizer(*args, groups=None, **kwargs):
        if groups is None:
            return make(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return build_groups(make.__name__, make, groups, dict(bound.arguments), "lr")

    optimizer.__signature__ = signature.replace(
        parameters=[*signature.parameters.values(), groups_arg])
    return optimizer


def _maximize(fn: str, maximize) -> list:
    """``[scale(-1)]`` if ``maximize``: torch negates the gradient first."""
    v.check_bool(fn, "maximize", maximize)
    return [optax.scale(-1.0)] if maximize else []


def _torch_chain(
    fn: str, lr, maximize, weight_decay, *direction, decoupled: bool = False
) -> optax.GradientTransformation:
    """``[scale(-1)], [add_decayed_weights] (coupled), *direction,
    [add_decayed_weights] (decoupled), scale_by_learning_rate(lr)``: the chain of
    every torch optimizer whose direction block leaves the learning rate out."""
    v.check_bool(fn, "decoupled_weight_decay", decoupled)
    front = _maximize(fn, maximize)
    decay = _blocks.weight_decay(fn, weight_decay)
    return optax.chain(
        *front,
        *([] if decoupled else decay),
        *direction,
        *(decay if decoupled else []),
        _blocks.learning_rate(fn, lr, "lr"),
    )


def _betas(fn: str, betas) -> tuple[float, float]:
    b1, b2 = _pair(fn, "betas", betas, "(beta1, beta2)")
    v.check_range(fn, "betas[0]", b1, 0.0, 1.0, high_open=True)
    v.check_range(fn, "betas[1]", b2, 0.0, 1.0, high_open=True)
    return b1, b2


def _adam_family(fn: str, lr, betas, weight_decay, maximize, decoupled, direction, eps, **kw):
    """The torch chain around ``direction(b1, b2, eps, **kw)`` with ``(b1, b2) = betas``:
    Adam, AdamW, Adamax, NAdam, RAdam, SparseAdam."""
    b1, b2 = _betas(fn, betas)
    direction = direction(b1, b2, eps, mu_dtype=PARAMS, nu_dtype=PARAMS, **kw)
    return _torch_chain(fn, lr, maximize, weight_decay, direction, decoupled=decoupled)


# ----------------------------------------------------------------------------- SGD


@v.named
@_grouped
@with_complex_params
def SGD(
    lr: ScalarOrSchedule = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    *,
    maximize: bool = False,
    foreach: bool | None = None,
    differentiable: bool = False,
    fused: bool | None = None,
) -> optax.GradientTransformation:
    r"""``torch.optim.SGD``.

    ::

        g_t   = -grad_t if maximize else grad_t
        g_t   = g_t + weight_decay * param_{t-1}
        buf_1 = g_1;   buf_t = momentum * buf_{t-1} + (1 - dampening) * g_t
        d_t   = g_t + momentum * buf_t  if nesterov  else  buf_t   (d_t = g_t if momentum = 0)
        param_t = param_{t-1} - lr * d_t

    Chain: ``[scale(-1)], [add_decayed_weights], [scale_by_trace(momentum,
    nesterov, dampening)], scale_by_learning_rate(lr)``. Defaults are torch's
    (``lr = 1e-3``). Differs from ``optax.sgd`` only by ``dampening`` (optax has
    none) and by taking the first buffer equal to the gradient, which with
    ``dampening = 0`` is the same number.
    """
    fn = "SGD"
    del foreach, differentiable, fused
    v.check_nonnegative(fn, "momentum", momentum)
    v.check_bool(fn, "nesterov", nesterov)
    # Only concrete values are checked: a traced one (inject_hyperparams) is unknown.
    m, d = v.concrete_float(momentum), v.concrete_float(dampening)
    if nesterov and ((m is not None and m == 0.0) or (d is not None and d != 0.0)):
        raise ValueError(
            f"{fn}: nesterov=True requires momentum > 0 and dampening = 0, "
            f"got momentum={momentum!r}, dampening={dampening!r}"
        )
    trace = [] if _blocks.is_zero(momentum) else [
        scale_by_trace(momentum, nesterov=nesterov, dampening=dampening, accumulator_dtype=PARAMS)]
    return _torch_chain(fn, lr, maximize, weight_decay, *trace)


# --------------------------------------------------------------------- Adam family


@v.named
@_grouped
@with_complex_params
def Adam(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    *,
    foreach: bool | None = None,
    maximize: bool = False,
    capturable: bool = False,
    differentiable: bool = False,
    fused: bool | None = None,
    decoupled_weight_decay: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adam`` (Kingma and Ba, 2015), AMSGrad (Reddi et al., 2018).

    With ``(b1, b2) = betas``::

        g_t    = (-grad_t if maximize else grad_t) [+ weight_decay * param_{t-1}, coupled]
        mu_t   = b1 mu_{t-1} + (1 - b1) g_t,     nu_t = b2 nu_{t-1} + (1 - b2) g_t^2
        nu_max_t = max(nu_max_{t-1}, nu_t)                          (amsgrad)
        d_t    = (mu_t / (1 - b1^t)) / (sqrt((nu_max_t or nu_t) / (1 - b2^t)) + eps)
        param_t = param_{t-1} - lr * (d_t [+ weight_decay * param_{t-1}, decoupled])

    Chain: ``[scale(-1)], [add_decayed_weights] (coupled), scale_by_adam(b1, b2,
    eps, amsgrad=amsgrad), [add_decayed_weights] (decoupled),
    scale_by_learning_rate(lr)``. AMSGrad keeps the maximum of the raw ``nu``, as
    torch and Keras do (``optax.amsgrad`` takes it of the bias-corrected ``nu``).
    """
    del foreach, capturable, differentiable, fused
    return _adam_family("Adam", lr, betas, weight_decay, maximize, decoupled_weight_decay,
                        _adam.scale_by_adam, eps, amsgrad=amsgrad)


@v.named
@_grouped
@with_complex_params
def AdamW(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    *,
    maximize: bool = False,
    foreach: bool | None = None,
    capturable: bool = False,
    differentiable: bool = False,
    fused: bool | None = None,
) -> optax.GradientTransformation:
    r"""``torch.optim.AdamW`` (Loshchilov and Hutter, 2019): :func:`Adam` with
    ``decoupled_weight_decay=True`` and ``weight_decay = 1e-2`` by default::

        param_t = param_{t-1} - lr * (d_t + weight_decay * param_{t-1})

    The decay is scaled by ``lr`` (torch, Keras and optax all do this; the paper
    scales it by the schedule multiplier only). Equals ``optax.adamw`` without
    AMSGrad.
    """
    return Adam(
        lr, betas, eps, weight_decay, amsgrad,
        maximize=maximize, decoupled_weight_decay=True,
    )


@v.named
@_grouped
@with_complex_params
def Adamax(
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    foreach: bool | None = None,
    *,
    maximize: bool = False,
    differentiable: bool = False,
    capturable: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adamax`` (Kingma and Ba, 2015, section 7.1).

    ::

        g_t  = (-grad_t if maximize else grad_t) + weight_decay * param_{t-1}
        mu_t = b1 mu_{t-1} + (1 - b1) g_t
        u_t  = max(b2 u_{t-1}, |g_t| + eps)              (eps inside the max)
        param_t = param_{t-1} - lr / (1 - b1^t) * mu_t / u_t

    Chain: ``[scale(-1)], [add_decayed_weights], scale_by_adamax(b1, b2, eps,
    eps_inside_max=True), scale_by_learning_rate(lr)``. Keras adds eps to the
    denominator instead (``eps_inside_max=False``).
    """
    del foreach, differentiable, capturable
    return _adam_family("Adamax", lr, betas, weight_decay, maximize, False,
                        _adam.scale_by_adamax, eps, eps_inside_max=True)


@v.named
@_grouped
@with_complex_params
def NAdam(
    lr: ScalarOrSchedule = 2e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    *,
    foreach: bool | None = None,
    maximize: bool = False,
    capturable: bool = False,
    differentiable: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.NAdam`` (Dozat, 2016), optionally with decoupled decay (NAdamW).

    With ``m_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay))`` and
    ``mu_product_t = prod_{i<=t} m_i``::

        d_t = [(1 - m_t) / (1 - mu_product_t) g_t + m_{t+1} / (1 - mu_product_t m_{t+1}) mu_t]
              / (sqrt(nu_t / (1 - b2^t)) + eps)
        param_t = param_{t-1} - lr * (d_t [+ weight_decay * param_{t-1}, decoupled])

    Chain: ``[scale(-1)], [add_decayed_weights] (coupled), scale_by_nadam(b1, b2,
    eps, momentum_decay=momentum_decay), [add_decayed_weights] (decoupled),
    scale_by_learning_rate(lr)``. Keras ``Nadam`` uses the same schedule with
    ``momentum_decay = 0.004`` fixed; ``optax.nadam`` has no schedule
    (``m_t = b1``).
    """
    del foreach, capturable, differentiable
    v.check_nonnegative("NAdam", "momentum_decay", momentum_decay)
    return _adam_family("NAdam", lr, betas, weight_decay, maximize, decoupled_weight_decay,
                        _adam.scale_by_nadam, eps, momentum_decay=momentum_decay)


@v.named
@_grouped
@with_complex_params
def RAdam(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    *,
    foreach: bool | None = None,
    maximize: bool = False,
    capturable: bool = False,
    differentiable: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.RAdam`` (Liu et al., 2020), optionally with decoupled decay.

    ::

        rho_inf = 2 / (1 - b2) - 1,   rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        d_t = r_t * mu_t / (1 - b1^t) * sqrt(1 - b2^t) / (sqrt(nu_t) + eps)  if rho_t > 5
        d_t = mu_t / (1 - b1^t)                                              otherwise
        param_t = param_{t-1} - lr * (d_t [+ weight_decay * param_{t-1}, decoupled])

    torch adds ``eps`` to the root of the *raw* ``nu`` (then multiplies by
    ``sqrt(1 - b2^t)``), unlike its own Adam; this is
    ``scale_by_radam(..., threshold=5, fold_bias_correction=True)``. The
    threshold 5 is torch's; the paper's Algorithm 2 uses 4, optax uses ``>= 5``.
    """
    del foreach, capturable, differentiable
    return _adam_family("RAdam", lr, betas, weight_decay, maximize, decoupled_weight_decay,
                        _adam.scale_by_radam, eps, threshold=5.0, fold_bias_correction=True)


# ---------------------------------------------------------------- adaptive per-coordinate


@v.named
@_grouped
@with_complex_params
def RMSprop(
    lr: ScalarOrSchedule = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    capturable: bool = False,
    foreach: bool | None = None,
    maximize: bool = False,
    differentiable: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.RMSprop`` (Hinton, 2012; centered: Graves, 2013).

    ::

        g_t   = (-grad_t if maximize else grad_t) + weight_decay * param_{t-1}
        v_t   = alpha v_{t-1} + (1 - alpha) g_t^2,   a_t = alpha a_{t-1} + (1 - alpha) g_t
        den_t = sqrt(v_t - a_t^2) + eps  if centered  else  sqrt(v_t) + eps
        buf_t = momentum buf_{t-1} + g_t / den_t                    (momentum > 0)
        param_t = param_{t-1} - lr * (buf_t  or  g_t / den_t)

    Chain: ``[scale(-1)], [add_decayed_weights], scale_by_rms(alpha, eps,
    eps_in_sqrt=False, centered=centered), [scale_by_trace(momentum)],
    scale_by_learning_rate(lr)``. eps sits *outside* the root (TensorFlow, Keras
    and optax's default put it inside), and ``lr`` multiplies the momentum
    buffer from outside (TensorFlow 1 accumulates ``lr * g / den`` into the
    buffer instead, which differs once ``lr`` changes over time).
    Defaults: ``lr = 1e-2``, ``alpha = 0.99`` (Keras: 1e-3 and ``rho = 0.9``).
    """
    fn = "RMSprop"
    del capturable, foreach, differentiable
    v.check_range(fn, "alpha", alpha, 0.0, 1.0)
    v.check_nonnegative(fn, "momentum", momentum)
    rms = _adaptive.scale_by_rms(alpha, eps, 0.0, eps_in_sqrt=False, centered=centered,
                                 nu_dtype=PARAMS)
    trace = [] if _blocks.is_zero(momentum) else [
        scale_by_trace(momentum, accumulator_dtype=PARAMS)]
    return _torch_chain(fn, lr, maximize, weight_decay, rms, *trace)


def _adagrad_lr(lr, lr_decay):
    """``lr / (1 + count * lr_decay)``: torch's ``clr`` at its step ``count + 1``."""
    if _blocks.is_zero(lr_decay):
        return lr

    def schedule(count):
        base = lr(count) if callable(lr) else lr
        return base / (1.0 + jnp.asarray(count) * lr_decay)

    return schedule


@v.named
@_grouped
@with_complex_params
def Adagrad(
    lr: ScalarOrSchedule = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    foreach: bool | None = None,
    *,
    maximize: bool = False,
    differentiable: bool = False,
    fused: bool | None = None,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adagrad`` (Duchi, Hazan and Singer, 2011).

    ::

        g_t   = (-grad_t if maximize else grad_t) + weight_decay * param_{t-1}
        s_t   = initial_accumulator_value + sum_{i<=t} g_i^2
        clr_t = lr / (1 + (t - 1) * lr_decay)
        param_t = param_{t-1} - clr_t * g_t / (sqrt(s_t) + eps)

    Chain: ``[scale(-1)], [add_decayed_weights], scale_by_rss(
    initial_accumulator_value, eps, eps_in_sqrt=False),
    scale_by_learning_rate(lr / (1 + count * lr_decay))``: ``lr_decay`` is a
    schedule wrapped around ``lr`` (``count = t - 1``). Defaults are torch's:
    accumulator starts at 0 and ``eps = 1e-10`` outside the root; Keras and
    optax start it at 0.1 and put ``eps = 1e-7`` inside the root.
    """
    fn = "Adagrad"
    del foreach, differentiable, fused
    v.check_learning_rate(fn, lr, "lr")
    v.check_nonnegative(fn, "lr_decay", lr_decay)
    return _torch_chain(
        fn, _adagrad_lr(lr, lr_decay), maximize, weight_decay,
        _adaptive.scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=False,
                               accumulator_dtype=PARAMS),
    )


@v.named
@_grouped
@with_complex_params
def Adadelta(
    lr: ScalarOrSchedule = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    foreach: bool | None = None,
    *,
    capturable: bool = False,
    maximize: bool = False,
    differentiable: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adadelta`` (Zeiler, 2012).

    ::

        g_t     = (-grad_t if maximize else grad_t) + weight_decay * param_{t-1}
        e_g2_t  = rho e_g2_{t-1} + (1 - rho) g_t^2
        dx_t    = sqrt(e_dx2_{t-1} + eps) / sqrt(e_g2_t + eps) * g_t
        e_dx2_t = rho e_dx2_{t-1} + (1 - rho) dx_t^2
        param_t = param_{t-1} - lr * dx_t

    Chain: ``[scale(-1)], [add_decayed_weights], scale_by_adadelta(rho, eps),
    scale_by_learning_rate(lr)``. Defaults are torch's (``rho = 0.9``; the paper
    and Keras use 0.95, Keras ``lr = 1e-3``).
    """
    del foreach, capturable, differentiable
    return _torch_chain("Adadelta", lr, maximize, weight_decay,
                        _adaptive.scale_by_adadelta(rho, eps, accumulator_dtype=PARAMS))


# ------------------------------------------------------------- blocks of their own


def _pair(fn: str, name: str, value, spelled: str = "") -> tuple[Any, Any]:
    """``value``'s two numbers: a tuple or list, or an array of shape ``(2,)`` (so
    that ``optax.inject_hyperparams`` can hold ``betas`` as one array, scheduled
    or changed during training)."""
    if isinstance(value, (jax.Array, np.ndarray)) and np.shape(value) == (2,):
        return value[0], value[1]
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        what = f"a pair {spelled}".rstrip()
        raise ValueError(f"{fn}: {name} must be {what} or an array of shape (2,), got {value!r}")
    return value[0], value[1]


@v.named(learning_rate="lr")
@_grouped
@with_complex_params
def Rprop(
    lr: float = 1e-2,
    etas: tuple[float, float] = (0.5, 1.2),
    step_sizes: tuple[float, float] = (1e-6, 50.0),
    *,
    capturable: bool = False,
    foreach: bool | None = None,
    maximize: bool = False,
    differentiable: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Rprop`` (Riedmiller and Braun, 1993; iRprop-, Igel and Huesken, 2000).

    With ``(eta_minus, eta_plus) = etas``, ``(min_step, max_step) = step_sizes``
    and ``s = sign(g_t * prev_{t-1})`` per coordinate (``step_0 = lr``)::

        step_t = clip(step_{t-1} * (eta_plus if s > 0 else eta_minus if s < 0 else 1),
                      min_step, max_step)
        g_t    = 0 where s < 0            (the step is skipped after a sign change)
        prev_t = g_t
        param_t = param_{t-1} - step_t * sign(g_t)

    Chain: ``[scale(-1)], scale_by_rprop(lr, eta_minus, eta_plus, min_step,
    max_step, zero_after_sign_change=True)``; the block's output is the whole
    step. ``lr`` is only the initial step size (torch reads it once, at the
    first step), so it must be a number. ``optax.rprop`` leaves a step size
    unclipped while the sign product is 0.
    """
    fn = "Rprop"
    del capturable, foreach, differentiable
    eta_minus, eta_plus = _pair(fn, "etas", etas)
    min_step, max_step = _pair(fn, "step_sizes", step_sizes)
    return optax.chain(
        *_maximize(fn, maximize),
        _sign.scale_by_rprop(lr, eta_minus, eta_plus, min_step, max_step,
                             zero_after_sign_change=True),
    )


@v.named(learning_rate="lr")
@_grouped
@with_complex_params
def ASGD(
    lr: ScalarOrSchedule = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
    foreach: bool | None = None,
    maximize: bool = False,
    differentiable: bool = False,
    capturable: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.ASGD``: averaged SGD (Polyak and Juditsky, 1992) with Bottou's
    (2012) step-size decay.

    At step ``t = 1, 2, ...``::

        eta_t   = lr / (1 + lambd * lr * (t - 1))^alpha,     mu_t = 1 / max(1, t - 1 - t0)
        g_t     = (-grad_t if maximize else grad_t) + weight_decay * param_{t-1}
        param_t = param_{t-1} * (1 - lambd * eta_t) - eta_t * g_t
        ax_t    = param_t if mu_t == 1 else ax_{t-1} + mu_t * (param_t - ax_{t-1})

    Chain: ``[scale(-1)], scale_by_asgd(lr, lambd, alpha, t0, weight_decay)``;
    the block's output is the whole step, so ``update`` needs ``params``. The
    averaged parameters (torch's ``state["ax"]``) are
    ``optzoo.transforms.averaging.asgd_averaged_params(opt_state)``. With a
    schedule, ``eta_t`` uses ``lr`` at step ``t``; torch computes ``eta`` for the
    next step from the lr in force at the end of the current one.
    """
    del foreach, differentiable, capturable
    return optax.chain(
        *_maximize("ASGD", maximize),
        _averaging.scale_by_asgd(lr, lambd, alpha, t0, weight_decay),
    )


@v.named(learning_rate="lr", clip_threshold="d")
@_grouped
def Adafactor(
    lr: ScalarOrSchedule = 1e-2,
    beta2_decay: float = -0.8,
    eps: tuple[float | None, float] = (None, 1e-3),
    d: float = 1.0,
    weight_decay: float = 0.0,
    *,
    foreach: bool | None = None,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.Adafactor`` (Shazeer and Stern, 2018).

    With ``(eps1, eps2) = eps`` (``eps1 = None``: the machine epsilon of the
    params' dtype) and ``t = 1, 2, ...``::

        beta2_t = 1 - t^beta2_decay,   rho_t = min(lr, 1 / sqrt(t))
        alpha_t = max(eps2, RMS(param_{t-1})) * rho_t
        matrices (last two axes, rows r / columns c):
            v_row = beta2_t v_row + (1 - beta2_t) mean_c(g^2)
            v_col = beta2_t v_col + (1 - beta2_t) mean_r(g^2)
            v_hat = max(v_row v_col / max(mean_r(v_row), eps1), eps1^2)
        other leaves: v = beta2_t v + (1 - beta2_t) g^2,  v_hat = max(v, eps1^2)
        u = g / sqrt(v_hat),   u_hat = u / max(1, RMS(u) / d)
        param_t = param_{t-1} - alpha_t * u_hat - lr * weight_decay * param_{t-1}

    Chain: ``[scale(-1)], scale_by_adafactor(lr, beta2_decay, eps1, eps2, d,
    relative_step=True, multiply_by_parameter_scale=True, weight_decay,
    eps1_mode="clamp")``; the block's output is the whole step. eps1 clamps the
    row mean and ``v_hat`` (torch) instead of being added to ``g^2`` (paper,
    Keras, optax); the decay is decoupled and scaled by ``lr``, not ``rho_t``.
    """
    fn = "Adafactor"
    del foreach
    eps1, eps2 = _pair(fn, "eps", eps)
    v.check_range(fn, "clip_threshold", d, 1.0)  # torch's d >= 1 (Keras's flavor takes > 0)
    return optax.chain(
        *_maximize(fn, maximize),
        _factored.scale_by_adafactor(
            lr, beta2_decay, eps1, eps2, d,
            relative_step=True, multiply_by_parameter_scale=True,
            weight_decay=weight_decay, eps1_mode="clamp", v_dtype=PARAMS,
        ),
    )


@v.named
@_grouped
def SparseAdam(
    lr: ScalarOrSchedule = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    maximize: bool = False,
) -> optax.GradientTransformation:
    r"""``torch.optim.SparseAdam``: lazy Adam for embedding tables.

    torch takes sparse gradients and updates only the rows they list; JAX
    gradients are dense, so a row is updated when any of its gradient entries is
    nonzero (a listed row whose gradient is exactly zero is the one difference).
    On those rows, with the global step ``t``::

        mu = b1 mu + (1 - b1) g,   nu = b2 nu + (1 - b2) g^2
        param = param - lr * sqrt(1 - b2^t) / (1 - b1^t) * mu / (sqrt(nu) + eps)

    Other rows keep params and moments bit for bit. Chain: ``[scale(-1)],
    scale_by_sparse_adam(b1, b2, eps, granularity="row", eps_hat=True),
    scale_by_learning_rate(lr)``.
    """
    return _adam_family("SparseAdam", lr, betas, 0.0, maximize, False,
                        _sparse.scale_by_sparse_adam, eps, granularity="row", eps_hat=True)


def _only_matrices(fn: str) -> optax.GradientTransformation:
    def init_fn(params):
        for path, leaf in jax.tree_util.tree_leaves_with_path(params):
            if jnp.ndim(leaf) != 2:
                raise ValueError(
                    f"{fn}: every parameter must be a matrix, got shape {jnp.shape(leaf)} at "
                    f"{jax.tree_util.keystr(path)}; route other leaves to another optimizer "
                    "with optax.multi_transform"
                )
        return optax.EmptyState()

    return optax.GradientTransformation(init_fn, lambda u, s, p=None: (u, s))


@v.named
@_grouped
def Muon(
    lr: ScalarOrSchedule = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients: tuple[float, float, float] = (3.4445, -4.7750, 2.0315),
    eps: float = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: str | None = None,
    *,
    ns_dtype=jnp.bfloat16,
) -> optax.GradientTransformation:
    r"""``torch.optim.Muon`` (Jordan et al., 2024): orthogonalised momentum for matrices.

    For each matrix of shape ``(A, B)``::

        buf_t = momentum buf_{t-1} + (1 - momentum) g_t
        m_t   = (1 - momentum) g_t + momentum buf_t      (nesterov)   else buf_t
        O_t   = NewtonSchulz_{ns_steps, ns_coefficients}(m_t / max(||m_t||_F, eps))
        param_t = param_{t-1} - lr * weight_decay * param_{t-1} - lr * ratio(A, B) * O_t

    with ``ratio = sqrt(max(1, A / B))`` (``adjust_lr_fn=None`` or
    ``"original"``) or ``0.2 sqrt(max(A, B))`` (``"match_rms_adamw"``). Chain:
    ``scale_by_muon(momentum, nesterov, ns_coefficients, ns_steps, eps,
    adjust_lr_fn, ns_dtype=ns_dtype), [add_decayed_weights(weight_decay)],
    scale_by_learning_rate(lr)``. As in torch, every parameter must be a matrix
    (``init`` raises otherwise; route biases elsewhere with
    ``optax.multi_transform``). torch runs the iteration in bfloat16, hence
    ``ns_dtype=jnp.bfloat16`` (an optzoo extension; ``None`` keeps the params'
    dtype). Note the default ``weight_decay = 0.1``.
    """
    fn = "Muon"
    adjust = "original" if adjust_lr_fn is None else adjust_lr_fn
    v.check_choice(fn, "adjust_lr_fn", adjust, ("original", "match_rms_adamw", "none"))
    muon = _orthogonal.scale_by_muon(
        momentum, nesterov, tuple(ns_coefficients), ns_steps, eps, adjust,
        fallback="momentum", ns_dtype=ns_dtype, mu_dtype=PARAMS,
    )
    return _torch_chain(fn, lr, False, weight_decay, _only_matrices(fn), muon, decoupled=True)
