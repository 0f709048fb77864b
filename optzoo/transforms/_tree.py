"""Small pytree helpers the building blocks share."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp


def value_at(hyperparameter: Any, count: jax.Array) -> Any:
    """A hyperparameter given as a number or as a schedule ``count -> value``, at ``count``."""
    return hyperparameter(count) if callable(hyperparameter) else hyperparameter


def unzip(like: Any, pairs: Any, n: int) -> tuple:
    """Split a pytree shaped like ``like`` whose leaves are ``n``-tuples (the result
    of a per-leaf function returning several arrays) into ``n`` pytrees."""
    return jax.tree.transpose(jax.tree.structure(like), jax.tree.structure((0,) * n), pairs)


def ordered_sum(values: Any, start: Any = 0.0) -> jax.Array:
    """``start + v_0 + v_1 + ...`` over a pytree of scalars, added one at a time in
    tree order: a reference's ``total += ...`` over its params, bit for bit.

    The adds run in a ``lax.fori_loop`` over the stacked scalars, not as a Python
    chain: XLA fuses a chain of cheap scalar adds into every consumer, so an update
    whose per-leaf step reads the total (a global step size, a skip flag) would get
    a copy of the whole chain in each leaf's loop (quadratic in the leaf count: at
    400 leaves, 160,000 adds and several times the compile time). A loop's result
    is computed once."""
    xs = [jnp.asarray(x) for x in jax.tree.leaves(values)]
    total = jnp.asarray(start, jnp.result_type(start, *xs))
    if not xs:
        return total
    stacked = jnp.stack(xs).astype(total.dtype)
    return jax.lax.fori_loop(0, len(xs), lambda i, acc: acc + stacked[i], total)


def leaf_path(path: Any) -> str:
    """A leaf's pytree key path as its keys joined by ``/`` (dict keys, attribute
    names, sequence indices): ``"encoder/dense/kernel"``."""
    parts = []
    for k in path:
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def all_finite(tree: Any) -> jax.Array:
    """True when every floating leaf of ``tree`` is free of NaN and Inf."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
              if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def instances(tree: Any, cls: type) -> list:
    """Every node of ``tree`` that is a ``cls`` (an optimizer's state inside a chain's),
    in tree order, without looking inside them."""
    found: list = []
    jax.tree.map(lambda x: found.append(x) if isinstance(x, cls) else None, tree,
                 is_leaf=lambda x: isinstance(x, cls))
    return found
