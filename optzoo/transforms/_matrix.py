"""Matrix helpers for the optimizers that precondition with (d, d) matrices.

Everything here is a pure function of arrays: it traces, vmaps (``jnp.linalg``'s
``svd``, ``eigh`` and ``qr`` batch over leading axes) and takes no Python branch on
a value. The decompositions run in the dtype they are given; callers widen half
precision first (:func:`optzoo.transforms._dtypes.wide`), as LAPACK has no float16.

Failure is reported, not hidden: a decomposition that meets a NaN or an inf (a
diverged gradient, LAPACK giving up) returns non-finite numbers, and each helper
returns them together with ``ok``, a scalar bool that says the result is finite.
The caller decides the fallback (:func:`keep_if_ok`: keep the previous matrix), so
one bad step leaves the preconditioner as it was instead of poisoning the params.

Shapes:

* :func:`merge_small_dims` groups adjacent small dimensions of a shape into products
  not above a bound (the reshape that ``merge_dims`` options do before
  preconditioning a convolution kernel).
* :class:`Factors` holds a leaf's per-axis matrices in a state.
* :func:`mode_dot` multiplies one axis of a tensor by a matrix (the "mode-k
  product" of Kronecker-factored preconditioners) and moves that axis last, so
  applying it once per axis returns the axes in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from optzoo import _validate as v


class Factors(NamedTuple):
    """The (d, d) matrices kept for one leaf, one per axis (``None`` for an axis
    left unpreconditioned); ``()`` for a leaf with no axis. A state holds one per
    param, in the params' tree: ``jax.tree.map(f, params, factors_tree)`` hands ``f``
    each leaf with its ``Factors``."""

    mats: tuple


def is_factors(x: Any) -> bool:
    """``is_leaf`` for trees of :class:`Factors`."""
    return isinstance(x, Factors)


def check_factors_match(fn: str, updates: Any, factors: Any) -> None:
    """Raise unless ``factors`` (a tree of :class:`Factors`) has the structure of
    ``updates`` (the message names both)."""
    v.check_tree_match(fn, updates, jax.tree.map(lambda _: 0, factors, is_leaf=is_factors))


def all_finite(*xs: jax.Array) -> jax.Array:
    """A scalar bool: every element of every ``x`` is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in xs])) if xs else jnp.array(True)


def keep_if_ok(ok: jax.Array, new: jax.Array, old: jax.Array) -> jax.Array:
    """``new`` where ``ok`` else ``old`` (cast to ``old``'s dtype): the fallback of a
    failed decomposition is the matrix from before it."""
    return jnp.where(ok, new, old.astype(new.dtype)).astype(old.dtype)


def inverse_root_svd(mat: jax.Array, p: float) -> tuple[jax.Array, jax.Array]:
    """``(mat^(-1/p), ok)`` by singular value decomposition: ``U diag(s^(-1/p)) V^T``
    for ``mat = U diag(s) V^T``.

    For a symmetric positive definite ``mat`` this is its inverse ``p``-th root. The
    result does not depend on LAPACK's choice of singular vectors: a sign flip of a
    column of ``U`` comes with the same flip in ``V``, and any rotation within a
    repeated singular value cancels in ``U diag(s^(-1/p)) V^T``. A singular ``mat``
    (``s = 0``) gives ``inf``, so ``ok`` is False.
    """
    u, s, vh = jnp.linalg.svd(mat, full_matrices=False)
    root = (u * s[..., None, :] ** (-1.0 / p)) @ vh
    return root, all_finite(root)


def eigh_descending(mat: jax.Array,
                    jitter: float = 1e-30) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(eigenvalues, eigenvectors, ok)`` of the symmetric ``mat + jitter * I``, in
    descending order of eigenvalue (columns of ``eigenvectors``).

    Each eigenvector is defined up to its sign, and LAPACK builds differ in the sign
    they return; callers that use the vectors as a basis in which only squares or
    back-projections are taken (``Q (Q^T x)``) are independent of the signs. Within a
    repeated eigenvalue (the null space of a rank-deficient matrix) the basis is not
    unique at all, and differs between LAPACK builds (MKL and OpenBLAS give different
    vectors for the same matrix). ``ok`` is False when the result is not finite.
    """
    d = mat.shape[-1]
    w, q = jnp.linalg.eigh(mat + jitter * jnp.eye(d, dtype=mat.dtype))
    w, q = w[..., ::-1], q[..., ::-1]
    return w, q, all_finite(w, q)


def orthonormal_basis(mat: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(Q, ok)``: the ``Q`` of the Householder QR decomposition ``mat = Q R``.

    Householder QR (LAPACK's ``geqrf``) gives the same ``Q`` for a matrix whose columns
    change sign (the reflectors do not change), so ``Q`` does not inherit the sign
    convention of an eigensolver that made ``mat``.
    """
    q, _ = jnp.linalg.qr(mat)
    return q, all_finite(q)


def merge_small_dims(shape: Sequence[int], max_dim: int) -> tuple[int, ...]:
    """Adjacent dimensions of ``shape`` merged while their product stays at most
    ``max_dim``: ``(1, 2, 512, 1, 2048, 1, 3, 4)`` with ``max_dim=1024`` gives
    ``(1024, 2048, 12)``. A dimension larger than ``max_dim`` stays on its own. A
    shape that merges into one dimension gives that one dimension (``()`` gives
    ``(1,)``), so the reshape always holds the same elements.
    """
    merged: list[int] = []
    product = 1
    for dim in shape:
        product *= dim
        if product > max_dim:
            merged.append(product // dim)
            product = dim
    merged.append(product)
    return tuple(merged)


def mode_dot(x: jax.Array, mat: jax.Array | None, transpose: bool = False) -> jax.Array:
    """Contract the first axis of ``x`` with ``mat`` and move the result to the last
    axis: ``out[..., j] = sum_i x[i, ...] mat[i, j]`` (``mat[j, i]`` with
    ``transpose``). ``mat = None`` only moves the first axis last (identity).

    Called once per axis, in order, it applies one matrix per axis and leaves the
    axes where they were: ``x x_0 M_0 x_1 M_1 ...``.
    """
    if mat is None:
        return jnp.moveaxis(x, 0, -1)
    return jnp.tensordot(x, mat, axes=[[0], [1 if transpose else 0]])


def unfold_gram(x: jax.Array, axis: int) -> jax.Array:
    """``X_(axis) X_(axis)^T``: the (d, d) Gram matrix of ``x`` unfolded along ``axis``
    (every other axis summed over)."""
    rest = [i for i in range(x.ndim) if i != axis]
    return jnp.tensordot(x, x, axes=[rest, rest])
