"""``torch.optim`` optimizers as optax transformations: same names, argument names,
argument order and defaults as torch 2.13, equal number for number.

Each function returns an ``optax.GradientTransformation`` built by chaining
optzoo's shared blocks (:mod:`optzoo.transforms`) with optax plumbing. The torch
``params`` argument is dropped: call ``tx.init(params)`` instead. Per-group
options (param groups) map to ``optax.multi_transform``; see ``docs/porting.md``.

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
- ``foreach``, ``fused``, ``capturable`` and ``differentiable`` only choose a
  torch kernel. They are accepted and ignored (JAX compiles one kernel; every
  update here is differentiable).
"""

from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms import adam as _adam
from optzoo.transforms import adaptive as _adaptive
from optzoo.transforms.momentum import scale_by_trace

ScalarOrSchedule = float | Callable[[Any], Any]

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
]


def _is_zero(x) -> bool:
    return v.concrete_float(x) == 0.0


def _front(fn: str, maximize, weight_decay, coupled: bool = True) -> list:
    """``[scale(-1)] if maximize`` then ``[add_decayed_weights] if coupled decay``."""
    v.check_bool(fn, "maximize", maximize)
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    blocks = [optax.scale(-1.0)] if maximize else []
    if coupled and not _is_zero(weight_decay):
        blocks.append(optax.add_decayed_weights(weight_decay))
    return blocks


def _decoupled(weight_decay, decoupled: bool) -> list:
    if decoupled and not _is_zero(weight_decay):
        return [optax.add_decayed_weights(weight_decay)]
    return []


def _lr(fn: str, lr) -> optax.GradientTransformation:
    v.check_learning_rate(fn, lr, "lr")
    return optax.scale_by_learning_rate(lr)


def _betas(fn: str, betas) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{fn}: betas must be a pair (beta1, beta2), got {betas!r}")
    v.check_range(fn, "betas[0]", betas[0], 0.0, 1.0, high_open=True)
    v.check_range(fn, "betas[1]", betas[1], 0.0, 1.0, high_open=True)
    return betas[0], betas[1]


# ----------------------------------------------------------------------------- SGD


@v.named
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
    if nesterov and (v.concrete_float(momentum) == 0.0 or v.concrete_float(dampening) != 0.0):
        raise ValueError(
            f"{fn}: nesterov=True requires momentum > 0 and dampening = 0, "
            f"got momentum={momentum!r}, dampening={dampening!r}"
        )
    blocks = _front(fn, maximize, weight_decay)
    if not _is_zero(momentum):
        blocks.append(scale_by_trace(momentum, nesterov=nesterov, dampening=dampening))
    return optax.chain(*blocks, _lr(fn, lr))


# --------------------------------------------------------------------- Adam family


@v.named
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
    fn = "Adam"
    del foreach, capturable, differentiable, fused
    b1, b2 = _betas(fn, betas)
    v.check_bool(fn, "decoupled_weight_decay", decoupled_weight_decay)
    return optax.chain(
        *_front(fn, maximize, weight_decay, coupled=not decoupled_weight_decay),
        _adam.scale_by_adam(b1, b2, eps, amsgrad=amsgrad),
        *_decoupled(weight_decay, decoupled_weight_decay),
        _lr(fn, lr),
    )


@v.named
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
    fn = "Adamax"
    del foreach, differentiable, capturable
    b1, b2 = _betas(fn, betas)
    return optax.chain(
        *_front(fn, maximize, weight_decay),
        _adam.scale_by_adamax(b1, b2, eps, eps_inside_max=True),
        _lr(fn, lr),
    )


@v.named
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
    fn = "NAdam"
    del foreach, capturable, differentiable
    b1, b2 = _betas(fn, betas)
    v.check_nonnegative(fn, "momentum_decay", momentum_decay)
    v.check_bool(fn, "decoupled_weight_decay", decoupled_weight_decay)
    return optax.chain(
        *_front(fn, maximize, weight_decay, coupled=not decoupled_weight_decay),
        _adam.scale_by_nadam(b1, b2, eps, momentum_decay=momentum_decay),
        *_decoupled(weight_decay, decoupled_weight_decay),
        _lr(fn, lr),
    )


@v.named
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
    fn = "RAdam"
    del foreach, capturable, differentiable
    b1, b2 = _betas(fn, betas)
    v.check_bool(fn, "decoupled_weight_decay", decoupled_weight_decay)
    return optax.chain(
        *_front(fn, maximize, weight_decay, coupled=not decoupled_weight_decay),
        _adam.scale_by_radam(b1, b2, eps, threshold=5.0, fold_bias_correction=True),
        *_decoupled(weight_decay, decoupled_weight_decay),
        _lr(fn, lr),
    )


# ---------------------------------------------------------------- adaptive per-coordinate


@v.named
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
    blocks = _front(fn, maximize, weight_decay)
    blocks.append(_adaptive.scale_by_rms(alpha, eps, 0.0, eps_in_sqrt=False, centered=centered))
    if not _is_zero(momentum):
        blocks.append(scale_by_trace(momentum))
    return optax.chain(*blocks, _lr(fn, lr))


def _adagrad_lr(lr, lr_decay):
    """``lr / (1 + count * lr_decay)``: torch's ``clr`` at its step ``count + 1``."""
    if _is_zero(lr_decay):
        return lr

    def schedule(count):
        base = lr(count) if callable(lr) else lr
        return base / (1.0 + jnp.asarray(count) * lr_decay)

    return schedule


@v.named
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
    return optax.chain(
        *_front(fn, maximize, weight_decay),
        _adaptive.scale_by_rss(initial_accumulator_value, eps, eps_in_sqrt=False),
        _lr(fn, _adagrad_lr(lr, lr_decay)),
    )


@v.named
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
    fn = "Adadelta"
    del foreach, capturable, differentiable
    return optax.chain(
        *_front(fn, maximize, weight_decay),
        _adaptive.scale_by_adadelta(rho, eps),
        _lr(fn, lr),
    )
