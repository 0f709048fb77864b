"""Adam-atan2: Adam without eps, the ratio replaced by an arctangent (Everett et al.,
2024), as ``adam_atan2_pytorch.AdamAtan2`` 0.4.1 computes it."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip


class AdamAtan2State(NamedTuple):
    """State of :func:`scale_by_adam_atan2`: ``mu`` (exp_avg), ``nu`` (exp_avg_sq)."""

    count: jax.Array  # int32, saturating
    mu: optax.Updates
    nu: optax.Updates


def scale_by_adam_atan2(
    b1: float = 0.9,
    b2: float = 0.99,
    a: float = 1.27,
    b: float = 1.0,
    cautious_factor: float = 1.0,
    *,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""Adam-atan2's direction ``a * u_t`` (the update is ``-learning_rate`` times it)::

        mu_t = mu_{t-1} + (1 - b1) (g_t - mu_{t-1})        (torch's lerp)
        nu_t = nu_{t-1} + (1 - b2) (g_t^2 - nu_{t-1})
        u_t  = atan2(mu_t / (1 - b1^t), sqrt(nu_t b^2 / (1 - b2^t)))
        u_t  = u_t * s / max(mean(s), 1e-5),  s = 1 where u_t g_t > 0 else cautious_factor
                                                    (cautious_factor < 1, per leaf)
        out_t = a * u_t

    ``atan2(x, y)`` is ``x / y`` for small ``x / y`` and bounded by ``pi / 2``, so no
    ``eps`` is needed (a zero second moment gives a sign step of ``a pi / 2``).
    """
    fn = v.owner("scale_by_adam_atan2")
    v.check_range(fn, "b1", b1, 0.0, 1.0)
    v.check_range(fn, "b2", b2, 0.0, 1.0)
    v.check_positive(fn, "a", a)
    v.check_nonnegative(fn, "b", b)
    v.check_range(fn, "cautious_factor", cautious_factor, 0.0, 1.0)
    cautious = not (v.is_concrete(cautious_factor) and float(cautious_factor) == 1.0)

    def init_fn(params):
        if cautious:  # a per-tensor factor: depends on each leaf
            _flat.refuse(fn, params)
        return AdamAtan2State(count=jnp.zeros([], jnp.int32),
                              mu=_dtypes.zeros_like(params, mu_dtype),
                              nu=_dtypes.zeros_like(params, nu_dtype))

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        bc1, bc2 = 1.0 - b1**t, 1.0 - b2**t

        def one(g, mu, nu):
            g = wide(g)
            mu = wide(mu) + (1.0 - b1) * (g - wide(mu))
            nu = wide(nu) + (1.0 - b2) * (g * g - wide(nu))
            u = jnp.arctan2(mu * (1.0 / bc1), jnp.sqrt(nu * (b * b / bc2)))
            if cautious:
                s = jnp.where(u * g > 0, 1.0, cautious_factor).astype(u.dtype)
                u = u * (s / jnp.maximum(jnp.mean(s), 1e-5))
            return a * u, mu, nu

        out, mu, nu = unzip(updates, jax.tree.map(one, updates, state.mu, state.nu), 3)
        out = jax.tree.map(lambda o, g: o.astype(g.dtype), out, updates)
        return out, AdamAtan2State(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


class Atan2DecayState(NamedTuple):
    """State of the decay block: ``count`` and, with regeneration, the initial params."""

    count: jax.Array  # int32, saturating
    init_params: optax.Params | None = None


def _decay(fn, weight_decay, regen_reg_rate, cautious_wd, negated):
    """Adds ``weight_decay m p + regen_reg_rate (p - p_0)`` (the latter from step 2 on) to
    the direction ``a u`` (``negated``: subtracts it from ``-lr a u``), where ``m`` is 1,
    or with ``cautious_wd`` 1 where ``u p > 0`` and 0 elsewhere."""
    regen = not _blocks.is_zero(regen_reg_rate)

    def init_fn(params):
        return Atan2DecayState(jnp.zeros([], jnp.int32),
                               jax.tree.map(jnp.asarray, params) if regen else None)

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        started = state.count > 0  # the reference snapshots p_0 during step 1

        def one(d, p, *p0):
            p_w, sign = wide(p), -1.0 if negated else 1.0
            mask = (sign * wide(d) * p_w > 0) if cautious_wd else True
            extra = jnp.where(mask, weight_decay * p_w, 0.0)
            if regen:
                extra = extra + jnp.where(started, regen_reg_rate * (p_w - wide(p0[0])), 0.0)
            return (wide(d) - extra if negated else wide(d) + extra).astype(d.dtype)

        rest = (state.init_params,) if regen else ()
        out = jax.tree.map(one, updates, params, *rest)
        return out, Atan2DecayState(optax.safe_increment(state.count), state.init_params)

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Everett et al. 2024", year=2024,
    counterparts=(R.reference(
        "adam_atan2_pytorch", "AdamAtan2",
        "decoupled_wd divides the decay by the initial lr, so under a scheduler the "
        "reference scales it by lr_t / lr_0; here it is not scaled by the rate"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1]", "b2": "[0, 1]",
            "weight_decay": "[0, inf)", "regen_reg_rate": "[0, inf)",
            "cautious_factor": "[0, 1]", "a": "(0, inf)", "b": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.95, weight_decay=0.01, a=1.1, b=2.0),
              "cautious": dict(learning_rate=0.01, weight_decay=0.01, decoupled_wd=True,
                               cautious_wd=True, cautious_factor=0.3),
              "regen": dict(learning_rate=0.01, regen_reg_rate=0.05)},
)
@v.named
def adam_atan2(
    learning_rate: _blocks.ScalarOrSchedule = 1e-4,
    b1: float = 0.9,
    b2: float = 0.99,
    weight_decay: float = 0.0,
    regen_reg_rate: float = 0.0,
    decoupled_wd: bool = False,
    cautious_wd: bool = False,
    cautious_factor: float = 1.0,
    a: float = 1.27,
    b: float = 1.0,
) -> optax.GradientTransformation:
    r"""Adam-atan2 (Everett et al., 2024): Adam with ``m / (sqrt(v) + eps)`` replaced
    by ``a atan2(m, b sqrt(v))``, scale-invariant and free of eps, as
    ``adam_atan2_pytorch.AdamAtan2`` 0.4.1 computes it.

    With ``a u_t`` the direction of :func:`scale_by_adam_atan2`::

        params_t = params - learning_rate (a u_t + weight_decay m_t params
                                           + regen_reg_rate (params - params_0))
        m_t      = 1, or with cautious_wd 1 where u_t params > 0, else 0

    ``regen_reg_rate`` (regenerative regularization, Kumar et al. 2023) pulls the
    params towards their initial values from the second step on (the reference
    snapshots them during the first); it excludes ``weight_decay``.
    ``decoupled_wd=True`` takes both rates out of the learning rate:
    ``params_t = params - learning_rate a u_t - weight_decay m_t params - ...``
    (the reference divides them by the initial ``lr``; equal for a constant rate).
    ``cautious_factor < 1`` scales the coordinates of ``u_t`` that disagree in sign
    with the gradient (Liang et al. 2024, Algorithm 2; 0 zeroes them).

    The reference builds the ``cautious_wd`` mask with ``.float()``, so its decay
    factor ``1 - lr weight_decay m_t`` is rounded to float32 even for float64 params
    (a relative change of about 3e-8 of the decayed params); here it is computed
    in the params' precision.

    Defaults are the reference's: ``learning_rate = 1e-4``, ``b1 = 0.9``, ``b2 = 0.99``,
    ``a = 1.27``, ``b = 1`` (the paper's tuned constants).
    """
    fn = "adam_atan2"
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    v.check_nonnegative(fn, "regen_reg_rate", regen_reg_rate)
    v.check_bool(fn, "decoupled_wd", decoupled_wd)
    v.check_bool(fn, "cautious_wd", cautious_wd)
    wd, rr = v.concrete_float(weight_decay), v.concrete_float(regen_reg_rate)
    if wd is not None and rr is not None and wd > 0 and rr > 0:
        raise ValueError(f"{v.owner(fn)}: weight_decay and regen_reg_rate exclude each other, "
                         f"got {weight_decay} and {regen_reg_rate}")
    direction = scale_by_adam_atan2(b1, b2, a, b, cautious_factor)
    lr = _blocks.learning_rate(fn, learning_rate)
    if _blocks.is_zero(weight_decay) and _blocks.is_zero(regen_reg_rate):
        return optax.chain(direction, lr)
    decay = _decay(v.owner(fn), weight_decay, regen_reg_rate, cautious_wd, decoupled_wd)
    return optax.chain(direction, lr, decay) if decoupled_wd else optax.chain(direction, decay, lr)
