"""The ``gmm-numba`` command line: readers, output files, progress, and the commands."""

from .commands import main

__all__ = ["main"]
