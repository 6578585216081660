"""The wrappers Numba builds around a kernel's parallel loop are linked into the kernel, not compiled on their own.

For each ``prange`` loop Numba compiles the loop body into a library of its
own, then two wrapper libraries around it (``_GufuncWrapper``, which unpacks
the arguments, and ``parallelgufuncwrapper``, which hands the loop to the
threading layer), and links each into the next and the last into the
kernel's library. Every library is compiled to machine code when it is
finished, and each wrapper holds a copy of everything the loop body calls:
for ``em_runs`` (the whole EM loop with every M-step) that was 4-5 s of code
generation per wrapper, on code that is never called. The kernel's own
library holds all of it and is what runs and what Numba caches.

:func:`link_only_parfor_wrappers` leaves the wrapper libraries of this
package's kernels out of the JIT: they are still finished (optimised) and
linked into the kernel's library as before, so the kernel's code is the
same. Numba calls no function of theirs through the JIT and does not cache
them; the wrappers of ``guvectorize`` functions, which Numba does call and
cache, are not touched. (The loop body's own library cannot be left out so:
Numba takes the address of its Python entry point.)
"""

from numba.core import codegen

from .linkage import PACKAGE_SYMBOL

#: Prefixes of the names Numba gives the libraries of a parallel loop's two wrappers.
WRAPPER_LIBRARIES = ("<numba.np.ufunc.wrappers._GufuncWrapper object", "parallelgufuncwrapper")

#: What :func:`link_only_parfor_wrappers` did, in words.
status = "not decided yet"


def link_only_parfor_wrappers():
    """Keep the parallel-loop wrapper libraries of the package's kernels out of the JIT (once per process).

    Returns
    -------
    str
        What was done; also stored in :data:`status`.
    """
    global status
    library_class = getattr(codegen, "CPUCodeLibrary", None)
    finish = getattr(library_class, "_finalize_final_module", None)
    needed = ("_finalize_dynamic_globals", "_verify_declare_only_symbols")
    if finish is None or not all(hasattr(library_class, name) for name in needed):
        status = "not available: Numba's CPUCodeLibrary has no _finalize_final_module"
        return status
    if getattr(finish, "link_only_parfor_wrappers", False):
        return status

    def _finalize_final_module(self):
        if not is_parfor_wrapper(self):
            finish(self)
            return
        # Numba's own steps but adding the module to the JIT (and so compiling it)
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True

    _finalize_final_module.link_only_parfor_wrappers = True
    library_class._finalize_final_module = _finalize_final_module
    status = "parallel-loop wrappers linked only"
    return status


def is_parfor_wrapper(library):
    """Whether ``library`` wraps a parallel loop of one of the package's kernels.

    A wrapper that Numba caches (those of ``guvectorize`` functions, whose
    machine code it calls) is not one.
    """
    if not str(library.name).startswith(WRAPPER_LIBRARIES):
        return False
    if getattr(library, "_object_caching_enabled", False):
        return False
    return any(PACKAGE_SYMBOL in fn.name for fn in library._final_module.functions if not fn.is_declaration)
