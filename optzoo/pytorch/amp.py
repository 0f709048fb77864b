"""``torch.amp.GradScaler`` as an optax wrapper, and its ``scaler.scale(loss)``.

torch's loop::

    scaler = torch.amp.GradScaler("cuda", growth_interval=1000)
    with torch.autocast("cuda", dtype=torch.float16):
        loss = loss_fn(model(x), y)
    scaler.scale(loss).backward()
    scaler.unscale_(opt)                       # only to clip the unscaled gradients
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(opt)                           # skipped when a gradient is inf or NaN
    scaler.update()

becomes::

    tx = GradScaler(optax.chain(ClipGradNorm(1.0), AdamW(1e-3)), growth_interval=1000)

    def scaled_loss(params, state, x, y):
        return scale_loss(loss_fn(params, x, y), state)

    grads = jax.grad(scaled_loss)(params, state, x, y)
    updates, state = tx.update(grads, state, params)     # unscale_, step and update

The wrapped optimizer sees the unscaled gradients, so everything chained inside it
(clipping included) is what torch runs after ``unscale_``.
"""

from __future__ import annotations

import optax

from optzoo import _validate as v
from optzoo.transforms import loss_scale as _ls
from optzoo.transforms.loss_scale import LossScaleState

__all__ = ["GradScaler", "LossScaleState", "get_scale", "scale_loss"]


@v.named
def GradScaler(
    inner: optax.GradientTransformation,
    init_scale: float = 2.0**16,
    growth_factor: float = 2.0,
    backoff_factor: float = 0.5,
    growth_interval: int = 2000,
    enabled: bool = True,
) -> optax.GradientTransformationExtraArgs:
    r"""``torch.amp.GradScaler``: dynamic loss scaling around the optimizer ``inner``.

    The wrapper receives the gradients of the *scaled* loss (:func:`scale_loss`)
    and, per call, does torch's ``unscale_``, ``step`` and ``update``::

        found_inf = any(not isfinite(grads))          (checked on the scaled gradients)
        g = grads * float32(1 / scale)                (torch's inv_scale)
        param += inner(g)                  if not found_inf, else nothing (state kept)
        found_inf:  scale *= backoff_factor,  tracker = 0
        otherwise:  tracker += 1; when tracker == growth_interval:
                    scale *= growth_factor (unless that overflows float32), tracker = 0

    State: :class:`~optzoo.transforms.loss_scale.LossScaleState` (``scale`` float32,
    ``growth_tracker`` int32, ``inner_state``). A skipped step leaves the params and
    the inner state, its step count included, unchanged, as torch skips
    ``optimizer.step()``; a scheduler stepped on the optimizer's count therefore
    does not advance either (torch's scheduler, stepped by the loop, does).
    Defaults are torch's. ``enabled=False`` keeps the scale at 1 and applies every
    step unchecked. torch's ``device`` argument has no counterpart (JAX places the
    scale with the state).
    """
    fn = "GradScaler"
    v.check_bool(fn, "enabled", enabled)
    v.check_positive(fn, "init_scale", init_scale)
    v.check_range(fn, "growth_factor", growth_factor, 1.0, low_open=True)
    v.check_range(fn, "backoff_factor", backoff_factor, 0.0, 1.0, low_open=True, high_open=True)
    v.check_int(fn, "growth_interval", growth_interval, 1)
    return _ls.dynamic_loss_scale(
        fn, inner, init_scale, growth_factor, backoff_factor, growth_interval,
        reciprocal=True, keep_finite=True, enabled=enabled,
    )


def scale_loss(loss, state):
    """torch's ``scaler.scale(loss)``: ``loss * scale``, in the loss's dtype (the
    product taken in at least float32). ``state``: the :func:`GradScaler`'s state,
    or any optimizer state holding it."""
    return _ls.scaled(loss, _ls.find_loss_scale_state("scale_loss", state).scale, True)


def get_scale(state):
    """torch's ``scaler.get_scale()``: the current loss scale (a float32 array)."""
    return _ls.find_loss_scale_state("get_scale", state).scale
