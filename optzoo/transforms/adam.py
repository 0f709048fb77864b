"""The Adam family: one first/second moment update and bias correction, shared by
Adam, AMSGrad, AdamW, AdaMax, Nadam and RAdam."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide, wide_tree


class AdamState(NamedTuple):
    """State of :func:`scale_by_adam`, :func:`scale_by_radam` and :func:`scale_by_adamax`.

    ``nu_max`` is ``None`` unless AMSGrad is on. For AdaMax, ``nu`` holds the
    exponentially weighted infinity norm ``u``.
    """

    count: jax.Array  # int32, saturating
    mu: optax.Updates
    nu: optax.Updates
    nu_max: optax.Updates | None = None


# The pieces every Adam-like block shares (this module's, lazy Adam in sparse.py,
# muon's Adam fallback in orthogonal.py): one copy of the moment update, the
# bias correction and the step mu_hat / (sqrt(nu_hat + eps_root) + eps). The moment
# update widens half-precision gradients before the first operation (g^2 included)
# and returns the new moments in at least float32; the block stores them with
# _dtypes.store (see optzoo/transforms/_dtypes.py for the policy).


def check_betas(fn, b1, b2, eps, eps_root=0.0):
    """Construction checks of ``b1, b2`` in [0, 1) and ``eps, eps_root >= 0``."""
    v.check_range(fn, "b1", b1, 0.0, 1.0, high_open=True)
    v.check_range(fn, "b2", b2, 0.0, 1.0, high_open=True)
    v.check_nonnegative_each(fn, eps=eps, eps_root=eps_root)


def init_moments(params, mu_dtype, amsgrad=False, nu_dtype=None):
    """An :class:`AdamState` of zeros (``nu_max`` only with ``amsgrad``), in the
    dtypes :func:`optzoo.transforms._dtypes.state_dtype` gives (``None``: the
    params', float32 for half-precision params)."""
    return AdamState(
        count=jnp.zeros([], jnp.int32),
        mu=_dtypes.zeros_like(params, mu_dtype),
        nu=_dtypes.zeros_like(params, nu_dtype),
        nu_max=_dtypes.zeros_like(params, nu_dtype) if amsgrad else None,
    )


def update_first_moment(fn, updates, state, b1):
    """``count + 1`` and ``mu <- b1 mu + (1-b1) g`` in at least float32, after
    checking that ``updates`` has the structure of ``state.mu`` (``fn``: the owner
    the error names)."""
    v.check_tree_match(fn, updates, state.mu)
    mu = optax.tree.update_moment(wide_tree(updates), wide_tree(state.mu), b1, 1)
    return optax.safe_increment(state.count), mu


def update_moments(fn, updates, state, b1, b2):
    """The shared step: ``count + 1``, ``mu <- b1 mu + (1-b1) g``, ``nu <- b2 nu + (1-b2) g^2``,
    in at least float32 (a half-precision ``g`` is widened before it is squared)."""
    count, mu = update_first_moment(fn, updates, state, b1)
    return count, mu, optax.tree.update_moment(wide_tree(updates), wide_tree(state.nu), b2, 2)


def folded_step_size(count, b1, b2):
    """``sqrt(1 - b2^t) / (1 - b1^t)``: both bias corrections moved into the step size."""
    t = count.astype(jnp.result_type(float))
    return jnp.sqrt(1.0 - b2**t) / (1.0 - b1**t)


def adam_step(m_hat, n_hat, eps, eps_root, dtype):
    """One leaf of the Adam direction, ``m_hat / (sqrt(n_hat + eps_root) + eps)``,
    computed in at least float32 and rounded once to ``dtype``."""
    return (wide(m_hat) / (jnp.sqrt(wide(n_hat) + eps_root) + eps)).astype(dtype)


def adam_direction(mu_hat, nu_hat, eps, eps_root, like):
    """:func:`adam_step` on every leaf, in the dtypes of ``like`` (the gradients)."""
    return jax.tree.map(
        lambda m, n, g: adam_step(m, n, eps, eps_root, g.dtype), mu_hat, nu_hat, like
    )


def scale_by_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    *,
    amsgrad: bool = False,
    mu_dtype=None,
    nu_dtype=None,
    fold_bias_correction: bool = False,
) -> optax.GradientTransformation:
    r"""Adam's bias-corrected moment ratio (Kingma and Ba, 2015, Algorithm 1).

    ::

        mu_t     = b1 * mu_{t-1} + (1 - b1) * g_t
        nu_t     = b2 * nu_{t-1} + (1 - b2) * g_t^2
        nu_max_t = max(nu_max_{t-1}, nu_t)                  (amsgrad only)
        mu_hat   = mu_t / (1 - b1^t)
        nu_hat   = nu_t / (1 - b2^t)    or   nu_max_t / (1 - b2^t)  (amsgrad)
        out_t    = mu_hat / (sqrt(nu_hat + eps_root) + eps)

    Without AMSGrad this equals ``optax.scale_by_adam``. AMSGrad (Reddi, Kale and
    Kumar, 2018) keeps the maximum of the raw ``nu`` and bias-corrects it, as
    PyTorch and Keras do; ``optax.scale_by_amsgrad`` instead keeps the maximum of
    the bias-corrected ``nu``, which gives different numbers.

    ``fold_bias_correction=True`` moves the bias correction into the step size,
    the paper's "more efficient order" (end of its Section 2), as TensorFlow and
    Keras compute it; ``eps`` then adds to the root of the *raw* ``nu``::

        out_t = mu_t * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(nu_t + eps_root) + eps)

    which equals the default form with ``eps`` replaced by ``eps * sqrt(1 - b2^t)``.

    ``mu_dtype`` / ``nu_dtype`` store the moments (``nu_max`` too): ``None`` (the
    default) follows the params, except that float16 and bfloat16 params get float32
    moments; ``"params"`` keeps each param's dtype, half included; a dtype sets it
    (see :mod:`optzoo.transforms._dtypes`). Whatever the storage, the arithmetic
    runs in at least float32 and the output is rounded once to the gradients' dtype.
    """
    fn = v.owner("scale_by_adam")
    check_betas(fn, b1, b2, eps, eps_root)
    v.check_bool(fn, "amsgrad", amsgrad)
    v.check_bool(fn, "fold_bias_correction", fold_bias_correction)

    def init_fn(params):
        return init_moments(params, mu_dtype, amsgrad, nu_dtype)

    def update_fn(updates, state, params=None):
        del params
        count, mu, nu = update_moments(fn, updates, state, b1, b2)
        nu_max = jax.tree.map(jnp.maximum, state.nu_max, nu) if amsgrad else None
        if fold_bias_correction:
            step_size = folded_step_size(count, b1, b2)
            mu_hat = jax.tree.map(lambda m: m * step_size.astype(m.dtype), mu)
            nu_hat = nu_max if amsgrad else nu
        else:
            mu_hat = optax.tree.bias_correction(mu, b1, count)
            nu_hat = optax.tree.bias_correction(nu_max if amsgrad else nu, b2, count)
        out = adam_direction(mu_hat, nu_hat, eps, eps_root, updates)
        mu, nu = _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu)
        nu_max = _dtypes.store(nu_max, state.nu_max)
        return out, AdamState(count=count, mu=mu, nu=nu, nu_max=nu_max)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_adamax(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    *,
    eps_inside_max: bool = True,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""AdaMax, Adam with the infinity norm (Kingma and Ba, 2015, Algorithm 2).

    ::

        mu_t  = b1 * mu_{t-1} + (1 - b1) * g_t
        u_t   = max(b2 * u_{t-1}, |g_t| + eps)    out_t = mu_t / (1 - b1^t) / u_t
                                                   (eps_inside_max: PyTorch, optax)
        u_t   = max(b2 * u_{t-1}, |g_t|)          out_t = mu_t / (1 - b1^t) / (u_t + eps)
                                                   (not eps_inside_max: Keras)

    The paper has no ``eps``; with ``eps = 0`` both forms are the paper's.
    ``mu_dtype`` / ``nu_dtype`` (of ``mu`` and ``u``): as :func:`scale_by_adam`.
    """
    fn = v.owner("scale_by_adamax")
    check_betas(fn, b1, b2, eps)
    v.check_bool(fn, "eps_inside_max", eps_inside_max)

    def init_fn(params):
        return init_moments(params, mu_dtype, nu_dtype=nu_dtype)

    def update_fn(updates, state, params=None):
        del params
        count, mu = update_first_moment(fn, updates, state, b1)
        shift = eps if eps_inside_max else 0.0
        u = jax.tree.map(lambda g, u: jnp.maximum(b2 * wide(u), jnp.abs(wide(g)) + shift),
                         updates, state.nu)
        mu_hat = optax.tree.bias_correction(mu, b1, count)

        def direction(m, u, g):
            # u and m are at least float32 here, so u >= eps holds (eps_inside_max)
            denom = u if eps_inside_max else u + eps
            return (m / denom).astype(g.dtype)

        out = jax.tree.map(direction, mu_hat, u, updates)
        return out, AdamState(count=count, mu=_dtypes.store(mu, state.mu),
                              nu=_dtypes.store(u, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


class NadamState(NamedTuple):
    """State of :func:`scale_by_nadam`: Adam's moments and the running product of
    the momentum schedule, ``mu_product_t = prod_{i<=t} m_i``."""

    count: jax.Array
    mu: optax.Updates
    nu: optax.Updates
    mu_product: jax.Array


def scale_by_nadam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    momentum_decay: float | None = 0.004,
    *,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""Nadam: Adam with Nesterov momentum (Dozat, 2016).

    With the momentum schedule ``m_t = b1 * (1 - 0.5 * 0.96^(t * momentum_decay))``
    (``m_t = b1`` when ``momentum_decay`` is None) and its product
    ``mu_product_t = prod_{i<=t} m_i``::

        mu_t  = b1 * mu_{t-1} + (1 - b1) * g_t
        nu_t  = b2 * nu_{t-1} + (1 - b2) * g_t^2
        denom = sqrt(nu_t / (1 - b2^t) + eps_root) + eps
        out_t = [(1 - m_t) / (1 - mu_product_t) * g_t
                 + m_{t+1} / (1 - mu_product_t * m_{t+1}) * mu_t] / denom

    ``momentum_decay = 0.004`` is Dozat's schedule, used by PyTorch ``NAdam`` and
    Keras ``Nadam``. ``momentum_decay = None`` keeps ``m_t = b1`` and then equals
    ``optax.nadam`` (``optax.scale_by_adam(nesterov=True)``). ``mu_dtype`` /
    ``nu_dtype``: as :func:`scale_by_adam`.
    """
    fn = v.owner("scale_by_nadam")
    check_betas(fn, b1, b2, eps, eps_root)
    if momentum_decay is not None:
        v.check_nonnegative(fn, "momentum_decay", momentum_decay)

    def schedule(t):
        if momentum_decay is None:
            return jnp.asarray(b1, dtype=float)
        return b1 * (1.0 - 0.5 * 0.96 ** (t.astype(float) * momentum_decay))

    def init_fn(params):
        base = init_moments(params, mu_dtype, nu_dtype=nu_dtype)
        return NadamState(base.count, base.mu, base.nu, jnp.ones([], dtype=float))

    def update_fn(updates, state, params=None):
        del params
        count, mu, nu = update_moments(fn, updates, state, b1, b2)
        m_t, m_next = schedule(count), schedule(optax.safe_increment(count))
        mu_product = state.mu_product * m_t
        c_grad = (1.0 - m_t) / (1.0 - mu_product)
        c_mom = m_next / (1.0 - mu_product * m_next)
        nu_hat = optax.tree.bias_correction(nu, b2, count)

        def direction(g, m, n):
            return adam_step(c_grad * wide(g) + c_mom * wide(m), n, eps, eps_root, g.dtype)

        out = jax.tree.map(direction, updates, mu, nu_hat)
        mu, nu = _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu)
        return out, NadamState(count=count, mu=mu, nu=nu, mu_product=mu_product)

    return optax.GradientTransformation(init_fn, update_fn)


