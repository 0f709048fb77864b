"""optzoo.keras optimizers against the real Keras 3 optimizers (JAX backend).

Both sides start from the same weights (several matrices and vectors), receive the
same gradient sequence for ``STEPS`` steps in float64, and the weights are compared
after every step: max relative error <= 1e-10. Keras runs through its own
``stateless_apply`` (the path its JAX trainer uses), scanned over the steps.
"""

from __future__ import annotations

import contextlib
import os

os.environ["KERAS_BACKEND"] = "jax"  # read once, at Keras's first import (tests/conftest.py)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras  # noqa: E402
import optax  # noqa: E402

if keras.backend.backend() != "jax":  # Keras was imported before with another backend
    raise RuntimeError(f"Keras parity needs Keras on JAX, got {keras.backend.backend()!r}")

import optzoo.keras as ok  # noqa: E402
from tests.parity.harness import keras_float64  # noqa: E402

STEPS = 100
TOL = 1e-10
SHAPES = {"b1": (3,), "b2": (2,), "w1": (4, 3), "w2": (3, 2), "w3": (2, 3, 4)}
NAMES = sorted(SHAPES)  # the order of jax.tree.leaves on a dict
# Muon picks Adam for non-matrices and by path: the keys are Keras's variable paths
# ("dense/kernel" is variable "kernel" in name scope "dense") and optzoo's pytree paths.
MUON_SHAPES = {"dense/kernel": (4, 3), "dense/bias": (3,), "embedding/embeddings": (5, 3),
               "head/kernel": (3, 6), "tall/kernel": (6, 2), "conv/kernel": (2, 3, 4)}


def full_precision_keras(monkeypatch):
    """Keras 3.15 computes three ops in float32 whatever the input dtype: ``ops.cos``
    and ``ops.norm`` (their ``result_type(float64, float)`` is float32) and
    ``ops.mean`` (it averages in ``result_type(dtype, "float32")``, float32 again).
    That makes Keras's cosine schedules, its Adafactor and its Muon (the norm before
    Newton-Schulz) float32-accurate under float64. The exact comparisons run with
    those ops in the input's own dtype; the rest of Keras is untouched."""
    from keras.src.backend.jax import linalg as backend_linalg
    from keras.src.backend.jax import numpy as backend_numpy

    monkeypatch.setattr(
        backend_linalg, "norm",
        lambda x, ord=None, axis=None, keepdims=False: jnp.linalg.norm(
            jnp.asarray(x), ord=ord, axis=axis, keepdims=keepdims),
    )

    monkeypatch.setattr(backend_numpy, "cos", lambda x: jnp.cos(jnp.asarray(x)))
    monkeypatch.setattr(
        backend_numpy,
        "mean",
        lambda x, axis=None, keepdims=False: jnp.mean(jnp.asarray(x), axis=axis,
                                                      keepdims=keepdims),
    )


