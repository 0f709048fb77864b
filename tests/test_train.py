"""The training helper: make_train_step (pytree and Flax NNX) and fit.

References are hand-written loops over optax's own ``update``/``apply_updates``
and Flax's ``nnx.Optimizer.update``; the helper must give the same numbers.
"""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import optzoo
from optzoo.schedules.registry import SCHEDULES
from optzoo.train import History, learning_rate_of, make_nnx_train_step, make_train_step, fit
from tests.test_inject import CASES as INJECT_CASES
from tests.test_inject import _static_args as INJECT_STATIC
from tests.zoo import quadratic


def _data(n=96, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x @ np.arange(1.0, d + 1) + 0.5).astype(np.float32)
    return x, y


def _loss(p, batch):
    x, y = batch
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


def _params():
    return {"w": jnp.zeros(5, jnp.float32), "b": jnp.zeros((), jnp.float32)}


def _copy(tree):
    return jax.tree.map(jnp.copy, tree)


def _manual(tx, params, batches):
    state = tx.init(params)
    losses = []
    for b in batches:
        loss, g = jax.value_and_grad(_loss)(params, b)
        u, state = tx.update(g, state, params)
        params = optax.apply_updates(params, u)
        losses.append(float(loss))
    return params, losses


@pytest.mark.parametrize("make_tx", [lambda: optax.adam(1e-2), lambda: optzoo.sgd(0.05, 0.9)])
def test_step_matches_hand_written_loop(make_tx):
    x, y = _data()
    batches = [(x[i : i + 32], y[i : i + 32]) for i in range(0, 96, 32)] * 3
    want, want_losses = _manual(make_tx(), _params(), batches)
    tx = make_tx()
    step = make_train_step(_loss, tx)
    params = _params()
    state = tx.init(params)
    losses = []
    for b in batches:
        params, state, loss = step(params, state, b)
        losses.append(float(loss))
    np.testing.assert_allclose(losses, want_losses, rtol=1e-6)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_step_donates_params_and_state():
    x, y = _data()
    tx = optzoo.adam(1e-2)
    params = _params()
    state = tx.init(params)
    new_params, new_state, _ = make_train_step(_loss, tx)(params, state, (x, y))
    assert params["w"].is_deleted() and state[0].mu["w"].is_deleted()
    assert not new_params["w"].is_deleted()
    kept = _params()
    make_train_step(_loss, tx, donate=False)(kept, tx.init(kept), (x, y))
    assert not kept["w"].is_deleted()


def test_step_is_one_program_without_host_callbacks():
    x, y = _data()
    tx = optzoo.adam(1e-2)
    params = _params()
    step = make_train_step(_loss, tx, jit=False)
    jaxpr = str(jax.make_jaxpr(step)(params, tx.init(params), (x, y)))
    assert "callback" not in jaxpr


def test_has_aux():
    x, y = _data()
    tx = optzoo.sgd(0.01)

    def loss_aux(p, b):
        l = _loss(p, b)
        return l, {"twice": 2 * l}

    params = _params()
    params, state, loss, aux = make_train_step(loss_aux, tx, has_aux=True)(params, tx.init(params), (x, y))
    np.testing.assert_allclose(aux["twice"], 2 * loss)


def test_extra_args_lbfgs_and_aliased_init_state():
    # optax.lbfgs needs value, grad and value_fn; its fresh state shares buffers,
    # which a donated call must survive
    x, y = _data()
    tx = optax.lbfgs(
        linesearch=optax.scale_by_backtracking_linesearch(max_backtracking_steps=15, store_grad=True)
    )
    step = make_train_step(_loss, tx)
    params = _params()
    state = tx.init(params)
    for _ in range(15):
        params, state, loss = step(params, state, (x, y))
    np.testing.assert_allclose(params["w"], np.arange(1.0, 6.0), rtol=1e-4)
    np.testing.assert_allclose(params["b"], 0.5, rtol=1e-4)


