"""Weight averaging: SWA (Izmailov et al., 2018) and an EMA of the params.

A wrapper keeps, beside the inner optimizer's state, an average of the params the
inner optimizer produces; the params being trained are not touched. Read the
average with :func:`swa_params` (to evaluate or to export the model).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms._dtypes import wide

__all__ = ["SwaState", "swa", "swa_params"]


class SwaState(NamedTuple):
    """State of :func:`swa`.

    ``count``: updates seen (int32, saturating). ``n_averaged``: params folded into
    the average so far (torch's ``AveragedModel.n_averaged``). ``averaged``: the
    average, shaped like the params (a copy of the params until the first fold).
    ``inner_state``: the wrapped optimizer's state.
    """

    count: jax.Array
    n_averaged: jax.Array
    averaged: optax.Params
    inner_state: optax.OptState


AverageFn = Callable[[Any, Any, jax.Array], Any]


def _example_inner() -> optax.GradientTransformation:
    from optzoo.optimizers import sgd  # the optimizers import this module's package

    return sgd(0.05, momentum=0.9)


@R.register(
    kind="wrapper", family="averaging", reference="Izmailov et al. 2018", year=2018,
    counterparts=(R.torch("swa_utils.AveragedModel", name="torch.optim.swa_utils.AveragedModel"),),
    ranges={"decay": "[0, 1]", "start_step": "[0, inf)", "every": "[1, inf)"},
    examples={"": lambda: dict(tx=_example_inner(), start_step=2, every=2),
              "ema": lambda: dict(tx=_example_inner(), decay=0.9)},
    extra_args=(),
)
@v.named
def swa(
    tx: optax.GradientTransformation,
    decay: float | None = None,
    *,
    start_step: int = 0,
    every: int = 1,
    average_fn: AverageFn | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Average the params that ``tx`` produces: SWA (equal weights) or an EMA.

    After update ``t`` (``t = 1, 2, ...``) the params are ``w_t = params + u_t``
    (``u_t``: ``tx``'s update, returned unchanged). When ``t > start_step`` and
    ``(t - start_step - 1) % every == 0``, ``w_t`` is folded into the average::

        first fold:  w_avg = w_t
        SWA:         w_avg <- w_avg + (w_t - w_avg) / (n + 1)         (decay=None)
        EMA:         w_avg <- w_avg + (1 - decay) (w_t - w_avg)
        n <- n + 1

    ``n``: the number of folds so far. These are ``torch.optim.swa_utils``'s
    ``AveragedModel.update_parameters`` after every optimizer step (``start_step``,
    ``every``: the ``if`` around it in a torch loop) with its default SWA rule or
    ``get_ema_multi_avg_fn(decay)``.

    Args:
      tx: the optimizer whose params are averaged (extra arguments pass through).
      decay: ``None`` for SWA; in ``[0, 1]`` for an EMA.
      start_step: updates before the first fold, >= 0.
      every: fold every ``every`` updates, >= 1 (``every=steps_per_epoch`` folds once
        an epoch, as SWA's recipe does).
      average_fn: ``average_fn(averaged, w_t, n) -> averaged`` on whole trees,
        replacing the rule above (not called for the first fold).

    ``update`` needs ``params``. Read the average with :func:`swa_params`.
    """
    fn = v.owner("swa")
    if not isinstance(tx, optax.GradientTransformation):
        raise ValueError(f"{fn}: tx must be an optax.GradientTransformation, got "
                         f"{type(tx).__name__}")
    if decay is not None:
        v.check_range(fn, "decay", decay, 0.0, 1.0)
    v.check_int(fn, "start_step", start_step, 0)
    v.check_int(fn, "every", every, 1)
    if average_fn is not None and decay is not None:
        raise ValueError(f"{fn}: give decay or average_fn, not both")
    if average_fn is None:
        average_fn = _ema(decay) if decay is not None else _swa
    inner = optax.with_extra_args_support(tx)

    def init_fn(params):
        zero = jnp.zeros([], jnp.int32)
        return SwaState(zero, zero, jax.tree.map(jnp.array, params), inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.averaged)
        updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
        count = optax.safe_increment(state.count)
        w = optax.apply_updates(params, updates)
        due = jnp.logical_and(count > start_step, (count - start_step - 1) % every == 0)
        first = state.n_averaged == 0
        folded = average_fn(state.averaged, w, state.n_averaged)
        averaged = jax.tree.map(
            lambda a, new, x: jnp.where(due, jnp.where(first, x, new), a).astype(a.dtype),
            state.averaged, folded, w)
        n_averaged = jnp.where(due, optax.safe_increment(state.n_averaged), state.n_averaged)
        return updates, SwaState(count, n_averaged, averaged, inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _swa(averaged, w, n):
    weight = 1.0 / (n.astype(jnp.result_type(float)) + 1.0)
    return jax.tree.map(lambda a, x: wide(a) + weight * (wide(x) - wide(a)), averaged, w)


def _ema(decay: float) -> AverageFn:
    def fold(averaged, w, n):
        del n
        return jax.tree.map(lambda a, x: wide(a) + (1.0 - decay) * (wide(x) - wide(a)),
                            averaged, w)

    return fold


@R.export
def swa_params(state: Any) -> optax.Params:
    """The averaged params held by the :class:`SwaState` in ``state`` (the state of
    :func:`swa`, or of any chain or wrapper around it). Before the first fold they
    are the params ``init`` saw. Raises ``ValueError`` unless the state holds
    exactly one ``SwaState``."""
    found = [s for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, SwaState))
             if isinstance(s, SwaState)]
    if len(found) != 1:
        raise ValueError(f"swa_params: expected one SwaState in the state, found {len(found)}: "
                         "pass the state of optzoo.swa (or of a chain holding one)")
    return found[0].averaged
