"""``keras.optimizers`` (Keras 3): same names, arguments and defaults, as optax
transformations verified number for number against Keras 3 (JAX backend).

Every optimizer accepts Keras's common arguments:

- ``weight_decay``: decoupled decay applied *before* the step,
  ``w <- w - w * weight_decay * lr`` (``None``: off; ``weight_decay_mask`` picks
  the leaves, Keras's ``exclude_from_weight_decay``);
- ``clipnorm`` (each leaf to L2 norm <= clipnorm), ``global_clipnorm`` (all leaves
  together), ``clipvalue`` (each coordinate), at most one of them; ``0`` means off;
- ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``: an EMA of the
  weights kept in the state (:func:`optzoo.keras.ema_params`), copied into the
  weights every ``ema_overwrite_frequency`` updates;
- ``loss_scale_factor``: gradients are divided by it;
- ``gradient_accumulation_steps``: update every N calls with the mean gradient.

``name`` is accepted and ignored. The order of operations, the ``iterations``
clock of the schedules and the rest are in :mod:`optzoo.keras._base`. Each call
needs ``params`` (``tx.update(grads, state, params)``).
"""

from __future__ import annotations

from typing import Any

import optax

from optzoo import _validate as v
from optzoo.keras._base import ScalarOrSchedule, inner_learning_rate, keras_transform
from optzoo.transforms import adam as _adam
from optzoo.transforms import adaptive as _adaptive
from optzoo.transforms.ftrl import scale_by_ftrl
from optzoo.transforms.momentum import scale_by_trace

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adafactor",
    "Ftrl",
    "Lamb",
    "Lion",
]

_COMMON_DOC = """
    Common Keras arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
    ``global_clipnorm``, ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``,
    ``loss_scale_factor``, ``gradient_accumulation_steps``, ``weight_decay_mask``,
    ``name``): see :mod:`optzoo.keras.optimizers`."""


def _doc(f):
    f.__doc__ = (f.__doc__ or "").rstrip() + "\n" + _COMMON_DOC + "\n"
    return f


def _finish(fn, core_fn, learning_rate, common):
    """Build the core with the learning rate as its own counter sees it, then wrap."""
    lr_inner = inner_learning_rate(learning_rate, common["gradient_accumulation_steps"])
    v.check_learning_rate(fn, learning_rate)
    return keras_transform(fn, core_fn(lr_inner), learning_rate, **common)


def _lr(lr) -> optax.GradientTransformation:
    return optax.scale_by_learning_rate(lr)


# Every signature spells out Keras's arguments with Keras's defaults, so that
# ``help()`` and IDEs show exactly what Keras shows.


@_doc
@v.named
def SGD(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    *,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.SGD``: gradient descent with the learning rate *inside*
    the momentum buffer.

    ::

        m_t = momentum * m_{t-1} - lr_t * g_t                (m_0 = 0)
        w_t = w_{t-1} + m_t                                  (plain)
        w_t = w_{t-1} + momentum * m_t - lr_t * g_t          (nesterov)
        w_t = w_{t-1} - lr_t * g_t                           (momentum = 0)

    Built as ``chain(scale_by_learning_rate(lr), scale_by_trace(momentum, nesterov))``:
    the trace runs on ``-lr_t * g_t``. PyTorch and optax keep ``lr`` outside the
    buffer (``w -= lr_t * buf_t``); the two agree for a constant learning rate and
    differ as soon as it changes (a schedule). Defaults: Keras's
    (``learning_rate=0.01``).
    """
    fn = "SGD"
    v.check_range(fn, "momentum", momentum, 0.0, 1.0)
    v.check_bool(fn, "nesterov", nesterov)
    common = dict(locals())
    for k in ("learning_rate", "momentum", "nesterov", "name", "fn"):
        common.pop(k)

    def core(lr):
        if v.concrete_float(momentum) == 0.0:
            return _lr(lr)
        return optax.chain(_lr(lr), scale_by_trace(momentum, nesterov=nesterov))

    return _finish(fn, core, learning_rate, common)


def _adam_core(b1, b2, eps, amsgrad):
    def core(lr):
        return optax.chain(
            _adam.scale_by_adam(b1, b2, eps, amsgrad=amsgrad, fold_bias_correction=True),
            _lr(lr),
        )

    return core


@_doc
@v.named
def Adam(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    *,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Adam``: Adam with the bias correction folded into the
    step size (Kingma and Ba, 2015, end of Section 2)::

        m_t     = m_{t-1} + (g_t - m_{t-1}) * (1 - beta_1)
        v_t     = v_{t-1} + (g_t^2 - v_{t-1}) * (1 - beta_2)
        vhat_t  = max(vhat_{t-1}, v_t)   (amsgrad; used instead of v_t below)
        alpha_t = lr_t * sqrt(1 - beta_2^t) / (1 - beta_1^t)
        w_t     = w_{t-1} - alpha_t * m_t / (sqrt(v_t) + epsilon)

    ``epsilon`` adds to the root of the raw ``v`` (PyTorch and optax add it to the
    root of the bias-corrected ``v``: Keras's ``epsilon`` is theirs times
    ``sqrt(1 - beta_2^t)``), and Keras's default is ``1e-7`` (theirs ``1e-8``).
    Built on ``scale_by_adam(fold_bias_correction=True)``.
    """
    fn = "Adam"
    common = dict(locals())
    for k in ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "name", "fn"):
        common.pop(k)
    return _finish(fn, _adam_core(beta_1, beta_2, epsilon, amsgrad), learning_rate, common)


