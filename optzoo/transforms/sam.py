"""SAM: sharpness-aware minimization (Foret et al., 2021), its adaptive form ASAM
(Kwon et al., 2021) and Friendly SAM (Li et al., 2024), around any optimizer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip


class SamState(NamedTuple):
    """State of :func:`sam`: the wrapped optimizer's (SAM keeps nothing between steps)."""

    inner_state: optax.OptState


def _centralized(g):
    """``g`` less its mean over every axis but the first (gradient centralization,
    Yong et al. 2020); scalars and vectors unchanged."""
    if g.ndim <= 1:
        return g
    return g - jnp.mean(g, axis=tuple(range(1, g.ndim)), keepdims=True)


def sam_perturbation(grads, params, rho, adaptive=False, use_gc=False, perturb_eps=1e-12):
    r"""SAM's (ASAM's with ``adaptive``) ascent step ``e`` at ``params``, in at least
    float32::

        T      = |params| (adaptive) or 1
        scale  = rho / (||T grads||_2 + perturb_eps)        (one norm over every leaf)
        e      = T^2 gc(grads) scale                       (gc: centralized with use_gc)

    The norm is of the gradients as given (before centralization), as
    ``pytorch_optimizer.SAM`` 4.1.0 takes it."""
    g = jax.tree.map(wide, grads)
    w = jax.tree.map(wide, params)
    weighted = jax.tree.map(lambda gg, ww: gg * jnp.abs(ww), g, w) if adaptive else g
    norm = jnp.sqrt(sum((jnp.sum(jnp.square(x)) for x in jax.tree.leaves(weighted)),
                        jnp.zeros([], jnp.result_type(*jax.tree.leaves(g), float))))
    scale = rho / (norm + perturb_eps)
    if use_gc:
        _flat.refuse("sam", grads)  # centralization is over each leaf's axes
        g = jax.tree.map(_centralized, g)
    if adaptive:
        return jax.tree.map(lambda gg, ww: (ww * ww * gg) * scale, g, w)
    return jax.tree.map(lambda gg: gg * scale, g)


def _example_inner() -> optax.GradientTransformation:
    from optzoo.optimizers import sgd  # the optimizers import this module's package

    return sgd(0.05, momentum=0.8)


def _example_adaptive() -> optax.GradientTransformation:
    from optzoo.optimizers import adamw

    return adamw(0.02, b1=0.8, weight_decay=0.01)


