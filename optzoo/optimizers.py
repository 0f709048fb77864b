"""The optimizers: each is ``chain(building blocks..., scale_by_learning_rate(lr))``.

Every function returns an ``optax.GradientTransformation``. ``learning_rate`` is a
number or any schedule ``step -> lr`` (an optzoo or optax schedule). Invalid
hyperparameters raise ``ValueError`` here, at construction.

Complex params: ``sgd``, ``momentum``, ``nag``, ``adagrad``, ``adadelta``,
``rmsprop``, ``adam``, ``amsgrad``, ``adamw``, ``adamax``, ``nadam``, ``radam``,
``rprop`` and ``asgd`` take them as ``torch.optim`` does, each complex number a
pair of reals on which every operation acts part by part (``|g|`` and ``g^2``
per real and imaginary part, not ``|g|^2``); a complex leaf's state is real with
a trailing axis of 2; ``update`` takes ``jax.grad``'s gradients (the conjugates
of torch's). See :mod:`optzoo.transforms.complex`. The other optimizers raise a
``TypeError`` naming themselves at ``init``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import optax

from optzoo import _blocks as _b
from optzoo import _validate as v
from optzoo import registry as R
from optzoo._blocks import ScalarOrSchedule
from optzoo.transforms import adam as _adam
from optzoo.transforms import adaptive as _adaptive
from optzoo.transforms.complex import with_complex_params
from optzoo.transforms.momentum import scale_by_trace
from optzoo.transforms import averaging as _averaging
from optzoo.transforms import factored as _factored
from optzoo.transforms import orthogonal as _orthogonal
from optzoo.transforms import sign as _sign
from optzoo.transforms import sparse as _sparse
from optzoo.transforms import trust_ratio as _trust
from optzoo.transforms import angd as _angd
from optzoo.transforms import lbfgs as _lbfgs
from optzoo.transforms import newton as _newton

# How the Keras flavors differ from the core optimizers, shared by several records.
KERAS_SGD_LR = ("the learning rate enters the momentum buffer: equal for a constant rate, "
                "different under a schedule")
KERAS_FOLDED = "bias corrections folded into the step size, which moves eps; eps 1e-7"

def _signature_of(block, *, learning_rate: Any = inspect.Parameter.empty, keep=None):
    """Give the decorated constructor the arguments and defaults of ``block`` (those in
    ``keep``; all by default), led by ``learning_rate`` when it is given a default, so
    that an optimizer that is its building block (plus a learning rate) declares its
    arguments once. The constructor receives every argument by keyword."""
    params = [p for p in inspect.signature(block).parameters.values()
              if keep is None or p.name in keep]
    if learning_rate is not inspect.Parameter.empty:
        params.insert(0, inspect.Parameter("learning_rate", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                           default=learning_rate, annotation=ScalarOrSchedule))
    sig = inspect.Signature(params, return_annotation=optax.GradientTransformation)

    def decorate(f):
        @functools.wraps(f)
        def constructor(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            return f(**bound.arguments)

        constructor.__signature__ = sig
        return constructor

    return decorate


# The arguments of the Adam direction that the Adam-family constructors expose, and
# their valid ranges.
_ADAM_ARGS = ("b1", "b2", "eps", "eps_root", "mu_dtype", "nu_dtype")
_LR_RANGE = {"learning_rate": "[0, inf)"}
_ADAM_RANGES = {**_LR_RANGE, "b1": "[0, 1)", "b2": "[0, 1)", "eps": "[0, inf)",
                "eps_root": "[0, inf)"}


# --------------------------------------------------------------------------- SGD family


@R.register(
    family="sgd", reference="Robbins & Monro 1951", year=1951,
    counterparts=(R.torch("SGD"), R.keras("SGD", KERAS_SGD_LR),
                  R.optax("sgd", "decay is optax.add_decayed_weights chained first")),
    ranges={**_LR_RANGE, "momentum": "[0, 1]", "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.05),
              "momentum,wd": dict(learning_rate=0.05, momentum=0.8, weight_decay=1e-3),
              "nesterov": dict(learning_rate=0.05, momentum=0.7, nesterov=True)},
)
@v.named
@with_complex_params
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
    if nesterov and _b.is_zero(momentum):
        raise ValueError(f"{fn}: momentum must be in (0, 1] when nesterov=True, got {momentum!r}")
    blocks = _b.weight_decay(fn, weight_decay)
    if not _b.is_zero(momentum):
        blocks.append(scale_by_trace(momentum, nesterov=nesterov))
    return optax.chain(*blocks, _b.learning_rate(fn, learning_rate))


@R.register(
    family="sgd", reference="Polyak 1964", year=1964,
    counterparts=(R.torch("SGD", "torch.optim.SGD(momentum=beta)"),
                  R.keras("SGD", KERAS_SGD_LR), R.optax("sgd", "optax.sgd(momentum=beta)")),
    ranges={**_LR_RANGE, "beta": "(0, 1]", "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.03, beta=0.85, weight_decay=1e-3)},
)
@v.named
@with_complex_params
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


@R.register(
    family="sgd", reference="Nesterov 1983; Sutskever et al. 2013", year=1983,
    counterparts=(R.torch("SGD", "torch.optim.SGD(momentum=beta, nesterov=True)"),
                  R.keras("SGD", KERAS_SGD_LR),
                  R.optax("sgd", "optax.sgd(momentum=beta, nesterov=True)")),
    ranges={**_LR_RANGE, "beta": "(0, 1]", "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.03, beta=0.8)},
)
@v.named
@with_complex_params
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


@R.register(
    family="adaptive", reference="Duchi, Hazan & Singer 2011", year=2011,
    counterparts=(R.torch("Adagrad",
                          "eps outside the root (eps_in_sqrt=False), accumulator from 0"),
                  R.keras("Adagrad", "learning_rate 0.001 by default"), R.optax("adagrad")),
    ranges={**_LR_RANGE, "initial_accumulator_value": "[0, inf)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.2, initial_accumulator_value=0.05, eps=1e-6),
              "torch": dict(learning_rate=0.2, initial_accumulator_value=0.0, eps=1e-8,
                            eps_in_sqrt=False)},
)
@v.named
@with_complex_params
@_signature_of(_adaptive.scale_by_rss, learning_rate=1e-2)
def adagrad(learning_rate, **kwargs) -> optax.GradientTransformation:
    r"""AdaGrad (Duchi, Hazan and Singer, 2011).

    ::

        sum_of_squares_t = initial_accumulator_value + sum_{i<=t} g_i^2
        params_t = params_{t-1} - learning_rate * g_t / sqrt(sum_of_squares_t + eps)

    With ``eps_in_sqrt=False`` the denominator is ``sqrt(sum_of_squares_t) + eps``
    (PyTorch). Defaults: ``initial_accumulator_value = 0.1`` and ``eps = 1e-7``
    as optax and Keras; ``learning_rate = 1e-2`` as PyTorch. Equals ``optax.adagrad``.
    ``accumulator_dtype`` (default float32 for half-precision params): see ``scale_by_rss``.
    """
    return optax.chain(_adaptive.scale_by_rss(**kwargs), _b.learning_rate("adagrad", learning_rate))


@R.register(
    family="adaptive", reference="Zeiler 2012", year=2012,
    counterparts=(R.torch("Adadelta", "torch's default rho is 0.9"),
                  R.keras("Adadelta", "Keras defaults: learning_rate 0.001, eps 1e-7"),
                  R.optax("adadelta", "optax's default rho is 0.9")),
    ranges={**_LR_RANGE, "rho": "[0, 1]", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.5, rho=0.9, eps=1e-5)},
)
@v.named
@with_complex_params
@_signature_of(_adaptive.scale_by_adadelta, learning_rate=1.0)
def adadelta(learning_rate, **kwargs) -> optax.GradientTransformation:
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
    return optax.chain(_adaptive.scale_by_adadelta(**kwargs),
                       _b.learning_rate("adadelta", learning_rate))


@R.register(
    family="adaptive", reference="Hinton 2012 (lecture 6e); Graves 2013", year=2012,
    counterparts=(R.torch("RMSprop", "eps outside the root (eps_in_sqrt=False); decay is alpha"),
                  R.keras("RMSprop", "with momentum the learning rate enters the buffer"),
                  R.optax("rmsprop", "with momentum the learning rate enters the buffer")),
    ranges={**_LR_RANGE, "decay": "[0, 1]", "eps": "[0, inf)", "initial_scale": "[0, inf)",
            "momentum": "[0, 1]"},
    examples={"": dict(learning_rate=0.01, decay=0.95, eps=1e-7, initial_scale=0.1),
              "centered,momentum": dict(learning_rate=0.01, decay=0.8, eps=1e-6,
                                        eps_in_sqrt=False, centered=True, momentum=0.5,
                                        nesterov=True)},
)
@v.named
@with_complex_params
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
    and Keras. Equals ``optax.rmsprop`` at the same hyperparameters with a constant
    learning rate. With momentum and a schedule they differ: the learning rate
    multiplies the whole buffer here (as PyTorch), while optax and Keras put it
    inside the buffer (``buf_t = momentum * buf_{t-1} + lr_t * d_t``). ``nu_dtype``
    (default float32 for half-precision params): see ``scale_by_rms``.
    """
    fn = "rmsprop"
    v.check_range(fn, "momentum", momentum, 0.0, 1.0)
    blocks = [
        _adaptive.scale_by_rms(decay, eps, initial_scale, eps_in_sqrt, centered, nu_dtype=nu_dtype)
    ]
    if not _b.is_zero(momentum):
        blocks.append(scale_by_trace(momentum, nesterov=nesterov))
    return optax.chain(*blocks, _b.learning_rate(fn, learning_rate))


