"""The libraries Numba builds for a kernel's parallel loop are linked into the kernel, not compiled on their own.

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
cache, are not touched.

The loop body's own library is left out as well. Numba compiles the body
like a function of its own and, once it is finished, takes the address of
its Python entry point (0: not in the JIT, harmless, nothing calls it) and
writes the body's environment into the JIT's global of that name, which is
not there: :func:`skip_absent_environments` makes that write a no-op where
the JIT has no such global, instead of a write to address 0. The body's
environment is then left null in the kernel's library, as it is whenever
the kernel is loaded from Numba's cache (which rebuilds only the kernel's
own environment). The body's code is generated once, in the kernel's
library, instead of also on its own (the whole EM loop under ``em_runs``).

The same hook leaves out the libraries marked :data:`LINK_ONLY_MARK`: those
of the functions only other kernels call (:mod:`.link_only`).
"""

from numba.core import codegen

from .linkage import PACKAGE_SYMBOL

#: Prefixes of the names Numba gives the libraries of a parallel loop's body and two wrappers.
BODY_LIBRARY = "__numba_parfor_gufunc"
WRAPPER_LIBRARIES = ("<numba.np.ufunc.wrappers._GufuncWrapper object", "parallelgufuncwrapper", BODY_LIBRARY)

#: Attribute of a code library that is to be finalised and linked into its callers but left out of the JIT.
LINK_ONLY_MARK = "_gmm_numba_link_only"

#: What :func:`link_only_parfor_wrappers` did, in words.
status = "not decided yet"

#: :data:`status` once the hook is in place.
HOOKED = "parallel-loop bodies and wrappers linked only"


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
    if not skip_absent_environments():
        status = "not available: Numba's JITCPUCodegen has no set_env"
        return status
    if getattr(finish, "link_only_parfor_wrappers", False):
        return status

    def _finalize_final_module(self):
        if not (getattr(self, LINK_ONLY_MARK, False) or is_parfor_wrapper(self)):
            finish(self)
            return
        # Numba's own steps but adding the module to the JIT (and so compiling it)
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True

    _finalize_final_module.link_only_parfor_wrappers = True
    library_class._finalize_final_module = _finalize_final_module
    status = HOOKED
    return status


def link_only_available():
    """Whether libraries marked :data:`LINK_ONLY_MARK` are kept out of the JIT in this process."""
    return status == HOOKED


def skip_absent_environments():
    """Let Numba set a function's environment only where the JIT holds its global (once per process).

    Returns
    -------
    bool
        Whether Numba's codegen could be patched.
    """
    codegen_class = getattr(codegen, "JITCPUCodegen", None)
    set_env = getattr(codegen_class, "set_env", None)
    if set_env is None:
        return False
    if getattr(set_env, "skip_absent_environments", False):
        return True

    def _set_env(self, env_name, env):
        # a link-only library (a parallel loop's body) is not in the JIT: its environment has no address
        if self._engine.get_global_value_address(env_name):
            set_env(self, env_name, env)

    _set_env.skip_absent_environments = True
    codegen_class.set_env = _set_env
    return True


def is_parfor_wrapper(library):
    """Whether ``library`` is the body or a wrapper of a parallel loop of one of the package's kernels.

    A wrapper that Numba caches (those of ``guvectorize`` functions, whose
    machine code it calls) is not one.
    """
    name = str(library.name)
    if not name.startswith(WRAPPER_LIBRARIES):
        return False
    # a loop body has its kernel's caching flag, but Numba caches only the kernel's library, which holds it
    if getattr(library, "_object_caching_enabled", False) and not name.startswith(BODY_LIBRARY):
        return False
    # recorded before optimisation (:mod:`.linkage`): a loop body's copies of the package's functions may be
    # inlined into it and gone by now
    package = getattr(library, "_gmm_numba_package", None)
    if package is not None:
        return package
    return any(PACKAGE_SYMBOL in fn.name for fn in library._final_module.functions if not fn.is_declaration)
