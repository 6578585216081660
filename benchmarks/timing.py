"""Per-iteration timing of EM fits by differencing two iteration counts.

A fit of ``n`` EM iterations costs roughly ``setup + n * per_iteration``;
timing ``n_short`` and ``n_long`` iterations and taking the difference of the
median wall times removes the set-up (input checks, initialisation, final
E-step) from the estimate.  Only the standard library is used so that the
oneDAL worker can import this module from its own virtual environment.
"""

import statistics
import time

from .contention import CpuMonitor


def _timed(run, n_iter):
    """Call ``run(n_iter)`` and return ``(seconds, result)``."""
    start = time.perf_counter()
    result = run(n_iter)
    return time.perf_counter() - start, result


def _n_iter(result):
    """Iterations a fit reports having run (``None`` if it does not say)."""
    return result.get("n_iter") if isinstance(result, dict) else None


def _clean_count(shares, contention_limit):
    """Number of pairs during which other processes stayed under the limit."""
    if contention_limit is None:
        return len(shares)
    return sum(1 for share in shares if share is None or share <= contention_limit)


def _select_pairs(shares, contention_limit, min_repeats):
    """Indices of the pairs to keep: the uncontended ones if there are enough."""
    if contention_limit is None:
        return list(range(len(shares)))
    clean = [i for i, share in enumerate(shares) if share is None or share <= contention_limit]
    return clean if len(clean) >= min_repeats else list(range(len(shares)))


def per_iteration_time(run, n_short, n_long, min_repeats=3, max_repeats=15, min_seconds=2.0, contention_limit=None):
    """Estimate the wall time of one EM iteration.

    The two iteration counts are timed alternately, as pairs, after one
    untimed warm-up call (which compiles JIT kernels and touches the data).
    Pairs continue past ``min_repeats`` until ``min_seconds`` have been spent
    or ``max_repeats`` is reached, so fast peers get more samples for free.
    With ``contention_limit`` set, pairs during which other processes used
    more than that share of the CPUs do not count towards ``min_repeats``
    and are dropped from the medians (unless too few clean pairs remain).

    Parameters
    ----------
    run : callable
        ``run(n_iter)`` fits from the fixed start for exactly ``n_iter``
        iterations and returns a JSON-serialisable summary of the fit.
    n_short, n_long : int
        Iteration counts to difference, ``n_long > n_short >= 1``.
    min_repeats, max_repeats : int
        Bounds on the number of (clean) timed pairs.
    min_seconds : float
        Time budget after which no further pairs are started once
        ``min_repeats`` clean pairs are done.
    contention_limit : float, optional
        Largest acceptable share of the CPUs used by other processes during
        a pair (see :class:`benchmarks.contention.CpuMonitor`).

    Returns
    -------
    dict
        ``per_iter_s`` (difference of the medians divided by
        ``n_long - n_short``), ``paired_min_s``/``paired_max_s`` (range of the
        per-pair estimates, a noise indicator), ``warmup_s``, the raw
        ``short_s``/``long_s`` lists with each pair's ``foreign_share`` and
        the ``used_pairs``, the iteration counts, ``iterations_ok`` (every
        timed fit reported the ``n_iter`` it was asked for) and ``result``,
        the summary returned by the last ``n_long`` fit.
    """
    if not 1 <= n_short < n_long:
        raise ValueError(f"need 1 <= n_short < n_long, got {n_short}, {n_long}")
    warmup_s, _ = _timed(run, n_short)
    short, long_, shares, iterations, result = [], [], [], set(), None
    monitor = CpuMonitor()
    started = time.perf_counter()
    while len(short) < max_repeats:
        enough = _clean_count(shares, contention_limit) >= min_repeats
        if enough and time.perf_counter() - started >= min_seconds:
            break
        monitor.reset()
        seconds, short_result = _timed(run, n_short)
        short.append(seconds)
        seconds, result = _timed(run, n_long)
        long_.append(seconds)
        iterations.update({(n_short, _n_iter(short_result)), (n_long, _n_iter(result))})
        shares.append(monitor.foreign_share())
    used = _select_pairs(shares, contention_limit, min_repeats)
    span = n_long - n_short
    paired = [(long_[i] - short[i]) / span for i in used]
    return {
        "per_iter_s": (statistics.median(long_[i] for i in used) - statistics.median(short[i] for i in used)) / span,
        "paired_min_s": min(paired),
        "paired_max_s": max(paired),
        "warmup_s": warmup_s,
        "short_s": short,
        "long_s": long_,
        "foreign_share": shares,
        "used_pairs": used,
        "iterations_ok": all(ran in (None, asked) for asked, ran in iterations),
        "n_short": n_short,
        "n_long": n_long,
        "repeats": len(short),
        "result": result,
    }
