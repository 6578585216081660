"""Reading data files (CSV, .npy, netCDF, zarr, Parquet) into a table of numeric columns."""

import os
import warnings

from ..errors import one_line
from .errors import UserError

#: Suffixes read through xarray (netCDF) and as zarr stores.
NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf", ".cdf")
ZARR_SUFFIXES = (".zarr",)
PARQUET_SUFFIXES = (".parquet", ".pq")
#: Text tables: tab-separated, else comma-separated (pandas also reads them compressed).
TSV_SUFFIXES = (".tsv", ".tab")
CSV_SUFFIXES = (".csv", ".txt")
COMPRESSIONS = ("", ".gz", ".bz2", ".xz", ".zip", ".zst")


class Table:
    """Data read from a file.

    Attributes
    ----------
    frame : pandas.DataFrame
        Numeric columns, rows with NaN dropped (when asked); the index is the
        0-based row number in the file.
    named : bool
        Whether the column names came from the file (CSV header, Parquet,
        netCDF variables) rather than being generated (``x0, x1, ...`` for
        .npy and CSV without a header row).
    dropped : int
        Rows left out because they held NaN or infinity (``drop_nan``).
    """

    def __init__(self, frame, named, dropped=0):
        self.frame = frame
        self.named = named
        self.dropped = dropped

    @property
    def data(self):
        """What to fit: the DataFrame when it has real names, else its values (float32 stays float32)."""
        return self.frame if self.named else self.frame.to_numpy()


def split_names(values):
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


def _text_suffixes(suffixes):
    return tuple(s + c for s in suffixes for c in COMPRESSIONS)


def known_suffixes():
    """Every file suffix :func:`read_table` reads, for messages."""
    return (".csv", ".tsv", ".tab", ".txt", ".npy", *NETCDF_SUFFIXES, *ZARR_SUFFIXES, *PARQUET_SUFFIXES)


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
    if lower.endswith(PARQUET_SUFFIXES):
        try:
            return pd.read_parquet(path), True, None
        except ImportError:
            raise UserError("reading Parquet needs pyarrow: pip install pyarrow") from None
    if os.path.isdir(path):
        raise UserError(f"{path} is a folder; expected a CSV, .npy, netCDF (.nc), zarr (.zarr) or Parquet file")
    if lower.endswith(_text_suffixes(TSV_SUFFIXES)):
        return _read_text(path, "\t")
    if lower.endswith(_text_suffixes(CSV_SUFFIXES)):
        return _read_text(path, ",")
    raise UserError(
        f"{path}: unknown file type; gmm-numba reads {', '.join(known_suffixes())} "
        "(text tables also compressed, e.g. .csv.gz). Rename a comma-separated file to .csv"
    )


def _read_text(path, sep):
    """A CSV/TSV file; a first line of numbers is data, not a header (columns ``x0, x1, ...``)."""
    import pandas as pd

    first = pd.read_csv(path, sep=sep, header=None, nrows=1)
    if all(pd.api.types.is_numeric_dtype(first[c]) and not pd.api.types.is_bool_dtype(first[c]) for c in first):
        warnings.warn(
            f"{path} has no header row (its first line holds numbers): reading every line as data, "
            "with columns named x0, x1, ...",
            UserWarning,
            stacklevel=2,
        )
        frame = pd.read_csv(path, sep=sep, header=None)
        frame.columns = _generated(frame.shape[1])
        return frame, False, 1
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


def read_table(path, columns=None, drop_nan=False, keep_nan=False):
    """Read CSV, .npy, netCDF, zarr or Parquet into a :class:`Table` of numeric columns.

    Parameters
    ----------
    path : str
    columns : list of str, optional
        Columns to keep, in this order (default: every column, which must then be numeric).
    drop_nan : bool
        Drop rows holding NaN (or infinity) instead of refusing them.
    keep_nan : bool
        Keep NaN (missing values, ``--missing marginalize``); infinity is still refused or dropped.

    Returns
    -------
    Table

    Raises
    ------
    UserError
        A missing or unreadable file, an unknown suffix, an unknown or
        non-numeric column, rows with NaN (unless ``drop_nan``), or no rows left.

    Warns
    -----
    UserWarning
        A CSV file without a header row (read as data).
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
        raise UserError(f"{path}: could not read it ({type(exc).__name__}: {one_line(exc)})") from None
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
        if pd.api.types.is_bool_dtype(series):
            # True/False as 1/0, as the API reads boolean arrays
            frame = frame.astype({column: np.float64})
        elif not pd.api.types.is_numeric_dtype(series):
            others = [c for c in frame.columns if c != column and pd.api.types.is_numeric_dtype(frame[c])]
            bad = _first_bad_value(series)
            detail = f" ({where(bad[0])} holds {bad[1]!r})" if bad else ""
            hint = f"; pick numeric columns with --columns, e.g. --columns {' '.join(others)}" if others else ""
            raise UserError(f"{path}: column {column!r} is not numeric{detail}{hint}")
    if frame.shape[1] == 0:
        raise UserError(f"{path}: no columns to use")
    values = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.isinf(values).any(axis=1) if keep_nan else ~np.isfinite(values).all(axis=1)
    if bad.any():
        if not drop_nan:
            what = "infinite values" if keep_nan else "NaN or infinite values"
            hint = "" if keep_nan else " (or, for NaN marking missing values, --missing marginalize with fit)"
            raise UserError(
                f"{path}: {int(bad.sum())} of {frame.shape[0]} row(s) hold {what} "
                f"(first: {where(int(np.flatnonzero(bad)[0]))}); pass --drop-nan to leave them out{hint}"
            )
        frame = frame[~bad]
    if frame.shape[0] == 0:
        raise UserError(f"{path}: no rows to use" + (" after dropping those with NaN" if bad.any() else ""))
    return Table(frame, named, int(bad.sum()))
