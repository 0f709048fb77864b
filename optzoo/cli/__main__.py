"""``python -m optzoo.cli``: the ``optzoo`` command."""

import sys

from optzoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
