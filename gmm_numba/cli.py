"""The ``gmm-numba`` command line (also ``python -m gmm_numba``)."""

import argparse
import os
import sys
import time

DEMO_FOLDER = "gmm-numba-demo"


class UserError(Exception):
    """A mistake in the command line or the input files: one line, exit status 2."""


# ------------------------------------------------------------------ reading
def read_table(path, columns=None, drop_nan=False):
    """Read CSV, .npy, netCDF, zarr or Parquet into a DataFrame of numeric columns.

    Parameters
    ----------
    path : str
    columns : list of str, optional
        Columns to keep (default: every column, which must then be numeric).
    drop_nan : bool
        Drop rows holding NaN instead of refusing them.

    Returns
    -------
    pandas.DataFrame
    """
    import numpy as np
    import pandas as pd

    if not os.path.exists(path):
        raise UserError(f"{path}: no such file or folder")
    lower = path.lower().rstrip("/")
    try:
        if lower.endswith(".npy"):
            arr = np.load(path, allow_pickle=False)
            if arr.ndim != 2:
                raise UserError(f"{path}: expected a 2-D array, got shape {arr.shape}")
            frame = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
        elif lower.endswith((".nc", ".nc4", ".netcdf", ".zarr")):
            import xarray as xr

            engine = "zarr" if lower.endswith(".zarr") else None
            with xr.open_dataset(path, engine=engine) as ds:
                frame = ds.to_dataframe().reset_index(drop=True)
        elif lower.endswith(".parquet"):
            try:
                frame = pd.read_parquet(path)
            except ImportError:
                raise UserError("reading Parquet needs pyarrow: pip install pyarrow") from None
        else:
            frame = pd.read_csv(path)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{path}: could not read it ({type(exc).__name__}: {exc})") from None
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise UserError(
                f"{path}: unknown column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}"
            )
        frame = frame[columns]
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise UserError(f"{path}: column {column!r} is not numeric; choose numeric columns with --columns")
    bad = ~np.isfinite(frame.to_numpy(dtype=float)).all(axis=1)
    if bad.any():
        if not drop_nan:
            raise UserError(
                f"{path}: {int(bad.sum())} row(s) hold NaN or infinite values "
                f"(first: row {int(np.flatnonzero(bad)[0])}); "
                "pass --drop-nan to drop them"
            )
        frame = frame[~bad]
    if frame.shape[0] == 0:
        raise UserError(f"{path}: no rows to fit")
    return frame


def _ks(text):
    try:
        if "-" in text:
            lo, hi = text.split("-", 1)
            return list(range(int(lo), int(hi) + 1))
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range like 1-9 or a list like 2,3,5, got {text!r}") from None


def _check_output(path, overwrite):
    if os.path.exists(path) and not overwrite:
        raise UserError(f"{path} exists; pass --overwrite to replace it")


