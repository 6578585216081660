"""What two threads can gain on this machine right now, for comparison.

On a shared VM the two virtual CPUs are sometimes scheduled on hardware that
the host shares (with each other or with other guests), and then no code
scales to two threads, however well it is written. :func:`reference_seconds`
times a loop that cannot scale worse than perfectly for any reason of its
own: every thread works on its own rows, in the level-1 cache, with the
kind of vector arithmetic the E-step does (512-bit fused multiply-adds),
and shares nothing. Timed next to the kernel, on 1 and on 2 threads, its
speed-up is the ceiling of the moment.
"""

import time

import numpy as np
from numba import njit, prange

#: Rows of 1,024 float64 (8 KB, in the level-1 cache) and polynomial passes over each row.
ROWS, COLUMNS, PASSES = 256, 1024, 60


@njit(parallel=True, fastmath=True, cache=True)
def _polynomial_passes(rows, passes):
    """Evaluate a polynomial in place over every row, ``passes`` times; one row per task."""
    totals = np.zeros(rows.shape[0])
    for r in prange(rows.shape[0]):
        values = rows[r].copy()
        for _ in range(passes):
            for i in range(values.size):
                x = values[i]
                values[i] = ((((x * 0.5 + 0.25) * x + 0.125) * x + 0.0625) * x + 0.03) * 0.999
        totals[r] = values.sum()
    return totals.sum()


def reference_rows():
    """The input of :func:`reference_seconds`: array of shape (ROWS, COLUMNS), float64 in [0, 1)."""
    return np.random.default_rng(0).random((ROWS, COLUMNS))


def reference_seconds(rows):
    """Wall time of one run of the reference loop on the current Numba thread count.

    Parameters
    ----------
    rows : array of shape (ROWS, COLUMNS)
        From :func:`reference_rows`.

    Returns
    -------
    float
    """
    started = time.perf_counter()
    _polynomial_passes(rows, PASSES)
    return time.perf_counter() - started
