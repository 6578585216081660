"""Draw docs/images/covariance_models.png: each of mclust's fourteen covariance models fitted to Old Faithful.

    python docs/images/covariance_models.py

One panel per model (K = 3, the data standardised so that both axes have unit variance), with each
component's 1 and 2 sigma ellipses; the panel title gives the model, its parameter count and its BIC.
"""

import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba.covariance import get_model, mclust_names  # noqa: E402
from gmm_numba.datasets import load_faithful  # noqa: E402
from gmm_numba.plotting import ellipse_points  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURE = os.path.join(HERE, "covariance_models.png")


def fits(n_components=3):
    """``{model: fitted GaussianMixture}`` on standardised Old Faithful, and the data."""
    X = load_faithful()
    X = (X - X.mean()) / X.std()
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in mclust_names():
            out[name] = gmm_numba.GaussianMixture(
                n_components, covariance_type=name, n_init=10, tol=1e-8, max_iter=2000, random_state=0
            ).fit(X)
    return out, X


def main(path=FIGURE):
    models, X = fits()
    fig, axes = plt.subplots(2, 7, figsize=(21, 6.4), sharex=True, sharey=True)
    for ax, (name, gm) in zip(axes.ravel(), models.items()):
        ax.scatter(X.iloc[:, 0], X.iloc[:, 1], s=3, color="0.6")
        full = gm._parameters.full_covariances()
        for k, mean in enumerate(gm.means_):
            for n_sigma, style in ((1, "-"), (2, "--")):
                points = ellipse_points(mean, full[k], n_sigma)
                ax.plot(points[:, 0], points[:, 1], style, color=f"C{k}", linewidth=1.2)
        p = get_model(name).n_parameters(3, 2)
        ax.set_title(f"{name}: {p} parameters, BIC {gm.bic(X):.0f}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("mclust's fourteen covariance models on Old Faithful (standardised), K = 3", fontsize=13)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
