"""Semi-supervised fitting: a few labelled rows anchor the components.

Iris with the species of 15 rows (5 per species) known and the other 135
unknown. ``GaussianMixture(semi_supervised=True).fit(X, y)`` keeps the
labelled rows in their component (``y`` holds 0, 1, 2 for them and -1 for
the others) and estimates the rest by EM, as mclust's ``MclustSSC``: the
components come out in the order of the labels, so component k is species
k. The script compares the fit with the unsupervised one, fits the same
rows as a Dask array (out of core: the same fit, chunk by chunk), picks
the covariance model by BIC with ``select(X, y=...)``, and plots the result.

Run:  python examples/semi_supervised.py [--out FOLDER] [--fast]
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # write files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba.datasets import load_iris  # noqa: E402
from gmm_numba.plotting import plot_classification  # noqa: E402

NAME = "semi_supervised"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=NAME + "_output", help=f"folder for the figures (default {NAME}_output)")
    parser.add_argument("--fast", action="store_true", help="fewer models (for the tests)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    frame = load_iris()
    species = pd.Categorical(frame.pop("Species"))
    y = np.full(len(frame), -1)
    known = np.arange(0, len(frame), 10)  # rows 0, 10, ..., 140: five of each species
    y[known] = species.codes[known]

    ssc = gmm_numba.GaussianMixture(3, covariance_type="EEE", semi_supervised=True, tol=1e-8).fit(frame, y)
    agree = np.mean(ssc.predict(frame) == species.codes)
    print(f"semi-supervised EEE: {agree:.1%} of the rows in their species' component "
          f"(component k = {', '.join(f'{k}: {name}' for k, name in enumerate(species.categories))})")
    try:
        import dask.array as da
    except ImportError:
        print("dask is not installed: skipping the out-of-core fit")
    else:
        lazy = da.from_array(frame.to_numpy(), chunks=(40, 4))  # stands in for a larger-than-memory array
        out_of_core = gmm_numba.GaussianMixture(3, covariance_type="EEE", semi_supervised=True, tol=1e-8).fit(lazy, y)
        print(f"on Dask: means differ from the in-memory fit by {np.max(np.abs(out_of_core.means_ - ssc.means_)):.1e}")
    plain = gmm_numba.GaussianMixture(3, covariance_type="EEE", random_state=0, n_init=5).fit(frame)
    print(pd.crosstab(species, plain.predict(frame), rownames=["species"], colnames=["unsupervised component"]))

    models = ["EEE", "VEV", "VVV"] if args.fast else None
    result = gmm_numba.select(frame, n_components=3, y=y, **({"covariance_type": models} if models else {}))
    print(gmm_numba.describe(result))

    ax = plot_classification(result, frame, features=("Petal.Length", "Petal.Width"))
    ax.scatter(frame["Petal.Length"].iloc[known], frame["Petal.Width"].iloc[known], s=60, facecolors="none",
               edgecolors="black", label="labelled rows")
    ax.legend(loc="upper left")
    ax.set_title("select(X, y=...): BIC's model with 15 labelled rows")
    path = os.path.join(args.out, "semi_supervised.png")
    ax.figure.savefig(path, dpi=60 if args.fast else 120)
    plt.close(ax.figure)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
