"""optzoo: the optimizer and learning-rate-schedule zoo for JAX.

Every optimizer is an ``optax.GradientTransformation`` built from pure
``init``/``update`` functions; every schedule is a traceable ``step -> lr``.

Every optimizer and wrapper declared in :mod:`optzoo.registry` is exported here
under its name (``optzoo.adam``); ``optzoo.info(name)`` returns its record.
"""

import importlib as _importlib
import pkgutil as _pkgutil

from optzoo import data, keras, problems, pytorch, registry, schedules, transforms
from optzoo import optimizers as _optimizers  # noqa: F401  (registers the classic optimizers)
from optzoo import wrappers as _wrappers  # noqa: F401  (registers skip_nonfinite)
from optzoo import train
from optzoo import distributed
from optzoo import flat
from optzoo.flat import FlatParams, flat_params
from optzoo.registry import info
from optzoo.train import fit, make_nnx_train_step, make_train_step
from optzoo.transforms.averaging import asgd_averaged_params
from optzoo.transforms.monitor import gradient_report

# A module added under optzoo/transforms/ registers its optimizer on import.
for _m in _pkgutil.iter_modules(transforms.__path__):
    _importlib.import_module(f"{transforms.__name__}.{_m.name}")

_EXPORTED = [r.name for r in registry.records() if r.kind in ("optimizer", "wrapper")]
globals().update({r.name: r.constructor for r in registry.records() if r.name in _EXPORTED})
# helpers that read an optimizer's state (optzoo.swa_params), declared with registry.export
_HELPERS = registry._EXPORTS
globals().update(_HELPERS)

__version__ = "0.1.0"

__all__ = [
    *_EXPORTED,
    *_HELPERS,
    "FlatParams",
    "asgd_averaged_params",
    "data",
    "distributed",
    "fit",
    "flat",
    "flat_params",
    "gradient_report",
    "info",
    "keras",
    "make_nnx_train_step",
    "make_train_step",
    "problems",
    "pytorch",
    "registry",
    "schedules",
    "train",
    "transforms",
]
