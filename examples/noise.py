"""Outliers: a uniform noise component keeps scattered points from pulling the clusters apart.

Old Faithful with 10% of its rows added as uniform clutter over its
bounding box. Without a noise component, EM must explain the clutter with
Gaussian components, which widen (or spend a component on it); with
``noise=True`` a uniform component of density ``1 / V`` (``V`` mclust's
volume of the data's region) takes it, with its own weight, and the two
eruption clusters stay close to the fit on the clean data. The script
prints both fits against the clean one, compares mclust's box volume with
the convex hull's (``noise_volume="hull"``), fits the same data as a Dask
array (out of core: the same fit, chunk by chunk), selects the model with
noise by BIC, and plots the classification (noise rows as grey crosses).

Run:  python examples/noise.py [--out FOLDER] [--fast]
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # write files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba.datasets import load_faithful  # noqa: E402
from gmm_numba.plotting import plot_classification  # noqa: E402

NAME = "noise"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=NAME + "_output", help=f"folder for the figures (default {NAME}_output)")
    parser.add_argument("--fast", action="store_true", help="fewer models and starts (for the tests)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    clean = load_faithful()
    rng = np.random.default_rng(24)
    low, high = clean.min().to_numpy(), clean.max().to_numpy()
    clutter = pd.DataFrame(rng.uniform(low, high, size=(len(clean) // 10, 2)), columns=clean.columns)
    data = pd.concat([clean, clutter], ignore_index=True)

    options = dict(covariance_type="VVV", n_init=5, random_state=0, tol=1e-8, max_iter=1000)
    reference = gmm_numba.GaussianMixture(2, **options).fit(clean)
    plain = gmm_numba.GaussianMixture(2, **options).fit(data)
    noisy = gmm_numba.GaussianMixture(2, noise=True, **options).fit(data)
    for name, gm in (("clean data", reference), ("with clutter, no noise", plain), ("with clutter, noise", noisy)):
        print(f"{name:>24}: means {np.round(gm.means_, 2).tolist()}  weights {np.round(gm.weights_, 3).tolist()}")
    print(f"noise weight {noisy.noise_weight_:.3f} over volume V = {noisy.noise_volume_:.4g}; "
          f"{np.count_nonzero(noisy.predict(data) == -1)} rows labelled -1 (noise)")
    print(f"BIC without noise {plain.bic(data):.2f}, with noise {noisy.bic(data):.2f} (lower is better)")

    hull = gmm_numba.GaussianMixture(2, noise=True, noise_volume="hull", **options).fit(data)
    print(f"convex hull: V = {hull.noise_volume_:.4g} (the box's {noisy.noise_volume_:.4g}), noise weight "
          f"{hull.noise_weight_:.3f}, BIC {hull.bic(data):.2f}")
    try:
        import dask.array as da
    except ImportError:
        print("dask is not installed: skipping the out-of-core fit")
    else:
        lazy = da.from_array(data.to_numpy(), chunks=(100, 2))  # stands in for a larger-than-memory array
        out_of_core = gmm_numba.GaussianMixture(2, noise=True, **options).fit(lazy)
        labels = out_of_core.predict(lazy)  # lazy too: a Dask array
        gap = np.max(np.abs(out_of_core.means_ - noisy.means_))
        print(f"on Dask: means differ from the in-memory fit by {gap:.1e}; "
              f"{int((labels == -1).sum().compute())} rows labelled -1")

    quick = dict(n_components=range(1, 4), covariance_type=["EEI", "EEE", "VVV"], n_init=2) if args.fast else {}
    result = gmm_numba.select(data, noise=True, random_state=0, **quick)
    print(gmm_numba.describe(result))

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    plot_classification(gmm_numba.fit(data, 2, **options), data, ax=axes[0])
    axes[0].set_title("no noise component")
    plot_classification(result, data, ax=axes[1])
    selection = result["selection"]
    axes[1].set_title(f"noise component, BIC's choice: {selection.attrs['best_covariance_type']}, "
                      f"K = {selection.attrs['best_n_components']}")
    fig.tight_layout()
    path = os.path.join(args.out, "noise.png")
    fig.savefig(path, dpi=60 if args.fast else 120)
    plt.close(fig)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
