"""``keras.optimizers`` (Keras 3): same names, arguments and defaults, as optax
transformations verified number for number against Keras 3 (JAX backend).

Every optimizer accepts Keras's common arguments (declared once, as
:class:`optzoo.keras._base.KerasOptions`, and added to each signature by
:func:`optzoo.keras._base.keras_optimizer`):

- ``weight_decay``: decoupled decay applied *before* the step,
  ``w <- w - w * weight_decay * lr`` (``None``: off); ``weight_decay_mask``
  (keyword-only) picks the leaves that decay, Keras's ``exclude_from_weight_decay``:
  a pytree of bools shaped like the params or a callable ``params -> such a
  tree`` (``None``: all leaves);
- ``clipnorm`` (each leaf to L2 norm <= clipnorm), ``global_clipnorm`` (all leaves
  together), ``clipvalue`` (each coordinate), at most one of them; ``0`` means off;
- ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``: an EMA of the
  weights kept in the state (:func:`optzoo.keras.ema_params`), copied into the
  weights every ``ema_overwrite_frequency`` updates;
- ``loss_scale_factor``: gradients are divided by it;
- ``gradient_accumulation_steps``: update every N calls with the mean gradient.

The state is kept in each variable's dtype, as Keras keeps it (``"params"`` in the
blocks' ``*_dtype`` arguments); the arithmetic runs in at least float32 (see
:mod:`optzoo.transforms._dtypes`).

``name`` is accepted and ignored. The order of operations, the ``iterations``
clock of the schedules and the rest are in :mod:`optzoo.keras._base`. Each call
needs ``params`` (``tx.update(grads, state, params)``).

Each function below declares only its own arguments and returns its own rule
(learning rate included); a zero hyperparameter drops a block only when it is a
plain Python zero (:func:`optzoo._blocks.is_zero`), so the optimizers also work
under ``optax.inject_hyperparams``.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo._blocks import ScalarOrSchedule
from optzoo.keras._base import keras_optimizer
from optzoo.transforms import adam as _adam
from optzoo.transforms._dtypes import PARAMS
from optzoo.transforms._tree import leaf_path
from optzoo.transforms import adaptive as _adaptive
from optzoo.transforms import factored as _factored
from optzoo.transforms import orthogonal as _orthogonal
from optzoo.transforms import schedule_free as _schedule_free
from optzoo.transforms import sign as _sign
from optzoo.transforms import trust_ratio as _trust_ratio
from optzoo.transforms.ftrl import scale_by_ftrl
from optzoo.transforms.momentum import scale_by_trace

# Keras's spelling of the core arguments, for the messages of checks run in the core.
_SPELLED = dict(b1="beta_1", b2="beta_2", eps="epsilon")

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
    "ScheduleFreeAdamW",
    "Muon",
]


def _with_lr(fn: str, learning_rate, *blocks) -> optax.GradientTransformation:
    """``chain(*blocks, scale_by_learning_rate(learning_rate))``."""
    return optax.chain(*blocks, _blocks.learning_rate(fn, learning_rate))


def _momentum(fn: str, learning_rate, first, momentum, nesterov=False):
    """``first``, the learning rate, then the trace on ``-lr_t * ...`` (Keras keeps
    the learning rate inside its momentum buffer); the trace only for a momentum
    that is not a plain zero."""
    v.check_range(fn, "momentum", momentum, 0.0, 1.0)
    trace = [] if _blocks.is_zero(momentum) else [
        scale_by_trace(momentum, nesterov=nesterov, accumulator_dtype=PARAMS)]
    return optax.chain(*first, _blocks.learning_rate(fn, learning_rate), *trace)


@keras_optimizer()
def SGD(
    learning_rate: ScalarOrSchedule = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
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
    v.check_bool("SGD", "nesterov", nesterov)
    return _momentum("SGD", learning_rate, [], momentum, nesterov)


def _adam_rule(fn, learning_rate, beta_1, beta_2, epsilon, amsgrad):
    return _with_lr(fn, learning_rate, _adam.scale_by_adam(
        beta_1, beta_2, epsilon, amsgrad=amsgrad, fold_bias_correction=True,
        mu_dtype=PARAMS, nu_dtype=PARAMS))


@keras_optimizer(**_SPELLED)
def Adam(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
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
    return _adam_rule("Adam", learning_rate, beta_1, beta_2, epsilon, amsgrad)


@keras_optimizer(**_SPELLED)
def AdamW(
    learning_rate: ScalarOrSchedule = 0.001,
    weight_decay: float = 0.004,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    amsgrad: bool = False,
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
    if weight_decay is None:
        raise ValueError("AdamW: weight_decay must be a number in [0, inf), got None")
    return _adam_rule("AdamW", learning_rate, beta_1, beta_2, epsilon, amsgrad)


@keras_optimizer(**_SPELLED)
def Adamax(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Adamax`` (Kingma and Ba, 2015, Algorithm 2)::

        m_t = m_{t-1} + (g_t - m_{t-1}) * (1 - beta_1)
        u_t = max(beta_2 * u_{t-1}, |g_t|)
        w_t = w_{t-1} - lr_t * m_t / ((1 - beta_1^t) * (u_t + epsilon))

    ``epsilon`` is added after the max (PyTorch and optax put it inside:
    ``max(beta_2 * u, |g| + eps)``). Built on
    ``scale_by_adamax(eps_inside_max=False)``.
    """
    return _with_lr("Adamax", learning_rate, _adam.scale_by_adamax(
        beta_1, beta_2, epsilon, eps_inside_max=False, mu_dtype=PARAMS, nu_dtype=PARAMS))


