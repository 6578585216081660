"""Peak resident-set-size readings of the current process.

The peak (high-water mark) of the resident set counts memory allocated by
compiled code too (Numba kernels, BLAS, oneDAL), which :mod:`tracemalloc`
misses.  It can only grow, so each measurement runs in a fresh process: the
mark is read once before the measured call (baseline) and once after it.

Linux's ``VmHWM`` line of ``/proc/self/status`` is used.  The obvious
alternative, ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, is wrong here: a
child started by fork/exec inherits its parent's high-water mark, so every
subprocess of the benchmark would start at the size of the benchmark process.
``ru_maxrss`` remains the fallback where /proc is unavailable.
"""

import resource
import sys
from pathlib import Path

METHOD = "VmHWM of /proc/self/status (peak RSS) in a fresh subprocess"


def _vmhwm_kib(path="/proc/self/status"):
    """Return VmHWM in KiB, or ``None`` if /proc is unavailable."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mib():
    """Return the peak resident set size of this process so far.

    Returns
    -------
    float
        High-water mark of the resident set size, in MiB.
    """
    kib = _vmhwm_kib()
    if kib is not None:
        return kib / 1024.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def reset_peak_rss(path="/proc/self/clear_refs"):
    """Reset this process's peak RSS (VmHWM) to its current RSS, where Linux allows it.

    Writing ``5`` to ``/proc/self/clear_refs`` (Linux 4.0 and later) resets
    the high-water mark, so that a later :func:`measure_peak` is not masked
    by an earlier, higher peak (JIT compilation, data generation).

    Returns
    -------
    bool
        Whether the reset succeeded.
    """
    try:
        Path(path).write_text("5")
    except OSError:
        return False
    return True


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
