"""Learning-rate schedules: each a traceable ``step -> lr`` function.

Every schedule accepts a Python int, an integer (or float) array, or a traced step
inside ``jax.jit`` / ``jax.vmap`` and returns the default float dtype (float32, or
float64 under x64). Any optimizer's ``learning_rate`` accepts them. Invalid
arguments raise ``ValueError`` at construction, naming the schedule, the argument
and the value. :mod:`optzoo.schedules.registry` lists them with example arguments.

- decay: :func:`constant`, :func:`piecewise_constant`, :func:`step_decay`,
  :func:`multistep_decay`, :func:`exponential_decay`, :func:`natural_exp_decay`,
  :func:`inverse_time_decay`, :func:`polynomial_decay`, :func:`linear`
- cosine: :func:`cosine_decay`, :func:`linear_cosine_decay`,
  :func:`noisy_linear_cosine_decay`, :func:`cosine_restarts`
- cyclic: :func:`cyclic`, :func:`one_cycle`
- composition: :func:`warmup`, :func:`join`, :func:`product`
- warmup-stable-decay: :func:`wsd`
- metric-driven: :func:`reduce_on_plateau` (a ``GradientTransformationExtraArgs``)
"""

# Imported in the order the registry lists them: decay, cosine, cyclic, composition.
from optzoo.schedules.decay import (
    constant,
    exponential_decay,
    inverse_time_decay,
    linear,
    multistep_decay,
    natural_exp_decay,
    piecewise_constant,
    polynomial_decay,
    step_decay,
)
from optzoo.schedules.cosine import (
    cosine_decay,
    cosine_restarts,
    linear_cosine_decay,
    noisy_linear_cosine_decay,
)
from optzoo.schedules.cyclic import cyclic, one_cycle
from optzoo.schedules.compose import join, product, warmup
from optzoo.schedules.wsd import wsd
from optzoo.schedules.plateau import ReduceOnPlateauState, reduce_on_plateau

__all__ = [
    "ReduceOnPlateauState",
    "constant",
    "cosine_decay",
    "cosine_restarts",
    "cyclic",
    "exponential_decay",
    "inverse_time_decay",
    "join",
    "linear",
    "linear_cosine_decay",
    "multistep_decay",
    "natural_exp_decay",
    "noisy_linear_cosine_decay",
    "one_cycle",
    "piecewise_constant",
    "polynomial_decay",
    "product",
    "reduce_on_plateau",
    "step_decay",
    "warmup",
    "wsd",
]