@_doc
@v.named
def AdamW(
    learning_rate: ScalarOrSchedule = 0.001,
    weight_decay: float = 0.004,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    *,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.AdamW``: :func:`Adam` with ``weight_decay`` required
    (default ``0.004``, Keras's; PyTorch's is ``0.01``).

    The decay is Keras's common one, applied before the Adam step::

        w' = w_{t-1} - w_{t-1} * weight_decay * lr_t
        w_t = w' - alpha_t * m_t / (sqrt(v_t) + epsilon)

    PyTorch's AdamW computes the same ``w - lr * wd * w`` first; optax's
    ``adamw`` adds ``weight_decay * w`` to the Adam direction before scaling by
    ``lr``, which is the same number, but with Keras's ``epsilon`` placement.
    """
    fn = "AdamW"
    if weight_decay is None:
        raise ValueError(f"{fn}: weight_decay must be a number in [0, inf), got None")
    common = dict(locals())
    for k in ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "name", "fn"):
        common.pop(k)
    return _finish(fn, _adam_core(beta_1, beta_2, epsilon, amsgrad), learning_rate, common)


@_doc
@v.named
def Adamax(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    *,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Adamax`` (Kingma and Ba, 2015, Algorithm 2)::

        m_t = m_{t-1} + (g_t - m_{t-1}) * (1 - beta_1)
        u_t = max(beta_2 * u_{t-1}, |g_t|)
        w_t = w_{t-1} - lr_t * m_t / ((1 - beta_1^t) * (u_t + epsilon))

    ``epsilon`` is added after the max (PyTorch and optax put it inside:
    ``max(beta_2 * u, |g| + eps)``). Built on
    ``scale_by_adamax(eps_inside_max=False)``.
    """
    fn = "Adamax"
    common = dict(locals())
    for k in ("learning_rate", "beta_1", "beta_2", "epsilon", "name", "fn"):
        common.pop(k)

    def core(lr):
        return optax.chain(
            _adam.scale_by_adamax(beta_1, beta_2, epsilon, eps_inside_max=False), _lr(lr)
        )

    return _finish(fn, core, learning_rate, common)


@_doc
@v.named
def Nadam(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    *,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Nadam`` (Dozat, 2016) with Keras's momentum schedule.

    With ``u_t = beta_1 * (1 - 0.5 * 0.96^t)`` and ``u_product_t = prod_{i<=t} u_i``
    (kept in the state as ``mu_product``)::

        m_t    = m_{t-1} + (g_t - m_{t-1}) * (1 - beta_1)
        v_t    = v_{t-1} + (g_t^2 - v_{t-1}) * (1 - beta_2)
        m_hat  = u_{t+1} * m_t / (1 - u_product_t * u_{t+1})
                 + (1 - u_t) * g_t / (1 - u_product_t)
        w_t    = w_{t-1} - lr_t * m_hat / (sqrt(v_t / (1 - beta_2^t)) + epsilon)

    Keras's schedule decays with ``0.96^t``; PyTorch's ``NAdam`` uses
    ``0.96^(t * momentum_decay)`` with ``momentum_decay = 0.004`` (250 times
    slower), and optax's ``nadam`` keeps ``u_t = beta_1``. Built on
    ``scale_by_nadam(momentum_decay=1.0)``. ``u_product`` is updated once per step
    (shared by all leaves), as in Keras.
    """
    fn = "Nadam"
    common = dict(locals())
    for k in ("learning_rate", "beta_1", "beta_2", "epsilon", "name", "fn"):
        common.pop(k)

    def core(lr):
        return optax.chain(
            _adam.scale_by_nadam(beta_1, beta_2, epsilon, momentum_decay=1.0), _lr(lr)
        )

    return _finish(fn, core, learning_rate, common)


@_doc
@v.named
def RMSprop(
    learning_rate: ScalarOrSchedule = 0.001,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    centered: bool = False,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    *,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.RMSprop`` (Hinton, 2012; centered: Graves, 2013)::

        nu_t  = rho * nu_{t-1} + (1 - rho) * g_t^2
        mu_t  = rho * mu_{t-1} + (1 - rho) * g_t             (centered)
        inc_t = lr_t * g_t / sqrt(nu_t - mu_t^2 + epsilon)   (mu_t = 0 unless centered)
        buf_t = momentum * buf_{t-1} + inc_t                 (momentum > 0)
        w_t   = w_{t-1} - buf_t      (or w_{t-1} - inc_t without momentum)

    ``epsilon`` is inside the square root and the learning rate inside the momentum
    buffer; PyTorch puts ``eps`` outside the root (``sqrt(nu) + eps``), keeps ``lr``
    out of the buffer, and defaults to ``alpha = 0.99``, ``eps = 1e-8``, ``lr =
    0.01``. Built as ``chain(scale_by_rms(eps_in_sqrt=True), scale_by_learning_rate,
    scale_by_trace(momentum))``.
    """
    fn = "RMSprop"
    v.check_range(fn, "momentum", momentum, 0.0, 1.0)
    common = dict(locals())
    for k in ("learning_rate", "rho", "momentum", "epsilon", "centered", "name", "fn"):
        common.pop(k)

    def core(lr):
        blocks = [
            _adaptive.scale_by_rms(rho, epsilon, 0.0, eps_in_sqrt=True, centered=centered),
            _lr(lr),
        ]
        if not v.concrete_float(momentum) == 0.0:
            blocks.append(scale_by_trace(momentum))
        return optax.chain(*blocks)

    return _finish(fn, core, learning_rate, common)


@_doc
@v.named
def Adagrad(
    learning_rate: ScalarOrSchedule = 0.001,
    initial_accumulator_value: float = 0.1,
    epsilon: float = 1e-7,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    *,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Adagrad`` (Duchi, Hazan and Singer, 2011)::

        acc_t = acc_{t-1} + g_t^2                 (acc_0 = initial_accumulator_value)
        w_t   = w_{t-1} - lr_t * g_t / sqrt(acc_t + epsilon)

    Keras starts the accumulator at ``0.1`` and puts ``epsilon`` inside the root (as
    optax); PyTorch starts at ``0``, puts ``eps = 1e-10`` outside the root and has
    ``lr_decay``. Keras's default ``learning_rate`` is ``0.001`` (PyTorch's ``0.01``).
    Built on ``scale_by_rss(eps_in_sqrt=True)``.
    """
    fn = "Adagrad"
    common = dict(locals())
    for k in ("learning_rate", "initial_accumulator_value", "epsilon", "name", "fn"):
        common.pop(k)

    def core(lr):
        return optax.chain(
            _adaptive.scale_by_rss(initial_accumulator_value, epsilon, eps_in_sqrt=True), _lr(lr)
        )

    return _finish(fn, core, learning_rate, common)


@_doc
@v.named
def Adadelta(
    learning_rate: ScalarOrSchedule = 0.001,
    rho: float = 0.95,
    epsilon: float = 1e-7,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    *,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Adadelta`` (Zeiler, 2012)::

        Eg2_t  = rho * Eg2_{t-1} + (1 - rho) * g_t^2
        dx_t   = sqrt(Edx2_{t-1} + epsilon) / sqrt(Eg2_t + epsilon) * g_t
        Edx2_t = rho * Edx2_{t-1} + (1 - rho) * dx_t^2
        w_t    = w_{t-1} - lr_t * dx_t

    Same rule as PyTorch and optax; the defaults differ: Keras ``learning_rate =
    0.001``, ``epsilon = 1e-7`` (PyTorch ``lr = 1.0``, ``eps = 1e-6``). Built on
    ``scale_by_adadelta``.
    """
    fn = "Adadelta"
    common = dict(locals())
    for k in ("learning_rate", "rho", "epsilon", "name", "fn"):
        common.pop(k)

    def core(lr):
        return optax.chain(_adaptive.scale_by_adadelta(rho, epsilon), _lr(lr))

    return _finish(fn, core, learning_rate, common)


@_doc
@v.named
def Ftrl(
    learning_rate: ScalarOrSchedule = 0.001,
    learning_rate_power: float = -0.5,
    initial_accumulator_value: float = 0.1,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    l2_shrinkage_regularization_strength: float = 0.0,
    beta: float = 0.0,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    *,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Ftrl``: FTRL-Proximal (McMahan et al., 2013).

    The update rule, with ``n`` the accumulator and ``z`` the linear term, is
    :func:`optzoo.transforms.scale_by_ftrl`'s::

        n_new = n + g^2;  z += g + 2 * l2_shrinkage * w - (n_new^(-p) - n^(-p)) / lr * w
        w_new = (clip(z, -l1, l1) - z) / (n_new^(-p) / lr + 2 * (l2 + beta / (2 lr)))

    with ``p = learning_rate_power``. The weights are solved for, not stepped: the
    decoupled ``weight_decay`` only changes the ``w`` the formulas read. Neither
    PyTorch nor optax has FTRL.
    """
    fn = "Ftrl"
    common = dict(locals())
    for k in (
        "learning_rate",
        "learning_rate_power",
        "initial_accumulator_value",
        "l1_regularization_strength",
        "l2_regularization_strength",
        "l2_shrinkage_regularization_strength",
        "beta",
        "name",
        "fn",
    ):
        common.pop(k)

    def core(lr):
        return scale_by_ftrl(
            lr,
            learning_rate_power,
            initial_accumulator_value,
            l1_regularization_strength,
            l2_regularization_strength,
            l2_shrinkage_regularization_strength,
            beta,
        )

    return _finish(fn, core, learning_rate, common)
