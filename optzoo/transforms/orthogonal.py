"""Muon: momentum orthogonalised by a Newton-Schulz iteration, for weight matrices."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _validate as v
from optzoo.transforms import _dtypes
from optzoo.transforms import adam as _adam
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip

MUON_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


class MuonState(NamedTuple):
    """State of :func:`scale_by_muon`.

    ``mu`` is the momentum of every leaf; ``nu`` the second moment of the leaves
    handled by the Adam fallback (a ``()`` placeholder for matrices and for the
    momentum fallback).
    """

    count: jax.Array  # int32, saturating
    mu: optax.Updates
    nu: optax.Updates


def newton_schulz(
    x: jax.Array,
    ns_coefficients=MUON_NS_COEFFICIENTS,
    ns_steps: int = 5,
    eps: float = 1e-7,
    ns_dtype=None,
    add_eps: bool = False,
) -> jax.Array:
    r"""Approximate the orthogonal factor ``U V^T`` of a matrix ``x = U S V^T``.

    Works on ``X = x^T`` when ``x`` has more rows than columns (so ``X X^T`` is
    the smaller Gram matrix), in ``ns_dtype`` (default: ``x``'s dtype, at least
    float32, since float16 flushes a small norm to 0; each
    line below is accumulated in at least float32 and rounded once to
    ``ns_dtype``, as PyTorch's ``addmm`` does in bfloat16)::

        X_0     = X / max(||X||_F, eps)
        A_k     = X_k X_k^T
        X_{k+1} = a X_k + (b A_k + c A_k A_k) X_k        k = 0 .. ns_steps - 1

    With Muon's coefficients ``(a, b, c) = (3.4445, -4.7750, 2.0315)`` the
    singular values land roughly in [0.7, 1.2] after 5 steps rather than at
    exactly 1 (Jordan et al., 2024). The result is returned in ``x``'s dtype.
    ``add_eps=True`` divides by ``||X||_F + eps`` instead (Keras's Muon).
    """
    a, b, c = ns_coefficients
    out_dtype = x.dtype
    low = jnp.dtype(ns_dtype or jnp.promote_types(x.dtype, jnp.float32))
    acc = jnp.promote_types(low, jnp.float32)
    if low == acc:
        rnd = lambda y: y  # noqa: E731
    else:
        # Round to the iteration dtype once per line, as a fused multiply-add in
        # that dtype does (PyTorch's bfloat16 addmm). reduce_precision, unlike a
        # pair of casts, survives XLA's removal of redundant conversions under jit.
        info = jnp.finfo(low)
        rnd = lambda y: jax.lax.reduce_precision(y, info.nexp, info.nmant)  # noqa: E731
    x = x.astype(low).astype(acc)
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    norm = rnd(jnp.sqrt(jnp.sum(jnp.square(x))))
    # eps stays wide: in float16 (no subnormals under reduce_precision) it would be 0
    x = rnd(x / (norm + eps if add_eps else jnp.maximum(norm, eps)))
    for _ in range(ns_steps):
        gram = rnd(x @ x.T)
        poly = rnd(b * gram + c * (gram @ gram))
        x = rnd(a * x + poly @ x)
    if tall:
        x = x.T
    return x.astype(out_dtype)


def muon_lr_ratio(shape, adjust_lr_fn: str = "original", rms_rate: float = 0.2) -> float:
    """The per-matrix step multiplier of :func:`scale_by_muon` for a 2-D ``shape``
    ``(A, B)``: ``sqrt(max(1, A / B))`` (``"original"``), ``rms_rate sqrt(max(A, B))``
    (``"match_rms_adamw"``; Moonshot's ``rms_rate = 0.2``) or 1 (``"none"``)."""
    rows, cols = shape[0], shape[1]
    if adjust_lr_fn == "original":
        return math.sqrt(max(1.0, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return math.sqrt(max(rows, cols)) * rms_rate
    return 1.0


def scale_by_muon(
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_coefficients=MUON_NS_COEFFICIENTS,
    ns_steps: int = 5,
    eps: float = 1e-7,
    adjust_lr_fn: str = "original",
    *,
    fallback: str = "adam",
    b2: float = 0.999,
    adam_eps: float = 1e-8,
    ns_dtype=None,
    mu_dtype=None,
    rms_rate: float = 0.2,
    keras_form: bool = False,
) -> optax.GradientTransformation:
    r"""Muon (Jordan et al., 2024, "Muon: An optimizer for hidden layers in neural
    networks"): momentum whose matrices are orthogonalised by Newton-Schulz.

    For every leaf::

        mu_t = momentum * mu_{t-1} + (1 - momentum) * g_t
        m_t  = (1 - momentum) * g_t + momentum * mu_t     (nesterov)
        m_t  = mu_t                                       (otherwise)

    For a 2-D leaf of shape ``(A, B)``::

        out_t = muon_lr_ratio((A, B), adjust_lr_fn) * newton_schulz(m_t)

    Leaves that are not matrices (biases, norm scales, scalars, conv kernels)
    take the ``fallback``: ``"adam"`` treats ``mu`` as Adam's first moment
    (``b1 = momentum``) and returns ``mu_t / (1 - momentum^t) / (sqrt(nu_t / (1 -
    b2^t)) + adam_eps)`` with ``nu_t = b2 nu_{t-1} + (1 - b2) g_t^2``; ``"momentum"``
    returns ``m_t`` unchanged. Both use the same learning rate as the matrices;
    for a separate one, route leaves with ``optax.multi_transform``.

    Defaults are Jordan's: ``momentum = 0.95``, Nesterov, coefficients
    ``(3.4445, -4.7750, 2.0315)``, 5 steps; ``adjust_lr_fn = "original"`` is
    his ``sqrt(max(1, A / B))``; ``"match_rms_adamw"`` is Moonshot's ``0.2
    sqrt(max(A, B))`` (Liu et al., 2025, "Muon is Scalable for LLM Training").
    ``A`` is ``shape[0]``: PyTorch's (out, in) layout; Flax kernels are (in, out).

    Flavors: ``torch.optim.Muon(lr, weight_decay, momentum, nesterov,
    ns_coefficients, eps, ns_steps, adjust_lr_fn)`` is this block (its
    ``adjust_lr_fn=None`` is ``"original"``) with ``ns_dtype=jnp.bfloat16``
    (PyTorch runs the iteration in bfloat16; with it the two agree to float64
    rounding, jitted or not), followed by decoupled decay
    ``optax.add_decayed_weights(weight_decay)`` and the learning rate; it
    accepts only matrices. ``optax.contrib.muon`` bias-corrects the momentum
    and divides by ``||X|| + eps``, so its numbers differ.

    Args:
      momentum: EMA decay of ``mu``, in [0, 1).
      nesterov: use the Nesterov look-ahead ``m_t``.
      ns_coefficients: ``(a, b, c)`` of the quintic iteration.
      ns_steps: Newton-Schulz iterations, in [0, 99].
      eps: lower bound of the Frobenius norm before the iteration, >= 0.
      adjust_lr_fn: ``"original"``, ``"match_rms_adamw"`` or ``"none"``.
      fallback: ``"adam"`` or ``"momentum"`` for leaves that are not matrices.
      b2, adam_eps: the Adam fallback's second-moment decay and epsilon.
      ns_dtype: dtype of the iteration (e.g. ``jnp.bfloat16``); default the leaf's.
      mu_dtype: dtype of ``mu`` and of the Adam fallback's ``nu``. ``None`` (the
        default) follows the params, except that float16 and bfloat16 params get
        float32; ``"params"`` keeps each param's dtype; a dtype sets it (see
        :mod:`optzoo.transforms._dtypes`). The arithmetic runs in at least float32.
      rms_rate: the factor of ``"match_rms_adamw"`` (Moonshot's 0.2).
      keras_form: ``keras.optimizers.Muon``'s matrix rule (Keras 3.15.1, for
        ``optzoo.keras.Muon``): the momentum is a sum, ``mu_t = momentum mu_{t-1}
        + g_t`` with look-ahead ``m_t = g_t + momentum mu_t``, and Newton-Schulz
        divides by ``||X||_F + eps`` (``add_eps``).
    """
    fn = v.owner("scale_by_muon")
    v.check_range(fn, "momentum", momentum, 0.0, 1.0, high_open=True)
    v.check_bool(fn, "nesterov", nesterov)
    if not (isinstance(ns_coefficients, (tuple, list)) and len(ns_coefficients) == 3):
        raise ValueError(
            f"{fn}: ns_coefficients must be a tuple of three numbers, "
            f"got {ns_coefficients!r}"
        )
    for name, c in zip(("a", "b", "c"), ns_coefficients):
        v.check_range(fn, f"ns_coefficients[{name}]", c)
    v.check_int(fn, "ns_steps", ns_steps, 0, 99)
    v.check_dtype(fn, "ns_dtype", ns_dtype)
    v.check_nonnegative(fn, "eps", eps)
    v.check_choice(fn, "adjust_lr_fn", adjust_lr_fn, ("original", "match_rms_adamw", "none"))
    v.check_choice(fn, "fallback", fallback, ("adam", "momentum"))
    v.check_range(fn, "b2", b2, 0.0, 1.0, high_open=True)
    v.check_nonnegative(fn, "adam_eps", adam_eps)
    v.check_nonnegative(fn, "rms_rate", rms_rate)
    v.check_bool(fn, "keras_form", keras_form)

    def is_matrix(x):
        return jnp.ndim(x) == 2

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        def nu(p):
            if is_matrix(p) or fallback != "adam":
                return jnp.zeros([], _dtypes.state_dtype(mu_dtype, p))
            return jnp.zeros_like(p, dtype=_dtypes.state_dtype(mu_dtype, p))  # p's sharding

        return MuonState(
            count=jnp.zeros([], jnp.int32),
            mu=_dtypes.zeros_like(params, mu_dtype),
            nu=jax.tree.map(nu, params),
        )

    def update_fn(updates, state, params=None):
        del params
        if keras_form:
            # Keras: m += g + m (momentum - 1); look-ahead g + momentum m.
            v.check_tree_match(fn, updates, state.mu)
            count = optax.safe_increment(state.count)
            mu = jax.tree.map(lambda g, m: wide(m) + (wide(g) + wide(m) * (momentum - 1.0)),
                              updates, state.mu)
            lead = 1.0
        else:
            count, mu = _adam.update_first_moment(fn, updates, state, momentum)
            lead = 1.0 - momentum
        if nesterov:
            look = jax.tree.map(lambda g, m: lead * wide(g) + momentum * m, updates, mu)
        else:
            look = mu

        # Matrices orthogonalise the (Nesterov) momentum; the Adam fallback uses the
        # raw moment mu_t, the momentum fallback the look-ahead m_t.
        def leaf(g, m_look, m_raw, n):
            if is_matrix(g):
                o = newton_schulz(m_look.astype(wide(g).dtype), ns_coefficients, ns_steps, eps,
                                  ns_dtype, add_eps=keras_form)
                return (o * muon_lr_ratio(g.shape, adjust_lr_fn, rms_rate)).astype(g.dtype), n
            if fallback == "momentum":
                return m_look.astype(g.dtype), n
            n_new = optax.tree.update_moment(wide(g), wide(n), b2, 2)
            m_hat = optax.tree.bias_correction(m_raw, momentum, count)
            n_hat = optax.tree.bias_correction(n_new, b2, count)
            out = _adam.adam_step(m_hat, n_hat, adam_eps, 0.0, g.dtype)
            return out, _dtypes.store_leaf(n_new, n.dtype)

        out, nu = unzip(updates, jax.tree.map(leaf, updates, look, mu, state.nu), 2)
        return out, MuonState(count, _dtypes.store(mu, state.mu), nu)

    return optax.GradientTransformation(init_fn, update_fn)
