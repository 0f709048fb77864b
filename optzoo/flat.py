"""FlatParams: many small parameter leaves kept in a few contiguous buffers.

XLA compiles an element-wise optimizer update into one loop per leaf, so a model with
hundreds of small leaves pays a fixed per-loop cost hundreds of times per step. A
:class:`FlatParams` holds the same numbers in a few 1-D buffers per dtype (and per
sharding) of at most ``max_leaves`` leaves each, with the leaves above a size threshold
kept as they are (they gain nothing from a buffer and would only pay for the extra
copies)::

    fp = optzoo.flat_params(params)        # a pytree: its leaves are the buffers
    tx = optzoo.adam(1e-3)
    state = tx.init(fp)                    # Adam's mu and nu are FlatParams too
    step = optzoo.make_train_step(loss_fn, tx)   # loss_fn(params_tree, batch)
    fp, state, loss = step(fp, state, batch)
    params = fp.tree()                     # the original pytree (slices of the buffers)

``fp.tree()`` is differentiable and, inside ``jax.jit``, free: its slices fuse into
the ops that read them, and the gradient of a loss written on ``fp.tree()`` with
respect to ``fp`` is a FlatParams (the slices' transpose writes each leaf's gradient
into place). ``fp.like(tree)`` puts any pytree shaped like the params (gradients,
one of Adam's moments) into the same layout.

Optimizers whose result depends only on each element (SGD, Adam and its relatives,
RMSProp, Lion, ...) see fewer, larger arrays and compute the same numbers. Those whose
result depends on where a leaf begins and ends or on its shape either compute per
original leaf (LARS's and LAMB's trust ratio, :func:`optzoo.clip_by_norm`) or refuse a
FlatParams with a one-line ``TypeError`` naming the optimizer (:func:`refuse`): nothing
changes meaning silently.

Threshold (``DEFAULT_THRESHOLD``, elements per leaf): measured on a 2-core x86 CPU
(load average about 4) with ``benchmarks/flat_params.py --threshold``: whole Adam
training step (loss on the pytree, gradient, update, apply), everything buffered vs the
pytree, ratio of medians: 0.31 at 1,024 elements per leaf (200 leaves), 0.45 at 4,096,
0.54 at 16,384, then 1.88 at 32,768 (200 leaves; 1.09 with 50), 2.58 at 65,536 and 3.00
at 262,144. Leaves above 16,384 elements are kept as they are (``docs/flat.md``).

Leaves per buffer (``DEFAULT_MAX_LEAVES``): XLA compiles one kernel for each leaf read
out of a buffer, and two reads are the same kernel only at the same offset of buffers of
the same length. Buffers of at most 128 leaves let the repeated leaves of a model (its
layers) share their kernels: the whole Adam step at 2M params in 1,000 leaves of one size
compiled in 0.53x the pytree's time with buffers of 128 leaves and 1.32x with one buffer
(fresh processes, medians of 3), and the step ran 0.40x the pytree's time against 0.58x.
Fewer leaves per buffer compile faster still, but a model's step can pay for each extra
buffer: the 24-layer MLP of ``optzoo bench --layout`` (96 leaves) stepped in 0.63x the
pytree's time in one buffer and 0.83x in two (``docs/flat.md``).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["DEFAULT_MAX_LEAVES", "DEFAULT_THRESHOLD", "FlatParams", "flat_params", "per_leaf",
           "refuse", "to_flat", "to_tree"]

DEFAULT_THRESHOLD = 16_384
DEFAULT_MAX_LEAVES = 128


@dataclasses.dataclass(frozen=True)
class _Leaf:
    """Where one original leaf lives: ``child`` (index into the children), and for a
    buffered leaf its ``offset`` in that buffer (``offset`` is ``None`` for a leaf kept
    as it is)."""

    path: str
    shape: tuple[int, ...]
    dtype: str
    child: int
    offset: int | None

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclasses.dataclass(frozen=True)
class _Layout:
    """The static half of a FlatParams (pytree aux data): hashable, so a jitted
    function is traced once per layout."""

    treedef: Any
    leaves: tuple[_Leaf, ...]
    n_buffers: int
    buffer_sizes: tuple[int, ...]
    threshold: int
    max_leaves: int

    def describe(self) -> str:
        kept = len(self.leaves) - sum(leaf.offset is not None for leaf in self.leaves)
        return (f"{len(self.leaves)} leaves in {self.n_buffers} buffer(s) of "
                f"{list(self.buffer_sizes)} elements, {kept} kept as they are")


class FlatParams:
    """A pytree of parameters stored as contiguous buffers (see the module docstring).

    Its pytree children are the buffers (1-D, the small leaves grouped by dtype and
    sharding, at most ``max_leaves`` per buffer) followed by the leaves kept as they are;
    its static aux data is the layout: the original treedef and, per original leaf, its
    path, shape, dtype, buffer and offset. Build one with :func:`flat_params`.
    """

    __slots__ = ("children", "layout")

    def __init__(self, children: tuple, layout: _Layout):
        self.children = tuple(children)
        self.layout = layout

    @property
    def buffers(self) -> tuple:
        """The contiguous buffers (the first ``layout.n_buffers`` children)."""
        return self.children[: self.layout.n_buffers]

    def tree(self) -> Any:
        """The original pytree: each buffered leaf a static slice of its buffer,
        reshaped; each big leaf the array itself. The dtype of each leaf is the dtype
        of the child it comes from (so ``state.mu.tree()`` of float32 moments of
        bfloat16 params is float32). Its gradient is one concatenation per buffer
        (a custom VJP: the slices' own transpose would pad every leaf to the
        buffer's length and add them up)."""
        return jax.tree.unflatten(self.layout.treedef, _unpack(self.layout, self.children))

    def like(self, tree: Any) -> FlatParams:
        """``tree`` (a pytree with the original structure and shapes: gradients, an
        optimizer's moment) in this layout."""
        return _pack(tree, self.layout, "FlatParams.like")

    def __repr__(self) -> str:
        return f"FlatParams({self.layout.describe()})"


def _slices(layout: _Layout, children: tuple) -> list:
    out = []
    for leaf in layout.leaves:
        x = children[leaf.child]
        if leaf.offset is not None:
            x = jax.lax.slice_in_dim(x, leaf.offset, leaf.offset + leaf.size)
            x = jnp.reshape(x, leaf.shape)
        out.append(x)
    return out


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _unpack(layout: _Layout, children: tuple) -> list:
    return _slices(layout, children)


def _unpack_fwd(layout: _Layout, children: tuple):
    # residuals must be arrays: an empty one per child carries its dtype
    return _slices(layout, children), tuple(jnp.zeros((0,), jnp.result_type(c))
                                            for c in children)


def _unpack_bwd(layout: _Layout, empties: tuple, cotangents: list):
    sizes = (*layout.buffer_sizes, *(leaf.shape for leaf in layout.leaves
                                     if leaf.offset is None))
    specs = [((n,) if isinstance(n, int) else n, e.dtype) for n, e in zip(sizes, empties)]
    parts: list[list] = [[] for _ in range(layout.n_buffers)]
    kept = []
    for leaf, ct in zip(layout.leaves, cotangents):
        if not jnp.issubdtype(specs[leaf.child][1], jnp.inexact):
            continue  # integer leaves have no gradient (float0 below)
        ct = jnp.asarray(ct, specs[leaf.child][1])
        if leaf.offset is None:
            kept.append(ct)
        else:
            parts[leaf.child].append(jnp.ravel(ct))
    out, kept = [], iter(kept)
    for i, (shape, dtype) in enumerate(specs):
        if not jnp.issubdtype(dtype, jnp.inexact):
            out.append(np.zeros(shape, jax.dtypes.float0))
        elif i < layout.n_buffers:
            p = parts[i]
            out.append(jnp.concatenate(p) if len(p) > 1 else p[0])
        else:
            out.append(next(kept))
    return (tuple(out),)


_unpack.defvjp(_unpack_fwd, _unpack_bwd)


def _flatten_with_keys(fp: FlatParams):
    n = fp.layout.n_buffers
    keys = [jax.tree_util.GetAttrKey(f"buffer{i}") if i < n else
            jax.tree_util.GetAttrKey(f"kept{i - n}") for i in range(len(fp.children))]
    return list(zip(keys, fp.children)), fp.layout


jax.tree_util.register_pytree_with_keys(
    FlatParams,
    _flatten_with_keys,
    lambda layout, children: FlatParams(tuple(children), layout),
    lambda fp: (fp.children, fp.layout),
)


def _path(path) -> str:
    return jax.tree_util.keystr(path) or "<root>"


def _is_array_like(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def _sharding_key(x: Any) -> Any:
    """The sharding a buffered leaf must share with its buffer-mates (``None``: a
    host array, a tracer, or one on the default device)."""
    sharding = getattr(x, "sharding", None) if isinstance(x, jax.Array) else None
    if sharding is None or isinstance(x, jax.core.Tracer):
        return None
    if len(sharding.device_set) == 1 and not getattr(x, "committed", True):
        return None
    return sharding


def _replicated(x: Any) -> bool:
    sharding = _sharding_key(x)
    return sharding is None or sharding.is_fully_replicated


def flat_params(params: Any, *, threshold: int = DEFAULT_THRESHOLD,
                max_leaves: int = DEFAULT_MAX_LEAVES) -> FlatParams:
    """``params`` as a :class:`FlatParams`: the leaves with at most ``threshold``
    elements concatenated into 1-D buffers per (dtype, sharding), in tree order, each
    holding at most ``max_leaves`` leaves; the leaves above the threshold, and leaves
    sharded across devices (not fully replicated), kept as they are. ``threshold=0``
    keeps every non-empty leaf as it is; a huge threshold buffers everything, a huge
    ``max_leaves`` makes one buffer per (dtype, sharding).

    ``DEFAULT_THRESHOLD`` (16,384 elements) is the largest leaf size at which a buffer
    still paid off in a whole Adam training step on CPU (0.54x the pytree's time; 1.88x
    at 32,768: module docstring, ``docs/flat.md``); on an accelerator, where the
    per-loop cost is larger, a bigger threshold may pay. ``DEFAULT_MAX_LEAVES`` (128)
    bounds the compile time (module docstring).

    Raises ``TypeError`` for a leaf that is not an array (or for a FlatParams) or a
    non-integer ``threshold`` / ``max_leaves``, and ``ValueError`` for a negative
    threshold or ``max_leaves < 1``.
    """
    if isinstance(params, FlatParams):
        raise TypeError("flat_params: params is already a FlatParams")
    for name, value, low in (("threshold", threshold, 0), ("max_leaves", max_leaves, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"flat_params: {name} must be an int, got {value!r}")
        if value < low:
            raise ValueError(f"flat_params: {name} must be >= {low}, got {value}")
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(params)
    for path, x in with_paths:
        if not _is_array_like(x):
            raise TypeError(f"flat_params: params leaf {_path(path)} must be an array, got "
                            f"{type(x).__name__}")
    groups: dict[tuple, list[int]] = {}  # (dtype, sharding) -> leaf indices
    for i, (_, x) in enumerate(with_paths):
        if np.size(x) <= threshold and _replicated(x):
            groups.setdefault((jnp.dtype(x.dtype), _sharding_key(x)), []).append(i)
    chunks = [(key, idx[start:start + max_leaves]) for key, idx in groups.items()
              for start in range(0, len(idx), max_leaves)]
    placement: dict[int, tuple[int, int | None]] = {}
    sizes = []
    for b, (_, idx) in enumerate(chunks):
        offset = 0
        for i in idx:
            placement[i] = (b, offset)
            offset += int(np.size(with_paths[i][1]))
        sizes.append(offset)
    n_buffers = len(chunks)
    kept = [i for i in range(len(with_paths)) if i not in placement]
    for k, i in enumerate(kept):
        placement[i] = (n_buffers + k, None)
    leaves = tuple(
        _Leaf(_path(path), tuple(np.shape(x)), jnp.dtype(x.dtype).name, *placement[i])
        for i, (path, x) in enumerate(with_paths))
    layout = _Layout(treedef, leaves, n_buffers, tuple(sizes), int(threshold), int(max_leaves))
    fp = _pack(params, layout, "flat_params")
    shardings = [key[1] for key, _ in chunks]
    children = [jax.device_put(c, s) if s is not None and not isinstance(c, jax.core.Tracer)
                else c for c, s in zip(fp.children, shardings)]
    return FlatParams((*children, *fp.children[n_buffers:]), layout)


def _pack(tree: Any, layout: _Layout, fn: str) -> FlatParams:
    """``tree`` (the original structure and shapes) concatenated into ``layout``."""
    if isinstance(tree, FlatParams):
        if tree.layout != layout:
            raise ValueError(f"{fn}: tree is a FlatParams with another layout "
                             f"({tree.layout.describe()}; expected {layout.describe()})")
        return tree
    leaves, treedef = jax.tree.flatten(tree)
    if treedef != layout.treedef:
        raise ValueError(f"{fn}: tree structure {treedef} does not match the params' "
                         f"structure {layout.treedef}")
    parts: list[list] = [[] for _ in range(layout.n_buffers)]
    kept = []
    for leaf, x in zip(layout.leaves, leaves):
        if not _is_array_like(x):
            raise TypeError(f"{fn}: leaf {leaf.path} must be an array, got {type(x).__name__}")
        if tuple(np.shape(x)) != leaf.shape:
            raise ValueError(f"{fn}: leaf {leaf.path} has shape {tuple(np.shape(x))}, "
                             f"expected {leaf.shape}")
        if leaf.offset is None:
            kept.append(x)
        else:
            parts[leaf.child].append(jnp.ravel(x))
    buffers = []
    for b, p in enumerate(parts):
        dtype = jnp.result_type(*p)
        buffers.append(jnp.concatenate([q.astype(dtype) for q in p]) if len(p) > 1
                       else p[0].astype(dtype))
    return FlatParams((*buffers, *kept), layout)


def refuse(fn: str, tree: Any) -> None:
    """Raise a one-line ``TypeError`` when ``tree`` is a FlatParams: for optimizers
    whose result depends on leaf boundaries or shapes and that do not compute per
    original leaf. A plain ``isinstance`` at ``init``: free for a pytree of arrays."""
    if isinstance(tree, FlatParams):
        raise TypeError(f"{fn}: FlatParams is not supported (the update depends on the "
                        "original leaves' boundaries or shapes); pass the pytree (fp.tree())")


def per_leaf(update_fn):
    """Wrap a stateless ``update_fn(updates, state, params)`` whose result depends on
    leaf boundaries (a per-leaf norm) so that on a FlatParams it runs on the original
    leaves (``.tree()``) and puts its result back into the layout: the same arithmetic
    as on the pytree, leaf by leaf. On a pytree it is ``update_fn`` itself."""

    def wrapped(updates, state, params=None):
        if not isinstance(updates, FlatParams):
            return update_fn(updates, state, params)
        tree_params = params.tree() if isinstance(params, FlatParams) else params
        out, state = update_fn(updates.tree(), state, tree_params)
        return updates.like(out), state

    return wrapped


def _layout_of(fp: Any, fn: str) -> _Layout:
    if not isinstance(fp, FlatParams):
        raise TypeError(f"{fn}: params must be a FlatParams, got {type(fp).__name__}")
    return fp.layout


def to_flat(state: Any, fp: FlatParams) -> Any:
    """An optimizer state built on the pytree (``tx.init(fp.tree())``), with every
    subtree shaped like the params put into ``fp``'s layout: the state
    ``tx.init(fp)`` has, with the same values. Counters and other leaves pass
    unchanged. For element-wise optimizers (whose moments mirror the params); a run
    can switch layouts between two steps and continue on the same trajectory."""
    layout = _layout_of(fp, "to_flat")

    def is_params_like(x):
        return _matches(x, layout)

    return jax.tree.map(lambda x: _layout_pack(x, layout) if is_params_like(x) else x, state,
                        is_leaf=is_params_like)


def to_tree(state: Any) -> Any:
    """The inverse of :func:`to_flat`: every FlatParams in ``state`` replaced by its
    pytree (``.tree()``)."""
    is_flat = lambda x: isinstance(x, FlatParams)  # noqa: E731
    return jax.tree.map(lambda x: x.tree() if is_flat(x) else x, state, is_leaf=is_flat)


def _layout_pack(tree: Any, layout: _Layout) -> FlatParams:
    return _pack(tree, layout, "to_flat")


def _matches(x: Any, layout: _Layout) -> bool:
    """``x`` has the params' structure and shapes (and is not already flat)."""
    if isinstance(x, FlatParams):
        return False
    try:
        leaves, treedef = jax.tree.flatten(x)
    except Exception:  # noqa: BLE001  (an object jax cannot flatten)
        return False
    return (treedef == layout.treedef
            and all(_is_array_like(a) and tuple(np.shape(a)) == leaf.shape
                    for a, leaf in zip(leaves, layout.leaves)))
