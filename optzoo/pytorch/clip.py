"""``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``, as pure functions on
a gradient pytree and as optax transformations.

torch clips in place and returns the total norm; here the functions return the
clipped gradients (and the norm), and :func:`ClipGradNorm` / :func:`ClipGradValue`
put the same clip at the front of an ``optax.chain``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optzoo import _validate as v

__all__ = ["clip_grad_norm", "clip_grad_value", "ClipGradNorm", "ClipGradValue", "total_norm"]

_CLIP_EPS = 1e-6  # torch adds this to the norm before dividing


def _vector_norm(x, p: float):
    """``torch.linalg.vector_norm(x, p)`` of a whole array."""
    a = jnp.abs(jnp.ravel(x))
    if p == math.inf:
        return jnp.max(a, initial=0.0)
    if p == -math.inf:
        return jnp.min(a, initial=jnp.inf)
    if p == 0:
        return jnp.sum(a != 0).astype(a.dtype)
    if p == 1:
        return jnp.sum(a)
    if p == 2:
        return jnp.sqrt(jnp.sum(a * a))
    return jnp.sum(a**p) ** (1.0 / p)


def total_norm(grads, norm_type: float = 2.0):
    """The norm of the per-leaf norms, as torch computes it: ``vector_norm(stack([
    vector_norm(g, norm_type) for g in grads]), norm_type)``. 0 for no leaves."""
    norm_type = float(norm_type)
    leaves = jax.tree.leaves(grads)
    if not leaves:
        return jnp.asarray(0.0)
    norms = jnp.stack([_vector_norm(g, norm_type) for g in leaves])
    return _vector_norm(norms, norm_type)


def _raise_nonfinite(norm, norm_type):
    if not np.isfinite(np.asarray(norm)):
        raise RuntimeError(
            f"clip_grad_norm: the total norm of order {norm_type} of the gradients is "
            f"non-finite ({float(norm)}); set error_if_nonfinite=False to scale the "
            "gradients by it anyway"
        )


@v.named
def clip_grad_norm(
    grads,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
):
    r"""``torch.nn.utils.clip_grad_norm_`` without the in-place write.

    ::

        total_norm = norm_p([norm_p(g) for g in leaves])        (p = norm_type; inf: max |g|)
        coef       = min(max_norm / (total_norm + 1e-6), 1)
        g          = g * coef                                     (every leaf, always)

    Returns ``(clipped_grads, total_norm)``. As in torch the ``1e-6`` makes the
    clipped norm slightly below ``max_norm``, a non-finite norm turns the
    gradients into NaN (or zero, for an infinite norm and finite entries), and
    ``error_if_nonfinite=True`` raises ``RuntimeError`` instead: at once when
    called eagerly, and from a host callback when the call is traced under
    ``jax.jit``. ``optax.clip_by_global_norm`` differs: no ``1e-6``, 2-norm
    only, and it leaves the gradients unchanged below the threshold.
    ``foreach`` is accepted and ignored.
    """
    del foreach
    fn = "clip_grad_norm"
    v.check_nonnegative(fn, "max_norm", max_norm)
    v.check_bool(fn, "error_if_nonfinite", error_if_nonfinite)
    norm = total_norm(grads, norm_type)
    if error_if_nonfinite:
        if isinstance(norm, jax.core.Tracer):
            jax.debug.callback(_raise_nonfinite, norm, norm_type)
        else:
            _raise_nonfinite(norm, norm_type)
    coef = jnp.minimum(max_norm / (norm + _CLIP_EPS), 1.0)
    clipped = jax.tree.map(lambda g: (g * coef.astype(g.dtype)).astype(g.dtype), grads)
    return clipped, norm


@v.named
def clip_grad_value(grads, clip_value: float, foreach: bool | None = None):
    r"""``torch.nn.utils.clip_grad_value_`` without the in-place write: every
    coordinate clamped to ``[-clip_value, clip_value]``. Returns the clipped
    gradients. ``foreach`` is accepted and ignored."""
    del foreach
    v.check_range("clip_grad_value", "clip_value", clip_value)
    return jax.tree.map(lambda g: jnp.clip(g, -clip_value, clip_value).astype(g.dtype), grads)


@v.named
def ClipGradNorm(
    max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> optax.GradientTransformation:
    """:func:`clip_grad_norm` as a stateless transformation, for the front of a chain:
    ``optax.chain(ClipGradNorm(1.0), SGD(0.1))`` is torch's
    ``clip_grad_norm_(params, 1.0); opt.step()``. ``norm_type`` picks the formula,
    so it is a Python number (``static_args`` under ``optax.inject_hyperparams``)."""
    v.check_nonnegative("ClipGradNorm", "max_norm", max_norm)

    def update_fn(updates, state, params=None):
        del params
        return clip_grad_norm(updates, max_norm, norm_type, error_if_nonfinite)[0], state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


@v.named
def ClipGradValue(clip_value: float) -> optax.GradientTransformation:
    """:func:`clip_grad_value` as a stateless transformation."""
    v.check_range("ClipGradValue", "clip_value", clip_value)

    def update_fn(updates, state, params=None):
        del params
        return clip_grad_value(updates, clip_value), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)
