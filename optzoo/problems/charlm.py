"""A character-level language model on text every Python installation ships: the
documentation strings of the standard library.

A small decoder-only transformer (pre-norm, causal self-attention, learned
positions), written with ``jax.numpy`` alone, predicts the next character of
64-character windows. It trains on the CPU in a minute or two, and it is a
different kind of problem from the digits MLP: embeddings, attention, layer
norms, and thousands of steps before the loss settles.

    data = optzoo.problems.load_stdlib_text()
    apply, params = optzoo.problems.transformer_lm(seed=0)
    loss = optzoo.problems.lm_loss(apply)
    x, y = next(optzoo.problems.lm_batches(data.train, batch_size=32, seed=0))
    loss(params, (x, y))

Needs nothing beyond JAX and NumPy.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

__all__ = ["CharData", "VOCAB", "load_stdlib_text", "transformer_lm", "lm_loss", "lm_batches",
           "lm_eval_windows"]

# printable ASCII and the newline: 96 symbols; anything else reads as a space
VOCAB = "\n" + "".join(chr(c) for c in range(32, 127))
_INDEX = np.full(128, VOCAB.index(" "), np.int32)
_INDEX[[ord(ch) for ch in VOCAB]] = np.arange(len(VOCAB), dtype=np.int32)

# Standard-library modules whose documentation makes the corpus (about 1 MB of text).
MODULES = (
    "abc", "argparse", "array", "ast", "asyncio", "base64", "bisect", "calendar", "cmath",
    "collections", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal",
    "difflib", "email", "enum", "fractions", "functools", "gettext", "glob", "gzip",
    "hashlib", "heapq", "hmac", "html", "http.client", "imaplib", "inspect", "io",
    "ipaddress", "itertools", "json", "logging", "mailbox", "math", "mimetypes", "operator",
    "optparse", "os", "pathlib", "pickle", "platform", "pprint", "queue", "random", "re",
    "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "smtplib", "socket",
    "statistics", "string", "struct", "subprocess", "tarfile", "tempfile", "textwrap",
    "threading", "timeit", "tokenize", "traceback", "typing", "unittest", "urllib.parse",
    "uuid", "warnings", "weakref", "xml.dom.minidom", "zipfile",
)


class CharData(NamedTuple):
    """Token ids (int32, indices into :data:`VOCAB`) of the training and held-out text."""

    train: np.ndarray
    test: np.ndarray
    vocab: str


def _documents() -> list[str]:
    """Each module's docstring, then those of the classes and functions it defines
    (in name order). Every module is imported first and members are read from the
    module's own namespace, so lazy attributes cannot change the text."""
    modules = []
    for name in MODULES:
        try:
            modules.append(importlib.import_module(name))
        except ImportError:  # a platform without it (e.g. no _ssl): skip
            continue
    docs = []
    for module in modules:
        with warnings.catch_warnings():  # deprecated aliases warn when inspected
            warnings.simplefilter("ignore", DeprecationWarning)
            members = [obj for key, obj in sorted(vars(module).items())
                       if not key.startswith("_")
                       and (inspect.isclass(obj) or inspect.isfunction(obj))
                       and getattr(obj, "__module__", None) == module.__name__]
            for obj in (module, *members):
                if isinstance(obj.__doc__, str) and obj.__doc__.strip():
                    docs.append(inspect.cleandoc(obj.__doc__))
    return docs


def load_stdlib_text(test_fraction: float = 0.1, max_chars: int | None = None) -> CharData:
    """The docstrings of :data:`MODULES` (each module, then the public classes and
    functions it defines, in name order), joined by blank lines and mapped onto
    :data:`VOCAB`; the last ``test_fraction`` of the text is held out. The text depends on the Python
    version, so compare optimizers within one installation."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_stdlib_text: test_fraction must be in (0, 1), got "
                         f"{test_fraction!r}")
    text = "\n\n".join(_documents())
    if max_chars is not None:
        text = text[:max_chars]
    codes = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    tokens = _INDEX[np.minimum(codes, 127)]
    cut = int(len(tokens) * (1.0 - test_fraction))
    return CharData(tokens[:cut], tokens[cut:], VOCAB)


def lm_batches(tokens: np.ndarray, batch_size: int = 32, context: int = 64,
               seed: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless ``(x, y)`` batches of random windows: ``y`` is ``x`` shifted by one."""
    rng = np.random.default_rng(seed)
    offsets = np.arange(context + 1)
    while True:
        starts = rng.integers(0, len(tokens) - context - 1, size=batch_size)
        w = tokens[starts[:, None] + offsets]
        yield w[:, :-1], w[:, 1:]