# --------------------------------------------------------------------------- Adam family


@R.register(
    family="adam", reference="Kingma & Ba 2015", year=2015,
    counterparts=(R.torch("Adam"), R.keras("Adam", KERAS_FOLDED), R.optax("adam")),
    ranges=_ADAM_RANGES,
    examples={"": dict(learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9)},
)
@v.named
@with_complex_params
@_signature_of(_adam.scale_by_adam, learning_rate=1e-3, keep=_ADAM_ARGS)
def adam(learning_rate, **kwargs) -> optax.GradientTransformation:
    r"""Adam (Kingma and Ba, 2015).

    ::

        mu_t = b1 * mu_{t-1} + (1 - b1) * g_t
        nu_t = b2 * nu_{t-1} + (1 - b2) * g_t^2
        params_t = params_{t-1}
                   - learning_rate * (mu_t / (1 - b1^t)) / (sqrt(nu_t / (1 - b2^t) + eps_root) + eps)

    Defaults are the paper's. Equals ``optax.adam`` and ``torch.optim.Adam``.
    ``mu_dtype`` / ``nu_dtype``: the moments' dtype, by default the params' except
    float32 for float16 and bfloat16 params (as Keras mixed precision and PyTorch
    AMP keep optimizer state); a dtype, or ``"params"``, asks for another (see
    :mod:`optzoo.transforms._dtypes`); the arithmetic is at least float32
    whatever the storage. The same in every Adam-family alias.
    Keras folds the bias corrections into the step size, which moves eps; see
    ``optzoo.keras.Adam``.
    """
    return optax.chain(_adam.scale_by_adam(**kwargs), _b.learning_rate("adam", learning_rate))


