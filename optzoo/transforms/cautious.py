"""Cautious optimizers: drop the coordinates of a step that disagree in sign with the
gradient and rescale the rest (Liang et al., 2024)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from optzoo import flat as _flat
from optzoo import _validate as v
from optzoo import registry as R
from optzoo.transforms._dtypes import wide


def _example_inner() -> optax.GradientTransformation:
    from optzoo.optimizers import adamw  # the optimizers import this module's package

    return adamw(0.02, b1=0.8)


def _example_direction() -> optax.GradientTransformation:
    from optzoo.transforms.sign import scale_by_lion

    return scale_by_lion(0.8, 0.95)


@R.register(
    kind="wrapper", family="cautious", reference="Liang et al. 2024", year=2024,
    counterparts=(R.reference(
        "pytorch_optimizer", "Lion",
        "cautious=True of pytorch_optimizer's optimizers; their decoupled weight decay is "
        "not masked: wrap the direction (direction=True) and chain the decay after"),),
    examples={"": lambda: dict(inner=_example_inner()),
              "direction": lambda: dict(inner=_example_direction(), direction=True)},
)
@v.named
def cautious(
    inner: optax.GradientTransformation, direction: bool = False
) -> optax.GradientTransformationExtraArgs:
    r"""Cautious (Liang et al., 2024): drop the coordinates of a step that ascend, rescale the rest.

    With ``g`` the incoming gradient and ``u`` the inner's output, per leaf of ``n``
    elements::

        keep   = u g < 0        (the step descends; direction=True: u g > 0)
        out    = u * keep * n / (sum(keep) + 1)

    A coordinate whose step would increase the loss to first order is dropped and
    the others are scaled up so that the leaf's step keeps its size on average.
    This is ``pytorch_optimizer``'s ``apply_cautious`` (4.1.0): the mask is strict
    (``> 0``) and the ``+ 1`` keeps the scale finite when nothing is kept.

    By default ``inner`` is an optimizer, whose output is added to the params
    (``u = -learning_rate * direction``). With ``direction=True`` it is a direction
    block (``optzoo.transforms.scale_by_*``, ``optax.scale_by_adam``), to be
    followed by the learning rate; that is how the references' form is built: they
    mask the optimizer's direction and then apply their decoupled weight decay
    unmasked, e.g. ``pytorch_optimizer.Lion(lr, weight_decay=wd, cautious=True)`` is
    ``optax.chain(cautious(scale_by_lion(b1, b2), direction=True),
    optax.add_decayed_weights(wd), optax.scale_by_learning_rate(lr))``.
    ``cautious(optzoo.adamw(lr, weight_decay=wd))`` masks the decay term too (it is
    part of the optimizer's step). A coupled (L2) decay that the reference adds to
    the gradient before the mask is ``optax.add_decayed_weights`` chained *before*
    this wrapper. The references that mask only part of their step (AdEMAMix masks
    its fast momentum, not the slow one) are not this wrapper around them.

    Args:
      inner: any ``optax.GradientTransformation`` (extra arguments such as ``value``
        are passed through).
      direction: ``inner`` returns a direction (positive along the gradient), not
        an update; default False.
    """
    fn = v.owner("cautious")
    if not isinstance(inner, optax.GradientTransformation):
        raise ValueError(
            f"{fn}: inner must be an optax.GradientTransformation, got {type(inner).__name__}")
    v.check_bool(fn, "direction", direction)
    inner = optax.with_extra_args_support(inner)
    sign = 1.0 if direction else -1.0

    def update_fn(updates, state, params=None, **extra_args):
        out, state = inner.update(updates, state, params, **extra_args)

        def one(u, g):
            u_w = wide(u)
            keep = (sign * u_w * wide(g) > 0).astype(u_w.dtype)
            scale = keep * (keep.size / (jnp.sum(keep) + 1.0))
            return (u_w * scale).astype(u.dtype)

        return jax.tree.map(one, out, updates), state

    def init_fn(params):
        _flat.refuse(fn, params)  # the mask's scale is a mean over each leaf
        return inner.init(params)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