def scale_by_radam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    threshold: float = 5.0,
    *,
    mu_dtype=None,
    nu_dtype=None,
    fold_bias_correction: bool = False,
) -> optax.GradientTransformation:
    r"""RAdam: Adam with the variance of the adaptive rate rectified (Liu et al., 2020).

    ::

        rho_inf = 2 / (1 - b2) - 1
        rho_t   = rho_inf - 2 t b2^t / (1 - b2^t)
        r_t     = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        out_t   = r_t * mu_hat / (sqrt(nu_hat + eps_root) + eps)   if rho_t > threshold
        out_t   = mu_hat                                           otherwise (SGD with momentum)

    ``threshold = 5`` is PyTorch's rule (``rho_t > 5``); the paper's Algorithm 2
    uses 4. optax switches at ``rho_t >= threshold``, which differs only when
    ``rho_t`` equals the threshold exactly. ``mu_dtype`` / ``nu_dtype``: as
    :func:`scale_by_adam`.

    ``fold_bias_correction=True`` adds ``eps`` to the root of the raw ``nu``, as
    ``torch.optim.RAdam`` does: the rectified branch becomes
    ``r_t * mu_hat * sqrt(1 - b2^t) / (sqrt(nu_t + eps_root) + eps)``.
    """
    fn = v.owner("scale_by_radam")
    check_betas(fn, b1, b2, eps, eps_root)
    v.check_range(fn, "threshold", threshold, 4.0)
    rho_inf = 2.0 / (1.0 - b2) - 1.0

    def init_fn(params):
        return init_moments(params, mu_dtype, nu_dtype=nu_dtype)

    def update_fn(updates, state, params=None):
        del params
        count, mu, nu = update_moments(fn, updates, state, b1, b2)
        t = count.astype(float)
        b2_t = b2**t
        rho_t = rho_inf - 2.0 * t * b2_t / (1.0 - b2_t)
        rectified = rho_t > threshold
        safe_rho = jnp.where(rectified, rho_t, rho_inf)
        r_t = jnp.sqrt(
            (safe_rho - 4.0) * (safe_rho - 2.0) * rho_inf
            / ((rho_inf - 4.0) * (rho_inf - 2.0) * safe_rho)
        )
        mu_hat = optax.tree.bias_correction(mu, b1, count)
        if fold_bias_correction:
            root_bc2 = jnp.sqrt(1.0 - b2_t)
            folded = jax.tree.map(lambda m: m * root_bc2.astype(m.dtype), mu_hat)
            adam = adam_direction(folded, nu, eps, eps_root, updates)
        else:
            nu_hat = optax.tree.bias_correction(nu, b2, count)
            adam = adam_direction(mu_hat, nu_hat, eps, eps_root, updates)
        out = jax.tree.map(
            lambda a, m, g: jnp.where(rectified, r_t * a, m).astype(g.dtype), adam, mu_hat, updates
        )
        mu, nu = _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu)
        return out, AdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
