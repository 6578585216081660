"""Missing values: fit, score and impute a mixture when some entries are NaN.

Iris with a fraction of its entries (20% by default) deleted completely at random. Three ways to fit
a three-component mixture, each compared with the fit to the complete data:

* complete cases: drop every row with a hole (with 4 features and 20% holes, about 60% of the rows go);
* mean imputation: fill each hole with its column's mean, then fit (shrinks the covariances);
* ``missing="marginalize"``: EM on the observed-data likelihood, every row used for what it has.

Then ``impute`` fills the holes by their conditional expectation under the fitted mixture, compared
with the true values and with column means, and ``impute(..., n_draws=...)`` draws multiple
imputations.

Run:  python examples/missing_values.py [--fraction 0.2] [--out FOLDER] [--fast]
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # write files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gmm_numba import GaussianMixture  # noqa: E402
from gmm_numba.datasets import load_iris  # noqa: E402

NAME = "missing_values"


def distance(fit, reference):
    """How far a fit's means and covariances are from the reference fit's (components matched by their means)."""
    order = [int(np.argmin(((fit.means_ - m) ** 2).sum(axis=1))) for m in reference.means_]
    means = np.sqrt(((fit.means_[order] - reference.means_) ** 2).sum())
    covariances = np.sqrt(((fit.covariances_[order] - reference.covariances_) ** 2).sum())
    return means, covariances


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=float, default=0.2, help="fraction of entries deleted (default 0.2)")
    parser.add_argument("--out", default=NAME + "_output", help=f"folder for the figures (default {NAME}_output)")
    parser.add_argument("--fast", action="store_true", help="fewer starts and draws (for the tests)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    frame = load_iris().drop(columns="Species")
    X = frame.to_numpy()
    rng = np.random.default_rng(0)
    holes = rng.random(X.shape) < args.fraction
    holes[holes.all(axis=1), 0] = False  # keep one entry per row
    X_missing = np.where(holes, np.nan, X)
    n_complete = int((~holes.any(axis=1)).sum())
    print(f"{holes.sum()} of {X.size} entries deleted; {n_complete} of {len(X)} rows are complete")

    settings = {"n_components": 3, "covariance_type": "full", "n_init": 3 if args.fast else 10, "random_state": 0}
    reference = GaussianMixture(**settings).fit(X)
    fits = {
        "complete cases": GaussianMixture(**settings).fit(X_missing[~holes.any(axis=1)]),
        "mean imputation": GaussianMixture(**settings).fit(np.where(holes, np.nanmean(X_missing, axis=0), X)),
        'missing="marginalize"': GaussianMixture(**settings, missing="marginalize").fit(X_missing),
    }
    print("\ndistance to the complete-data fit      means   covariances")
    for name, fit in fits.items():
        means, covariances = distance(fit, reference)
        print(f"  {name:<34} {means:7.3f} {covariances:9.3f}")

    fitted = fits['missing="marginalize"']
    print(f"\nobserved-data log-likelihood per row: {fitted.score(X_missing):.4f}; "
          f"BIC {fitted.bic(X_missing):.1f}")
    imputed = fitted.impute(X_missing)
    assert np.array_equal(imputed[~holes], X[~holes])  # observed entries come back unchanged
    column_means = np.where(holes, np.nanmean(X_missing, axis=0), X)
    rmse_mixture = np.sqrt(np.mean((imputed[holes] - X[holes]) ** 2))
    rmse_means = np.sqrt(np.mean((column_means[holes] - X[holes]) ** 2))
    print(f"imputation error (RMSE over the holes): mixture {rmse_mixture:.3f}, column means {rmse_means:.3f}")

    n_draws = 20 if args.fast else 200
    draws = fitted.impute(X_missing, n_draws=n_draws, random_state=1)  # xarray, dims (draw, sample, feature)
    spread = draws.std("draw").values[holes]
    print(f"{n_draws} multiple imputations: the holes' conditional standard deviation is {spread.mean():.3f} "
          "on average")

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharex=True, sharey=True)
    for ax, (title, values) in zip(axes, (("column means", column_means), ("mixture (conditional mean)", imputed))):
        for j, name in enumerate(frame.columns):
            ax.scatter(X[holes[:, j], j], values[holes[:, j], j], s=12, label=name)
        low, high = X.min(), X.max()
        ax.plot([low, high], [low, high], color="grey", lw=1)
        ax.set_title(f"imputed by {title}")
        ax.set_xlabel("true value")
    axes[0].set_ylabel("imputed value")
    axes[1].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path = os.path.join(args.out, "imputation.png")
    fig.savefig(path, dpi=60 if args.fast else 120)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
