"""Every kernel runs its own copy of the functions it calls, so its results do not depend on the process's history.

Numba compiles each function into a library of its own and links the
libraries of the functions it calls into it, marked ``linkonce_odr``: LLVM
is told that every copy of such a function is the same, and the JIT binds a
call to the first definition of the symbol it has seen in the process. Under
fast-math (``reassoc``, ``contract``: see ``config.FASTMATH``) the copies are
not the same: each is optimised again with the caller around it, and LLVM
may fuse a multiply and an add into one rounding, or sum in another order,
differently in each. So which copy a kernel ran depended on what the process
had compiled or loaded from Numba's cache before. ``em_statistics`` loaded
from the cache gave other last bits than the same cached code in a process
that had first called ``block_statistics`` (its own library, loaded first,
then served the call); a small memmap (read-only, its own specialisation of
every kernel) and the same values as an array could thus fit a last bit
apart, in some test-suite runs and not others, and two runs of the same
model selection could differ in the last bit of some BICs.

:func:`private_callee_copies` makes the linked-in copies internal to the
library of each of the package's kernels before LLVM optimises it: a call
then always goes to the copy compiled with the kernel, in every process and
whether the kernel was compiled there or loaded from the cache. The machine
code of each kernel is what it was; only where a call is bound changes.
The same holds for the library Numba builds for a parallel loop: compiled
in the process, its copies were bound to the callees' own libraries, loaded
from the cache, to its own; so a kernel also gave other last bits in the
process that compiled it than in the next one (``nk`` of ``em_statistics``:
2 ulp). It runs when ``gmm_numba._kernels.config`` is imported, before any
kernel is compiled, and touches only libraries that define a function of
this package.

Numba's cache does not know of this choice: kernels cached before it keep
their weak bindings until their ``*.nbi`` / ``*.nbc`` files are deleted (a
fresh installation starts with an empty cache).
"""

from numba.core import codegen

#: The package's namespace in the mangled names of its compiled functions
#: (``_ZN9gmm_numba8_kernels5estep...``, ``_ZN7cpython9gmm_numba...``).
PACKAGE_SYMBOL = "9gmm_numba"

#: What :func:`private_callee_copies` did, in words.
status = "not decided yet"


def private_callee_copies():
    """Internalise linked-in function copies in the package's Numba libraries (once per process).

    Returns
    -------
    str
        What was done; also stored in :data:`status`.
    """
    global status
    library_class = getattr(codegen, "CPUCodeLibrary", None)
    optimise = getattr(library_class, "_optimize_final_module", None)
    if optimise is None:  # another Numba: fit as before rather than fail to import
        status = "not available: Numba's CPUCodeLibrary has no _optimize_final_module"
        return status
    if getattr(optimise, "private_callee_copies", False):
        return status

    def _optimize_final_module(self):
        internalise_linked_copies(self._final_module)
        optimise(self)

    _optimize_final_module.private_callee_copies = True
    library_class._optimize_final_module = _optimize_final_module
    status = "linked-in copies internal to each kernel's library"
    return status


def internalise_linked_copies(module):
    """Give the ``linkonce_odr`` function definitions of a package library's module internal linkage.

    A package library is one that defines a function of this package, as
    the library of a kernel does, and the one Numba compiles for each of its
    parallel loops (whose body is a function of its own, called through
    the threading layer).

    Parameters
    ----------
    module : llvmlite.binding.ModuleRef
        A library's final module, its callees' libraries linked in.

    Returns
    -------
    int
        How many definitions were made internal (0 for other packages' libraries).
    """
    ll = codegen.ll
    defined = [fn for fn in module.functions if not fn.is_declaration]
    # the package's kernels, and the libraries Numba builds for their parallel loops (which hold
    # copies of the package's functions the loop bodies call)
    if not any(PACKAGE_SYMBOL in fn.name for fn in defined):
        return 0
    count = 0
    for fn in defined:
        if fn.linkage == ll.Linkage.linkonce_odr:
            fn.linkage = ll.Linkage.internal
            count += 1
    return count
