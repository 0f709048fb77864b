"""PyTorch flavor: ``torch.optim`` and ``torch.optim.lr_scheduler`` names, arguments
and defaults, as optax transformations and schedules, equal number for number.

    tx = optzoo.pytorch.AdamW(lr=optzoo.pytorch.lr_scheduler.OneCycleLR(1e-3, total_steps=1000))

See ``docs/porting.md`` for param groups, scheduler stepping and closures;
``from_torch_state`` / ``to_torch_state`` move an optimizer's state between
``torch.optim`` and these flavors.
"""

from optzoo.pytorch import amp, lr_scheduler, swa_utils
from optzoo.pytorch.amp import GradScaler, get_scale, scale_loss
from optzoo.pytorch.clip import ClipGradNorm, ClipGradValue, clip_grad_norm, clip_grad_value
from optzoo.pytorch.lbfgs import LBFGS
from optzoo.pytorch.optim import (
    ASGD,
    SGD,
    Adadelta,
    Adafactor,
    Muon,
    Rprop,
    SparseAdam,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    NAdam,
    RAdam,
    RMSprop,
)
from optzoo.pytorch.state_dict import from_torch_state, to_torch_state

__all__ = [
    "ASGD",
    "Adafactor",
    "Muon",
    "Rprop",
    "SparseAdam",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "Adamax",
    "AdamW",
    "ClipGradNorm",
    "ClipGradValue",
    "GradScaler",
    "LBFGS",
    "NAdam",
    "RAdam",
    "RMSprop",
    "amp",
    "clip_grad_norm",
    "clip_grad_value",
    "from_torch_state",
    "get_scale",
    "lr_scheduler",
    "scale_loss",
    "swa_utils",
    "to_torch_state",
]
