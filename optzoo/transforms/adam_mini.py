"""Adam-mini: one second-moment scalar per block of parameters (Zhang et al., 2024)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip

# The name lists of adam_mini.Adam_mini 1.1.1 (attributes of the instance there).
EMBD_NAMES = ("embed", "embd", "wte")
OUTPUT_NAMES = ("lm_head", "output", "final_layer")
WQK_NAMES = ("k_proj", "q_proj", "wq", "wk", "query", "key")
WV_NAMES = ("v_proj", "wv", "value")
ATTN_PROJ_NAMES = ("o_proj", "wo", "attn.proj")
MLP_NAMES = ("feed_forward", "linear", "mlp")
ADAM_BLOCK_NAMES = ("bias",)
NO_DECAY_NAMES = ("norm", "ln", "bias")  # fixed in the reference
LAYOUTS = ("torch", "flax")

_NAME_LISTS = ("embd_names", "output_names", "wqk_names", "wv_names", "attn_proj_names",
               "mlp_names", "adam_block_names", "no_decay_names")


@dataclasses.dataclass(frozen=True)
class Block:
    """How :func:`scale_by_adam_mini` treats one leaf.

    ``rule``: ``"adam"`` (one second moment per entry), ``"heads"`` (one per
    ``dim * dim / n_heads`` consecutive entries of the torch view: one per attention
    head), ``"rows"`` (one per row of the torch view: per output neuron or per token)
    or ``"default"`` (one for the whole leaf). ``scalars``: how many second-moment
    values the leaf keeps. ``shape``: the shape of that state leaf. ``transposed``:
    the torch view is the leaf with its axes reversed (``layout="flax"``).
    ``decay``: weight decay applies to the leaf.
    """

    name: str
    rule: str
    shape: tuple[int, ...]
    transposed: bool
    decay: bool

    @property
    def scalars(self) -> int:
        return math.prod(self.shape)


class ScaleByAdamMiniState(NamedTuple):
    """State of :func:`scale_by_adam_mini`: ``mu`` shaped like the params, ``nu`` one
    array per leaf holding its blocks' second moments (:class:`Block` ``.shape``)."""

    count: jax.Array  # int32, saturating
    mu: optax.Updates
    nu: optax.Updates