def _problem(seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    p0 = {k: rng.normal(size=s) for k, s in shapes.items()}
    # Gradient sizes vary from step to step so that clipping is on for some steps
    # and leaves, off for others.
    grads = {
        k: np.stack([rng.normal(size=s) * rng.uniform(0.1, 2.0) for _ in range(STEPS)])
        for k, s in shapes.items()
    }
    return p0, grads


def _rel_err(a, e):
    a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
    axes = tuple(range(1, a.ndim))
    return np.max(np.abs(a - e) / np.maximum(np.abs(e), 1e-30), axis=axes)


def run_keras(opt, p0, grads):
    """Weights after every step (dict of stacked arrays) and the final optimizer
    variables, from the real Keras optimizer."""
    names = sorted(p0)

    def variable(k):  # "dense/kernel": variable "kernel" in name scope "dense"
        *scopes, leaf = k.split("/")
        with contextlib.ExitStack() as stack:
            for scope in scopes:
                stack.enter_context(keras.name_scope(scope))
            return keras.Variable(p0[k], dtype="float64", name=leaf)

    kvars = [variable(k) for k in names]
    assert [v.path for v in kvars] == names
    opt.build(kvars)
    opt_vars = [v.value for v in opt.variables]
    train_vars = [v.value for v in kvars]

    def body(carry, g):
        tv, ov = carry
        tv, ov = opt.stateless_apply(ov, [g[k] for k in names], tv)
        return (tv, ov), tv

    (_, ov), hist = jax.jit(lambda c, gs: jax.lax.scan(body, c, gs))(
        (train_vars, opt_vars), {k: jnp.asarray(v) for k, v in grads.items()}
    )
    return dict(zip(names, hist)), {v.path: x for v, x in zip(opt.variables, ov)}


def run_optzoo(tx, p0, grads):
    params = {k: jnp.asarray(v) for k, v in p0.items()}

    def body(carry, g):
        p, s = carry
        u, s = tx.update(g, s, p)
        p = optax.apply_updates(p, u)
        return (p, s), p

    (_, state), hist = jax.jit(lambda c, gs: jax.lax.scan(body, c, gs))(
        (params, tx.init(params)), {k: jnp.asarray(v) for k, v in grads.items()}
    )
    return hist, state


def compare(keras_opt, tx, seed=0, scaled=False, shapes=SHAPES):
    p0, grads = _problem(seed, shapes)
    k_hist, k_vars = run_keras(keras_opt, p0, grads)
    o_hist, state = run_optzoo(tx, p0, grads)
    per_step = np.max(np.stack([_rel_err(o_hist[k], k_hist[k]) for k in sorted(shapes)]),
                      axis=0)
    assert per_step.shape == (STEPS,)
    if scaled:  # max |difference| / max |weight|, per leaf
        return max(float(np.max(np.abs(o_hist[k] - k_hist[k])) / np.max(np.abs(k_hist[k])))
                   for k in sorted(shapes))
    return per_step, k_vars, state


def _schedule_pair(kind):
    """The same schedule from Keras and from optzoo.keras.schedules."""
    ks, zs = keras.optimizers.schedules, ok.schedules
    if kind == "exp":
        args = (0.05, 20, 0.5)
        return ks.ExponentialDecay(*args, staircase=True), zs.ExponentialDecay(*args, True)
    if kind == "cos":
        kw = dict(alpha=0.1, warmup_target=0.05, warmup_steps=10)
        return ks.CosineDecay(0.001, 60, **kw), zs.CosineDecay(0.001, 60, **kw)
    if kind == "pw":
        args = ([10, 40], [0.05, 0.02, 0.005])
        return ks.PiecewiseConstantDecay(*args), zs.PiecewiseConstantDecay(*args)
    if kind == "inv":
        args = (0.05, 10, 0.3)
        return ks.InverseTimeDecay(*args), zs.InverseTimeDecay(*args)
    if kind == "poly":
        kw = dict(end_learning_rate=0.01, power=2.0, cycle=True)
        return ks.PolynomialDecay(0.1, 30, **kw), zs.PolynomialDecay(0.1, 30, **kw)
    if kind == "sgdr":
        kw = dict(t_mul=1.5, m_mul=0.8, alpha=0.05)
        return ks.CosineDecayRestarts(0.05, 15, **kw), zs.CosineDecayRestarts(0.05, 15, **kw)
    raise ValueError(kind)


# (class name, config label, keyword arguments; "schedule" names a _schedule_pair)
CASES = [
    ("SGD", "lr=0.1", dict(learning_rate=0.1)),
    ("SGD", "momentum=0.9,nesterov,wd=0.01", dict(
        learning_rate=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", "momentum=0.8,exp-staircase-schedule,clipnorm=1", dict(
        learning_rate="exp", momentum=0.8, clipnorm=1.0)),
    ("Adam", "b1=.8,b2=.99,eps=1e-6,amsgrad,clipnorm=1", dict(
        learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6, amsgrad=True, clipnorm=1.0)),
    ("Adam", "wd=.05,ema(.9,every 5),cosine-warmup-schedule", dict(
        learning_rate="cos", weight_decay=0.05, use_ema=True, ema_momentum=0.9,
        ema_overwrite_frequency=5)),
    ("Adam", "grad-accum=3,piecewise-schedule,ema", dict(
        learning_rate="pw", gradient_accumulation_steps=3, use_ema=True)),
    ("AdamW", "b1=.85,b2=.99,eps=1e-6,wd=.1,global_clipnorm=1.5,amsgrad", dict(
        learning_rate=0.01, weight_decay=0.1, beta_1=0.85, beta_2=0.99, epsilon=1e-6,
        global_clipnorm=1.5, amsgrad=True)),
    ("Adamax", "b1=.8,b2=.99,eps=1e-5,wd=.03,clipvalue=.5", dict(
        learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-5, weight_decay=0.03,
        clipvalue=0.5)),
    ("Nadam", "b1=.85,loss_scale=4,wd=.02", dict(
        learning_rate=0.01, beta_1=0.85, loss_scale_factor=4.0, weight_decay=0.02)),
    ("Nadam", "b2=.99,eps=1e-6,grad-accum=2,ema-every-3,inverse-time-schedule", dict(
        learning_rate="inv", beta_2=0.99, epsilon=1e-6, gradient_accumulation_steps=2,
        use_ema=True, ema_overwrite_frequency=3)),
    ("RMSprop", "rho=.8,momentum=.5,centered,grad-accum=3", dict(
        learning_rate=0.01, rho=0.8, momentum=0.5, centered=True,
        gradient_accumulation_steps=3)),
    ("RMSprop", "eps=1e-5,momentum=.9,wd=.02,inverse-time-schedule", dict(
        learning_rate="inv", epsilon=1e-5, momentum=0.9, weight_decay=0.02)),
    ("Adagrad", "init_acc=.3,eps=1e-5,wd=.02,clipnorm=.8", dict(
        learning_rate=0.1, initial_accumulator_value=0.3, epsilon=1e-5, weight_decay=0.02,
        clipnorm=0.8)),
    ("Adadelta", "lr=1,rho=.9,eps=1e-5,wd=.02,ema", dict(
        learning_rate=1.0, rho=0.9, epsilon=1e-5, weight_decay=0.02, use_ema=True,
        ema_momentum=0.95)),
    ("Ftrl", "power=-.6,l1,l2,shrinkage,beta", dict(
        learning_rate=0.1, learning_rate_power=-0.6, l1_regularization_strength=0.01,
        l2_regularization_strength=0.02, l2_shrinkage_regularization_strength=0.01, beta=0.1)),
    ("Ftrl", "init_acc=0,power=0,poly-cycle-schedule,wd=.01", dict(
        learning_rate="poly", initial_accumulator_value=0.0, learning_rate_power=0.0,
        l1_regularization_strength=0.001, weight_decay=0.01)),
    ("Adafactor", "b2_decay=-.7,eps1=1e-20,eps2=1e-2,clip=1.5,wd=.01", dict(
        learning_rate=0.05, beta_2_decay=-0.7, epsilon_1=1e-20, epsilon_2=1e-2,
        clip_threshold=1.5, weight_decay=0.01)),
    # Keras takes a clipping threshold below torch's d >= 1.
    ("Adafactor", "clip=0.8,eps2=1e-2", dict(
        learning_rate=0.05, epsilon_2=1e-2, clip_threshold=0.8)),
    ("Adafactor", "relative_step=False,exp-staircase-schedule,grad-accum=2", dict(
        learning_rate="exp", relative_step=False, gradient_accumulation_steps=2)),
    ("Lamb", "b1=.85,b2=.99,eps=1e-6,wd=.01,clipnorm=1", dict(
        learning_rate=0.01, beta_1=0.85, beta_2=0.99, epsilon=1e-6, weight_decay=0.01,
        clipnorm=1.0)),
    ("Lion", "lr=.002,b1=.95,b2=.98,wd=.05,ema(every 4)", dict(
        learning_rate=0.002, beta_1=0.95, beta_2=0.98, weight_decay=0.05, use_ema=True,
        ema_overwrite_frequency=4)),
    ("ScheduleFreeAdamW", "defaults", dict()),
    # Muon routes by shape and by path (see MUON_SHAPES); Keras runs its Newton-Schulz
    # in the variable's dtype, float64 here, as optzoo does.
    ("Muon", "defaults", dict()),
    ("Muon", "plain-momentum,exclude_layers,embeddings-in,no-rms,coefficients,adam-ratio", dict(
        learning_rate=0.01, nesterov=False, momentum=0.9, exclude_layers=["head", "^tall/"],
        exclude_embeddings=False, rms_rate=None, muon_a=3.0, muon_b=-3.2, muon_c=1.2,
        ns_steps=3, adam_lr_ratio=0.1, adam_beta_1=0.8, adam_beta_2=0.99, epsilon=1e-6,
        weight_decay=None, adam_weight_decay=0.01, clipnorm=1.0)),
    ("Muon", "rms=.3,wd=.02,adam_wd=None,grad-accum=2,ema(every 5),pw-schedule,loss_scale", dict(
        learning_rate="pw", rms_rate=0.3, weight_decay=0.02, adam_weight_decay=None,
        gradient_accumulation_steps=2, use_ema=True, ema_overwrite_frequency=5,
        loss_scale_factor=2.0)),
    ("Muon", "global_clipnorm=1,exp-schedule,momentum=.8", dict(
        learning_rate="exp", global_clipnorm=1.0, momentum=0.8)),
    ("Muon", "clipvalue=.5,wd=.05", dict(learning_rate=0.02, clipvalue=0.5, weight_decay=0.05)),
    ("ScheduleFreeAdamW", "b1=.8,b2=.99,eps=1e-6,warmup=10,wd=.02,clipnorm=1", dict(
        learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6, warmup_steps=10,
        weight_decay=0.02, clipnorm=1.0)),
    ("ScheduleFreeAdamW", "grad-accum=2,ema(every 7),cosine-warmup-schedule,loss_scale=2", dict(
        learning_rate="cos", gradient_accumulation_steps=2, use_ema=True,
        ema_overwrite_frequency=7, loss_scale_factor=2.0, warmup_steps=5)),
    ("ScheduleFreeAdamW", "global_clipnorm=1,exp-schedule", dict(
        learning_rate="exp", global_clipnorm=1.0)),
]


def _build(name, kwargs):
    k_kwargs, o_kwargs = dict(kwargs), dict(kwargs)
    if isinstance(kwargs.get("learning_rate"), str):
        k_kwargs["learning_rate"], o_kwargs["learning_rate"] = _schedule_pair(
            kwargs["learning_rate"]
        )
    return getattr(keras.optimizers, name)(**k_kwargs), getattr(ok, name)(**o_kwargs)


def _ids():
    return [f"{n}-{c}" for n, c, _ in CASES]


@pytest.mark.parametrize("name,config,kwargs", CASES, ids=_ids())
def test_parity(name, config, kwargs, record_parity, monkeypatch):
    full_precision_keras(monkeypatch)
    with keras_float64():
        keras_opt, tx = _build(name, kwargs)
        shapes = MUON_SHAPES if name == "Muon" else SHAPES
        per_step, k_vars, state = compare(keras_opt, tx, shapes=shapes)
        err, ema_count = float(per_step.max()), len(shapes)
        if kwargs.get("use_ema"):
            # The EMA in the state is Keras's moving-average variables.
            ema = ok.ema_params(state)
            k_ema = [x for path, x in k_vars.items() if path.endswith("_average")]
            ema_count = len(k_ema)
            err = max([err] + [float(np.max(_rel_err(e[None], k[None])))
                               for e, k in zip([ema[n] for n in sorted(shapes)], k_ema)])
    record_parity("keras", name, config, err, STEPS)
    assert ema_count == len(shapes), f"{name} [{config}]: {ema_count} EMA variables in Keras"
    assert err <= TOL, f"{name} [{config}]: max rel err {err:.3e}, first bad step " \
        f"{int(np.argmax(per_step > TOL)) + 1}"


def test_adafactor_as_shipped():
    """Unpatched, Keras's Adafactor averages in float32 even under float64: the two
    agree to float32 level (max |difference| / max |weight| <= 1e-6)."""
    name, _, kwargs = next(c for c in CASES if c[0] == "Adafactor")
    with keras_float64():
        keras_opt, tx = _build(name, kwargs)
        assert compare(keras_opt, tx, scaled=True) <= 1e-6


def test_muon_as_shipped():
    """Unpatched, Keras's Muon takes the norm before Newton-Schulz in float32 even
    under float64: the two agree to float32 level (max |difference| / max |weight|
    <= 1e-6)."""
    name, _, kwargs = next(c for c in CASES if c[0] == "Muon")
    with keras_float64():
        keras_opt, tx = _build(name, kwargs)
        assert compare(keras_opt, tx, scaled=True, shapes=MUON_SHAPES) <= 1e-6


def test_muon_routing_by_path():
    """Keras's Muon routing rule on pytree paths: non-matrices, paths containing
    "embedding" (any case) and re.search matches of exclude_layers take Adam."""
    from optzoo.keras.optimizers import _muon_uses_adam, param_path

    tree = {"Dense_0": {"kernel": 0}, "Embed": {"Embedding": 0}, "layers": [{"w": 0}]}
    paths = [param_path(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    assert paths == ["Dense_0/kernel", "Embed/Embedding", "layers/0/w"]
    assert not _muon_uses_adam("Dense_0/kernel", (3, 2), [], True)
    assert _muon_uses_adam("Embed/Embedding", (3, 2), [], True)
    assert not _muon_uses_adam("Embed/Embedding", (3, 2), [], False)
    assert _muon_uses_adam("layers/0/w", (3, 2), ["^layers/"], True)
    assert _muon_uses_adam("Dense_0/kernel", (3,), [], True)


def test_schedule_free_eval_params_match_keras_x():
    """Keras has no eval call; its x is (y - (1 - beta_1) z) / beta_1 from the weights
    y and its "momentum" variables z. optzoo.schedule_free_eval_params returns it."""
    import optzoo

    kwargs = dict(learning_rate=0.01, beta_1=0.8, warmup_steps=3, weight_decay=0.01)
    with keras_float64():
        keras_opt, tx = _build("ScheduleFreeAdamW", kwargs)
        p0, grads = _problem(0)
        k_hist, k_vars = run_keras(keras_opt, p0, grads)
        o_hist, state = run_optzoo(tx, p0, grads)
        x = optzoo.schedule_free_eval_params(state, {k: o_hist[k][-1] for k in NAMES})
        for k in NAMES:
            z = next(val for path, val in k_vars.items() if path.endswith(f"{k}_momentum"))
            k_x = (k_hist[k][-1] - 0.2 * z) / 0.8
            assert float(np.max(_rel_err(x[k][None], k_x[None]))) <= TOL


# Wrappers around another optimizer, checked in their own parity file.
WRAPPERS = {"LossScaleOptimizer": "test_loss_scaling.py"}


def _classes():
    """Every optimizer class optzoo.keras exports (its other names are helpers, and
    the wrappers of WRAPPERS)."""
    helpers = {"KerasState", "ema_params", "finalize_variable_values", "schedules",
               "scale_loss", *WRAPPERS}
    classes = [n for n in ok.__all__ if n not in helpers]
    assert sorted(classes) == sorted(ok.optimizers.__all__)
    return classes


def test_every_class_is_covered():
    from pathlib import Path

    for name, file in WRAPPERS.items():
        assert name in ok.__all__ and hasattr(keras.optimizers, name), name
        assert f'"{name}"' in (Path(__file__).parent / file).read_text(), (name, file)
    names = {n for n, _, _ in CASES}
    assert names == set(_classes()), (
        f"without a parity configuration: {sorted(set(_classes()) - names)}; "
        f"not in optzoo.keras: {sorted(names - set(_classes()))}")
    assert all(hasattr(keras.optimizers, n) for n in names)


# Arguments every Keras optimizer takes (keras.optimizers.Optimizer's); each one needs
# a non-default value in some configuration, of any class.
COMMON = ("clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
          "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps")
NOT_NUMERIC = ("name", "weight_decay_mask")  # a label; optzoo's own keyword-only mask


def _non_default(name, kwargs):
    import inspect

    params = inspect.signature(getattr(ok, name)).parameters
    return {k for k, x in kwargs.items() if not (x is params[k].default
                                                or (x == params[k].default) is True)}


def test_every_argument_takes_a_non_default_value():
    """A parity configuration that leaves an argument at its default cannot tell a
    flavor that ignores the argument from one that honours it."""
    import inspect

    given: dict[str, set] = {}
    for name, _, kwargs in CASES:
        given.setdefault(name, set()).update(_non_default(name, kwargs))
    missing = {}
    for name in _classes():
        own = set(inspect.signature(getattr(ok, name)).parameters) - set(COMMON) - set(NOT_NUMERIC)
        if own - given[name]:
            missing[name] = sorted(own - given[name])
    assert not missing, f"arguments left at their defaults in every configuration: {missing}"
    common = set().union(*given.values()) & set(COMMON)
    assert common == set(COMMON), f"never set: {sorted(set(COMMON) - common)}"


# ------------------------------------------------------------------------ API checks


def test_defaults_match_keras():
    import inspect

    for name in ["SGD", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta",
                 "Ftrl", "Lamb", "Lion", "Adafactor", "ScheduleFreeAdamW", "Muon"]:
        ours = inspect.signature(getattr(ok, name)).parameters
        theirs = inspect.signature(getattr(keras.optimizers, name).__init__).parameters
        for arg, p in theirs.items():
            if arg in ("self", "kwargs"):
                continue
            assert arg in ours, f"{name}: missing argument {arg}"
            assert ours[arg].default == p.default, f"{name}.{arg}"


def test_signatures_match_keras_in_order():
    """Each optimizer's arguments are Keras's, in Keras's order and kind, with
    Keras's defaults, followed by the keyword-only ``weight_decay_mask``."""
    import inspect

    for name in ok.optimizers.__all__:
        ours = [(n, p.kind, p.default)
                for n, p in inspect.signature(getattr(ok, name)).parameters.items()]
        theirs = [(n, p.kind, p.default)
                  for n, p in inspect.signature(getattr(keras.optimizers, name).__init__)
                  .parameters.items() if n not in ("self", "kwargs")]
        assert ours == theirs + [("weight_decay_mask", inspect.Parameter.KEYWORD_ONLY, None)], name
        assert "Common Keras arguments" in getattr(ok, name).__doc__, name


def test_positional_arguments_follow_keras_order():
    params = {"w": jnp.array([1.0, -2.0, 3.0])}
    grads = {"w": jnp.array([0.5, 0.25, -1.0])}

    def first_update(tx):
        return tx.update(grads, tx.init(params), params)[0]["w"]

    pairs = [
        (ok.SGD(0.1, 0.9, True, 0.01), ok.SGD(learning_rate=0.1, momentum=0.9, nesterov=True,
                                              weight_decay=0.01)),
        (ok.AdamW(0.01, 0.1), ok.AdamW(learning_rate=0.01, weight_decay=0.1)),
        (ok.Adam(0.01, 0.8, 0.99, 1e-6, False, None, 0.5),
         ok.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.99, epsilon=1e-6, clipnorm=0.5)),
    ]
    for positional, keywords in pairs:
        np.testing.assert_array_equal(first_update(positional), first_update(keywords))
    with pytest.raises(TypeError):
        ok.SGD(0.1, weight_decay_mask_typo=None)


def test_validation_messages():
    with pytest.raises(ValueError, match=r"Adam: only one of clipnorm"):
        ok.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match=r"AdamW: weight_decay"):
        ok.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match=r"SGD: momentum must be in \[0, 1\], got 1.5"):
        ok.SGD(momentum=1.5)
    with pytest.raises(ValueError, match=r"RMSprop: gradient_accumulation_steps"):
        ok.RMSprop(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match=r"Adam: ema_momentum"):
        ok.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match=r"Ftrl: learning_rate_power must be in"):
        ok.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match=r"Ftrl: initial_accumulator_value"):
        ok.Ftrl(initial_accumulator_value=-1.0)
    # FTRL's closed form divides by the learning rate: Keras gives NaN weights at 0.
    with pytest.raises(ValueError, match=r"^Ftrl: learning_rate must be in \(0, inf\), got 0$"):
        ok.Ftrl(learning_rate=0)


def test_float32_jit_and_helpers():
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros((2,))}
    grads = {"w": jnp.full((3, 2), 0.5), "b": jnp.ones((2,))}
    tx = ok.Adam(0.1, use_ema=True, weight_decay_mask={"w": True, "b": False},
                 weight_decay=0.1)
    state = tx.init(params)
    updates, state = jax.jit(tx.update)(grads, state, params)
    assert jax.tree.map(lambda u: u.dtype, updates) == {"w": jnp.float32, "b": jnp.float32}
    new = optax.apply_updates(params, updates)
    # First step: the EMA is the weights; finalize swaps it in.
    ema = ok.ema_params(state)
    assert all(np.allclose(ema[k], new[k]) for k in new)
    assert ok.finalize_variable_values(new, state)["w"].shape == (3, 2)
    assert int(state.iterations) == 1
    plain = ok.SGD(0.1)
    st = plain.init(params)
    assert ok.finalize_variable_values(params, st) is params
    with pytest.raises(ValueError, match="use_ema=False"):
        ok.ema_params(st)
