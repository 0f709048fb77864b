"""PSGD-Kron: preconditioned SGD with Kronecker-factored preconditioners learned online
from random probes (Li, 2015; 2018)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optzoo import flat as _flat
from optzoo import _blocks
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms import _dtypes
from optzoo.transforms._dtypes import wide

MEMORY_SAVE_MODES = (None, "smart_one_diag", "one_diag", "all_diag")
BALANCE_PROBABILITY = 0.01
"""The chance that a step which updates the preconditioner first rebalances the scales
of each leaf's factors (the reference's "roughly every 100 updates")."""
_PROBE_EPS = float(np.finfo(np.float32).eps)


class KronState(NamedTuple):
    """State of :func:`scale_by_kron`.

    ``count``: steps done (int32, saturating; the reference's ``_prob_step`` and each
    param's ``step``). ``update_counter``: steps since the preconditioner was last
    updated (int32). ``key``: the raw PRNG key data of ``jax.random.key(seed)``; it
    never changes, a step folds its ``count`` in (:func:`kron_draws`). ``mu``: the
    momentum of each leaf, in the leaf's working shape (:func:`kron_factor_shapes`).
    ``Q``: each leaf's tuple of factors, ``(d, d)`` upper triangular or ``(d,)``
    diagonal, one per dimension of the working shape.
    """

    count: jax.Array
    update_counter: jax.Array
    key: jax.Array
    mu: optax.Updates
    Q: optax.Updates


# ----------------------------------------------------------------------------- plan


def _working_shape(shape: tuple[int, ...], merge_dims: bool) -> tuple[int, ...]:
    """The shape a leaf is preconditioned in: a scalar as ``(1,)``; with
    ``merge_dims`` a tensor of more than two dimensions as the matrix
    ``(prod(shape[:-1]), shape[-1])`` or ``(shape[0], prod(shape[1:]))``, whichever
    has the smaller ``columns - rows`` (the first on a tie)."""
    shape = tuple(int(s) for s in shape)
    if not shape:
        return (1,)
    if len(shape) > 2 and merge_dims:
        s1 = (math.prod(shape[:-1]), shape[-1])
        s2 = (shape[0], math.prod(shape[1:]))
        return s1 if s1[1] - s1[0] <= s2[1] - s2[0] else s2
    return shape


def _diagonal_dims(shape, max_size_triangular, min_ndim_triangular, memory_save_mode):
    """Which dimensions of a working shape get a diagonal factor (the others a
    triangular one)."""
    n = len(shape)
    forced = [False] * n
    largest = max(range(n), key=lambda i: (shape[i], i))  # the last of the largest
    if memory_save_mode == "smart_one_diag":
        ordered = sorted(shape)
        if n > 1 and ordered[-1] > ordered[-2]:
            forced[largest] = True
    elif memory_save_mode == "one_diag":
        forced[largest] = True
    elif memory_save_mode == "all_diag":
        forced = [True] * n
    return tuple(bool(f or d == 1 or d > max_size_triangular or n < min_ndim_triangular)
                 for d, f in zip(shape, forced))


def kron_factor_shapes(shape, *, max_size_triangular=8192, min_ndim_triangular=2,
                       memory_save_mode=None, merge_dims=True):
    """``(working_shape, factor_shapes)`` of a leaf of shape ``shape``: the shape the
    leaf is preconditioned in and the shape of each of its factors, ``(d, d)`` for a
    triangular factor and ``(d,)`` for a diagonal one (same arguments as :func:`kron`).
    """
    work = _working_shape(shape, merge_dims)
    diag = _diagonal_dims(work, max_size_triangular, min_ndim_triangular, memory_save_mode)
    return work, tuple((d,) if dg else (d, d) for d, dg in zip(work, diag))


# ------------------------------------------------------------------------ randomness


def _factor_dtype(precond_dtype, like):
    """The factors' dtype for the leaf ``like``: ``precond_dtype``, else the leaf's,
    in either case at least float32 (the fit's solves and normalisations need it)."""
    return jnp.promote_types(_dtypes.state_dtype(precond_dtype, like), jnp.float32)


def _step_key(key_data, count):
    return jax.random.fold_in(jax.random.wrap_key_data(key_data), count)


def _balance_draw(step_key):
    return jax.random.uniform(jax.random.fold_in(step_key, 0), (), jnp.float32)


def _probe(step_key, index, shape, dtype):
    return jax.random.normal(jax.random.fold_in(step_key, index + 1), shape, dtype)


@R.export
def kron_draws(params: optax.Params, step: int, seed: int = 0, *, merge_dims: bool = True,
               precond_dtype: Any = None) -> tuple[jax.Array, list[jax.Array]]:
    """The random numbers :func:`kron` (built with ``seed``, ``merge_dims`` and
    ``precond_dtype``) draws at ``step``, the number of steps done before it (0 for
    the first): ``(u, probes)``.

    The key schedule: with ``k = fold_in(jax.random.key(seed), step)``, ``u =
    uniform(fold_in(k, 0))`` is a float32 in [0, 1) (the step rebalances the factors
    when ``u < 0.01`` and it updates the preconditioner), and ``probes[j] =
    normal(fold_in(k, j + 1), working_shape, precond dtype)`` is the probe of the
    ``j``-th leaf in ``jax.tree.leaves`` order, in its working shape
    (:func:`kron_factor_shapes`). Only the steps that update the preconditioner use
    the probes (and only those compute them).
    """
    key_data = jax.random.key_data(jax.random.key(seed))
    k = _step_key(key_data, jnp.asarray(step, jnp.int32))
    probes = [_probe(k, j, _working_shape(jnp.shape(p), merge_dims),
                     _factor_dtype(precond_dtype, p))
              for j, p in enumerate(jax.tree.leaves(params))]
    return _balance_draw(k), probes


# --------------------------------------------------------------------------- schedule


@R.export
def precond_update_prob_schedule(max_prob: float = 1.0, min_prob: float = 0.03,
                                 decay: float = 0.001, flat_start: float = 500
                                 ) -> Callable[[Any], jax.Array]:
    """The default probability of a preconditioner update in :func:`kron`, a function
    ``step -> p`` (float32)::

        p(step) = clip(max_prob * exp(-decay * (step - flat_start)), min_prob, max_prob)

    1 for the first ``flat_start`` steps, then an exponential decay to ``min_prob``
    (0.03 from about step 4000 with the defaults). The reference's
    ``precond_update_prob_schedule`` (kron-torch 0.3.3), computed as it does in
    float32.
    """
    fn = v.owner("precond_update_prob_schedule")
    v.check_range(fn, "max_prob", max_prob, 0.0, 1.0, low_open=True)
    v.check_range(fn, "min_prob", min_prob, 0.0, 1.0, low_open=True)
    v.check_nonnegative_each(fn, decay=decay, flat_start=flat_start)

    def schedule(step):
        f32 = (lambda x: jnp.asarray(x, jnp.float32))
        n = f32(step)
        prob = f32(max_prob) * jnp.exp(-f32(decay) * (n - f32(flat_start)))
        return jnp.minimum(jnp.maximum(prob, f32(min_prob)), f32(max_prob))

    return schedule


def _update_threshold(prob, count):
    """``1 / p`` in float32, against which the steps since the last update are compared."""
    if callable(prob):
        return 1.0 / jnp.asarray(prob(count), jnp.float32)
    if isinstance(prob, (int, float)) and not isinstance(prob, bool):
        return jnp.float32(1.0 / prob)
    return 1.0 / jnp.asarray(prob, jnp.float32)


# ------------------------------------------------------------------------------ math


def _mode(q, x, axis):
    """``x`` multiplied along ``axis`` by the factor ``q``: ``sum_b q[a, b] x[.., b, ..]``
    (triangular) or ``q[a] x[.., a, ..]`` (diagonal)."""
    if q.ndim == 1:
        return x * q.reshape([-1 if i == axis else 1 for i in range(x.ndim)])
    return jnp.moveaxis(jnp.tensordot(q, x, axes=([1], [axis])), 0, axis)


def _solve_right(q, x, axis):
    """``x`` times ``inv(q)`` along ``axis``: ``sum_a x[.., a, ..] inv(q)[a, b]``."""
    if q.ndim == 1:
        return x / q.reshape([-1 if i == axis else 1 for i in range(x.ndim)])
    moved = jnp.moveaxis(x, axis, -1)
    flat = moved.reshape(-1, q.shape[0])
    out = jax.lax.linalg.triangular_solve(q, flat, left_side=False, lower=False)
    return jnp.moveaxis(out.reshape(moved.shape), -1, axis)


def _gram(x, axis, diagonal):
    """``x_(axis) x_(axis)^T`` over the other axes (its diagonal for a diagonal factor)."""
    if diagonal:
        return jnp.sum(x * x, axis=tuple(i for i in range(x.ndim) if i != axis))
    m = jnp.moveaxis(x, axis, 0).reshape(x.shape[axis], -1)
    return m @ m.T


def _norm_lower_bound(a, max_abs):
    """A cheap lower bound of the spectral norm of the symmetric ``a`` (``max_abs`` its
    largest entry): one power step from its column of largest norm."""
    a = a / max_abs
    col = jnp.argmax(jnp.sum(a * a, axis=0))
    x = a[:, col] @ a
    x = x / jnp.linalg.norm(x)
    return jnp.linalg.norm(a @ x) * max_abs


def _balance(qs):
    """Each factor scaled so that the largest entries of all of a leaf's factors
    equal their geometric mean (the product is unchanged)."""
    norms = jnp.stack([jnp.max(jnp.abs(q)) for q in qs])
    scale = jnp.exp(jnp.mean(jnp.log(norms))) / norms
    return tuple(q * scale[i] for i, q in enumerate(qs))


def _updated_factors(qs, g, probe, precond_lr):
    """One step of the factors' fit: ``G`` plus a little of the probe ``V`` (the
    returned ``G``), ``A = G x_i Q_i``, ``conjB = V x_i inv(Q_i)^T``, and for every
    factor ``Q_i <- Q_i - precond_lr (A A^T - B B^T)_i / ||...|| Q_i`` (see
    :func:`kron`)."""
    dtype = g.dtype
    tiny = jnp.asarray(jnp.finfo(dtype).tiny, dtype)
    g = g + jnp.sqrt(jnp.asarray(_PROBE_EPS, dtype)) * jnp.mean(jnp.abs(g)) * probe
    a, conj_b = g, probe
    for i, q in enumerate(qs):
        conj_b = _solve_right(q, conj_b, i)
    for i, q in enumerate(qs):
        a = _mode(q, a, i)
    lr = jnp.asarray(precond_lr, dtype)
    out = []
    for i, q in enumerate(qs):
        t_a, t_b = _gram(a, i, q.ndim == 1), _gram(conj_b, i, q.ndim == 1)
        diff, total = (t_a - t_b) * lr, t_a + t_b
        norm = jnp.max(jnp.abs(total))
        if q.ndim == 1:
            out.append(q - diff * (q / jnp.maximum(norm, tiny)))
        else:
            bound = jnp.where(norm > 0, _norm_lower_bound(total, norm), norm)
            out.append(q - (jnp.triu(diff) / jnp.maximum(bound, tiny)) @ q)
    return tuple(out), g


def _usable(qs):
    """All entries finite and no zero on a factor's diagonal (each factor invertible)."""
    ok = jnp.asarray(True)
    for q in qs:
        d = q if q.ndim == 1 else jnp.diagonal(q)
        ok = ok & jnp.all(jnp.isfinite(q)) & jnp.all(d != 0)
    return ok


def _initial_factors(shapes, scale, dtype, like=None):
    n = len(shapes)
    s = scale ** (1.0 / n)
    out = []
    for shp in shapes:
        if len(shp) == 1:
            if like is not None and n == 1 and like.shape == shp:
                out.append(jnp.full_like(like, s, dtype=dtype))  # shaped (and sharded) like it
            else:
                out.append(jnp.full(shp, s, dtype))
        else:
            out.append(jnp.eye(shp[0], dtype=dtype) * jnp.asarray(s, dtype))
    return tuple(out)


def _precondition(qs, x):
    """``x x_i (Q_i^T Q_i)`` over every dimension ``i``."""
    for i, q in enumerate(qs):
        x = _mode(q.T if q.ndim == 2 else q, _mode(q, x, i), i)
    return x


# ------------------------------------------------------------------------ transform


def scale_by_kron(
    b1: float = 0.9,
    preconditioner_update_probability: Any = None,
    max_size_triangular: int = 8192,
    min_ndim_triangular: int = 2,
    memory_save_mode: str | None = None,
    momentum_into_precond_update: bool = True,
    precond_lr: float = 0.1,
    precond_init_scale: float = 1.0,
    merge_dims: bool = True,
    mu_dtype: Any = None,
    precond_dtype: Any = None,
    seed: int = 0,
) -> optax.GradientTransformation:
    r"""PSGD-Kron's direction, as ``kron_torch.Kron`` 0.3.3 computes it (before weight
    decay and the learning rate); the rule is in :func:`kron`'s docstring."""
    fn = v.owner("scale_by_kron")
    v.check_range(fn, "b1", b1, 0.0, 1.0, high_open=True)
    prob = preconditioner_update_probability
    if prob is None:
        prob = precond_update_prob_schedule()
    elif not callable(prob):
        v.check_range(fn, "preconditioner_update_probability", prob, 0.0, 1.0, low_open=True)
    v.check_int(fn, "max_size_triangular", max_size_triangular, 0)
    v.check_int(fn, "min_ndim_triangular", min_ndim_triangular, 0)
    v.check_choice(fn, "memory_save_mode", memory_save_mode, MEMORY_SAVE_MODES)
    v.check_bool(fn, "momentum_into_precond_update", momentum_into_precond_update)
    v.check_nonnegative(fn, "precond_lr", precond_lr)
    v.check_positive(fn, "precond_init_scale", precond_init_scale)
    v.check_bool(fn, "merge_dims", merge_dims)
    v.check_dtype(fn, "mu_dtype", mu_dtype)
    v.check_dtype(fn, "precond_dtype", precond_dtype)
    v.check_int(fn, "seed", seed, 0)

    def plan(p):
        work, shapes = kron_factor_shapes(
            jnp.shape(p), max_size_triangular=max_size_triangular,
            min_ndim_triangular=min_ndim_triangular, memory_save_mode=memory_save_mode,
            merge_dims=merge_dims)
        return work, shapes, _factor_dtype(precond_dtype, p)

    def init_fn(params):
        _flat.refuse(fn, params)  # its update depends on each leaf's shape
        def mu(p):
            work = plan(p)[0]
            return _dtypes.zeros_like(p, mu_dtype).reshape(work)

        def factors(p):
            work, shapes, pdt = plan(p)
            return _initial_factors(shapes, precond_init_scale, pdt, jnp.asarray(p))

        return KronState(jnp.zeros([], jnp.int32), jnp.zeros([], jnp.int32),
                         jax.random.key_data(jax.random.key(seed)),
                         jax.tree.map(mu, params), jax.tree.map(factors, params))

    def update_fn(updates, state, params=None):
        del params
        v.check_tree_match(fn, updates, state.mu)
        leaves, treedef = jax.tree.flatten(updates)
        mus = treedef.flatten_up_to(state.mu)
        qss = treedef.flatten_up_to(state.Q)

        counter = optax.safe_increment(state.update_counter)
        do_update = counter.astype(jnp.float32) >= _update_threshold(prob, state.count)
        counter = jnp.where(do_update, jnp.zeros_like(counter), counter)
        count = optax.safe_increment(state.count)
        step_key = _step_key(state.key, state.count)
        balance = (_balance_draw(step_key) < BALANCE_PROBABILITY) & do_update

        t = count.astype(jnp.result_type(float))
        bias = 1.0 - b1 ** t
        new_mus, debiased, fit_inputs, plans = [], [], [], []
        for g, m_old in zip(leaves, mus):
            work, shapes, pdt = plan(g)
            gw = wide(g).reshape(work)
            m = b1 * wide(m_old) + (1.0 - b1) * gw
            m = _dtypes.store_leaf(m, jnp.asarray(m_old).dtype)
            new_mus.append(m)
            d = (wide(m) / bias).astype(pdt)
            debiased.append(d)
            fit_inputs.append(d if momentum_into_precond_update else gw.astype(pdt))
            plans.append((work, shapes, pdt))

        def fit(operand):
            qss, gs = operand
            new_qss, new_gs = [], []
            for j, (qs, g, (work, shapes, pdt)) in enumerate(zip(qss, gs, plans)):
                if math.prod(work) == 0:
                    new_qss.append(qs)
                    new_gs.append(g)
                    continue
                qs_in = qs
                if len(work) > 1:
                    balanced = _balance(qs)
                    qs_in = tuple(jnp.where(balance, b, q) for b, q in zip(balanced, qs))
                cand, g_noisy = _updated_factors(qs_in, g, _probe(step_key, j, work, pdt),
                                                 precond_lr)
                # Fallback: a fit that is not finite or leaves a factor singular is
                # dropped (the factors stay as they were); factors that are themselves
                # unusable restart from their initial value.
                init = _initial_factors(shapes, precond_init_scale, pdt)
                keep_old = _usable(qs)
                good = _usable(cand)
                new_qss.append(tuple(
                    jnp.where(good, c, jnp.where(keep_old, q, i0))
                    for c, q, i0 in zip(cand, qs, init)))
                new_gs.append(g_noisy)
            return new_qss, new_gs

        def skip(operand):
            return operand

        new_qss, noisy = jax.lax.cond(do_update, fit, skip, (list(qss), fit_inputs))

        outs = []
        for j, (g, d, qs, (work, shapes, pdt)) in enumerate(zip(leaves, debiased, new_qss,
                                                                 plans)):
            # The reference adds the probe to the debiased momentum in place, so when the
            # momentum is already in the factors' dtype its preconditioned step sees it.
            leak = momentum_into_precond_update and jnp.dtype(
                jnp.asarray(mus[j]).dtype) == jnp.dtype(pdt)
            x = noisy[j] if leak else d
            pre = _precondition(qs, x)
            rms = jnp.sqrt(jnp.mean(jnp.square(pre)))
            pre = pre * jnp.minimum(jnp.asarray(1.0, pdt), 1.1 / (rms + 1e-12))
            outs.append(pre.reshape(jnp.shape(g)).astype(g.dtype))

        return (jax.tree.unflatten(treedef, outs),
                KronState(count, counter, state.key, jax.tree.unflatten(treedef, new_mus),
                          jax.tree.unflatten(treedef, [tuple(q) for q in new_qss])))

    return optax.GradientTransformation(init_fn, update_fn)


def _matrices(params):
    return jax.tree.map(lambda p: jnp.ndim(p) >= 2, params)


@R.register(
    family="matrix", reference="Li 2018 (PSGD-Kron)", year=2018,
    counterparts=(R.reference(
        "kron_torch", "Kron",
        "the probes and the rebalancing draw come from a JAX key in the state (kron_draws), "
        "not torch's generator and random.Random(42); the factors default to the params' "
        "dtype (at least float32), the reference's to float32, and the triangular solves run "
        "in that dtype (the reference's in float32); a scalar param is preconditioned as a "
        "one-element vector (the reference raises at its first preconditioner update); no "
        "13-dimension limit with merge_dims=False"),),
    ranges={"learning_rate": "[0, inf)", "b1": "[0, 1)", "weight_decay": "[0, inf)",
            "preconditioner_update_probability": "(0, 1]", "max_size_triangular": "[0, inf)",
            "min_ndim_triangular": "[0, inf)", "precond_lr": "[0, inf)",
            "precond_init_scale": "(0, inf)", "seed": "[0, inf)"},
    examples={"": dict(learning_rate=0.01, b1=0.8, weight_decay=0.01, precond_lr=0.2,
                       precond_init_scale=0.5, seed=3),
              "diag,half-prob": dict(learning_rate=0.01, preconditioner_update_probability=0.5,
                                     memory_save_mode="one_diag", max_size_triangular=12,
                                     momentum_into_precond_update=False),
              "all_diag": dict(learning_rate=0.02, memory_save_mode="all_diag",
                               min_ndim_triangular=1, merge_dims=False)},
)
@v.named
def kron(
    learning_rate: _blocks.ScalarOrSchedule = 0.0003,
    b1: float = 0.9,
    weight_decay: float = 0.0,
    preconditioner_update_probability: Any = None,
    max_size_triangular: int = 8192,
    min_ndim_triangular: int = 2,
    memory_save_mode: str | None = None,
    momentum_into_precond_update: bool = True,
    precond_lr: float = 0.1,
    precond_init_scale: float = 1.0,
    merge_dims: bool = True,
    mu_dtype: Any = None,
    precond_dtype: Any = None,
    *,
    seed: int = 0,
) -> optax.GradientTransformation:
    r"""PSGD-Kron (Li, 2018): momentum preconditioned by Kronecker factors fitted online.

    The factors are fitted to random probes (Li, 2015, preconditioned SGD; 2018,
    Kronecker-product preconditioners).

    Each leaf is handled in its working shape (:func:`kron_factor_shapes`: a scalar as
    ``(1,)``; with ``merge_dims`` a tensor of more than two dimensions as a matrix)
    and has one factor ``Q_i`` per dimension ``i`` of size ``d_i``: upper triangular
    ``(d_i, d_i)``, initially ``precond_init_scale^(1/n) I``, or diagonal ``(d_i,)``,
    initially ``precond_init_scale^(1/n)``. A dimension gets a diagonal factor when
    ``d_i == 1``, ``d_i > max_size_triangular``, the working shape has fewer than
    ``min_ndim_triangular`` dimensions, or ``memory_save_mode`` says so:
    ``"all_diag"`` every dimension, ``"one_diag"`` the largest (the last of equals),
    ``"smart_one_diag"`` the largest only when strictly larger than the others.
    With ``x x_i M`` the product of ``x`` along dimension ``i`` by ``M``, every step::

        mu_t  = b1 mu_{t-1} + (1 - b1) g_t;   m_t = mu_t / (1 - b1^t)
        update_t = (c_t >= 1 / p(t - 1))      c_t = c_{t-1} + 1, reset to 0 on an update
        on an update:
          (rebalance with probability 0.01: Q_i <- Q_i gm / max|Q_i|, gm the geometric
           mean of the max|Q_j|)
          G = (m_t if momentum_into_precond_update else g_t) + sqrt(eps_f32) mean|G| V
          A = G x_i Q_i,   conjB = V x_i inv(Q_i)^T    (V standard normal)
          T1_i = (A A^T - conjB conjB^T)_i,  T2_i = (A A^T + conjB conjB^T)_i
                 (over all dimensions but i; the diagonal only for a diagonal factor)
          Q_i <- Q_i - precond_lr T1_i Q_i / max|T2_i|              (diagonal)
          Q_i <- Q_i - precond_lr triu(T1_i) / lb(T2_i) Q_i          (triangular)
        d_t  = m_t x_i (Q_i^T Q_i)                 (m_t is G on update steps when the
                                                    momentum and the factors share a dtype)
        d_t  = d_t min(1, 1.1 / (rms(d_t) + 1e-12))
        params_t = params_{t-1} - learning_rate (d_t + weight_decay params_{t-1})
                   (weight decay only on params of two or more dimensions)

    ``lb`` is a cheap lower bound of the spectral norm (one power step from the
    column of largest norm). ``p`` is ``preconditioner_update_probability``: a float
    in (0, 1] or a schedule ``step -> p`` of the steps done before this one; ``None``
    is :func:`precond_update_prob_schedule`'s default (1 for 500 steps, then down to
    0.03). An update therefore happens every ``ceil(1 / p)``-th step (the reference
    counts, it does not draw); ``1 / p`` is computed in float32.

    Randomness: ``seed`` (keyword only, not the reference's) gives the state's key;
    the probe ``V`` of each leaf and the uniform number deciding a rebalance come
    from it by the schedule :func:`kron_draws` documents and returns. Steps without
    a preconditioner update do not compute the fit (it is under ``lax.cond``; under
    ``vmap`` with a batched decision both branches run).

    Numerical safety: the solves run in the factors' dtype (at least float32), the
    normalisations divide by at least that dtype's smallest normal number. A fit
    whose result is not finite or has a zero on a factor's diagonal (a singular
    factor) is dropped for that leaf: its factors keep their previous values; if
    those are themselves unusable (not finite or singular), they restart from their
    initial value.

    Dtypes: ``mu_dtype`` (default: the params', float32 for half precision) holds
    the momentum; ``precond_dtype`` (default: the params', at least float32) the
    factors and the whole preconditioning arithmetic. The reference defaults the
    factors to float32 and solves in float32 whatever their dtype.

    Sharding: the momentum is shaped like its param (a merged tensor: reshaped) and
    follows its sharding; the factor of a 1-D param is created like the param (so
    sharded like it); every ``(d, d)`` triangular factor and the ``(d,)`` diagonal
    factors of higher-dimensional params are created replicated, each device holding
    the whole factor (``d^2`` entries per dimension), and under ``jit`` the compiler
    places them; the counters and the key are replicated scalars.

    Defaults and keyword names are ``kron_torch.Kron``'s (kron-torch 0.3.3: ``lr =
    3e-4``, ``b1 = 0.9``, ``max_size_triangular = 8192``, ``min_ndim_triangular =
    2``, ``precond_lr = 0.1``, ``precond_init_scale = 1``, ``merge_dims = True``),
    with ``lr`` renamed ``learning_rate``.
    """
    fn = "kron"
    v.check_learning_rate(fn, learning_rate)
    direction = scale_by_kron(
        b1, preconditioner_update_probability, max_size_triangular, min_ndim_triangular,
        memory_save_mode, momentum_into_precond_update, precond_lr, precond_init_scale,
        merge_dims, mu_dtype, precond_dtype, seed)
    return optax.chain(direction, *_blocks.weight_decay(fn, weight_decay, _matrices),
                       _blocks.learning_rate(fn, learning_rate))
