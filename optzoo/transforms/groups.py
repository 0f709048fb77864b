"""Parameter groups: torch's ``Optimizer([{"params": ..., "lr": ...}, ...])`` on
pytrees, built on ``optax.multi_transform``.

Each group is a dict: ``"params"`` picks its leaves, the other keys override the
optimizer's arguments for those leaves::

    tx = optzoo.param_groups(optzoo.adamw, learning_rate=3e-4, groups=[
        {"params": lambda path, leaf: leaf.ndim >= 2, "weight_decay": 0.1},
        {"params": lambda path, leaf: leaf.ndim < 2, "weight_decay": 0.0},
    ])

``"params"`` is either a predicate ``(path, leaf) -> bool`` or a list of leaf paths,
a path being the leaf's keys joined by ``/`` (``{"encoder": {"dense": {"kernel":
w}}}`` -> ``"encoder/dense/kernel"``; sequence indices and attribute names count
as keys). As in torch, every leaf must belong to exactly one group; ``init``
raises a one-line error naming the leaf otherwise. The predicate is called on the
params at ``init`` and on the gradients at ``update`` (``optax.multi_transform``
labels the tree it is given), so it must decide by path, shape or dtype, not by
values.

A group's learning rate may be a number or a schedule of its own. When the
shared learning rate is a torch-flavor schedule (:mod:`optzoo.pytorch.lr_scheduler`,
which remembers its ``base_lr``) and a group gives a number, the group follows the
same schedule scaled to its own rate, as torch's schedulers scale every group's
``initial_lr``: ``lr_g(k) = lr_g * factor(k)`` for the multiplicative schedulers
(``StepLR``, ``LambdaLR``, ...) and ``sched(k) * lr_g / sched.base_lr`` for the others
(equal to torch for ``OneCycleLR`` with ``max_lr`` given per group; torch's shared
``eta_min`` of ``CosineAnnealingLR`` is not scaled there, so give such a group its
own schedule).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import optax

from optzoo import registry as R
from optzoo.transforms._tree import leaf_path

__all__ = ["build_groups", "leaf_path", "param_groups"]


def _check_groups(fn: str, groups, allowed: Sequence[str]) -> list[dict]:
    if isinstance(groups, Mapping) or not isinstance(groups, Sequence) or not groups:
        raise ValueError(f"{fn}: groups must be a non-empty list of dicts, got {groups!r}")
    out = []
    for i, g in enumerate(groups):
        if not isinstance(g, Mapping) or "params" not in g:
            raise ValueError(f'{fn}: groups[{i}] must be a dict with a "params" key, got {g!r}')
        sel = g["params"]
        if not callable(sel) and (isinstance(sel, str) or not isinstance(sel, Sequence)
                                  or not all(isinstance(p, str) for p in sel)):
            raise ValueError(
                f'{fn}: groups[{i}]["params"] must be a predicate (path, leaf) -> bool or a '
                f"list of leaf paths, got {sel!r}")
        unknown = sorted(set(g) - {"params"} - set(allowed))
        if unknown:
            raise ValueError(
                f"{fn}: groups[{i}] sets {', '.join(map(repr, unknown))}, which is not an "
                f"argument of the optimizer (its arguments: {', '.join(allowed)})")
        out.append(dict(g, params=sel if callable(sel) else frozenset(sel)))
    return out


def _selects(fn: str, i: int, selector, path: str, leaf) -> bool:
    if not callable(selector):
        return path in selector
    try:
        return bool(selector(path, leaf))
    except jax.errors.ConcretizationTypeError:
        raise ValueError(
            f'{fn}: groups[{i}]["params"] read the values of {path!r} (a traced array at '
            "update); a predicate must decide by path, shape or dtype") from None


def _labeller(fn: str, groups: list[dict]) -> Callable[[Any], Any]:
    """``params -> tree of group labels`` ("0", "1", ...), checking that every leaf
    falls in exactly one group and that every listed path is a leaf."""

    def labels(tree):
        flat, treedef = jax.tree_util.tree_flatten_with_path(tree)
        paths = [leaf_path(path) for path, _ in flat]
        known = set(paths)
        for i, g in enumerate(groups):
            if not callable(g["params"]):
                missing = sorted(p for p in g["params"] if p not in known)
                if missing:
                    shown = ", ".join(paths[:6]) + (", ..." if len(paths) > 6 else "")
                    raise ValueError(
                        f"{fn}: groups[{i}] lists {missing[0]!r}, which is not a param path "
                        f"(paths: {shown})")
        out = []
        for p, (_, leaf) in zip(paths, flat):
            hits = [i for i, g in enumerate(groups) if _selects(fn, i, g["params"], p, leaf)]
            if len(hits) != 1:
                where = ("in no group" if not hits else
                         f"in groups {', '.join(map(str, hits))}")
                raise ValueError(f"{fn}: param {p!r} is {where}; every param must belong to "
                                 "exactly one group")
            out.append(str(hits[0]))
        return jax.tree_util.tree_unflatten(treedef, out)

    return labels


def _group_lr(fn: str, i: int, name: str, shared, own):
    """The learning rate of group ``i``: its own schedule or number, or the shared
    schedule scaled to its own number (see the module docstring)."""
    if callable(own) or not callable(shared):
        return own
    factor = getattr(shared, "factor", None)
    if getattr(shared, "multiplicative", False) and factor is not None:
        return lambda count: own * factor(count)
    base = getattr(shared, "base_lr", None)
    if base is None or callable(base) or float(base) == 0.0:
        raise ValueError(
            f"{fn}: groups[{i}] sets {name}={own!r}, but the shared {name} is a schedule with "
            f"no base lr to scale; give the group a schedule of its own")
    return lambda count: shared(count) * (own / base)


def build_groups(
    fn: str,
    make: Callable[..., optax.GradientTransformation],
    groups,
    shared: Mapping[str, Any],
    lr_name: str | None,
) -> optax.GradientTransformation:
    """``optax.multi_transform`` of ``make(**shared, **group)`` per group, labelled by
    :func:`leaf_path`. ``shared``: the optimizer's arguments for every group;
    ``lr_name``: the name of its learning rate (scaled per group when it is a
    schedule, see the module docstring), or ``None``."""
    allowed = [n for n in inspect.signature(make).parameters if n != "groups"]
    groups = _check_groups(fn, groups, allowed)
    transforms = {}
    for i, g in enumerate(groups):
        kwargs = {**shared, **{k: x for k, x in g.items() if k != "params"}}
        if lr_name is not None and lr_name in g and lr_name in shared:
            kwargs[lr_name] = _group_lr(fn, i, lr_name, shared[lr_name], g[lr_name])
        transforms[str(i)] = make(**kwargs)
    return optax.multi_transform(transforms, _labeller(fn, groups))


@R.export
def param_groups(
    optimizer: Callable[..., optax.GradientTransformation],
    groups: Sequence[Mapping[str, Any]],
    **shared: Any,
) -> optax.GradientTransformation:
    """torch-style parameter groups for any optimizer constructor: ``optimizer(**shared,
    **overrides)`` on each group's leaves, one ``optax.multi_transform``.

    ``groups``: a list of dicts, each with ``"params"`` (a predicate ``(path, leaf) ->
    bool`` or a list of ``/``-joined leaf paths) and any of ``optimizer``'s arguments
    as overrides; ``shared``: the arguments every group starts from. Every leaf must
    belong to exactly one group. A number given as a group's ``learning_rate`` (or
    ``lr``) under a shared torch-flavor schedule scales that schedule (see
    :mod:`optzoo.transforms.groups`). Each group keeps its own state (step counts
    included), as torch keeps per-parameter state.
    """
    fn = "param_groups"
    if not callable(optimizer):
        raise ValueError(f"{fn}: optimizer must be an optimizer constructor, got {optimizer!r}")
    names = inspect.signature(optimizer).parameters
    unknown = sorted(set(shared) - set(names))
    if unknown:
        raise ValueError(f"{fn}: {', '.join(map(repr, unknown))} is not an argument of "
                         f"{getattr(optimizer, '__name__', optimizer)!r}")
    lr_name = next((n for n in ("learning_rate", "lr") if n in names), None)
    return build_groups(fn, optimizer, groups, shared, lr_name)
