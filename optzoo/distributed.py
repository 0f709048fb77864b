r"""Sharded optimizer state: ZeRO-1 and FSDP layouts for any optzoo (or optax) optimizer.

An optimizer's state is a pytree whose leaves are either shaped like a param (Adam's
``mu`` and ``nu``), derived from one (Adafactor's row and column statistics, a
Kronecker factor ``(d, d)``) or scalars (step counters, Prodigy's ``d``). The
functions here give each leaf a :class:`jax.sharding.NamedSharding` on a mesh with a
data-parallel axis ``data_axis`` of size ``n``:

``mode="zero1"`` (ZeRO stage 1: params replicated over ``data_axis``, state split)
    * a leaf shaped like its param keeps the param's own partition (e.g. a
      ``"model"`` axis) and is split over ``data_axis`` along its largest dimension
      that the param's partition leaves free and that ``n`` divides (the first such
      dimension on a tie); replicated over ``data_axis`` when no dimension qualifies;
    * any other array leaf (factored row/column statistics, ``(d, d)``
      preconditioner factors, anything not shaped like a param) is split the same
      way from an unpartitioned start: over ``data_axis`` along its largest
      dimension divisible by ``n`` (for a square factor: the first axis), else
      replicated;
    * scalars are replicated.

``mode="fsdp"`` (params split too, see :func:`param_shardings`)
    * a leaf shaped like its param takes exactly the param's sharding;
    * other array leaves and scalars follow the ZeRO-1 rules above.

A state leaf belongs to the param whose key path is the longest run of keys inside
the leaf's own path (``opt_state[0].mu['w']`` and ``.v_row['w']`` belong to
``params['w']``, ``.preconds['w'][0]`` too); a leaf whose path names no param is
matched by shape when all params of that shape share one sharding.

The layout only decides where the bytes live: the update's arithmetic is the same,
and XLA inserts the collectives (``all-gather`` of a split state leaf where the
update needs it whole, ``reduce-scatter`` of the gradient under FSDP). See
``docs/scaling.md`` for what each family of optimizers adds per step.

Usage (params are arrays or :class:`jax.ShapeDtypeStruct`\ s; nothing is
allocated to compute the layout)::

    mesh = jax.make_mesh((8,), ("data",))
    state = optzoo.distributed.init(tx, params, mesh, mode="zero1")
    step = optzoo.distributed.make_train_step(loss_fn, tx, params, mesh, mode="zero1")
    params, state, loss = step(params, state, batch)

or, by hand, ``jax.jit(tx.init, out_shardings=state_shardings(tx, params, mesh))``
and ``jax.jit(step, out_shardings=(param_shardings(...), state_shardings(...), rep))``
with ``rep = NamedSharding(mesh, P())`` for the loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from optzoo import train as _train

__all__ = ["MODES", "init", "make_train_step", "param_shardings", "state_shardings"]

MODES = ("zero1", "fsdp")


def _check(fn: str, mesh: Any, mode: str, data_axis: str) -> int:
    if mode not in MODES:
        raise ValueError(f"{fn}: mode must be one of {', '.join(map(repr, MODES))}, "
                         f"got {mode!r}")
    if not isinstance(mesh, Mesh):
        raise ValueError(f"{fn}: mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    if data_axis not in mesh.axis_names:
        raise ValueError(f"{fn}: data_axis must be one of the mesh's axes "
                         f"{tuple(mesh.axis_names)}, got {data_axis!r}")
    return mesh.shape[data_axis]


def _spec_of(leaf: Any, ndim: int) -> tuple:
    """The leaf's own partition, one entry per dimension (unpartitioned: all None)."""
    sharding = getattr(leaf, "sharding", None)
    spec = tuple(sharding.spec) if isinstance(sharding, NamedSharding) else ()
    return spec + (None,) * (ndim - len(spec))


def _axes(entry: Any) -> tuple:
    if entry is None:
        return ()
    return tuple(entry) if isinstance(entry, tuple) else (entry,)


def _split(shape: tuple, spec: tuple, data_axis: str, n: int) -> P:
    """``spec`` with ``data_axis`` on the largest free dimension that ``n`` divides."""
    spec = list(spec)
    if not any(data_axis in _axes(s) for s in spec):
        free = [i for i, (d, s) in enumerate(zip(shape, spec)) if s is None and d >= n
                and d % n == 0]
        if free:
            spec[max(free, key=lambda i: (shape[i], -i))] = data_axis
    return P(*spec)


def _key(k: Any) -> str:
    return str(k)


def _owner(path: tuple, params: list) -> Any:
    """The param whose key path is the longest (then the last) run inside ``path``."""
    keys = [_key(k) for k in path]
    best, best_rank = None, None
    for ppath, leaf in params:
        pk = [_key(k) for k in ppath]
        for start in range(len(keys) - len(pk), -1, -1):
            if keys[start:start + len(pk)] == pk:
                rank = (len(pk), start)
                if best_rank is None or rank > best_rank:
                    best, best_rank = leaf, rank
                break
    return best


