"""Every Numba option of the package, in one place.

The kernels import their decorator options from here so that a change of
fastmath flags, tile size or caching policy is made once. Importing it also
settles the vector width (see :mod:`gmm_numba._kernels.vectors`), which has to happen
before the first kernel is defined, binds every kernel's calls to its
own copies of the functions it calls (see :mod:`gmm_numba._kernels.linkage`),
keeps the parallel loops' wrappers out of the JIT (see
:mod:`gmm_numba._kernels.parfor_wrappers`) and shortens OpenMP's idle
spinning (see :mod:`gmm_numba._kernels.openmp`) and stamps every kernel's
cache with the sources of all kernel modules (see
:mod:`gmm_numba._kernels.cache_stamp`).
"""

import math

from .cache_stamp import stamp_with_every_kernel_source
from .free_cores import free_cores
from .linkage import private_callee_copies
from .openmp import limit_idle_spinning
from .parfor_wrappers import link_only_parfor_wrappers
from .vectors import prefer_wide_vectors

prefer_wide_vectors()
# each kernel calls its own copies of its callees, whatever the process compiled or loaded before
private_callee_copies()
# idle OpenMP threads sleep soon, so that they do not hold cores other work needs
limit_idle_spinning()
# the wrappers of a parallel loop are linked into its kernel but not compiled to machine code themselves
link_only_parfor_wrappers()
# a cached kernel is reused only while no kernel module has changed (its callees' code is inside it)
stamp_with_every_kernel_source()

#: LLVM fast-math flags. ``nnan`` and ``ninf`` are left out on purpose:
#: log-sum-exp relies on ``-inf`` for components of zero weight.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}

#: Options shared by every serial kernel. NumPy's error model: a float
#: division gets no zero check, whose exception branch would keep LLVM from
#: vectorising the loop around it (the kernels never divide by zero).
JIT = {"nogil": True, "cache": True, "fastmath": FASTMATH, "error_model": "numpy"}

#: Options shared by every threaded kernel.
PARALLEL_JIT = dict(JIT, parallel=True)

#: Points handled together in the innermost loops (transposed into a
#: ``(n_features, TILE)`` buffer so the loops over points vectorise). Each
#: tile pays a fixed cost per component (loop set-up, parameter blocks);
#: 512 points ran 10-20% faster than 128 at D = 2 to 32.
TILE = 512

#: Smallest number of points a thread block holds.
MIN_BLOCK = 4 * TILE

#: Largest number of thread blocks.
MAX_BLOCKS = 256

#: Bytes the per-block accumulators of one pass may take (each block sums
#: its own K x D x D moments for full and tied models). Above it, blocks
#: hold more points: 256 blocks at D = 32, K = 16 were 33.6 MB, zeroed
#: and summed serially in every pass (~25 ms), and grow as K D^2.
ACCUMULATOR_BYTES = 8 << 20

#: Fewest blocks the accumulator budget may leave a large data set, so that
#: the threads still share the work evenly.
MIN_BLOCKS = 16

LOG_2PI = math.log(2.0 * math.pi)

#: Largest ``n_samples * n_components * n_features**2`` for which a whole EM run
#: is one serial compiled call (:mod:`gmm_numba._kernels.em_run`); above it, the
#: threaded block kernels do each iteration.
COMPILED_RUN_MAX_WORK = 1 << 21

#: Largest ``n_samples * n_components * n_features**2`` for which several runs
#: share the threads one serial run each. Above it every run's iterations share
#: the threads instead: in a batch, one long run (the hierarchical start, run
#: to convergence) held one thread for seconds while the screened starts beside
#: it had finished (10^5 x 5 rows: 7,533 of a sweep's 8,555 iterations on one thread).
COMPILED_BATCH_MAX_WORK = 1 << 22


def block_size(n_samples, accumulator_floats=0):
    """Points per block for a data set of ``n_samples`` rows.

    The partition depends on the data's shape and the kernel's accumulators
    only, never on the number of threads, which is what makes results
    bit-identical on 1 or many threads.

    Parameters
    ----------
    n_samples : int
    accumulator_floats : int
        float64 numbers each block accumulates (see :func:`moment_floats`);
        caps the number of blocks at :data:`ACCUMULATOR_BYTES` of them, but
        not below :data:`MIN_BLOCKS`. 0 means no cap.

    Returns
    -------
    int
        A multiple of :data:`TILE`.
    """
    n_blocks = MAX_BLOCKS
    if accumulator_floats > 0:
        n_blocks = min(MAX_BLOCKS, max(MIN_BLOCKS, ACCUMULATOR_BYTES // (8 * accumulator_floats)))
    size = max(MIN_BLOCK, -(-n_samples // n_blocks))
    return -(-size // TILE) * TILE


def moment_floats(n_components, n_features, second_moment_shape):
    """float64 numbers a block accumulates for first and second moments.

    Parameters
    ----------
    n_components, n_features : int
    second_moment_shape : tuple of int
        Shape of one component's second moments: ``(D, D)`` for full and
        tied models, ``(1, D)`` diagonal, ``(1, 1)`` spherical, ``(0, D)`` none.

    Returns
    -------
    int
    """
    rows, columns = second_moment_shape
    return n_components * (1 + n_features + rows * columns)


def kernel_threads(n_samples):
    """Run the threaded kernels on no more threads than there are blocks.

    Waking idle threads costs far more than a one-block pass over small
    data. Results do not depend on the thread count either way.
    """
    return at_most_threads(-(-n_samples // block_size(n_samples)))


def at_most_threads(n_tasks):
    """Run the threaded kernels on no more threads than ``n_tasks``, nor than the cores other processes leave free.

    Never more than the number set before (``numba.set_num_threads``, or a
    cap from Dask or the command line); see :mod:`gmm_numba._kernels.free_cores`.
    The limit is settled on entering the ``with`` block.
    """
    return _ThreadLimit(n_tasks)


class _ThreadLimit:
    """The context manager of :func:`at_most_threads`: a class rather than a generator, since small data enters one
    before every kernel call (hundreds per ``select``)."""

    __slots__ = ("n_tasks", "before")

    def __init__(self, n_tasks):
        self.n_tasks = n_tasks
        self.before = None

    def __enter__(self):
        import numba

        before = numba.get_num_threads()
        wanted = max(1, min(before, self.n_tasks))
        if wanted > 1:
            wanted = max(1, min(wanted, free_cores()))
        if wanted != before:
            numba.set_num_threads(wanted)
            self.before = before

    def __exit__(self, *exc_info):
        if self.before is not None:
            import numba

            numba.set_num_threads(self.before)
            self.before = None
