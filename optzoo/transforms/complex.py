r"""Complex parameters as pairs of reals, as ``torch.optim`` treats them.

torch's Adam, AdamW, SGD, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam and
ASGD view a complex tensor as a real one with a trailing axis of two
(``torch.view_as_real``): every operation of the update (squares, roots, maxima,
sums, weight decay) acts on the real and the imaginary part separately, as on
two real coordinates. :func:`split_complex` runs any real transformation that
way::

    z = x + i y                    ->   [x, y]            (params, last axis of 2)
    g = dL/dx - i dL/dy  (jax.grad)  ->   [dL/dx, dL/dy]    (gradients)
    inner update [u_x, u_y]        ->   u_x + i u_y       (the step, added to z)

Gradient convention. For a real loss ``L`` of complex params, ``jax.grad``
returns the *conjugate* of torch's ``.grad``: JAX gives ``dL/dx - i dL/dy``,
torch ``dL/dx + i dL/dy`` (``f(z) = |z|^2 + 3 Im z`` at ``z = 1 + 2i``: JAX
``2 - 7i``, torch ``2 + 7i``). The gradients ``update`` receives are JAX's by
default, so the imaginary part is negated on the way in; optzoo fed
``jax.grad`` then follows torch fed ``.backward()`` step for step.
``conjugate_gradients=False`` takes torch's convention instead.

State. The inner transformation is initialised with the params as pairs, so a
complex leaf's state leaves (moments, accumulators, momentum buffers, ASGD's
average) are real arrays of shape ``param.shape + (2,)`` in the matching real
dtype (float32 for complex64, float64 for complex128): torch's complex state
viewed as real. :func:`from_real_pairs` turns such a tree back into complex
arrays. The wrapper adds no node of its own: a state has the inner
transformation's structure, and for real params it is exactly the inner state.

Real leaves pass through untouched; a tree without complex leaves is handed to
the inner transformation as it is, so real params trace exactly the inner
update. Anything the inner transformation computes from the params sees the
pairs: a weight-decay ``mask`` given as a function of the params gets a complex
leaf with one more axis, and ``optzoo.asgd_averaged_params(state)`` returns the
average of a complex leaf as pairs (``asgd_averaged_params(state, params)`` gives
it back complex).

Hyperparameters stay real: ``optax.inject_hyperparams`` gives the numbers it
holds the params' dtype (complex here), and the optimizers decorated with
:func:`with_complex_params` take their real parts.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v

__all__ = ["from_real_pairs", "split_complex", "to_real_pairs", "with_complex_params"]


def _is_complex(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jnp.complexfloating)


def _any_complex(tree: Any) -> bool:
    return any(_is_complex(x) for x in jax.tree.leaves(tree))


def to_real_pairs(tree: Any, *, conjugate: bool = False) -> Any:
    """Every complex leaf ``z`` as the real array ``stack([z.real, z.imag], -1)``
    (``-z.imag`` with ``conjugate``); other leaves as they are."""
    sign = -1 if conjugate else 1

    def pair(x):
        return jnp.stack([x.real, sign * x.imag], axis=-1) if _is_complex(x) else x

    return jax.tree.map(pair, tree)


def from_real_pairs(tree: Any, like: Any) -> Any:
    """The inverse of :func:`to_real_pairs`: each leaf of ``tree`` whose leaf in
    ``like`` (the params, or the gradients) is complex becomes ``x[..., 0] + i
    x[..., 1]`` in ``like``'s dtype; other leaves stay. ``tree`` may be a state
    subtree shaped like the params (an ASGD average, a moment)."""

    def unpair(x, ref):
        if not _is_complex(ref):
            return x
        return jax.lax.complex(x[..., 0], x[..., 1]).astype(ref.dtype)

    return jax.tree.map(unpair, tree, like)


def split_complex(
    inner: optax.GradientTransformation, *, conjugate_gradients: bool = True
) -> optax.GradientTransformation:
    """``inner`` (a real transformation) applied to complex leaves as real pairs:
    see the module docstring. Returns the same kind of transformation as
    ``inner`` (extra arguments of ``update`` are passed on unchanged)."""

    def init_fn(params):
        return inner.init(to_real_pairs(params) if _any_complex(params) else params)

    def update_fn(updates, state, params=None, **extra):
        if not (_any_complex(updates) or _any_complex(params)):
            return inner.update(updates, state, params, **extra)
        pairs = to_real_pairs(updates, conjugate=conjugate_gradients)
        new, state = inner.update(pairs, state, to_real_pairs(params), **extra)
        return from_real_pairs(new, updates), state

    if isinstance(inner, optax.GradientTransformationExtraArgs):
        return optax.GradientTransformationExtraArgs(init_fn, update_fn)
    return optax.GradientTransformation(init_fn, lambda u, s, p=None: update_fn(u, s, p))


def with_complex_params(constructor):
    """Decorate an optimizer constructor whose reference treats complex params as
    real pairs: its transformation is wrapped in :func:`split_complex`, and the
    gradient checks of :func:`optzoo._validate.named` accept complex leaves for
    it (other optimizers refuse them with a ``TypeError`` naming the optimizer).
    Place it under ``named`` and under a flavor's param groups, so that each
    group's leaves are selected on the complex params."""

    @functools.wraps(constructor)
    def wrapped(*args, **kwargs):
        return split_complex(constructor(*args, **kwargs))

    setattr(wrapped, v.TAKES_COMPLEX, True)
    return wrapped
