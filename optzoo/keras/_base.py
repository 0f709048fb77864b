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
``core`` (the optimizer's own rule, learning rate included). Keras's common
constructor arguments are declared once, in :class:`KerasOptions`; the decorator
:func:`keras_optimizer` adds them to each optimizer's signature and docstring.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _blocks
from optzoo import _validate as v
from optzoo._blocks import ScalarOrSchedule
from optzoo.transforms.clipping import clip_by_global_norm, clip_by_norm
from optzoo.transforms._tree import instances

__all__ = [
    "KerasOptions",
    "KerasState",
    "keras_optimizer",
    "keras_transform",
    "ema_params",
    "finalize_variable_values",
]


@dataclasses.dataclass(frozen=True)
class KerasOptions:
    """The arguments every ``keras.optimizers`` optimizer takes, declared once:
    Keras 3's names, order and defaults (``weight_decay_mask``, keyword-only, is
    optzoo's version of ``exclude_from_weight_decay``). What each does is listed in
    :mod:`optzoo.keras.optimizers`; :func:`keras_transform` does it."""

    weight_decay: float | None = None
    clipnorm: float | None = None
    clipvalue: float | None = None
    global_clipnorm: float | None = None
    use_ema: bool = False
    ema_momentum: float = 0.99
    ema_overwrite_frequency: int | None = None
    loss_scale_factor: float | None = None
    gradient_accumulation_steps: int | None = None
    name: str | None = None
    _: dataclasses.KW_ONLY
    weight_decay_mask: Any = None


_COMMON_PARAMETERS = tuple(inspect.signature(KerasOptions).parameters.values())

_COMMON_DOC = """
    Common Keras arguments (``weight_decay``, ``clipnorm``, ``clipvalue``,
    ``global_clipnorm``, ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``,
    ``loss_scale_factor``, ``gradient_accumulation_steps``, ``weight_decay_mask``,
    ``name``): see :mod:`optzoo.keras.optimizers`."""


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
    found = instances(state, KerasState)
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


def check_options(fn: str, learning_rate, o: KerasOptions) -> None:
    """Keras's constructor checks, with optzoo's message shape."""
    v.check_learning_rate(fn, learning_rate)
    if o.weight_decay is not None and not callable(o.weight_decay):
        v.check_nonnegative(fn, "weight_decay", o.weight_decay)
    clips = {"clipnorm": o.clipnorm, "clipvalue": o.clipvalue,
             "global_clipnorm": o.global_clipnorm}
    set_clips = [name for name, value in clips.items() if value is not None]
    for name in set_clips:
        v.check_nonnegative(fn, name, clips[name])
    if len(set_clips) > 1:
        raise ValueError(
            f"{fn}: only one of clipnorm, clipvalue and global_clipnorm can be set, "
            f"got {', '.join(set_clips)}"
        )
    v.check_bool(fn, "use_ema", o.use_ema)
    v.check_range(fn, "ema_momentum", o.ema_momentum, 0.0, 1.0)
    if o.ema_overwrite_frequency is not None:
        v.check_int(fn, "ema_overwrite_frequency", o.ema_overwrite_frequency, low=1)
    if o.loss_scale_factor is not None:
        v.check_positive(fn, "loss_scale_factor", o.loss_scale_factor)
    if o.gradient_accumulation_steps is not None:
        v.check_int(fn, "gradient_accumulation_steps", o.gradient_accumulation_steps, low=2)


def _clip(o: KerasOptions) -> optax.GradientTransformation | None:
    """The one clip that is set. Keras treats ``None`` and ``0`` as "no clipping";
    an array (``optax.inject_hyperparams``) always clips, so that ``init`` and
    ``update`` build the same transformation."""
    for value, make in ((o.clipnorm, clip_by_norm), (o.global_clipnorm, clip_by_global_norm),
                        (o.clipvalue, optax.clip)):
        if value is not None and not _blocks.is_zero(value):
            return make(value)
    return None


def keras_optimizer(
    arguments: Callable[..., Any] | None = None, **spelled: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make ``own`` a Keras optimizer: ``own`` declares only the optimizer's own
    arguments, with Keras's defaults, and returns its own rule as an optax
    transformation (learning rate included). The decorated function takes
    ``own``'s arguments followed by :class:`KerasOptions`'s, in Keras's order
    (a real ``inspect.Signature``, so ``help()`` shows exactly Keras's
    arguments), and returns ``own``'s rule wrapped by :func:`keras_transform`.

    ``own`` receives ``learning_rate`` as its rule's own counter sees it
    (:func:`inner_learning_rate`). A common argument that ``own`` declares itself
    (``AdamW``'s ``weight_decay``) keeps ``own``'s place and default, and ``own``
    receives it too. ``arguments``: a core block whose arguments are the
    optimizer's own, names and defaults (``scale_by_ftrl`` for ``Ftrl``); ``own``
    then takes them as keywords. ``spelled`` is :func:`optzoo._validate.named`'s:
    Keras's spelling of the core arguments, for the messages of checks run in
    the core. ``own`` may return ``(rule, overrides)``, ``overrides`` a dict of
    :class:`KerasOptions` fields that replace the given ones (``Muon``'s per-leaf
    ``weight_decay``, a callable ``params -> tree of float | None``).
    """

    def decorate(own: Callable[..., Any]) -> Callable[..., Any]:
        own_sig = inspect.signature(own)
        declared = inspect.signature(arguments or own).parameters
        signature = own_sig.replace(
            parameters=[*declared.values(),
                        *(p for p in _COMMON_PARAMETERS if p.name not in declared)]
        )

        @functools.wraps(own)
        def optimizer(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            given = bound.arguments
            options = KerasOptions(**{p.name: given[p.name] for p in _COMMON_PARAMETERS})
            learning_rate = given["learning_rate"]
            own_args = {name: given[name] for name in declared}
            own_args["learning_rate"] = inner_learning_rate(
                learning_rate, options.gradient_accumulation_steps)
            core = own(**own_args)
            if type(core) is tuple:  # (rule, common options the rule sets itself)
                core, overrides = core
                options = dataclasses.replace(options, **overrides)
            return keras_transform(own.__name__, core, learning_rate, options)

        optimizer.__signature__ = signature
        optimizer.__doc__ = (own.__doc__ or "").rstrip() + "\n" + _COMMON_DOC + "\n"
        return v.named(**spelled)(optimizer)

    return decorate


def _select(pred, new, old):
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def keras_transform(
    fn: str,
    core: optax.GradientTransformation,
    learning_rate: ScalarOrSchedule,
    o: KerasOptions = KerasOptions(),
) -> optax.GradientTransformation:
    """Wrap ``core`` (one optimizer's own rule, producing ``w_new - w`` from the
    clipped gradient and the decayed weights) in Keras's per-call sequence (see the
    module docstring), with Keras's common arguments ``o``. ``core`` must
    take its learning rate from :func:`inner_learning_rate` so that schedules see
    Keras's step.
    """
    check_options(fn, learning_rate, o)
    schedule = _as_schedule(learning_rate)
    clip = _clip(o)
    n_acc = o.gradient_accumulation_steps

    def init_fn(params):
        return KerasState(
            iterations=jnp.zeros([], jnp.int32),
            inner=core.init(params),
            ema=optax.tree.zeros_like(params) if o.use_ema else None,
            accumulated=optax.tree.zeros_like(params) if n_acc else None,
        )

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError(f"{fn}: params are required (Keras updates read the weights)")
        v.check_tree_match(fn, updates, params, "params")
        i = state.iterations
        grads = jax.tree.map(lambda g, p: g.astype(p.dtype), updates, params)
        if o.loss_scale_factor is not None:
            grads = jax.tree.map(lambda g: g / o.loss_scale_factor, grads)

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
        if o.weight_decay is not None:
            lr = schedule(i)
            mask = o.weight_decay_mask
            mask = mask(params) if callable(mask) else mask
            if mask is None:
                mask = jax.tree.map(lambda _: True, params)
            # A callable weight_decay gives each leaf its own value (None: no decay).
            wd = o.weight_decay(params) if callable(o.weight_decay) else jax.tree.map(
                lambda _: o.weight_decay, params)

            def decay(p, use, wd_p):
                if wd_p is None:
                    return p
                lr_p = jnp.asarray(lr).astype(p.dtype)
                return jnp.where(use, p - p * jnp.asarray(wd_p, p.dtype) * lr_p, p)

            decayed = jax.tree.map(decay, params, mask, wd,
                                   is_leaf=lambda x: x is None)

        delta, inner = core.update(grads, state.inner, decayed)
        new_params = jax.tree.map(lambda p, d: p + d.astype(p.dtype), decayed, delta)
        if n_acc:
            new_params = _select(is_update, new_params, params)
            inner = _select(is_update, inner, state.inner)

        ema = None
        if o.use_ema:
            m = jnp.where(ema_clock != 0, o.ema_momentum, 0.0)
            ema = jax.tree.map(
                lambda e, p: m.astype(p.dtype) * e + (1 - m.astype(p.dtype)) * p,
                state.ema,
                new_params,
            )
            if o.ema_overwrite_frequency is not None:
                overwrite = (ema_clock + 1) % o.ema_overwrite_frequency == 0
                new_params = _select(overwrite, ema, new_params)

        out = jax.tree.map(lambda n, p, g: (n - p).astype(g.dtype), new_params, params, updates)
        return out, KerasState(
            iterations=optax.safe_increment(i), inner=inner, ema=ema, accumulated=accumulated
        )

    return optax.GradientTransformation(init_fn, update_fn)
