"""The ``gmm-numba`` command line (also ``python -m gmm_numba``).

Commands
--------
demo      model selection on the bundled Old Faithful data, with plots
fit       choose and fit a mixture to a data file (CSV, .npy, netCDF, zarr, Parquet)
predict   labels and probabilities for a data file from a saved model (CSV)
summary   print a saved model

Mistakes in the command line or the input files end with one line on
standard error, ``gmm-numba: error: ...``, and exit status 2 (``--debug``
shows the traceback instead). No file is ever replaced without
``--overwrite``, and every output path is checked before any work starts.
"""

import argparse
import os
import sys
import time
import warnings

DEMO_FOLDER = "gmm-numba-demo"

#: Files a sweep writes into its plot folder.
PLOT_FILES = ("criterion.png", "classification.png")

#: Suffixes read through xarray (netCDF) and as zarr stores.
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
ZARR_SUFFIXES = (".zarr",)

#: Most values of K one ``--components`` may list (a typo like 1-1000000000 would exhaust memory).
MAX_COMPONENT_VALUES = 1000

#: Rows used to compile (or load from the cache) the kernels before a sweep.
WARM_UP_ROWS = 64


class UserError(Exception):
    """A mistake in the command line or the input files: one line, exit status 2."""


def _one_line(text):
    """``text`` on one line (multi-line messages, such as a list of reasons, joined by '; ')."""
    lines = [line.strip() for line in str(text).splitlines()]
    lines = [line[2:].strip() if line.startswith("- ") else line for line in lines]  # list bullets
    lines = [line for line in lines if line]
    if not lines:
        return ""
    out = lines[0]
    for line in lines[1:]:
        out += (" " if out.endswith(":") else "; ") + line
    return out


# ------------------------------------------------------------------ reading
class Table:
    """Data read from a file.

    Attributes
    ----------
    frame : pandas.DataFrame
        Numeric columns, rows with NaN dropped (when asked); the index is the
        0-based row number in the file.
    named : bool
        Whether the column names came from the file (CSV header, Parquet,
        netCDF variables) rather than being generated (``x0, x1, ...`` for .npy).
    """

    def __init__(self, frame, named):
        self.frame = frame
        self.named = named

    @property
    def data(self):
        """What to fit: the DataFrame when it has real names, else its values (float32 stays float32)."""
        return self.frame if self.named else self.frame.to_numpy()


def _split_names(values):
    """Names given as ``a b`` or ``a,b`` (or both)."""
    if values is None:
        return None
    return [name for value in values for name in value.split(",") if name]


def _generated(n):
    return [f"x{i}" for i in range(n)]


