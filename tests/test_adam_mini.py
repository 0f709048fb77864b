"""Adam-mini's partition: which block rule each leaf gets, how many second-moment
scalars it keeps, in both layouts, with grouped-query attention, and the errors for
settings that cannot split a model into heads. (The numbers against the authors'
package: ``tests/parity/test_reference_adam_mini.py``.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from optzoo.transforms import adam_mini as am

DIM, HEADS, VOCAB, HIDDEN = 8, 4, 10, 16
HEAD_DIM = DIM // HEADS


def flax_tree(kv_heads=HEADS, seed=0):
    """A Flax-style transformer's params: kernels ``(in, out)``, ``embedding``
    ``(vocab, dim)``, ``scale`` for norms."""
    rng = np.random.default_rng(seed)
    kv = kv_heads * HEAD_DIM

    def a(*shape):
        return jnp.asarray(rng.normal(size=shape), jnp.float32)

    return {
        "wte": {"embedding": a(VOCAB, DIM)},
        "layers": [{
            "attn": {"wq": {"kernel": a(DIM, DIM), "bias": a(DIM)},
                     "wk": {"kernel": a(DIM, kv)}, "wv": {"kernel": a(DIM, kv)},
                     "wo": {"kernel": a(DIM, DIM)}},
            "ln_1": {"scale": a(DIM), "bias": a(DIM)},
            "mlp": {"fc": {"kernel": a(DIM, HIDDEN), "bias": a(HIDDEN)},
                    "proj": {"kernel": a(HIDDEN, DIM)}},
            "gate": a(DIM),
        }],
        "final_norm": {"scale": a(DIM)},
        "lm_head": {"kernel": a(DIM, VOCAB)},
    }


def torch_tree(tree):
    """The same model in torch's layout: every ``kernel`` transposed to ``(out, in)``."""
    return jax.tree_util.tree_map_with_path(
        lambda path, x: x.T if am.leaf_name(path).endswith("kernel") else x, tree)


def blocks(tree, **kw):
    kw = {"dim": DIM, "n_heads": HEADS, **kw}
    return {b.name: b for b in jax.tree.leaves(am.partition(tree, **kw))}


# rule and number of second-moment scalars of each leaf, n_kv_heads = HEADS
EXPECTED = {
    "wte/embedding": ("rows", VOCAB),  # one per token
    "layers/0/attn/wq/kernel": ("heads", HEADS),
    "layers/0/attn/wq/bias": ("adam", DIM),
    "layers/0/attn/wk/kernel": ("heads", HEADS),
    "layers/0/attn/wv/kernel": ("rows", DIM),  # one per output neuron
    "layers/0/attn/wo/kernel": ("rows", DIM),
    "layers/0/ln_1/scale": ("default", 1),
    "layers/0/ln_1/bias": ("adam", DIM),
    "layers/0/mlp/fc/kernel": ("rows", HIDDEN),
    "layers/0/mlp/fc/bias": ("adam", HIDDEN),
    "layers/0/mlp/proj/kernel": ("rows", DIM),
    "layers/0/gate": ("default", 1),
    "final_norm/scale": ("default", 1),
    "lm_head/kernel": ("rows", VOCAB),
}
NO_DECAY = {"layers/0/attn/wq/bias", "layers/0/ln_1/scale", "layers/0/ln_1/bias",
            "layers/0/mlp/fc/bias", "final_norm/scale"}


@pytest.mark.parametrize("layout", ["flax", "torch"])
def test_partition_of_a_transformer(layout):
    tree = flax_tree() if layout == "flax" else torch_tree(flax_tree())
    got = blocks(tree, layout=layout)
    assert {k: (b.rule, b.scalars) for k, b in got.items()} == EXPECTED
    assert {k for k, b in got.items() if not b.decay} == NO_DECAY
    state = optzoo.adam_mini(dim=DIM, n_heads=HEADS, layout=layout).init(tree)
    nu = {am.leaf_name(p): x.size for p, x in
          jax.tree_util.tree_flatten_with_path(state[0].nu)[0]}
    assert nu == {k: n for k, (_, n) in EXPECTED.items()}


@pytest.mark.parametrize("layout", ["flax", "torch"])
def test_grouped_query_attention_keeps_one_scalar_per_kv_head(layout):
    kv_heads = 2
    tree = flax_tree(kv_heads)
    tree = tree if layout == "flax" else torch_tree(tree)
    got = blocks(tree, layout=layout, n_kv_heads=kv_heads)
    assert (got["layers/0/attn/wq/kernel"].rule, got["layers/0/attn/wq/kernel"].scalars) == (
        "heads", HEADS)
    assert (got["layers/0/attn/wk/kernel"].rule, got["layers/0/attn/wk/kernel"].scalars) == (
        "heads", kv_heads)
    assert got["layers/0/attn/wv/kernel"].scalars == kv_heads * HEAD_DIM


