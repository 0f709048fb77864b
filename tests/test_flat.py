"""FlatParams (optzoo.flat): layout, round trips, gradients, errors, training steps."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optzoo
from optzoo import flat
from tests.helpers import x64


def model_params(dtype=jnp.float32, seed=0):
    """Mixed shapes and sizes: matrices, vectors, a scalar, a big leaf, an int leaf."""
    rng = np.random.default_rng(seed)
    return {
        "dense": {"w": jnp.asarray(rng.normal(size=(4, 3)), dtype),
                  "b": jnp.asarray(rng.normal(size=(3,)), dtype)},
        "norm": [jnp.asarray(rng.normal(size=(5,)), dtype), jnp.asarray(rng.normal(), dtype)],
        "big": jnp.asarray(rng.normal(size=(7, 6)), dtype),
        "head": jnp.asarray(rng.normal(size=(2, 3, 2)), dtype),
    }


def test_layout_buffers_small_leaves_and_keeps_big_ones():
    p = {**model_params(), "steps": jnp.arange(3, dtype=jnp.int32)}
    fp = optzoo.flat_params(p, threshold=20)
    # float32 leaves <= 20 elements in one buffer, int32 in another, "big" (42) kept
    assert [c.shape for c in fp.children] == [(12 + 3 + 12 + 5 + 1,), (3,), (7, 6)]
    assert [c.dtype for c in fp.buffers] == [jnp.float32, jnp.int32]
    assert fp.children[2] is p["big"]
    back = fp.tree()
    assert jax.tree.structure(back) == jax.tree.structure(p)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(p)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    # a pytree: jit, tree.map and the children's key paths work
    assert jax.jit(lambda f: f.tree())(fp)["dense"]["w"].shape == (4, 3)
    paths = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(fp)[0]]
    assert paths == [".buffer0", ".buffer1", ".kept0"]
    assert "FlatParams(7 leaves in 2 buffer(s)" in repr(fp)


def test_threshold_extremes():
    p = model_params()
    assert len(optzoo.flat_params(p, threshold=0).buffers) == 0
    everything = optzoo.flat_params(p, threshold=10**9)
    assert [c.shape for c in everything.children] == [(12 + 3 + 5 + 1 + 42 + 12,)]
    assert optzoo.flat_params(p).layout.threshold == flat.DEFAULT_THRESHOLD
    assert optzoo.flat_params(p).layout.max_leaves == flat.DEFAULT_MAX_LEAVES


def test_max_leaves_splits_a_group_into_buffers_in_tree_order():
    p = {**model_params(), "steps": jnp.arange(3, dtype=jnp.int32)}
    # float32 leaves <= 20 elements in tree order: dense/b 3, dense/w 12, head 12,
    # norm[0] 5, norm[1] 1; two per buffer, then the int32 leaf, then "big" kept
    fp = optzoo.flat_params(p, threshold=20, max_leaves=2)
    assert [c.shape for c in fp.children] == [(15,), (17,), (1,), (3,), (7, 6)]
    assert fp.layout.n_buffers == 4
    for a, b in zip(jax.tree.leaves(fp.tree()), jax.tree.leaves(p)):
        np.testing.assert_array_equal(a, b)
    one = optzoo.flat_params(p, threshold=20, max_leaves=1)
    assert one.layout.n_buffers == 6 and fp.layout != one.layout


def test_one_buffer_per_sharding():
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    mesh = Mesh(np.array(jax.devices()[:1]), ("d",))
    replicated = NamedSharding(mesh, PartitionSpec())
    p = {"a": jnp.ones(3), "b": jax.device_put(jnp.ones(4), replicated),
         "c": jax.device_put(jnp.ones(2), replicated)}
    fp = optzoo.flat_params(p)
    assert [c.shape for c in fp.children] == [(3,), (6,)]
    assert fp.children[1].sharding == replicated
    np.testing.assert_array_equal(fp.tree()["c"], p["c"])


def test_like_and_gradient_are_in_the_layout():
    p = model_params()
    fp = optzoo.flat_params(p, threshold=20)

    def loss(tree):
        return sum(jnp.sum(jnp.sin(x) * x) for x in jax.tree.leaves(tree))

    g_flat = jax.jit(jax.grad(lambda f: loss(f.tree())))(fp)
    g_tree = jax.grad(loss)(p)
    assert isinstance(g_flat, optzoo.FlatParams) and g_flat.layout == fp.layout
    for a, b in zip(g_flat.children, fp.like(g_tree).children):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(g_flat.tree()), jax.tree.leaves(g_tree)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_errors_are_one_line_and_name_the_function():
    p = model_params()
    cases = [
        (ValueError, "flat_params: threshold must be >= 0, got -1",
         lambda: optzoo.flat_params(p, threshold=-1)),
        (TypeError, "flat_params: threshold must be an int, got 1.5",
         lambda: optzoo.flat_params(p, threshold=1.5)),
        (ValueError, "flat_params: max_leaves must be >= 1, got 0",
         lambda: optzoo.flat_params(p, max_leaves=0)),
        (TypeError, "flat_params: max_leaves must be an int, got True",
         lambda: optzoo.flat_params(p, max_leaves=True)),
        (TypeError, "flat_params: params leaf ['lr'] must be an array, got float",
         lambda: optzoo.flat_params({"lr": 0.1})),
        (TypeError, "flat_params: params is already a FlatParams",
         lambda: optzoo.flat_params(optzoo.flat_params(p))),
        (ValueError, "FlatParams.like: tree structure",
         lambda: optzoo.flat_params(p).like({"w": jnp.zeros(3)})),
        (ValueError, "FlatParams.like: leaf ['big'] has shape (6, 7), expected (7, 6)",
         lambda: optzoo.flat_params(p).like({**p, "big": jnp.zeros((6, 7))})),
    ]
    for kind, text, call in cases:
        with pytest.raises(kind) as err:
            call()
        assert str(err.value).startswith(text) and "\n" not in str(err.value), str(err.value)


# ------------------------------------------------------------------ meaning of the zoo

# every case of tests/zoo.py that refuses a FlatParams (its update depends on the
# original leaves' boundaries or shapes), by its name in the error
REFUSES = {
    "monitor_gradients": "monitor_gradients", "lars": "weight_matrices_mask",
    "adafactor": "adafactor", "muon": "muon", "angd": "angd", "adam_mini": "adam_mini",
    "adam_mini[torch]": "adam_mini", "adam_mini[heads,rows]": "adam_mini", "adamp": "adamp",
    "adamp[nesterov,fixed_decay]": "adamp", "mars": "mars", "mars[lion,1d,cautious]": "mars",
    "mars[shampoo,ams,fixed]": "mars", "stable_adamw": "stable_adamw",
    "stable_adamw[coupled]": "stable_adamw", "ademamix[fixed,stable,cautious]": "ademamix",
    "adopt[fixed,stable]": "adopt", "adam_atan2[cautious]": "adam_atan2", "came": "came",
    "cautious": "cautious", "cautious[direction]": "cautious", "prodigy[options]": "prodigy",
    "kron": "kron", "kron[diag,half-prob]": "kron", "kron[all_diag]": "kron",
    "novograd": "novograd", "novograd[decoupled,averaging]": "novograd",
    "novograd[fixed_decay]": "novograd", "sam[adaptive,gc]": "sam", "shampoo": "shampoo",
    "shampoo[coupled,every 3]": "shampoo", "shampoo[decoupled,max dim]": "shampoo",
    "soap": "soap", "soap[1d,merge,normalize]": "soap",
    "soap[no bias correction,max dim]": "soap", "sophia_h": "sophia_h",
    "sophia_h[rademacher,coupled]": "sophia_h",
    "transforms.scale_by_adafactor": "scale_by_adafactor",
    "transforms.scale_by_muon": "scale_by_muon", "adan[adanorm]": "adan",
}

# the default run: every family once, the per-leaf ones (trust ratio, per-leaf clipping),
# global reductions (D-Adaptation, Prodigy, SAM) and wrappers; the slow test runs them all
REPRESENTATIVE = (
    "adam", "sgd[momentum,wd]", "rmsprop[centered,momentum]", "lion", "lamb", "clip_by_norm",
    "transforms.scale_by_trust_ratio", "dadapt_adam", "sam", "prodigy", "clip_by_global_norm",
    # refusals
    "muon", "adafactor", "cautious", "monitor_gradients", "stable_adamw", "adan[adanorm]",
)


def _trajectory(name, steps=10):
    """The float64 run of ``name`` from the same start on the pytree and on a FlatParams
    (small leaves in three buffers of at most two leaves, the big one kept): max relative
    error of every iterate."""
    from tests.helpers import max_rel_err
    from tests.zoo import ZOO, quadratic, run

    case = ZOO[name]
    with x64():
        p = model_params(jnp.float64)
        loss = quadratic(p)
        fp = optzoo.flat_params(p, threshold=20, max_leaves=2)
        tree_iterates = _iterates(case, p, loss, steps)
        flat_iterates = _iterates(case, fp, lambda f: loss(f.tree()), steps)
        return max(max_rel_err(f.tree(), t, floor=1e-12)
                   for f, t in zip(flat_iterates, tree_iterates))


def _iterates(case, params, loss_fn, steps):
    from tests.zoo import step_kwargs

    tx = case.make()
    grad = jax.grad(loss_fn)

    @jax.jit
    def one(params, state):
        g = grad(params)
        updates, state = tx.update(g, state, params, **step_kwargs(case, params, loss_fn, g))
        return optax.apply_updates(params, updates), state

    state = tx.init(params)
    out = []
    for _ in range(steps):
        params, state = one(params, state)
        out.append(params)
    return out


def _check(name):
    from tests.zoo import ZOO, quadratic, run

    if name in REFUSES:
        case = ZOO[name]
        with x64(), pytest.raises(TypeError) as err:
            p = model_params(jnp.float64)
            loss = quadratic(p)
            run(case, case.make(), optzoo.flat_params(p, threshold=20),
                lambda f: loss(f.tree()), 1)
        msg = str(err.value)
        assert msg.startswith(f"{REFUSES[name]}: FlatParams is not supported"), msg
        assert "\n" not in msg
    else:
        assert _trajectory(name) <= 1e-12, name


@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_flat_trajectory_equals_tree_or_refuses(name):
    _check(name)


@pytest.mark.slow
def test_whole_zoo_flat_trajectory_equals_tree_or_refuses():
    from tests.zoo import ZOO

    assert set(REFUSES) <= set(ZOO)
    for name in ZOO:
        _check(name)


def test_refusal_costs_the_tree_path_nothing():
    """The refusal is an ``isinstance`` at init: the tree step's program is unchanged."""
    p = model_params()
    tx = optzoo.muon(0.02)
    with pytest.raises(TypeError, match="^muon: FlatParams is not supported"):
        tx.init(optzoo.flat_params(p))
    state = tx.init(p)
    jaxpr = jax.make_jaxpr(lambda g, s: tx.update(g, s, p))(p, state)
    assert "FlatParams" not in str(jaxpr)


