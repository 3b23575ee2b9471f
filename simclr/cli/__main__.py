"""``python -m simclr.cli``: the ``simclr`` command (for launchers that start modules)."""

import sys

from simclr.cli import main

if __name__ == "__main__":
    sys.exit(main())
