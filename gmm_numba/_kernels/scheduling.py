"""Blocks handed to threads as they become free.

Numba's ``prange`` splits its range into one equal share per thread before
the loop starts. On a shared machine one core is often slower for a while
than the other (another guest, a lower clock), and the whole pass then waits
for the thread on it. In the threaded kernels every ``prange`` iteration
instead claims the next unprocessed block from a shared counter, again and
again until none is left::

    counter = block_counter()
    for _ in prange(n_blocks):
        b = claim_block(counter)
        if b >= n_blocks:
            continue
        ...  # scratch buffers, once per thread
        while b < n_blocks:
            ...  # block b
            b = claim_block(counter)

The first iteration a thread runs thus does all of that thread's work, and
the thread's other iterations find the counter exhausted.

Which thread processes a block never changes its result: every block writes
its own row of the per-block accumulators, which are summed in block order
afterwards (:mod:`gmm_numba._kernels.reduction`). The partition into blocks
depends on the data's shape and the size of the kernel's accumulators
only (``config.block_size``), never on the number of threads.
"""

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import JIT
from .link_only import link_only


@intrinsic
def _fetch_and_increment(typingctx, counter):
    """Atomically add 1 to ``counter[0]`` and return the value it had."""
    if not (isinstance(counter, types.Array) and counter.ndim == 1 and counter.dtype == types.int64):
        return None
    signature = types.int64(counter)

    def codegen(context, builder, sig, args):
        array_type = sig.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        first = cgutils.get_item_pointer(context, builder, array_type, array, [context.get_constant(types.intp, 0)])
        one = context.get_constant(types.int64, 1)
        # only the hand-out needs to be atomic: the join at the end of the
        # parallel loop orders every write to the accumulators
        return builder.atomic_rmw("add", first, one, "monotonic")

    return signature, codegen


@link_only
@njit(**JIT)
def block_counter():
    """A fresh counter for :func:`claim_block`: array of shape (1,), int64, zero."""
    return np.zeros(1, np.int64)


@link_only
@njit(**JIT)
def claim_block(counter):
    """Index of the next unclaimed block; ``>= n_blocks`` once all are taken.

    Parameters
    ----------
    counter : array of shape (1,), int64
        Shared by the threads of one pass, made by :func:`block_counter`.
        The kernel around the parallel loop must not read it afterwards:
        Numba does not see this write and may fold such a read to zero.

    Returns
    -------
    int
    """
    return _fetch_and_increment(counter)
