"""EM step by step on Old Faithful: responsibilities, ellipses and the log-likelihood.

The classic illustration of EM (as in Bishop's *Pattern Recognition and
Machine Learning*, figure 9.8): the standardised Old Faithful data, a
two-component mixture started from deliberately poor means, and the state
after L = 1, 2, 5 and 20 iterations. Each point is coloured by its mix of
the two components (its responsibilities), each component drawn by its 1
and 2 standard-deviation ellipses. The mean log-likelihood per point, one
value per iteration, never decreases: EM guarantees it, and this script
checks it.

Run:  python examples/old_faithful_em.py [--out FOLDER] [--fast]
"""

import argparse
import os
import warnings

import matplotlib

matplotlib.use("Agg")  # write files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba.datasets import load_faithful  # noqa: E402
from gmm_numba.plotting import ellipse_points, plot_classification  # noqa: E402

NAME = "old_faithful_em"
STEPS = (1, 2, 5, 20)

#: The poor start: means in the two empty corners (across the long axis of the data),
#: unit covariances, equal weights.
START = {
    "weights_init": np.array([0.5, 0.5]),
    "means_init": np.array([[-1.5, 1.0], [1.5, -1.0]]),
    "precisions_init": np.stack([np.eye(2), np.eye(2)]),
}

COLORS = plt.get_cmap("tab10")


def standardised_faithful():
    frame = load_faithful()
    return (frame - frame.mean()) / frame.std(ddof=0)


def after(X, n_iter, callback=None):
    """The mixture after exactly ``n_iter`` EM iterations from :data:`START`."""
    gmm = gmm_numba.GaussianMixture(2, max_iter=n_iter, tol=0.0, callback=callback, **START)
    with warnings.catch_warnings():
        # tol=0 never "converges": stopping at max_iter is the point here
        warnings.simplefilter("ignore", gmm_numba.ConvergenceWarning)
        return gmm.fit(X)


def start_responsibilities(X):
    """p(k | x) under the starting parameters (unit covariances: plain squared distances)."""
    X = np.asarray(X)
    d2 = ((X[:, None, :] - START["means_init"][None]) ** 2).sum(axis=2)
    log_p = np.log(START["weights_init"]) - 0.5 * d2
    log_p -= log_p.max(axis=1, keepdims=True)
    p = np.exp(log_p)
    return p / p.sum(axis=1, keepdims=True)


def draw_start(ax, X):
    values = np.asarray(X)
    r = start_responsibilities(X)[:, :1]
    colors = r * np.array(COLORS(0)) + (1 - r) * np.array(COLORS(1))
    ax.scatter(values[:, 0], values[:, 1], s=12, c=np.clip(colors, 0, 1))
    for k, mean in enumerate(START["means_init"]):
        for n_sigma, style in ((1, "-"), (2, "--")):
            pts = ellipse_points(mean, np.eye(2), n_sigma)
            ax.plot(pts[:, 0], pts[:, 1], style, color=COLORS(k), linewidth=1.5)
        ax.plot(*mean, marker="x", color="black")
    ax.set_xlabel(X.columns[0])
    ax.set_ylabel(X.columns[1])
    ax.set_title("start")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=NAME + "_output", help=f"folder for the figures (default {NAME}_output)")
    parser.add_argument("--fast", action="store_true", help="a quicker, lower-resolution run (for the tests)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    dpi = 60 if args.fast else 120

    X = standardised_faithful()

    # One run, recording the mean log-likelihood of every iteration through the callback.
    trace = []
    n_trace = 30 if args.fast else 60
    after(X, n_trace, callback=lambda iteration, lower_bound, parameters: trace.append(lower_bound))
    trace = np.array(trace)
    drops = np.diff(trace)
    assert np.all(drops >= -1e-12 * np.abs(trace[1:])), f"the log-likelihood decreased: {drops.min():.3g}"
    print(f"mean log-likelihood per point: {trace[0]:.4f} at iteration 1 -> {trace[-1]:.4f} at {len(trace)}")
    print("it never decreased, as EM guarantees")

    # The state after L iterations: fitted again with max_iter=L (the same deterministic path).
    fig, axes = plt.subplots(2, 3, figsize=(13, 8), sharex=True, sharey=True)
    axes = axes.ravel()
    draw_start(axes[0], X)
    for ax, n_iter in zip(axes[1:], STEPS):
        gmm = after(X, n_iter)
        np.testing.assert_allclose(gmm.lower_bounds_, trace[:n_iter])  # same path as the traced run
        plot_classification(gmm.to_xarray(X), X, ax=ax, responsibilities=gmm.predict_proba(X))
        ax.set_title(f"L = {n_iter}")
    axes[-1].set_axis_off()
    trace_ax = fig.add_subplot(2, 3, 6)
    trace_ax.plot(np.arange(1, len(trace) + 1), trace, marker=".")
    trace_ax.set_xlabel("iteration")
    trace_ax.set_ylabel("mean log-likelihood per point")
    trace_ax.set_title("never decreases")
    fig.suptitle("EM on standardised Old Faithful, K = 2, from a poor start")
    fig.tight_layout()
    panels = os.path.join(args.out, "em_iterations.png")
    fig.savefig(panels, dpi=dpi)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(trace) + 1), trace, marker="o", markersize=3)
    for n_iter in STEPS:
        ax.axvline(n_iter, color="grey", linewidth=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("iteration (log scale)")
    ax.set_ylabel("mean log-likelihood per point")
    ax.set_title("EM log-likelihood trace (grey: the iterations shown)")
    fig.tight_layout()
    trace_png = os.path.join(args.out, "log_likelihood.png")
    fig.savefig(trace_png, dpi=dpi)
    plt.close(fig)
    for path in (panels, trace_png):
        print(f"wrote {path}")
    return [panels, trace_png]


if __name__ == "__main__":
    main()
