"""The optimizers: each is ``chain(building blocks..., scale_by_learning_rate(lr))``.

Every function returns an ``optax.GradientTransformation``. ``learning_rate`` is a
number or any schedule ``step -> lr`` (an optzoo or optax schedule). Invalid
hyperparameters raise ``ValueError`` here, at construction.
"""

from __future__ import annotations

from typing import Any, Callable

import optax

from optzoo import _validate as v
from optzoo.transforms import adam as _adam
from optzoo.transforms import adaptive as _adaptive
from optzoo.transforms.momentum import scale_by_trace

ScalarOrSchedule = float | Callable[[Any], Any]

__all__ = [
    "sgd",
    "momentum",
    "nag",
    "adagrad",
    "adadelta",
    "rmsprop",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "amsgrad",
    "radam",
]


def _is_zero(x) -> bool:
    """True only for a concrete zero: a traced hyperparameter keeps its block."""
    return v.concrete_float(x) == 0.0


def _lr(fn: str, learning_rate) -> optax.GradientTransformation:
    v.check_learning_rate(fn, learning_rate)
    return optax.scale_by_learning_rate(learning_rate)


def _weight_decay(fn: str, weight_decay, mask=None) -> list[optax.GradientTransformation]:
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    return [] if _is_zero(weight_decay) else [optax.add_decayed_weights(weight_decay, mask)]


# --------------------------------------------------------------------------- SGD family


@v.named
def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    r"""Stochastic gradient descent, with optional momentum, Nesterov and L2 decay.

    ::

        g_t   = grad_t + weight_decay * params_{t-1}         (coupled L2, as PyTorch)
        buf_t = momentum * buf_{t-1} + g_t                   (buf_1 = g_1)
        d_t   = g_t + momentum * buf_t if nesterov else buf_t   (d_t = g_t without momentum)
        params_t = params_{t-1} - learning_rate * d_t

    Batch, mini-batch and stochastic gradient descent are this same update; they
    differ only in how many examples the gradient averages over
    (see :func:`optzoo.data.batches`). Reference: Robbins and Monro, 1951;
    momentum: Polyak, 1964; Nesterov: Sutskever et al., 2013.

    Equals ``optax.sgd`` (plus ``optax.add_decayed_weights`` first) and
    ``torch.optim.SGD`` with ``dampening = 0``. No defaults besides zero: plain SGD.
    """
    fn = "sgd"
    v.check_range(fn, "momentum", momentum, 0.0, 1.0)
    v.check_bool(fn, "nesterov", nesterov)
    if nesterov and _is_zero(momentum):
        raise ValueError(f"{fn}: momentum must be in (0, 1] when nesterov=True, got {momentum!r}")
    blocks = _weight_decay(fn, weight_decay)
    if not _is_zero(momentum):
        blocks.append(scale_by_trace(momentum, nesterov=nesterov))
    return optax.chain(*blocks, _lr(fn, learning_rate))


@v.named
def momentum(
    learning_rate: ScalarOrSchedule, beta: float = 0.9, weight_decay: float = 0.0
) -> optax.GradientTransformation:
    r"""Heavy-ball momentum (Polyak, 1964): ``sgd(learning_rate, momentum=beta)``.

    ::

        buf_t = beta * buf_{t-1} + g_t
        params_t = params_{t-1} - learning_rate * buf_t

    ``beta = 0.9`` is the customary default (Sutskever et al., 2013).
    """
    v.check_range("momentum", "beta", beta, 0.0, 1.0, low_open=True)
    return sgd(learning_rate, momentum=beta, weight_decay=weight_decay)


@v.named
def nag(
    learning_rate: ScalarOrSchedule, beta: float = 0.9, weight_decay: float = 0.0
) -> optax.GradientTransformation:
    r"""Nesterov accelerated gradient (Nesterov, 1983; Sutskever et al., 2013).

    In the form PyTorch and optax use, which evaluates the gradient at the
    current parameters::

        buf_t = beta * buf_{t-1} + g_t
        params_t = params_{t-1} - learning_rate * (g_t + beta * buf_t)
    """
    v.check_range("nag", "beta", beta, 0.0, 1.0, low_open=True)
    return sgd(learning_rate, momentum=beta, nesterov=True, weight_decay=weight_decay)


# ------------------------------------------------------------------ adaptive per-coordinate


