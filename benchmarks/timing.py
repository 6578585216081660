"""Per-iteration timing of EM fits by differencing two iteration counts.

A fit of ``n`` EM iterations costs roughly ``setup + n * per_iteration``;
timing ``n_short`` and ``n_long`` iterations and taking the difference of the
median wall times removes the set-up (input checks, initialisation, final
E-step) from the estimate.  Only the standard library is used so that the
oneDAL worker can import this module from its own virtual environment.
"""

import statistics
import time


def _timed(run, n_iter):
    """Call ``run(n_iter)`` and return ``(seconds, result)``."""
    start = time.perf_counter()
    result = run(n_iter)
    return time.perf_counter() - start, result


def per_iteration_time(run, n_short, n_long, min_repeats=3, max_repeats=15, min_seconds=2.0):
    """Estimate the wall time of one EM iteration.

    The two iteration counts are timed alternately after one untimed warm-up
    call (which compiles JIT kernels and touches the data).  Repeats continue
    past ``min_repeats`` until ``min_seconds`` have been spent or
    ``max_repeats`` is reached, so fast peers get more samples for free.

    Parameters
    ----------
    run : callable
        ``run(n_iter)`` fits from the fixed start for exactly ``n_iter``
        iterations and returns a JSON-serialisable summary of the fit.
    n_short, n_long : int
        Iteration counts to difference, ``n_long > n_short >= 1``.
    min_repeats, max_repeats : int
        Bounds on the number of timed pairs.
    min_seconds : float
        Time budget after which no further pairs are started once
        ``min_repeats`` pairs are done.

    Returns
    -------
    dict
        ``per_iter_s`` (difference of the medians divided by
        ``n_long - n_short``), ``paired_min_s``/``paired_max_s`` (range of the
        per-pair estimates, a noise indicator), ``warmup_s``, the raw
        ``short_s`` and ``long_s`` lists, the iteration counts, and
        ``result``, the summary returned by the last ``n_long`` fit.
    """
    if not 1 <= n_short < n_long:
        raise ValueError(f"need 1 <= n_short < n_long, got {n_short}, {n_long}")
    warmup_s, _ = _timed(run, n_short)
    short, long_, result = [], [], None
    started = time.perf_counter()
    while len(short) < max_repeats:
        if len(short) >= min_repeats and time.perf_counter() - started >= min_seconds:
            break
        seconds, _ = _timed(run, n_short)
        short.append(seconds)
        seconds, result = _timed(run, n_long)
        long_.append(seconds)
    span = n_long - n_short
    paired = [(b - a) / span for a, b in zip(short, long_)]
    return {
        "per_iter_s": (statistics.median(long_) - statistics.median(short)) / span,
        "paired_min_s": min(paired),
        "paired_max_s": max(paired),
        "warmup_s": warmup_s,
        "short_s": short,
        "long_s": long_,
        "n_short": n_short,
        "n_long": n_long,
        "repeats": len(short),
        "result": result,
    }
