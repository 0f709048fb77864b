"""Sophia-H: clipped diagonal-Newton steps with a Hutchinson estimate of the Hessian
diagonal, refreshed every few steps (Liu et al., 2023)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _decay, _dtypes
from optzoo.transforms._dtypes import wide
from optzoo.transforms._tree import unzip

DISTRIBUTIONS = ("gaussian", "rademacher")


class SophiaHState(NamedTuple):
    """State of :func:`scale_by_sophia_h`.

    ``count``: updates done (int32, saturating). ``key``: the raw PRNG key data of
    ``jax.random.key(seed)`` (``jax.random.key_data``); it never changes, the probes
    of a step fold the step in (:func:`sophia_h_probes`). ``mu``: the gradient's
    moving average (the reference's ``momentum``). ``hessian``: the moving average
    of the Hessian-diagonal estimates (its ``hessian_moment``).
    """

    count: jax.Array
    key: jax.Array
    mu: optax.Updates
    hessian: optax.Updates


def _lerp(a, b, w):
    """``a + w (b - a)``, written as ``torch.lerp`` writes it (from the nearer end)."""
    return jnp.where(w < 0.5, a + w * (b - a), b - (b - a) * (1.0 - w))


def _probe(key, like, distribution):
    """One probe leaf: standard normal or +-1 entries, drawn in at least float32 and
    rounded to ``like``'s dtype (the tangent of a Hessian-vector product has the
    primal's dtype)."""
    dtype = wide(jnp.zeros([], jnp.asarray(like).dtype)).dtype
    shape = jnp.shape(like)
    if distribution == "rademacher":
        z = jax.random.rademacher(key, shape, dtype)
    else:
        z = jax.random.normal(key, shape, dtype)
    return z.astype(jnp.asarray(like).dtype)


def _probes_at(key_data, count, params, sample, distribution):
    """The probe pytree of sample ``sample`` at the step that starts with ``count``
    updates done; ``key_data`` is the state's key."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.wrap_key_data(key_data),
                                                count), sample)
    leaves, treedef = jax.tree.flatten(params)
    return jax.tree.unflatten(
        treedef, [_probe(jax.random.fold_in(key, j), p, distribution)
                  for j, p in enumerate(leaves)])


@R.export
def sophia_h_probes(params: optax.Params, step: int, seed: int = 0, num_samples: int = 1,
                    hessian_distribution: str = "gaussian") -> list[optax.Params]:
    """The Hutchinson probe vectors :func:`sophia_h` (built with ``seed``,
    ``num_samples`` and ``hessian_distribution``) draws at ``step``, the number of
    updates done before it (0 for the first): a list of ``num_samples`` pytrees
    shaped like ``params``, in the params' dtypes.

    The key schedule: with ``key = jax.random.key(seed)``, sample ``i`` of step
    ``t`` uses ``k = fold_in(fold_in(key, t), i)`` and its ``j``-th leaf (in
    ``jax.tree.leaves`` order) ``fold_in(k, j)``, from which it draws
    ``jax.random.normal`` (``"gaussian"``) or ``jax.random.rademacher`` entries in
    at least float32, rounded to the leaf's dtype. Only the steps that refresh the
    estimate use theirs."""
    key_data = jax.random.key_data(jax.random.key(seed))
    return [_probes_at(key_data, jnp.asarray(step, jnp.int32), params, i, hessian_distribution)
            for i in range(num_samples)]


def hutchinson_diagonal(value_fn: Callable[[Any], Any], params, probes) -> Any:
    """``mean_i z_i * (H z_i)``, the Hutchinson estimate of the diagonal of the
    Hessian ``H`` of ``value_fn`` at ``params``, in at least float32; each ``H z_i``
    is one forward-over-reverse product ``jax.jvp(jax.grad(value_fn), (params,),
    (z_i,))``. ``probes``: a list of pytrees shaped like ``params``. The sum runs
    in the order of ``probes``, as ``acc + (1/n H z_i) z_i``."""
    grad_fn = jax.grad(value_fn)
    scale = 1.0 / len(probes)
    acc = jax.tree.map(lambda p: jnp.zeros(jnp.shape(p), wide(p).dtype), params)
    for z in probes:
        hz = jax.jvp(grad_fn, (params,), (z,))[1]
        acc = jax.tree.map(lambda a, h, zz: a + (scale * wide(h)) * wide(zz), acc, hz, z)
    return acc


def scale_by_sophia_h(
    b1: float = 0.96, b2: float = 0.99, p: float = 1e-2, update_period: int = 10,
    num_samples: int = 1, hessian_distribution: str = "gaussian", eps: float = 1e-12,
    seed: int = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""Sophia-H's direction, as ``pytorch_optimizer.SophiaH`` 4.1.0 computes it::

        mu_t      = lerp(mu_{t-1}, g_t, 1 - b1)                   (= b1 mu + (1 - b1) g)
        h_hat_t   = mean_i z_i * (H_t z_i)                        (steps 1, 1 + update_period, ...)
        hessian_t = lerp(hessian_{t-1}, h_hat_t, 1 - b2)           (those steps; else unchanged)
        out_t     = clip(mu_t / max(hessian_t, eps), -p, p)

    ``H_t z`` is the Hessian-vector product of ``value_fn`` at the params (its
    Hessian, not the gradient's: weight decay and a sign flip applied to ``g_t``
    before this block do not enter it); the ``num_samples`` probes ``z_i`` come
    from :func:`sophia_h_probes`. On the other steps a ``lax.cond`` skips the
    products. ``update(g, state, params, value_fn=f)``; ``hessian=h`` (a pytree
    like the params) replaces the estimate ``h_hat_t`` of this step, whatever the
    step, and needs no ``value_fn``.
    """
    fn = v.owner("scale_by_sophia_h")
    v.check_range(fn, "b1", b1, 0.0, 1.0, high_open=True)
    v.check_range(fn, "b2", b2, 0.0, 1.0, high_open=True)
    v.check_nonnegative_each(fn, p=p, eps=eps)
    v.check_int(fn, "update_period", update_period, 1)
    v.check_int(fn, "num_samples", num_samples, 1)
    v.check_choice(fn, "hessian_distribution", hessian_distribution, DISTRIBUTIONS)
    v.check_int(fn, "seed", seed, 0)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        return SophiaHState(jnp.zeros([], jnp.int32), jax.random.key_data(jax.random.key(seed)),
                            _dtypes.zeros_like(params), _dtypes.zeros_like(params))

    def update_fn(updates, state, params=None, *, value_fn: Callable[..., Any] = None,
                  hessian: Any = None, **extra):
        del extra
        v.check_tree_match(fn, updates, state.mu)
        if hessian is None:
            v.require_args(fn, params, value_fn=value_fn)
            v.check_tree_match(fn, updates, params, "params")

            def refreshed(old):
                probes = [_probes_at(state.key, state.count, params, i, hessian_distribution)
                          for i in range(num_samples)]
                estimate = hutchinson_diagonal(value_fn, params, probes)
                new = jax.tree.map(lambda h, e: _lerp(wide(h), e, 1.0 - b2), old, estimate)
                return _dtypes.store(new, old)

            moment = jax.lax.cond(state.count % update_period == 0, refreshed, lambda old: old,
                                  state.hessian)
        else:
            if jax.tree.structure(hessian) != jax.tree.structure(updates):
                raise ValueError(
                    f"{fn}: hessian must have the gradients' structure\n"
                    f"  gradients: {jax.tree.structure(updates)}\n"
                    f"  hessian: {jax.tree.structure(hessian)}")
            moment = _dtypes.store(
                jax.tree.map(lambda h, e: _lerp(wide(h), wide(e), 1.0 - b2), state.hessian,
                             hessian), state.hessian)

        def leaf(g, mu, h):
            mu = _lerp(wide(mu), wide(g), 1.0 - b1)
            out = jnp.clip(mu / jnp.maximum(wide(h), eps), -p, p)
            return out.astype(g.dtype), mu

        d, mu = unzip(updates, jax.tree.map(leaf, updates, state.mu, moment), 2)
        return d, SophiaHState(optax.safe_increment(state.count), state.key,
                               _dtypes.store(mu, state.mu), moment)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


@R.register(
    family="second order", reference="Liu et al. 2023 (Sophia)", year=2023,
    counterparts=(R.reference("pytorch_optimizer", "SophiaH",
                              "maximize and foreach not taken (negate the loss); the probes "
                              "come from a JAX key in the state (sophia_h_probes), not "
                              "torch's global generator"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "b2": "[0, 1)",
            "weight_decay": "[0, inf)", "p": "[0, inf)", "update_period": "[1, inf)",
            "num_samples": "[1, inf)", "eps": "[0, inf)", "seed": "[0, inf)"},
    examples={"": dict(learning_rate=0.05, b1=0.9, b2=0.95, weight_decay=0.01, p=0.05,
                       update_period=2, seed=3),
              "rademacher,coupled": dict(learning_rate=0.05, weight_decay=0.01,
                                         weight_decouple=False, update_period=1, num_samples=2,
                                         hessian_distribution="rademacher", eps=1e-6)},
    extra_args=("value_fn",),
)
@v.named
def sophia_h(
    learning_rate: _blocks.ScalarOrSchedule = 6e-2, b1: float = 0.96, b2: float = 0.99,
    weight_decay: float = 0.0, weight_decouple: bool = True, fixed_decay: bool = False,
    p: float = 1e-2, update_period: int = 10, num_samples: int = 1,
    hessian_distribution: str = "gaussian", eps: float = 1e-12, *, seed: int = 0,
) -> optax.GradientTransformationExtraArgs:
    r"""Sophia-H (Liu et al., 2023): momentum over a Hutchinson Hessian diagonal, clipped.

    With ``g_t`` the gradient (plus ``weight_decay * params`` when not
    ``weight_decouple``) and ``H_t`` the Hessian of the loss at the params::

        mu_t      = b1 mu_{t-1} + (1 - b1) g_t
        h_hat_t   = (1 / num_samples) sum_i z_i * (H_t z_i)        (every update_period-th
        hessian_t = b2 hessian_{t-1} + (1 - b2) h_hat_t              step, from the first)
        params_t  = params_{t-1} (1 - learning_rate weight_decay)  (weight_decouple; 1 -
                    - learning_rate clip(mu_t / max(hessian_t, eps), -p, p)   weight_decay
                                                                    with fixed_decay)

    The probes ``z_i`` are standard normal (``hessian_distribution="gaussian"``) or
    +-1 (``"rademacher"``), drawn from ``jax.random.key(seed)`` by the schedule
    that :func:`optzoo.sophia_h_probes` documents and returns; each ``H_t z_i`` is a
    Hessian-vector product of ``value_fn`` (``jax.jvp`` of ``jax.grad``, about the
    cost of two gradients), computed under a ``lax.cond`` so that the other steps
    do not pay for it. Call ``update(grads, state, params, value_fn=loss_fn)``
    (:func:`optzoo.make_train_step` passes it); ``hessian=h``, a pytree like the
    params, supplies this step's estimate instead (used whatever the step, as the
    reference's ``step(hessian=...)``), and then ``value_fn`` may be left out.

    Defaults are ``pytorch_optimizer.SophiaH`` 4.1.0's (``lr = 6e-2``, ``betas =
    (0.96, 0.99)``, ``p = 1e-2``, ``update_period = 10``, one Gaussian probe,
    ``eps = 1e-12``, decoupled decay); ``p`` is the largest entry of the
    preconditioned step (the paper's clipping threshold, ``rho`` there). ``seed``
    (keyword only, not the reference's: it draws from torch's global generator)
    picks the probes. The estimate is of the loss's own Hessian, so
    ``optax.chain(optax.scale(-1), sophia_h(...))`` on the negated loss is the
    reference's ``maximize=True``.
    """
    fn = "sophia_h"
    direction = scale_by_sophia_h(b1, b2, p, update_period, num_samples, hessian_distribution,
                                  eps, seed)
    return _decay.chain(fn, [direction], learning_rate, weight_decay, weight_decouple,
                        fixed_decay)
