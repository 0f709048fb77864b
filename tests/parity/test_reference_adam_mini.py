"""Adam-mini against ``adam_mini.Adam_mini`` 1.1.1 (the authors' package), step by step.

Both sides train the same small transformer: a token and a position embedding, two
layers of causal self-attention (separate query, key, value and output projections,
``n_heads = 2``; grouped-query with ``n_kv_heads = 1`` in some configurations) and a
tanh MLP, layer norms, residual scales and an output head, in float64 from the same
start on the same tokens. Its parameter names reach every partition rule of the
reference: per-token (``embed``, ``pos_embd``, ``lm_head``), per-head (``wq``, ``wk``,
``q_proj``, ``k_proj``), per-row (``wv``, ``v_proj``, ``wo``, ``attn.proj``,
``mlp``), per-entry (``bias``) and one block per leaf (layer norms, residual
scales), with weight decay skipped on ``norm``, ``ln`` and ``bias`` names.

The model is written once with torch tensors (weights ``(out, in)``, named as
``named_parameters`` names them) and once with ``jax.numpy``. With
``layout="torch"`` the jax params are the torch weights under the same names
(``"layers/0/attn/wq/weight"``); with ``layout="flax"`` they are Flax-style
(``kernel`` ``(in, out)``, the transpose; ``embedding`` ``(vocab, dim)`` as it is;
``scale`` for the norms' weights), so the Flax reading of the layout is checked
against the reference too. Each configuration runs 100 steps and records the
worst relative error over leaves and steps. The errors are rounding: about 2e-16
after the first step, growing with training to at most a few 1e-13 by step 100
(the first configuration: 1e-15 at step 60, 7e-13 at step 100), far below the 1e-10
bound; a partition off by one rule (the Flax leaves read as torch's, n_heads = 4
for 2, layer norms decayed) gives 1e-2 to 3e-1 within 20 steps.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch
from adam_mini import Adam_mini

import optzoo
from tests.helpers import x64
from tests.parity.harness import (  # noqa: F401 (torch_float64: a fixture)
    STEPS,
    TOL,
    config_label,
    fast_jit,
    leaf_rel_err,
    torch_float64,
)

pytestmark = pytest.mark.usefixtures("torch_float64")

VOCAB, DIM, HEADS, HIDDEN, SEQ, BATCH = 11, 8, 2, 12, 6, 3
HEAD_DIM = DIM // HEADS
# per layer: (query, key, value, output) projection names, one set per layer
PROJ = (("wq", "wk", "wv", "wo"), ("q_proj", "k_proj", "v_proj", "attn.proj"))


def _proj_names(i: int) -> tuple[str, str, str, str]:
    """Layer ``i``'s query, key, value and output projections (torch names, no
    ``.weight``)."""
    q, k, v_, o = PROJ[i]
    return (f"layers.{i}.attn.{q}", f"layers.{i}.attn.{k}", f"layers.{i}.attn.{v_}",
            f"layers.{i}.{o}" if o.startswith("attn.") else f"layers.{i}.attn.{o}")


def torch_shapes(kv_heads: int) -> dict[str, tuple[int, ...]]:
    """The reference's parameters, named as ``named_parameters`` would name them."""
    kv = kv_heads * HEAD_DIM
    out = {"embed.weight": (VOCAB, DIM), "pos_embd.weight": (SEQ, DIM)}
    for i in range(len(PROJ)):
        qn, kn, vn, on = _proj_names(i)
        out.update({
            f"layers.{i}.ln1.weight": (DIM,), f"layers.{i}.ln1.bias": (DIM,),
            f"{qn}.weight": (DIM, DIM), f"{qn}.bias": (DIM,),
            f"{kn}.weight": (kv, DIM), f"{vn}.weight": (kv, DIM),
            f"{on}.weight": (DIM, DIM),
            f"layers.{i}.res_scale": (DIM,),
            f"layers.{i}.norm2.weight": (DIM,),
            f"layers.{i}.mlp.fc1.weight": (HIDDEN, DIM), f"layers.{i}.mlp.fc1.bias": (HIDDEN,),
            f"layers.{i}.mlp.fc2.weight": (DIM, HIDDEN), f"layers.{i}.mlp.fc2.bias": (DIM,),
        })
    out.update({"final_norm.weight": (DIM,), "lm_head.weight": (VOCAB, DIM)})
    return out