@R.register(
    family="adam", reference="Reddi, Kale & Kumar 2018", year=2018,
    counterparts=(R.torch("Adam", "torch.optim.Adam(amsgrad=True)"),
                  R.keras("Adam", "keras.optimizers.Adam(amsgrad=True); " + KERAS_FOLDED),
                  R.optax("amsgrad", "optax takes the maximum of the bias-corrected nu")),
    ranges=_ADAM_RANGES,
    examples={"": dict(learning_rate=0.02, b1=0.85, b2=0.95, eps=1e-6)},
)
@v.named
@with_complex_params
@_signature_of(_adam.scale_by_adam, learning_rate=1e-3, keep=_ADAM_ARGS)
def amsgrad(learning_rate, **kwargs) -> optax.GradientTransformation:
    r"""AMSGrad (Reddi, Kale and Kumar, 2018): Adam with a non-decreasing ``nu``.

    ::

        nu_max_t = max(nu_max_{t-1}, nu_t)
        params_t = params_{t-1}
                   - learning_rate * (mu_t / (1 - b1^t)) / (sqrt(nu_max_t / (1 - b2^t) + eps_root) + eps)

    The maximum is over raw ``nu`` as in PyTorch (``amsgrad=True``) and Keras.
    ``optax.amsgrad`` takes the maximum of the bias-corrected ``nu`` instead, so
    the two differ while ``1 - b2^t`` still changes.
    """
    return optax.chain(_adam.scale_by_adam(amsgrad=True, **kwargs),
                       _b.learning_rate("amsgrad", learning_rate))


