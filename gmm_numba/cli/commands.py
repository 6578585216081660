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

from ..errors import one_line
from .errors import UserError
from .files import check_folder, check_new_file, check_suffix, write
from .progress import warm_up
from .readers import NETCDF_SUFFIXES, Table, known_suffixes, read_table, split_names

DEMO_FOLDER = "gmm-numba-demo"

#: Files a sweep writes into its plot folder.
PLOT_FILES = ("criterion.png", "classification.png")

#: Most values of K one ``--components`` may list (a typo like 1-1000000000 would exhaust memory).
MAX_COMPONENT_VALUES = 1000



# ----------------------------------------------------------------- commands
def _print_result(result):
    """The criterion table of a selection, the fit, and a row per parameter: whole, whatever the terminal's width."""
    from ..results.summary import describe, summary

    print(describe(result))
    print()
    print(summary(result).to_string(float_format=lambda v: f"{v:.4g}"))


def _sweep(table, args, out_file, plot_dir):
    from ..covariance import get_model
    from ..selection import select

    X = table.data
    models = []
    for name in split_names(args.covariance_types):
        try:
            get_model(name)
            models.append(name)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    print("Preparing the Numba kernels (the first run compiles them, a minute or two; later runs load them from disk)")
    missing = getattr(args, "missing", "error")
    complete_rows = X.dropna() if missing == "marginalize" and hasattr(X, "dropna") else X
    print(f"Kernels ready in {warm_up(complete_rows, models):.1f} s")
    n_rows, n_cols = table.frame.shape
    options = {name: value for name, value in (("n_init", args.n_init), ("max_iter", args.max_iter)) if value}
    n_init = options.get("n_init", select_default("n_init"))
    print(
        f"Fitting {len(models)} covariance model(s) x {len(args.components)} value(s) of K, "
        f"{n_init} start(s) each, to {n_rows} rows x {n_cols} features\n"
    )
    from ..selection.progress import ProgressBar

    progress = ProgressBar("fitting")
    progress(0, len(models) * len(args.components), "")
    started = time.perf_counter()
    try:
        result = select(
            X,
            n_components=args.components,
            covariance_type=models,
            criterion=args.criterion,
            search=args.search,
            random_state=args.seed,
            **options,
            progress=progress,
            missing=missing,
            prior=None if getattr(args, "prior", "none") == "none" else args.prior,
        )
    finally:
        progress.finish()
    elapsed = time.perf_counter() - started
    _print_result(result)
    selection = result["selection"].attrs
    print(
        f"\nChosen: {selection['best_covariance_type']} with {selection['best_n_components']} component(s), "
        f"in {elapsed:.1f} s\n"
    )
    if out_file:
        write(out_file, result.to_netcdf, args.overwrite)
    if plot_dir:  # the classification plot shows the rows without a missing entry
        _plots(result, complete_rows, plot_dir, args.overwrite)
    return result


