"""Cosine annealing, linear-cosine decay (with noise) and SGDR warm restarts."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from optzoo import _validate as v
from optzoo import registry as R
from optzoo.schedules import _common as c

__all__ = [
    "cosine_decay",
    "linear_cosine_decay",
    "noisy_linear_cosine_decay",
    "cosine_restarts",
]


@R.register(
    kind="schedule", family="cosine", year=2017,
    reference="Loshchilov & Hutter 2017 (SGDR); Keras CosineDecay",
    formula="lr = (init_value - end_value) * (1 + cos(pi * min(step, T) / T)) / 2 + end_value",
    counterparts=(R.torch("lr_scheduler.CosineAnnealingLR",
                          "torch continues the cosine past T_max"),
                  R.keras("schedules.CosineDecay"),
                  R.optax("cosine_decay_schedule"),),
    examples={"": {"init_value": 1e-2, "decay_steps": 1000, "end_value": 1e-4}},
)
@v.named
def cosine_decay(
    init_value: float, decay_steps: int, end_value: float = 0.0, periodic: bool = False
) -> c.Schedule:
    r"""Cosine annealing from ``init_value`` to ``end_value`` over ``decay_steps``::

        t        = min(step, decay_steps)            (step if periodic)
        lr(step) = (init_value - end_value) * (1 + cos(pi * t / decay_steps)) / 2 + end_value

    Args:
      init_value: the value at step 0, >= 0.
      decay_steps: the horizon ``T``, > 0; the value stays ``end_value`` after it.
      end_value: >= 0; default 0.
      periodic: keep following the cosine past ``decay_steps`` (back up to
        ``init_value`` at ``2 * decay_steps``: a period of ``2 * decay_steps``), as
        PyTorch's ``CosineAnnealingLR``; default False (hold ``end_value``).

    Reference: Loshchilov and Hutter, "SGDR", ICLR 2017 (one period, no restart).
    Equivalents: Keras ``CosineDecay(initial_learning_rate=init_value, decay_steps,
    alpha=end_value / init_value)``; ``optax.cosine_decay_schedule(init_value,
    decay_steps, alpha=end_value / init_value)``; PyTorch ``CosineAnnealingLR(T_max=
    decay_steps, eta_min=end_value)`` for ``step <= T_max`` (PyTorch's keeps
    oscillating past ``T_max``: ``periodic=True``; by default this one stays at
    ``end_value``). Keras' warmup
    arguments are :func:`optzoo.schedules.warmup` around this schedule.
    """
    fn = "cosine_decay"
    c.check_values(fn, init_value=init_value, end_value=end_value)
    c.check_steps(fn, "decay_steps", decay_steps)
    v.check_bool(fn, "periodic", periodic)

    @c.on_step
    def schedule(s):
        t = c.to_float(s) if periodic else jnp.minimum(c.to_float(s), decay_steps)
        return c.cosine_anneal(init_value, end_value, t / decay_steps)

    return schedule


def _check_linear_cosine(fn, init_value, decay_steps, num_periods, alpha, beta):
    c.check_value(fn, "init_value", init_value)
    c.check_steps(fn, "decay_steps", decay_steps)
    v.check_nonnegative(fn, "num_periods", num_periods)
    v.check_nonnegative(fn, "alpha", alpha)
    v.check_nonnegative(fn, "beta", beta)


def _linear_cosine(init_value, decay_steps, num_periods, alpha, beta, noise=None):
    """The linear-cosine rule; ``noise(s, t)`` is added to the linear part."""

    @c.on_step
    def schedule(s):
        t = jnp.minimum(c.to_float(s), decay_steps)
        linear_decay = (decay_steps - t) / decay_steps
        eps = 0.0 if noise is None else noise(s, t)
        cosine = c.half_cosine(2.0 * num_periods * (t / decay_steps))
        return init_value * ((alpha + linear_decay + eps) * cosine + beta)

    return schedule


@R.register(
    kind="schedule", family="cosine", year=2017,
    reference=("Bello et al. 2017; TensorFlow 1 "
               "tf.compat.v1.train documentation (linear_cosine_decay)"),
    formula="lr = init_value * ((alpha + (T - t) / T) * (1 + cos(2 pi num_periods t / T)) / 2 + beta),"
        " t = min(step, T)",
    examples={"": {"init_value": 1e-2, "decay_steps": 1000, "num_periods": 2.0}},
)
@v.named
def linear_cosine_decay(
    init_value: float,
    decay_steps: int,
    num_periods: float = 0.5,
    alpha: float = 0.0,
    beta: float = 0.001,
) -> c.Schedule:
    r"""Linear-cosine decay (Bello et al. 2017)::

        t            = min(step, decay_steps)
        linear_decay = (decay_steps - t) / decay_steps
        cosine_decay = (1 + cos(2 * pi * num_periods * t / decay_steps)) / 2
        lr(step)     = init_value * ((alpha + linear_decay) * cosine_decay + beta)

    Args:
      init_value: >= 0. Note ``lr(0) = init_value * (1 + alpha + beta)``.
      decay_steps: the horizon, > 0; constant ``init_value * (alpha * cosine_decay(T) +
        beta)`` after it.
      num_periods: number of cosine periods in the horizon, >= 0; default 0.5.
      alpha, beta: >= 0; defaults 0 and 0.001 (as TensorFlow 1).

    Reference: Bello, Zoph, Vasudevan and Le, "Neural Optimizer Search with
    Reinforcement Learning", ICML 2017; formula and defaults as TensorFlow 1 documents
    ``tf.compat.v1.train.linear_cosine_decay``. No PyTorch/Keras 3/optax equivalent.
    """
    _check_linear_cosine("linear_cosine_decay", init_value, decay_steps, num_periods, alpha, beta)
    return _linear_cosine(init_value, decay_steps, num_periods, alpha, beta)


@R.register(
    kind="schedule", family="cosine", year=2017,
    reference=("Bello et al. 2017; TensorFlow 1 "
               "tf.compat.v1.train documentation (noisy_linear_cosine_decay)"),
    formula="lr = init_value * ((alpha + (T - t) / T + eps_t) * (1 + cos(2 pi num_periods t / T)) / 2"
        " + beta), eps_t ~ N(0, initial_variance / (1 + t) ** variance_decay)",
    examples={"": lambda: dict(init_value=1e-2, decay_steps=1000, key=jax.random.key(0),
                              initial_variance=0.1, num_periods=2.0)},
)
@v.named
def noisy_linear_cosine_decay(
    init_value: float,
    decay_steps: int,
    key,
    initial_variance: float = 1.0,
    variance_decay: float = 0.55,
    num_periods: float = 0.5,
    alpha: float = 0.0,
    beta: float = 0.001,
) -> c.Schedule:
    r"""Linear-cosine decay with decaying Gaussian noise (Bello et al. 2017)::

        t            = min(step, decay_steps)
        linear_decay = (decay_steps - t) / decay_steps
        cosine_decay = (1 + cos(2 * pi * num_periods * t / decay_steps)) / 2
        variance     = initial_variance / (1 + t) ** variance_decay
        eps_t        = sqrt(variance) * normal(fold_in(key, step))
        lr(step)     = init_value * ((alpha + linear_decay + eps_t) * cosine_decay + beta)

    The noise is a deterministic function of ``key`` and the (integer, unclamped) step:
    ``jax.random.normal(jax.random.fold_in(key, step))``, so the same step always gives
    the same value, and ``jax.jit``/``jax.vmap``/a Python loop agree. TensorFlow draws
    fresh noise on each call instead. The value can be negative when the noise is
    large; clip it (``lambda s: jnp.maximum(sched(s), 0)``) if that matters.

    Args:
      init_value: >= 0.
      decay_steps: the horizon, > 0.
      key: a PRNG key, ``jax.random.key(seed)`` or ``jax.random.PRNGKey(seed)``.
      initial_variance: >= 0; default 1.0 (TensorFlow 1).
      variance_decay: >= 0; default 0.55 (TensorFlow 1).
      num_periods, alpha, beta: as :func:`linear_cosine_decay`.

    Reference: Bello et al., ICML 2017; formula and defaults as TensorFlow 1 documents
    ``tf.compat.v1.train.noisy_linear_cosine_decay``. No PyTorch/Keras 3/optax equivalent.
    """
    fn = "noisy_linear_cosine_decay"
    _check_linear_cosine(fn, init_value, decay_steps, num_periods, alpha, beta)
    c.check_key(fn, "key", key)
    v.check_nonnegative(fn, "initial_variance", initial_variance)
    v.check_nonnegative(fn, "variance_decay", variance_decay)

    def one_noise(i, t):
        std = jnp.sqrt(initial_variance / jnp.power(1.0 + t, variance_decay))
        return std * jax.random.normal(jax.random.fold_in(key, i), (), c.float_dtype())

    def noise(s, t):
        return jnp.vectorize(one_noise)(c.int_step(s), t)

    return _linear_cosine(init_value, decay_steps, num_periods, alpha, beta, noise)


@R.register(
    kind="schedule", family="cosine", year=2017,
    reference="Loshchilov & Hutter 2017 (SGDR); Keras CosineDecayRestarts",
    formula="period i lasts first_decay_steps * t_mul ** i; within it lr = init_value * ((1 - alpha)"
        " * m_mul ** i * (1 + cos(pi * frac)) / 2 + alpha)",
    counterparts=(R.torch("lr_scheduler.CosineAnnealingWarmRestarts"),
                  R.keras("schedules.CosineDecayRestarts"),
                  R.optax("sgdr_schedule", "optax takes a list of periods"),),
    examples={"": {"init_value": 1e-2, "first_decay_steps": 100, "t_mul": 2.0, "m_mul": 0.8,
                   "alpha": 0.01}},
)
@v.named
def cosine_restarts(
    init_value: float,
    first_decay_steps: int,
    t_mul: float = 2.0,
    m_mul: float = 1.0,
    alpha: float = 0.0,
    end_value: float | None = None,
) -> c.Schedule:
    r"""Cosine annealing with warm restarts (SGDR).

    Period ``i = 0, 1, ...`` lasts ``first_decay_steps * t_mul ** i`` steps and starts at
    ``init_value * m_mul ** i``. With ``x = step / first_decay_steps``::

        i        = floor(x)                                        if t_mul == 1
                   floor(log(1 + x * (t_mul - 1)) / log(t_mul))    otherwise
        start_i  = i                                               if t_mul == 1
                   (t_mul ** i - 1) / (t_mul - 1)                  otherwise
        frac     = (x - start_i) / t_mul ** i                      (in [0, 1))
        cosine   = m_mul ** i * (1 + cos(pi * frac)) / 2
        lr(step) = (init_value - low) * cosine + low                 low = alpha * init_value

    ``i`` is corrected by one where rounding of the logarithm would put ``x`` outside
    ``[start_i, start_{i+1})``, so restarts fall exactly on their steps, and ``frac`` is
    computed from the step offset ``step - first_decay_steps * start_i`` (exact for
    integer steps), which keeps float32 accurate near the end of a period where
    ``1 + cos(pi * frac)`` is small (Keras' float32 loses up to ~1e-4 relative there).

    Args:
      init_value: >= 0.
      first_decay_steps: the first period, > 0.
      t_mul: period growth factor, >= 1; default 2.0 (Keras).
      m_mul: restart-height factor, in [0, 1]; default 1.0.
      alpha: the floor as a fraction of ``init_value`` (not scaled by ``m_mul``), in
        [0, 1]; default 0.
      end_value: the floor as a value instead (``low = end_value``), >= 0; it may exceed
        ``init_value`` (PyTorch's ``eta_min``); default None (``alpha`` sets it). Give
        ``alpha`` or ``end_value``, not both.

    Reference: Loshchilov and Hutter, "SGDR: Stochastic Gradient Descent with Warm
    Restarts", ICLR 2017. Equivalents: Keras ``CosineDecayRestarts`` (same arguments);
    PyTorch ``CosineAnnealingWarmRestarts(T_0=first_decay_steps, T_mult=t_mul,
    eta_min=end_value)`` for integer ``t_mul`` and ``m_mul = 1``;
    ``optax.sgdr_schedule`` takes an explicit list of periods instead.
    """
    fn = "cosine_restarts"
    c.check_value(fn, "init_value", init_value)
    c.check_steps(fn, "first_decay_steps", first_decay_steps)
    v.check_range(fn, "t_mul", t_mul, 1.0, math.inf)
    v.check_range(fn, "m_mul", m_mul, 0.0, 1.0)
    v.check_range(fn, "alpha", alpha, 0.0, 1.0)
    if end_value is None:
        low = alpha * init_value
    else:
        c.check_value(fn, "end_value", end_value)
        if alpha != 0:
            raise c.fail(fn, f"give alpha or end_value, not both, got alpha={alpha!r}, "
                             f"end_value={end_value!r}")
        low = end_value

    @c.on_step
    def schedule(s):
        dtype = c.float_dtype()
        sf = c.to_float(s)
        # Positions are measured in steps (exact for integer steps and periods), not as
        # the fraction step / first_decay_steps, whose rounding near a period's end
        # would be amplified by 1 + cos(pi * frac) ~ 0.
        if v.concrete_float(t_mul) == 1.0:
            i = c.floor_div(s, first_decay_steps)
            frac = (sf - i * first_decay_steps) / first_decay_steps
        else:
            tm = jnp.asarray(t_mul, dtype)
            x = sf / first_decay_steps
            i = jnp.floor(jnp.log1p(x * (tm - 1.0)) / jnp.log(tm))

            def start(k):  # first step of period k
                return first_decay_steps * ((jnp.power(tm, k) - 1.0) / (tm - 1.0))

            i = jnp.where(sf < start(i), i - 1.0, i)
            i = jnp.where(sf >= start(i + 1.0), i + 1.0, i)
            frac = (sf - start(i)) / (first_decay_steps * jnp.power(tm, i))
        frac = jnp.clip(frac, 0.0, 1.0)
        cosine = jnp.power(jnp.asarray(m_mul, dtype), i) * c.half_cosine(frac)
        return (init_value - low) * cosine + low

    return schedule
