"""``python -m gmm_numba``: the ``gmm-numba`` command line."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