def _plots(result, X, folder, overwrite):
    from ..plotting import _pyplot, plot_classification, plot_criterion

    plt = _pyplot()
    os.makedirs(folder, exist_ok=True)

    def save(ax, name):
        write(
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
    from ..datasets import load_faithful

    folder = args.output
    result_file = os.path.join(folder, "faithful.nc")
    plots = _have_matplotlib()
    check_folder(folder, ("faithful.nc", *(PLOT_FILES if plots else ())), args.overwrite)
    os.makedirs(folder, exist_ok=True)
    print(f"Old Faithful: 272 eruptions, duration and waiting time (minutes). Output folder: {os.path.abspath(folder)}")
    if not plots:
        print("(No plots: they need matplotlib, pip install 'gmm_numba[plots]'.)")
    _sweep(Table(load_faithful(), True), args, result_file, folder if plots else None)
    print(f"\nNext: gmm-numba summary {result_file}   or   gmm-numba predict {result_file} DATA.csv")


def cmd_fit(args):
    if args.output:
        check_new_file(args.output, args.overwrite)
        check_suffix(args.output, NETCDF_SUFFIXES, "the fitted model is written as netCDF")
    if args.plots:
        if not _have_matplotlib():
            raise UserError("--plots needs matplotlib: pip install 'gmm_numba[plots]'")
        check_folder(args.plots, PLOT_FILES, args.overwrite)
    _recover_data(args)
    table = read_table(args.data, split_names(args.columns), args.drop_nan, keep_nan=args.missing == "marginalize")
    if table.dropped:
        print(_dropped_note(args.data, table))
    _sweep(table, args, args.output, args.plots)


#: List options of ``fit`` that take one or more values, and so may swallow DATA after them.
_LIST_OPTIONS = {"covariance_types": "--models", "columns": "--columns"}


def _recover_data(args):
    """DATA, also when a list option swallowed it (``fit --models full tied data.csv``).

    The last value of such an option is taken as DATA when it names an existing
    file or folder, or has the suffix of a data file.

    Raises
    ------
    UserError
        DATA is missing, or the option would be left with no values.
    """
    if args.data is not None:
        return
    for attribute, option in _LIST_OPTIONS.items():
        values = getattr(args, attribute)
        if values and (os.path.exists(values[-1]) or values[-1].lower().endswith(known_suffixes())):
            if len(values) == 1:
                raise UserError(f"{option} {values[0]}: give the {option[2:]} before DATA, e.g. {option} ... DATA")
            args.data = values.pop()
            return
    raise UserError("the following arguments are required: DATA (the data file)")


def _dropped_note(path, table):
    total = table.dropped + table.frame.shape[0]
    return f"--drop-nan: left out {table.dropped} of {total} row(s) of {path} holding NaN or infinite values"


def _load_model(path):
    from ..results import load

    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    try:
        return load(path)
    except (ValueError, TypeError) as exc:
        reason = one_line(exc).replace("Not a valid gmm_numba result: ", "")
        raise UserError(f"{path} is not a gmm_numba model: {reason}") from None


def cmd_predict(args):
    import pandas as pd

    from ..estimator import GaussianMixture

    if args.output:
        check_new_file(args.output, args.overwrite)
        check_suffix(args.output, (".csv",), "predictions are written as CSV")
    tree = _load_model(args.model)
    estimator = GaussianMixture.from_xarray(tree)
    features = [str(f) for f in tree["posterior"]["feature"].values]
    named_model = bool(int(tree.attrs.get("named_features", 0)))
    columns = split_names(args.columns)
    if not columns and named_model and not args.data.lower().endswith(".npy"):
        columns = features
    table = read_table(args.data, columns, args.drop_nan, keep_nan=estimator.missing == "marginalize")
    if table.frame.shape[1] != estimator.n_features_in_:
        raise UserError(
            f"{args.data}: {table.frame.shape[1]} column(s), but the model has {estimator.n_features_in_} "
            f"feature(s) ({', '.join(features)}); choose them with --columns"
        )
    proba = estimator.predict_proba(table.frame.to_numpy())
    out = pd.DataFrame(proba, columns=[f"p{k}" for k in range(proba.shape[1])], index=table.frame.index)
    out.insert(0, "label", proba.argmax(axis=1))
    if args.output:
        write(args.output, lambda path: out.to_csv(path, index_label="row"), args.overwrite)
    else:
        out.to_csv(sys.stdout, index_label="row")
    if table.dropped:
        # standard output may be the predictions: the note goes to standard error, after them
        print(f"gmm-numba: note: {_dropped_note(args.data, table)}", file=sys.stderr)


def cmd_summary(args):
    _print_result(_load_model(args.model))


# ------------------------------------------------------------------ parser
def select_default(name):
    """The default of :func:`gmm_numba.select`'s parameter ``name`` (the command line follows it)."""
    import inspect

    from ..selection import select

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
    from ..selection.runner import SEARCHES

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
        default=list(select_default("covariance_type")),
        metavar="MODEL",
        help="covariance models by mclust's names (default: all fourteen, EII ... VVV; E and V on one feature) "
        "or scikit-learn's full tied diag spherical; a b or a,b",
    )
    parser.add_argument(
        "--criterion", choices=["bic", "aic", "icl"], default="bic", help="selection criterion (default bic)"
    )
    parser.add_argument(
        "--search",
        choices=SEARCHES,
        default=select_default("search"),
        help="choice: random starts and neighbour moves only for the cells that could change the choice; models: "
        "also near every model's own best cell, so that each model's row is its best (slower) "
        f"(default {select_default('search')})",
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
    from .. import __version__

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
        "model. DATA: CSV (.csv, .txt; .tsv: tab-separated) with a header row (without one, the columns are "
        "x0, x1, ...), .npy (2-D array), netCDF (.nc) or zarr "
        "(.zarr) with 1-D variables along one dimension or one 2-D variable, Parquet (needs pyarrow).",
    )
    # optional only so that DATA after a list option (--models a b DATA) can be recovered: see _recover_data
    fit.add_argument("data", metavar="DATA", nargs="?", help="the data file")
    fit.add_argument("--columns", "-c", nargs="+", metavar="NAME", help="columns to use (default: all); a b or a,b")
    fit.add_argument("--drop-nan", action="store_true", help="leave out rows with NaN instead of stopping")
    fit.add_argument(
        "--missing",
        choices=("error", "marginalize"),
        default="error",
        help="marginalize: treat NaN (empty cells) as missing values and fit the observed-data likelihood; "
        "the model then also predicts rows with NaN (default: error)",
    )
    fit.add_argument(
        "--prior",
        choices=("none", "default"),
        default="none",
        help="default: MAP fits under mclust's conjugate prior, as Mclust(X, prior = priorControl()); only the ten "
        "models that take it are swept (VEE, EVE, VVE, EVV are left out) (default: none)",
    )
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
    print(f"gmm-numba: warning: {one_line(message)}", file=sys.stderr)


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
            print(f"gmm-numba: error: {one_line(exc) or type(exc).__name__}", file=sys.stderr)
            return 2
        finally:
            if threads_before is not None:  # main() may be called in-process: leave the pool as it was
                import numba

                numba.set_num_threads(threads_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
