"""Keras flavor: ``keras.optimizers`` and ``keras.optimizers.schedules`` names,
arguments and defaults, as optax transformations and schedules.

::

    tx = optzoo.keras.Adam(learning_rate=optzoo.keras.schedules.CosineDecay(1e-3, 1000))
    state = tx.init(params)
    updates, state = tx.update(grads, state, params)   # params are required

Each optimizer is checked against Keras 3 (JAX backend, float64) step by step.
"""

from optzoo.keras import schedules
from optzoo.keras._base import KerasState, ema_params, finalize_variable_values
from optzoo.keras.loss_scale import LossScaleOptimizer, scale_loss
from optzoo.keras.optimizers import (
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Ftrl,
    Lamb,
    Lion,
    Muon,
    Nadam,
    RMSprop,
    ScheduleFreeAdamW,
)

__all__ = [
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "KerasState",
    "Lamb",
    "Lion",
    "LossScaleOptimizer",
    "Muon",
    "Nadam",
    "RMSprop",
    "ScheduleFreeAdamW",
    "ema_params",
    "finalize_variable_values",
    "scale_loss",
    "schedules",
]
