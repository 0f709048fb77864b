"""``python -m optzoo.cli.bench``: the update-step benchmark (same as ``optzoo bench``)."""

import sys

from optzoo.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
