"""The table of test cases: every public optimizer (and building block) of optzoo,
built with non-default hyperparameters, plus what each needs to run a step.

Any test may import it::

    from tests.zoo import ZOO, step_kwargs
    for name, case in ZOO.items():
        tx = case.make()

Keys are ``optzoo.<name>`` for the flat API (a bracketed suffix marks a variant:
``"rmsprop[centered]"``) and ``"transforms.<name>"`` for building blocks.
``tests/test_reliability.py::test_zoo_covers_public_api`` fails when a name in
``optzoo.__all__`` that builds a transformation has no entry here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

import optzoo
from optzoo import schedules as S
from optzoo import transforms as T


@dataclasses.dataclass(frozen=True)
class Case:
    """One test case.

    ``make``: builds the transformation (non-default hyperparameters).
    ``extra_args``: the update's extra keyword arguments, from ``{"value", "grad",
    "value_fn"}``; supply them with :func:`step_kwargs`.
    ``stateless``: the state holds nothing shaped like the params (no structure
    check is possible).
    ``sharding``: ``None`` when the case supports sharded params, else the reason
    it does not.
    ``counters``: the state has int32 step counters (saturation test applies).
    """

    make: Callable[[], optax.GradientTransformation]
    extra_args: tuple[str, ...] = ()
    stateless: bool = False
    sharding: str | None = None
    counters: bool = True


def _c(make, **kw) -> Case:
    return Case(make, **kw)


# Non-default hyperparameters throughout, so a default baked in by mistake shows.
ZOO: dict[str, Case] = {
    # ---------------------------------------------------------------- SGD family
    "sgd": _c(lambda: optzoo.sgd(0.05), stateless=True, counters=False),
    "sgd[momentum,wd]": _c(lambda: optzoo.sgd(0.05, momentum=0.8, weight_decay=1e-3)),
    "sgd[nesterov]": _c(lambda: optzoo.sgd(0.05, momentum=0.7, nesterov=True)),
    "momentum": _c(lambda: optzoo.momentum(0.03, beta=0.85, weight_decay=1e-3)),
    "nag": _c(lambda: optzoo.nag(0.03, beta=0.8)),
    # ------------------------------------------------------------ adaptive
    "adagrad": _c(lambda: optzoo.adagrad(0.2, initial_accumulator_value=0.05, eps=1e-6),
                  counters=False),
    "adagrad[torch]": _c(lambda: optzoo.adagrad(0.2, 0.0, 1e-8, eps_in_sqrt=False),
                         counters=False),
    "adadelta": _c(lambda: optzoo.adadelta(0.5, rho=0.9, eps=1e-5), counters=False),
    "rmsprop": _c(lambda: optzoo.rmsprop(0.01, decay=0.95, eps=1e-7, initial_scale=0.1),
                  counters=False),
    "rmsprop[centered,momentum]": _c(
        lambda: optzoo.rmsprop(0.01, decay=0.8, eps=1e-6, eps_in_sqrt=False, centered=True,
                               momentum=0.5, nesterov=True)),
    # ------------------------------------------------------------ Adam family
    "adam": _c(lambda: optzoo.adam(0.02, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-9)),
    "amsgrad": _c(lambda: optzoo.amsgrad(0.02, b1=0.85, b2=0.95, eps=1e-6)),
    "adamw": _c(lambda: optzoo.adamw(0.02, b1=0.8, b2=0.99, eps=1e-6, weight_decay=0.05)),
    "adamax": _c(lambda: optzoo.adamax(0.01, b1=0.8, b2=0.99, eps=1e-6)),
    "nadam": _c(lambda: optzoo.nadam(0.01, b1=0.85, b2=0.995, eps=1e-6, momentum_decay=0.01)),
    "nadam[optax]": _c(lambda: optzoo.nadam(0.01, momentum_decay=None)),
    "radam": _c(lambda: optzoo.radam(0.01, b1=0.85, b2=0.99, eps=1e-6, threshold=6.0)),
    # ------------------------------------------------------------ first-order zoo
    "lars": _c(lambda: optzoo.lars(0.05, momentum=0.8, trust_coefficient=0.01,
                                   weight_decay=1e-3, eps=1e-8, nesterov=True)),
    "lamb": _c(lambda: optzoo.lamb(0.01, b1=0.85, b2=0.99, eps=1e-5, weight_decay=0.01)),
    "rprop": _c(lambda: optzoo.rprop(0.05, eta_minus=0.4, eta_plus=1.3, min_step_size=1e-5,
                                     max_step_size=10.0), counters=False),
    "asgd": _c(lambda: optzoo.asgd(0.05, lambd=1e-3, alpha=0.7, t0=5.0, weight_decay=1e-3)),
    "adafactor": _c(lambda: optzoo.adafactor(0.02, beta2_decay=-0.7, eps2=1e-2,
                                             clip_threshold=2.0, relative_step=False,
                                             min_dim_size_to_factor=2)),
    "sparse_adam": _c(lambda: optzoo.sparse_adam(0.02, b1=0.8, b2=0.99, eps=1e-6)),
    "lion": _c(lambda: optzoo.lion(3e-3, b1=0.8, b2=0.95, weight_decay=0.01), counters=False),
    "muon": _c(lambda: optzoo.muon(0.01, momentum=0.9, ns_steps=4, weight_decay=0.01)),
    # ------------------------------------------------------------ second order, monitor
    "angd": _c(lambda: optzoo.angd(0.05, eps=1e-2, max_full_size=64, init_scale=0.5)),
    "lbfgs": _c(lambda: optzoo.lbfgs(memory_size=4, max_linesearch_steps=10),
                extra_args=("value", "grad", "value_fn")),
    "lbfgs[lr]": _c(lambda: optzoo.lbfgs(0.05, memory_size=3, linesearch=None),
                    extra_args=("value", "grad", "value_fn")),
    "newton": _c(lambda: optzoo.newton(0.5, damping=0.1), extra_args=("value_fn",),
                 stateless=True),
    "newton_cg": _c(lambda: optzoo.newton_cg(0.5, damping=0.1, max_cg_iters=10, cg_tol=1e-6),
                    extra_args=("value_fn",), stateless=True),
    "monitor_gradients": _c(lambda: optzoo.monitor_gradients(1e-2, 1e-6, 1e2)),
    # ------------------------------------------------------------ clipping, wrappers
    "clip_by_value": _c(lambda: optzoo.clip_by_value(0.5), stateless=True, counters=False),
    "clip_by_norm": _c(lambda: optzoo.clip_by_norm(0.7), stateless=True, counters=False),
    "clip_by_global_norm": _c(lambda: optzoo.clip_by_global_norm(0.9), stateless=True,
                              counters=False),
    "skip_nonfinite": _c(lambda: optzoo.skip_nonfinite(optzoo.adam(0.02, b1=0.8), 3)),
    # ------------------------------------------------------------ building blocks
    "transforms.scale_by_trace": _c(lambda: T.scale_by_trace(0.7, dampening=0.1)),
    "transforms.scale_by_rss": _c(lambda: T.scale_by_rss(0.2, 1e-5), counters=False),
    "transforms.scale_by_rms": _c(lambda: T.scale_by_rms(0.8, 1e-6, 0.05, centered=True),
                                  counters=False),
    "transforms.scale_by_adadelta": _c(lambda: T.scale_by_adadelta(0.8, 1e-5), counters=False),
    "transforms.scale_by_adam": _c(lambda: T.scale_by_adam(0.7, 0.98, 1e-6, amsgrad=True)),
    "transforms.scale_by_adamax": _c(lambda: T.scale_by_adamax(0.7, 0.98, 1e-6,
                                                               eps_inside_max=False)),
    "transforms.scale_by_nadam": _c(lambda: T.scale_by_nadam(0.7, 0.98, 1e-6)),
    "transforms.scale_by_radam": _c(lambda: T.scale_by_radam(0.7, 0.98, 1e-6)),
    "transforms.scale_by_ftrl": _c(lambda: T.scale_by_ftrl(0.05, -0.6, 0.2, 1e-3, 1e-3, 1e-3,
                                                           0.1), counters=False),
    "transforms.scale_by_adafactor": _c(lambda: T.scale_by_adafactor(0.02, -0.7,
                                                                     min_dim_size_to_factor=2)),
    "transforms.scale_by_asgd": _c(lambda: T.scale_by_asgd(0.05, 1e-3, 0.7, 5.0)),
    "transforms.scale_by_lion": _c(lambda: T.scale_by_lion(0.8, 0.95), counters=False),
    "transforms.scale_by_muon": _c(lambda: T.scale_by_muon(0.9, ns_steps=4)),
    "transforms.scale_by_rprop": _c(lambda: T.scale_by_rprop(0.05, 0.4, 1.3), counters=False),
    "transforms.scale_by_sparse_adam": _c(lambda: T.scale_by_sparse_adam(0.8, 0.99, 1e-6)),
    "transforms.scale_by_trust_ratio": _c(lambda: T.scale_by_trust_ratio(0.5, 1e-8),
                                          stateless=True, counters=False),
    # ------------------------------------------------------------ schedules as transforms
    "schedules.reduce_on_plateau": _c(
        lambda: optax.chain(optzoo.adam(0.02), S.reduce_on_plateau(0.5, 2, cooldown=1)),
        extra_args=("value",)),
}


# Every public schedule, with non-default arguments: name -> () -> (step -> lr).
def _schedules() -> dict[str, Callable[[], Callable]]:
    from optzoo.schedules import registry

    return {name: (lambda info=info: info.fn(**info.example_kwargs))
            for name, info in registry.SCHEDULES.items()}


SCHEDULES: dict[str, Callable[[], Callable]] = _schedules()


def public_name(key: str) -> str:
    """``"rmsprop[centered]"`` -> ``"rmsprop"``."""
    return key.split("[")[0]


# Names in ``optzoo.__all__`` that are not transformation constructors.
NOT_TRANSFORMATIONS = {"data", "keras", "problems", "pytorch", "schedules", "transforms",
                       "train", "cli", "fit", "make_train_step", "make_nnx_train_step",
                       "asgd_averaged_params", "gradient_report"}


def quadratic(seed_tree):
    """A loss ``sum 0.5 * a * (p - c)^2`` with positive curvature ``a`` in [0.5, 2]
    and centre ``c`` in [-1, 1], drawn per coordinate from ``seed_tree`` (a pytree
    shaped like the params). Returns ``loss_fn(params)``."""
    leaves, treedef = jax.tree.flatten(seed_tree)
    key = jax.random.PRNGKey(0)
    a_leaves, c_leaves = [], []
    for i, p in enumerate(leaves):
        ka, kc = jax.random.split(jax.random.fold_in(key, i))
        a_leaves.append(jax.random.uniform(ka, jnp.shape(p), minval=0.5, maxval=2.0))
        c_leaves.append(jax.random.uniform(kc, jnp.shape(p), minval=-1.0, maxval=1.0))
    a = jax.tree.unflatten(treedef, a_leaves)
    c = jax.tree.unflatten(treedef, c_leaves)

    def loss_fn(params):
        terms = jax.tree.map(
            lambda p, aa, cc: jnp.sum(0.5 * aa.astype(p.dtype) * (p - cc.astype(p.dtype)) ** 2)
            .astype(jnp.float32 if p.dtype != jnp.float64 else p.dtype),
            params, a, c,
        )
        return sum(jax.tree.leaves(terms), jnp.zeros([], jnp.float32))

    return loss_fn


def step_kwargs(case: Case, params, loss_fn, grads=None) -> dict:
    """The extra keyword arguments ``case`` needs for one update at ``params``."""
    kw = {}
    if "value" in case.extra_args:
        kw["value"] = loss_fn(params)
    if "grad" in case.extra_args:
        kw["grad"] = grads if grads is not None else jax.grad(loss_fn)(params)
    if "value_fn" in case.extra_args:
        kw["value_fn"] = loss_fn
    return kw


def run(case: Case, tx, params, loss_fn, steps: int, jit: bool = True, grads_fn=None):
    """``steps`` updates of ``tx`` from ``params`` on ``loss_fn``; returns the final
    params, the final state and the list of states (the initial one first)."""
    grads_fn = grads_fn or jax.grad(loss_fn)

    def one(params, state):
        grads = grads_fn(params)
        updates, state = tx.update(grads, state, params, **step_kwargs(case, params, loss_fn,
                                                                       grads))
        return optax.apply_updates(params, updates), state

    one = jax.jit(one) if jit else one
    state = tx.init(params)
    states = [state]
    for _ in range(steps):
        params, state = one(params, state)
        states.append(state)
    return params, state, states
