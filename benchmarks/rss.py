"""Peak resident-set-size readings based on ``resource.getrusage``.

``ru_maxrss`` is the high-water mark of the resident set of the calling
process (all its threads), in KiB on Linux.  Unlike :mod:`tracemalloc` it
sees memory allocated by compiled code (Numba kernels, BLAS, oneDAL).  Since
it can only grow, each measurement runs in a fresh process: the mark is read
once before the measured call (baseline) and once after it (peak).
"""

import resource
import sys

METHOD = "resource.getrusage(RUSAGE_SELF).ru_maxrss in a fresh subprocess"


def peak_rss_mib():
    """Return the peak resident set size of this process so far.

    Returns
    -------
    float
        High-water mark of the resident set size, in MiB.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0
    return peak / scale


def measure_peak(call):
    """Run ``call()`` and report how far it raised the peak resident set size.

    Parameters
    ----------
    call : callable
        Function without arguments; its return value is discarded.

    Returns
    -------
    dict
        ``baseline_mib`` (peak before the call), ``peak_mib`` (peak after it)
        and ``extra_mib`` (their difference, the memory the call needed on
        top of everything the process already held).
    """
    baseline = peak_rss_mib()
    call()
    peak = peak_rss_mib()
    return {"baseline_mib": baseline, "peak_mib": peak, "extra_mib": peak - baseline}
