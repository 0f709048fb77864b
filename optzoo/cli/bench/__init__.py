"""Update-step benchmarks: optzoo against optax and ``torch.optim`` (foreach and fused).

Run as ``optzoo bench [options]``, ``python -m optzoo.cli.bench [options]`` or
``python benchmarks/run.py [options]``. What it measures, all in one process:

* the time of one optimizer update ``(params, state, grads) -> (params, state)``,
  jit-compiled with the params and state donated, for optzoo and for optax's
  version of the same algorithm; the same update through
  :func:`optzoo.train.make_train_step` (the recommended step); and
  ``torch.optim`` with ``foreach=True`` and, where torch has it, ``fused=True``;
* at three shapes of model: (a) 8M float32 parameters in one leaf, (b) 8M in 200
  leaves, (c) 200k in 400 leaves;
* the medians of many timed samples taken after warm-up, with every
  implementation timed in turn inside each round (A B C D, then B C D A, ...), so
  slow drifts of a shared machine hit all of them alike; results are printed as
  ratios of those medians;
* the achieved bandwidth against the update's minimum memory traffic (every
  parameter, gradient and state array read once, and parameters and state
  written once: ``(3 + 2 k) * 4`` bytes per float32 parameter with ``k`` state
  arrays, 28 bytes for Adam), and the traffic that the compiled XLA program
  actually moves (summed over its fusions);
* the time to trace and compile the jitted step at (c), optzoo against optax.

``--layout flat`` or ``both`` also times optzoo on :func:`optzoo.flat_params` (small leaves
in contiguous buffers), the whole training step (with the backward pass) in both layouts
against ``torch.optim``, and an end-to-end MLP with layer norm, compile times included.

``--device gpu`` runs the same measurements on the first CUDA device (JAX with
CUDA, torch with CUDA); thread settings then do not apply.

Modules: ``specs`` (model shapes, each algorithm for optzoo, optax and torch), ``runners``
(one ready-to-time update per implementation), ``timing`` (interleaved rounds), ``hlo``
(kernels and traffic of a compiled step), ``machine`` (the machine description, ``--threads``),
``report`` (the tables), ``flat`` (the ``--layout`` tables) and ``command`` (the options and
the run).
"""

from optzoo.cli.bench.command import main
from optzoo.cli.bench.hlo import hlo_report
from optzoo.cli.bench.specs import OPTIMIZERS, SIZES, min_traffic_bytes
from optzoo.cli.bench.timing import time_interleaved

__all__ = ["main", "SIZES", "OPTIMIZERS", "hlo_report", "min_traffic_bytes", "time_interleaved"]
