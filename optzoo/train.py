"""The recommended training step and a small training loop with a progress bar.

:func:`make_train_step` builds one jit-compiled function per model that computes
the loss and gradients, runs the optimizer and applies the update, with the
parameter and optimizer-state buffers *donated* so XLA updates them in place::

    step = optzoo.make_train_step(loss_fn, optzoo.adam(1e-3))
    opt_state = tx.init(params)
    for batch in optzoo.data.batches(key, (x, y), 64):
        params, opt_state, loss = step(params, opt_state, batch)

For a Flax NNX model, pass an ``nnx.Optimizer`` (or use :func:`make_nnx_train_step`)::

    optimizer = nnx.Optimizer(model, optzoo.adam(1e-3), wrt=nnx.Param)
    step = optzoo.make_train_step(loss_fn, optimizer)   # loss_fn(model, batch)
    loss = step(model, optimizer, batch)                # updates both in place

:func:`fit` loops :func:`make_train_step` over :func:`optzoo.data.batches` with a
progress bar (step, loss, learning rate) and returns a :class:`History`.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from optzoo import _validate
from optzoo import data as _data
from optzoo.flat import FlatParams

__all__ = ["History", "fit", "make_nnx_train_step", "make_train_step", "learning_rate_of"]


def _is_nnx_optimizer(obj: Any) -> bool:
    try:
        from flax import nnx
    except ImportError:  # flax is optional
        return False
    return isinstance(obj, nnx.Optimizer)


def _extra_args(tx, loss, grads, value_fn) -> dict:
    """Keyword arguments for ``tx.update``: ``value``, ``grad`` and ``value_fn`` for a
    ``GradientTransformationExtraArgs`` (line searches, L-BFGS, reduce-on-plateau),
    nothing for a plain ``GradientTransformation``. ``optax.chain`` hands each
    inner transformation only the extras it accepts."""
    if isinstance(tx, optax.GradientTransformationExtraArgs):
        return {"value": loss, "grad": grads, "value_fn": value_fn}
    return {}


def make_train_step(
    loss_fn: Callable[..., Any],
    optimizer: Any,
    *,
    has_aux: bool = False,
    donate: bool = True,
    jit: bool = True,
) -> Callable:
    r"""The recommended jitted training step.

    For a pytree of parameters (``optimizer`` an ``optax.GradientTransformation``)::

        step(params, opt_state, batch) -> (params, opt_state, loss)       # has_aux=False
        step(params, opt_state, batch) -> (params, opt_state, loss, aux)  # has_aux=True

    with ``loss_fn(params, batch) -> loss`` (or ``(loss, aux)``). One call computes
    ``loss, grads = value_and_grad(loss_fn)(params, batch)``, then
    ``updates, opt_state = optimizer.update(grads, opt_state, params, **extra)`` and
    ``params = optax.apply_updates(params, updates)``, all in a single XLA program.
    ``params`` and ``opt_state`` are donated (``donate_argnums=(0, 1)``): their old
    buffers are reused for the new values, so do not use the arrays you passed in
    after the call (keep the returned ones). ``donate=False`` keeps them valid.

    When ``optimizer`` is an ``optax.GradientTransformationExtraArgs`` (every
    ``optax.chain`` is one), its update also receives ``value=loss``,
    ``grad=grads`` and ``value_fn=lambda p: loss_fn(p, batch)``, which is what
    line-search optimizers (L-BFGS) and ``reduce_on_plateau`` need; transformations
    that do not take them ignore them.

    ``params`` may be a :class:`optzoo.FlatParams` (:func:`optzoo.flat_params`):
    ``loss_fn`` still receives the pytree (``params.tree()``), and the gradient,
    the update and the optimizer state are in the flat layout (``value_fn`` takes
    the FlatParams).

    When ``optimizer`` is a Flax ``nnx.Optimizer``, this returns
    :func:`make_nnx_train_step`'s step instead: ``step(model, optimizer, batch) -> loss``
    with ``loss_fn(model, batch)``.

    The step contains no host synchronisation: ``loss`` is a device scalar; call
    ``float(loss)`` only when you need the number.

    Differs from optax's and Flax's examples only in the donation and the extra
    arguments; the arithmetic is the same.
    """
    if _is_nnx_optimizer(optimizer):
        return make_nnx_train_step(loss_fn, has_aux=has_aux, donate=donate, jit=jit)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            "make_train_step: optimizer must be an optax.GradientTransformation or a flax "
            f"nnx.Optimizer, got {type(optimizer).__name__}"
        )

    def step(params, opt_state, batch):
        def objective(p):
            # a FlatParams: the loss is written on the pytree; the gradient comes back
            # in the flat layout (the slices' transpose)
            return loss_fn(p.tree() if isinstance(p, FlatParams) else p, batch)

        if has_aux:
            (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(params)
            value_fn = lambda p: objective(p)[0]  # noqa: E731
        else:
            loss, grads = jax.value_and_grad(objective)(params)
            value_fn = objective
        extra = _extra_args(optimizer, loss, grads, value_fn)
        updates, opt_state = optimizer.update(grads, opt_state, params, **extra)
        params = optax.apply_updates(params, updates)
        if has_aux:
            return params, opt_state, loss, aux
        return params, opt_state, loss

    if not jit:
        return step
    if not donate:
        return jax.jit(step)
    compiled = jax.jit(step, donate_argnums=(0, 1))
    last = [None]  # the (params, opt_state) this step returned last

    def donated_step(params, opt_state, batch):
        # A buffer may be donated only once per call. States straight from ``init``
        # sometimes hold one array twice (or share it with the params); the outputs
        # of a previous call never do, so the usual loop skips this check.
        if last[0] is None or params is not last[0][0] or opt_state is not last[0][1]:
            params, opt_state = _unalias(params, opt_state)
        out = compiled(params, opt_state, batch)
        last[0] = (out[0], out[1])
        return out

    donated_step.lower = compiled.lower  # for ahead-of-time inspection
    donated_step.jitted = compiled
    return donated_step


def _unalias(params, opt_state):
    """Copy every array that appears a second time among the donated arguments."""
    params = _validate.own_buffers(None, params)
    return params, _validate.own_buffers(params, opt_state)


def make_nnx_train_step(
    loss_fn: Callable[..., Any],
    *,
    has_aux: bool = False,
    donate: bool = True,
    jit: bool = True,
) -> Callable:
    r"""The recommended jitted training step for a Flax NNX model.

    ::

        step(model, optimizer, batch) -> loss          # (loss, aux) with has_aux=True

    with ``loss_fn(model, batch) -> loss`` and ``optimizer = nnx.Optimizer(model, tx,
    wrt=nnx.Param)``. The gradient is taken with respect to the optimizer's ``wrt``
    filter; ``model`` and ``optimizer`` are updated in place and their buffers are
    donated to the compiled step (``nnx.jit(..., donate_argnums=(0, 1))``). An
    ``optax.GradientTransformationExtraArgs`` receives ``value``, ``grad`` and
    ``value_fn`` (a function of the parameter state) as in :func:`make_train_step`.
    """
    from flax import nnx

    def step(model, optimizer, batch):
        wrt = optimizer.wrt
        diff = nnx.DiffState(0, wrt)
        if has_aux:
            (loss, aux), grads = nnx.value_and_grad(loss_fn, argnums=diff, has_aux=True)(model, batch)
        else:
            loss, grads = nnx.value_and_grad(loss_fn, argnums=diff)(model, batch)
        extra = {}
        if isinstance(optimizer.tx, optax.GradientTransformationExtraArgs):
            graphdef, params, rest = nnx.split(model, wrt, ...)

            def value_fn(p):
                out = loss_fn(nnx.merge(graphdef, p, rest), batch)
                return out[0] if has_aux else out

            extra = {"value": loss, "grad": nnx.as_pure(nnx.state(grads, wrt)), "value_fn": value_fn}
        optimizer.update(model, grads, **extra)
        return (loss, aux) if has_aux else loss

    if not jit:
        return step
    if not donate:
        return nnx.jit(step)
    compiled = nnx.jit(step, donate_argnums=(0, 1))
    checked: weakref.WeakSet = weakref.WeakSet()

    def donated_step(model, optimizer, batch):
        # as in make_train_step: a fresh optimizer state may hold one array twice
        if optimizer not in checked:
            both = (model, optimizer)
            pure = nnx.as_pure(nnx.state(both))
            nnx.update(both, _unalias(pure, None)[0])
            checked.add(optimizer)
        return compiled(model, optimizer, batch)

    donated_step.jitted = compiled
    return donated_step


# ----------------------------------------------------------------------------------- fit


class History(NamedTuple):
    """What :func:`fit` records: one entry per optimizer step (NumPy arrays)."""

    step: np.ndarray  # 0, 1, 2, ...
    loss: np.ndarray  # mini-batch loss before the update of that step
    learning_rate: np.ndarray  # rate used by that step (NaN when unknown)
    seconds: float  # wall-clock time of the whole loop, compilation included


# the key of the rate in ``inject_hyperparams``' dict: the core's name, then the
# PyTorch flavors' spelling
_RATE_KEYS = ("learning_rate", "lr")


def learning_rate_of(opt_state: Any) -> Any:
    """The current learning rate stored in an optimizer state, or ``None``.

    Present when the optimizer was wrapped in ``optax.inject_hyperparams`` (its
    ``hyperparams`` dict holds the value used by the last update, under
    ``learning_rate``, or ``lr`` for the PyTorch flavors)."""
    for key in _RATE_KEYS:
        found = [
            value
            for _, value in optax.tree.get_all_with_path(opt_state, key)
            if isinstance(value, (jax.Array, np.ndarray, np.generic, float))
        ]
        # with a schedule, inject_hyperparams also keeps the schedule's own state
        # under the same name; the value is the array one
        if len(found) == 1:
            return found[0]
    return None


def _progress(total: int | None, enabled: bool):
    """A rich progress bar (step, loss, learning rate), or ``None`` when disabled."""
    if not enabled:
        return None
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    except ImportError:
        return None
    return Progress(
        TextColumn("[bold]fit"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("lr {task.fields[lr]}"),
        TimeElapsedColumn(),
        transient=False,
    )


def fit(
    loss_fn: Callable[..., Any],
    params: Any,
    optimizer: Any,
    arrays: Any,
    *,
    batch_size: int | None = 32,
    epochs: int = 1,
    key: jax.Array | None = None,
    opt_state: Any = None,
    learning_rate: float | Callable[[Any], Any] | None = None,
    progress: bool = True,
    refresh_every: int = 50,
    donate: bool = True,
):
    r"""Train for ``epochs`` passes over ``arrays`` and record the loss and learning rate.

    Args:
      loss_fn: ``loss_fn(params, batch)`` (or ``loss_fn(model, batch)`` for NNX).
      params: a pytree of parameters (or a :class:`optzoo.FlatParams` of them, with
        ``loss_fn`` still written on the pytree), or an NNX model when ``optimizer``
        is an ``nnx.Optimizer``.
      optimizer: an ``optax.GradientTransformation`` or an ``nnx.Optimizer``.
      arrays: the training data, e.g. ``(x, y)``, batched by :func:`optzoo.data.batches`.
      batch_size: examples per step; ``None`` is full-batch gradient descent.
      epochs: passes over the data; the examples are reshuffled each epoch when
        ``key`` is given (``jax.random.fold_in(key, epoch)``).
      opt_state: resume from this state (pytree case); default ``optimizer.init(params)``.
      learning_rate: the optimizer's rate (a number or schedule ``step -> lr``) for
        the history. Rarely needed: a state wrapped in ``optax.inject_hyperparams``
        is read directly (``learning_rate``, or ``lr`` for the PyTorch flavors), and an
        optimizer built by an optzoo constructor (core, PyTorch or Keras flavor)
        remembers the rate it was built with. Give it for other transformations
        (an ``optax.chain`` of your own); without it their history is NaN.
      progress: show a rich progress bar with step, loss and learning rate.
      refresh_every: steps between bar refreshes; the loss is copied to the host
        only then, so the device runs ahead of Python in between.
      donate: donate parameter and state buffers to the step (see :func:`make_train_step`).

    Returns:
      ``(params, opt_state, history)`` for a pytree; ``(model, optimizer, history)``
      for NNX (both updated in place). ``history`` is a :class:`History`.
    """
    nnx_mode = _is_nnx_optimizer(optimizer)
    step_fn = make_train_step(loss_fn, optimizer, donate=donate)
    if nnx_mode:
        model, nnx_opt = params, optimizer
        state_of = lambda: nnx_opt.opt_state  # noqa: E731
        step_count = int(nnx_opt.step[...])
    else:
        if donate:  # the step donates its inputs: keep the caller's arrays intact
            params = jax.tree.map(jnp.copy, params)
            opt_state = None if opt_state is None else jax.tree.map(jnp.copy, opt_state)
        if opt_state is None:
            opt_state = optimizer.init(params)
        state_of = lambda: opt_state  # noqa: E731
        step_count = 0
    injected = learning_rate_of(state_of()) is not None
    if learning_rate is None and not injected:
        learning_rate = _constructor_rate(nnx_opt.tx if nnx_mode else optimizer)

    n = _data._leading_dim(arrays)
    per_epoch = _data.num_batches(n, n if batch_size is None else batch_size)
    total = per_epoch * epochs
    losses: list[jax.Array] = []
    rates: list[Any] = []
    bar = _progress(total, progress)
    task = bar.add_task("fit", total=total, loss="-", lr="-") if bar is not None else None
    start = time.perf_counter()
    if bar is not None:
        bar.start()
    try:
        for epoch in range(epochs):
            ekey = None if key is None else jax.random.fold_in(key, epoch)
            for batch in _data.batches(ekey, arrays, batch_size):
                if nnx_mode:
                    loss = step_fn(model, nnx_opt, batch)
                else:
                    params, opt_state, loss = step_fn(params, opt_state, batch)
                losses.append(loss)
                if injected:
                    # the rate the update just used: a copy (a device op, no sync),
                    # since a constant rate stays the same buffer in the state and
                    # the next step donates it
                    rates.append(jnp.array(learning_rate_of(state_of()), copy=True))
                if bar is not None and (len(losses) % refresh_every == 0 or len(losses) == total):
                    lr_text = "-"
                    if injected:
                        lr_text = f"{float(rates[-1]):.3g}"
                    elif learning_rate is not None:
                        lr_text = f"{_rate_at(learning_rate, step_count + len(losses) - 1):.3g}"
                    bar.update(task, completed=len(losses), loss=f"{float(loss):.4g}", lr=lr_text)
    finally:
        if bar is not None:
            bar.stop()
    seconds = time.perf_counter() - start
    steps = np.arange(step_count, step_count + len(losses))
    loss_arr = np.asarray(jnp.stack(losses)) if losses else np.zeros(0, np.float32)
    if injected:
        lr_arr = np.asarray(jnp.stack([jnp.asarray(r) for r in rates]), np.float64)
    elif learning_rate is not None:
        lr_arr = _rates_at(learning_rate, steps)
    else:
        lr_arr = np.full(len(losses), math.nan)
    history = History(steps, loss_arr, lr_arr, seconds)
    if nnx_mode:
        return model, nnx_opt, history
    return params, opt_state, history


def _constructor_rate(tx: Any) -> Any:
    """The rate (number or schedule) an optzoo constructor built ``tx`` with, or ``None``."""
    built = _validate.built_with(tx)
    if built is None:
        return None
    arguments = built[1]
    return next((arguments[k] for k in _RATE_KEYS if arguments.get(k) is not None), None)


def _rates_at(learning_rate, steps: np.ndarray) -> np.ndarray:
    if not callable(learning_rate):
        return np.full(len(steps), float(learning_rate))
    if len(steps) == 0:
        return np.zeros(0)
    rates = jax.jit(jax.vmap(learning_rate))(jnp.asarray(steps, jnp.int32))
    return np.asarray(rates, np.float64)


def _rate_at(learning_rate, step: int) -> float:
    if callable(learning_rate):
        return float(learning_rate(jnp.asarray(step, jnp.int32)))
    return float(learning_rate)
