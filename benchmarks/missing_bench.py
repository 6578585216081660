"""One EM iteration with missing entries against one on complete data (issue 21, item 5).

    python benchmarks/missing_bench.py                         # 10^6 x 8, K = 8, full, 10% missing
    python benchmarks/missing_bench.py --n 200000 --fraction 0.2 --covariance diag

Same data (a well-separated mixture), same parameters (the true ones perturbed), same run: the median
over ``--repeats`` of one iteration (E-step statistics plus the M-step) on the complete data
(``InMemoryData``, today's path) and on the same data with ``--fraction`` of the entries set to NaN
completely at random (``MissingData``: complete rows through the fused kernel, the others sorted by
pattern). Also timed: the one pass that looks for NaN before a ``missing="marginalize"`` fit of data
without any (the only cost that data pays). The machine's load is printed with every row: these
2-core machines are shared.
"""

import argparse
import os
import statistics
import time

import numpy as np

from gmm_numba.covariance import get_model
from gmm_numba.data.in_memory import InMemoryData
from gmm_numba.data.missing import MissingData, has_nan
from gmm_numba.data.statistics import SufficientStatistics
from gmm_numba.fitting.parameters import m_step


def make_data(n, d, k, seed=0):
    """A well-separated mixture and its (perturbed) parameters."""
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(k, d)) * 8.0
    covs = []
    for _ in range(k):
        q, _ = np.linalg.qr(rng.normal(size=(d, d)))
        covs.append(q @ np.diag(rng.uniform(0.25, 1.0, d)) @ q.T)
    covs = np.array(covs)
    labels = rng.integers(0, k, size=n)
    X = np.empty((n, d))
    for j in range(k):
        rows = labels == j
        X[rows] = rng.multivariate_normal(means[j], covs[j], size=int(rows.sum()))
    return X, np.full(k, 1.0 / k), means + rng.normal(scale=0.1, size=means.shape), covs


def time_iteration(data, params, reg, repeats):
    """Median seconds of one iteration (E-step statistics and M-step), each iteration's, and the E-steps' median."""
    times, e_steps = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        stats = data.em_statistics(params)
        e_steps.append(time.perf_counter() - start)
        m_step(params.model, stats, reg, previous=params.covariances)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, statistics.median(e_steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=8)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--covariance", default="full")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    X, weights, means, covs = make_data(args.n, args.d, args.k)
    model = get_model(args.covariance)
    # the model's M-step on statistics whose scatters are the true covariances: parameters in its form
    stats = SufficientStatistics(float(args.k), np.nan, np.nan, np.ones(args.k), np.zeros_like(means), covs, means)
    params = m_step(model, stats, 0.0)
    reg = 1e-6
    rng = np.random.default_rng(1)
    holes = X.copy()
    holes[rng.random(X.shape) < args.fraction] = np.nan
    holes = holes[~np.isnan(holes).all(axis=1)]
    complete = InMemoryData(X)
    missing = MissingData(holes)
    print(f"data: {args.n} x {args.d}, K = {args.k}, {args.covariance}, {args.fraction:.0%} of entries missing: "
          f"{missing.n_incomplete} incomplete rows in {len(missing.masks)} patterns")
    for data in (complete, missing):  # compile and warm up
        time_iteration(data, params, reg, 1)
    print(f"load before: {os.getloadavg()}")
    # interleaved, so that the other jobs of a shared machine weigh on both alike
    runs = {complete: ([], []), missing: ([], [])}
    for _ in range(args.repeats):
        for data, (totals, e_steps) in runs.items():
            _, (total,), e_step = time_iteration(data, params, reg, 1)
            totals.append(total)
            e_steps.append(e_step)
    (all_complete, e_all_complete), (all_missing, e_all_missing) = runs.values()
    t_complete, e_complete = statistics.median(all_complete), statistics.median(e_all_complete)
    t_missing, e_missing = statistics.median(all_missing), statistics.median(e_all_missing)
    start = time.perf_counter()
    has_nan(X)
    t_check = time.perf_counter() - start
    print(f"load after: {os.getloadavg()}")
    print(f"complete data, one iteration: {1e3 * t_complete:.1f} ms (median of {args.repeats}: "
          f"{', '.join(f'{1e3 * t:.0f}' for t in all_complete)})")
    print(f"{args.fraction:.0%} missing, one iteration: {1e3 * t_missing:.1f} ms "
          f"({', '.join(f'{1e3 * t:.0f}' for t in all_missing)})")
    print(f"ratio: {t_missing / t_complete:.2f}x (goal: at most 3x); E-steps alone {1e3 * e_complete:.1f} ms and "
          f"{1e3 * e_missing:.1f} ms, {e_missing / e_complete:.2f}x (an iterative M-step may take more inner "
          "iterations on the expected statistics)")
    print(f"NaN check of complete data before a marginalize fit: {1e3 * t_check:.1f} ms, once per fit")


if __name__ == "__main__":
    main()