@keras_optimizer(**_SPELLED)
def Nadam(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
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
    return _with_lr("Nadam", learning_rate, _adam.scale_by_nadam(
        beta_1, beta_2, epsilon, momentum_decay=1.0, mu_dtype=PARAMS, nu_dtype=PARAMS))


@keras_optimizer(**_SPELLED, decay="rho")
def RMSprop(
    learning_rate: ScalarOrSchedule = 0.001,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    centered: bool = False,
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
    rms = _adaptive.scale_by_rms(rho, epsilon, 0.0, eps_in_sqrt=True, centered=centered,
                                 nu_dtype=PARAMS)
    return _momentum("RMSprop", learning_rate, [rms], momentum)


@keras_optimizer(**_SPELLED)
def Adagrad(
    learning_rate: ScalarOrSchedule = 0.001,
    initial_accumulator_value: float = 0.1,
    epsilon: float = 1e-7,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Adagrad`` (Duchi, Hazan and Singer, 2011)::

        acc_t = acc_{t-1} + g_t^2                 (acc_0 = initial_accumulator_value)
        w_t   = w_{t-1} - lr_t * g_t / sqrt(acc_t + epsilon)

    Keras starts the accumulator at ``0.1`` and puts ``epsilon`` inside the root (as
    optax); PyTorch starts at ``0``, puts ``eps = 1e-10`` outside the root and has
    ``lr_decay``. Keras's default ``learning_rate`` is ``0.001`` (PyTorch's ``0.01``).
    Built on ``scale_by_rss(eps_in_sqrt=True)``.
    """
    return _with_lr("Adagrad", learning_rate, _adaptive.scale_by_rss(
        initial_accumulator_value, epsilon, eps_in_sqrt=True, accumulator_dtype=PARAMS))


@keras_optimizer(**_SPELLED)
def Adadelta(
    learning_rate: ScalarOrSchedule = 0.001,
    rho: float = 0.95,
    epsilon: float = 1e-7,
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
    return _with_lr("Adadelta", learning_rate, _adaptive.scale_by_adadelta(
        rho, epsilon, accumulator_dtype=PARAMS))


@keras_optimizer(arguments=scale_by_ftrl)
def Ftrl(**arguments) -> optax.GradientTransformation:
    r"""``keras.optimizers.Ftrl``: FTRL-Proximal (McMahan et al., 2013).

    The update rule, with ``n`` the accumulator and ``z`` the linear term, is
    :func:`optzoo.transforms.scale_by_ftrl`'s::

        n_new = n + g^2;  z += g + 2 * l2_shrinkage * w - (n_new^(-p) - n^(-p)) / lr * w
        w_new = (clip(z, -l1, l1) - z) / (n_new^(-p) / lr + 2 * (l2 + beta / (2 lr)))

    with ``p = learning_rate_power``. The weights are solved for, not stepped: the
    decoupled ``weight_decay`` only changes the ``w`` the formulas read. Neither
    PyTorch nor optax has FTRL.
    """
    return scale_by_ftrl(**arguments)


@keras_optimizer(**_SPELLED, beta2_decay="beta_2_decay", eps1="epsilon_1", eps2="epsilon_2")
def Adafactor(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_2_decay: float = -0.8,
    epsilon_1: float = 1e-30,
    epsilon_2: float = 1e-3,
    clip_threshold: float = 1.0,
    relative_step: bool = True,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Adafactor`` (Shazeer and Stern, 2018), no momentum.

    With ``t`` the step, ``beta_2_t = 1 - t^beta_2_decay`` and ``sq = g^2 + epsilon_1``::

        rho_t   = min(lr_t, 1 / sqrt(t))
        alpha_t = max(epsilon_2, RMS(w)) * rho_t
        leaves with >= 2 dims (rows r = axis -2, columns c = axis -1):
          r_t = beta_2_t r + (1 - beta_2_t) mean_c(sq)
          c_t = beta_2_t c + (1 - beta_2_t) mean_r(sq)
          v_t = r_t c_t / mean(r_t)
        other leaves:  v_t = beta_2_t v + (1 - beta_2_t) sq
        u_t = g / sqrt(v_t);  u_hat = u_t / max(1, RMS(u_t) / clip_threshold)
        w_t = w - alpha_t * u_hat

    ``RMS(w)`` reads the weights after Keras's decoupled ``weight_decay``.
    ``relative_step`` is accepted and has no effect, exactly as in Keras 3, which
    caps the step at ``1 / sqrt(t)`` either way. PyTorch's ``Adafactor`` clamps
    ``eps`` instead of adding it (``eps = (None, 1e-3)``, clipping ``d = 1``) and
    defaults to ``lr = 0.01``; optax factors the two largest axes only when they
    are >= 128. Built on
    ``scale_by_adafactor(relative_step=True, multiply_by_parameter_scale=True)``,
    whose output is the whole update (learning rate included).
    """
    v.check_bool("Adafactor", "relative_step", relative_step)
    return _factored.scale_by_adafactor(
        learning_rate, beta_2_decay, epsilon_1, epsilon_2, clip_threshold,
        relative_step=True, multiply_by_parameter_scale=True,
        factor_dims="last_two", min_dim_size_to_factor=0, v_dtype=PARAMS,
    )


@keras_optimizer(**_SPELLED)
def Lamb(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Lamb`` (You et al., 2020), per-leaf trust ratio on Adam::

        m_t  = m_{t-1} + (g_t - m_{t-1}) * (1 - beta_1)
        v_t  = v_{t-1} + (g_t^2 - v_{t-1}) * (1 - beta_2)
        r_t  = (m_t / (1 - beta_1^t)) / (sqrt(v_t / (1 - beta_2^t)) + epsilon)
        q_t  = ||w|| / ||r_t||   per leaf (1 where either norm is 0)
        w_t  = w - lr_t * q_t * r_t

    Unlike the paper (and optax's ``lamb``), Keras's weight decay is not inside
    ``r_t`` (so not under the trust ratio): it is Keras's common decoupled decay,
    applied first, and ``||w||`` reads the decayed weights. Here ``epsilon`` is
    added to the root of the bias-corrected ``v`` (unlike Keras's ``Adam``).
    Built as ``chain(scale_by_adam, scale_by_trust_ratio, scale_by_learning_rate)``.
    """
    adam = _adam.scale_by_adam(beta_1, beta_2, epsilon, mu_dtype=PARAMS, nu_dtype=PARAMS)
    return _with_lr("Lamb", learning_rate, adam, _trust_ratio.scale_by_trust_ratio())


@keras_optimizer(**_SPELLED)
def Lion(
    learning_rate: ScalarOrSchedule = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.99,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.Lion`` (Chen et al., 2023)::

        w_t = w - lr_t * sign(beta_1 * m_{t-1} + (1 - beta_1) * g_t)
        m_t = beta_2 * m_{t-1} + (1 - beta_2) * g_t

    ``beta_1`` must be in ``(0, 1]`` (Keras: 0 degenerates to signSGD). Keras's
    decoupled ``weight_decay`` (``w -= lr * wd * w`` first) gives the same numbers
    as optax's ``lion(weight_decay=...)`` since the sign does not read ``w``.
    Built as ``chain(scale_by_lion, scale_by_learning_rate)``.
    """
    v.check_range("Lion", "beta_1", beta_1, 0.0, 1.0, low_open=True)
    return _with_lr("Lion", learning_rate, _sign.scale_by_lion(
        beta_1, beta_2, mu_dtype=PARAMS))


@keras_optimizer(**_SPELLED)
def ScheduleFreeAdamW(
    learning_rate: ScalarOrSchedule = 0.0025,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-8,
    warmup_steps: int = 0,
) -> optax.GradientTransformation:
    r"""``keras.optimizers.ScheduleFreeAdamW`` (Keras 3.15.1): schedule-free AdamW
    (Defazio et al., 2024) in Keras's form. The weights are ``y``; ``z`` (Keras's
    ``momentum`` variable) starts at the initial weights. Step ``t = 1, 2, ...``::

        lr_t = lr(iterations) * min(t / warmup_steps, 1)       (warmup_steps > 0)
        v_t  = v_{t-1} + (g_t^2 - v_{t-1}) (1 - beta_2)
        z_t  = z_{t-1} - lr_t g_t / (sqrt(v_t / (1 - beta_2^t)) + epsilon)
        x    = (y - (1 - beta_1) z_{t-1}) / beta_1
        y   <- (1 - beta_1) z_t + beta_1 ((1 - 1/t) x + (1/t) z_t)

    Keras's common ``weight_decay`` shrinks ``y`` before the step (``z`` is not
    decayed). Built on :func:`optzoo.transforms.scale_by_schedule_free` with
    ``r = weight_lr_power = 0`` (averaging weight ``1/t``) and ``keras_order=True``.
    Differs from ``optzoo.schedule_free_adamw`` (the ``schedulefree`` package) in
    the averaging weight (``(t)^r lr_max^weight_lr_power`` there), in the weight
    decay (added to the direction at ``y`` there) and in the order of operations.
    Keras has no evaluation-params call; ``optzoo.schedule_free_eval_params(state,
    params)`` works on this optimizer's state and returns ``x``. Defaults: Keras's.
    """
    v.check_int("ScheduleFreeAdamW", "warmup_steps", warmup_steps, 0)
    return _schedule_free.scale_by_schedule_free(
        learning_rate, beta_1, beta_2, epsilon, 0.0, warmup_steps, 0.0, 0.0,
        base="adamw", nu_dtype=PARAMS, keras_order=True)


def param_path(path) -> str:
    """A param's path in the pytree as Keras's ``variable.path``: the keys joined
    by ``/`` (dict keys, attribute names, sequence indices), e.g. ``{"dense":
    {"kernel": w}}`` -> ``"dense/kernel"``, Flax's ``params/Embed_0/embedding``."""
    return leaf_path(path)


def _muon_uses_adam(path: str, shape, exclude_layers, exclude_embeddings) -> bool:
    """Keras's ``Muon._should_use_adamw``, on a pytree path."""
    if len(shape) != 2:
        return True
    if exclude_embeddings and "embedding" in path.lower():
        return True
    return any(re.search(keyword, path) for keyword in exclude_layers)


@keras_optimizer(**_SPELLED)
def Muon(
    learning_rate: ScalarOrSchedule = 0.001,
    adam_beta_1: float = 0.9,
    adam_beta_2: float = 0.999,
    adam_weight_decay: float | None = 0.004,
    epsilon: float = 1e-7,
    weight_decay: float | None = 0.004,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    name: str | None = None,
    exclude_layers=None,
    exclude_embeddings: bool = True,
    muon_a: float = 3.4445,
    muon_b: float = -4.7750,
    muon_c: float = 2.0315,
    adam_lr_ratio: float = 1,
    momentum: float = 0.95,
    ns_steps: int = 5,
    nesterov: bool = True,
    rms_rate: float | None = 0.2,
):
    r"""``keras.optimizers.Muon`` (Keras 3.15.1): Muon for the weight matrices,
    Keras's Adam for the rest.

    A leaf takes Adam when it is not 2-D, when ``exclude_embeddings`` and its
    path contains ``"embedding"`` (any case), or when ``re.search(keyword, path)``
    matches for a keyword of ``exclude_layers``. Keras reads ``variable.path``;
    here ``path`` is the leaf's pytree path with its keys joined by ``/``
    (:func:`param_path`: ``{"dense": {"kernel": w}}`` -> ``"dense/kernel"``).

    Matrices (``t = 1, 2, ...``)::

        w   <- w - w * weight_decay * lr_t                 (weight_decay not None)
        m_t  = momentum m_{t-1} + g_t
        u    = g_t + momentum m_t  (nesterov; else m_t)
        X    = NS(u): X_0 = u / (||u||_F + 1e-7), 5 quintic steps with
               (muon_a, muon_b, muon_c), on u^T when u has more rows than columns
        w   <- w - lr_t X sqrt(max(A, B)) rms_rate         (rms_rate None: no factor)

    Others: ``w <- w - w * adam_weight_decay * lr_t`` (not None), then
    :func:`Adam`'s step with ``(adam_beta_1, adam_beta_2, epsilon)`` at
    ``lr_t * adam_lr_ratio`` (its own first moment). Both decays use ``lr_t``
    (not scaled by ``adam_lr_ratio``) and run even when the other is ``None``;
    ``weight_decay_mask`` excludes leaves from both. Keras runs Newton-Schulz in
    the variable's dtype (no bfloat16), as this does. Built on
    :func:`optzoo.transforms.scale_by_muon` (``keras_form=True``,
    ``adjust_lr_fn="match_rms_adamw"``) and :func:`Adam`'s rule, routed by
    ``optax.multi_transform``. Differs from ``optzoo.muon`` (the EMA momentum
    ``(1 - momentum) g``, ``max(||u||, eps)``, Jordan's ``sqrt(max(1, A/B))``, its
    own Adam on the shared moment). Defaults: Keras's.
    """
    fn = "Muon"
    del clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum
    del ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name
    exclude_layers = list(exclude_layers or [])
    v.check_bool(fn, "exclude_embeddings", exclude_embeddings)
    v.check_bool(fn, "nesterov", nesterov)
    v.check_range(fn, "adam_beta_1", adam_beta_1, 0.0, 1.0, high_open=True)
    v.check_nonnegative(fn, "adam_lr_ratio", adam_lr_ratio)
    for label, wd in (("weight_decay", weight_decay), ("adam_weight_decay", adam_weight_decay)):
        if wd is not None:
            v.check_nonnegative(fn, label, wd)

    def labels(params):
        return jax.tree_util.tree_map_with_path(
            lambda path, p: "adam" if _muon_uses_adam(
                param_path(path), jnp.shape(p), exclude_layers, exclude_embeddings) else "muon",
            params)

    def decays(params):
        return jax.tree.map(lambda label: adam_weight_decay if label == "adam" else weight_decay,
                            labels(params))

    adam_lr = learning_rate
    if not _blocks.is_zero(adam_lr_ratio - 1):
        adam_lr = (lambda c: learning_rate(c) * adam_lr_ratio) if callable(learning_rate) \
            else learning_rate * adam_lr_ratio
    muon_rule = _with_lr(fn, learning_rate, _orthogonal.scale_by_muon(
        momentum, nesterov, (muon_a, muon_b, muon_c), ns_steps, 1e-7,
        "none" if rms_rate is None else "match_rms_adamw",
        rms_rate=0.2 if rms_rate is None else rms_rate, keras_form=True, mu_dtype=PARAMS))
    adam_rule = _adam_rule(fn, adam_lr, adam_beta_1, adam_beta_2, epsilon, False)
    rule = optax.multi_transform({"muon": muon_rule, "adam": adam_rule}, labels)
    return rule, dict(weight_decay=decays)
