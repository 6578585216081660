"""Parameter uncertainty by the bootstrap, read with ArviZ.

:func:`gmm_numba.bootstrap` refits the mixture to reweighted data (the
weighted likelihood bootstrap by default, as mclust's MclustBootstrap)
and aligns the components of every draw to the fit's. The draws land in
the ``posterior`` group of the result, so ArviZ reads them like MCMC draws:
``az.summary`` gives means, standard deviations and intervals, and
``az.plot_forest`` draws them, with ArviZ 0.x and 1.x alike: both take
``gmm_numba.to_inference_data(result)``. (They are bootstrap draws, not a
Bayesian posterior: the usual MCMC diagnostics such as R-hat do not apply.)

The intervals: gmm_numba.summary reports 94% equal-tailed (percentile)
intervals. ArviZ 1.x reports the same when asked (``ci_kind="eti",
ci_prob=0.94``); ArviZ 0.x only has highest-density intervals, so its 94%
intervals differ a little.

Run:  python examples/uncertainty.py [--out FOLDER] [--fast]
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # write files only, no window
import arviz as az  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba.datasets import load_faithful  # noqa: E402
from gmm_numba.plotting import ellipse_points  # noqa: E402

NAME = "uncertainty"

ARVIZ_1 = int(az.__version__.split(".")[0]) >= 1

#: 94% intervals in az.summary and az.plot_forest: equal-tailed in ArviZ 1.x (as gmm_numba.summary's),
#: highest-density in 0.x (which has no other kind).
INTERVAL = {"ci_kind": "eti", "ci_prob": 0.94, "round_to": 3} if ARVIZ_1 else {"hdi_prob": 0.94, "round_to": 3}
FOREST = {"ci_kind": "eti", "ci_probs": (0.5, 0.94)} if ARVIZ_1 else {"hdi_prob": 0.94}


def save_forest(plot, path, title, dpi):
    """Save what ``az.plot_forest`` returned: a PlotCollection (ArviZ 1.x) or matplotlib Axes (0.x)."""
    if ARVIZ_1:
        plot.add_title(title)
        plot.savefig(path, dpi=dpi, bbox_inches="tight")
    else:
        figure = np.ravel(plot)[0].figure
        figure.suptitle(title)
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close("all")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=NAME + "_output", help=f"folder for the figures (default {NAME}_output)")
    parser.add_argument("--fast", action="store_true", help="20 bootstrap draws instead of 500 (for the tests)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    dpi = 60 if args.fast else 120

    X = load_faithful()
    fit = gmm_numba.fit(X, 2, covariance_type="full", n_init=5, random_state=0)
    boot = gmm_numba.bootstrap(fit, X, n_draws=20 if args.fast else 500, random_state=1)
    print(gmm_numba.describe(boot))
    print()
    print("gmm_numba.summary (bootstrap mean, sd and 94% equal-tailed interval):")
    print(gmm_numba.summary(boot, var_names=["weights", "means"]).round(3).to_string())

    idata = gmm_numba.to_inference_data(boot)
    print("\narviz.summary of the same draws:")
    print(az.summary(idata, var_names=["weights", "means"], kind="stats", **INTERVAL).to_string())

    # A forest plot per scale: the weights, then each mean on its own axis.
    panels = [("weights", {}, "weights")]
    panels += [("means", {"component": [k], "feature": [f]}, f"means_{k}_{f}") for f in X.columns for k in (0, 1)]
    forests = []
    for name, coords, what in panels:
        path = os.path.join(args.out, f"forest_{what}.png")
        title = f"Old Faithful, K = 2 (full): {what}, {boot.attrs['n_draws']} bootstrap draws, 94% intervals"
        save_forest(az.plot_forest(idata, var_names=[name], coords=coords, combined=True, **FOREST), path, title, dpi)
        forests.append(path)

    # The draws in data space: every draw's means and 1-sigma ellipses, over the data.
    post = boot["posterior"].to_dataset().stack(sample=("chain", "draw"))
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.scatter(X["eruptions"], X["waiting"], s=8, color="lightgrey")
    colors = plt.get_cmap("tab10")
    for k in post["component"].values:
        for s in range(min(post.sizes["sample"], 200)):
            mean = post["means"].values[k, :, s]
            cov = post["covariances"].values[k, :, :, s]
            pts = ellipse_points(mean, cov, 1)
            ax.plot(pts[:, 0], pts[:, 1], color=colors(k), alpha=0.08, linewidth=1)
        ax.scatter(post["means"].values[k, 0], post["means"].values[k, 1], s=4, color=colors(k))
    ax.set_xlabel("eruptions")
    ax.set_ylabel("waiting")
    ax.set_title("bootstrap draws: means, and 1 sigma ellipses of 200")
    draws = os.path.join(args.out, "draws.png")
    fig.savefig(draws, dpi=dpi, bbox_inches="tight")
    plt.close(fig)

    for path in (*forests, draws):
        print(f"wrote {path}")
    return [*forests, draws]


if __name__ == "__main__":
    main()
