"""What every Keras 3 optimizer does around its own update step.

``keras.optimizers.Optimizer.apply`` (JAX backend) runs, per call::

    g = g / loss_scale_factor                              (if set)
    accumulate: on all but every N-th call only add g to the accumulators
    g = clip(g)                                            (clipnorm | global_clipnorm | clipvalue)
    w = w - w * weight_decay * lr(iterations)              (decoupled, before the step)
    w = update_step(g, w, lr(iterations))                  (the optimizer's own rule)
    ema = m * ema + (1 - m) * w, m = ema_momentum (0 on the first step)   (if use_ema)
    w = ema every ema_overwrite_frequency steps            (if set)
    iterations += 1

:func:`keras_transform` reproduces that sequence around an optax transformation
``core`` (the optimizer's own rule, learning rate included).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms.clipping import clip_by_global_norm, clip_by_norm

__all__ = ["KerasState", "keras_transform", "ema_params", "finalize_variable_values"]

ScalarOrSchedule = float | Callable[[Any], Any]


class KerasState(NamedTuple):
    """State of every ``optzoo.keras`` optimizer.

    ``iterations``: Keras's ``optimizer._iterations``, the number of
    ``apply_gradients`` calls so far (int32, saturating); a learning-rate schedule
    is evaluated at this value. ``inner``: the state of the optimizer's own rule.
    ``ema``: the exponential moving average of the weights (``use_ema`` only, else
    ``None``); read it with :func:`ema_params`. ``accumulated``: the gradient
    accumulators (``gradient_accumulation_steps`` only, else ``None``).
    """

    iterations: jax.Array
    inner: optax.OptState
    ema: optax.Params | None = None
    accumulated: optax.Updates | None = None


def _find_keras_state(state) -> KerasState:
    found = []

    def visit(x):
        if isinstance(x, KerasState):
            found.append(x)
        return x

    jax.tree.map(visit, state, is_leaf=lambda x: isinstance(x, KerasState))
    if not found:
        raise ValueError("no optzoo.keras optimizer state (KerasState) found in the state")
    if len(found) > 1:
        raise ValueError(f"{len(found)} KerasStates found in the state; pass the one you mean")
    return found[0]


def ema_params(state) -> optax.Params:
    """The EMA of the weights kept by a ``use_ema=True`` optimizer (Keras's
    ``optimizer._model_variables_moving_average``). ``state`` is the optimizer's
    state or any pytree containing exactly one :class:`KerasState`."""
    ks = _find_keras_state(state)
    if ks.ema is None:
        raise ValueError("the optimizer was built with use_ema=False: no EMA weights")
    return ks.ema


def finalize_variable_values(params: optax.Params, state) -> optax.Params:
    """Keras's ``optimizer.finalize_variable_values(vars)``, which ``model.fit``
    calls after the last epoch: the EMA weights when ``use_ema``, else ``params``
    unchanged. Returns new params (nothing is modified in place)."""
    ks = _find_keras_state(state)
    if ks.ema is None:
        return params
    return jax.tree.map(lambda p, e: e.astype(p.dtype), params, ks.ema)


def _as_schedule(learning_rate) -> Callable[[Any], Any]:
    if callable(learning_rate):
        return learning_rate
    return lambda step: learning_rate


def inner_learning_rate(learning_rate, gradient_accumulation_steps):
    """The learning rate as seen by the core's own counter.

    The core only runs on update calls; its counter ``c`` counts completed
    updates, while Keras evaluates a schedule at ``iterations``, which at update
    ``c + 1`` equals ``(c + 1) * N - 1`` (``N`` the accumulation steps, 1 without
    accumulation)."""
    if not callable(learning_rate):
        return learning_rate
    n = gradient_accumulation_steps or 1
    if n == 1:
        return learning_rate
    return lambda count: learning_rate(count * n + (n - 1))


def check_common(
    fn,
    learning_rate,
    weight_decay,
    clipnorm,
    clipvalue,
    global_clipnorm,
    use_ema,
    ema_momentum,
    ema_overwrite_frequency,
    loss_scale_factor,
    gradient_accumulation_steps,
):
    """Keras's constructor checks, with optzoo's message shape."""
    v.check_learning_rate(fn, learning_rate)
    if weight_decay is not None:
        v.check_nonnegative(fn, "weight_decay", weight_decay)
    for name, value in (
        ("clipnorm", clipnorm),
        ("clipvalue", clipvalue),
        ("global_clipnorm", global_clipnorm),
    ):
        if value is not None:
            v.check_nonnegative(fn, name, value)
    set_clips = [
        n
        for n, x in (
            ("clipnorm", clipnorm),
            ("clipvalue", clipvalue),
            ("global_clipnorm", global_clipnorm),
        )
        if x is not None
    ]
    if len(set_clips) > 1:
        raise ValueError(
            f"{fn}: only one of clipnorm, clipvalue and global_clipnorm can be set, "
            f"got {', '.join(set_clips)}"
        )
    v.check_bool(fn, "use_ema", use_ema)
    v.check_range(fn, "ema_momentum", ema_momentum, 0.0, 1.0)
    if ema_overwrite_frequency is not None:
        v.check_int(fn, "ema_overwrite_frequency", ema_overwrite_frequency, low=1)
    if loss_scale_factor is not None:
        v.check_positive(fn, "loss_scale_factor", loss_scale_factor)
    if gradient_accumulation_steps is not None:
        v.check_int(fn, "gradient_accumulation_steps", gradient_accumulation_steps, low=2)


def _clip(clipnorm, clipvalue, global_clipnorm) -> optax.GradientTransformation | None:
    # Keras treats a zero clip value as "no clipping".
    if clipnorm:
        return clip_by_norm(clipnorm)
    if global_clipnorm:
        return clip_by_global_norm(global_clipnorm)
    if clipvalue:
        return optax.clip(clipvalue)
    return None


def _select(pred, new, old):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def keras_transform(
    fn: str,
    core: optax.GradientTransformation,
    learning_rate: ScalarOrSchedule,
    weight_decay: float | None = None,
    clipnorm: float | None = None,
    clipvalue: float | None = None,
    global_clipnorm: float | None = None,
    use_ema: bool = False,
    ema_momentum: float = 0.99,
    ema_overwrite_frequency: int | None = None,
    loss_scale_factor: float | None = None,
    gradient_accumulation_steps: int | None = None,
    weight_decay_mask: Any = None,
) -> optax.GradientTransformation:
    """Wrap ``core`` (one optimizer's own rule, producing ``w_new - w`` from the
    clipped gradient and the decayed weights) in Keras's per-call sequence (see the
    module docstring). ``core`` must take its learning rate from
    :func:`inner_learning_rate` so that schedules see Keras's step.

    ``weight_decay_mask``: a pytree of bools shaped like the params (or a
    callable ``params -> such a tree``) choosing which leaves decay; the
    equivalent of ``optimizer.exclude_from_weight_decay``. ``None``: all leaves.
    """
    check_common(
        fn,
        learning_rate,
        weight_decay,
        clipnorm,
        clipvalue,
        global_clipnorm,
        use_ema,
        ema_momentum,
        ema_overwrite_frequency,
        loss_scale_factor,
        gradient_accumulation_steps,
    )
    schedule = _as_schedule(learning_rate)
    clip = _clip(clipnorm, clipvalue, global_clipnorm)
    n_acc = gradient_accumulation_steps

    def init_fn(params):
        return KerasState(
            iterations=jnp.zeros([], jnp.int32),
            inner=core.init(params),
            ema=optax.tree.zeros_like(params) if use_ema else None,
            accumulated=optax.tree.zeros_like(params) if n_acc else None,
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"{fn}: params are required (Keras updates read the weights)")
        v.check_tree_match(fn, updates, params, "params")
        i = state.iterations
        grads = jax.tree.map(lambda g, p: g.astype(p.dtype), updates, params)
        if loss_scale_factor is not None:
            grads = jax.tree.map(lambda g: g / loss_scale_factor, grads)

        if n_acc:
            is_update = (i + 1) % n_acc == 0
            summed = jax.tree.map(lambda g, a: g + a, grads, state.accumulated)
            accumulated = _select(is_update, optax.tree.zeros_like(summed), summed)
            grads = jax.tree.map(lambda s: s / n_acc, summed)
            # Keras's ``iterations`` property (the EMA's clock) counts updates.
            ema_clock = i // n_acc
        else:
            accumulated, ema_clock = None, i

        if clip is not None:
            grads, _ = clip.update(grads, clip.init(params))

        decayed = params
        if weight_decay is not None:
            lr = schedule(i)
            mask = weight_decay_mask(params) if callable(weight_decay_mask) else weight_decay_mask
            if mask is None:
                mask = jax.tree.map(lambda _: True, params)

            def decay(p, use):
                lr_p = jnp.asarray(lr).astype(p.dtype)
                return jnp.where(use, p - p * jnp.asarray(weight_decay, p.dtype) * lr_p, p)

            decayed = jax.tree.map(decay, params, mask)

        delta, inner = core.update(grads, state.inner, decayed)
        new_params = jax.tree.map(lambda p, d: p + d.astype(p.dtype), decayed, delta)
        if n_acc:
            new_params = _select(is_update, new_params, params)
            inner = _select(is_update, inner, state.inner)

        ema = None
        if use_ema:
            m = jnp.where(ema_clock != 0, ema_momentum, 0.0)
            ema = jax.tree.map(
                lambda e, p: m.astype(p.dtype) * e + (1 - m.astype(p.dtype)) * p,
                state.ema,
                new_params,
            )
            if ema_overwrite_frequency is not None:
                overwrite = (ema_clock + 1) % ema_overwrite_frequency == 0
                new_params = _select(overwrite, ema, new_params)

        out = jax.tree.map(lambda n, p, g: (n - p).astype(g.dtype), new_params, params, updates)
        return out, KerasState(
            iterations=optax.safe_increment(i), inner=inner, ema=ema, accumulated=accumulated
        )

    return optax.GradientTransformation(init_fn, update_fn)
