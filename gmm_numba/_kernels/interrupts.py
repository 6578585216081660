"""Ctrl-C during a kernel call reaches the caller as KeyboardInterrupt.

A compiled kernel does not look at signals while it runs. When it returns
arrays, Numba's dispatcher calls back into Python to box them, and a
KeyboardInterrupt pending from a SIGINT is raised inside that callback. The
dispatcher then reports it as ``SystemError: CPUDispatcher(...) returned a
result with an exception set``, with the KeyboardInterrupt only in the
exception's context. :func:`interruptible` turns that back into the
KeyboardInterrupt the user asked for.
"""

import functools


def interruptible(kernel):
    """Wrap a Numba dispatcher so that an interrupt surfaces as KeyboardInterrupt.

    Parameters
    ----------
    kernel : callable
        A compiled kernel (any callable).

    Returns
    -------
    callable
        Calls ``kernel`` with the same arguments; the original stays
        available as its ``kernel`` attribute.
    """

    @functools.wraps(kernel)
    def call(*args):
        try:
            return kernel(*args)
        except SystemError as exc:
            if caused_by_interrupt(exc):
                raise KeyboardInterrupt from None
            raise

    call.kernel = kernel
    return call


def caused_by_interrupt(exc):
    """Whether a KeyboardInterrupt is in the cause or context chain of ``exc``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