def test_layouts_give_the_same_steps():
    """A Flax model and its torch twin (kernels transposed) take the same steps: the
    flax layout reads each kernel's head and row blocks where the torch layout does."""
    tree = flax_tree()
    grads = jax.tree.map(lambda x: jnp.sin(3.0 * x) + 0.1, flax_tree(seed=1))
    kw = dict(learning_rate=0.1, dim=DIM, n_heads=HEADS, weight_decay=0.1)
    fx, tt = optzoo.adam_mini(**kw, layout="flax"), optzoo.adam_mini(**kw, layout="torch")
    sf, st = fx.init(tree), tt.init(torch_tree(tree))
    for _ in range(3):
        uf, sf = fx.update(grads, sf, tree)
        ut, st = tt.update(torch_tree(grads), st, torch_tree(tree))
        for a, b in zip(jax.tree.leaves(torch_tree(uf)), jax.tree.leaves(ut)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_head_blocks_are_the_heads():
    """The first second moment of a query kernel in the flax layout is the mean square
    of the first head's output columns (its rows in torch's view)."""
    tree = flax_tree()
    grads = jax.tree.map(lambda x: x * 0 + 1.0, tree)
    g = jnp.arange(DIM * DIM, dtype=jnp.float32).reshape(DIM, DIM) / 10.0
    grads["layers"][0]["attn"]["wq"]["kernel"] = g
    b2 = 0.9
    tx = optzoo.adam_mini(dim=DIM, n_heads=HEADS, b2=b2)
    _, state = tx.update(grads, tx.init(tree), tree)
    nu = state[0].nu["layers"][0]["attn"]["wq"]["kernel"]
    want = [(1 - b2) * float(jnp.mean(g[:, h * HEAD_DIM:(h + 1) * HEAD_DIM] ** 2))
            for h in range(HEADS)]
    np.testing.assert_allclose(nu, want, rtol=1e-6)
    # and the torch layout reads the transpose: the same kernel taken as (out, in)
    tx = optzoo.adam_mini(dim=DIM, n_heads=HEADS, b2=b2, layout="torch")
    _, state = tx.update(grads, tx.init(tree), tree)
    nu = state[0].nu["layers"][0]["attn"]["wq"]["kernel"]
    want = [(1 - b2) * float(jnp.mean(g[h * HEAD_DIM:(h + 1) * HEAD_DIM] ** 2))
            for h in range(HEADS)]
    np.testing.assert_allclose(nu, want, rtol=1e-6)


def test_generic_trees_fall_in_one_block_per_leaf():
    tree = {"w": jnp.ones((3, 2)), "b": jnp.ones(2), "s": jnp.asarray(1.0)}
    got = blocks(tree)
    assert {k: (b.rule, b.scalars, b.decay) for k, b in got.items()} == {
        "w": ("default", 1, True), "b": ("default", 1, True), "s": ("default", 1, True)}
    tx = optzoo.adam_mini(0.1)  # the reference's dim = 2048, n_heads = 32
    u, _ = tx.update(tree, tx.init(tree), tree)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(u))


def test_name_matching():
    """Lower case, ``"/"`` and ``"."`` alike (the reference's ``"attn.proj"``), the
    array inside an NNX ``Variable`` (a last ``.value``) not part of the name, and
    name lists given as arguments."""
    tree = {"Layers": {"ATTN": {"proj": {"kernel": jnp.ones((4, 6))}}}}
    assert blocks(tree)["Layers/ATTN/proj/kernel"].rule == "rows"
    assert blocks(tree)["Layers/ATTN/proj/kernel"].scalars == 6  # (in, out): out rows
    assert blocks(tree, layout="torch")["Layers/ATTN/proj/kernel"].scalars == 4
    assert blocks(tree, attn_proj_names=("attn/out",))["Layers/ATTN/proj/kernel"].rule == \
        "default"
    assert blocks({"c_attn": jnp.ones((8, 8))}, wqk_names=("c_attn",))["c_attn"].rule == \
        "heads"
    path = (jax.tree_util.DictKey("attn"), jax.tree_util.DictKey("wv"),
            jax.tree_util.DictKey("kernel"), jax.tree_util.GetAttrKey("value"))
    assert am.leaf_name(path) == "attn/wv/kernel"


