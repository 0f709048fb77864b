"""Lazy (sparse) Adam: rows without gradient keep their moments and parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optzoo import _validate as v
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms import adam as _adam


def touched_mask(g: jax.Array, granularity: str = "row") -> jax.Array:
    """Boolean mask, broadcastable to ``g``, of the entries a lazy update touches.

    ``"row"``: a row (a slice along axis 0, e.g. one embedding vector) is touched
    when any of its gradient entries is nonzero; ``"element"``: each nonzero
    entry. Scalars are touched when nonzero.
    """
    nonzero = g != 0
    if granularity == "element" or g.ndim <= 1:
        return nonzero
    row = jnp.any(nonzero, axis=tuple(range(1, g.ndim)))
    return row.reshape(row.shape + (1,) * (g.ndim - 1))


def scale_by_sparse_adam(
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    *,
    granularity: str = "row",
    eps_hat: bool = False,
    mu_dtype=None,
    nu_dtype=None,
) -> optax.GradientTransformation:
    r"""Lazy Adam: only touched rows update their moments and parameters.

    With ``touched`` from :func:`touched_mask` (rows with a nonzero gradient) and
    ``t`` the global step count::

        mu_t  = b1 * mu_{t-1} + (1 - b1) * g_t      on touched rows, else mu_{t-1}
        nu_t  = b2 * nu_{t-1} + (1 - b2) * g_t^2    on touched rows, else nu_{t-1}
        out_t = mu_t / (1 - b1^t) / (sqrt(nu_t / (1 - b2^t) + eps_root) + eps)
                                                              (eps_hat=False, paper's Algorithm 1)
        out_t = sqrt(1 - b2^t) / (1 - b1^t) * mu_t / (sqrt(nu_t) + eps)
                                                              (eps_hat=True, PyTorch SparseAdam)
        out_t = 0 on untouched rows

    Untouched rows keep their moments bit for bit, and the (zero) update leaves
    their parameters bit for bit unchanged: what embedding tables need, where a
    batch touches few rows and plain Adam would keep moving all of them with
    stale momentum. The bias correction uses the global step count, as PyTorch
    ``SparseAdam`` and TensorFlow's ``LazyAdam`` do. The moment update is
    :func:`optzoo.transforms.adam.update_moments`.

    Flavors: ``torch.optim.SparseAdam(lr, betas, eps)`` takes sparse gradients
    whose listed rows update; with dense gradients, listed rows are the rows
    with a nonzero entry: ``eps_hat=True``. (A listed row whose gradient
    happens to be all zero would update there and not here.) optax has no lazy
    Adam; on a step where every row is touched this equals ``optax.scale_by_adam``.

    Args:
      b1, b2: moment decays, in [0, 1).
      eps, eps_root: denominators' regularisers, >= 0.
      granularity: ``"row"`` or ``"element"``.
      eps_hat: PyTorch's placement of ``eps`` (outside the bias correction).
      mu_dtype, nu_dtype: dtypes of ``mu`` and ``nu``: as
        :func:`optzoo.transforms.scale_by_adam` (``None``: the params', float32 for
        half-precision params).
    """
    fn = v.owner("scale_by_sparse_adam")
    _adam.check_betas(fn, b1, b2, eps, eps_root)
    v.check_choice(fn, "granularity", granularity, ("row", "element"))
    v.check_bool(fn, "eps_hat", eps_hat)

    def init_fn(params):
        return _adam.init_moments(params, mu_dtype, nu_dtype=nu_dtype)

    def update_fn(updates, state, params=None):
        del params
        count, mu, nu = _adam.update_moments(fn, updates, state, b1, b2)
        masks = jax.tree.map(lambda g: touched_mask(g, granularity), updates)
        # untouched rows keep the stored moment (widened: the step runs in >= float32)
        keep = lambda m, new, old: jnp.where(m, new, wide(old))  # noqa: E731
        mu = jax.tree.map(keep, masks, mu, state.mu)
        nu = jax.tree.map(keep, masks, nu, state.nu)
        if eps_hat:
            step = _adam.folded_step_size(count, b1, b2)
            mu_hat = jax.tree.map(lambda m: step * wide(m), mu)
            out = _adam.adam_direction(mu_hat, nu, eps, 0.0, updates)
        else:
            mu_hat = optax.tree.bias_correction(mu, b1, count)
            nu_hat = optax.tree.bias_correction(nu, b2, count)
            out = _adam.adam_direction(mu_hat, nu_hat, eps, eps_root, updates)
        out = jax.tree.map(
            lambda m, o, g: jnp.where(m, o, jnp.zeros_like(g)).astype(g.dtype), masks, out, updates
        )
        mu, nu = _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu)
        return out, _adam.AdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)