def _leaf_spec(path, leaf, params, by_shape, mode, data_axis, n) -> P:
    shape = tuple(leaf.shape)
    if len(shape) == 0:
        return P()
    owner = _owner(path, params)
    if owner is None:  # a path that names no param: a shape that names one sharding
        specs = by_shape.get(shape, set())
        owner_spec = next(iter(specs)) if len(specs) == 1 else None
    elif tuple(owner.shape) == shape:
        owner_spec = _spec_of(owner, len(shape))
    else:  # derived from its param (factored statistics, a Kronecker factor)
        owner_spec = None
    if owner_spec is None:
        return _split(shape, (None,) * len(shape), data_axis, n)
    if mode == "fsdp":
        return P(*owner_spec)
    return _split(shape, owner_spec, data_axis, n)


def state_shardings(tx: optax.GradientTransformation, params: Any, mesh: Mesh,
                    mode: str = "zero1", data_axis: str = "data") -> Any:
    """A :class:`~jax.sharding.NamedSharding` for every leaf of ``tx.init(params)``.

    ``params``: arrays or :class:`jax.ShapeDtypeStruct` (their ``sharding``, when a
    ``NamedSharding``, is the params' own partition; none means replicated); the state
    is traced with :func:`jax.eval_shape`, never allocated. ``mode``: ``"zero1"`` or
    ``"fsdp"`` (rules in the module docstring). ``data_axis``: the mesh axis the
    batch is split over. Returns a pytree with the state's structure.
    """
    n = _check("state_shardings", mesh, mode, data_axis)
    shapes = jax.eval_shape(tx.init, params)
    flat_params = jax.tree_util.tree_flatten_with_path(params)[0]
    by_shape: dict[tuple, set] = {}
    for _, p in flat_params:
        by_shape.setdefault(tuple(p.shape), set()).add(_spec_of(p, len(p.shape)))
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: NamedSharding(
            mesh, _leaf_spec(path, leaf, flat_params, by_shape, mode, data_axis, n)),
        shapes)


def param_shardings(params: Any, mesh: Mesh, mode: str = "zero1",
                    data_axis: str = "data") -> Any:
    """The params' shardings for ``mode``: under ``"zero1"`` each param's own
    partition (replicated over ``data_axis``); under ``"fsdp"`` that partition split
    over ``data_axis`` along the param's largest free dimension divisible by the axis
    size (replicated over it when none is)."""
    n = _check("param_shardings", mesh, mode, data_axis)

    def one(p):
        spec = _spec_of(p, len(p.shape))
        if mode == "fsdp" and len(p.shape):
            return NamedSharding(mesh, _split(tuple(p.shape), spec, data_axis, n))
        return NamedSharding(mesh, P(*spec))

    return jax.tree.map(one, params)


def init(tx: optax.GradientTransformation, params: Any, mesh: Mesh, mode: str = "zero1",
         data_axis: str = "data") -> Any:
    """``tx.init(params)`` compiled with :func:`state_shardings` as its output
    shardings: every leaf is created already split, none is ever whole on one device.
    Works across processes (every process calls it with the same global params)."""
    shardings = state_shardings(tx, params, mesh, mode, data_axis)
    return jax.jit(tx.init, out_shardings=shardings)(params)


def make_train_step(loss_fn: Callable[..., Any], tx: optax.GradientTransformation,
                    params: Any, mesh: Mesh, mode: str = "zero1", data_axis: str = "data",
                    *, has_aux: bool = False, donate: bool = True) -> Callable:
    """:func:`optzoo.train.make_train_step`'s step, with its new params held in
    :func:`param_shardings` and its new state in :func:`state_shardings` (as
    sharding constraints inside the one compiled program).

    ``step(params, opt_state, batch) -> (params, opt_state, loss[, aux])`` with
    ``loss_fn(params, batch)``; ``params`` and ``opt_state`` are donated unless
    ``donate=False``. ``params`` here fixes the layout (arrays or
    :class:`jax.ShapeDtypeStruct`); the step is then called with the real ones.
    """
    p_shardings = param_shardings(params, mesh, mode, data_axis)
    s_shardings = state_shardings(tx, params, mesh, mode, data_axis)
    inner = _train.make_train_step(loss_fn, tx, has_aux=has_aux, jit=False)

    def step(params, opt_state, batch):
        params, opt_state, *rest = inner(params, opt_state, batch)
        params = jax.lax.with_sharding_constraint(params, p_shardings)
        opt_state = jax.lax.with_sharding_constraint(opt_state, s_shardings)
        return (params, opt_state, *rest)

    return jax.jit(step, donate_argnums=(0, 1) if donate else ())
