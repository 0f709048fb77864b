"""AdamP: Adam whose step loses its radial part on scale-invariant weights
(Heo et al., 2021)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import value_at
from optzoo.transforms.adam import AdamState, check_betas, init_moments, update_moments


def _max_abs_cos(x, y, eps):
    """``max_i |cos(x_i, y_i)|`` over the rows of two matrices (torch's
    ``cosine_similarity``: each row divided by ``max(||row||, eps)``)."""
    nx = jnp.maximum(jnp.linalg.norm(x, axis=1, keepdims=True), eps)
    ny = jnp.maximum(jnp.linalg.norm(y, axis=1, keepdims=True), eps)
    return jnp.max(jnp.abs(jnp.sum((x / nx) * (y / ny), axis=1)))


def projection(p, g, perturb, delta, wd_ratio, eps):
    """AdamP's projection of one leaf with two or more axes: ``(perturb, ratio)``.

    Per output channel (rows of ``p`` flattened to ``p.shape[0]`` rows) when
    ``max |cos(g_i, p_i)| < delta / sqrt(row size)``, else over the whole leaf when
    ``|cos(g, p)| < delta / sqrt(p.size)``, else nothing. Projecting removes the
    part of ``perturb`` along ``p_n = p / (||p|| + eps)``: ``perturb - p_n sum(p_n
    perturb)``, and sets ``ratio = wd_ratio`` (1 otherwise)."""
    rows = (p.shape[0], -1)
    pc, gc, uc = p.reshape(rows), g.reshape(rows), perturb.reshape(rows)
    pl, gl, ul = p.reshape(1, -1), g.reshape(1, -1), perturb.reshape(1, -1)
    channel = _max_abs_cos(gc, pc, eps) < delta / math.sqrt(pc.shape[1])
    layer = _max_abs_cos(gl, pl, eps) < delta / math.sqrt(p.size)

    def remove_radial(pv, uv):
        p_n = pv / (jnp.linalg.norm(pv, axis=1, keepdims=True) + eps)
        return (uv - p_n * jnp.sum(p_n * uv, axis=1, keepdims=True)).reshape(p.shape)

    out = jnp.where(channel, remove_radial(pc, uc),
                    jnp.where(layer, remove_radial(pl, ul), perturb))
    return out, jnp.where(channel | layer, wd_ratio, 1.0)


def scale_by_adamp(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.9,
                   b2: float = 0.999, weight_decay: float = 0.0, fixed_decay: bool = False,
                   delta: float = 0.1, wd_ratio: float = 0.1, nesterov: bool = False,
                   eps: float = 1e-8, *, mu_dtype=None, nu_dtype=None
                   ) -> optax.GradientTransformation:
    r"""AdamP's step with its decoupled decay, as ``pytorch_optimizer.AdamP`` 4.1.0
    computes them. The output is the final update (the decay's ratio depends on the
    projection, so the learning rate and the decay are inside)::

        mu_t, nu_t  Adam's moments;  lr_t = learning_rate(t - 1)
        perturb_t   = mu_t sqrt(1 - b2^t) / (sqrt(nu_t) + eps)
                      (nesterov: (b1 mu_t + (1 - b1) g_t) for mu_t)
        perturb_t, ratio_t = projection(params, g_t, perturb_t)   (nonempty, ndim > 1)
        out_t       = -lr_t / (1 - b1^t) perturb_t - weight_decay ratio_t params
                      (times lr_t unless fixed_decay)

    ``eps`` adds to the root of the raw ``nu``; Heo et al.'s code adds it to the
    bias-corrected root. Needs params.
    """
    fn = v.owner("scale_by_adamp")
    v.check_learning_rate(fn, learning_rate)
    check_betas(fn, b1, b2, eps)
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    v.check_bool(fn, "fixed_decay", fixed_decay)
    v.check_nonnegative(fn, "delta", delta)
    v.check_range(fn, "wd_ratio", wd_ratio, 0.0, 1.0, high_open=True)
    v.check_bool(fn, "nesterov", nesterov)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        return init_moments(params, mu_dtype, nu_dtype=nu_dtype)

    def update_fn(updates, state, params=None):
        v.require_args(fn, params)
        lr = value_at(learning_rate, state.count)
        count, mu, nu = update_moments(fn, updates, state, b1, b2)
        t = count.astype(jnp.result_type(float))
        root_bc2, step_size = jnp.sqrt(1.0 - b2**t), lr / (1.0 - b1**t)
        decay = weight_decay if fixed_decay else weight_decay * lr

        def leaf(g, p, m, n):
            g, p = wide(g), wide(p)
            m = b1 * m + (1.0 - b1) * g if nesterov else m
            perturb = m * (root_bc2 / (jnp.sqrt(wide(n)) + eps))
            ratio = 1.0
            if p.ndim > 1 and p.size > 0:
                perturb, ratio = projection(p, g, perturb, delta, wd_ratio, eps)
            return -step_size * perturb - decay * ratio * p

        out = jax.tree.map(lambda g, p, m, n: leaf(g, p, m, n).astype(g.dtype),
                           updates, params, mu, nu)
        return out, AdamState(count, _dtypes.store(mu, state.mu), _dtypes.store(nu, state.nu))

    return optax.GradientTransformation(init_fn, update_fn)


@R.register(
    family="adam", reference="Heo et al. 2021", year=2021,
    counterparts=(R.reference("pytorch_optimizer", "AdamP",
                              "maximize and foreach not taken (negate the loss); use_gc, adanorm, "
                              "cautious and adam_debias (keywords the class only forwards) not "
                              "taken"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)",
            "weight_decay": "[0, inf)", "delta": "[0, inf)", "wd_ratio": "[0, 1)",
            "eps": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, b2=0.99, weight_decay=0.01, delta=0.5),
              "nesterov,fixed_decay": dict(learning_rate=0.01, nesterov=True, weight_decay=0.01,
                                           fixed_decay=True, delta=3.0, wd_ratio=0.5)},
)
@v.named
def adamp(learning_rate: _blocks.ScalarOrSchedule = 1e-3, b1: float = 0.9, b2: float = 0.999,
          weight_decay: float = 0.0, weight_decouple: bool = True, fixed_decay: bool = False,
          delta: float = 0.1, wd_ratio: float = 0.1, nesterov: bool = False, eps: float = 1e-8
          ) -> optax.GradientTransformation:
    r"""AdamP (Heo et al., 2021, "AdamP: slowing down the slowdown for momentum
    optimizers on scale-invariant weights").

    ``params_t = params_{t-1} + out_t`` with :func:`scale_by_adamp`: Adam's step
    (``nesterov``: on the Nesterov momentum), from which every leaf with two or more
    axes whose gradient is nearly orthogonal to it (per output channel, else as a
    whole; ``delta`` sets the threshold) loses its component along the params; the
    decoupled decay of such a leaf is multiplied by ``wd_ratio``.

    ``weight_decouple=False`` matches the reference, where the coupled decay is added
    to the gradient only after the step has used it: it has no effect (the paper and
    Heo et al.'s code have only the decoupled decay). Defaults are
    ``pytorch_optimizer.AdamP`` 4.1.0's (the paper's ``delta = wd_ratio = 0.1``).
    """
    fn = "adamp"
    v.check_bool(fn, "weight_decouple", weight_decouple)
    v.check_nonnegative(fn, "weight_decay", weight_decay)
    return scale_by_adamp(learning_rate, b1, b2, weight_decay if weight_decouple else 0.0,
                          fixed_decay, delta, wd_ratio, nesterov, eps)
