"""Model selection at default settings: gmm_numba.select against R's Mclust(), same data, same run.

    python benchmarks/select_speed.py                       # all data sets (the large ones take minutes)
    python benchmarks/select_speed.py --datasets faithful iris --repeats 3
    python benchmarks/select_speed.py --datasets iris --repeats 9 --interleave   # the steadier ratio

For each data set: the median wall time of ``gmm_numba.select(X, n_components=range(1, 10))`` at its
defaults and of ``Mclust(X, G = 1:9)`` at its defaults (through ``Rscript`` when it is installed:
``apt-get install -y r-cran-mclust``; the R side is skipped otherwise), their ratio, both chosen models,
and how many cells each side fitted better (log-likelihoods compared through the BICs, which share
the parameter count: mclust's BIC is ``2 log L - p log n``, ours ``-2 log L + p log n``). The machine's
load (``os.getloadavg``) is printed with every row: these 2-core machines are shared.

With ``--interleave`` the two sides alternate call by call (each ``Rscript`` after one untimed warm-up
call), so that both see the same minutes of a machine whose speed drifts; the row then also gives the
median of the per-pair ratios.
"""

import argparse
import os
import shutil
import subprocess
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

import gmm_numba
from gmm_numba.covariance import get_model
from gmm_numba.datasets import load_faithful, load_iris

HERE = os.path.dirname(os.path.abspath(__file__))


def blobs(n, d, k, seed):
    """``n`` rows in ``d`` dimensions from ``k`` well-separated Gaussian blobs with random covariances."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    labels = rng.integers(0, k, size=n)
    factors = rng.normal(size=(k, d, d)) / np.sqrt(d) + np.eye(d)
    X = centres[labels] + np.einsum("nij,nj->ni", factors[labels], rng.normal(size=(n, d)))
    return pd.DataFrame(X, columns=[f"x{i}" for i in range(d)])


DATASETS = {
    "faithful": load_faithful,
    "iris": lambda: load_iris().drop(columns="Species"),
    "synthetic 1000x2": lambda: blobs(1_000, 2, 3, 1),
    "synthetic 10000x5": lambda: blobs(10_000, 5, 4, 2),
    "synthetic 100000x5": lambda: blobs(100_000, 5, 4, 3),
    "synthetic 100000x10": lambda: blobs(100_000, 10, 5, 4),
}


def time_ours(X, repeats, options):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = gmm_numba.select(X, n_components=range(1, 10), random_state=0, **options)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def time_mclust(X, repeats, models=None, warmups=0):
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data, out = os.path.join(tmp, "data.csv"), os.path.join(tmp, "cells.csv")
        pd.DataFrame(np.asarray(X, dtype=float)).to_csv(data, index=False)
        command = ["Rscript", os.path.join(HERE, "select_mclust.R"), data, out, str(repeats)]
        if models:
            command.append(",".join(models))
            command.append(str(warmups))
        subprocess.run(command, check=True)
        return pd.read_csv(out)


def mclust_names_of(result):
    """mclust's names of the models in ``result``'s table."""
    models = result["selection"]["covariance_type"].values
    return [get_model(m).aliases[0] if get_model(m).aliases else m for m in models]


def time_interleaved(X, repeats):
    """Both sides alternately, ``repeats`` calls each: our median, result, mclust's cells (their ``seconds`` the
    median) and the median of the per-pair ratios mclust / ours; mclust's cells are None without ``Rscript``."""
    ours, theirs, result, cells = [], [], None, None
    for _ in range(repeats):
        seconds, result = time_ours(X, 1, {})
        ours.append(seconds)
        cells = time_mclust(X, 1, mclust_names_of(result), warmups=1)
        if cells is None:
            return float(np.median(ours)), result, None, None
        theirs.append(float(cells["seconds"].iloc[0]))
    cells = cells.assign(seconds=float(np.median(theirs)))
    return float(np.median(ours)), result, cells, float(np.median(np.array(theirs) / np.array(ours)))


def compare_cells(result, cells, n):
    """``(better, worse)``: cells where our log-likelihood is above / below mclust's by more than 1e-6 relative."""
    ours = result["selection"]["log_likelihood"].to_pandas()
    better = worse = 0
    for row in cells.itertuples():
        if not np.isfinite(row.mclust_bic):
            continue
        name = row.mclust_model
        # the table names a model as select was given it: mclust's name, or the model's own
        model = next((m for m in (name, get_model(name).name) if m in ours.index), None)
        if model is None:
            continue
        ll = ours.loc[model, row.n_components]
        p = get_model(name).n_parameters(row.n_components, result["posterior"].sizes["feature"])
        mclust_ll = (row.mclust_bic + p * np.log(n)) / 2
        if not np.isfinite(ll):
            worse += 1
        elif ll > mclust_ll + 1e-6 * abs(mclust_ll):
            better += 1
        elif ll < mclust_ll - 1e-6 * abs(mclust_ll):
            worse += 1
    return better, worse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-mclust", action="store_true")
    parser.add_argument("--interleave", action="store_true", help="alternate the two sides call by call")
    args = parser.parse_args(argv)
    gmm_numba.select(load_faithful(), n_components=[1, 2], n_init=2, random_state=0)  # compile first
    rows = []
    for name in args.datasets:
        X = DATASETS[name]()
        if args.interleave and not args.no_mclust:
            ours, result, cells, pair_ratio = time_interleaved(X, args.repeats)
        else:
            ours, result = time_ours(X, args.repeats, {})
            cells = None if args.no_mclust else time_mclust(X, args.repeats, mclust_names_of(result))
            pair_ratio = None
        attrs = result["selection"].attrs
        row = {
            "data": f"{name} ({X.shape[0]} x {X.shape[1]})",
            "gmm_numba s": round(ours, 3),
            "chosen": f"{attrs['best_covariance_type']} K={attrs['best_n_components']}",
        }
        if cells is not None:
            theirs = float(cells["seconds"].iloc[0])
            better, worse = compare_cells(result, cells, X.shape[0])
            row.update({
                "mclust s": round(theirs, 3),
                "mclust / gmm_numba": round(theirs / ours, 3),
                **({} if pair_ratio is None else {"median pair ratio": round(pair_ratio, 3)}),
                "mclust chose": f"{cells['chosen_model'].iloc[0]} K={cells['chosen_k'].iloc[0]}",
                "cells better / worse": f"{better} / {worse}",
            })
        row["load"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    print()
    print(pd.DataFrame(rows).to_markdown(index=False) if _has_tabulate() else pd.DataFrame(rows).to_string())


def _has_tabulate():
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