# ------------------------------------------------------------------ training, checkpoints


def _data_and_loss():
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(16, 4)), jnp.float32)
    y = jnp.asarray(rng.normal(size=(16, 2)), jnp.float32)

    def loss_fn(p, batch):  # written on the pytree
        xb, yb = batch
        h = jnp.tanh(xb @ p["dense"]["w"] + p["dense"]["b"])
        out = h @ p["big"][:3, :2] + jnp.sum(p["head"]) * p["norm"][1]
        return jnp.mean((out - yb) ** 2) + 1e-3 * jnp.sum(jnp.square(p["norm"][0]))

    return (x, y), loss_fn


def test_make_train_step_and_fit_accept_flat_params():
    (x, y), loss_fn = _data_and_loss()
    p = model_params()
    tx = optzoo.adamw(1e-2, weight_decay=0.01)
    step = optzoo.make_train_step(loss_fn, tx)
    tp, ts = model_params(), tx.init(p)  # donated: a copy of p
    fp = optzoo.flat_params(model_params(), threshold=20)
    fs = tx.init(fp)
    assert isinstance(fs[0].mu, optzoo.FlatParams)
    for _ in range(5):
        tp, ts, tl = step(tp, ts, (x, y))
        fp, fs, fl = step(fp, fs, (x, y))
        np.testing.assert_allclose(fl, tl, rtol=1e-6)
    assert isinstance(fp, optzoo.FlatParams)
    for a, b in zip(jax.tree.leaves(fp.tree()), jax.tree.leaves(tp)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    fp2, _, hist = optzoo.fit(loss_fn, optzoo.flat_params(p, threshold=20), tx, (x, y),
                              batch_size=None, epochs=5, progress=False)
    assert isinstance(fp2, optzoo.FlatParams) and hist.loss.shape == (5,)
    for a, b in zip(jax.tree.leaves(fp2.tree()), jax.tree.leaves(tp)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_switching_layouts_mid_run_keeps_the_trajectory():
    (x, y), loss_fn = _data_and_loss()
    with x64():
        p = model_params(jnp.float64)
        tx = optax.chain(optzoo.clip_by_norm(1.0), optzoo.nadam(1e-2))
        step = optzoo.make_train_step(loss_fn, tx, donate=False)
        straight, straight_state = p, tx.init(p)
        for _ in range(6):
            straight, straight_state, _ = step(straight, straight_state, (x, y))
        # 3 steps on the pytree, 3 flat, the state converted both ways in between
        q, s = p, tx.init(p)
        for _ in range(3):
            q, s, _ = step(q, s, (x, y))
        fq = optzoo.flat_params(q, threshold=20)
        fs = flat.to_flat(s, fq)
        assert jax.tree.structure(fs) == jax.tree.structure(tx.init(fq))
        for _ in range(3):
            fq, fs, _ = step(fq, fs, (x, y))
        back = flat.to_tree(fs)
        assert jax.tree.structure(back) == jax.tree.structure(s)
        expected = jax.tree.leaves((straight, straight_state))
        for a, b in zip(jax.tree.leaves((fq.tree(), back)), expected):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_to_flat_needs_a_flat_params():
    with pytest.raises(TypeError, match=r"^to_flat: params must be a FlatParams, got dict$"):
        flat.to_flat({}, model_params())


def test_orbax_round_trip_of_flat_params_and_state(tmp_path):
    import orbax.checkpoint as ocp

    (x, y), loss_fn = _data_and_loss()
    tx = optzoo.adam(1e-2)
    step = optzoo.make_train_step(loss_fn, tx, donate=False)
    fp = optzoo.flat_params(model_params(), threshold=20)
    fs = tx.init(fp)
    for _ in range(2):
        fp, fs, _ = step(fp, fs, (x, y))
    ckptr = ocp.StandardCheckpointer()
    ckptr.save(tmp_path / "ckpt", {"params": fp, "opt_state": fs})
    ckptr.wait_until_finished()
    target = {"params": fp, "opt_state": fs}
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = ckptr.restore(tmp_path / "ckpt", abstract)
    assert jax.tree.structure(restored) == jax.tree.structure(target)
    assert isinstance(restored["params"], optzoo.FlatParams)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(target)):
        np.testing.assert_array_equal(a, b)
    # training goes on from the restored state exactly as from the live one
    a = step(restored["params"], restored["opt_state"], (x, y))[0]
    b = step(fp, fs, (x, y))[0]
    for u, w in zip(a.children, b.children):
        np.testing.assert_array_equal(u, w)


def test_flax_nnx_recipe():
    """docs/flat.md's recipe: split the model's state, train the flat buffers, merge back."""
    from flax import nnx

    class MLP(nnx.Module):
        def __init__(self, rngs):
            self.l1 = nnx.Linear(3, 8, rngs=rngs)
            self.norm = nnx.LayerNorm(8, rngs=rngs)
            self.l2 = nnx.Linear(8, 2, rngs=rngs)

        def __call__(self, x):
            return self.l2(jax.nn.relu(self.norm(self.l1(x))))

    x = jnp.asarray(np.random.default_rng(0).normal(size=(8, 3)), jnp.float32)
    y = jnp.zeros((8, 2))

    def loss_of(model, batch):
        xb, yb = batch
        return jnp.mean((model(xb) - yb) ** 2)

    # reference: nnx.Optimizer on the same model
    ref = MLP(nnx.Rngs(0))
    opt = nnx.Optimizer(ref, optzoo.adam(1e-2), wrt=nnx.Param)
    ref_step = optzoo.make_train_step(loss_of, opt)
    # the recipe
    model = MLP(nnx.Rngs(0))
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    fp = optzoo.flat_params(params)

    def loss_fn(p, batch):
        return loss_of(nnx.merge(graphdef, p, rest), batch)

    tx = optzoo.adam(1e-2)
    step = optzoo.make_train_step(loss_fn, tx)
    state = tx.init(fp)
    for _ in range(4):
        fp, state, loss = step(fp, state, (x, y))
        ref_loss = ref_step(ref, opt, (x, y))
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    nnx.update(model, fp.tree())
    np.testing.assert_allclose(model(x), ref(x), rtol=1e-5, atol=1e-6)
