"""Wrappers that change *when* an inner transformation is applied, not what it computes.

Non-finite policy
-----------------
optzoo's optimizers do not silently repair NaN or Inf: a non-finite gradient fed to
a bare optimizer propagates into its state and the params, exactly as it would in
PyTorch or optax, so the failure is visible. To survive occasional bad batches
(overflowing losses in mixed precision, a rare exploding step) wrap the optimizer
in :func:`skip_nonfinite`; a step with any NaN or Inf is then dropped whole and
counted, and nothing it touched is kept.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms._tree import all_finite

__all__ = ["SkipNonfiniteState", "skip_nonfinite"]


class SkipNonfiniteState(NamedTuple):
    """State of :func:`skip_nonfinite`.

    ``skipped``: total number of dropped steps (int32, saturating); a non-finite
    step applied after giving up is not counted.
    ``consecutive``: non-finite steps since the last finite one, dropped or applied
    after giving up (int32, saturating; optax's ``notfinite_count``).
    ``last_finite``: whether the most recent step was applied as computed.
    ``inner_state``: the wrapped transformation's state, untouched by dropped steps.
    """

    skipped: jax.Array
    consecutive: jax.Array
    last_finite: jax.Array
    inner_state: optax.OptState


def _example_inner() -> optax.GradientTransformation:
    from optzoo.optimizers import adam  # the optimizers import this module's package

    return adam(0.02, b1=0.8)


@R.register(
    kind="wrapper", family="non-finite", reference="skip rule of loss scaling (Micikevicius "
    "et al. 2018)", year=2018,
    counterparts=(R.optax("apply_if_finite", "optax checks only the incoming gradients, not "
                          "the inner update, and always gives up after max_consecutive_errors"),),
    ranges={"max_consecutive": "[0, inf)"},
    examples={"": lambda: dict(inner=_example_inner(), max_consecutive=3)},
)
@v.named
def skip_nonfinite(
    inner: optax.GradientTransformation, max_consecutive: int | None = None
) -> optax.GradientTransformationExtraArgs:
    r"""Drop every step whose gradients, or whose computed update, hold a NaN or Inf.

    On each call the inner transformation runs, then::

        ok_t = all(isfinite(grads_t)) and all(isfinite(inner_updates_t))
        consecutive_t = 0 if ok_t else consecutive_{t-1} + 1
        give_up_t     = max_consecutive is not None and consecutive_t > max_consecutive
        apply_t       = ok_t or give_up_t
        updates_t     = inner_updates_t    if apply_t else zeros_like(grads_t)
        inner_state_t = new_inner_state_t  if apply_t else inner_state_{t-1}
        skipped_t     = skipped_{t-1} + (not apply_t)

    A dropped step therefore leaves the params (the update is exactly zero) and the
    inner state (including its step counter) *bitwise* unchanged: the next finite
    step continues as if the bad one never happened. Counters are int32 and
    saturate. The selection uses ``jnp.where``, so the wrapper traces, vmaps and
    shards like the optimizer it wraps.

    Args:
      inner: any ``optax.GradientTransformation`` (extra arguments such as
        ``value`` are passed through).
      max_consecutive: ``None`` (default) drops non-finite steps forever. An
        integer ``n >= 0`` gives up after ``n`` consecutive dropped steps and then
        applies the non-finite steps (until a finite one resets the run), so that
        a run that has truly diverged fails loudly instead of stalling; this is the
        rule of ``optax.apply_if_finite(inner, max_consecutive_errors=n)``. ``n = 0``
        therefore never drops a step (every step is applied, ``skipped`` stays 0),
        as ``max_consecutive_errors=0`` in optax.

    Differences from ``optax.apply_if_finite``: optax inspects only the incoming
    gradients, so a finite gradient that makes the inner update overflow (e.g. a
    float16 second moment) still corrupts the params; here the inner's output is
    checked too. optax also has no "never give up" setting. optax's
    ``total_notfinite`` counts every non-finite step, ``skipped`` only the dropped
    ones (it differs by the steps applied after giving up). Otherwise the two
    agree step for step.
    """
    fn = v.owner("skip_nonfinite")
    if not isinstance(inner, optax.GradientTransformation):
        raise ValueError(
            f"{fn}: inner must be an optax.GradientTransformation, got {type(inner).__name__}"
        )
    if max_consecutive is not None:
        v.check_int(fn, "max_consecutive", max_consecutive, 0)
    inner = optax.with_extra_args_support(inner)

    def init_fn(params):
        zero = jnp.zeros([], jnp.int32)
        return SkipNonfiniteState(zero, zero, jnp.array(True), inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        new_updates, new_inner = inner.update(updates, state.inner_state, params, **extra_args)
        ok = jnp.logical_and(all_finite(updates), all_finite(new_updates))
        consecutive = jnp.where(ok, 0, optax.safe_increment(state.consecutive)).astype(jnp.int32)
        apply = ok if max_consecutive is None else jnp.logical_or(ok, consecutive > max_consecutive)
        skipped = jnp.where(apply, state.skipped, optax.safe_increment(state.skipped))
        out = jax.tree.map(lambda u: jnp.where(apply, u, jnp.zeros_like(u)), new_updates)
        inner_state = jax.tree.map(
            lambda new, old: jnp.where(apply, new, old), new_inner, state.inner_state
        )
        return out, SkipNonfiniteState(skipped, consecutive, ok, inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
