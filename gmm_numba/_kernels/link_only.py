"""Functions only ever called from other kernels get no machine code of their own.

Numba compiles every ``@njit`` function into a library of its own: its
module is optimised, then handed to the JIT, which generates its machine
code. A caller links the optimised modules of its callees into its own
library and optimises and generates code for all of it again (each kernel
runs its own copies of its callees: :mod:`.linkage`). So the machine code
generated for a function that only kernels call is never run; for the
dozens of small helpers under the E-steps and M-steps that was a large
part of the first compilation after installation (``gmm-numba demo``'s
"Kernels ready in ... s").

:func:`link_only` marks such a function. Its dispatcher compiles with
:class:`LinkOnlyCompiler`, which flags the library it creates
(:data:`~.parfor_wrappers.LINK_ONLY_MARK`); the codegen hook of
:mod:`.parfor_wrappers`, which does the same for the libraries of the
parallel loops, then finalises the library as before (optimised, its
callees linked in) but leaves it out of the JIT. Callers link it in as
before. The function has no address in the process: the Python entry point
Numba records for it is null, and its Numba environment is never set, as for
a parallel loop's body.

A call from Python therefore cannot use the marked dispatcher's compiled
code. :class:`LinkOnlyDispatcher` sends it to the ``@njit`` dispatcher the
decorator was given, which compiles (and caches) the function in the usual
way, and counts it in :data:`python_calls`: the tests call some helpers
directly, the package itself should not (the function would then be compiled
twice; a test holds ``select`` and a fit to that).

The marked dispatchers do not use Numba's on-disk cache: their libraries
have no object code to store, and a kernel loaded from the cache holds its
callees' code already. A kernel compiled anew (another dtype) compiles its
marked callees again, without code generation, instead of loading theirs.

What callers link is the module as its library optimised it. Before, it
was that module after the JIT's code generation had run on it: LLVM's
code-generation passes rewrite the IR they are given (loop strength
reduction, CodeGenPrepare), and Numba hands callers its module after that.
The callers' code thus changed once, and so did some last bits: in
``select(load_faithful(), random_state=0)`` the log-likelihood of 4 of 126
cells by at most 1.5e-15 relative and the ICL of 8 by at most 1.4e-12 (the
same iterations; on iris nothing).
"""

import collections

from numba.core import compiler, dispatcher
from numba.core.registry import CPUDispatcher

from . import parfor_wrappers

#: Qualified names (``module.function``) of the functions marked :func:`link_only`.
marked = set()

#: Calls from Python to each marked function (its qualified name), served by its ordinary dispatcher.
python_calls = collections.Counter()


class LinkOnlyCompiler(compiler.Compiler):
    """Numba's compiler pipeline, the library it creates marked link-only.

    The library is created as Numba's lowering pass would create it (named
    after the function, object caching enabled), only earlier, so that it
    carries the mark when the pass finalises it.
    """

    def compile_extra(self, func):
        if self.state.library is None:
            library = self.state.targetctx.codegen().create_library(func.__qualname__)
            library.enable_object_caching()
            setattr(library, parfor_wrappers.LINK_ONLY_MARK, True)
            self.state.library = library
        return super().compile_extra(func)


class LinkOnlyDispatcher(CPUDispatcher):
    """The dispatcher of a :func:`link_only` function: kernels call it; Python calls go to ``python_dispatcher``.

    Parameters
    ----------
    py_func, locals, targetoptions
        As for Numba's dispatcher.
    pipeline_class : type, default=LinkOnlyCompiler
        The default also holds for a dispatcher Numba rebuilds after pickling.

    Attributes
    ----------
    python_dispatcher : numba.core.registry.CPUDispatcher or None
        The function's ordinary ``@njit`` dispatcher (None until the first
        call from Python, for one rebuilt from a pickle).
    """

    def __init__(self, py_func, locals=None, targetoptions=None, pipeline_class=LinkOnlyCompiler):
        super().__init__(py_func, locals=locals, targetoptions=targetoptions, pipeline_class=pipeline_class)
        self.python_dispatcher = None

    def __call__(self, *args, **kwargs):
        python_calls[qualified_name(self.py_func)] += 1
        if self.python_dispatcher is None:
            self.python_dispatcher = CPUDispatcher(self.py_func, locals=self.locals, targetoptions=self.targetoptions)
        return self.python_dispatcher(*args, **kwargs)


def link_only(function):
    """Mark an ``@njit`` function that only other kernels call: no machine code of its own (see the module doc).

    Apply it above ``@njit``. Where Numba's codegen could not be hooked
    (:data:`.parfor_wrappers.status`), or with ``NUMBA_DISABLE_JIT``, the
    function is returned as it was given.

    Parameters
    ----------
    function : numba.core.registry.CPUDispatcher
        A serial ``@njit`` function.

    Returns
    -------
    LinkOnlyDispatcher or the function given
    """
    if not isinstance(function, dispatcher.Dispatcher) or not parfor_wrappers.link_only_available():
        return function
    linked = LinkOnlyDispatcher(function.py_func, locals=function.locals, targetoptions=function.targetoptions)
    linked.python_dispatcher = function
    marked.add(qualified_name(function.py_func))
    return linked


def qualified_name(py_func):
    """``module.qualname`` of a Python function."""
    return f"{py_func.__module__}.{py_func.__qualname__}"
