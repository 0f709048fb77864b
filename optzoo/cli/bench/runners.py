"""One update step ready to time: optzoo or optax jitted with donation, the same update through
:func:`optzoo.train.make_train_step`, and ``torch.optim``."""

from __future__ import annotations

import time


def bare_update(tx):
    """``(params, state, grads) -> (params, state)``: one update of ``tx`` applied to the params."""
    import optax

    def update(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    return update


def jax_runner(tx, shapes, device, donate=True, via_train_step=False, flat=False):
    """A callable doing one update (and blocking), the compiled executable (None
    when not donated through the train step), and the seconds spent tracing,
    lowering and compiling it. ``flat``: params, gradients and state in the flat
    layout (:func:`optzoo.flat_params`; raises ``TypeError`` when ``tx`` refuses it)."""
    import jax
    import jax.numpy as jnp

    from optzoo.train import _unalias

    keys = jax.random.split(jax.random.key(0), len(shapes))
    params = [jax.device_put(jax.random.normal(k, s, jnp.float32), device) for k, s in zip(keys, shapes)]
    grads = [jax.device_put(0.01 * jax.random.normal(jax.random.fold_in(k, 1), s, jnp.float32), device)
             for k, s in zip(keys, shapes)]
    batch = grads  # the train step's loss takes the pytree; its gradient is the batch
    if flat:
        from optzoo.flat import flat_params

        params = flat_params(params)
        grads = params.like(grads)
    # an optimizer may keep the params (or one array twice) in its initial state; a
    # buffer may be donated once per call, so copy repeats, as make_train_step does
    params, state = _unalias(params, jax.device_put(tx.init(params), device))

    box = [params, state]
    if via_train_step:
        from optzoo.train import make_train_step

        step = make_train_step(_grad_is_batch_loss(), tx, donate=donate)
        t0 = time.perf_counter()
        compiled = step.lower(params, state, batch).compile() if donate else None

        def run():
            box[0], box[1], _loss = step(box[0], box[1], batch)
            jax.block_until_ready(box[0])
    else:
        jitted = jax.jit(bare_update(tx), donate_argnums=(0, 1) if donate else ())
        t0 = time.perf_counter()
        compiled = jitted.lower(params, state, grads).compile()

        def run():
            box[0], box[1] = compiled(box[0], box[1], grads)
            jax.block_until_ready(box[0])

    return run, compiled, time.perf_counter() - t0


def _grad_is_batch_loss():
    """A loss whose gradient with respect to the params is the batch itself and
    whose value costs nothing, so a train step measures the update alone."""
    import jax
    import jax.numpy as jnp

    @jax.custom_vjp
    def loss(params, batch):
        return jnp.zeros([], jnp.float32)

    def fwd(params, batch):
        return loss(params, batch), batch

    def bwd(batch, ct):
        return jax.tree.map(lambda g: (ct * g).astype(g.dtype), batch), jax.tree.map(jnp.zeros_like, batch)

    loss.defvjp(fwd, bwd)
    return loss


def torch_runner(make, shapes, flags, device):
    """A callable doing one ``torch.optim`` step (and synchronising); raises when ``flags``
    (``{"foreach": True}`` or ``{"fused": True}``) is not supported."""
    import torch

    gen = torch.Generator().manual_seed(0)
    params = []
    for s in shapes:
        p = torch.randn(s, generator=gen).to(device).requires_grad_(True)
        p.grad = (0.01 * torch.randn(s, generator=gen)).to(device)
        params.append(p)
    opt = make(params, flags)
    opt.step()  # fails here when the flag is unsupported
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def run():
        opt.step()
        sync()

    return run
