"""Every optimizer's initial state can be donated together with the params.

``jax.jit(step, donate_argnums=(0, 1))`` is how a JAX user trains in place; XLA
refuses a buffer donated twice in one call. So ``init`` must not put the params
themselves, or one array twice, into the state (a copy, not a reference, of the
params where an optimizer keeps them, e.g. as an anchor or an average).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import pytest

from tests.zoo import ZOO, step_kwargs


def _buffers(tree) -> list[int]:
    return [x.unsafe_buffer_pointer() for x in jax.tree.leaves(tree)
            if isinstance(x, jax.Array) and x.size]


@pytest.mark.parametrize("name", sorted(ZOO))
def test_initial_state_shares_no_buffer(name):
    tx = ZOO[name].make()
    params = {"w": jnp.arange(6.0).reshape(3, 2) / 7, "v": jnp.ones((2, 2)) / 3}
    state = tx.init(params)
    pointers = _buffers((params, state))
    assert len(pointers) == len(set(pointers)), (
        f"{name}: the initial state holds the params or one array twice; a step that "
        "donates (params, state) fails")


@pytest.mark.parametrize("name", ["adam", "swa[ema]", "skip_nonfinite"])
def test_donated_step_runs(name):
    case = ZOO[name]
    tx = case.make()
    params = {"w": jnp.arange(6.0).reshape(3, 2) / 7, "v": jnp.ones((2, 2)) / 3}
    loss = lambda p: sum(jnp.sum(x**2) for x in jax.tree.leaves(p))  # noqa: E731

    @jax.jit
    def step(p, s):
        g = jax.grad(loss)(p)
        u, s = tx.update(g, s, p, **step_kwargs(case, p, loss, g))
        return optax.apply_updates(p, u), s

    step = jax.jit(step, donate_argnums=(0, 1))
    state = tx.init(params)
    for _ in range(2):
        params, state = step(params, state)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(params))