@R.register(
    kind="wrapper", family="sharpness-aware",
    reference="Foret et al. 2021 (SAM); Kwon et al. 2021 (ASAM)", year=2021,
    counterparts=(R.reference("pytorch_optimizer", "SAM",
                              "foreach not taken; the reference takes the perturbation's "
                              "global gradient norm in float32, optzoo in the gradients' "
                              "precision"),),
    ranges={"rho": "[0, inf)", "perturb_eps": "[0, inf)"},
    examples={"": lambda: dict(tx=_example_inner(), rho=0.1),
              "adaptive,gc": lambda: dict(tx=_example_adaptive(), rho=0.5, adaptive=True,
                                          use_gc=True, perturb_eps=1e-8)},
    extra_args=("value_fn",),
)
@v.named
def sam(
    tx: optax.GradientTransformation, rho: float = 0.05, adaptive: bool = False,
    use_gc: bool = False, perturb_eps: float = 1e-12,
) -> optax.GradientTransformationExtraArgs:
    r"""SAM (Foret et al., 2021) and ASAM (Kwon et al., 2021) around any optimizer ``tx``.

    With ``g = grads`` the gradient of the loss at ``params``::

        T     = |params| if adaptive else 1                     (elementwise)
        e     = rho T^2 gc(g) / (||T g||_2 + perturb_eps)        (the ascent step)
        g_sam = grad(value_fn)(params + e)                       (the gradient there)
        update, inner_state = tx.update(g_sam, inner_state, params)

    so ``tx`` takes its usual step from the original params, with the gradient of
    the worst nearby point (to first order) within radius ``rho``; ASAM
    (``adaptive=True``) measures that radius relative to the weights' sizes. The
    norm is one norm over every leaf. ``use_gc`` centralizes the gradient of every
    leaf with two or more axes (subtracts its mean over all axes but the first)
    before it sets the ascent direction (the norm is of the raw gradient).

    Call ``update(grads, state, params, value_fn=loss_fn)``
    (:func:`optzoo.make_train_step` passes it): each update evaluates the gradient
    of ``value_fn`` once more, at the perturbed params, so a SAM step costs two
    gradients. Extra arguments (``value``, ``grad``, ``value_fn``) pass on to
    ``tx``; they are those of the original params.

    Args:
      tx: the base optimizer, any ``optax.GradientTransformation``.
      rho: the neighbourhood's radius, >= 0; default 0.05 (the paper's for
        CIFAR; ASAM uses larger ones, e.g. 0.5 to 2).
      adaptive: ASAM's scale-invariant neighbourhood; default False.
      use_gc: gradient centralization of the ascent direction; default False.
      perturb_eps: added to the norm, >= 0; default 1e-12.

    Reference: ``pytorch_optimizer.SAM`` 4.1.0 (its ``first_step``, the closure at
    the perturbed params, and ``second_step``, which restores the params and runs
    the base optimizer), whose defaults these are. pytorch-optimizer's other
    variants: FriendlySAM is :func:`friendly_sam`; GSAM, WSAM, BSAM and LookSAM are
    not here.
    """
    fn = v.owner("sam")
    if not isinstance(tx, optax.GradientTransformation):
        raise ValueError(
            f"{fn}: tx must be an optax.GradientTransformation, got {type(tx).__name__}")
    v.check_nonnegative(fn, "rho", rho)
    v.check_bool(fn, "adaptive", adaptive)
    v.check_bool(fn, "use_gc", use_gc)
    v.check_nonnegative(fn, "perturb_eps", perturb_eps)
    inner = optax.with_extra_args_support(tx)
    built_for: dict[Any, Any] = {}  # inner state structure -> params structure (messages)

    def init_fn(params):
        state = SamState(inner.init(params))
        built_for[jax.tree.structure(state.inner_state)] = jax.tree.structure(params)
        return state

    def check_state(updates, params, inner_state):
        """The inner state must be the one ``init`` builds for these params; its own
        check would name the optimizer inside."""
        have = jax.tree.structure(inner_state)
        try:
            expected = jax.tree.structure(jax.eval_shape(inner.init, params))
        except Exception:  # an init that cannot be traced: tx's own check applies
            return
        if expected == have:
            return
        raise ValueError(
            f"{fn}: the gradient structure does not match the optimizer state (was the "
            f"state initialised from other params?)\n  gradients: "
            f"{jax.tree.structure(updates)}\n  state: {built_for.get(have, have)}")

    def update_fn(updates, state, params=None, *, value_fn: Callable[..., Any] = None,
                  **extra):
        v.require_args(fn, params, value_fn=value_fn)
        v.check_tree_match(fn, updates, params, "params")
        check_state(updates, params, state.inner_state)
        e = sam_perturbation(updates, params, rho, adaptive, use_gc, perturb_eps)
        perturbed = jax.tree.map(lambda p, d: (wide(p) + d).astype(jnp.asarray(p).dtype),
                                 params, e)
        g_sam = jax.grad(value_fn)(perturbed)
        g_sam = jax.tree.map(lambda gs, g: gs.astype(g.dtype), g_sam, updates)
        out, inner_state = inner.update(g_sam, state.inner_state, params, value_fn=value_fn,
                                        **extra)
        return out, SamState(inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


class FriendlySamState(NamedTuple):
    """State of :func:`friendly_sam`: ``count`` (updates done, int32, saturating),
    ``momentum`` (the gradients' moving average) and the wrapped optimizer's state."""

    count: jax.Array
    momentum: optax.Updates
    inner_state: optax.OptState


@R.register(
    kind="wrapper", family="sharpness-aware", reference="Li et al. 2024 (Friendly SAM)",
    year=2024,
    counterparts=(R.reference("pytorch_optimizer", "FriendlySAM",
                              "foreach not taken; the reference takes the perturbation's "
                              "global gradient norm in float32, optzoo in the gradients' "
                              "precision"),),
    ranges={"rho": "[0, inf)", "sigma": "[0, inf)", "lmbda": "[0, inf)",
            "perturb_eps": "[0, inf)"},
    examples={"": lambda: dict(tx=_example_inner(), rho=0.1, sigma=0.8, lmbda=0.7),
              "adaptive": lambda: dict(tx=_example_adaptive(), rho=0.5, adaptive=True,
                                       perturb_eps=1e-8)},
    extra_args=("value_fn",),
)
@v.named
def friendly_sam(
    tx: optax.GradientTransformation, rho: float = 0.05, sigma: float = 1.0,
    lmbda: float = 0.9, adaptive: bool = False, perturb_eps: float = 1e-12,
) -> optax.GradientTransformationExtraArgs:
    r"""Friendly SAM (F-SAM, Li et al., 2024): SAM whose ascent direction leaves out the
    full-batch gradient, estimated by a moving average of the gradients.

    With ``g_t`` the gradient at ``params`` and ``T`` as in :func:`sam`::

        d_1 = g_1,                          m_1 = g_1
        d_t = g_t - sigma m_{t-1},          m_t = lmbda m_{t-1} + (1 - lmbda) g_t   (t > 1)
        e   = rho T^2 d_t / (||T d_t||_2 + perturb_eps)
        update, inner_state = tx.update(grad(value_fn)(params + e), inner_state, params)

    The mini-batch gradient's component along the average is the full gradient's,
    which the paper finds adds little to the sharpness estimate and harms
    generalization. ``sigma = 1``, ``lmbda = 0.9``, ``rho = 0.05`` are
    ``pytorch_optimizer.FriendlySAM`` 4.1.0's defaults (the paper's ``sigma``,
    ``lambda``); the average is updated as ``torch.lerp(m, g, 1 - lmbda)``. Call
    ``update(grads, state, params, value_fn=loss_fn)``; a step costs two gradients.
    """
    fn = v.owner("friendly_sam")
    if not isinstance(tx, optax.GradientTransformation):
        raise ValueError(
            f"{fn}: tx must be an optax.GradientTransformation, got {type(tx).__name__}")
    v.check_nonnegative_each(fn, rho=rho, sigma=sigma, lmbda=lmbda)
    v.check_bool(fn, "adaptive", adaptive)
    v.check_nonnegative(fn, "perturb_eps", perturb_eps)
    inner = optax.with_extra_args_support(tx)

    def init_fn(params):
        return FriendlySamState(jnp.zeros([], jnp.int32), _dtypes.zeros_like(params),
                                inner.init(params))

    def update_fn(updates, state, params=None, *, value_fn: Callable[..., Any] = None,
                  **extra):
        v.require_args(fn, params, value_fn=value_fn)
        v.check_tree_match(fn, updates, state.momentum)
        v.check_tree_match(fn, updates, params, "params")
        first = state.count == 0
        w = 1.0 - lmbda

        def leaf(g, m):
            g, m = wide(g), wide(m)
            d = jnp.where(first, g, g - sigma * m)
            new = jnp.where(w < 0.5, m + w * (g - m), g - (g - m) * (1.0 - w))
            return d, jnp.where(first, g, new)

        d, momentum = unzip(updates, jax.tree.map(leaf, updates, state.momentum), 2)
        e = sam_perturbation(d, params, rho, adaptive, False, perturb_eps)
        perturbed = jax.tree.map(lambda p, x: (wide(p) + x).astype(jnp.asarray(p).dtype),
                                 params, e)
        g_sam = jax.grad(value_fn)(perturbed)
        g_sam = jax.tree.map(lambda gs, g: gs.astype(g.dtype), g_sam, updates)
        out, inner_state = inner.update(g_sam, state.inner_state, params, value_fn=value_fn,
                                        **extra)
        return out, FriendlySamState(optax.safe_increment(state.count),
                                     _dtypes.store(momentum, state.momentum), inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