@v.named
def adagrad(
    learning_rate: ScalarOrSchedule = 1e-2,
    initial_accumulator_value: float = 0.1,
    eps: float = 1e-7,
    eps_in_sqrt: bool = True,
    *,
    accumulator_dtype=None,
) -> optax.GradientTransformation:
    r"""AdaGrad (Duchi, Hazan and Singer, 2011).

    ::

        sum_of_squares_t = initial_accumulator_value + sum_{i<=t} g_i^2
        params_t = params_{t-1} - learning_rate * g_t / sqrt(sum_of_squares_t + eps)

    With ``eps_in_sqrt=False`` the denominator is ``sqrt(sum_of_squares_t) + eps``
    (PyTorch). Defaults: ``initial_accumulator_value = 0.1`` and ``eps = 1e-7``
    as optax and Keras; ``learning_rate = 1e-2`` as PyTorch. Equals ``optax.adagrad``.
    ``accumulator_dtype`` (e.g. float32 for bfloat16 params): see ``scale_by_rss``.
    """
    return optax.chain(
        _adaptive.scale_by_rss(
            initial_accumulator_value, eps, eps_in_sqrt, accumulator_dtype=accumulator_dtype
        ),
        _lr("adagrad", learning_rate),
    )


@v.named
def adadelta(
    learning_rate: ScalarOrSchedule = 1.0, rho: float = 0.95, eps: float = 1e-6
) -> optax.GradientTransformation:
    r"""AdaDelta (Zeiler, 2012).

    ::

        e_g2_t  = rho * e_g2_{t-1} + (1 - rho) * g_t^2
        dx_t    = sqrt(e_dx2_{t-1} + eps) / sqrt(e_g2_t + eps) * g_t
        e_dx2_t = rho * e_dx2_{t-1} + (1 - rho) * dx_t^2
        params_t = params_{t-1} - learning_rate * dx_t

    Defaults are the paper's (``rho = 0.95``, ``eps = 1e-6``, no learning rate,
    i.e. ``1.0``). Equals ``optax.adadelta`` at the same hyperparameters (optax's
    default ``rho`` is 0.9).
    """
    return optax.chain(_adaptive.scale_by_adadelta(rho, eps), _lr("adadelta", learning_rate))