# ----------------------------------------------------------------- commands
def _progress():
    if not sys.stderr.isatty():
        return None

    def report(done, total, description):
        width = 30
        filled = int(width * done / total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {description:<20}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return report


def _sweep(frame, args, out_file, plot_dir):
    from . import select, summary
    from .summary import describe

    started = time.perf_counter()
    result = select(
        frame,
        n_components=args.components,
        covariance_type=args.covariance_types,
        criterion=args.criterion,
        n_init=args.n_init,
        random_state=args.seed,
        progress=_progress(),
    )
    table = result["selection"].to_dataset()[args.criterion].to_pandas()
    print(f"{args.criterion.upper()} (lower is better; rows: covariance model, columns: number of components)")
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    sel = result["selection"].attrs
    print(
        f"\nChosen: {sel['best_covariance_type']} with {sel['best_n_components']} components "
        f"({time.perf_counter() - started:.1f} s)\n"
    )
    print(describe(result))
    print()
    print(summary(result).to_string(float_format=lambda v: f"{v:.4g}"))
    if out_file:
        result.to_netcdf(out_file)
        print(f"\nWrote {out_file}")
    if plot_dir:
        _plots(result, frame, plot_dir)
    return result


def _plots(result, frame, folder):
    try:
        from .plotting import _pyplot, plot_classification, plot_criterion

        plt = _pyplot()
    except ImportError as exc:
        print(f"No plots: {exc}")
        return
    os.makedirs(folder, exist_ok=True)
    ax = plot_criterion(result)
    path = os.path.join(folder, "criterion.png")
    ax.figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(ax.figure)
    print(f"Wrote {path}")
    if frame.shape[1] >= 2:
        ax = plot_classification(result, frame)
        path = os.path.join(folder, "classification.png")
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(ax.figure)
        print(f"Wrote {path}")


def cmd_demo(args):
    from .datasets import load_faithful

    folder = args.output
    result_file = os.path.join(folder, "faithful.nc")
    if os.path.exists(result_file) and not args.overwrite:
        raise UserError(f"{result_file} exists; pass --overwrite or choose another --output folder")
    os.makedirs(folder, exist_ok=True)
    print("Old Faithful (272 eruptions: duration and waiting time, minutes).")
    print("The first run compiles the Numba kernels (about a minute); later runs take seconds.\n")
    _sweep(load_faithful(), args, result_file, folder)


def cmd_fit(args):
    frame = read_table(args.data, args.columns, args.drop_nan)
    if args.output:
        _check_output(args.output, args.overwrite)
    _sweep(frame, args, args.output, args.plots)


def cmd_predict(args):
    import pandas as pd

    from .estimator import GaussianMixture
    from .results import load

    _check_output(args.output, args.overwrite) if args.output else None
    try:
        tree = load(args.model)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    features = [str(f) for f in tree["posterior"]["feature"].values]
    named = int(tree.attrs.get("named_features", 0))
    frame = read_table(args.data, args.columns or (features if named else None), args.drop_nan)
    estimator = GaussianMixture.from_xarray(tree)
    if frame.shape[1] != estimator.n_features_in_:
        raise UserError(f"{args.data}: {frame.shape[1]} columns, but the model has {estimator.n_features_in_} features")
    values = frame.to_numpy(dtype=float)
    proba = estimator.predict_proba(values)
    out = pd.DataFrame(proba, columns=[f"p{k}" for k in range(proba.shape[1])], index=frame.index)
    out.insert(0, "label", proba.argmax(axis=1))
    if args.output:
        out.to_csv(args.output, index_label="row")
        print(f"Wrote {args.output}")
    else:
        out.to_csv(sys.stdout, index_label="row")


def cmd_summary(args):
    from .results import load
    from .summary import describe, summary

    try:
        tree = load(args.model)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(describe(tree))
    print()
    print(summary(tree).to_string(float_format=lambda v: f"{v:.4g}"))


def _sweep_options(parser):
    parser.add_argument(
        "--components",
        "-k",
        type=_ks,
        default=list(range(1, 10)),
        metavar="K",
        help="numbers of components: a range like 1-9 (default) or a list like 2,3,5",
    )
    parser.add_argument(
        "--covariance-types",
        nargs="+",
        default=["full", "tied", "diag", "spherical"],
        metavar="MODEL",
        help="covariance models (scikit-learn or mclust names)",
    )
    parser.add_argument("--criterion", choices=["bic", "aic", "icl"], default="bic")
    parser.add_argument("--n-init", type=int, default=5, help="initialisations per cell (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def build_parser():
    parser = argparse.ArgumentParser(prog="gmm-numba", description="Gaussian mixture models by EM, fast.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="model selection on the bundled Old Faithful data")
    demo.add_argument("--output", default=DEMO_FOLDER, help=f"folder for the result and plots (default {DEMO_FOLDER})")
    _sweep_options(demo)
    demo.set_defaults(func=cmd_demo)

    fit = sub.add_parser("fit", help="choose and fit a mixture to DATA (CSV, .npy, netCDF, zarr, Parquet)")
    fit.add_argument("data")
    fit.add_argument("--columns", nargs="+", help="columns to use (default: all)")
    fit.add_argument("--drop-nan", action="store_true", help="drop rows with NaN instead of stopping")
    fit.add_argument("--output", "-o", help="write the result (netCDF) here")
    fit.add_argument("--plots", help="write PNG plots into this folder")
    _sweep_options(fit)
    fit.set_defaults(func=cmd_fit)

    predict = sub.add_parser("predict", help="labels and probabilities for DATA from a saved MODEL.nc (CSV)")
    predict.add_argument("model")
    predict.add_argument("data")
    predict.add_argument("--columns", nargs="+")
    predict.add_argument("--drop-nan", action="store_true")
    predict.add_argument("--output", "-o", help="CSV file (default: standard output)")
    predict.add_argument("--overwrite", action="store_true")
    predict.set_defaults(func=cmd_predict)

    summary = sub.add_parser("summary", help="print the summary of a saved MODEL.nc")
    summary.add_argument("model")
    summary.set_defaults(func=cmd_summary)
    return parser


def main(argv=None):
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"gmm-numba: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gmm-numba: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError) as exc:
        print(f"gmm-numba: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
