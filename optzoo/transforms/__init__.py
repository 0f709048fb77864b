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
from optzoo.transforms.complex import (
    from_real_pairs,
    split_complex,
    to_real_pairs,
    with_complex_params,
)
from optzoo.transforms.ftrl import FtrlState, scale_by_ftrl
from optzoo.transforms.momentum import TraceState, scale_by_trace
from optzoo.transforms.averaging import AsgdState, asgd_averaged_params, scale_by_asgd
from optzoo.transforms.factored import AdafactorState, scale_by_adafactor
from optzoo.transforms.orthogonal import MuonState, muon_lr_ratio, newton_schulz, scale_by_muon
from optzoo.transforms.sign import LionState, RpropState, scale_by_lion, scale_by_rprop
from optzoo.transforms.sparse import scale_by_sparse_adam, touched_mask
from optzoo.transforms.trust_ratio import scale_by_trust_ratio, weight_matrices_mask
from optzoo.transforms.angd import AngdState, scale_by_angd
from optzoo.transforms.lbfgs import LbfgsState, scale_by_lbfgs
from optzoo.transforms.monitor import MonitorState, gradient_report, monitor_gradients
from optzoo.transforms.newton import NewtonState, scale_by_newton, scale_by_newton_cg

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
    # large-batch, sign-based, factored, averaged, sparse, orthogonal
    "AdafactorState",
    "AsgdState",
    "LionState",
    "MuonState",
    "RpropState",
    "asgd_averaged_params",
    "muon_lr_ratio",
    "newton_schulz",
    "scale_by_adafactor",
    "scale_by_asgd",
    "scale_by_lion",
    "scale_by_muon",
    "scale_by_rprop",
    "scale_by_sparse_adam",
    "scale_by_trust_ratio",
    "touched_mask",
    "weight_matrices_mask",
    # second order, monitoring
    "AngdState",
    "LbfgsState",
    "MonitorState",
    "NewtonState",
    "gradient_report",
    "monitor_gradients",
    "scale_by_angd",
    "scale_by_lbfgs",
    "scale_by_newton",
    "scale_by_newton_cg",
    # complex params as real pairs
    "from_real_pairs",
    "split_complex",
    "to_real_pairs",
    "with_complex_params",
]
