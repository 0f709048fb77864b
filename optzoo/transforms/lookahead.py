"""Lookahead: k fast steps of any optimizer, then a step of the slow weights towards
them (Zhang et al., 2019), on plain params."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms._dtypes import wide


class LookaheadState(NamedTuple):
    """State of :func:`lookahead`.

    ``count``: inner steps since the last synchronisation, in ``[0, k)`` (int32; it
    restarts at 0, so it never saturates). ``slow``: the slow weights, the params at
    the last synchronisation (the params ``init`` saw before the first).
    ``inner_state``: the wrapped optimizer's state.
    """

    count: jax.Array
    slow: optax.Params
    inner_state: optax.OptState


def _example_inner() -> optax.GradientTransformation:
    from optzoo.optimizers import adamw  # the optimizers import this module's package

    return adamw(0.02, b1=0.8, weight_decay=0.01)


@R.register(
    kind="wrapper", family="lookahead", reference="Zhang et al. 2019", year=2019,
    counterparts=(
        R.reference("pytorch_optimizer", "Lookahead",
                    "pullback_momentum='reset' / 'pullback' (which act on a torch "
                    "momentum_buffer) not taken: the default 'none'"),
        R.optax("lookahead", "optax updates LookaheadParams(fast, slow) and applies the "
                "synchronisation to both, a different params structure; here the params are "
                "the fast weights and the slow ones live in the state"),
    ),
    ranges={"k": "[1, inf)", "alpha": "[0, 1]"},
    examples={"": lambda: dict(inner=_example_inner(), k=3, alpha=0.6)},
)
@v.named
def lookahead(
    inner: optax.GradientTransformation, k: int = 5, alpha: float = 0.5
) -> optax.GradientTransformationExtraArgs:
    r"""Lookahead (Zhang et al., 2019): k inner steps, then the slow weights move towards them.

    The params are the *fast* weights; the state keeps the slow ones. On each call
    ``inner`` takes its step from the params, then every ``k``-th call::

        fast_t   = params + inner_update_t
        slow_t   = slow + alpha (fast_t - slow)          (every k-th step; else slow_t = slow)
        params_t = slow_t                                (every k-th step; else fast_t)
        update_t = params_t - params

    so the returned update is the inner update, except on a synchronisation step,
    where it moves the params to the new slow weights. The interpolation is
    computed as torch's ``lerp(fast, slow, 1 - alpha)``. ``lookahead_slow_params(state)``
    returns the slow weights (the reference's ``slow_params``, which it loads for
    evaluation with ``backup_and_load_cache``).

    Why plain params rather than optax's ``LookaheadParams(fast, slow)``: the
    result is an ordinary transformation on the model's params, so it chains
    (``optax.chain``, ``MultiSteps``, ``inject_hyperparams``, masking), works with
    ``nnx.Optimizer`` / ``TrainState`` unchanged and is applied with
    ``optax.apply_updates``. Both store the slow weights once, beside the fast ones;
    the params after every step are those of ``pytorch_optimizer.Lookahead``.
    ``optax.lookahead`` instead updates both copies through the params, applies the
    synchronisation one step later (to the slow copy first), and needs
    ``LookaheadParams`` wherever params are used.

    Args:
      inner: any ``optax.GradientTransformation`` (extra arguments such as ``value``
        are passed through); it sees the fast weights as ``params``.
      k: inner steps between synchronisations, an integer >= 1; default 5.
      alpha: the slow weights' step towards the fast ones, in [0, 1]; default 0.5
        (the paper's and the reference's defaults).

    Reference: ``pytorch_optimizer.Lookahead`` 4.1.0 with ``pullback_momentum='none'``
    (its default); the other settings reset or interpolate an SGD momentum buffer,
    which a generic optax state does not name.
    """
    fn = v.owner("lookahead")
    if not isinstance(inner, optax.GradientTransformation):
        raise ValueError(
            f"{fn}: inner must be an optax.GradientTransformation, got {type(inner).__name__}")
    v.check_int(fn, "k", k, 1)
    v.check_range(fn, "alpha", alpha, 0.0, 1.0)
    inner = optax.with_extra_args_support(inner)

    def init_fn(params):
        return LookaheadState(jnp.zeros([], jnp.int32), jax.tree.map(jnp.asarray, params),
                              inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        v.require_args(fn, params)
        v.check_tree_match(fn, updates, state.slow)
        inner_updates, inner_state = inner.update(updates, state.inner_state, params,
                                                  **extra_args)
        count = state.count + 1
        sync = count >= k
        weight = 1.0 - alpha

        def one(u, p, slow):
            fast = (wide(p) + wide(u)).astype(p.dtype)  # the params optax would apply
            f, s = wide(fast), wide(slow)
            new = jnp.where(weight < 0.5, f + weight * (s - f), s - (s - f) * (1.0 - weight))
            new = new.astype(slow.dtype)
            return (jnp.where(sync, wide(new) - wide(p), wide(u)).astype(u.dtype),
                    jnp.where(sync, new, slow))

        pairs = jax.tree.map(one, inner_updates, params, state.slow)
        treedef = jax.tree.structure(inner_updates)
        out, slow = jax.tree.transpose(treedef, jax.tree.structure((0, 0)), pairs)
        count = jnp.where(sync, 0, count).astype(jnp.int32)
        return out, LookaheadState(count, slow, inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@R.export
def lookahead_slow_params(state: Any) -> optax.Params:
    """The slow weights held by the :class:`LookaheadState` in ``state`` (the state
    of :func:`lookahead`, or of any chain or wrapper around it). Raises
    ``ValueError`` unless the state holds exactly one ``LookaheadState``."""
    found = [s for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, LookaheadState))
             if isinstance(s, LookaheadState)]
    if len(found) != 1:
        raise ValueError("lookahead_slow_params: expected one LookaheadState in the state, "
                         f"found {len(found)}: pass the state of optzoo.lookahead (or of a "
                         "chain holding one)")
    return found[0].slow
