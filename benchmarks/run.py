"""Update-step benchmark: optzoo vs optax vs torch.optim (foreach and fused).

    python benchmarks/run.py                      # full run, about 10 minutes on 2 cores
    python benchmarks/run.py --quick --sizes c    # a quick look
    python benchmarks/run.py --out benchmarks/RESULTS.md
    python benchmarks/run.py --device gpu         # on a CUDA machine (jax[cuda], torch CUDA)

Same as ``optzoo bench``; ``--help`` lists the options.
"""

import sys

from optzoo.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
