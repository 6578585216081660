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

Every library optimises its linked-in copies again with its own code, and
a copy's own callees came with it, so a function deep in a call tree (the
M-steps under the compiled EM loop) was optimised once per library above it,
and made internal, a large copy called once was inlined as well (LLVM's
inliner gives such a call a large bonus), which grew the functions to
optimise: the first compilation of the demo's kernels took 200 s instead of
149 s. So the copies larger than :data:`FROZEN_COPY_INSTRUCTIONS` are left
as their own library optimised them: ``optnone`` while the library's
optimisation passes run, removed before code generation (:func:`thawed`),
and ``noinline``. A frozen copy's code is then the same in every library
that holds it and does not depend on the caller around it. So are, whatever
their size, the copies the library's own functions do not call (or refer
to) themselves (:func:`direct_callees`): a copy only reached through other
copies was optimised, with its callers, in the library of the function the
library calls, and optimising it again here would gain only what inlining
into a caller that is itself not re-optimised cannot use. Numba's reference
counting helpers (``NRT_*``, a few instructions each) are never frozen:
they are meant to be inlined everywhere.

Numba's cache does not know of this choice: kernels cached before it keep
their weak bindings until their ``*.nbi`` / ``*.nbc`` files are deleted (a
fresh installation starts with an empty cache).
"""

import re

from numba.core import codegen

#: The package's namespace in the mangled names of its compiled functions
#: (``_ZN9gmm_numba8_kernels5estep...``, ``_ZN7cpython9gmm_numba...``).
PACKAGE_SYMBOL = "9gmm_numba"

#: What :func:`private_callee_copies` did, in words.
status = "not decided yet"


#: Linked-in callee copies of more instructions than this are not optimised again in the caller's
#: library (nor inlined into it): LLVM's inliner would not inline a function this large anyway, but for
#: the bonus it gives a function of internal linkage called once.
FROZEN_COPY_INSTRUCTIONS = 5000

#: Prefix of Numba's reference-counting helpers, never frozen.
NRT_PREFIX = "NRT_"

#: A global's name where IR text refers to it: ``@name`` or ``@"name"``.
_REFERENCE = re.compile(r'@(?:"([^"]+)"|([-\w$.]+))')


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
    finalize = getattr(library_class, "finalize", None)
    if optimise is None or finalize is None:  # another Numba: fit as before rather than fail to import
        status = "not available: Numba's CPUCodeLibrary has no _optimize_final_module"
        return status
    if getattr(optimise, "private_callee_copies", False):
        return status

    def _finalize(self):
        # the library's own functions, before its callees' libraries are linked in
        self._gmm_numba_own = defined_names(self._final_module)
        finalize(self)

    def _optimize_final_module(self):
        # whether the library holds a function of the package, before optimisation may inline it away (a
        # parallel loop's wrappers link its body's library, optimised already)
        self._gmm_numba_package = any(PACKAGE_SYMBOL in name for name in defined_names(self._final_module)) or any(
            getattr(linked, "_gmm_numba_package", False) for linked in getattr(self, "_linking_libraries", ())
        )
        frozen = internalise_linked_copies(self._final_module, getattr(self, "_gmm_numba_own", None))
        optimise(self)
        if frozen:
            self._final_module = thawed(self._final_module)

    _optimize_final_module.private_callee_copies = True
    library_class._optimize_final_module = _optimize_final_module
    library_class.finalize = _finalize
    status = "linked-in copies internal to each kernel's library"
    return status


def defined_names(module):
    """Names of the functions ``module`` defines."""
    return {fn.name for fn in module.functions if not fn.is_declaration}


def internalise_linked_copies(module, own=None):
    """Give the ``linkonce_odr`` function definitions of a package library's module internal linkage.

    A package library is one that defines a function of this package, as
    the library of a kernel does, and the one Numba compiles for each of its
    parallel loops (whose body is a function of its own, called through
    the threading layer). Linked-in copies larger than
    :data:`FROZEN_COPY_INSTRUCTIONS`, and those the library's own functions
    do not refer to (:func:`direct_callees`), are marked ``noinline
    optnone`` so that the library's optimisation leaves them as their own
    library optimised them (see :func:`thawed`); ``NRT_*`` helpers never.

    Parameters
    ----------
    module : llvmlite.binding.ModuleRef
        A library's final module, its callees' libraries linked in.
    own : set of str or None
        Names of the functions the library itself defines (None: no copy is frozen).

    Returns
    -------
    int
        How many copies were frozen (0 for other packages' libraries).
    """
    ll = codegen.ll
    defined = [fn for fn in module.functions if not fn.is_declaration]
    # the package's kernels, and the libraries Numba builds for their parallel loops (which hold
    # copies of the package's functions the loop bodies call)
    if not any(PACKAGE_SYMBOL in fn.name for fn in defined):
        return 0
    direct = direct_callees(fn for fn in defined if fn.name in own) if own is not None else set()
    frozen = 0
    for fn in defined:
        if fn.linkage == ll.Linkage.linkonce_odr:
            fn.linkage = ll.Linkage.internal
        if own is None or fn.name in own or fn.name.startswith(NRT_PREFIX):
            continue
        if fn.name in direct and _instructions(fn) <= FROZEN_COPY_INSTRUCTIONS:
            continue
        attributes = {str(a) for a in fn.attributes}
        if not any("alwaysinline" in a for a in attributes):
            fn.add_function_attribute("noinline")
            fn.add_function_attribute("optnone")
            frozen += 1
    return frozen


def direct_callees(functions):
    """Names of the globals ``functions`` call or otherwise refer to.

    Parameters
    ----------
    functions : iterable of llvmlite.binding.ValueRef

    Returns
    -------
    set of str
    """
    names = set()
    for fn in functions:
        for quoted, plain in _REFERENCE.findall(str(fn)):
            names.add(quoted or plain)
    return names


#: Instructions of each linked-in copy, by symbol: the same callee is linked into many libraries.
_sizes = {}


def _instructions(fn):
    """Instructions of ``fn``, counted up to one past the freezing limit."""
    name = fn.name
    if name not in _sizes:
        count = 0
        for block in fn.blocks:
            for _ in block.instructions:
                count += 1
                if count > FROZEN_COPY_INSTRUCTIONS:
                    break
            if count > FROZEN_COPY_INSTRUCTIONS:
                break
        _sizes[name] = count
    return _sizes[name]


def thawed(module):
    """``module`` without its ``optnone`` attributes, so that code generation optimises every function.

    Returns
    -------
    llvmlite.binding.ModuleRef
        A new module (llvmlite cannot remove a function attribute in place).
    """
    ll = codegen.ll
    lines = str(module).splitlines()
    for i, line in enumerate(lines):
        if line.startswith("attributes #") and "optnone" in line:
            lines[i] = line.replace(" optnone", "")
    copy = ll.parse_assembly("\n".join(lines))
    copy.name = module.name
    return copy