def test_extra_args_reduce_on_plateau_sees_the_loss():
    tx = optax.chain(optzoo.sgd(0.1), optax.contrib.reduce_on_plateau(factor=0.5, patience=1))
    flat = lambda p, b: 0.0 * jnp.sum(p["w"]) + 1.0  # noqa: E731  (never improves)
    step = make_train_step(flat, tx)
    params = _params()
    state = tx.init(params)
    for _ in range(6):
        params, state, _ = step(params, state, None)
    assert float(optax.tree.get(state, "scale")) < 1.0


def test_fit_history_and_rate_from_injected_state():
    x, y = _data()
    sched = optax.cosine_decay_schedule(0.5, 30)
    tx = optax.inject_hyperparams(optzoo.adam)(learning_rate=sched)
    params = _params()
    out_params, state, hist = fit(_loss, params, tx, (x, y), batch_size=32, epochs=10,
                                  key=jax.random.key(0), progress=False)
    assert isinstance(hist, History)
    assert hist.loss.shape == hist.learning_rate.shape == hist.step.shape == (30,)
    np.testing.assert_allclose(hist.learning_rate, [sched(i) for i in range(30)], rtol=1e-5)
    assert hist.loss[-1] < hist.loss[0] / 5
    assert not params["w"].is_deleted()  # fit keeps the caller's arrays
    assert float(learning_rate_of(state)) == pytest.approx(float(sched(29)), rel=1e-6)


def test_fit_rate_from_schedule_argument_and_progress_bar(capsys):
    x, y = _data()
    sched = optax.linear_schedule(0.02, 0.002, 6)
    _, _, hist = fit(_loss, _params(), optzoo.sgd(sched), (x, y), batch_size=None, epochs=9,
                     learning_rate=sched, progress=True, refresh_every=4)
    np.testing.assert_allclose(hist.learning_rate, [float(sched(i)) for i in range(9)], rtol=1e-6)
    assert "loss" in capsys.readouterr().out
    # a transformation optzoo did not build has no known rate: NaN, not a guess
    _, _, hist = fit(_loss, _params(), optax.sgd(0.01), (x, y), batch_size=48, progress=False)
    assert np.isnan(hist.learning_rate).all() and len(hist.loss) == 2


def _declared_rate(case):
    """The rate a case of ``tests/test_inject.py`` declares: its argument, else the
    constructor's default (``learning_rate``, or ``lr`` for the PyTorch flavors);
    ``None`` for a transformation without one (a clipping block)."""
    bound = inspect.signature(case.factory).bind(**case.kwargs)
    bound.apply_defaults()
    return next((bound.arguments[k] for k in ("learning_rate", "lr") if k in bound.arguments),
                None)