@R.register(
    family="adam", reference="Loshchilov & Hutter 2019", year=2019,
    counterparts=(R.torch("AdamW"),
                  R.keras("AdamW", "decay applied before the step; default weight_decay 0.004; "
                          + KERAS_FOLDED),
                  R.optax("adamw", "optax's default weight_decay is 1e-4")),
    ranges={**_ADAM_RANGES, "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.05)},
)
@v.named
@with_complex_params
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
    norm scales are usually excluded. The default ``weight_decay = 1e-2`` is
    PyTorch's (``torch.optim.AdamW``); ``optax.adamw`` defaults to ``1e-4`` and
    Keras's ``AdamW`` to ``0.004``, so pass ``weight_decay`` when porting from
    them. Equals ``optax.adamw`` at the same hyperparameters (weight decay
    included).
    """
    fn = "adamw"
    return optax.chain(
        _adam.scale_by_adam(b1, b2, eps, eps_root, mu_dtype=mu_dtype, nu_dtype=nu_dtype),
        *_b.weight_decay(fn, weight_decay, mask),
        _b.learning_rate(fn, learning_rate),
    )


@R.register(
    family="adam", reference="Kingma & Ba 2015, section 7.1", year=2015,
    counterparts=(R.torch("Adamax"), R.keras("Adamax", "eps in the denominator, not in the max"),
                  R.optax("adamax")),
    ranges={**_LR_RANGE, "b1": "[0, 1)", "b2": "[0, 1)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-6)},
)
@v.named
@with_complex_params
@_signature_of(_adam.scale_by_adamax, learning_rate=2e-3,
               keep=("b1", "b2", "eps", "mu_dtype", "nu_dtype"))
def adamax(learning_rate, **kwargs) -> optax.GradientTransformation:
    r"""AdaMax (Kingma and Ba, 2015, section 7.1): Adam with the infinity norm.

    ::

        mu_t = b1 * mu_{t-1} + (1 - b1) * g_t
        u_t  = max(b2 * u_{t-1}, |g_t| + eps)
        params_t = params_{t-1} - learning_rate / (1 - b1^t) * mu_t / u_t

    ``learning_rate = 2e-3`` is the paper's. Equals ``optax.adamax`` and
    ``torch.optim.Adamax``; Keras puts eps in the denominator instead.
    """
    return optax.chain(_adam.scale_by_adamax(**kwargs), _b.learning_rate("adamax", learning_rate))


@R.register(
    family="adam", reference="Dozat 2016", year=2016,
    counterparts=(R.torch("NAdam"), R.keras("Nadam", "Keras's momentum schedule and eps 1e-7"),
                  R.optax("nadam", "equal with momentum_decay=None")),
    ranges={**_ADAM_RANGES, "momentum_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.85, b2=0.995, eps=1e-6, momentum_decay=0.01),
              "optax": dict(learning_rate=0.01, momentum_decay=None)},
)
@v.named
@with_complex_params
@_signature_of(_adam.scale_by_nadam, learning_rate=2e-3)
def nadam(learning_rate, **kwargs) -> optax.GradientTransformation:
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
    return optax.chain(_adam.scale_by_nadam(**kwargs), _b.learning_rate("nadam", learning_rate))


@R.register(
    family="adam", reference="Liu et al. 2020", year=2020,
    counterparts=(R.torch("RAdam"),
                  R.optax("radam", "optax rectifies at rho_t == threshold too (>=)")),
    ranges={**_ADAM_RANGES, "threshold": "[4, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.85, b2=0.99, eps=1e-6, threshold=6.0)},
)
@v.named
@with_complex_params
@_signature_of(_adam.scale_by_radam, learning_rate=1e-3,
               keep=("b1", "b2", "eps", "eps_root", "threshold", "mu_dtype", "nu_dtype"))
def radam(learning_rate, **kwargs) -> optax.GradientTransformation:
    r"""RAdam (Liu et al., 2020): Adam whose adaptive rate is rectified early on.

    ::

        rho_inf = 2 / (1 - b2) - 1,    rho_t = rho_inf - 2 t b2^t / (1 - b2^t)
        r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        d_t = r_t * mu_hat_t / (sqrt(nu_hat_t + eps_root) + eps)  if rho_t > threshold else mu_hat_t
        params_t = params_{t-1} - learning_rate * d_t

    ``threshold = 5`` is PyTorch's rectification rule. Equals ``optax.radam``
    except at ``rho_t == threshold`` exactly (optax uses ``>=``).
    """
    return optax.chain(_adam.scale_by_radam(**kwargs), _b.learning_rate("radam", learning_rate))


# ------------------------------------------- large-batch, sign-based, factored, averaged, sparse



@R.register(
    family="trust ratio", reference="You, Gitman & Ginsburg 2017", year=2017,
    counterparts=(R.optax("lars"),),
    ranges={**_LR_RANGE, "momentum": "[0, 1]", "trust_coefficient": "(0, inf)",
            "weight_decay": "[0, inf)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.05, momentum=0.8, trust_coefficient=0.01,
                       weight_decay=1e-3, eps=1e-8, nesterov=True)},
)
@v.named
def lars(
    learning_rate: ScalarOrSchedule,
    momentum: float = 0.9,
    trust_coefficient: float = 1e-3,
    weight_decay: float = 5e-4,
    eps: float = 0.0,
    nesterov: bool = False,
    *,
    weight_decay_mask: Any = _trust.weight_matrices_mask,
    trust_ratio_mask: Any = _trust.weight_matrices_mask,
) -> optax.GradientTransformation:
    r"""LARS: layer-wise adaptive rate scaling (You, Gitman and Ginsburg, 2017, Algorithm 1).

    Per leaf ("layer")::

        d_t      = g_t + weight_decay * params_{t-1}           (where weight_decay_mask)
        ratio_t  = trust_coefficient * ||params_{t-1}|| / (||d_t|| + eps)   (where trust_ratio_mask;
                   1 if either norm is 0, and on masked-out leaves)
        buf_t    = momentum * buf_{t-1} + learning_rate_t * ratio_t * d_t
        params_t = params_{t-1} - buf_t           (Nesterov: - (lr_t ratio_t d_t + momentum buf_t))

    The global learning rate enters the momentum buffer, as in the paper.
    Defaults from the paper's ImageNet runs: ``trust_coefficient = 1e-3``,
    ``momentum = 0.9``, ``weight_decay = 5e-4``; biases and normalisation
    parameters (leaves with fewer than two dimensions) are excluded from both
    the decay and the trust ratio (:func:`optzoo.transforms.weight_matrices_mask`);
    pass ``True`` to include every leaf.

    Equals ``optax.lars`` with the same masks. The paper's denominator is
    ``||g|| + weight_decay ||params||``; here, as in optax, it is ``||d_t||``
    (see :func:`optzoo.transforms.scale_by_trust_ratio`). PyTorch and Keras have no LARS.
    """
    fn = "lars"
    v.check_range(fn, "momentum", momentum, 0.0, 1.0)
    v.check_bool(fn, "nesterov", nesterov)
    v.check_static(fn, "trust_ratio_mask", trust_ratio_mask, "a bool or a mask")
    blocks = _b.weight_decay(fn, weight_decay, weight_decay_mask)
    trust = _trust.scale_by_trust_ratio(trust_coefficient, eps)
    blocks.append(trust if trust_ratio_mask is True else optax.masked(trust, trust_ratio_mask))
    blocks.append(_b.learning_rate(fn, learning_rate))
    if not _b.is_zero(momentum):
        blocks.append(scale_by_trace(momentum, nesterov=nesterov))
    return optax.chain(*blocks)


@R.register(
    family="trust ratio", reference="You et al. 2020", year=2020,
    counterparts=(R.keras("Lamb", "decay shrinks the params before the step, outside the ratio; "
                          "eps 1e-7"), R.optax("lamb")),
    ranges={**_ADAM_RANGES, "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.85, b2=0.99, eps=1e-5, weight_decay=0.01)},
)
@v.named
def lamb(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    *,
    mask: Any = None,
    trust_ratio_mask: Any = True,
    mu_dtype=None,
) -> optax.GradientTransformation:
    r"""LAMB: Adam with a layer-wise trust ratio (You et al., 2020, Algorithm 2).

    ::

        r_t      = mu_hat_t / (sqrt(nu_hat_t + eps_root) + eps)       (Adam's direction)
        d_t      = r_t + weight_decay * params_{t-1}                  (where mask)
        params_t = params_{t-1} - learning_rate * ||params_{t-1}|| / ||d_t|| * d_t
                   (per leaf; ratio 1 if either norm is 0)

    Defaults: ``b1, b2 = 0.9, 0.999`` and ``eps = 1e-6`` are the paper's;
    ``learning_rate = 1e-3`` is Keras's; no decay by default (optax, Keras). The
    paper's scaling function ``phi`` is the identity here, as in its experiments.
    ``mask`` selects the decayed leaves, ``trust_ratio_mask`` those that get the
    ratio (e.g. :func:`optzoo.transforms.weight_matrices_mask`).

    Equals ``optax.lamb``. Keras ``Lamb`` (eps 1e-7) has no decay inside the
    ratio: its ``weight_decay`` shrinks the params before the step, so its
    ratio uses the decayed params' norm and ``d_t = r_t``.
    """
    fn = "lamb"
    v.check_static(fn, "trust_ratio_mask", trust_ratio_mask, "a bool or a mask")
    trust = _trust.scale_by_trust_ratio()
    return optax.chain(
        _adam.scale_by_adam(b1, b2, eps, eps_root, mu_dtype=mu_dtype),
        *_b.weight_decay(fn, weight_decay, mask),
        trust if trust_ratio_mask is True else optax.masked(trust, trust_ratio_mask),
        _b.learning_rate(fn, learning_rate),
    )


@R.register(
    family="sign", reference="Riedmiller & Braun 1993; Igel & Huesken 2000", year=1993,
    counterparts=(R.torch("Rprop", "torch's initial step size is 0.01"),
                  R.optax("rprop", "optax applies each update one step late")),
    ranges={"learning_rate": "(0, inf)", "eta_minus": "(0, 1)", "eta_plus": "(1, inf)",
            "min_step_size": "[0, inf)", "max_step_size": "[1e-06, inf)"},
    examples={"": dict(learning_rate=0.05, eta_minus=0.4, eta_plus=1.3, min_step_size=1e-5,
                       max_step_size=10.0)},
)
@v.named
@with_complex_params
@_signature_of(_sign.scale_by_rprop)
def rprop(**kwargs) -> optax.GradientTransformation:
    r"""Rprop, resilient backpropagation (Riedmiller and Braun, 1993), in the iRprop-
    form of PyTorch (Igel and Huesken, 2000).

    Per coordinate, with ``s = sign(g_t * prev_{t-1})``::

        step_t   = clip(step_{t-1} * (eta_plus if s > 0, eta_minus if s < 0, else 1),
                        min_step_size, max_step_size)          (step_0 = learning_rate)
        prev_t   = 0 where s < 0 else g_t
        params_t = params_{t-1} - step_t * sign(prev_t)

    ``learning_rate`` is only the initial step size (a number, not a schedule):
    Rprop ignores gradient magnitudes and is meant for full-batch training.
    Defaults are Riedmiller and Braun's (initial step 0.1; PyTorch uses 0.01).
    Equals ``torch.optim.Rprop``. ``optax.rprop`` shares the step-size rule but
    applies each update one step late, so its iterates differ; see
    :func:`optzoo.transforms.scale_by_rprop`.
    """
    return optax.chain(_sign.scale_by_rprop(**kwargs))


@R.register(
    family="averaging", reference="Polyak & Juditsky 1992", year=1992,
    counterparts=(R.torch("ASGD"),),
    ranges={**_LR_RANGE, "lambd": "[0, inf)", "alpha": "[0, inf)", "t0": "[0, inf)",
            "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.05, lambd=1e-3, alpha=0.7, t0=5.0, weight_decay=1e-3)},
)
@v.named
@with_complex_params
def asgd(
    learning_rate: ScalarOrSchedule = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    r"""Averaged SGD (Polyak and Juditsky, 1992; schedule of Bottou, 2012).

    ::

        eta_t    = learning_rate / (1 + lambd * learning_rate * (t - 1))^alpha
        params_t = params_{t-1} * (1 - lambd * eta_t) - eta_t * (g_t + weight_decay * params_{t-1})
        ax_t     = ax_{t-1} + (params_t - ax_{t-1}) / max(1, t - 1 - t0)
                 = mean(params_{t0+2}, ..., params_t)        (integer t0, t > t0 + 1)

    The averaged iterate ``ax`` is what ASGD returns as its estimate; read it
    with :func:`optzoo.asgd_averaged_params` ``(state)``. Defaults are
    PyTorch's. Equals ``torch.optim.ASGD``; optax has no ASGD.
    ``update`` needs ``params``. See :func:`optzoo.transforms.scale_by_asgd`.
    """
    return optax.chain(_averaging.scale_by_asgd(learning_rate, lambd, alpha, t0, weight_decay))


@R.register(
    family="factored", reference="Shazeer & Stern 2018", year=2018,
    counterparts=(R.torch("Adafactor", "torch's variant: options of scale_by_adafactor"),
                  R.keras("Adafactor", "Keras's variant: options of scale_by_adafactor"),
                  R.optax("adafactor", "close: optax's defaults and clipping differ")),
    ranges={**_LR_RANGE, "beta2_decay": "(-inf, 0]", "eps1": "[0, inf)", "eps2": "[0, inf)",
            "clip_threshold": "[1, inf)", "weight_decay": "[0, inf)",
            "min_dim_size_to_factor": "[0, inf)"},
    examples={"": dict(learning_rate=0.02, beta2_decay=-0.7, eps2=1e-2, clip_threshold=2.0,
                       relative_step=False, min_dim_size_to_factor=2)},
)
@v.named
@_signature_of(_factored.scale_by_adafactor, keep=(
    "learning_rate", "beta2_decay", "eps1", "eps2", "clip_threshold", "relative_step",
    "multiply_by_parameter_scale", "weight_decay", "factor_dims", "min_dim_size_to_factor"))
def adafactor(**kwargs) -> optax.GradientTransformation:
    r"""Adafactor (Shazeer and Stern, 2018): factored second moments, relative step
    size, update clipping and the ``1 - t^beta2_decay`` decay-rate schedule.

    For a matrix gradient ``g`` (rows r, columns c) at step ``t``::

        beta2_t  = 1 - t^beta2_decay
        v_row_t  = beta2_t v_row + (1 - beta2_t) mean_c(g^2 + eps1)
        v_col_t  = beta2_t v_col + (1 - beta2_t) mean_r(g^2 + eps1)
        u        = g / sqrt(v_row_t v_col_t / mean_r(v_row_t))
        u_hat    = u / max(1, RMS(u) / clip_threshold)
        rho_t    = min(learning_rate_t, 1 / sqrt(t))          (relative_step)
        params_t = params_{t-1} - max(eps2, RMS(params_{t-1})) rho_t u_hat
                   - learning_rate_t * weight_decay * params_{t-1}

    Vectors and scalars keep a full ``v``. Memory is ``r + c`` per matrix
    instead of ``r c``. Defaults are the paper's. The PyTorch, Keras and optax
    variants are options of :func:`optzoo.transforms.scale_by_adafactor`; see
    ``optzoo.pytorch.Adafactor`` and ``optzoo.keras.Adafactor``.
    """
    if kwargs["clip_threshold"] is not None:  # the paper's d >= 1 (the block takes > 0, as Keras)
        v.check_range("adafactor", "clip_threshold", kwargs["clip_threshold"], 1.0)
    return optax.chain(_factored.scale_by_adafactor(**kwargs))


@R.register(
    family="lazy", reference="Kingma & Ba 2015 (lazy variant)", year=2015,
    counterparts=(R.torch("SparseAdam", "eps placed as torch with eps_hat=True"),
                  R.optax("adam", "equal when every row is touched")),
    ranges=_ADAM_RANGES,
    examples={"": dict(learning_rate=0.02, b1=0.8, b2=0.99, eps=1e-6)},
)
@v.named
@_signature_of(_sparse.scale_by_sparse_adam, learning_rate=1e-3)
def sparse_adam(learning_rate, **kwargs) -> optax.GradientTransformation:
    r"""Lazy Adam for embedding tables: rows whose gradient is entirely zero leave
    the parameter and both moments untouched.

    On touched rows, Adam (Kingma and Ba, 2015) with the global step ``t``::

        mu_t = b1 mu_{t-1} + (1 - b1) g_t,     nu_t = b2 nu_{t-1} + (1 - b2) g_t^2
        params_t = params_{t-1}
                   - learning_rate * (mu_t / (1 - b1^t)) / (sqrt(nu_t / (1 - b2^t) + eps_root) + eps)

    Untouched rows: ``params_t = params_{t-1}``, ``mu_t = mu_{t-1}``,
    ``nu_t = nu_{t-1}`` bit for bit. Defaults are Adam's. ``eps_hat=True``
    places eps as ``torch.optim.SparseAdam`` does. optax has no lazy Adam.
    See :func:`optzoo.transforms.scale_by_sparse_adam`.
    """
    return optax.chain(_sparse.scale_by_sparse_adam(**kwargs),
                       _b.learning_rate("sparse_adam", learning_rate))


@R.register(
    family="sign", reference="Chen et al. 2023", year=2023,
    counterparts=(R.keras("Lion"), R.optax("lion", "optax's default weight_decay is 1e-3")),
    ranges={**_LR_RANGE, "b1": "[0, 1]", "b2": "[0, 1]", "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=3e-3, b1=0.8, b2=0.95, weight_decay=0.01)},
)
@v.named
def lion(
    learning_rate: ScalarOrSchedule = 1e-4,
    b1: float = 0.9,
    b2: float = 0.99,
    weight_decay: float = 0.0,
    *,
    mask: Any = None,
    mu_dtype=None,
) -> optax.GradientTransformation:
    r"""Lion, evolved sign momentum (Chen et al., 2023).

    ::

        params_t = params_{t-1} - learning_rate * (sign(b1 mu_{t-1} + (1 - b1) g_t)
                                                   + weight_decay * params_{t-1})
        mu_t     = b2 mu_{t-1} + (1 - b2) g_t

    Defaults are the paper's reference implementation (``learning_rate = 1e-4``,
    ``b1 = 0.9``, ``b2 = 0.99``, no decay; the paper advises a learning rate
    3-10x below AdamW's and a decay 3-10x above). Equals ``optax.lion`` (whose
    default ``weight_decay`` is 1e-3) and ``keras.optimizers.Lion``.
    """
    fn = "lion"
    return optax.chain(
        _sign.scale_by_lion(b1, b2, mu_dtype=mu_dtype),
        *_b.weight_decay(fn, weight_decay, mask),
        _b.learning_rate(fn, learning_rate),
    )


@R.register(
    family="orthogonal", reference="Jordan et al. 2024", year=2024,
    counterparts=(R.torch("Muon", "torch's Muon takes only matrices and runs Newton-Schulz in "
                          "bfloat16 (ns_dtype=jnp.bfloat16)"),
                  R.keras("Muon", "momentum as a sum (mu = momentum mu + g), norm + eps before "
                          "Newton-Schulz, rms_rate sqrt(max(A, B)) (match_rms_adamw), "
                          "Keras's Adam with its own betas and adam_lr_ratio for non-matrices "
                          "and for paths excluded by name (exclude_embeddings, "
                          "exclude_layers), separate adam_weight_decay, Keras defaults "
                          "(learning_rate 0.001, weight_decay 0.004)")),
    ranges={**_LR_RANGE, "momentum": "[0, 1)", "ns_steps": "[0, 99]", "eps": "[0, inf)",
            "weight_decay": "[0, inf)", "b2": "[0, 1)", "adam_eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, momentum=0.9, ns_steps=4, weight_decay=0.01)},
)
@v.named
def muon(
    learning_rate: ScalarOrSchedule = 0.02,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients=_orthogonal.MUON_NS_COEFFICIENTS,
    ns_steps: int = 5,
    eps: float = 1e-7,
    adjust_lr_fn: str = "original",
    weight_decay: float = 0.0,
    *,
    fallback: str = "adam",
    b2: float = 0.999,
    adam_eps: float = 1e-8,
    mask: Any = None,
    ns_dtype=None,
    mu_dtype=None,
) -> optax.GradientTransformation:
    r"""Muon: Newton-Schulz orthogonalised momentum for weight matrices (Jordan et al., 2024).

    For a matrix leaf of shape ``(A, B)``::

        mu_t     = momentum mu_{t-1} + (1 - momentum) g_t
        m_t      = (1 - momentum) g_t + momentum mu_t            (nesterov; else mu_t)
        params_t = params_{t-1} - learning_rate * (sqrt(max(1, A / B)) NS(m_t)
                                                   + weight_decay * params_{t-1})

    with ``NS`` five steps of the quintic Newton-Schulz iteration
    (:func:`optzoo.transforms.newton_schulz`). Leaves that are not matrices take
    the ``fallback`` (Adam on the same moment, or plain momentum) at the same
    learning rate. Defaults are Jordan's (``learning_rate = 0.02``,
    ``momentum = 0.95``, Nesterov, 5 steps). ``torch.optim.Muon`` (which takes
    only matrices) is this with ``ns_dtype=jnp.bfloat16``; see
    :func:`optzoo.transforms.scale_by_muon` and ``optzoo.pytorch.Muon``.
    """
    fn = "muon"
    return optax.chain(
        _orthogonal.scale_by_muon(
            momentum, nesterov, ns_coefficients, ns_steps, eps, adjust_lr_fn,
            fallback=fallback, b2=b2, adam_eps=adam_eps, ns_dtype=ns_dtype, mu_dtype=mu_dtype,
        ),
        *_b.weight_decay(fn, weight_decay, mask),
        _b.learning_rate(fn, learning_rate),
    )


# --------------------------------------------------------------------------- second order



@R.register(
    family="second order", reference="Liu & Nocedal 1989", year=1989,
    counterparts=(R.torch("LBFGS", "torch runs several iterations per step"),
                  R.optax("lbfgs", "pairs with non-positive curvature are skipped here")),
    ranges={"memory_size": "[1, inf)", "max_linesearch_steps": "[1, inf)"},
    examples={"": dict(memory_size=4, max_linesearch_steps=10),
              "lr": dict(learning_rate=0.05, memory_size=3, linesearch=None)},
    extra_args=("value", "grad", "value_fn"),
)
@v.named
def lbfgs(
    learning_rate: Any = None,
    memory_size: int = 10,
    scale_init_precond: bool = True,
    linesearch: Any = "zoom",
    max_linesearch_steps: int = 20,
) -> optax.GradientTransformationExtraArgs:
    r"""L-BFGS with a line search, in optax's protocol.

    ::

        d_k = -H_k g_k                       (scale_by_lbfgs: two-loop recursion)
        d_k = learning_rate_k * d_k          (when learning_rate is given)
        eta_k from the line search along d_k (zoom: strong Wolfe conditions)
        params_{k+1} = params_k + eta_k d_k

    Call ``update(grad, state, params, value=f(params), grad=grad, value_fn=f)``.
    The zoom line search (``optax.scale_by_zoom_linesearch``, Nocedal and Wright,
    Algorithms 3.5 and 3.6, with initial step 1) stores the value and gradient at
    the accepted point, so ``optax.value_and_grad_from_state(f)`` recovers them
    without a new evaluation. ``linesearch="backtracking"`` uses
    ``optax.scale_by_backtracking_linesearch`` (Armijo only), ``None`` takes the
    raw step (then ``learning_rate`` should be given).

    Args:
      learning_rate: optional scale (number or schedule) before the line search;
        ``None`` (the default, as optax) leaves the step length to the line search.
      memory_size: curvature pairs kept (default 10, as optax and SciPy's ``maxcor``).
      scale_init_precond: ``H0 = gamma I`` with ``gamma = s.y / y.y``.
      linesearch: ``"zoom"``, ``"backtracking"``, ``None`` or any optax
        ``GradientTransformationExtraArgs`` line search.
      max_linesearch_steps: trials per line search (default 20, as optax).

    With the defaults this equals ``optax.lbfgs()`` (tested), except that pairs
    with non-positive curvature are skipped (see :func:`optzoo.transforms.scale_by_lbfgs`).
    ``optzoo.pytorch.LBFGS`` is PyTorch's variant (several iterations per step).
    Cost per step: one gradient plus the line search's evaluations, and
    ``4 * memory_size`` inner products; memory ``2 * memory_size + 2`` params.
    """
    fn = "lbfgs"
    if learning_rate is not None:
        v.check_learning_rate(fn, learning_rate)
    v.check_int(fn, "max_linesearch_steps", max_linesearch_steps, 1)
    if isinstance(linesearch, str) or linesearch is None:
        v.check_choice(fn, "linesearch", linesearch, ("zoom", "backtracking", None))
        if linesearch == "zoom":
            linesearch = optax.scale_by_zoom_linesearch(
                max_linesearch_steps=max_linesearch_steps, initial_guess_strategy="one"
            )
        elif linesearch == "backtracking":
            linesearch = optax.scale_by_backtracking_linesearch(
                max_backtracking_steps=max_linesearch_steps, store_grad=True
            )
        else:
            linesearch = optax.identity()
    if learning_rate is None:
        scaling = optax.scale(-1.0)
    else:
        scaling = optax.scale_by_learning_rate(learning_rate)
    direction = _lbfgs.scale_by_lbfgs(memory_size, scale_init_precond)
    tx = optax.chain(direction, scaling, linesearch)
    if not isinstance(linesearch, optax.GradientTransformationExtraArgs):
        return tx  # no line search: the raw step needs no extra arguments
    return _line_search_args(v.owner(fn), tx)


def _line_search_args(owner: str, tx) -> optax.GradientTransformationExtraArgs:
    """``tx`` whose update first checks for what a line search needs, so that a
    missing ``value``/``grad``/``value_fn`` names the optimizer (optax's line searches
    raise a TypeError from their own update function)."""

    def update_fn(updates, state, params=None, *, value=None, grad=None, value_fn=None, **extra):
        v.require_args(owner, params, value=value, grad=grad, value_fn=value_fn)
        return tx.update(updates, state, params, value=value, grad=grad, value_fn=value_fn,
                         **extra)

    return optax.GradientTransformationExtraArgs(tx.init, update_fn)


@R.register(
    family="second order", reference="Newton's method (damped: Levenberg 1944)", year=None,
    ranges={**_LR_RANGE, "damping": "[0, inf)"},
    examples={"": dict(learning_rate=0.5, damping=0.1)},
    extra_args=("value_fn",),
)
@v.named
def newton(learning_rate: Any = 1.0, damping: float = 0.0) -> optax.GradientTransformationExtraArgs:
    r"""Damped Newton's method with the explicit Hessian, for small problems.

    ::

        H = hessian(value_fn)(params)                   (n x n, params flattened)
        params <- params - learning_rate * (H + damping I)^{-1} grad

    ``learning_rate = 1`` and ``damping = 0`` (the defaults) are the pure Newton
    step, exact in one step on a quadratic; ``damping > 0`` is the
    Levenberg-Marquardt-style regulariser that keeps the step well conditioned
    (and a descent direction once ``damping > -lambda_min(H)``). Where
    ``H + damping I`` is singular the step is the least-norm least-squares
    solution ``pinv(H + damping I) grad`` instead of a NaN (see
    :func:`optzoo.transforms.scale_by_newton`). Call
    ``update(grad, state, params, value_fn=loss)``. Size limit: ``n^2`` floats for
    ``H`` (n = 10^4 float32 is 400 MB) and ``O(n^3)`` time; beyond a few thousand
    parameters use :func:`newton_cg`. optax has no Newton method.
    """
    return optax.chain(_newton.scale_by_newton(damping), _b.learning_rate("newton", learning_rate))


@R.register(
    family="second order", reference="Martens 2010; Nocedal & Wright 2006, sec. 7.1", year=2010,
    ranges={**_LR_RANGE, "damping": "[0, inf)", "max_cg_iters": "[1, inf)", "cg_tol": "[0, inf)"},
    examples={"": dict(learning_rate=0.5, damping=0.1, max_cg_iters=10, cg_tol=1e-6)},
    extra_args=("value_fn",),
)
@v.named
def newton_cg(
    learning_rate: Any = 1.0, damping: float = 0.0, max_cg_iters: int = 50, cg_tol: float = 1e-5
) -> optax.GradientTransformationExtraArgs:
    r"""Hessian-free (truncated) Newton-CG (Martens, 2010; Nocedal and Wright, 7.1).

    ::

        d = CG solve of (H + damping I) d = grad, by Hessian-vector products only
            (at most max_cg_iters iterations, stop at ||r|| <= cg_tol * ||grad||,
             or at negative curvature, see optzoo.transforms.scale_by_newton_cg)
        params <- params - learning_rate * d

    Defaults: a full Newton step; ``max_cg_iters = 50`` caps the cost per update
    at 50 Hessian-vector products; ``cg_tol = 1e-5`` (relative residual) gives a
    near-exact solve on well-conditioned problems. Call
    ``update(grad, state, params, value_fn=loss)``; the CG iteration count of the
    last update is in the state (``cg_iters``). Memory: a few param copies, so it
    scales to any size ``value_fn`` can differentiate twice.
    """
    return optax.chain(
        _newton.scale_by_newton_cg(damping, max_cg_iters, cg_tol),
        _b.learning_rate("newton_cg", learning_rate),
    )


@R.register(
    family="second order", reference="Amari, Park & Fukumizu 2000", year=2000,
    ranges={**_LR_RANGE, "eps": "(0, 1)", "max_full_size": "[0, inf)", "init_scale": "(0, inf)"},
    examples={"": dict(learning_rate=0.05, eps=1e-2, max_full_size=64, init_scale=0.5)},
)
@v.named
def angd(
    learning_rate: Any, eps: float = 1e-3, max_full_size: int = 1024, init_scale: float = 1.0
) -> optax.GradientTransformation:
    r"""Adaptive natural gradient descent (Amari, Park and Fukumizu, 2000).

    ::

        params_t = params_{t-1} - learning_rate * G_inv_{t-1} g_t
        G_inv_t  = (1 + eps) G_inv_{t-1} - eps (G_inv_{t-1} g_t)(G_inv_{t-1} g_t)^T

    per leaf; full matrix for leaves up to ``max_full_size`` elements, a diagonal
    above (see :func:`optzoo.transforms.scale_by_angd`). The recursion is a rank-one online
    estimate of the inverse Fisher matrix (exact for ``E[g g^T]`` as ``eps -> 0``
    under a stationary gradient distribution). Defaults: ``eps = 1e-3``,
    ``init_scale = 1`` (starts as plain SGD); ``max_full_size = 1024`` bounds a
    leaf's matrix at 4 MB in float32. Neither optax, PyTorch nor Keras ships it.
    """
    return optax.chain(
        _angd.scale_by_angd(eps, max_full_size, init_scale), _b.learning_rate("angd", learning_rate)
    )
