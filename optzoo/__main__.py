"""``python -m optzoo``: the ``optzoo`` command (see :mod:`optzoo.cli`)."""

import sys

from optzoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