@v.named
def rmsprop(
    learning_rate: ScalarOrSchedule = 1e-3,
    decay: float = 0.9,
    eps: float = 1e-8,
    initial_scale: float = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: float = 0.0,
    nesterov: bool = False,
    *,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""RMSProp (Hinton, 2012), optionally centered (Graves, 2013) and with momentum.

    ::

        nu_t  = decay * nu_{t-1} + (1 - decay) * g_t^2                 (nu_0 = initial_scale)
        mu_t  = decay * mu_{t-1} + (1 - decay) * g_t                   (centered only)
        var_t = nu_t - mu_t^2 if centered else nu_t
        d_t   = g_t / sqrt(var_t + eps)       eps inside the root: TensorFlow, Keras, optax
        d_t   = g_t / (sqrt(var_t) + eps)     eps_in_sqrt=False: PyTorch
        buf_t = momentum * buf_{t-1} + d_t    (momentum > 0; d_t <- buf_t)
        params_t = params_{t-1} - learning_rate * d_t

    Where eps sits matters early in training, when ``var_t`` is tiny: inside the
    root the step is bounded by ``g / sqrt(eps)``, outside by ``g / eps``.
    Defaults: ``decay = 0.9`` and ``learning_rate = 1e-3`` from Hinton's lecture
    and Keras. Equals ``optax.rmsprop`` at the same hyperparameters. ``nu_dtype``
    (e.g. float32 for bfloat16 params): see ``scale_by_rms``.
    """
    fn = "rmsprop"
    v.check_range(fn, "momentum", momentum, 0.0, 1.0)
    blocks = [
        _adaptive.scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, centered, nu_dtype=nu_dtype)
    ]
    if not _is_zero(momentum):
        blocks.append(scale_by_trace(momentum, nesterov=nesterov))
    return optax.chain(*blocks, _lr(fn, learning_rate))


# --------------------------------------------------------------------------- Adam family


@v.named
def adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    *,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""Adam (Kingma and Ba, 2015).

    ::

        mu_t = b1 * mu_{t-1} + (1 - b1) * g_t
        nu_t = b2 * nu_{t-1} + (1 - b2) * g_t^2
        params_t = params_{t-1}
                   - learning_rate * (mu_t / (1 - b1^t)) / (sqrt(nu_t / (1 - b2^t) + eps_root) + eps)

    Defaults are the paper's. Equals ``optax.adam`` and ``torch.optim.Adam``.
    ``mu_dtype`` / ``nu_dtype`` keep the moments in another dtype than the params
    (e.g. float32 moments for bfloat16 params), as in every Adam-family alias.
    Keras folds the bias corrections into the step size, which moves eps; see
    ``optzoo.keras.Adam``.
    """
    return optax.chain(
        _adam.scale_by_adam(b1, b2, eps, eps_root, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        _lr("adam", learning_rate),
    )


@v.named
def amsgrad(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    *,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""AMSGrad (Reddi, Kale and Kumar, 2018): Adam with a non-decreasing ``nu``.

    ::

        nu_max_t = max(nu_max_{t-1}, nu_t)
        params_t = params_{t-1}
                   - learning_rate * (mu_t / (1 - b1^t)) / (sqrt(nu_max_t / (1 - b2^t) + eps_root) + eps)

    The maximum is over raw ``nu`` as in PyTorch (``amsgrad=True``) and Keras.
    ``optax.amsgrad`` takes the maximum of the bias-corrected ``nu`` instead, so
    the two differ while ``1 - b2^t`` still changes.
    """
    return optax.chain(
        _adam.scale_by_adam(
            b1, b2, eps, eps_root, amsgrad=True, mu_dtype=mu_dtype, nu_dtype=nu_dtype
        ),
        _lr("amsgrad", learning_rate),
    )


@v.named
def adamw(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 1e-2,
    *,
    mask: Any = None,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""AdamW: Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    ::

        params_t = params_{t-1} - learning_rate * (adam_direction_t + weight_decay * params_{t-1})

    The decay is scaled by the learning rate, as PyTorch, Keras and optax do (the
    paper's schedule multiplier ``eta_t``). ``mask`` (a pytree of bools or a
    function of the params returning one) selects which leaves decay; biases and
    norm scales are usually excluded. ``weight_decay = 1e-2`` is PyTorch's default.
    Equals ``optax.adamw`` at the same hyperparameters.
    """
    fn = "adamw"
    return optax.chain(
        _adam.scale_by_adam(b1, b2, eps, eps_root, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        *_weight_decay(fn, weight_decay, mask),
        _lr(fn, learning_rate),
    )


@v.named
def adamax(
    learning_rate: ScalarOrSchedule = 2e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> optax.GradientTransformation:
    r"""AdaMax (Kingma and Ba, 2015, section 7.1): Adam with the infinity norm.

    ::

        mu_t = b1 * mu_{t-1} + (1 - b1) * g_t
        u_t  = max(b2 * u_{t-1}, |g_t| + eps)
        params_t = params_{t-1} - learning_rate / (1 - b1^t) * mu_t / u_t

    ``learning_rate = 2e-3`` is the paper's. Equals ``optax.adamax`` and
    ``torch.optim.Adamax``; Keras puts eps in the denominator instead.
    """
    return optax.chain(_adam.scale_by_adamax(b1, b2, eps), _lr("adamax", learning_rate))


@v.named
def nadam(
    learning_rate: ScalarOrSchedule = 2e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    momentum_decay: float | None = 0.004,
    *,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""Nadam: Adam with Nesterov momentum (Dozat, 2016).

    With ``m_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay))`` and
    ``mu_product_t = prod_{i<=t} m_i``::

        params_t = params_{t-1} - learning_rate
                   * [(1 - m_t) / (1 - mu_product_t) * g_t + m_{t+1} / (1 - mu_product_t m_{t+1}) * mu_t]
                   / (sqrt(nu_t / (1 - b2^t) + eps_root) + eps)

    Defaults are Dozat's and PyTorch's (``learning_rate = 2e-3``,
    ``momentum_decay = 0.004``). ``momentum_decay=None`` keeps ``m_t = b1`` and
    equals ``optax.nadam``.
    """
    return optax.chain(
        _adam.scale_by_nadam(
            b1, b2, eps, eps_root, momentum_decay, mu_dtype=mu_dtype, nu_dtype=nu_dtype
        ),
        _lr("nadam", learning_rate),
    )


@v.named
def radam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""RAdam (Liu et al., 2020): Adam whose adaptive rate is rectified early on.

    ::

        rho_inf = 2 / (1 - b2) - 1,    rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        d_t = r_t * mu_hat_t / (sqrt(nu_hat_t + eps_root) + eps)  if rho_t > threshold else mu_hat_t
        params_t = params_{t-1} - learning_rate * d_t

    ``threshold = 5`` is PyTorch's rectification rule. Equals ``optax.radam``
    except at ``rho_t == threshold`` exactly (optax uses ``>=``).
    """
    return optax.chain(
        _adam.scale_by_radam(
            b1, b2, eps, eps_root, threshold, mu_dtype=mu_dtype, nu_dtype=nu_dtype
        ),
        _lr("radam", learning_rate),
    )
