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
from optzoo import registry
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


def _traits(make) -> dict:
    """``stateless`` (the state's structure does not depend on the params') and
    ``counters`` (a scalar int32 in the state) of a case, read off its state."""
    tx = make()
    params = {"w": jnp.zeros((3, 2)), "b": jnp.zeros(2)}
    state = tx.init(params)
    bigger = tx.init({**params, "c": jnp.zeros(4)})
    return {"stateless": jax.tree.structure(state) == jax.tree.structure(bigger),
            "counters": any(jnp.asarray(x).dtype == jnp.int32 and jnp.ndim(x) == 0
                            for x in jax.tree.leaves(state))}


def _registry_cases() -> dict[str, Case]:
    """One case per example of every optimizer and wrapper in the registry (the key
    of a variant is ``name[variant]``)."""
    out = {}
    for r in registry.records():
        if r.kind not in ("optimizer", "wrapper"):
            continue
        for variant in r.examples:
            make = (lambda r=r, variant=variant: r.example(variant))
            out[r.name + (f"[{variant}]" if variant else "")] = _c(
                make, extra_args=r.extra_args, **_traits(make))
    return out


# Non-default hyperparameters throughout (the registry's examples), so a default baked
# in by mistake shows.
ZOO: dict[str, Case] = {
    **_registry_cases(),
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


def variants_slow(params: list) -> list:
    """The parameters of a test generated over the zoo, with every variant (a key with
    a bracketed suffix: the same optimizer with other options) marked slow. The
    default run checks each optimizer, flavor and block at its first configuration;
    CI's slow run checks the variants. ``params``: keys, tuples whose first item is
    a key, or ``pytest.param`` of those (their marks and ids are kept)."""
    import pytest

    out = []
    for p in params:
        if not hasattr(p, "marks"):  # a plain value, not a pytest.param
            p = pytest.param(*(p if isinstance(p, tuple) else (p,)))
        if "[" in str(p.values[0]):
            p = pytest.param(*p.values, id=p.id, marks=[*p.marks, pytest.mark.slow])
        out.append(p)
    return out


# Names in ``optzoo.__all__`` that are not transformation constructors.
NOT_TRANSFORMATIONS = {"data", "keras", "problems", "pytorch", "schedules", "transforms",
                       "train", "cli", "fit", "make_train_step", "make_nnx_train_step",
                       "flat", "flat_params",
                       "asgd_averaged_params", "gradient_report", "info", "registry",
                       *registry.exports()}


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
