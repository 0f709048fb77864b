"""The race engine: every optimizer trains on one problem from the same start, in one compiled
``lax.scan`` per optimizer, timed after an ahead-of-time compilation.

Memory does not grow with the number of steps: the scan keeps a bounded number of evenly spaced
points of each loss curve (:func:`scan_recorded`, at most ``CURVE_POINTS``), and the digits'
mini-batches are drawn on device, one permutation per epoch.

A held-out race (:func:`race_heldout`: charlm, and the digits under ``--preset``) records the
held-out loss instead, at ``HELDOUT_POINTS`` evenly spaced steps, against steps and against the
training seconds: each stretch between evaluations is one compiled ``lax.scan``, timed alone.
"""

from __future__ import annotations

import functools
import inspect
import time
from typing import Any, NamedTuple

import numpy as np

from optzoo.cli.race_settings import (
    CHARLM_BATCH,
    CHARLM_CONTEXT,
    CHARLM_EVAL_WINDOWS,
    CURVE_POINTS,
    DIGITS_BATCH,
    EVAL_PARAMS,
    HELDOUT_POINTS,
    HELDOUT_TARGETS,
    RACE_TARGETS,
    SCHEDULE_HORIZON,
    SWEEP_FACTORS,
    SWEEP_STEPS,
)
from optzoo.cli.schedule_cmd import build_schedule, schedule_values


class RaceResult(NamedTuple):
    name: str
    learning_rate: float | None  # None: the optimizer's own line search (lbfgs)
    curve_steps: Any  # (k,) step counts of the recorded points, k <= CURVE_POINTS (+1 on 2-D)
    curve: Any  # (k,) digits: smoothed mini-batch loss; 2-D: f(x) after that many steps
    final_loss: float  # digits: full training-set loss at the end
    test_accuracy: float | None
    steps_to_target: int | None
    ms_per_step: float
    compile_s: float
    trajectory: Any = None  # (k, 2) for 2-D problems: the points of the curve
    rate_source: str = ""  # where the rate came from: tuned, default, fallback, --lr, sweep
    curve_seconds: Any = None  # held-out races: training seconds at each point of the curve


def optimizer(name: str, learning_rate):
    """``optzoo.<name>`` at ``learning_rate`` (other arguments at their defaults)."""
    import optzoo

    fn = getattr(optzoo, name)
    if "learning_rate" in inspect.signature(fn).parameters:
        return fn(learning_rate=learning_rate)
    return fn()


def schedule_shape(name: str, steps: int):
    """A registry schedule rescaled to ``steps`` and to a peak of 1:
    ``t -> s(t H / steps) / peak``."""
    import jax.numpy as jnp
    import numpy as np

    sched, _ = build_schedule(name)
    peak = float(np.max(np.abs(schedule_values(sched, SCHEDULE_HORIZON)))) or 1.0
    scale = SCHEDULE_HORIZON / steps

    def shape(t):
        return sched(jnp.floor(jnp.asarray(t, jnp.float32) * scale).astype(jnp.int32)) / peak

    return shape


def ema(x, beta: float = 0.9):
    """Bias-corrected exponential moving average of ``x`` (the smoothed mini-batch loss), as the
    race computes it on device."""
    out = np.empty(len(x))
    acc = 0.0
    for i, val in enumerate(np.asarray(x, np.float64)):
        acc = beta * acc + (1 - beta) * val
        out[i] = acc / (1 - beta ** (i + 1))
    return out