def lm_eval_windows(tokens: np.ndarray, count: int = 64, context: int = 64):
    """``count`` evenly spaced held-out windows ``(x, y)``: a fixed evaluation set."""
    starts = np.linspace(0, len(tokens) - context - 2, count).astype(np.int64)
    w = tokens[starts[:, None] + np.arange(context + 1)]
    return w[:, :-1], w[:, 1:]


def _layer_norm(x, scale, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + eps) * scale


def transformer_lm(vocab_size: int = len(VOCAB), context: int = 64, d_model: int = 64,
                   layers: int = 2, heads: int = 4, seed: int = 0
                   ) -> tuple[Callable[[Any, jax.Array], jax.Array], dict]:
    """``(apply, params)``: ``apply(params, x) -> logits`` for int tokens ``x`` of shape
    ``(batch, t)``, ``t <= context``. Weights are drawn with NumPy (normal, std
    ``0.02``; output projections ``0.02 / sqrt(2 layers)``, as in GPT-2), so nothing
    is compiled to build them. About 110k parameters at the defaults."""
    if d_model % heads:
        raise ValueError(f"transformer_lm: d_model ({d_model}) must be a multiple of heads "
                         f"({heads})")
    rng = np.random.default_rng(seed)

    def normal(*shape, std=0.02):
        return jnp.asarray(rng.normal(0.0, std, shape), jnp.float32)

    out_std = 0.02 / np.sqrt(2 * layers)
    params = {
        "embed": normal(vocab_size, d_model),
        "pos": normal(context, d_model),
        "blocks": [
            {"ln1": jnp.ones(d_model), "qkv": normal(d_model, 3 * d_model),
             "proj": normal(d_model, d_model, std=out_std),
             "ln2": jnp.ones(d_model), "up": normal(d_model, 4 * d_model),
             "up_b": jnp.zeros(4 * d_model), "down": normal(4 * d_model, d_model, std=out_std)}
            for _ in range(layers)
        ],
        "ln_f": jnp.ones(d_model),
        "head": normal(d_model, vocab_size),
    }
    dh = d_model // heads

    def attention(p, x):
        b, t, _ = x.shape
        q, k, v = jnp.split(x @ p["qkv"], 3, axis=-1)
        q, k, v = (a.reshape(b, t, heads, dh).transpose(0, 2, 1, 3) for a in (q, k, v))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dh)
        mask = jnp.tril(jnp.ones((t, t), bool))
        weights = jax.nn.softmax(jnp.where(mask, scores, -1e9), axis=-1)
        return (weights @ v).transpose(0, 2, 1, 3).reshape(b, t, d_model) @ p["proj"]

    def apply(p, x):
        h = p["embed"][x] + p["pos"][: x.shape[1]]
        for blk in p["blocks"]:
            h = h + attention(blk, _layer_norm(h, blk["ln1"]))
            h = h + jax.nn.gelu(_layer_norm(h, blk["ln2"]) @ blk["up"] + blk["up_b"]) @ blk["down"]
        return _layer_norm(h, p["ln_f"]) @ p["head"]

    return apply, params


def lm_loss(apply: Callable[[Any, jax.Array], jax.Array]) -> Callable[[Any, Any], jax.Array]:
    """``loss(params, (x, y))``: mean next-character cross-entropy, in nats."""

    def loss(params, batch):
        x, y = batch
        return optax.softmax_cross_entropy_with_integer_labels(apply(params, x), y).mean()

    return loss