def test_nnx_state():
    from flax import nnx

    class Model(nnx.Module):
        def __init__(self, rngs):
            self.embed = nnx.Embed(VOCAB, DIM, rngs=rngs)
            self.wq = nnx.Linear(DIM, DIM, rngs=rngs)
            self.ln = nnx.LayerNorm(DIM, rngs=rngs)

    state = nnx.state(Model(nnx.Rngs(0)), nnx.Param)
    got = blocks(state)
    assert {k: (b.rule, b.scalars) for k, b in got.items()} == {
        "embed/embedding": ("rows", VOCAB), "wq/kernel": ("heads", HEADS),
        "wq/bias": ("adam", DIM), "ln/scale": ("default", 1), "ln/bias": ("adam", DIM)}


def test_rank_one_and_empty_leaves():
    tree = {"mlp": {"gain": jnp.ones(5), "kernel": jnp.zeros((0, 3)), "s": jnp.asarray(2.0)},
            "norm": {"scale": jnp.zeros((0,))}}
    got = blocks(tree)
    assert (got["mlp/gain"].rule, got["mlp/gain"].scalars) == ("rows", 5)
    assert (got["mlp/kernel"].rule, got["mlp/kernel"].scalars) == ("rows", 3)
    assert got["mlp/s"].rule == "default"
    tx = optzoo.adam_mini(0.1, weight_decay=0.1)
    u, state = tx.update(tree, tx.init(tree), tree)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves((u, state)))


def test_weight_decay_skips_norms_and_biases():
    tree = {"ln_f": {"scale": jnp.ones(3)}, "layernorm": jnp.ones(3), "mlp": {
        "bias": jnp.ones(3), "kernel": jnp.ones((3, 3))}}
    zero = jax.tree.map(jnp.zeros_like, tree)
    tx = optzoo.adam_mini(1.0, weight_decay=0.5)
    u, _ = tx.update(zero, tx.init(tree), tree)
    assert float(jnp.max(jnp.abs(u["ln_f"]["scale"]))) == 0.0
    assert float(jnp.max(jnp.abs(u["layernorm"]))) == 0.0
    assert float(jnp.max(jnp.abs(u["mlp"]["bias"]))) == 0.0
    np.testing.assert_allclose(u["mlp"]["kernel"], -0.5)


@pytest.mark.parametrize("kw, message", [
    (dict(dim=6, n_heads=5),
     "adam_mini: dim * dim must be divisible by n_heads (a query or key weight splits into "
     "n_heads blocks of dim * dim / n_heads entries), got dim=6, n_heads=5"),
    (dict(dim=8, n_heads=4, n_kv_heads=3),
     "adam_mini: n_heads must be a multiple of n_kv_heads, got n_heads=4, n_kv_heads=3"),
    (dict(dim=0), "adam_mini: dim must be in [1, inf), got 0"),
    (dict(n_heads=0), "adam_mini: n_heads must be in [1, inf), got 0"),
    (dict(n_kv_heads=0), "adam_mini: n_kv_heads must be in [1, inf), got 0"),
    (dict(dim=8.0), "adam_mini: dim must be an integer in [1, inf], got 8.0"),
    (dict(layout="jax"), "adam_mini: layout must be one of 'torch', 'flax', got 'jax'"),
    (dict(wqk_names="wq"),
     "adam_mini: wqk_names must be a collection of strings (a tuple of name parts), "
     "got 'wq'"),
    (dict(mlp_names=("mlp", "")),
     "adam_mini: mlp_names must be a collection of non-empty strings, got ('mlp', '')"),
])
def test_construction_errors(kw, message):
    with pytest.raises(ValueError) as err:
        optzoo.adam_mini(**kw)
    assert str(err.value) == message


def test_a_leaf_that_does_not_split_into_heads():
    tree = {"attn": {"wq": {"kernel": jnp.ones((8, 6))}}}
    tx = optzoo.adam_mini(dim=8, n_heads=4)  # heads of 16 entries; 48 = 3 heads
    tx.init(tree)
    with pytest.raises(ValueError, match=(
            r"adam_mini: the leaf 'attn/wq/kernel' of shape \(8, 5\) \(40 entries\) does not "
            r"split into heads of dim \* dim / n_heads = 8 \* 8 / 4 = 16 entries; set dim and "
            r"n_heads to the model's")):
        optzoo.adam_mini(dim=8, n_heads=4).init({"attn": {"wq": {"kernel": jnp.ones((8, 5))}}})


def test_jit_and_schedule():
    tree = flax_tree()
    tx = optzoo.adam_mini(optax.linear_schedule(0.1, 0.0, 10), dim=DIM, n_heads=HEADS,
                          weight_decay=0.01)
    state = tx.init(tree)
    step = jax.jit(tx.update)
    for _ in range(3):
        u, state = step(tree, state, tree)
    assert int(state[0].count) == 3
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(u))