def init_weights(kv_heads: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in torch_shapes(kv_heads).items():
        if name.endswith("norm.weight") or ".ln1.weight" in name or ".norm2." in name:
            out[name] = 1.0 + 0.1 * rng.normal(size=shape)
        elif name.endswith("res_scale"):
            out[name] = 0.5 + 0.1 * rng.normal(size=shape)
        else:
            fan = shape[-1] if len(shape) == 2 and "embed" not in name and "embd" not in name \
                else 1
            out[name] = rng.normal(size=shape) / math.sqrt(fan) * (0.1 if name.endswith(
                "bias") else 1.0)
    return out


def forward(w, tokens, targets, kv_heads, xp):
    """Mean cross-entropy of the model; ``w[name]`` is a weight in torch's ``(out,
    in)`` orientation, ``xp`` the array module (``torch`` or ``jax.numpy``)."""
    def layer_norm(x, g, b=None):
        mu = x.mean(-1, keepdims=True) if xp is jnp else x.mean(-1, keepdim=True)
        d = x - mu
        var = (d * d).mean(-1, keepdims=True) if xp is jnp else (d * d).mean(-1, keepdim=True)
        out = d / xp.sqrt(var + 1e-5) * g
        return out if b is None else out + b

    def heads(x, n):  # (B, T, n * HEAD_DIM) -> (B, n, T, HEAD_DIM)
        b, t = x.shape[0], x.shape[1]
        return x.reshape(b, t, n, HEAD_DIM).transpose(1, 2) if xp is torch else \
            x.reshape(b, t, n, HEAD_DIM).transpose(0, 2, 1, 3)

    def repeat(x, r):
        return x.repeat_interleave(r, dim=1) if xp is torch else jnp.repeat(x, r, axis=1)

    def lse(x):
        return torch.logsumexp(x, -1) if xp is torch else jax.nn.logsumexp(x, -1)

    causal = np.tril(np.ones((SEQ, SEQ), bool))
    mask = torch.tensor(causal) if xp is torch else jnp.asarray(causal)
    x = w["embed.weight"][tokens] + w["pos_embd.weight"][None]
    for i in range(len(PROJ)):
        qn, kn, vn, on = _proj_names(i)
        h = layer_norm(x, w[f"layers.{i}.ln1.weight"], w[f"layers.{i}.ln1.bias"])
        q = heads(h @ w[f"{qn}.weight"].T + w[f"{qn}.bias"], HEADS)
        k = repeat(heads(h @ w[f"{kn}.weight"].T, kv_heads), HEADS // kv_heads)
        v_ = repeat(heads(h @ w[f"{vn}.weight"].T, kv_heads), HEADS // kv_heads)
        kt = k.transpose(-1, -2) if xp is torch else jnp.swapaxes(k, -1, -2)
        s = q @ kt / math.sqrt(HEAD_DIM)
        s = xp.where(mask, s, -1e30)
        a = xp.exp(s - lse(s)[..., None])
        o = a @ v_
        o = o.transpose(1, 2) if xp is torch else o.transpose(0, 2, 1, 3)
        o = o.reshape(x.shape[0], SEQ, DIM) @ w[f"{on}.weight"].T
        x = x + w[f"layers.{i}.res_scale"] * o
        h = layer_norm(x, w[f"layers.{i}.norm2.weight"])
        m = xp.tanh(h @ w[f"layers.{i}.mlp.fc1.weight"].T + w[f"layers.{i}.mlp.fc1.bias"])
        x = x + m @ w[f"layers.{i}.mlp.fc2.weight"].T + w[f"layers.{i}.mlp.fc2.bias"]
    logits = layer_norm(x, w["final_norm.weight"]) @ w["lm_head.weight"].T
    picked = xp.take_along_axis(logits, targets[..., None], -1)[..., 0] if xp is jnp else \
        logits.gather(-1, targets[..., None])[..., 0]
    return (lse(logits) - picked).mean()


# ------------------------------------------------------------ the jax side's names


def flax_path(name: str) -> tuple[str, ...]:
    """The Flax-style key path of a torch name: ``weight`` of a matrix -> ``kernel``
    (of an embedding -> ``embedding``), of a vector -> ``scale``; ``attn.proj`` stays
    two keys (``attn/proj``)."""
    parts = name.split(".")
    if parts[-1] == "weight":
        kind = "embedding" if parts[0] in ("embed", "pos_embd") else (
            "scale" if len(torch_shapes(1)[name]) == 1 else "kernel")
        parts[-1] = kind
    return tuple(parts)


def to_jax(weights: dict[str, np.ndarray], layout: str) -> dict:
    """The torch weights as a nested jax tree (``layers`` a list) in ``layout``."""
    tree: dict = {}
    for name, value in weights.items():
        path = flax_path(name) if layout == "flax" else tuple(name.split("."))
        if layout == "flax" and path[-1] == "kernel":
            value = value.T
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = jnp.asarray(value, jnp.float64)
    tree["layers"] = [tree["layers"][str(i)] for i in range(len(PROJ))]
    return tree


def from_jax(tree: dict, layout: str, names) -> dict[str, np.ndarray]:
    """The jax tree as torch-named weights in torch's orientation."""
    out = {}
    for name in names:
        path = flax_path(name) if layout == "flax" else tuple(name.split("."))
        node = tree
        for key in path:
            node = node[int(key)] if isinstance(node, list) else node[key]
        value = np.asarray(node)
        out[name] = value.T if layout == "flax" and path[-1] == "kernel" else value
    return out


# ------------------------------------------------------------ the run


def run(kw: dict, layout: str, kv_heads: int, names_kw: dict | None = None,
        steps: int = STEPS, seed: int = 0) -> float:
    """``steps`` steps of both optimizers; the worst relative parameter error.
    ``names_kw``: name lists set on the reference instance (its attributes) and
    passed to optzoo as arguments."""
    names = list(torch_shapes(kv_heads))
    init = init_weights(kv_heads, seed)
    rng = np.random.default_rng(seed + 1)
    tokens = rng.integers(0, VOCAB, size=(BATCH, SEQ))
    targets = rng.integers(0, VOCAB, size=(BATCH, SEQ))

    tw = {k: torch.tensor(x, dtype=torch.float64, requires_grad=True) for k, x in init.items()}
    ref = Adam_mini([(k, tw[k]) for k in names], **kw)
    for attr, value in (names_kw or {}).items():
        setattr(ref, attr, set(value))
    tt, ty = torch.tensor(tokens), torch.tensor(targets)

    ours = {k: x for k, x in kw.items() if k not in ("model_sharding", "verbose")}
    ours.update(names_kw or {})
    ours["learning_rate"] = ours.pop("lr")
    if "betas" in ours:
        ours["b1"], ours["b2"] = ours.pop("betas")

    with x64():
        tx = optzoo.adam_mini(**ours, layout=layout)
        params = to_jax(init, layout)
        state = tx.init(params)
        jt, jy = jnp.asarray(tokens), jnp.asarray(targets)

        def loss(tree):
            w = {}
            for name in names:
                path = flax_path(name) if layout == "flax" else tuple(name.split("."))
                node = tree
                for key in path:
                    node = node[int(key)] if isinstance(node, list) else node[key]
                w[name] = node.T if layout == "flax" and path[-1] == "kernel" else node
            return forward(w, jt, jy, kv_heads, jnp)

        @fast_jit
        def step(params, state):
            grads = jax.grad(loss)(params)
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        worst = 0.0
        for _ in range(steps):
            ref.zero_grad()
            forward(tw, tt, ty, kv_heads, torch).backward()
            ref.step()
            params, state = step(params, state)
            expected = {k: t.detach().numpy() for k, t in tw.items()}
            worst = max(worst, leaf_rel_err(from_jax(params, layout, names), expected))
    return worst


BASE = dict(dim=DIM, n_heads=HEADS, verbose=False)
CONFIGS = [
    # (reference keywords, optzoo layout, key/value heads[, name lists])
    (dict(lr=0.01, **BASE), "torch", HEADS),
    (dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, **BASE), "torch", HEADS),
    (dict(lr=0.02, betas=(0.85, 0.95), eps=1e-7, weight_decay=0.05, n_kv_heads=1,
          **BASE), "torch", 1),
    (dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, **BASE), "flax", HEADS),
    (dict(lr=0.01, n_kv_heads=1, **BASE), "flax", 1),
    (dict(lr=0.005, betas=(0.9, 0.98), eps=1e-10, weight_decay=0.2, n_kv_heads=2,
          dim=DIM, n_heads=HEADS, model_sharding=True, verbose=True), "flax", HEADS),
    # the name lists, attributes of the reference: values in one block per leaf (the
    # reference's comment allows an empty wv_names), per-row only for the first MLP
    # matrix ("mlp.fc1" matches "layers/0/mlp/fc1/kernel"), the token embedding in one
    # block (a Flax "embed/embedding" would match "embed" itself), residual scales
    # entry-wise
    (dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, **BASE), "flax", HEADS,
     dict(wv_names=(), mlp_names=("mlp.fc1",), embd_names=("pos_embd",),
          adam_block_names=("bias", "res_scale"))),
    (dict(lr=0.01, weight_decay=0.1, n_kv_heads=1, **BASE), "torch", 1,
     dict(wqk_names=("wq", "k_proj"), mlp_names=("fc2",), attn_proj_names=())),
]


def _label(case) -> str:
    kw, layout, kv, *names_kw = case
    extra = {k: tuple(x) for k, x in names_kw[0].items()} if names_kw else {}
    return config_label({**{k: x for k, x in kw.items() if k != "verbose" or x},
                         "layout": layout, **extra})


@pytest.mark.parametrize("case", CONFIGS, ids=_label)
def test_adam_mini(case, record_parity):
    kw, layout, kv_heads, *names_kw = case
    err = run(kw, layout, kv_heads, *names_kw)
    record_parity("reference", "adam_mini.Adam_mini", _label(case), err, STEPS)
    assert err <= TOL, (kw, layout, err)
