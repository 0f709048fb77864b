"""Building blocks: each ``scale_by_*`` is one algorithm's math as an
``optax.GradientTransformation``. Optimizers in :mod:`optzoo.optimizers` chain them."""

from optzoo.transforms.adam import (
    AdamState,
    NadamState,
    scale_by_adam,
    scale_by_adamax,
    scale_by_nadam,
    scale_by_radam,
)
from optzoo.transforms.adaptive import (
    AdadeltaState,
    RmsState,
    RssState,
    scale_by_adadelta,
    scale_by_rms,
    scale_by_rss,
)
from optzoo.transforms.clipping import clip_by_global_norm, clip_by_norm, clip_by_value
from optzoo.transforms.ftrl import FtrlState, scale_by_ftrl
from optzoo.transforms.momentum import TraceState, scale_by_trace

__all__ = [
    "AdamState",
    "AdadeltaState",
    "FtrlState",
    "NadamState",
    "RmsState",
    "RssState",
    "TraceState",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "scale_by_adadelta",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_ftrl",
    "scale_by_nadam",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rss",
    "scale_by_trace",
]
