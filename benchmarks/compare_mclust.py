"""Compare gmm_numba.select with R's mclust, cell by cell (for humans; not run by CI).

    apt-get install -y r-cran-mclust                 # once, as root
    python benchmarks/compare_mclust.py              # runs compare_mclust.R itself
    python benchmarks/compare_mclust.py --mclust-csv mclust_cells.csv --restarts 50 --out cmp.md

For Old Faithful and iris (Species dropped), every cell (covariance model,
K = 1..9) of ``gmm_numba.select(X, covariance_type=("full", "tied", "diag",
"spherical"))`` against mclust's VVV, EEE, VVI and VII. mclust's BIC and ICL
are ``2 log L - p log n``; ours are their negatives, so the table shows
``ΔBIC = BIC_gmm_numba + BIC_mclust`` (positive: gmm_numba's fit is worse).

A cell whose |ΔBIC| exceeds ``--threshold`` gets a note: which side found
the higher log-likelihood and, with ``--restarts N``, the best of N random
restarts of gmm_numba.GaussianMixture (degenerate runs excluded, as select
excludes them), which tells a local optimum from a convergence difference.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import pandas as pd

import gmm_numba
from gmm_numba import FitError, GaussianMixture
from gmm_numba.datasets import load_faithful, load_iris
from gmm_numba.selection.collapse import collapse_check

HERE = os.path.dirname(os.path.abspath(__file__))
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def datasets():
    """The two data sets, as mclust sees them (``faithful``, ``iris[, 1:4]``)."""
    return {"faithful": load_faithful(), "iris": load_iris().drop(columns="Species")}


def mclust_cells(path=None):
    """mclust's table: read ``path`` or run compare_mclust.R into a temporary folder."""
    if path is not None:
        return pd.read_csv(path)
    if shutil.which("Rscript") is None:
        sys.exit("Rscript not found: apt-get install -y r-cran-mclust, or pass --mclust-csv.")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["Rscript", os.path.join(HERE, "compare_mclust.R"), tmp], check=True)
        return pd.read_csv(os.path.join(tmp, "mclust_cells.csv"))


def our_cells(X, name, **options):
    """gmm_numba.select's table as rows (dataset, covariance_type, n_components, ...)."""
    sel = gmm_numba.select(X, n_components=range(1, 10), covariance_type=COVARIANCE_TYPES, **options)
    frame = sel["selection"].to_dataset()[["log_likelihood", "bic", "icl", "n_parameters", "error"]]
    frame = frame.to_dataframe().reset_index()
    frame.insert(0, "dataset", name)
    return frame


def best_of_restarts(X, cov_type, k, n_restarts):
    """Best non-degenerate log-likelihood of ``n_restarts`` random_from_data runs, tol=1e-8."""
    values = np.asarray(X, dtype=np.float64)
    check = collapse_check(1e-6, values.var(axis=0), list(X.columns))
    best = -np.inf
    for seed in range(n_restarts):
        gm = GaussianMixture(
            k, covariance_type=cov_type, tol=1e-8, max_iter=10_000, init_params="random_from_data", random_state=seed
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gm.fit(values)
        except FitError:
            continue
        if not check(gm._parameters):
            best = max(best, gm.score(values) * len(values))
    return best


#: Below this difference in log-likelihood, both sides sit on the same optimum
#: and differ only in where their EM stopped (mclust's default tolerance is
#: 1e-5 relative change of log L; select's is 1e-6 change of the mean).
SAME_OPTIMUM = 0.1


def explain(row, threshold):
    """A note for one cell: failures and, above the threshold, who found the higher optimum."""
    if row["error"]:
        return f"gmm_numba failed: {row['error'][:80]}"
    if np.isnan(row["mclust_bic"]):
        return "mclust: singular (NA)"
    if abs(row["delta_bic"]) <= threshold:
        return ""
    higher = "gmm_numba" if row["delta_ll"] > 0 else "mclust"
    if abs(row["delta_ll"]) < SAME_OPTIMUM:
        note = f"same optimum, {higher} converged further"
    else:
        note = f"different local optimum, {higher}'s higher"
    if "restarts_best" in row and np.isfinite(row["restarts_best"]):
        note += f"; best of restarts {row['restarts_best']:.3f}"
    return note


def compare(mclust, options, threshold, restarts):
    data = datasets()
    ours = pd.concat([our_cells(X, name, **options) for name, X in data.items()], ignore_index=True)
    table = ours.merge(mclust, on=["dataset", "covariance_type", "n_components"], suffixes=("", "_mclust"))
    if not np.array_equal(table["n_parameters"], table["n_parameters_mclust"]):
        raise AssertionError("parameter counts differ from mclust's nMclustParams")
    table["delta_bic"] = table["bic"] + table["mclust_bic"]
    table["delta_icl"] = table["icl"] + table["mclust_icl"]
    table["delta_ll"] = table["log_likelihood"] - table["log_likelihood_mclust"]
    if restarts:
        flagged = table["delta_bic"].abs() > threshold
        table["restarts_best"] = np.nan
        for index in table.index[flagged]:
            row = table.loc[index]
            table.loc[index, "restarts_best"] = best_of_restarts(
                data[row["dataset"]], row["covariance_type"], int(row["n_components"]), restarts
            )
    table["note"] = [explain(row, threshold) for _, row in table.iterrows()]
    return table


def markdown(table):
    """The table as GitHub markdown (numbers rounded for reading)."""
    columns = {
        "dataset": "data",
        "mclust_model": "mclust",
        "n_components": "K",
        "bic": "BIC gmm_numba",
        "mclust_bic": "BIC mclust",
        "delta_bic": "ΔBIC",
        "log_likelihood": "log L gmm_numba",
        "log_likelihood_mclust": "log L mclust",
        "delta_ll": "Δlog L",
        "delta_icl": "ΔICL",
        "note": "note",
    }
    digits = {"bic": 3, "mclust_bic": 3, "delta_bic": 4, "log_likelihood": 4, "log_likelihood_mclust": 4}
    digits.update(delta_ll=4, delta_icl=4)
    lines = ["| " + " | ".join(columns.values()) + " |", "|" + "---|" * len(columns)]
    for _, row in table.iterrows():
        cells = [f"{row[c]:.{digits[c]}f}" if c in digits else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mclust-csv", help="mclust_cells.csv from compare_mclust.R (default: run it)")
    parser.add_argument("--n-init", type=int, default=None, help="select's n_init (default: select's default)")
    parser.add_argument("--tol", type=float, default=None, help="select's tol (default: select's default)")
    parser.add_argument("--init-params", default=None)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=0.01, help="|ΔBIC| above which a cell gets a note")
    parser.add_argument("--restarts", type=int, default=0, help="random restarts to run for the flagged cells")
    parser.add_argument("--out", help="also write the table (markdown) here")
    args = parser.parse_args(argv)
    options = {"random_state": args.random_state}
    for name in ("n_init", "tol", "init_params"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    table = compare(mclust_cells(args.mclust_csv), options, args.threshold, args.restarts)
    text = markdown(table)
    print(text)
    flagged = table["delta_bic"].abs() > args.threshold
    print(f"\n{int(flagged.sum())} of {len(table)} cells differ by more than {args.threshold} in BIC.")
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
