"""Schedule-free learning (Defazio et al., 2024, "The Road Less Scheduled").

Three sequences: ``z`` takes the base optimizer's steps, ``x`` (the params to
evaluate with) is a weighted average of the ``z``'s, and ``y``, where gradients are
computed, interpolates between them. As in the reference (``schedulefree`` 1.4.1,
in train mode) the params are ``y``; the state keeps ``z``, from which
:func:`schedule_free_eval_params` recovers ``x = y + (1 - 1/b1) (z - y)``.

One step, ``k = 0, 1, ...`` the number of steps done (the reference's ``k``)::

    lr_k       = learning_rate * sched_k                 (warmup or RAdam's rectification)
    lr_max     = max(lr_max, lr_k)                       (lr_max starts at -1)
    weight     = (k + 1)^r * lr_max^weight_lr_power
    weight_sum = weight_sum + weight
    ckp1       = weight / weight_sum                     (0 while weight_sum = 0)
    d          = base direction of g at y  +  weight_decay * y
    y         <- lerp(y, z, ckp1) + lr_k * (b1 * (1 - ckp1) - 1) * d
    z         <- z - lr_k * d

``lerp(a, b, w)`` is torch's: ``a + w (b - a)`` for ``|w| < 0.5``, else
``b - (b - a)(1 - w)``. The base directions: SGD ``d = g``; AdamW
``d = g / (sqrt(nu / (1 - b2^(k+1))) + eps)`` with ``nu <- b2 nu + (1 - b2) g^2``;
RAdam the same where ``rho_{k+1} > 4`` and ``d = g`` before.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip, value_at

__all__ = [
    "ScheduleFreeState",
    "scale_by_schedule_free",
    "schedule_free_adamw",
    "schedule_free_eval_params",
    "schedule_free_radam",
    "schedule_free_sgd",
]

BASES = ("sgd", "adamw", "radam")


class ScheduleFreeState(NamedTuple):
    """State of :func:`scale_by_schedule_free`.

    ``count``: steps done (the reference's ``k``; int32, saturating). ``b1``: the
    interpolation weight, kept for :func:`schedule_free_eval_params`. ``lr_max``,
    ``weight_sum``: the averaging weights' running maximum learning rate and sum.
    ``z``: the base optimizer's sequence. ``nu``: the second moment (``None`` for SGD).
    """

    count: jax.Array
    b1: jax.Array
    lr_max: jax.Array
    weight_sum: jax.Array
    z: optax.Params
    nu: optax.Updates | None


def lerp(a, b, w):
    """torch's ``a.lerp(b, w)``: ``a + w (b - a)`` if ``|w| < 0.5``, else
    ``b - (b - a)(1 - w)`` (exact at both ends)."""
    return jnp.where(jnp.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1.0 - w))


def scale_by_schedule_free(
    learning_rate: _blocks.ScalarOrSchedule = 0.0025,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    *,
    base: str = "adamw",
    silent_sgd_phase: bool = True,
    nu_dtype=None,
    keras_order: bool = False,
) -> optax.GradientTransformation:
    r"""Schedule-free SGD, AdamW or RAdam (``base``): the module docstring's step.

    The output is the whole update ``y_new - y`` (learning rate included): chain
    nothing after it but wrappers, and pass ``params`` to ``update``. ``sched_k`` is
    ``(k + 1) / warmup_steps`` for ``k < warmup_steps`` (else 1), times, for RAdam,
    ``r_{k+1}`` where ``rho_{k+1} > 4`` and ``0`` before (``1`` with
    ``silent_sgd_phase=False``). A schedule ``learning_rate`` is evaluated at ``k``.
    ``z`` is stored in the params' dtype (float32 for half-precision params), ``nu``
    as ``nu_dtype`` says (:mod:`optzoo.transforms._dtypes`); arithmetic runs in at
    least float32.

    ``keras_order=True`` computes the same step in ``keras.optimizers.ScheduleFreeAdamW``'s
    (Keras 3.15.1) order of operations, for ``optzoo.keras.ScheduleFreeAdamW``::

        nu <- nu + (g^2 - nu)(1 - b2);   z <- z - lr_k g / (sqrt(nu / (1 - b2^(k+1))) + eps)
        x  =  (y - (1 - b1) z_old) / b1;  y <- (1 - b1) z + b1 ((1 - ckp1) x + ckp1 z)

    (algebraically the module docstring's step; with ``r = weight_lr_power = 0``,
    ``ckp1 = 1 / (k + 1)``, Keras's averaging weight).
    """
    fn = v.owner("scale_by_schedule_free")
    v.check_learning_rate(fn, learning_rate)
    v.check_choice(fn, "base", base, BASES)
    v.check_range(fn, "b1", b1, 0.0, 1.0, low_open=True, high_open=True)
    if base != "sgd":
        v.check_range(fn, "b2", b2, 0.0, 1.0, high_open=True)
        v.check_nonnegative(fn, "eps", eps)
    v.check_nonnegative_each(fn, weight_decay=weight_decay, r=r, weight_lr_power=weight_lr_power)
    v.check_int(fn, "warmup_steps", warmup_steps, 0)
    v.check_bool(fn, "silent_sgd_phase", silent_sgd_phase)
    if not (isinstance(nu_dtype, str) and nu_dtype == _dtypes.PARAMS):
        v.check_dtype(fn, "nu_dtype", nu_dtype)
    v.check_bool(fn, "keras_order", keras_order)
    # Keras keeps z in the param's own dtype, as its other state.
    z_dtype = _dtypes.PARAMS if keras_order else None
    adaptive = base != "sgd"

    def init_fn(params):
        scalar = jnp.result_type(float)
        return ScheduleFreeState(
            count=jnp.zeros([], jnp.int32),
            b1=jnp.asarray(b1, scalar),
            lr_max=jnp.full([], -1.0, scalar),
            weight_sum=jnp.zeros([], scalar),
            z=_dtypes.copy_like(params, z_dtype),
            nu=_dtypes.zeros_like(params, nu_dtype) if adaptive else None,
        )

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.z)
        scalar = state.weight_sum.dtype
        k = state.count.astype(scalar)
        step = k + 1.0
        sched = jnp.where(k < warmup_steps, step / max(warmup_steps, 1), 1.0)
        adam_phase = jnp.asarray(True)
        if base == "radam":
            b2_t = b2**step
            bc2 = 1.0 - b2_t
            rho_inf = 2.0 / (1.0 - b2) - 1.0
            rho_t = rho_inf - 2.0 * step * b2_t / bc2
            adam_phase = rho_t > 4.0
            safe_rho = jnp.where(adam_phase, rho_t, 5.0)
            rect = jnp.sqrt((safe_rho - 4.0) * (safe_rho - 2.0) * rho_inf
                            / ((rho_inf - 4.0) * (rho_inf - 2.0) * safe_rho))
            sched = sched * jnp.where(adam_phase, rect, 0.0 if silent_sgd_phase else 1.0)
        elif base == "adamw":
            bc2 = 1.0 - b2**step
        lr = (value_at(learning_rate, state.count) * sched).astype(scalar)
        lr_max = jnp.maximum(lr, state.lr_max)
        weight = step**r * lr_max**weight_lr_power
        weight_sum = state.weight_sum + weight
        ckp1 = jnp.where(weight_sum == 0, 0.0, weight / jnp.where(weight_sum == 0, 1.0, weight_sum))
        y_lr = lr * (b1 * (1.0 - ckp1) - 1.0)

        nu = None
        if adaptive:
            if keras_order:
                nu = jax.tree.map(lambda n, g: wide(n) + (wide(g) * wide(g) - wide(n)) * (1.0 - b2),
                                  state.nu, updates)
            else:
                nu = jax.tree.map(lambda n, g: wide(n) * b2 + (1.0 - b2) * wide(g) * wide(g),
                                  state.nu, updates)

        def leaf(g, y, z, n=None):
            g, y, z = wide(g), wide(y), wide(z)
            if keras_order:
                z_new = z - lr * g / (jnp.sqrt(n / bc2) + eps)
                x = (y - (1.0 - b1) * z) / b1
                x_new = (1.0 - ckp1) * x + ckp1 * z_new
                return (1.0 - b1) * z_new + b1 * x_new - y, z_new
            d = g
            if adaptive:
                d = jnp.where(adam_phase, g / (jnp.sqrt(n / bc2) + eps), g)
            d = d + weight_decay * y
            y_new = lerp(y, z, ckp1) + y_lr * d
            return y_new - y, z - lr * d

        pairs = jax.tree.map(leaf, updates, params, state.z, *([nu] if adaptive else []))
        out, z = unzip(updates, pairs, 2)
        out = jax.tree.map(lambda u, g: u.astype(jnp.asarray(g).dtype), out, updates)
        new = ScheduleFreeState(
            count=optax.safe_increment(state.count), b1=jnp.asarray(b1, scalar), lr_max=lr_max,
            weight_sum=weight_sum, z=_dtypes.store(z, state.z),
            nu=_dtypes.store(nu, state.nu) if adaptive else None,
        )
        return out, new

    return optax.GradientTransformation(init_fn, update_fn)


@R.export
def schedule_free_eval_params(state: Any, params: optax.Params) -> optax.Params:
    """The evaluation params ``x`` of schedule-free training, from the params ``y`` and
    the :class:`ScheduleFreeState` in ``state`` (of :func:`schedule_free_adamw`,
    :func:`schedule_free_sgd`, :func:`schedule_free_radam`, or any chain or wrapper
    holding exactly one): ``x = lerp(y, z, 1 - 1/b1)``, the reference's
    ``optimizer.eval()``. Before the first update ``x = y``."""
    found = [s for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, ScheduleFreeState))
             if isinstance(s, ScheduleFreeState)]
    if len(found) != 1:
        raise ValueError(
            "schedule_free_eval_params: expected one ScheduleFreeState in the state, found "
            f"{len(found)}: pass the state of optzoo.schedule_free_adamw (or _sgd, _radam)")
    sf = found[0]
    w = 1.0 - 1.0 / sf.b1
    return jax.tree.map(lambda y, z: lerp(wide(y), wide(z), w).astype(jnp.asarray(y).dtype),
                        params, sf.z)


_COMMON_RANGES = {"learning_rate": "[0, inf)", "weight_decay": "[0, inf)", "r": "[0, inf)",
                  "weight_lr_power": "[0, inf)"}
_OPTAX_DIFF = ("optax recomputes x from y each step, has no r weighting and no built-in "
               "warmup (a schedule does it), and counts its schedule from 1")


@R.register(
    family="schedule-free", reference="Defazio et al. 2024", year=2024,
    counterparts=(R.reference("schedulefree", "AdamWScheduleFree",
                              "foreach (a torch speed option) is not taken"),
                  R.optax("contrib.schedule_free_adamw", _OPTAX_DIFF),
                  R.keras("ScheduleFreeAdamW",
                          "averaging weight 1/t (r = weight_lr_power = 0), Keras's decoupled "
                          "decay of y before the step instead of weight_decay * y in the "
                          "direction, Keras's order of operations (keras_order=True)")),
    ranges={**_COMMON_RANGES, "b1": "(0, 1)", "b2": "[0, 1)", "eps": "[0, inf)",
            "warmup_steps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, weight_decay=0.01, warmup_steps=3),
              "r": dict(learning_rate=0.02, b2=0.99, r=1.0, weight_lr_power=1.0)},
)
@v.named
def schedule_free_adamw(
    learning_rate: _blocks.ScalarOrSchedule = 0.0025,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> optax.GradientTransformation:
    r"""Schedule-free AdamW (Defazio et al., 2024), as ``schedulefree.AdamWScheduleFree``.

    With ``k`` the steps done and ``lr_k = learning_rate * min(1, (k+1)/warmup_steps)``::

        nu   = b2 nu + (1 - b2) g^2
        d    = g / (sqrt(nu / (1 - b2^(k+1))) + eps) + weight_decay * y
        ckp1 = weight_k / sum_{i<=k} weight_i,   weight_k = (k+1)^r lr_max^weight_lr_power
        y   <- lerp(y, z, ckp1) + lr_k (b1 (1 - ckp1) - 1) d
        z   <- z - lr_k d

    The params are ``y``; evaluate with :func:`optzoo.schedule_free_eval_params`
    ``(state, params)`` (``x = lerp(y, z, 1 - 1/b1)``, the reference's ``eval()``).
    No first-moment EMA: ``b1`` is the interpolation. Weight decay is taken at ``y``
    and added to the normalized gradient (the reference's; the paper's Algorithm 1
    decays at ``y`` too). Defaults are the reference's (``learning_rate = 0.0025``).
    A schedule ``learning_rate`` (evaluated at ``k``, times the warmup) is allowed
    but schedule-free training needs none. ``update`` needs ``params``.
    """
    return scale_by_schedule_free(learning_rate, b1, b2, eps, weight_decay, warmup_steps, r,
                                  weight_lr_power, base="adamw")


@R.register(
    family="schedule-free", reference="Defazio et al. 2024", year=2024,
    counterparts=(R.reference("schedulefree", "SGDScheduleFree",
                              "foreach (a torch speed option) is not taken"),
                  R.optax("contrib.schedule_free_sgd", _OPTAX_DIFF)),
    ranges={**_COMMON_RANGES, "momentum": "(0, 1)", "warmup_steps": "[0, inf)"},
    examples={"": dict(learning_rate=0.1, momentum=0.8, weight_decay=0.01, warmup_steps=3),
              "r": dict(learning_rate=0.2, r=0.5, weight_lr_power=0.0)},
)
@v.named(b1="momentum")
def schedule_free_sgd(
    learning_rate: _blocks.ScalarOrSchedule = 1.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
) -> optax.GradientTransformation:
    r"""Schedule-free SGD (Defazio et al., 2024), as ``schedulefree.SGDScheduleFree``.

    With ``k`` the steps done and ``lr_k = learning_rate * min(1, (k+1)/warmup_steps)``::

        d    = g + weight_decay * y
        ckp1 = weight_k / sum_{i<=k} weight_i,   weight_k = (k+1)^r lr_max^weight_lr_power
        y   <- lerp(y, z, ckp1) + lr_k (momentum (1 - ckp1) - 1) d
        z   <- z - lr_k d

    Evaluate with :func:`optzoo.schedule_free_eval_params` ``(state, params)``
    (``x = lerp(y, z, 1 - 1/momentum)``). Defaults are the reference's
    (``learning_rate = 1``, ``momentum = 0.9``). ``update`` needs ``params``.
    """
    return scale_by_schedule_free(learning_rate, momentum, 0.0, 0.0, weight_decay, warmup_steps,
                                  r, weight_lr_power, base="sgd")


@R.register(
    family="schedule-free", reference="Defazio et al. 2024", year=2024,
    counterparts=(R.reference("schedulefree", "RAdamScheduleFree",
                              "foreach (a torch speed option) is not taken"),),
    ranges={**_COMMON_RANGES, "b1": "(0, 1)", "b2": "[0, 1)", "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.99, weight_decay=0.01),
              "sgd_phase": dict(learning_rate=0.01, b2=0.9, r=1.0, silent_sgd_phase=False)},
)
@v.named
def schedule_free_radam(
    learning_rate: _blocks.ScalarOrSchedule = 0.0025,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    silent_sgd_phase: bool = True,
) -> optax.GradientTransformation:
    r"""Schedule-free RAdam, as ``schedulefree.RAdamScheduleFree``: schedule-free AdamW
    whose warmup is RAdam's rectification (Liu et al., 2020) instead of ``warmup_steps``.

    With ``t = k + 1``, ``rho_inf = 2 / (1 - b2) - 1`` and
    ``rho_t = rho_inf - 2 t b2^t / (1 - b2^t)``::

        rect_t = sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))  if rho_t > 4
               = 0  (silent_sgd_phase)  or  1  (not silent_sgd_phase)              otherwise
        lr_k   = learning_rate * rect_t
        d      = g / (sqrt(nu / (1 - b2^t)) + eps) + weight_decay * y    if rho_t > 4
               = g + weight_decay * y                                      otherwise

    then ``ckp1``, ``y`` and ``z`` as :func:`schedule_free_adamw`. With the default
    ``silent_sgd_phase`` the first steps (``rho_t <= 4``: 4 steps at ``b2 = 0.999``)
    leave the params unchanged but update ``nu``. Defaults are the reference's.
    """
    return scale_by_schedule_free(learning_rate, b1, b2, eps, weight_decay, 0, r,
                                  weight_lr_power, base="radam",
                                  silent_sgd_phase=silent_sgd_phase)
