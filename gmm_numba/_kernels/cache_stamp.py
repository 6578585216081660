"""A kernel's cached machine code is valid only for the sources of every kernel module, not just its own.

Numba stamps each cache index with the hash of the one file that defines the
function, but a kernel also holds the code of the functions it calls from
other files (``em_runs`` inlines and links the M-steps of ``constrained.py``,
the E-step of ``tiles.py``, ...). So after an edit of ``constrained.py`` alone,
``em_runs`` was still loaded from the cache with the old M-steps inside:
a checkout then fitted with code that no longer exists, silently (a select
table differed from a fresh compile's). :func:`stamp_with_every_kernel_source`
adds, for the functions defined in this folder, the digest of all of its
sources to that stamp, so an edit of any of them recompiles every kernel.
An installed release never changes its files; there this costs nothing.
"""

import hashlib
import os

from numba.core import caching

#: This folder: the functions defined in its files get the package-wide stamp.
KERNELS_DIR = os.path.dirname(os.path.abspath(__file__))


def kernel_sources_digest(folder):
    """SHA-256 of the names and contents of every ``*.py`` file in ``folder`` (this one: :data:`KERNELS_DIR`),
    in name order.

    Returns
    -------
    bytes
    """
    digest = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            digest.update(name.encode())
            with open(os.path.join(folder, name), "rb") as source:
                digest.update(hashlib.sha256(source.read()).digest())
    return digest.digest()


class _KernelsStamp:
    """Mixin for Numba's source-file locators: the file's own stamp and the folder's digest."""

    _digest = None

    def get_source_stamp(self):
        if _KernelsStamp._digest is None:
            _KernelsStamp._digest = kernel_sources_digest(KERNELS_DIR)
        return super().get_source_stamp(), _KernelsStamp._digest

    @classmethod
    def from_function(cls, py_func, py_file):
        if os.path.dirname(os.path.abspath(py_file)) != KERNELS_DIR:
            return None
        return super().from_function(py_func, py_file)


def stamp_with_every_kernel_source():
    """Put locators that stamp this folder's functions with :func:`kernel_sources_digest` first in Numba's list.

    They stand in for Numba's own two source-file locators (a cache folder the
    user set, else ``__pycache__`` beside the source), in the same order; other
    functions, and kernels whose ``__pycache__`` is not writable, go on to
    Numba's locators as before. If Numba's internals change, nothing is
    installed and the cache works as Numba's own.
    """
    locators = getattr(caching.CacheImpl, "_locator_classes", None)
    bases = [getattr(caching, name, None) for name in ("UserProvidedCacheLocator", "InTreeCacheLocator")]
    if not isinstance(locators, list) or None in bases or any(issubclass(c, _KernelsStamp) for c in locators):
        return
    stamped = [type(f"Kernels{base.__name__}", (_KernelsStamp, base), {}) for base in bases]
    locators[:0] = stamped
