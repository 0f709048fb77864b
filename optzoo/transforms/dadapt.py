"""D-Adaptation (Defazio and Mishchenko, 2023): Adam, SGD and AdaGrad whose step size
``d`` is a lower bound on the distance to the solution, estimated as they go, as
``dadaptation`` 3.2 computes it (``DAdaptAdam``, ``DAdaptSGD``, ``DAdaptAdaGrad``).

Every global scalar (``d``, the numerators, ``sum |s|``, ``||s||^2``) is a sum over the
whole params tree, as the reference sums over its param group. A step whose sum of
``|s|`` (or ``s^2``) is zero is skipped as in the reference: the scalars, ``d`` and the
step count keep their values and the params do not move.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import ordered_sum, unzip, value_at
from optzoo.transforms.prodigy import check_growth_rate, check_positive_rate

__all__ = ["DAdaptAdaGradState", "DAdaptAdamState", "DAdaptSgdState", "dadapt_adagrad",
           "dadapt_adam", "dadapt_sgd"]

_DIFF = "log_every and fsdp_in_use (logging, torch distributed) are not taken"


def _growth(d, d_hat, growth_rate):
    return jnp.maximum(d, jnp.minimum(d_hat, d * growth_rate))


def _common_checks(fn, learning_rate, weight_decay, d0, growth_rate):
    check_positive_rate(fn, learning_rate)
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    v.check_positive(fn, "d0", d0)
    check_growth_rate(fn, growth_rate)


_RANGES = {"learning_rate": "(0, inf)", "weight_decay": "[0, inf)", "d0": "(0, inf)",
           "growth_rate": "[1, inf)"}


class DAdaptAdamState(NamedTuple):
    """State of :func:`dadapt_adam`: ``count`` updates seen (a schedule's clock),
    ``k`` steps taken (bias correction), ``d``, ``numerator_weighted``, Adam's
    moments (``mu`` carries the factor ``dlr``) and ``s``."""

    count: jax.Array
    k: jax.Array
    d: jax.Array
    numerator_weighted: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    s: optax.Updates


@R.register(
    family="parameter-free", reference="Defazio & Mishchenko 2023", year=2023,
    counterparts=(R.reference("dadaptation", "DAdaptAdam", _DIFF + "; layer_scale is 1"),
                  R.optax("contrib.dadapt_adamw", "optax: decoupled decay only, no bias "
                          "correction or growth_rate, no skipped steps")),
    ranges={**_RANGES, "b1": "[0, 1)", "b2": "[0, 1)", "eps": "(0, inf)"},
    examples={"": dict(learning_rate=0.5, b1=0.8, d0=1e-3, weight_decay=0.01),
              "decoupled": dict(weight_decay=0.01, decouple=True, use_bias_correction=True,
                                growth_rate=1.1)},
)
@v.named
def dadapt_adam(
    learning_rate: _blocks.ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decouple: bool = False,
    use_bias_correction: bool = False,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> optax.GradientTransformation:
    r"""D-Adapted Adam (Defazio and Mishchenko, 2023, Algorithm 4), as
    ``dadaptation.DAdaptAdam``.

    With ``k`` the steps taken, ``sb2 = sqrt(b2)``, ``bc = sqrt(1 - b2^(k+1)) / (1 - b1^(k+1))``
    (1 without ``use_bias_correction``), ``dlr = d * learning_rate * bc``,
    ``g <- g + weight_decay * p`` unless ``decouple``, sums over every param::

        numerator_weighted = sb2 numerator_weighted + (1 - sb2) dlr sum <g, s / (sqrt(nu) + eps)>
        mu = b1 mu + dlr (1 - b1) g;    nu = b2 nu + (1 - b2) g^2;    s = sb2 s + dlr (1 - sb2) g
        d  = max(d, min(numerator_weighted / ((1 - sb2) sum |s|), d growth_rate))
        p <- p - weight_decay dlr p                     (decouple)
        p <- p - mu / (sqrt(nu) + eps)

    (the numerator reads ``s`` and ``nu`` before their update; ``dlr`` is the step's
    value from before ``d`` changes). Defaults are the reference's, whose decay is
    coupled by default. ``learning_rate`` may be a schedule (evaluated at the update
    count; at rate 0 the step is skipped, as the reference skips a zero-``lr`` group).
    """
    fn = v.owner("dadapt_adam")
    _common_checks(fn, learning_rate, weight_decay, d0, growth_rate)
    v.check_range(fn, "b1", b1, 0.0, 1.0, high_open=True)
    v.check_range(fn, "b2", b2, 0.0, 1.0, high_open=True)
    v.check_positive(fn, "eps", eps)
    v.check_bool(fn, "decouple", decouple)
    v.check_bool(fn, "use_bias_correction", use_bias_correction)

    def init_fn(params):
        scalar, zero = jnp.result_type(float), jnp.zeros([], jnp.int32)
        return DAdaptAdamState(zero, zero, jnp.asarray(d0, scalar), jnp.zeros([], scalar),
                               _dtypes.zeros_like(params), _dtypes.zeros_like(params),
                               _dtypes.zeros_like(params))

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.s)
        d = state.d
        lr = jnp.asarray(value_at(learning_rate, state.count), d.dtype)
        active = lr > 0.0
        sb2 = jnp.sqrt(jnp.asarray(b2, d.dtype))
        kp1 = state.k.astype(d.dtype) + 1.0
        bc = jnp.sqrt(1.0 - b2**kp1) / (1.0 - b1**kp1) if use_bias_correction else 1.0
        dlr = d * lr * bc

        def moments(g, p, m, n, s):
            g, p, m, n, s = wide(g), wide(p), wide(m), wide(n), wide(s)
            if not decouple:
                g = g + weight_decay * p
            numerator = dlr * jnp.sum(g * (s / (jnp.sqrt(n) + eps)))
            m_new = m * b1 + dlr * (1.0 - b1) * g
            n_new = n * b2 + (1.0 - b2) * g * g
            s_new = s * sb2 + dlr * (1.0 - sb2) * g
            keep = lambda new, old: jnp.where(active, new, old)  # noqa: E731
            return (keep(m_new, m), keep(n_new, n), keep(s_new, s),
                    jnp.where(active, numerator, 0.0),
                    jnp.where(active, jnp.sum(jnp.abs(s_new)), 0.0))

        out = jax.tree.map(moments, updates, params, state.mu, state.nu, state.s)
        mu, nu, s, numerators, l1s = unzip(updates, out, 5)
        numerator_weighted = sb2 * state.numerator_weighted + (1.0 - sb2) * ordered_sum(numerators)
        sk_l1 = ordered_sum(l1s)
        skip = sk_l1 == 0.0
        d_hat = numerator_weighted / ((1.0 - sb2) * jnp.where(skip, 1.0, sk_l1))
        d_new = _growth(d, d_hat, growth_rate)

        def step(p, m, n):
            p = wide(p)
            new = p + -weight_decay * dlr * p if decouple else p
            new = new + -m / (jnp.sqrt(n) + eps)
            return jnp.where(skip, 0.0, new - p)

        out = jax.tree.map(step, params, mu, nu)
        out = jax.tree.map(lambda u, p: u.astype(jnp.asarray(p).dtype), out, params)
        return out, DAdaptAdamState(
            count=optax.safe_increment(state.count),
            k=jnp.where(skip, state.k, optax.safe_increment(state.k)),
            d=jnp.where(skip, d, d_new),
            numerator_weighted=jnp.where(skip, state.numerator_weighted, numerator_weighted),
            mu=_dtypes.store(mu, state.mu), nu=_dtypes.store(nu, state.nu),
            s=_dtypes.store(s, state.s))

    return optax.GradientTransformation(init_fn, update_fn)


class DAdaptSgdState(NamedTuple):
    """State of :func:`dadapt_sgd`: ``count`` updates seen, ``k`` steps taken, ``d``,
    ``numerator_weighted``, ``g0_norm`` (the first gradient's norm), ``s`` and the
    initial params ``x0``."""

    count: jax.Array
    k: jax.Array
    d: jax.Array
    numerator_weighted: jax.Array
    g0_norm: jax.Array
    s: optax.Updates
    x0: optax.Params


@R.register(
    family="parameter-free", reference="Defazio & Mishchenko 2023", year=2023,
    counterparts=(R.reference("dadaptation", "DAdaptSGD", _DIFF),),
    ranges={**_RANGES, "momentum": "[0, 1)"},
    examples={"": dict(learning_rate=0.5, momentum=0.8, d0=1e-3, weight_decay=0.01),
              "momentum=0": dict(momentum=0.0, growth_rate=1.1)},
)
@v.named
def dadapt_sgd(
    learning_rate: _blocks.ScalarOrSchedule = 1.0,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> optax.GradientTransformation:
    r"""D-Adapted SGD (Defazio and Mishchenko, 2023, Algorithm 1 with primal averaging),
    as ``dadaptation.DAdaptSGD``.

    With ``g0_norm = ||g_0||`` (the first step's gradient, *without* weight decay: the
    reference's ``grad.add`` there is not in place), ``dlr = d * learning_rate / g0_norm``,
    ``g <- g + weight_decay * p`` and ``ck = 1 - momentum``, sums over every param::

        numerator_weighted = numerator_weighted + dlr sum <g, s>        (s before its update)
        s  = s + dlr g
        d  = max(d, min(2 numerator_weighted / ||s||, d growth_rate))
        p <- p (1 - ck) + ck (x0 - s)

    Defaults are the reference's. An all-zero first gradient makes the reference
    divide by zero; here the step is skipped. ``learning_rate`` may be a schedule
    (evaluated at the update count).
    """
    fn = v.owner("dadapt_sgd")
    _common_checks(fn, learning_rate, weight_decay, d0, growth_rate)
    v.check_range(fn, "momentum", momentum, 0.0, 1.0, high_open=True)

    def init_fn(params):
        scalar, zero = jnp.result_type(float), jnp.zeros([], jnp.int32)
        return DAdaptSgdState(
            zero, zero, jnp.asarray(d0, scalar), jnp.zeros([], scalar), jnp.zeros([], scalar),
            _dtypes.zeros_like(params),
            _dtypes.copy_like(params))

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.s)
        d = state.d
        lr = jnp.asarray(value_at(learning_rate, state.count), d.dtype)
        active = lr > 0.0
        g = jax.tree.map(wide, updates)
        g_sq = jnp.where(active, ordered_sum(jax.tree.map(lambda g: jnp.sum(g * g), g)), 0.0)
        g0_norm = jnp.where(state.k == 0, jnp.sqrt(g_sq), state.g0_norm)
        dlr = jnp.where(g0_norm > 0, d * lr / jnp.where(g0_norm > 0, g0_norm, 1.0), 0.0)
        g = jax.tree.map(lambda g, p: g + weight_decay * wide(p), g, params)

        def accumulate(g, s):
            s = wide(s)
            s_new = jnp.where(active, s + dlr * g, s)
            return (s_new, jnp.where(active, dlr * jnp.sum(g * s), 0.0),
                    jnp.where(active, jnp.sum(s_new * s_new), 0.0))

        s, numerators, squares = unzip(updates, jax.tree.map(accumulate, g, state.s), 3)
        numerator_weighted = ordered_sum(numerators, state.numerator_weighted)
        sk_sq = ordered_sum(squares)
        skip = sk_sq == 0.0
        d_hat = 2.0 * numerator_weighted / jnp.sqrt(jnp.where(skip, 1.0, sk_sq))
        d_new = _growth(d, d_hat, growth_rate)
        ck = 1.0 - momentum

        def step(p, s, x0):
            p = wide(p)
            return jnp.where(skip, 0.0, p * (1.0 - ck) + ck * (wide(x0) - s) - p)

        out = jax.tree.map(step, params, s, state.x0)
        out = jax.tree.map(lambda u, p: u.astype(jnp.asarray(p).dtype), out, params)
        return out, DAdaptSgdState(
            count=optax.safe_increment(state.count),
            k=jnp.where(skip, state.k, optax.safe_increment(state.k)),
            d=jnp.where(skip, d, d_new),
            numerator_weighted=jnp.where(skip, state.numerator_weighted, numerator_weighted),
            g0_norm=g0_norm, s=_dtypes.store(s, state.s), x0=state.x0)

    return optax.GradientTransformation(init_fn, update_fn)


class DAdaptAdaGradState(NamedTuple):
    """State of :func:`dadapt_adagrad`: ``count`` updates seen, ``d``, the running
    sums ``gsq_weighted``, ``sksq_weighted``, ``skl1``, the per-entry ``alphak``
    (sum of ``g^2``, from 1e-6) and ``sk`` (sum of ``dlr g``), and ``x0``."""

    count: jax.Array
    d: jax.Array
    gsq_weighted: jax.Array
    sksq_weighted: jax.Array
    skl1: jax.Array
    alphak: optax.Updates
    sk: optax.Updates
    x0: optax.Params


@R.register(
    family="parameter-free", reference="Defazio & Mishchenko 2023", year=2023,
    counterparts=(R.reference("dadaptation", "DAdaptAdaGrad",
                              _DIFF + "; sparse gradients do not exist in JAX"),),
    ranges={**_RANGES, "momentum": "[0, 1)", "eps": "(0, inf)"},
    examples={"": dict(learning_rate=0.5, momentum=0.5, d0=1e-3, weight_decay=0.01),
              "growth": dict(eps=1e-5, growth_rate=1.1)},
)
@v.named
def dadapt_adagrad(
    learning_rate: _blocks.ScalarOrSchedule = 1.0,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-6,
    d0: float = 1e-6,
    growth_rate: float = math.inf,
) -> optax.GradientTransformation:
    r"""D-Adapted AdaGrad (Defazio and Mishchenko, 2023, Algorithm 2 with primal
    averaging), as ``dadaptation.DAdaptAdaGrad`` (dense gradients).

    With ``dlr = d * learning_rate``, ``g <- g + weight_decay * p``,
    ``w(a) = sqrt(a) + eps``, ``ck = 1 - momentum`` and sums over every param::

        alphak <- alphak + g^2                               (alphak starts at 1e-6)
        sk     <- sk + dlr g
        sksq_weighted += sum sk^2 / w(alphak) - (the same sum before this step)
        skl1          += sum |sk|             - (the same sum before this step)
        gsq_weighted  += dlr^2 sum g^2 / w(alphak)
        d  = max(d, min((sksq_weighted - gsq_weighted) / skl1, d growth_rate))
        p <- p (1 - ck) + ck (x0 - sk / w(alphak))

    The two running sums are updated by their change, as the reference does (not
    recomputed). Defaults are the reference's. ``learning_rate`` may be a schedule
    (evaluated at the update count).
    """
    fn = v.owner("dadapt_adagrad")
    _common_checks(fn, learning_rate, weight_decay, d0, growth_rate)
    v.check_range(fn, "momentum", momentum, 0.0, 1.0, high_open=True)
    v.check_positive(fn, "eps", eps)

    def init_fn(params):
        scalar = jnp.result_type(float)
        zero = jnp.zeros([], scalar)
        return DAdaptAdaGradState(
            jnp.zeros([], jnp.int32), jnp.asarray(d0, scalar), zero, zero, zero,
            _dtypes.full_like(params, 1e-6), _dtypes.zeros_like(params),
            _dtypes.copy_like(params))

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.sk)
        d = state.d
        lr = jnp.asarray(value_at(learning_rate, state.count), d.dtype)
        dlr = d * lr

        def accumulate(g, p, a, sk):
            g, p, a, sk = wide(g), wide(p), wide(a), wide(sk)
            g = g + weight_decay * p
            old_sksq = jnp.sum(sk * sk / (jnp.sqrt(a) + eps))
            old_skl1 = jnp.sum(jnp.abs(sk))
            a = a + g * g
            w = jnp.sqrt(a) + eps
            grad_sq = jnp.sum(g * g / w)
            sk = sk + dlr * g
            return (a, sk, grad_sq, jnp.sum(sk * sk / w) - old_sksq,
                    jnp.sum(jnp.abs(sk)) - old_skl1)

        out = jax.tree.map(accumulate, updates, params, state.alphak, state.sk)
        alphak, sk, grad_sqs, sksq_changes, skl1_changes = unzip(updates, out, 5)
        sksq_weighted = state.sksq_weighted + ordered_sum(sksq_changes)
        skl1 = state.skl1 + ordered_sum(skl1_changes)
        skip = skl1 == 0.0
        gsq_weighted = state.gsq_weighted + dlr * dlr * ordered_sum(grad_sqs)
        d_hat = (sksq_weighted - gsq_weighted) / jnp.where(skip, 1.0, skl1)
        d_new = jnp.where(lr > 0.0, _growth(d, d_hat, growth_rate), d)
        ck = 1.0 - momentum

        def step(p, a, sk, x0):
            p = wide(p)
            z = wide(x0) - sk / (jnp.sqrt(a) + eps)
            return jnp.where(skip, 0.0, p * (1.0 - ck) + ck * z - p)

        out = jax.tree.map(step, params, alphak, sk, state.x0)
        out = jax.tree.map(lambda u, p: u.astype(jnp.asarray(p).dtype), out, params)
        keep = lambda new, old: jnp.where(skip, old, new)  # noqa: E731
        return out, DAdaptAdaGradState(
            count=optax.safe_increment(state.count), d=keep(d_new, d),
            gsq_weighted=keep(gsq_weighted, state.gsq_weighted),
            sksq_weighted=keep(sksq_weighted, state.sksq_weighted),
            skl1=keep(skl1, state.skl1), alphak=_dtypes.store(alphak, state.alphak),
            sk=_dtypes.store(sk, state.sk), x0=state.x0)

    return optax.GradientTransformation(init_fn, update_fn)
