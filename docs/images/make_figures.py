"""Draw the README's figure, docs/images/faithful.png, from today's code.

Left: BIC by number of components, a line per covariance model (``plot_criterion``); right: the
chosen mixture over the data (``plot_classification``). The numbers the figure shows are written
beside it, to faithful.json; tests/test_docs.py recomputes them and fails when the figure is stale.

Run:  python docs/images/make_figures.py
"""

import json
import os

import matplotlib

matplotlib.use("Agg")  # write files only, no window
import matplotlib.pyplot as plt  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba.datasets import load_faithful  # noqa: E402
from gmm_numba.plotting import plot_classification, plot_criterion  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURE = os.path.join(HERE, "faithful.png")
NUMBERS = os.path.join(HERE, "faithful.json")


def faithful_selection():
    """The sweep the figure shows: the README's, K = 1..9, the four models, BIC, seed 0."""
    return gmm_numba.select(load_faithful(), n_components=range(1, 10), random_state=0)


def shown_numbers(result):
    """What the figure shows: every cell's BIC, the chosen cell, and the chosen mixture's means and weights."""
    selection = result["selection"]
    post = result["posterior"]
    return {
        "bic": {str(m): [float(v) for v in selection["bic"].sel(covariance_type=m).values]
                for m in selection["covariance_type"].values},
        "n_components": [int(k) for k in selection["n_components"].values],
        "chosen": [selection.attrs["best_covariance_type"], int(selection.attrs["best_n_components"])],
        "weights": post["weights"].values[0, 0].tolist(),
        "means": post["means"].values[0, 0].tolist(),
    }


def draw(result, path):
    """The two panels side by side, written to ``path``."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    plot_criterion(result, ax=axes[0])
    plot_classification(result, load_faithful(), ax=axes[1])
    axes[1].set_title(f"chosen: {result.attrs['covariance_type']}, K={result.attrs['n_components']} (1 and 2 sigma)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main():
    result = faithful_selection()
    draw(result, FIGURE)
    with open(NUMBERS, "w", encoding="utf-8") as handle:
        json.dump(shown_numbers(result), handle, indent=1)
        handle.write("\n")
    print(f"wrote {FIGURE} and {NUMBERS}")


if __name__ == "__main__":
    main()