@pytest.mark.parametrize("name", sorted(INJECT_CASES))
def test_fit_records_the_rate_of_every_optimizer_and_flavor(name):
    # Once: a constant rate under inject_hyperparams stayed the same buffer in the state,
    # so the next (donating) step deleted the recorded arrays; the PyTorch flavors' `lr`
    # and every optimizer without inject_hyperparams recorded NaN.
    case = INJECT_CASES[name]
    rate = _declared_rate(case)
    rng = np.random.default_rng(0)
    shapes = {"w": (4, 3), "v": (3, 2)} if case.matrices else {"w": (4, 3), "b": (3,)}
    params = {k: jnp.asarray(rng.normal(size=s), jnp.float32) for k, s in shapes.items()}
    objective = quadratic(params)
    loss = lambda p, batch: objective(p)  # noqa: E731
    data = np.zeros((2, 1), np.float32)  # two full-batch steps a epoch
    plain = case.factory(**case.kwargs)
    injected = optax.inject_hyperparams(case.factory, static_args=INJECT_STATIC(case))(
        **case.kwargs)
    for tx, donate in ((plain, True), (injected, True)):
        _, _, hist = fit(loss, params, tx, (data,), batch_size=1, epochs=2, progress=False,
                         donate=donate)
        if rate is None and learning_rate_of(tx.init(params)) is not None:
            # lbfgs without a rate: its line search keeps the step it chose
            assert np.all(hist.learning_rate > 0), (name, hist.learning_rate)
            continue
        expected = ([float(rate(i)) for i in range(4)] if callable(rate)
                    else [np.nan if rate is None else float(np.float32(rate))] * 4)
        np.testing.assert_allclose(hist.learning_rate, expected, rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_fit_records_every_schedule(name):
    sched = SCHEDULES[name].fn(**SCHEDULES[name].example_kwargs)
    x, y = _data(n=4)
    # the flavor that carries the schedule rotates over the schedules: each flavor's
    # spelling of the rate is read, without tripling the compilations
    flavor = [optzoo.sgd, lambda s: optzoo.pytorch.SGD(lr=s), optzoo.keras.SGD][
        sorted(SCHEDULES).index(name) % 3]
    for tx, donate in ((flavor(sched), True), (optax.inject_hyperparams(optzoo.sgd)(sched), False)):
        _, _, hist = fit(_loss, _params(), tx, (x, y), batch_size=1, progress=False,
                         donate=donate)
        np.testing.assert_allclose(hist.learning_rate, [float(sched(i)) for i in range(4)],
                                   rtol=1e-5, err_msg=name)


def test_fit_records_a_torch_scheduler():
    x, y = _data(n=6)
    sched = optzoo.pytorch.lr_scheduler.OneCycleLR(0.1, total_steps=6)
    _, _, hist = fit(_loss, _params(), optzoo.pytorch.SGD(lr=sched, momentum=0.9), (x, y),
                     batch_size=1, progress=False)
    np.testing.assert_allclose(hist.learning_rate, [float(sched(i)) for i in range(6)],
                               rtol=1e-6)


class _Linear(nnx.Module):
    def __init__(self, rngs):
        self.lin = nnx.Linear(5, 1, rngs=rngs)

    def __call__(self, x):
        return self.lin(x)[:, 0]


def _nnx_loss(model, batch):
    x, y = batch
    return jnp.mean((model(x) - y) ** 2)


def test_nnx_step_matches_optimizer_update():
    x, y = _data()
    ref = _Linear(nnx.Rngs(0))
    ref_opt = nnx.Optimizer(ref, optzoo.adam(1e-2), wrt=nnx.Param)
    model = _Linear(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optzoo.adam(1e-2), wrt=nnx.Param)
    step = make_train_step(_nnx_loss, opt)  # detects nnx.Optimizer
    for _ in range(5):
        grads = nnx.grad(_nnx_loss)(ref, (x, y))
        ref_opt.update(ref, grads)
        loss = step(model, opt, (x, y))
    np.testing.assert_allclose(model.lin.kernel[...], ref.lin.kernel[...], rtol=1e-6)
    assert int(opt.step[...]) == 5
    assert float(loss) > 0


def test_nnx_fit_and_line_search():
    # a backtracking line search needs value, grad and value_fn of the NNX params
    x, y = _data()
    model = _Linear(nnx.Rngs(0))
    tx = optax.chain(optax.sgd(1.0), optax.scale_by_backtracking_linesearch(max_backtracking_steps=15))
    opt = nnx.Optimizer(model, tx, wrt=nnx.Param)
    step = make_nnx_train_step(_nnx_loss)
    first = float(step(model, opt, (x, y)))
    for _ in range(20):
        loss = step(model, opt, (x, y))
    assert float(loss) < first / 10
    model = _Linear(nnx.Rngs(0))
    opt = nnx.Optimizer(model, optzoo.adam(0.1), wrt=nnx.Param)
    model, opt, hist = fit(_nnx_loss, model, opt, (x, y), batch_size=32, epochs=20,
                           learning_rate=0.1, progress=False)
    assert len(hist.loss) == 60 and hist.loss[-1] < hist.loss[0] / 10
    np.testing.assert_allclose(hist.learning_rate, 0.1)


def test_rejects_non_optimizer():
    with pytest.raises(TypeError, match="GradientTransformation"):
        make_train_step(_loss, "adam")
