"""signSGD, Signum and Tiger: steps along the sign of the gradient or of its EMA
(Lion's block with ``b1 = b2``)."""

from __future__ import annotations

import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _decay
from optzoo.transforms.sign import scale_by_lion


def scale_by_sign_momentum(momentum: float = 0.9) -> optax.GradientTransformation:
    r"""``mu_t = momentum mu_{t-1} + (1 - momentum) g_t``, ``out_t = sign(mu_t)``:
    :func:`~optzoo.transforms.scale_by_lion` with ``b1 = b2 = momentum``; a plain
    ``momentum = 0`` is ``optax.scale_by_sign()`` (no state)."""
    fn = v.owner("scale_by_sign_momentum")
    v.check_range(fn, "momentum", momentum, 0.0, 1.0, high_open=True)
    return optax.scale_by_sign() if _blocks.is_zero(momentum) else scale_by_lion(momentum, momentum)


@R.register(
    family="sign", reference="Bernstein et al. 2018", year=2018,
    counterparts=(R.reference("pytorch_optimizer", "SignSGD",
                              "maximize and foreach not taken (negate the loss)"),
                  R.optax("signum", "optax.signum(beta) is momentum=beta > 0 and "
                          "optax.sign_sgd momentum=0, both without weight decay")),
    ranges={"learning_rate": "[0, inf)", "momentum": "[0, 1)", "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, momentum=0.8, weight_decay=0.01),
              "signsgd,coupled": dict(learning_rate=0.01, momentum=0.0, weight_decay=0.01,
                                      weight_decouple=False)},
)
@v.named
def sign_sgd(learning_rate: _blocks.ScalarOrSchedule = 1e-3, momentum: float = 0.9,
             weight_decay: float = 0.0, weight_decouple: bool = True
             ) -> optax.GradientTransformation:
    r"""signSGD (``momentum = 0``) and Signum (``momentum > 0``), Bernstein et al.,
    2018, "signSGD: compressed optimisation for non-convex problems"::

        mu_t     = momentum mu_{t-1} + (1 - momentum) g_t       (mu_t = g_t if momentum = 0)
        params_t = params_{t-1} - learning_rate sign(mu_t)

    Weight decay as ``pytorch-optimizer`` (:mod:`optzoo.transforms._decay`):
    decoupled by default (``params (1 - learning_rate weight_decay)``);
    ``weight_decouple=False`` adds ``weight_decay params`` to the gradient. Defaults
    are ``pytorch_optimizer.SignSGD`` 4.1.0's (the paper's Signum ``momentum = 0.9``).
    """
    fn = "sign_sgd"
    return _decay.chain(fn, scale_by_sign_momentum(momentum), learning_rate, weight_decay,
                        weight_decouple)


@R.register(
    family="sign", reference="Su 2023", year=2023,
    counterparts=(R.reference("pytorch_optimizer", "Tiger",
                              "maximize and foreach not taken (negate the loss)"),),
    ranges={"learning_rate": "[0, inf)", "beta": "[0, 1)", "weight_decay": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, beta=0.9, weight_decay=0.02),
              "coupled": dict(learning_rate=0.01, weight_decouple=False),
              "fixed_decay": dict(learning_rate=0.01, weight_decay=1e-3, fixed_decay=True)},
)
@v.named
def tiger(learning_rate: _blocks.ScalarOrSchedule = 1e-3, beta: float = 0.965,
          weight_decay: float = 0.01, weight_decouple: bool = True, fixed_decay: bool = False
          ) -> optax.GradientTransformation:
    r"""Tiger, "a tight-fisted optimizer" (Su, 2023): Lion with one beta::

        mu_t     = beta mu_{t-1} + (1 - beta) g_t
        params_t = params_{t-1} - learning_rate sign(mu_t)

    Weight decay as ``pytorch-optimizer`` (:mod:`optzoo.transforms._decay`):
    decoupled by default, ``params (1 - learning_rate weight_decay)``; ``fixed_decay``:
    ``params (1 - weight_decay)``; ``weight_decouple=False`` adds ``weight_decay
    params`` to the gradient. Defaults are ``pytorch_optimizer.Tiger`` 4.1.0's
    (``beta = 0.965``, the author's; ``weight_decay = 0.01``).
    """
    fn = "tiger"
    v.check_range(fn, "beta", beta, 0.0, 1.0, high_open=True)
    return _decay.chain(fn, scale_by_lion(beta, beta), learning_rate, weight_decay,
                        weight_decouple, fixed_decay)