def curve_stride(steps: int, points: int = CURVE_POINTS) -> int:
    """Steps per recorded point: every step up to ``points`` steps, then evenly spaced so that
    at most ``points`` points are kept."""
    return max(1, -(-steps // points))


def curve_steps(steps: int, points: int = CURVE_POINTS):
    """The step counts at which a race of ``steps`` steps records its curve: the end of each
    run of :func:`curve_stride` steps, and the last step."""
    stride = curve_stride(steps, points)
    return np.minimum(np.arange(1, -(-steps // stride) + 1, dtype=np.int64) * stride, steps)


def scan_recorded(advance, carry, steps: int, target: float, points: int = CURVE_POINTS):
    """``steps`` iterations of ``advance(carry, t) -> (carry, value, point)`` in one
    ``lax.scan`` whose memory does not grow with ``steps``: only the ``value`` and ``point``
    (an array, or None) at each of the :func:`curve_steps` are kept, and the first step
    count whose ``value`` is at or below ``target`` (0: never).

    Returns ``(carry, hit, values, points)``.
    """
    import jax
    import jax.numpy as jnp

    stride = curve_stride(steps, points)
    n = len(curve_steps(steps, points))
    _, value0, point0 = jax.eval_shape(advance, carry, jnp.int32(0))
    vals = jnp.full((n,), jnp.nan, value0.dtype)
    pts = None if point0 is None else jnp.zeros((n, *point0.shape), point0.dtype)

    def body(c, _):
        inner, t, hit, vals, pts = c
        inner, value, point = advance(inner, t)
        b = t // stride
        vals = vals.at[b].set(value)
        if pts is not None:
            pts = pts.at[b].set(point)
        hit = jnp.where((hit == 0) & (value <= target), t + 1, hit)
        return (inner, t + 1, hit, vals, pts), None

    init = (carry, jnp.int32(0), jnp.int32(0), vals, pts)
    (carry, _, hit, vals, pts), _ = jax.lax.scan(body, init, None, length=steps)
    return carry, hit, vals, pts


def _hit(hit) -> int | None:
    return int(hit) or None


def _time_run(run, *args):
    """Compile ``run`` ahead of time, then time one execution: (outputs, compile_s, run_s)."""
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(run).lower(*args).compile()
    t1 = time.perf_counter()
    out = compiled(*args)
    jax.block_until_ready(out)
    return out, t1 - t0, time.perf_counter() - t1


def _timed_runs(names, lrs, shape, progress, loss_fn, make_run, *args):
    """For each optimizer in turn: ``(name, lr, outputs, compile_s, run_s)`` of
    ``make_run(train_step, tx)(*args)``, the learning rate scaled by ``shape`` if given (a line
    search, ``lr`` None, is left alone)."""
    from optzoo.train import make_train_step

    for name in names:
        progress(name)
        lr = lrs[name]
        tx = optimizer(name, lr if shape is None or lr is None else (lambda t, lr=lr: lr * shape(t)))
        step = make_train_step(loss_fn, tx, jit=False)
        yield (name, lr, *_time_run(make_run(step, tx), *args))


def race(problem_name, names, lrs, steps, seed, shape, progress, heldout=False) -> list[RaceResult]:
    """:func:`race_heldout` (charlm, or the digits with ``heldout``), :func:`race_digits` or
    :func:`race_2d`, by ``problem_name``."""
    if heldout or problem_name == "charlm":
        return race_heldout(problem_name, names, lrs, steps, seed, shape, progress)
    if problem_name == "digits":
        return race_digits(names, lrs, steps, seed, shape, progress)
    return race_2d(problem_name, names, lrs, steps, seed, shape, progress)


def sweep_rates(base: float) -> list[float]:
    """The ``--sweep`` candidates: ``base`` times ``SWEEP_FACTORS`` (log-spaced), rounded to
    three significant digits."""
    return [float(f"{base * f:.3g}") for f in SWEEP_FACTORS]


def sweep(problem_name, name, base: float, steps, seed, schedule, progress, heldout=False) -> float:
    """The rate among :func:`sweep_rates` (``base``) with the lowest final loss after
    ``min(steps, SWEEP_STEPS)`` steps (ties: the larger rate); ``base`` if every one diverges."""
    steps = min(steps, SWEEP_STEPS)
    shape = schedule_shape(schedule, steps) if schedule else None
    best, best_loss = base, np.inf
    for lr in sweep_rates(base):
        (r,) = race(problem_name, [name], {name: lr}, steps, seed, shape,
                    lambda _n, lr=lr: progress(f"{name} {lr:g}"), heldout)
        if np.isfinite(r.final_loss) and r.final_loss <= best_loss:
            best, best_loss = lr, r.final_loss
    return best


def race_digits(names, lrs, steps, seed, shape, progress) -> list[RaceResult]:
    """Mini-batches of the digits through an MLP 64-64-10, the same batches for every optimizer:
    each epoch a fresh permutation of the training set (``jax.random.key(seed)`` folded with the
    epoch), drawn on device, so no per-step data is held."""
    import jax
    import jax.numpy as jnp
    import optax

    from optzoo.problems import digits

    data = digits.load_digits()
    apply, params0 = digits.numpy_mlp((64,), seed)
    x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    n_train = len(data.x_train)
    per_epoch = n_train // DIGITS_BATCH
    key = jax.random.key(seed)
    beta = 0.9  # the smoothing of the recorded mini-batch loss (as :func:`ema`)

    def loss_fn(p, batch):
        xb, yb = batch
        return optax.softmax_cross_entropy_with_integer_labels(apply(p, xb), yb).mean()

    @jax.jit
    def evaluate(p):
        acc = jnp.mean(jnp.argmax(apply(p, x_te), -1) == y_te)
        return loss_fn(p, (x_tr, y_tr)), acc

    def make_run(step, tx):
        def advance(carry, t):
            p, s, acc, perm = carry
            pos = t % per_epoch
            perm = jax.lax.cond(
                pos == 0,
                lambda: jax.random.permutation(jax.random.fold_in(key, t // per_epoch), n_train),
                lambda: perm,
            )
            ib = jax.lax.dynamic_slice(perm, (pos * DIGITS_BATCH,), (DIGITS_BATCH,))
            p, s, loss = step(p, s, (x_tr[ib], y_tr[ib]))
            acc = beta * acc + (1 - beta) * loss
            smoothed = acc / (1 - beta ** (t + 1).astype(jnp.float32))
            return (p, s, acc, perm), smoothed, None

        def run(params):
            carry = (params, tx.init(params), jnp.float32(0), jnp.zeros(n_train, jnp.int32))
            (p, *_), hit, curve, _ = scan_recorded(advance, carry, steps, RACE_TARGETS["digits"])
            return p, hit, curve

        return run

    results = []
    for name, lr, (p, hit, curve), compile_s, run_s in _timed_runs(
        names, lrs, shape, progress, loss_fn, make_run, params0
    ):
        final_loss, acc = (float(x) for x in evaluate(p))
        results.append(RaceResult(
            name, lr, curve_steps(steps), np.asarray(curve, np.float64), final_loss, acc, _hit(hit),
            1e3 * run_s / steps, compile_s,
        ))
    return results


def problem(name: str):
    """The 2-D test function called ``name`` in the race."""
    from optzoo import problems

    return {
        "rosenbrock": problems.rosenbrock,
        "beale": problems.beale,
        "quadratic": problems.ill_conditioned_quadratic,
        "saddle": problems.saddle,
    }[name]()


def race_2d(problem_name, names, lrs, steps, seed, shape, progress) -> list[RaceResult]:
    """Full-batch descent on a 2-D test function from its customary start, keeping the path
    at the recorded points (the start, then :func:`curve_steps`)."""
    import jax.numpy as jnp

    prob = problem(problem_name)
    x0 = jnp.asarray(prob.init, jnp.float32)
    loss_fn = lambda p, _batch: prob.fn(p)  # noqa: E731  (full-batch: no data)

    def make_run(step, tx):
        def advance(carry, t):
            x, s, _ = step(*carry, None)
            return (x, s), prob.fn(x), x

        def run(x):
            (x, _), hit, curve, path = scan_recorded(
                advance, (x, tx.init(x)), steps, RACE_TARGETS[problem_name]
            )
            return hit, curve, path

        return run

    results = []
    f0 = float(prob.fn(x0))
    at = np.concatenate([[0], curve_steps(steps)])
    for name, lr, (hit, curve, path), compile_s, run_s in _timed_runs(
        names, lrs, shape, progress, loss_fn, make_run, x0
    ):
        curve = np.concatenate([[f0], np.asarray(curve, np.float64)])
        path = np.concatenate([np.asarray(x0, np.float64)[None], np.asarray(path, np.float64)])
        results.append(RaceResult(
            name, lr, at, curve, float(curve[-1]), None, _hit(hit),
            1e3 * run_s / steps, compile_s, path,
        ))
    return results


def eval_params_reader(name: str):
    """``f(state, params) -> params to evaluate`` for optimizer ``name``: its reader in
    ``EVAL_PARAMS`` (schedule-free: ``optzoo.schedule_free_eval_params``, the reference's
    ``eval()`` point x, not the training point y); else the params themselves."""
    import optzoo

    attr = EVAL_PARAMS.get(name)
    if attr is None:
        return lambda state, params: params
    fn = getattr(optzoo, attr)
    if len(inspect.signature(fn).parameters) == 1:  # e.g. optzoo.swa_params(state)
        return lambda state, params: fn(state)
    return fn


class HeldoutTask(NamedTuple):
    """A problem scored on held-out data: ``batch(t, d) -> (batch, d)`` draws step ``t``'s
    training batch on device (``d``: the sampler's state, from ``data0``); ``heldout(params) ->
    loss`` and ``accuracy(params)`` (or None) on held-out data."""

    params0: Any
    loss_fn: Any
    data0: Any
    batch: Any
    heldout: Any
    accuracy: Any


def heldout_task(problem_name: str, seed: int) -> HeldoutTask:
    """The digits (mini-batches of :func:`race_digits`'s MLP, held-out: the test split) or
    charlm (random windows of the standard library's docstrings through
    ``optzoo.problems.transformer_lm``, held-out: ``lm_eval_windows`` of the held-out text)."""
    import jax
    import jax.numpy as jnp
    import optax

    key = jax.random.key(seed)
    if problem_name == "charlm":
        from optzoo.problems import charlm

        data = charlm.load_stdlib_text()
        apply, params0 = charlm.transformer_lm(context=CHARLM_CONTEXT, seed=seed)
        loss_fn = charlm.lm_loss(apply)
        tokens = jnp.asarray(data.train)
        ev = tuple(jnp.asarray(a) for a in charlm.lm_eval_windows(data.test, CHARLM_EVAL_WINDOWS, CHARLM_CONTEXT))
        offsets = jnp.arange(CHARLM_CONTEXT + 1)

        def batch(t, d):
            starts = jax.random.randint(jax.random.fold_in(key, t), (CHARLM_BATCH,), 0,
                                        len(data.train) - CHARLM_CONTEXT - 1)
            w = tokens[starts[:, None] + offsets]
            return (w[:, :-1], w[:, 1:]), d

        return HeldoutTask(params0, loss_fn, jnp.int32(0), batch, lambda p: loss_fn(p, ev), None)
    if problem_name != "digits":
        raise ValueError(f"no held-out data for {problem_name!r}")
    from optzoo.problems import digits

    data = digits.load_digits()
    apply, params0 = digits.numpy_mlp((64,), seed)
    x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    n_train = len(data.x_train)
    per_epoch = n_train // DIGITS_BATCH

    def loss_fn(p, b):
        xb, yb = b
        return optax.softmax_cross_entropy_with_integer_labels(apply(p, xb), yb).mean()

    def batch(t, perm):  # race_digits's batches: a fresh permutation each epoch
        pos = t % per_epoch
        perm = jax.lax.cond(
            pos == 0,
            lambda: jax.random.permutation(jax.random.fold_in(key, t // per_epoch), n_train),
            lambda: perm,
        )
        ib = jax.lax.dynamic_slice(perm, (pos * DIGITS_BATCH,), (DIGITS_BATCH,))
        return (x_tr[ib], y_tr[ib]), perm

    return HeldoutTask(params0, loss_fn, jnp.zeros(n_train, jnp.int32), batch, lambda p: loss_fn(p, (x_te, y_te)),
                       lambda p: jnp.mean(jnp.argmax(apply(p, x_te), -1) == y_te))


def heldout_steps(steps: int, points: int = HELDOUT_POINTS):
    """The step counts after which a held-out race evaluates: evenly spaced, the last ``steps``."""
    return curve_steps(steps, points)


def race_heldout(problem_name, names, lrs, steps, seed, shape, progress) -> list[RaceResult]:
    """Each optimizer trains on the same batches (:func:`heldout_task`), compiled as a
    ``lax.scan`` over each stretch between evaluations; the held-out loss is evaluated at the
    start and after each stretch (at the params :func:`eval_params_reader` gives, so
    schedule-free is scored at its x), and only the stretches are timed (after one untimed
    warm-up call of each compiled stretch): the curve is held-out loss against steps and
    against training seconds."""
    import jax
    import jax.numpy as jnp

    from optzoo.train import make_train_step

    task = heldout_task(problem_name, seed)
    at = heldout_steps(steps)
    lengths = np.diff(np.concatenate([[0], at]))
    target = HELDOUT_TARGETS.get(problem_name, RACE_TARGETS[problem_name])
    results = []
    for name in names:
        progress(name)
        lr = lrs[name]
        tx = optimizer(name, lr if shape is None or lr is None else (lambda t, lr=lr: lr * shape(t)))
        step = make_train_step(task.loss_fn, tx, jit=False)
        reader = eval_params_reader(name)

        def stretch(carry, t0, length):
            def body(c, t):
                p, s, d = c
                b, d = task.batch(t, d)
                p, s, _ = step(p, s, b)
                return (p, s, d), None

            return jax.lax.scan(body, carry, t0 + jnp.arange(length, dtype=jnp.int32))[0]

        def evaluate(carry):
            p = reader(carry[1], carry[0])
            acc = task.accuracy(p) if task.accuracy is not None else jnp.float32(jnp.nan)
            return task.heldout(p), acc

        carry = (task.params0, tx.init(task.params0), task.data0)
        t0 = time.perf_counter()
        run = {n: jax.jit(functools.partial(stretch, length=n)).lower(carry, jnp.int32(0)).compile()
               for n in sorted(set(lengths.tolist()))}
        ev = jax.jit(evaluate).lower(carry).compile()
        compile_s = time.perf_counter() - t0
        for n in run:  # one untimed run of each program first: the first call's set-up is not a step
            jax.block_until_ready(run[n](carry, jnp.int32(0)))
        loss0, _ = ev(carry)
        curve, seconds, train_s, done = [float(loss0)], [0.0], 0.0, 0
        for n in lengths:
            t0 = time.perf_counter()
            carry = jax.block_until_ready(run[int(n)](carry, jnp.int32(done)))
            train_s += time.perf_counter() - t0
            done += int(n)
            loss, acc = ev(carry)
            curve.append(float(loss))
            seconds.append(train_s)
        curve = np.asarray(curve, np.float64)
        reached = [int(s) for s, v in zip(at, curve[1:]) if v <= target]
        results.append(RaceResult(
            name, lr, np.concatenate([[0], at]), curve, float(curve[-1]),
            None if task.accuracy is None else float(acc), reached[0] if reached else None,
            1e3 * train_s / steps, compile_s, curve_seconds=np.asarray(seconds),
        ))
    return results
