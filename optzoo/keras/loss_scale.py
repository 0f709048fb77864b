"""``keras.optimizers.LossScaleOptimizer`` (Keras 3) as an optax wrapper, and its
``optimizer.scale_loss(loss)``.

Keras's JAX trainer scales the loss, differentiates, and calls
``optimizer.stateless_apply``; here::

    tx = LossScaleOptimizer(optzoo.keras.AdamW(1e-3))

    def scaled_loss(params, state, x, y):
        return scale_loss(loss_fn(params, x, y), state)

    grads = jax.grad(scaled_loss)(params, state, x, y)
    updates, state = tx.update(grads, state, params)
"""

from __future__ import annotations

import optax

from optzoo import _validate as v
from optzoo.transforms import loss_scale as _ls

__all__ = ["LossScaleOptimizer", "scale_loss"]


def _without_loss_scale_factor(inner):
    """Keras sets ``inner_optimizer.loss_scale_factor = None`` so that the gradients
    are not unscaled twice: rebuild an ``optzoo.keras`` optimizer given one."""
    built = v.built_with(inner)
    if built is None or built[1].get("loss_scale_factor") is None:
        return inner
    import optzoo.keras as ok

    name, arguments = built
    factory = getattr(ok, name, None)
    if factory is None:
        return inner
    return factory(**dict(arguments, loss_scale_factor=None))


@v.named
def LossScaleOptimizer(
    inner_optimizer: optax.GradientTransformation,
    initial_scale: float = 2.0**15,
    dynamic_growth_steps: int = 2000,
    name: str | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""``keras.optimizers.LossScaleOptimizer``: dynamic loss scaling around
    ``inner_optimizer`` (an ``optzoo.keras`` optimizer, or any transformation).

    The wrapper receives the gradients of the *scaled* loss (:func:`scale_loss`);
    per call, as Keras's ``stateless_apply``::

        finite = all(isfinite(grads))
        finite:      g = grads / scale;  inner_optimizer applies g
                     step_counter += 1;  when it reaches dynamic_growth_steps:
                     scale *= 2, step_counter = 0
        not finite:  scale *= 0.5, step_counter = 0; weights and inner state unchanged

    State: :class:`~optzoo.transforms.loss_scale.LossScaleState` (``scale``: Keras's
    ``dynamic_scale``, float32; ``growth_tracker``: its ``step_counter``;
    ``inner_state``). On a skipped step the inner optimizer is not applied, so its
    ``iterations`` (Keras's ``LossScaleOptimizer.iterations``, the schedules'
    clock) do not advance. The gradients are divided by the scale before the
    scale's update of the same step. Keras lets a growing scale reach ``inf``
    (torch's ``GradScaler`` keeps the finite one). An ``optzoo.keras`` optimizer
    built with ``loss_scale_factor`` is rebuilt without it, as Keras clears it.
    Defaults are Keras 3's; ``name`` is accepted and ignored.
    """
    fn = "LossScaleOptimizer"
    del name
    v.check_positive(fn, "initial_scale", initial_scale)
    v.check_int(fn, "dynamic_growth_steps", dynamic_growth_steps, 1)
    return _ls.dynamic_loss_scale(
        fn, _without_loss_scale_factor(inner_optimizer), initial_scale, 2.0, 0.5,
        dynamic_growth_steps, reciprocal=False, keep_finite=False,
    )


def scale_loss(loss, state):
    """Keras's ``optimizer.scale_loss(loss)``: ``loss * scale``, in the promoted dtype
    of the loss and the float32 scale (a float16 loss gives float32, as in Keras).
    ``state``: the :func:`LossScaleOptimizer`'s state, or any state holding it."""
    return _ls.scaled(loss, _ls.find_loss_scale_state("scale_loss", state).scale, False)
