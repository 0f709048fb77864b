"""The race engine: every optimizer trains on one problem from the same start, in one compiled
``lax.scan`` per optimizer, timed after an ahead-of-time compilation.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, NamedTuple

from optzoo.cli.race_settings import DIGITS_BATCH, RACE_TARGETS, SCHEDULE_HORIZON
from optzoo.cli.schedule_cmd import build_schedule, schedule_values


class RaceResult(NamedTuple):
    name: str
    learning_rate: float
    losses: Any  # (steps,) loss per step (digits: mini-batch loss)
    final_loss: float  # digits: full training-set loss at the end
    test_accuracy: float | None
    steps_to_target: int | None
    ms_per_step: float
    compile_s: float
    trajectory: Any = None  # (steps + 1, 2) for 2-D problems


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
    """Bias-corrected exponential moving average of ``x`` (the smoothed mini-batch loss)."""
    import numpy as np

    out = np.empty(len(x))
    acc = 0.0
    for i, val in enumerate(np.asarray(x, np.float64)):
        acc = beta * acc + (1 - beta) * val
        out[i] = acc / (1 - beta ** (i + 1))
    return out


def _first_at_or_below(values, target) -> int | None:
    import numpy as np

    hits = np.nonzero(np.asarray(values) <= target)[0]
    return int(hits[0]) + 1 if hits.size else None


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
    ``make_run(train_step, tx)(*args)``, the learning rate scaled by ``shape`` if given."""
    from optzoo.train import make_train_step

    for name in names:
        progress(name)
        lr = lrs[name]
        tx = optimizer(name, lr if shape is None else (lambda t, lr=lr: lr * shape(t)))
        step = make_train_step(loss_fn, tx, jit=False)
        yield (name, lr, *_time_run(make_run(step, tx), *args))


def race_digits(names, lrs, steps, seed, shape, progress) -> list[RaceResult]:
    """Mini-batches of the digits through an MLP 64-64-10, the same batches for every optimizer."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from optzoo.problems import digits

    data = digits.load_digits()
    apply, params0 = digits.numpy_mlp((64,), seed)
    x_tr, y_tr = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    x_te, y_te = jnp.asarray(data.x_test), jnp.asarray(data.y_test)
    rng = np.random.default_rng(seed)
    per_epoch = len(data.x_train) // DIGITS_BATCH
    epochs = -(-steps // per_epoch)
    order = np.concatenate([rng.permutation(len(data.x_train)) for _ in range(epochs)])
    idx = jnp.asarray(order[: steps * DIGITS_BATCH].reshape(steps, DIGITS_BATCH))

    def loss_fn(p, batch):
        xb, yb = batch
        return optax.softmax_cross_entropy_with_integer_labels(apply(p, xb), yb).mean()

    @jax.jit
    def evaluate(p):
        acc = jnp.mean(jnp.argmax(apply(p, x_te), -1) == y_te)
        return loss_fn(p, (x_tr, y_tr)), acc

    def make_run(step, tx):
        def run(params, idx):
            def body(carry, ib):
                p, s, loss = step(*carry, (x_tr[ib], y_tr[ib]))
                return (p, s), loss

            (p, _), losses = jax.lax.scan(body, (params, tx.init(params)), idx)
            return p, losses

        return run

    results = []
    for name, lr, (p, losses), compile_s, run_s in _timed_runs(
        names, lrs, shape, progress, loss_fn, make_run, params0, idx
    ):
        final_loss, acc = (float(x) for x in evaluate(p))
        losses = np.asarray(losses, np.float64)
        results.append(RaceResult(
            name, lr, losses, final_loss, acc,
            _first_at_or_below(ema(losses), RACE_TARGETS["digits"]),
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
    """Full-batch descent on a 2-D test function from its customary start, keeping the path."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    prob = problem(problem_name)
    x0 = jnp.asarray(prob.init, jnp.float32)
    loss_fn = lambda p, _batch: prob.fn(p)  # noqa: E731  (full-batch: no data)

    def make_run(step, tx):
        def run(x):
            def body(carry, _):
                x, s, loss = step(*carry, None)
                return (x, s), (carry[0], loss)

            (x, _), (path, losses) = jax.lax.scan(body, (x, tx.init(x)), None, length=steps)
            return jnp.concatenate([path, x[None]]), jnp.append(losses, prob.fn(x))

        return run

    results = []
    for name, lr, (path, losses), compile_s, run_s in _timed_runs(
        names, lrs, shape, progress, loss_fn, make_run, x0
    ):
        losses = np.asarray(losses, np.float64)
        results.append(RaceResult(
            name, lr, losses[:-1], float(losses[-1]), None,
            _first_at_or_below(losses[1:], RACE_TARGETS[problem_name]),
            1e3 * run_s / steps, compile_s, np.asarray(path, np.float64),
        ))
    return results
