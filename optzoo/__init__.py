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
from optzoo.train import fit, make_nnx_train_step, make_train_step
from optzoo import train
from optzoo.wrappers import skip_nonfinite
from optzoo.optimizers import adafactor, asgd, lamb, lars, lion, muon, rprop, sparse_adam
from optzoo.transforms.averaging import asgd_averaged_params
from optzoo.optimizers import angd, lbfgs, newton, newton_cg
from optzoo.transforms.monitor import gradient_report, monitor_gradients

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
    "fit",
    "keras",
    "make_nnx_train_step",
    "make_train_step",
    "momentum",
    "nadam",
    "nag",
    "problems",
    "pytorch",
    "radam",
    "rmsprop",
    "schedules",
    "sgd",
    "train",
    "skip_nonfinite",
    "transforms",
    "adafactor",
    "asgd",
    "asgd_averaged_params",
    "lamb",
    "lars",
    "lion",
    "muon",
    "rprop",
    "sparse_adam",
    "angd",
    "gradient_report",
    "lbfgs",
    "monitor_gradients",
    "newton",
    "newton_cg",
]
