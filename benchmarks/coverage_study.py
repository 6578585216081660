"""Coverage of bootstrap intervals, by simulation.

Draw many data sets from a known, well-separated two-component mixture in
two dimensions, fit each, bootstrap it (both methods), and count how often
the equal-tailed 94% interval of every parameter contains the true value.
Also compare the bootstrap standard errors with the spread of the point
estimates over the replicate data sets (the standard error they estimate).

Prints a Markdown table::

    python benchmarks/coverage_study.py                      # 200 replicates x 200 draws
    python benchmarks/coverage_study.py --replicates 20 --draws 40   # quick look
"""

import argparse
import sys
import time

import numba
import numpy as np

import gmm_numba

#: The true mixture: components listed by their first mean (as gmm_numba lists them).
TRUE_WEIGHTS = np.array([0.4, 0.6])
TRUE_MEANS = np.array([[-3.0, 0.0], [3.0, 1.0]])
TRUE_COVS = np.array([[[1.0, 0.3], [0.3, 0.8]], [[0.7, -0.2], [-0.2, 1.2]]])
PROB = 0.94
METHODS = ("wlbs", "nonparametric")
GROUPS = ("weights", "means", "covariances")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200, help="simulated data sets (default 200)")
    parser.add_argument("--draws", type=int, default=200, help="bootstrap draws per data set (default 200)")
    parser.add_argument("--n-samples", type=int, default=300, help="rows per data set (default 300)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    return parser.parse_args(argv)


def draw_data(rng, n_samples):
    """One data set from the true mixture, shape (n_samples, 2)."""
    z = rng.choice(2, size=n_samples, p=TRUE_WEIGHTS)
    X = np.empty((n_samples, 2))
    for k in range(2):
        X[z == k] = rng.multivariate_normal(TRUE_MEANS[k], TRUE_COVS[k], size=int(np.sum(z == k)))
    return X


def flat_parameters(weights, means, covariances):
    """Weights, means and covariance upper triangles side by side (last axis), with group labels."""
    iu = np.triu_indices(2)
    parts = {
        "weights": weights,
        "means": means.reshape(*means.shape[:-2], -1),
        "covariances": covariances[..., iu[0], iu[1]].reshape(*covariances.shape[:-3], -1),
    }
    labels = np.concatenate([[g] * parts[g].shape[-1] for g in GROUPS])
    return np.concatenate([parts[g] for g in GROUPS], axis=-1), labels


def one_replicate(rep, args):
    """Point estimate, and per method: interval bounds and bootstrap standard errors."""
    rng = np.random.default_rng([args.seed, rep])
    X = draw_data(rng, args.n_samples)
    fit = gmm_numba.fit(X, 2, random_state=rep, n_init=2)
    post = fit["posterior"]
    point, _ = flat_parameters(
        post["weights"].values[0, 0], post["means"].values[0, 0], post["covariances"].values[0, 0]
    )
    out = {"point": point, "ordered": bool(np.all(np.diff(post["means"].values[0, 0, :, 0]) > 0))}
    q = [(1 - PROB) / 2, 1 - (1 - PROB) / 2]
    for method in args.methods:
        boot = gmm_numba.bootstrap(
            fit, X, args.draws, method=method, random_state=np.random.default_rng([args.seed, rep, 1])
        )
        bp = boot["posterior"]
        draws, _ = flat_parameters(bp["weights"].values[0], bp["means"].values[0], bp["covariances"].values[0])
        lo, hi = np.quantile(draws, q, axis=0)
        out[method] = {"lo": lo, "hi": hi, "sd": draws.std(axis=0, ddof=1), "failed": boot.attrs["n_failed_draws"]}
    return out


def table(results, args, truth, labels, seconds):
    points = np.array([r["point"] for r in results])
    empirical_sd = points.std(axis=0, ddof=1)
    lines = [
        f"Coverage of equal-tailed {PROB:.0%} bootstrap intervals: K=2, D=2, N={args.n_samples}, "
        f"{len(results)} replicate data sets, {args.draws} draws each ({seconds:.0f} s).",
        "",
        "| method | parameters | intervals | coverage | MC s.e. | range over parameters | sd ratio | failed draws |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for method in args.methods:
        lo = np.array([r[method]["lo"] for r in results])
        hi = np.array([r[method]["hi"] for r in results])
        sd = np.array([r[method]["sd"] for r in results])
        failed = sum(r[method]["failed"] for r in results)
        hit = (lo <= truth) & (truth <= hi)
        for group in GROUPS:
            cols = labels == group
            h = hit[:, cols]
            per_param = h.mean(axis=0)
            p = h.mean()
            ratio = np.median(sd[:, cols].mean(axis=0) / empirical_sd[cols])
            lines.append(
                f"| {method} | {group} | {h.size} | {p:.3f} | {np.sqrt(p * (1 - p) / h.size):.3f} | "
                f"{per_param.min():.3f}-{per_param.max():.3f} | {ratio:.2f} | {failed} |"
            )
    lines += [
        "",
        "coverage: share of intervals containing the true value (nominal 0.94). MC s.e.: binomial "
        "standard error of that share (intervals of one data set are correlated, so it is optimistic). "
        "sd ratio: mean bootstrap standard error over the standard deviation of the point estimates "
        "across data sets (median over the parameters of the group; 1 is ideal). Weights list both "
        "components (they sum to 1); covariances list the upper triangle.",
    ]
    if not all(r["ordered"] for r in results):
        lines.append(f"Warning: {sum(not r['ordered'] for r in results)} fits listed components out of order.")
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    numba.set_num_threads(1)  # small data: one thread is fastest, and leaves a core free
    truth, labels = flat_parameters(TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVS)
    started = time.perf_counter()
    results = []
    for rep in range(args.replicates):
        results.append(one_replicate(rep, args))
        if (rep + 1) % 20 == 0:
            print(f"  {rep + 1}/{args.replicates} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    print(table(results, args, truth, labels, time.perf_counter() - started))


if __name__ == "__main__":
    main()
