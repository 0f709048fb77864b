"""Prodigy (Mishchenko and Defazio, 2023): Adam whose step size ``d`` is estimated
from the distance travelled, as ``prodigyopt.Prodigy`` 1.1.2 computes it."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import ordered_sum, value_at

__all__ = ["ProdigyState", "check_growth_rate", "check_positive_rate", "prodigy"]


class ProdigyState(NamedTuple):
    """State of :func:`prodigy`.

    ``count``: updates seen (the clock of a schedule ``learning_rate``); ``k``: steps
    taken (the reference's ``k``; a step with ``d_denom = 0`` is skipped and does
    not count). ``d``, ``d_max``, ``d_numerator``: the global step-size estimate,
    its running maximum and the EMA numerator. ``mu``/``nu``: Adam's moments scaled
    by ``d`` (``mu`` is ``None`` for a plain ``b1 = 0``). ``s``: the EMA of the
    gradients every ``slice_p``-th entry, flattened; ``p0``: the initial params, the
    same entries.
    """

    count: jax.Array
    k: jax.Array
    d: jax.Array
    d_max: jax.Array
    d_numerator: jax.Array
    mu: optax.Updates | None
    nu: optax.Updates
    s: optax.Updates
    p0: optax.Params


def check_growth_rate(fn: str, value: Any) -> None:
    """``growth_rate`` in [1, inf), or ``inf`` itself (no limit, the default)."""
    if v.is_concrete(value) and not isinstance(value, bool) and float(value) == math.inf:
        return
    v.check_range(fn, "growth_rate", value, 1.0)


def check_positive_rate(fn: str, learning_rate: Any) -> None:
    """A learning rate > 0 (the references refuse 0) or a schedule."""
    if not callable(learning_rate):
        v.check_positive(fn, "learning_rate", learning_rate)


def _sliced(x, slice_p):
    return jnp.reshape(x, (-1,))[::slice_p]


@R.register(
    family="parameter-free", reference="Mishchenko & Defazio 2023", year=2023,
    counterparts=(R.reference("prodigyopt", "Prodigy", "fsdp_in_use (torch distributed) is "
                              "not taken: sums run over the whole params tree"),
                  R.optax("contrib.prodigy", "optax has no slice_p, safeguard_warmup, "
                          "bias correction or coupled decay, and no skipped steps")),
    ranges={"learning_rate": "(0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "beta3": "[0, 1]",
            "eps": "(0, inf)", "weight_decay": "[0, inf)", "d0": "(0, inf)",
            "d_coef": "(0, inf)", "growth_rate": "[1, inf)", "slice_p": "[1, inf)"},
    examples={"": dict(learning_rate=0.5, b1=0.8, d0=1e-3, weight_decay=0.01),
              "options": dict(beta3=0.9, use_bias_correction=True, safeguard_warmup=True,
                              decouple=False, weight_decay=0.01, d_coef=0.5, growth_rate=1.05,
                              slice_p=2),
              "b1=0": dict(b1=0.0, d0=1e-3)},
)
@v.named
def prodigy(
    learning_rate: _blocks.ScalarOrSchedule = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    beta3: float | None = None,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decouple: bool = True,
    use_bias_correction: bool = False,
    safeguard_warmup: bool = False,
    d0: float = 1e-6,
    d_coef: float = 1.0,
    growth_rate: float = math.inf,
    slice_p: int = 1,
    *,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""Prodigy (Mishchenko and Defazio, 2023, Algorithm 4), as ``prodigyopt.Prodigy``.

    With ``k`` the steps taken, ``lr = learning_rate``, ``beta3 = sqrt(b2)`` when None,
    ``bc = sqrt(1 - b2^(k+1)) / (1 - b1^(k+1))`` (1 without ``use_bias_correction``),
    ``dlr = d lr bc``, ``g <- g + weight_decay * p`` (``decouple=False``) and sums over
    every param (``[::slice_p]``: every ``slice_p``-th entry of the flattened param)::

        d_numerator = beta3 d_numerator + (d / d0) dlr sum <g[::slice_p], p0 - p[::slice_p]>
        mu  = b1 mu + d (1 - b1) g
        nu  = b2 nu + d^2 (1 - b2) g^2
        s   = beta3 s + (d / d0) dlr g[::slice_p]      (safeguard_warmup: (d / d0) d g[::slice_p])
        d_hat = d_coef d_numerator / sum |s|
        d   = max(d, d_hat) if d == d0;   d_max = max(d_max, d_hat);   d = min(d_max, d growth_rate)
        p  <- p - weight_decay dlr p                                     (decouple)
        p  <- p - dlr mu / (sqrt(nu) + d eps)       (b1 = 0: p - dlr d g / (sqrt(nu) + d eps))

    where ``dlr`` is the step's value from before ``d`` changes and ``d eps`` the new
    ``d``'s. When ``sum |s| = 0`` (all gradients zero) the reference returns early:
    ``mu``, ``nu``, ``s`` keep their update, nothing else changes and ``k`` does not
    advance; so here. Defaults are the reference's. ``learning_rate`` may be a schedule
    (``d`` multiplies it, as with a torch scheduler on Prodigy's ``lr``), evaluated at
    the number of updates; a step at rate 0 changes nothing (the reference skips a
    param group whose ``lr`` is 0). ``mu_dtype``/``nu_dtype`` store the moments (``s``
    and ``p0`` follow ``nu_dtype``): see :mod:`optzoo.transforms._dtypes`.
    """
    fn = v.owner("prodigy")
    check_positive_rate(fn, learning_rate)
    v.check_range(fn, "b1", b1, 0.0, 1.0, high_open=True)
    v.check_range(fn, "b2", b2, 0.0, 1.0, high_open=True)
    if beta3 is not None:
        v.check_range(fn, "beta3", beta3, 0.0, 1.0)
    v.check_positive(fn, "eps", eps)
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    for name, flag in (("decouple", decouple), ("use_bias_correction", use_bias_correction),
                       ("safeguard_warmup", safeguard_warmup)):
        v.check_bool(fn, name, flag)
    v.check_positive(fn, "d0", d0)
    v.check_positive(fn, "d_coef", d_coef)
    check_growth_rate(fn, growth_rate)
    v.check_int(fn, "slice_p", slice_p, 1)
    v.check_dtype(fn, "mu_dtype", mu_dtype)
    v.check_dtype(fn, "nu_dtype", nu_dtype)
    keep_mu = not _blocks.is_zero(b1)

    def init_fn(params):
        if slice_p != 1:  # every slice_p-th entry of each leaf
            _flat.refuse(fn, params)
        scalar = jnp.result_type(float)
        zero = jnp.zeros([], jnp.int32)
        return ProdigyState(
            count=zero, k=zero, d=jnp.asarray(d0, scalar), d_max=jnp.asarray(d0, scalar),
            d_numerator=jnp.zeros([], scalar),
            mu=_dtypes.zeros_like(params, mu_dtype) if keep_mu else None,
            nu=_dtypes.zeros_like(params, nu_dtype),
            s=_dtypes.zeros_like(jax.tree.map(lambda p: _sliced(p, slice_p), params), nu_dtype),
            p0=jax.tree.map(lambda p: _sliced(p, slice_p).astype(_dtypes.state_dtype(nu_dtype, p)),
                            params),
        )

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.nu)
        b3 = jnp.sqrt(b2) if beta3 is None else beta3
        d, d_max = state.d, state.d_max
        scalar = d.dtype
        lr = jnp.asarray(value_at(learning_rate, state.count), scalar)
        active = lr > 0.0
        kp1 = state.k.astype(scalar) + 1.0
        bc = jnp.sqrt(1.0 - b2**kp1) / (1.0 - b1**kp1) if use_bias_correction else 1.0
        dlr = d * lr * bc
        p = jax.tree.map(wide, params)
        g = jax.tree.map(wide, updates)
        if not decouple:
            g = jax.tree.map(lambda g, p: g + weight_decay * p, g, p)

        gs = jax.tree.map(lambda g: _sliced(g, slice_p), g)
        dots = jax.tree.map(lambda gs, p0, p: jnp.dot(gs, wide(p0) - _sliced(p, slice_p)),
                            gs, state.p0, p)
        delta_numerator = ordered_sum(jax.tree.map(lambda x: d / d0 * dlr * x, dots))
        keep = lambda new, old: jnp.where(active, new, wide(old))  # noqa: E731
        mu = (jax.tree.map(lambda m, g: keep(wide(m) * b1 + d * (1.0 - b1) * g, m), state.mu, g)
              if keep_mu else None)
        nu = jax.tree.map(lambda n, g: keep(wide(n) * b2 + d * d * (1.0 - b2) * g * g, n),
                          state.nu, g)
        s_rate = d / d0 * (d if safeguard_warmup else dlr)
        s = jax.tree.map(lambda s, gs: keep(wide(s) * b3 + s_rate * gs, s), state.s, gs)
        d_denom = ordered_sum(jax.tree.map(lambda x: jnp.sum(jnp.abs(x)), s))
        d_denom = jnp.where(active, d_denom, 0.0)

        skip = d_denom == 0.0
        d_numerator = state.d_numerator * b3 + delta_numerator
        d_hat = d_coef * d_numerator / jnp.where(skip, 1.0, d_denom)
        d_new = jnp.where(d == d0, jnp.maximum(d, d_hat), d)
        d_max_new = jnp.maximum(d_max, d_hat)
        d_new = jnp.minimum(d_max_new, d_new * growth_rate)

        def step(p, g, n, m=None):
            denom = jnp.sqrt(n) + d_new * eps
            u = -dlr * m / denom if m is not None else -dlr * d_new * g / denom
            if keep_mu and not isinstance(b1, (int, float)):  # an injected b1 may be 0
                u = jnp.where(b1 > 0, u, -dlr * d_new * g / denom)
            if decouple:
                u = -weight_decay * dlr * p + u
            return jnp.where(skip, 0.0, u)

        out = jax.tree.map(step, p, g, nu, *([mu] if keep_mu else []))
        out = jax.tree.map(lambda u, p: u.astype(jnp.asarray(p).dtype), out, params)
        new = ProdigyState(
            count=optax.safe_increment(state.count),
            k=jnp.where(skip, state.k, optax.safe_increment(state.k)),
            d=jnp.where(skip, d, d_new), d_max=jnp.where(skip, d_max, d_max_new),
            d_numerator=jnp.where(skip, state.d_numerator, d_numerator),
            mu=_dtypes.store(mu, state.mu) if keep_mu else None,
            nu=_dtypes.store(nu, state.nu), s=_dtypes.store(s, state.s), p0=state.p0,
        )
        return out, new

    return optax.GradientTransformation(init_fn, update_fn)
