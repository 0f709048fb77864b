"""optzoo: the optimizer and learning-rate-schedule zoo for JAX.

Every optimizer is an ``optax.GradientTransformation`` built from pure
``init``/``update`` functions; every schedule is a traceable ``step -> lr``.
"""

from optzoo import data, keras, problems, pytorch, schedules, transforms
from optzoo.optimizers import (
    adadelta,
    adagrad,
    adam,
    adamax,
    adamw,
    amsgrad,
    momentum,
    nadam,
    nag,
    radam,
    rmsprop,
    sgd,
)
from optzoo.transforms.clipping import clip_by_global_norm, clip_by_norm, clip_by_value
from optzoo.wrappers import skip_nonfinite

__version__ = "0.1.0"

__all__ = [
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "amsgrad",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "data",
    "keras",
    "momentum",
    "nadam",
    "nag",
    "problems",
    "pytorch",
    "radam",
    "rmsprop",
    "schedules",
    "sgd",
    "skip_nonfinite",
    "transforms",
]