def _read_npy(path):
    import numpy as np
    import pandas as pd

    arr = np.load(path, allow_pickle=False)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise UserError(f"{path}: expected a 2-D array (samples x features), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise UserError(f"{path}: the array holds {arr.dtype} values, not numbers")
    return pd.DataFrame(arr, columns=_generated(arr.shape[1])), False


def _read_xarray(path, zarr):
    import importlib.util

    import xarray as xr

    if zarr and importlib.util.find_spec("zarr") is None:
        raise UserError("reading zarr needs the zarr package: pip install zarr")
    with xr.open_dataset(path, engine="zarr" if zarr else None) as ds:
        return _dataset_frame(ds.load(), path)


def _dataset_frame(ds, path):
    """A Dataset as a frame: 1-D variables sharing a dimension, or one 2-D (sample, feature) variable."""
    import pandas as pd

    variables = [str(v) for v in ds.data_vars]
    if not variables:
        hint = ""
        if ds.attrs.get("format") == "gmm_numba.mixture":
            hint = " (it is a gmm_numba model: use it with `gmm-numba predict` or `gmm-numba summary`)"
        raise UserError(f"{path}: no data variables to read{hint}")
    one_d = [v for v in variables if ds[v].ndim == 1]
    dims = {ds[v].dims for v in one_d}
    if len(one_d) == len(variables) and len(dims) == 1:
        return pd.DataFrame({v: ds[v].values for v in variables}), True
    two_d = [v for v in variables if ds[v].ndim == 2]
    if len(two_d) == 1 and len(variables) == 1:
        da = ds[two_d[0]]
        sample_dim = "sample" if "sample" in da.dims else da.dims[0]
        feature_dim = next(d for d in da.dims if d != sample_dim)
        da = da.transpose(sample_dim, feature_dim)
        if feature_dim in da.coords:
            return pd.DataFrame(da.values, columns=[str(v) for v in da[feature_dim].values]), True
        return pd.DataFrame(da.values, columns=_generated(da.shape[1])), False
    shapes = ", ".join(f"{v}{ds[v].dims}" for v in variables)
    raise UserError(
        f"{path}: cannot tell samples from features among {shapes}; store 1-D variables that share one "
        "dimension, or a single 2-D (sample, feature) variable"
    )


def _read_frame(path):
    """``(frame, named, line_offset)``: line_offset turns a row index into a line of a text file."""
    import pandas as pd

    lower = path.lower().rstrip("/\\")
    if lower.endswith(".npy"):
        return (*_read_npy(path), None)
    if lower.endswith(NETCDF_SUFFIXES):
        return (*_read_xarray(path, zarr=False), None)
    if lower.endswith(ZARR_SUFFIXES):
        return (*_read_xarray(path, zarr=True), None)
    if lower.endswith(".parquet") or lower.endswith(".pq"):
        try:
            return pd.read_parquet(path), True, None
        except ImportError:
            raise UserError("reading Parquet needs pyarrow: pip install pyarrow") from None
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder; expected a CSV, .npy, netCDF (.nc), zarr (.zarr) or Parquet file")
    sep = "\t" if lower.endswith((".tsv", ".tab", ".tsv.gz")) else ","
    return pd.read_csv(path, sep=sep), True, 2


def _first_bad_value(series):
    """The first entry of a non-numeric column that is not a number, as ``(position, value)``."""
    import pandas as pd

    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if not bad.any():
        return None
    position = int(bad.to_numpy().nonzero()[0][0])
    return position, series.iloc[position]


def read_table(path, columns=None, drop_nan=False):
    """Read CSV, .npy, netCDF, zarr or Parquet into a :class:`Table` of numeric columns.

    Parameters
    ----------
    path : str
    columns : list of str, optional
        Columns to keep, in this order (default: every column, which must then be numeric).
    drop_nan : bool
        Drop rows holding NaN (or infinity) instead of refusing them.

    Returns
    -------
    Table

    Raises
    ------
    UserError
        A missing or unreadable file, an unknown or non-numeric column, rows
        with NaN (unless ``drop_nan``), or no rows left.
    """
    import numpy as np
    import pandas as pd

    if not os.path.exists(path):
        raise UserError(f"{path}: no such file or folder")
    try:
        frame, named, line_offset = _read_frame(path)
    except UserError:
        raise
    except Exception as exc:  # pandas, numpy, netCDF4 and zarr raise many types for unreadable files
        raise UserError(f"{path}: could not read it ({type(exc).__name__}: {_one_line(exc)})") from None
    frame.columns = [str(c) for c in frame.columns]
    frame = frame.reset_index(drop=True)

    def where(position):
        return f"line {position + line_offset}" if line_offset else f"row {position}"

    if columns:
        repeated = sorted({c for c in columns if columns.count(c) > 1})
        if repeated:
            raise UserError(f"--columns names {', '.join(map(repr, repeated))} more than once; give each column once")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise UserError(
                f"{path}: no column {', '.join(map(repr, missing))}; its columns are {', '.join(frame.columns)}"
            )
        frame = frame[columns]
    if frame.shape[0] == 0:
        raise UserError(f"{path}: no rows to use (the file holds no data rows)")
    for column in frame.columns:
        series = frame[column]
        if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
            others = [c for c in frame.columns if c != column and pd.api.types.is_numeric_dtype(frame[c])]
            bad = _first_bad_value(series)
            detail = f" ({where(bad[0])} holds {bad[1]!r})" if bad else ""
            hint = f"; pick numeric columns with --columns, e.g. --columns {' '.join(others)}" if others else ""
            raise UserError(f"{path}: column {column!r} is not numeric{detail}{hint}")
    if frame.shape[1] == 0:
        raise UserError(f"{path}: no columns to use")
    bad = ~np.isfinite(frame.to_numpy(dtype=np.float64, na_value=np.nan)).all(axis=1)
    if bad.any():
        if not drop_nan:
            raise UserError(
                f"{path}: {int(bad.sum())} of {frame.shape[0]} row(s) hold NaN or infinite values "
                f"(first: {where(int(np.flatnonzero(bad)[0]))}); pass --drop-nan to leave them out"
            )
        frame = frame[~bad]
    if frame.shape[0] == 0:
        raise UserError(f"{path}: no rows to use" + (" after dropping those with NaN" if bad.any() else ""))
    return Table(frame, named)


# ------------------------------------------------------------ output paths
def _check_new_file(path, overwrite, what="output"):
    """Refuse a path that exists (unless ``overwrite``), is a folder, or lies in a missing or read-only folder."""
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder; give a file name for the {what}")
    if os.path.exists(path) and not overwrite:
        raise UserError(f"{path} exists; pass --overwrite to replace it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UserError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UserError(f"{path}: cannot write into {folder}")


def _check_folder(folder, files, overwrite):
    """A folder that may be created, and whose ``files`` may be written."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise UserError(f"{folder} exists and is not a folder")
    if os.path.isdir(folder):
        if not os.access(folder, os.W_OK):
            raise UserError(f"cannot write into {folder}")
        taken = [name for name in files if os.path.exists(os.path.join(folder, name))]
        if taken and not overwrite:
            raise UserError(
                f"{folder} already holds {', '.join(taken)}; pass --overwrite to replace, or choose another folder"
            )
    else:
        parent = os.path.dirname(os.path.abspath(folder))
        while not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
            raise UserError(f"cannot create the folder {folder}: {parent} is not writable")


def _check_suffix(path, suffixes, what):
    if not path.lower().endswith(suffixes):
        raise UserError(f"{path}: {what}: give a name ending in {' or '.join(suffixes)}")


def _write(path, writer, overwrite):
    """Write through a temporary file in the same folder, then move it into place.

    A failure or an interruption leaves no half-written file behind.
    """
    if os.path.exists(path) and not overwrite:  # it may have appeared while we worked
        raise UserError(f"{path} exists; pass --overwrite to replace it")
    folder, name = os.path.split(os.path.abspath(path))
    stem, suffix = os.path.splitext(name)
    temporary = os.path.join(folder, f".{stem}.{os.getpid()}.partial{suffix}")
    try:
        writer(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    print(f"Wrote {path}")


# ---------------------------------------------------------------- progress
class Progress:
    """A one-line progress bar on standard error, drawn only when it is a terminal.

    Call it as ``progress(done, total, description)``; it is the
    ``progress`` callback of :func:`gmm_numba.select`.
    """

    def __init__(self, label, stream=None, enabled=None):
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.started = time.perf_counter()
        self._width = 0

    def __call__(self, done, total, description=""):
        if not self.enabled:
            return
        bar = 24
        filled = int(bar * done / max(total, 1))
        text = (
            f"{self.label} [{'#' * filled}{'.' * (bar - filled)}] {done}/{total} "
            f"{description}  {time.perf_counter() - self.started:.1f} s"
        )
        self.stream.write("\r" + text.ljust(self._width))
        self._width = max(self._width, len(text))
        if done >= total:
            self.finish()
        self.stream.flush()

    def finish(self):
        """End the line (once)."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def warm_up(X, covariance_types):
    """Compile the kernels for ``X``'s dtype (or load them from Numba's on-disk cache).

    A tiny fit per covariance model on the first rows; failures are left to
    the real fit to report.

    Returns
    -------
    float
        Seconds taken.
    """
    from .estimator import GaussianMixture
    from .selection import select

    started = time.perf_counter()
    sample = X.iloc[:WARM_UP_ROWS] if hasattr(X, "iloc") else X[:WARM_UP_ROWS]
    progress = Progress("kernels")
    steps = list(covariance_types) + ["predict"]
    progress(0, len(steps), "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, step in enumerate(steps):
            try:
                if step == "predict":
                    GaussianMixture(1, max_iter=1).fit(sample).predict(sample)
                else:
                    select(
                        sample,
                        n_components=[1, 2],
                        covariance_type=step,
                        n_init=2,  # select's first start is k-means++, the others random rows
                        max_iter=2,
                        random_state=0,
                        allow_degenerate=True,
                    )
            except Exception:  # noqa: BLE001  (bad data or settings: the real fit says what is wrong)
                pass
            progress(i + 1, len(steps), str(step))
    progress.finish()
    return time.perf_counter() - started


# ----------------------------------------------------------------- commands
def _format_selection(selection):
    """The criterion table of a selection (rows: covariance model, columns: K), best starred, failures listed."""
    import numpy as np
    import pandas as pd

    criterion = selection.attrs["criterion"]
    values = selection[criterion].values
    errors = selection["error"].values
    best = (selection.attrs["best_covariance_type"], int(selection.attrs["best_n_components"]))
    models = [str(m) for m in selection["covariance_type"].values]
    ks = [int(k) for k in selection["n_components"].values]
    cells = [
        [
            "failed" if not np.isfinite(values[i, j]) else f"{values[i, j]:.2f}" + ("*" if (model, k) == best else " ")
            for j, k in enumerate(ks)
        ]
        for i, model in enumerate(models)
    ]
    table = pd.DataFrame(cells, index=pd.Index(models, name="covariance"), columns=pd.Index(ks, name="K"))
    sign = " (mclust reports the same number negated)" if criterion in ("bic", "icl") else ""
    lines = [f"{criterion.upper()}, lower is better{sign}; * marks the chosen model", table.to_string()]
    failed = {}
    for i, model in enumerate(models):
        for j, k in enumerate(ks):
            if errors[i, j]:
                failed.setdefault(_one_line(errors[i, j]), []).append(f"{model} K={k}")
    if failed:
        lines.append("Failed cells:")
        lines.extend(f"  {', '.join(where)}: {reason}" for reason, where in failed.items())
    if "converged" in selection:
        converged = selection["converged"].values
        slow = [
            f"{model} K={k}"
            for i, model in enumerate(models)
            for j, k in enumerate(ks)
            if not errors[i, j] and not converged[i, j]
        ]
        if slow:
            lines.append(f"Stopped at max_iter before reaching tol: {', '.join(slow)}")
    return "\n".join(lines)


def _print_result(result):
    from .summary import describe, summary

    print(describe(result))
    print()
    print(summary(result).to_string(float_format=lambda v: f"{v:.4g}"))


def _sweep(table, args, out_file, plot_dir):
    from .covariance import get_model
    from .selection import select

    X = table.data
    models = []
    for name in args.covariance_types:
        try:
            models.append(get_model(name).name)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    print("Preparing the Numba kernels (the first run compiles them, a minute or two; later runs load them from disk)")
    print(f"Kernels ready in {warm_up(X, models):.1f} s")
    n_rows, n_cols = table.frame.shape
    options = {name: value for name, value in (("n_init", args.n_init), ("max_iter", args.max_iter)) if value}
    n_init = options.get("n_init", select_default("n_init"))
    print(
        f"Fitting {len(models)} covariance model(s) x {len(args.components)} value(s) of K, "
        f"{n_init} start(s) each, to {n_rows} rows x {n_cols} features\n"
    )
    progress = Progress("fitting")
    progress(0, len(models) * len(args.components), "")
    started = time.perf_counter()
    try:
        result = select(
            X,
            n_components=args.components,
            covariance_type=models,
            criterion=args.criterion,
            random_state=args.seed,
            **options,
            progress=progress,
        )
    finally:
        progress.finish()
    selection = result["selection"].to_dataset()
    print(_format_selection(selection))
    print(
        f"\nChosen: {selection.attrs['best_covariance_type']} with {selection.attrs['best_n_components']} "
        f"component(s), in {time.perf_counter() - started:.1f} s\n"
    )
    _print_result(result)
    print()
    if out_file:
        _write(out_file, result.to_netcdf, args.overwrite)
    if plot_dir:
        _plots(result, X, plot_dir, args.overwrite)
    return result


def _plots(result, X, folder, overwrite):
    from .plotting import _pyplot, plot_classification, plot_criterion

    plt = _pyplot()
    os.makedirs(folder, exist_ok=True)

    def save(ax, name):
        _write(
            os.path.join(folder, name), lambda path: ax.figure.savefig(path, dpi=100, bbox_inches="tight"), overwrite
        )
        plt.close(ax.figure)

    save(plot_criterion(result), PLOT_FILES[0])
    if result["posterior"].sizes["feature"] >= 2:
        ax = plot_classification(result, X)
        ax.set_title(f"{result.attrs['covariance_type']}, K={result.attrs['n_components']}: 1 and 2 sigma ellipses")
        save(ax, PLOT_FILES[1])


def _have_matplotlib():
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def cmd_demo(args):
    from .datasets import load_faithful

    folder = args.output
    result_file = os.path.join(folder, "faithful.nc")
    plots = _have_matplotlib()
    _check_folder(folder, ("faithful.nc", *(PLOT_FILES if plots else ())), args.overwrite)
    os.makedirs(folder, exist_ok=True)
    print(f"Old Faithful: 272 eruptions, duration and waiting time (minutes). Output folder: {os.path.abspath(folder)}")
    if not plots:
        print("(No plots: they need matplotlib, pip install 'gmm_numba[plots]'.)")
    _sweep(Table(load_faithful(), True), args, result_file, folder if plots else None)
    print(f"\nNext: gmm-numba summary {result_file}   or   gmm-numba predict {result_file} DATA.csv")


def cmd_fit(args):
    if args.output:
        _check_new_file(args.output, args.overwrite)
        _check_suffix(args.output, NETCDF_SUFFIXES, "the fitted model is written as netCDF")
    if args.plots:
        if not _have_matplotlib():
            raise UserError("--plots needs matplotlib: pip install 'gmm_numba[plots]'")
        _check_folder(args.plots, PLOT_FILES, args.overwrite)
    table = read_table(args.data, _split_names(args.columns), args.drop_nan)
    _sweep(table, args, args.output, args.plots)


def _load_model(path):
    from .results import load

    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    try:
        return load(path)
    except (ValueError, TypeError) as exc:
        reason = _one_line(exc).replace("Not a valid gmm_numba result: ", "")
        raise UserError(f"{path} is not a gmm_numba model: {reason}") from None


def cmd_predict(args):
    import pandas as pd

    from .estimator import GaussianMixture

    if args.output:
        _check_new_file(args.output, args.overwrite)
        _check_suffix(args.output, (".csv",), "predictions are written as CSV")
    tree = _load_model(args.model)
    estimator = GaussianMixture.from_xarray(tree)
    features = [str(f) for f in tree["posterior"]["feature"].values]
    named_model = bool(int(tree.attrs.get("named_features", 0)))
    columns = _split_names(args.columns)
    if not columns and named_model and not args.data.lower().endswith(".npy"):
        columns = features
    table = read_table(args.data, columns, args.drop_nan)
    if table.frame.shape[1] != estimator.n_features_in_:
        raise UserError(
            f"{args.data}: {table.frame.shape[1]} column(s), but the model has {estimator.n_features_in_} "
            f"feature(s) ({', '.join(features)}); choose them with --columns"
        )
    proba = estimator.predict_proba(table.frame.to_numpy())
    out = pd.DataFrame(proba, columns=[f"p{k}" for k in range(proba.shape[1])], index=table.frame.index)
    out.insert(0, "label", proba.argmax(axis=1))
    if args.output:
        _write(args.output, lambda path: out.to_csv(path, index_label="row"), args.overwrite)
    else:
        out.to_csv(sys.stdout, index_label="row")


def cmd_summary(args):
    tree = _load_model(args.model)
    if "selection" in tree.children:
        print(_format_selection(tree["selection"].to_dataset()))
        print()
    _print_result(tree)


# ------------------------------------------------------------------ parser
def select_default(name):
    """The default of :func:`gmm_numba.select`'s parameter ``name`` (the command line follows it)."""
    import inspect

    from .selection import select

    return inspect.signature(select).parameters[name].default


def _ks(text):
    """``1-9`` or ``2,3,5`` (or both: ``1-3,5``) as a list of distinct positive ints."""
    ks = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = part.split("-", 1)
                lo, hi = int(lo), int(hi)
                if lo > hi:
                    raise ValueError
                if hi - lo >= MAX_COMPONENT_VALUES:
                    raise argparse.ArgumentTypeError(
                        f"the range {part.strip()} holds {hi - lo + 1} values of K; at most {MAX_COMPONENT_VALUES} "
                        "are allowed (each one is a fit per covariance model)"
                    )
                ks.extend(range(lo, hi + 1))
            elif part.strip():
                ks.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range like 1-9 or a list like 2,3,5, got {text!r}") from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(f"numbers of components must be 1 or more, got {text!r}")
    return sorted(set(ks))


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _sweep_options(parser):
    parser.add_argument(
        "--components",
        "-k",
        type=_ks,
        default=list(range(1, 10)),
        metavar="K",
        help="numbers of components: a range like 1-9 (default), a list like 2,3,5, or both (1-3,5)",
    )
    parser.add_argument(
        "--covariance-types",
        "--models",
        nargs="+",
        default=["full", "tied", "diag", "spherical"],
        metavar="MODEL",
        help="covariance models: full tied diag spherical (default: all four) or mclust's VVV EEE VVI VII",
    )
    parser.add_argument(
        "--criterion", choices=["bic", "aic", "icl"], default="bic", help="selection criterion (default bic)"
    )
    parser.add_argument(
        "--n-init",
        type=_positive_int,
        metavar="N",
        help=f"starts per number of components, shared by the models (default {select_default('n_init')})",
    )
    parser.add_argument(
        "--max-iter",
        type=_positive_int,
        metavar="N",
        help=f"EM iterations per start at most (default {select_default('max_iter')})",
    )
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _common_options(parser):
    parser.add_argument(
        "--threads",
        type=_positive_int,
        metavar="N",
        help="threads for the kernels (default: NUMBA_NUM_THREADS, all cores)",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of errors")


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (``--help`` still shows the usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    from . import __version__

    parser = _Parser(
        prog="gmm-numba",
        description="Gaussian mixture models by EM with fused Numba kernels: choose K and the covariance "
        "model by BIC/AIC/ICL, save the fit as netCDF, predict with it.",
        epilog="Run 'gmm-numba COMMAND --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"gmm-numba {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="model selection on the bundled Old Faithful data, with plots",
        description="Fit the bundled Old Faithful data (272 rows) for K=1..9 and the four covariance models, "
        "print the table and the chosen model, and write faithful.nc, criterion.png and classification.png "
        "into the output folder.",
    )
    demo.add_argument(
        "--output", "-o", default=DEMO_FOLDER, metavar="FOLDER", help=f"output folder (default {DEMO_FOLDER})"
    )
    _sweep_options(demo)
    _common_options(demo)
    demo.set_defaults(func=cmd_demo)

    fit = sub.add_parser(
        "fit",
        help="choose and fit a mixture to DATA (CSV, .npy, netCDF, zarr, Parquet)",
        description="Fit every (covariance model, K) pair to DATA, print the criterion table and the chosen "
        "model. DATA: CSV with a header row (.tsv: tab-separated), .npy (2-D array), netCDF (.nc) or zarr "
        "(.zarr) with 1-D variables along one dimension or one 2-D variable, Parquet (needs pyarrow).",
    )
    fit.add_argument("data", metavar="DATA", help="the data file")
    fit.add_argument("--columns", "-c", nargs="+", metavar="NAME", help="columns to use (default: all); a b or a,b")
    fit.add_argument("--drop-nan", action="store_true", help="leave out rows with NaN instead of stopping")
    fit.add_argument("--output", "-o", metavar="MODEL.nc", help="write the chosen model here (netCDF)")
    fit.add_argument(
        "--plots", metavar="FOLDER", help="write criterion.png and classification.png (first two features) here"
    )
    _sweep_options(fit)
    _common_options(fit)
    fit.set_defaults(func=cmd_fit)

    predict = sub.add_parser(
        "predict",
        help="labels and probabilities for DATA from a saved MODEL.nc (CSV)",
        description="Write a CSV with columns row (0-based row of DATA), label (most probable component) and "
        "p0, p1, ... (the probability of each component). The model's feature names pick DATA's columns.",
    )
    predict.add_argument("model", metavar="MODEL.nc", help="a model saved by gmm-numba fit or demo")
    predict.add_argument("data", metavar="DATA", help="the data file (same formats as fit)")
    predict.add_argument("--columns", "-c", nargs="+", metavar="NAME", help="DATA's columns, in the model's order")
    predict.add_argument("--drop-nan", action="store_true", help="leave out rows with NaN instead of stopping")
    predict.add_argument("--output", "-o", metavar="OUT.csv", help="CSV file (default: standard output)")
    predict.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    _common_options(predict)
    predict.set_defaults(func=cmd_predict)

    summary = sub.add_parser("summary", help="print a saved MODEL.nc", description="Print a saved model.")
    summary.add_argument("model", metavar="MODEL.nc")
    _common_options(summary)
    summary.set_defaults(func=cmd_summary)
    return parser


def _set_threads(n):
    """Use ``n`` threads; returns the previous number (None when unchanged)."""
    if n is None:
        return None
    import numba

    limit = numba.config.NUMBA_NUM_THREADS
    if n > limit:
        raise UserError(f"--threads {n}: at most {limit} on this machine (the NUMBA_NUM_THREADS cap)")
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    return before


def _show_warning(message, category, filename, lineno, file=None, line=None):
    sys.stdout.flush()  # keep the order of what was printed before, when both go to one log
    print(f"gmm-numba: warning: {_one_line(message)}", file=sys.stderr)


def _silence_stdout():
    """Send what is left of standard output to /dev/null, so Python's exit does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests capture it)
        pass


def main(argv=None):
    """Run the command line; returns the exit status (0 success, 2 user error, 130 interrupted).

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse printed it)
        return exc.code if isinstance(exc.code, int) else 2
    with warnings.catch_warnings():
        if not args.debug:
            warnings.showwarning = _show_warning
        threads_before = None
        try:
            threads_before = _set_threads(args.threads)
            args.func(args)
        except BrokenPipeError:  # the reader of our output went away (``gmm-numba predict ... | head``)
            _silence_stdout()
            return 141
        except KeyboardInterrupt:
            print("\ngmm-numba: interrupted", file=sys.stderr)
            return 130
        except (UserError, ValueError, TypeError, OSError, MemoryError) as exc:
            # gmm_numba's own errors (FitError, ...) are ValueErrors and say what to change
            if args.debug:
                raise
            print(f"gmm-numba: error: {_one_line(exc) or type(exc).__name__}", file=sys.stderr)
            return 2
        finally:
            if threads_before is not None:  # main() may be called in-process: leave the pool as it was
                import numba

                numba.set_num_threads(threads_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