def _key_text(key: Any) -> str:
    for attr in ("key", "idx", "name"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def leaf_name(path: tuple) -> str:
    """The ``"/"``-joined key path of a leaf (``"layers/0/attn/wq/kernel"``). A last
    ``.value`` attribute (the array inside a Flax NNX ``Variable``) is not part of it."""
    if path and isinstance(path[-1], jax.tree_util.GetAttrKey) and path[-1].name == "value":
        path = path[:-1]
    return "/".join(_key_text(k) for k in path)


def _normal(name: str) -> str:
    """A name or pattern as the rules compare them: lower case, ``"/"`` read as ``"."``."""
    return name.lower().replace("/", ".")


def _names(fn: str, arg: str, names: Any) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise ValueError(f"{fn}: {arg} must be a collection of strings (a tuple of name "
                         f"parts), got {names!r}")
    out = tuple(names)
    if not all(isinstance(n, str) and n for n in out):
        raise ValueError(f"{fn}: {arg} must be a collection of non-empty strings, got {names!r}")
    return tuple(_normal(n) for n in out)


def _rule(name: str, lists: dict[str, tuple[str, ...]]) -> str:
    """The reference's order: bias-like names first, then queries and keys, then the
    per-row layers, else one block."""
    def has(arg):
        return any(part in name for part in lists[arg])

    if has("adam_block_names"):
        return "adam"
    if has("wqk_names"):
        return "heads"
    if any(has(a) for a in ("embd_names", "output_names", "wv_names", "mlp_names",
                            "attn_proj_names")):
        return "rows"
    return "default"


def _partition(fn, tree, lists, head_numel, layout, dim, n_heads):
    def block(path, x):
        name = leaf_name(path)
        normal = _normal(name)
        shape = tuple(jnp.shape(x))
        rule = _rule(normal, lists)
        last = name.rsplit("/", 1)[-1].lower()
        transposed = layout == "flax" and len(shape) >= 2 and last != "embedding"
        view = shape[::-1] if transposed else shape
        size = math.prod(shape)
        if rule == "heads":
            if size % head_numel:
                raise ValueError(
                    f"{fn}: the leaf {name!r} of shape {shape} ({size} entries) does not split "
                    f"into heads of dim * dim / n_heads = {dim} * {dim} / {n_heads} = "
                    f"{head_numel} entries; set dim and n_heads to the model's")
            state_shape = (size // head_numel,)
        elif rule == "rows" and len(shape) >= 1:
            state_shape = (view[0],)
        elif rule == "adam":
            state_shape = shape
        else:
            rule = "default"  # a scalar leaf of a per-row layer is one block too
            state_shape = ()
        decay = not any(part in normal for part in lists["no_decay_names"])
        return Block(name, rule, state_shape, transposed, decay)

    return jax.tree_util.tree_map_with_path(block, tree)


def _second_moment(g, blk: Block, head_numel: int):
    """The mean of ``g^2`` over each block of ``g``, shaped like ``blk.shape``."""
    if blk.rule == "adam":
        return g * g
    if blk.rule == "heads":
        heads = _heads(jnp.transpose(g) if blk.transposed else g, head_numel)
        return jnp.sum(heads * heads, axis=1) / head_numel
    axes = _reduced_axes(blk, jnp.ndim(g))
    count = max(math.prod(jnp.shape(g)[a] for a in axes), 1)  # an empty block: 0, not NaN
    return (jnp.sum(g * g, axis=axes) / count).reshape(blk.shape)


def _heads(view, head_numel: int):
    """The torch view of a query or key leaf, one head per row."""
    size = math.prod(view.shape)
    return view.reshape(size // head_numel, head_numel)


def _reduced_axes(blk: Block, ndim: int) -> tuple[int, ...]:
    """The axes a ``"rows"`` block averages over (all but the row axis: the first in
    torch's view, the last of a transposed leaf) or a ``"default"`` block (all)."""
    if blk.rule == "default":
        return tuple(range(ndim))
    row = ndim - 1 if blk.transposed else 0
    return tuple(a for a in range(ndim) if a != row)


def _spread(scale, like, blk: Block, head_numel: int):
    """``scale`` (one value per block) multiplied into ``like`` (shaped like the leaf)."""
    if blk.rule == "heads":
        view = jnp.transpose(like) if blk.transposed else like
        out = (_heads(view, head_numel) * scale[:, None]).reshape(view.shape)
        return jnp.transpose(out) if blk.transposed else out
    if blk.rule == "rows" and not blk.transposed:
        return like * scale.reshape(scale.shape + (1,) * (jnp.ndim(like) - 1))
    return like * scale  # entry-wise, one scalar, or rows on the last axis


def _settings(fn, dim, n_heads, n_kv_heads, layout, names):
    v.check_int(fn, "dim", dim, 1)
    v.check_int(fn, "n_heads", n_heads, 1)
    if n_kv_heads is not None:
        v.check_int(fn, "n_kv_heads", n_kv_heads, 1)
        if n_heads % n_kv_heads:
            raise ValueError(f"{fn}: n_heads must be a multiple of n_kv_heads, got "
                             f"n_heads={n_heads}, n_kv_heads={n_kv_heads}")
    if (dim * dim) % n_heads:
        raise ValueError(f"{fn}: dim * dim must be divisible by n_heads (a query or key "
                         f"weight splits into n_heads blocks of dim * dim / n_heads entries), "
                         f"got dim={dim}, n_heads={n_heads}")
    v.check_choice(fn, "layout", layout, LAYOUTS)
    return {arg: _names(fn, arg, names[arg]) for arg in _NAME_LISTS}


def scale_by_adam_mini(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, *, dim: int = 2048,
    n_heads: int = 32, n_kv_heads: int | None = None, layout: str = "flax",
    embd_names: Iterable[str] = EMBD_NAMES, output_names: Iterable[str] = OUTPUT_NAMES,
    wqk_names: Iterable[str] = WQK_NAMES, wv_names: Iterable[str] = WV_NAMES,
    attn_proj_names: Iterable[str] = ATTN_PROJ_NAMES, mlp_names: Iterable[str] = MLP_NAMES,
    adam_block_names: Iterable[str] = ADAM_BLOCK_NAMES,
    no_decay_names: Iterable[str] = NO_DECAY_NAMES,
) -> optax.GradientTransformation:
    r"""Adam-mini's direction, as ``adam_mini.Adam_mini`` 1.1.1 computes it.

    Each leaf splits into blocks (:func:`partition`); with ``mean_B`` the mean over
    one block ``B``::

        mu_t = mu_{t-1} + (1 - b1) (g_t - mu_{t-1})
        nu_t = b2 nu_{t-1} + (1 - b2) mean_B(g_t^2)          (one scalar per block)
        h_t  = sqrt(nu_t) / sqrt(1 - b2^t) + eps
        out_t = mu_t (1 / (1 - b1^t)) / h_t                  (h_t of the entry's block)
    """
    fn = v.owner("scale_by_adam_mini")
    v.check_range(fn, "b1", b1, 0.0, 1.0, high_open=True)
    v.check_range(fn, "b2", b2, 0.0, 1.0, high_open=True)
    v.check_nonnegative(fn, "eps", eps)
    lists = _settings(fn, dim, n_heads, n_kv_heads, layout, dict(
        embd_names=embd_names, output_names=output_names, wqk_names=wqk_names,
        wv_names=wv_names, attn_proj_names=attn_proj_names, mlp_names=mlp_names,
        adam_block_names=adam_block_names, no_decay_names=no_decay_names))
    head_numel = dim * dim // n_heads

    def blocks(tree):
        return _partition(fn, tree, lists, head_numel, layout, dim, n_heads)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        parts = blocks(params)
        # zeros_like of the blocks' reduction: a sharded param gives a state sharded as
        # its blocks are (an entry-wise block exactly like the param)
        nu = jax.tree.map(
            lambda p, blk: jnp.zeros_like(_second_moment(p, blk, head_numel),
                                          dtype=_dtypes.state_dtype(None, p)), params, parts)
        return ScaleByAdamMiniState(jnp.zeros([], jnp.int32), _dtypes.zeros_like(params), nu)

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        parts = blocks(updates)
        count = optax.safe_increment(state.count)
        t = count.astype(jnp.result_type(float))
        bc1, root_bc2 = 1.0 - b1**t, jnp.sqrt(1.0 - b2**t)

        def leaf(g, mu, nu, blk):
            g = wide(g)
            mu = wide(mu)
            mu = mu + (1.0 - b1) * (g - mu)
            nu = b2 * wide(nu) + (1.0 - b2) * _second_moment(g, blk, head_numel)
            h = jnp.sqrt(nu) / root_bc2 + eps
            return _spread((1.0 / bc1) / h, mu, blk, head_numel), mu, nu

        out = jax.tree.map(leaf, updates, state.mu, state.nu, parts)
        d, mu, nu = unzip(updates, out, 3)
        d = jax.tree.map(lambda x, g: x.astype(g.dtype), d, updates)
        return d, ScaleByAdamMiniState(count, _dtypes.store(mu, state.mu),
                                       _dtypes.store(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


def partition(params: Any, *, dim: int = 2048, n_heads: int = 32,
              n_kv_heads: int | None = None, layout: str = "flax",
              embd_names: Iterable[str] = EMBD_NAMES, output_names: Iterable[str] = OUTPUT_NAMES,
              wqk_names: Iterable[str] = WQK_NAMES, wv_names: Iterable[str] = WV_NAMES,
              attn_proj_names: Iterable[str] = ATTN_PROJ_NAMES,
              mlp_names: Iterable[str] = MLP_NAMES,
              adam_block_names: Iterable[str] = ADAM_BLOCK_NAMES,
              no_decay_names: Iterable[str] = NO_DECAY_NAMES) -> Any:
    """A pytree like ``params`` of :class:`Block`: the block rule of each leaf, the
    shape of its second-moment state and whether weight decay applies, as
    :func:`adam_mini` with the same arguments partitions them."""
    fn = "partition"
    lists = _settings(fn, dim, n_heads, n_kv_heads, layout, dict(
        embd_names=embd_names, output_names=output_names, wqk_names=wqk_names,
        wv_names=wv_names, attn_proj_names=attn_proj_names, mlp_names=mlp_names,
        adam_block_names=adam_block_names, no_decay_names=no_decay_names))
    return _partition(fn, params, lists, dim * dim // n_heads, layout, dim, n_heads)


def decay_mask(no_decay_names: Iterable[str] = NO_DECAY_NAMES):
    """``params -> pytree of bools``: ``False`` for a leaf whose name contains one of
    ``no_decay_names`` (normalisation layers and biases in the reference)."""
    parts = tuple(_normal(n) for n in no_decay_names)

    def mask(params):
        return jax.tree_util.tree_map_with_path(
            lambda path, _: not any(p in _normal(leaf_name(path)) for p in parts), params)

    return mask


@R.register(
    family="adam", reference="Zhang et al. 2024 (Adam-mini)", year=2024,
    counterparts=(R.reference(
        "adam_mini", "Adam_mini",
        "takes a pytree, not named_parameters: a leaf's name is its '/'-joined key path "
        "('/' and '.' match alike, names and name lists compare in lower case); the name "
        "lists, instance attributes there, are arguments; layout='flax' (the default) reads "
        "(in, out) kernels, layout='torch' the reference's (out, in); per-row and per-head "
        "rules take leaves of any rank (the reference's per-row rule needs 2-D weights); "
        "model_sharding and verbose not taken (no process groups, no printing)"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)", "eps": "[0, inf)",
            "weight_decay": "[0, inf)", "dim": "[1, inf)", "n_heads": "[1, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.05,
                       dim=4, n_heads=2),
              "torch": dict(learning_rate=0.02, weight_decay=0.1, dim=2, n_heads=2,
                            layout="torch", mlp_names=("w",), adam_block_names=("b",)),
              "heads,rows": dict(learning_rate=0.01, b1=0.85, dim=1, n_heads=1,
                                 wqk_names=("b",), mlp_names=("w",))},
)
@v.named
def adam_mini(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.9,
              b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.0, *,
              dim: int = 2048, n_heads: int = 32, n_kv_heads: int | None = None,
              layout: str = "flax",
              embd_names: Iterable[str] = EMBD_NAMES,
              output_names: Iterable[str] = OUTPUT_NAMES,
              wqk_names: Iterable[str] = WQK_NAMES,
              wv_names: Iterable[str] = WV_NAMES,
              attn_proj_names: Iterable[str] = ATTN_PROJ_NAMES,
              mlp_names: Iterable[str] = MLP_NAMES,
              adam_block_names: Iterable[str] = ADAM_BLOCK_NAMES,
              no_decay_names: Iterable[str] = NO_DECAY_NAMES) -> optax.GradientTransformation:
    r"""Adam-mini (Zhang et al., 2024): Adam with one second moment per block of parameters.

    Blocks follow the leaves' names (a leaf's name is its ``"/"``-joined key path,
    ``"layers/0/attn/wq/kernel"``, lower-cased, ``"/"`` read as ``"."`` so that the
    reference's ``"attn.proj"`` matches; the first rule that applies wins):

    * a name containing one of ``adam_block_names`` (biases): one second moment per
      entry, as in Adam;
    * ``wqk_names`` (queries and keys): one per head, that is per ``dim * dim /
      n_heads`` consecutive entries of the torch view (a grouped-query key weight,
      ``n_kv_heads`` heads, has ``n_kv_heads`` blocks);
    * ``embd_names``, ``output_names`` (one per token), ``wv_names``,
      ``attn_proj_names``, ``mlp_names`` (one per output neuron): one per row of the
      torch view;
    * anything else (layer norms, and every leaf of a model without these names): one
      for the whole leaf.

    With ``mean_B`` the mean over one block and ``out_t`` the direction of
    :func:`scale_by_adam_mini`::

        mu_t  = mu_{t-1} + (1 - b1) (g_t - mu_{t-1})
        nu_t  = b2 nu_{t-1} + (1 - b2) mean_B(g_t^2)
        out_t = mu_t (1 / (1 - b1^t)) / (sqrt(nu_t) / sqrt(1 - b2^t) + eps)
        params_t = params_{t-1} - learning_rate (out_t + weight_decay params_{t-1})

    Weight decay is decoupled and skips leaves whose name contains one of
    ``no_decay_names`` (``"norm"``, ``"ln"``, ``"bias"``: fixed in the reference).

    Layout. The reference reads torch's ``Linear`` weight, ``(out, in)``: a row is
    an output neuron and a head is a run of rows. ``layout="torch"`` reads every leaf
    so (Equinox, or hand-written ``W @ x`` models). ``layout="flax"`` (the default)
    reads Flax kernels, ``(in, out)``: the torch view of a leaf of rank >= 2 is the
    leaf with its axes reversed (the transpose), except a leaf named ``embedding``
    (``nn.Embed``, ``(vocab, features)`` as in torch); a Flax model then falls into
    the blocks its torch twin does, except that the name ``embedding`` itself
    contains ``embed``: every ``nn.Embed`` table is per token under the default
    names. Kernels of rank 3 or more (``DenseGeneral``)
    are read with all their axes reversed too, which is not the torch view of every
    such kernel (a query kernel ``(dim, n_heads, head_dim)`` reversed starts with
    ``head_dim``): give those as two-axis kernels. Leaves of rank 1 in a per-row
    rule keep one second moment per entry, rank 0 one per leaf (the reference
    accepts only matrices there).

    Reference: ``adam_mini.Adam_mini`` 1.1.1 (the authors' package); every default
    (``learning_rate = 1e-3``, ``b1, b2 = 0.9, 0.999``, ``eps = 1e-8``, ``dim =
    2048``, ``n_heads = 32``, ``n_kv_heads = n_heads``) and every name list is its.
    ``n_kv_heads`` only has to divide ``n_heads`` (as there); the key blocks come from
    the leaf's size. ``dim * dim`` must be divisible by ``n_heads``.
    """
    fn = "adam_mini"
    direction = scale_by_adam_mini(
        b1, b2, eps, dim=dim, n_heads=n_heads, n_kv_heads=n_kv_heads, layout=layout,
        embd_names=embd_names, output_names=output_names, wqk_names=wqk_names,
        wv_names=wv_names, attn_proj_names=attn_proj_names, mlp_names=mlp_names,
        adam_block_names=adam_block_names, no_decay_names=no_decay_names)
    decay = _blocks.weight_decay(fn, weight_decay, decay_mask(no_decay_names))
    return optax.chain(direction, *decay, _blocks.learning_rate(fn, learning_rate))
