"""MADGRAD (Defazio and Jelassi, 2021): a momentumized, adaptive, dual averaged
gradient method, as ``madgrad.MADGRAD`` 1.3 computes it."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip, value_at

__all__ = ["MadgradState", "madgrad"]


class MadgradState(NamedTuple):
    """State of :func:`madgrad`: ``count`` the steps done (``k``, int32, saturating),
    ``grad_sum_sq`` and ``s`` the weighted sums of ``g^2`` and ``g``, ``x0`` the
    initial params (``None`` for a plain ``momentum = 0``, where the reference
    recomputes ``x0`` from the others, as here)."""

    count: jax.Array
    grad_sum_sq: optax.Updates
    s: optax.Updates
    x0: optax.Params | None


@R.register(
    family="dual averaging", reference="Defazio & Jelassi 2021", year=2021,
    counterparts=(R.reference("madgrad", "MADGRAD", "sparse gradients do not exist in JAX"),
                  R.optax("contrib.madgrad", "optax adds eps to a zero learning rate too, "
                          "has no weight decay, and keeps x0 when momentum is 0")),
    ranges={"learning_rate": "[0, inf)", "momentum": "[0, 1)", "weight_decay": "[0, inf)",
            "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.02, momentum=0.8, weight_decay=0.01, eps=1e-5),
              "decoupled": dict(learning_rate=0.02, momentum=0.0, weight_decay=0.01,
                                decouple_decay=True)},
)
@v.named
def madgrad(
    learning_rate: _blocks.ScalarOrSchedule = 1e-2,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
    decouple_decay: bool = False,
) -> optax.GradientTransformation:
    r"""MADGRAD (Defazio and Jelassi, 2021, Algorithm 1), as ``madgrad.MADGRAD``.

    At step ``k = 0, 1, ...`` with ``lr = learning_rate + eps`` (the reference adds
    ``eps`` "for stability" unless the rate is 0) and ``ck = 1 - momentum``::

        g           <- g + weight_decay * p                   (not decouple_decay)
        lamb         = lr * sqrt(k + 1)
        grad_sum_sq <- grad_sum_sq + lamb * g^2
        s           <- s + lamb * g
        z            = x0 - s / (grad_sum_sq^(1/3) + eps)
        p           <- p * (1 - ck) + ck * z
        p           <- p - lr * weight_decay * p_old          (decouple_decay)

    ``x0`` is the initial params; with ``momentum = 0`` it is not stored but
    recomputed each step as ``p + s / (grad_sum_sq^(1/3) + eps)`` from the state
    before the step, as the reference does. With ``eps = 0`` a zero root counts as
    ``inf`` (no step), as the reference's; the reference's ``momentum = 0``
    recomputation has no such guard and gives NaN for ``eps = 0`` on the first step,
    where this one gives ``x0 = p``. The decoupled decay uses ``lr`` with ``eps``
    added, as the reference's. A schedule ``learning_rate`` is evaluated at ``k``.
    Defaults are the reference's. ``update`` needs ``params``.
    """
    fn = v.owner("madgrad")
    v.check_learning_rate(fn, learning_rate)
    v.check_range(fn, "momentum", momentum, 0.0, 1.0, high_open=True)
    v.check_nonnegative_each(fn, weight_decay=weight_decay, eps=eps)
    v.check_bool(fn, "decouple_decay", decouple_decay)
    keep_x0 = not _blocks.is_zero(momentum)

    def init_fn(params):
        return MadgradState(
            count=jnp.zeros([], jnp.int32),
            grad_sum_sq=_dtypes.zeros_like(params), s=_dtypes.zeros_like(params),
            x0=_dtypes.copy_like(params) if keep_x0 else None,
        )

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.s)
        lr = jnp.asarray(value_at(learning_rate, state.count), jnp.result_type(float))
        lr = jnp.where(lr != 0.0, lr + eps, lr)
        lamb = lr * jnp.sqrt(state.count.astype(lr.dtype) + 1.0)
        ck = 1.0 - momentum

        def rms(gss):
            r = jnp.power(gss, 1.0 / 3.0) + eps
            return jnp.where((eps == 0) & (r == 0), jnp.inf, r)

        def leaf(g, p, gss, s, x0=None):
            g, p, gss, s = wide(g), wide(p), wide(gss), wide(s)
            if not decouple_decay:
                g = g + weight_decay * p
            recomputed = p + s / rms(gss)
            if x0 is None:
                x0 = recomputed
            elif not isinstance(momentum, (int, float)):  # an injected momentum may be 0
                x0 = jnp.where(momentum == 0, recomputed, wide(x0))
            gss = gss + lamb * g * g
            s = s + lamb * g
            z = x0 - s / rms(gss)
            new = p * (1.0 - ck) + ck * z
            if decouple_decay:
                new = new + -lr * weight_decay * p
            return new - p, gss, s

        out = jax.tree.map(leaf, updates, params, state.grad_sum_sq, state.s,
                           *([state.x0] if keep_x0 else []))
        out, gss, s = unzip(updates, out, 3)
        out = jax.tree.map(lambda u, p: u.astype(jnp.asarray(p).dtype), out, params)
        return out, MadgradState(
            count=optax.safe_increment(state.count),
            grad_sum_sq=_dtypes.store(gss, state.grad_sum_sq), s=_dtypes.store(s, state.s),
            x0=state.x0,
        )

    return optax.GradientTransformation(init_fn, update_fn)
