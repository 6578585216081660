"""Choosing the number of components and the covariance model by BIC (and ICL).

:func:`gmm_numba.select` fits every (covariance model, K) pair, with the
same initialisations shared by the four models, and keeps the one with
the lowest criterion. This script draws the BIC and ICL curves, prints the
table, and shows the chosen mixture. On Old Faithful, BIC chooses three
components with a common ("tied", mclust's EEE) covariance, as mclust does;
ICL, which also penalises overlapping components, prefers two.

On iris (``--data iris``) the species are known, so the script also
cross-tabulates them against the chosen clustering.

Run:  python examples/choosing_k.py [--data faithful|iris] [--out FOLDER] [--fast]
"""

import argparse
import os

import matplotlib

matplotlib.use("Agg")  # write files only, no window
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba.datasets import load_faithful, load_iris  # noqa: E402
from gmm_numba.plotting import plot_classification, plot_criterion  # noqa: E402

NAME = "choosing_k"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["faithful", "iris"], default="faithful")
    parser.add_argument("--out", default=NAME + "_output", help=f"folder for the figures (default {NAME}_output)")
    parser.add_argument("--fast", action="store_true", help="K = 1..4 and two starts per K (for the tests)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    species = None
    if args.data == "iris":
        frame = load_iris()
        species = frame.pop("Species")
        shown = ("Petal.Length", "Petal.Width")
    else:
        frame = load_faithful()
        shown = ("eruptions", "waiting")

    quick = {"n_components": range(1, 5), "n_init": 2} if args.fast else {}  # default: K = 1..9, 20 starts
    result = gmm_numba.select(frame, criterion="bic", random_state=0, **quick)

    selection = result["selection"].to_dataset()
    print(gmm_numba.describe(result))  # the whole BIC table, failed and unconverged cells, the chosen fit
    best = (selection.attrs["best_covariance_type"], selection.attrs["best_n_components"])
    print(f"\nBIC chooses {best[0]} with K = {best[1]}")
    icl = selection["icl"].stack(cell=("covariance_type", "n_components"))
    icl_best = icl.idxmin("cell").item()
    print(f"ICL would choose {icl_best[0]} with K = {icl_best[1]}")

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    plot_criterion(result, ax=axes[0])
    plot_criterion(result, criterion="icl", ax=axes[1])
    fig.tight_layout()
    curves = os.path.join(args.out, "criteria.png")
    fig.savefig(curves, dpi=60 if args.fast else 120)
    plt.close(fig)

    ax = plot_classification(result, frame, features=shown)
    ax.set_title(f"BIC's choice: {best[0]}, K = {best[1]} (1 and 2 sigma ellipses)")
    chosen = os.path.join(args.out, "chosen_model.png")
    ax.figure.savefig(chosen, dpi=60 if args.fast else 120, bbox_inches="tight")
    plt.close(ax.figure)

    if species is not None:
        labels = gmm_numba.GaussianMixture.from_xarray(result).predict(frame)
        print("\nspecies against the chosen clustering:")
        print(pd.crosstab(species, pd.Series(labels, name="component")).to_string())

    for path in (curves, chosen):
        print(f"wrote {path}")
    return [curves, chosen]


if __name__ == "__main__":
    main()
