"""Checks of the data (``X``, ``sample_weight``, feature names) that turn bad input into clear errors.

Every message names the argument, the offending value (or where it sits)
and what is allowed. Where scikit-learn's estimator checks look for a
phrase (``"Reshape your data"``, ``"0 feature(s) (shape=(12, 0)) while a
minimum of 1 is required"``), the message contains it.
"""

import numbers
from dataclasses import dataclass

import numpy as np

from ..errors import NumericalError, warn_at_caller
from .labeled import as_labeled

__all__ = [
    "check_data",
    "check_magnitude",
    "check_feature_names",
    "check_sample_weight",
    "feature_names",
]


# --------------------------------------------------------------------- data
def _is_sparse(X):
    return hasattr(X, "toarray") and hasattr(X, "nnz")


def _feature_names(X):
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = [c for c in columns]
    if names and all(isinstance(c, str) for c in names):
        return np.asarray(names, dtype=object)
    return None


def feature_names(X):
    """Column names of a DataFrame-like ``X`` (all strings), else None."""
    return _feature_names(X)


def _bulleted(title, names):
    return f"{title}:\n- " + "\n- ".join(map(str, names)) + "\n"


def check_feature_names(names, fitted_names, has_columns, estimator="GaussianMixture"):
    """Compare the feature names of new data with those seen in ``fit`` (scikit-learn's rules).

    Parameters
    ----------
    names : ndarray or None
        Names of the new data (:func:`feature_names`).
    fitted_names : ndarray or None
        ``feature_names_in_`` of the fitted estimator.
    has_columns : bool
        Whether the new data is DataFrame-like (names absent or not all strings).
    estimator : str

    Warns
    -----
    UserWarning
        When only one of the two has names.

    Raises
    ------
    ValueError
        When both have names and they differ, listing the unseen and missing ones.
    """
    if names is not None and fitted_names is None:
        warn_at_caller(f"X has feature names, but {estimator} was fitted without feature names", UserWarning)
    elif names is None and fitted_names is not None and has_columns:
        warn_at_caller(
            f"X does not have valid feature names, but {estimator} was fitted with feature names", UserWarning
        )
    elif names is not None and fitted_names is not None and not np.array_equal(names, fitted_names):
        unseen = [n for n in names if n not in set(fitted_names)]
        missing = [n for n in fitted_names if n not in set(names)]
        message = "The feature names should match those that were passed during fit.\n"
        if unseen:
            message += _bulleted("Feature names unseen at fit time", unseen)
        if missing:
            message += _bulleted("Feature names seen at fit time, yet now missing", missing)
        if not unseen and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)


def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def _column_dtypes(X):
    """``(column, dtype)`` pairs of a DataFrame-like ``X``, else an empty list."""
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return []
    return list(dtypes.items())


def _check_columns_numeric(X, name):
    """Reject DataFrame columns whose dtype can never be numeric (dates, ...).

    Object, string and categorical columns (kind ``"O"``) may still hold
    numbers; the conversion decides, and :func:`_non_numeric_column` names
    the culprit if it fails.
    """
    for column, dtype in _column_dtypes(X):
        kind = getattr(dtype, "kind", "O")
        if kind not in "biufO":
            raise TypeError(
                f"{name} column {column!r} has non-numeric dtype {dtype}; "
                "select the numeric columns or convert this one to numbers first."
            )


def _first_non_numeric(values):
    """``(index, value, reason)`` of the first entry ``float()`` rejects, else None."""
    for index, value in np.ndenumerate(values):
        try:
            float(value)
        except (TypeError, ValueError) as exc:
            return index, value, str(exc)
    return None


def _non_numeric_column(X, name):
    """Message naming the first DataFrame column that does not convert to numbers, else None."""
    for column, _ in _column_dtypes(X):
        found = _first_non_numeric(np.asarray(X[column], dtype=object))
        if found is not None:
            (row,), value, reason = found
            return (
                f"{name} column {column!r} is not numeric: row {row} holds {value!r} ({reason}). "
                "Select the numeric columns or encode this one as numbers first."
            )
    return None


def _non_numeric_message(X, arr, name):
    message = _non_numeric_column(X, name)
    if message is not None:
        return message
    found = _first_non_numeric(arr)
    if found is None:
        return f"{name} could not be converted to float64."
    index, value, reason = found
    where = ", ".join(map(str, index))
    return f"{name} contains non-numeric data: {name}[{where}] is {value!r} ({reason})."


def _check_not_masked(X, name):
    """Refuse a ``numpy.ma.MaskedArray`` with masked entries: EM would fit the values under the mask."""
    if not isinstance(X, np.ma.MaskedArray):
        return
    mask = np.ma.getmaskarray(X)
    masked_rows = mask.reshape(len(mask) if mask.ndim else 1, -1).any(axis=1)
    n_masked = int(np.count_nonzero(masked_rows))
    if n_masked:
        first = int(np.flatnonzero(masked_rows)[0])
        raise ValueError(
            f"{name} is a masked array with masked values in {plural(n_masked, 'row')} (first: row {first}); "
            "missing values are not supported yet. Drop the masked rows, for example "
            f"{name}[~np.ma.getmaskarray({name}).any(axis=1)].data, or fill them, for example "
            f"{name}.filled({name}.mean(axis=0)) ({name}.compressed() gives the unmasked values of a single feature)."
        )


def _is_data_array(X):
    return type(X).__module__.split(".")[0] == "xarray" and hasattr(X, "dims") and not hasattr(X, "data_vars")


def _as_numeric_array(X, name):
    """``X`` as an ndarray of a real numeric dtype (bool, int, uint or float).

    A DataArray is read with its ``sample`` dimension (else its first) as the
    rows, as every entry point and backing reads it (:func:`.labeled.as_labeled`).
    """
    if _is_data_array(X):
        X = as_labeled(X).values
    _check_not_masked(X, name)
    if _is_sparse(X):
        raise TypeError(f"{name} is a sparse matrix; gmm_numba needs dense data: pass {name}.toarray().")
    if hasattr(X, "data_vars") and hasattr(X, "dims"):  # an xarray.Dataset
        raise TypeError(
            f"{name} is an xarray.Dataset; GaussianMixture needs a 2D array. Use gmm_numba.fit({name}) or "
            f"{name}.gmm.fit(), which take each data variable as a feature, or pass "
            f"{name}.to_dataarray('feature').transpose(..., 'feature')."
        )
    _check_columns_numeric(X, name)
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} could not be read as a 2D array (do its rows have different lengths?): {exc}"
        ) from None
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported: {name} has complex values (dtype {arr.dtype}).")
    kind = arr.dtype.kind
    if kind in "biuf":
        return arr
    if kind in "US":
        raise TypeError(
            f"{name} holds strings (dtype {arr.dtype}); GaussianMixture needs numbers. "
            f"Encode them, or convert numbers written as text with {name}.astype(float)."
        )
    if kind != "O":
        raise TypeError(f"{name} has non-numeric dtype {arr.dtype}; convert it to numbers first.")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(_non_numeric_message(X, arr, name)) from None


def check_dimensions(arr, name):
    if arr.ndim == 2:
        return
    if arr.ndim == 1:
        raise ValueError(
            f"Expected a 2D array for {name}, got a 1D array of length {arr.shape[0]}. "
            f"Reshape your data with {name}.reshape(-1, 1) if it has a single feature "
            f"or {name}.reshape(1, -1) if it is a single sample."
        )
    raise ValueError(
        f"Expected a 2D array for {name} of shape (n_samples, n_features), "
        f"got {arr.ndim} dimensions (shape {arr.shape})."
    )


def check_shape(arr, name, min_samples, n_features, estimator, requirement):
    n_rows, n_cols = arr.shape
    if n_rows < min_samples:
        why = f" ({requirement})" if requirement else ""
        raise ValueError(
            f"{name} has {n_rows} sample(s) (shape={arr.shape}) while a minimum of {min_samples} is required{why}."
        )
    if n_cols == 0:
        raise ValueError(f"{name} has 0 feature(s) (shape={arr.shape}) while a minimum of 1 is required.")
    if n_features is not None and n_cols != n_features:
        raise ValueError(f"{name} has {n_cols} features, but {estimator} is expecting {n_features} features as input.")


@dataclass(frozen=True)
class FiniteReport:
    """Rows holding NaN or infinity: how many, and the first few (global indices).

    Attributes
    ----------
    bad_rows : int
    first : int
        The first bad row, -1 if none.
    rows : tuple of int
        At most :data:`ROWS_NAMED` bad rows, smallest first.
    """

    bad_rows: int = 0
    first: int = -1
    rows: tuple = ()

    def __add__(self, other):
        firsts = [f for f in (self.first, other.first) if f >= 0]
        rows = tuple(sorted(self.rows + other.rows)[:ROWS_NAMED])
        return FiniteReport(self.bad_rows + other.bad_rows, min(firsts) if firsts else -1, rows)

    def raise_if_bad(self, name="X", missing_hint=True):
        """Raise ``ValueError`` naming the bad rows (and, by default, how to have NaN marginalised)."""
        if self.bad_rows:
            named = ""
            if len(self.rows) > 1:
                more = self.bad_rows - len(self.rows)
                named = f": rows {', '.join(map(str, self.rows))}" + (f" and {more} more" if more else "")
            hint = (
                " If the NaN entries are missing values, pass missing='marginalize' (GaussianMixture, "
                "gmm_numba.fit, select; in-memory data) to fit with them marginalised out; or drop the rows, "
                if missing_hint
                else " Drop or impute them first, "
            )
            raise ValueError(
                f"{name} contains NaN or infinity in {plural(self.bad_rows, 'row')} (first: row {self.first}){named}."
                f"{hint}for example {name}[np.isfinite({name}).all(axis=1)]."
            )


#: How many bad rows an error message lists.
ROWS_NAMED = 5


def finite_report(X, offset, allow_nan=False):
    """:class:`FiniteReport` of one chunk whose first row is global row ``offset``.

    With ``allow_nan`` only infinite entries count as bad (NaN marks a missing value).
    """
    # the sum is finite exactly when every entry is, unless it overflows: only then build the
    # chunk-sized boolean arrays that locate the rows
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(X, axis=None, dtype=np.float64)):
            return FiniteReport()
    finite_rows = ~np.isinf(X).any(axis=1) if allow_nan else np.isfinite(X).all(axis=1)
    if finite_rows.all():
        return FiniteReport()
    bad = np.flatnonzero(~finite_rows)
    return FiniteReport(int(bad.size), int(offset + bad[0]), tuple(int(offset + b) for b in bad[:ROWS_NAMED]))


#: Rows checked at a time: keeps the boolean temporaries small (a whole-array
#: ``np.isfinite`` would cost 1/8 of a float64 input, 1/4 of a float32 one).
_FINITE_CHECK_ROWS = 1 << 16


def _check_finite_rows(arr, name, allow_nan=False):
    step = max(1, _FINITE_CHECK_ROWS * 8 // max(1, arr.shape[1]))
    report = FiniteReport()
    for start in range(0, arr.shape[0], step):
        report = report + finite_report(arr[start : start + step], start, allow_nan)
    if allow_nan and report.bad_rows:
        raise ValueError(
            f"{name} contains infinity in {plural(report.bad_rows, 'row')} (first: row {report.first}); "
            "missing='marginalize' treats NaN as missing, but an infinite value is not a missing one. "
            f"Replace it by np.nan if it marks a missing value, for example {name}[np.isinf({name})] = np.nan."
        )
    report.raise_if_bad(name)


def check_data(
    X, *, name="X", min_samples=1, n_features=None, estimator="GaussianMixture", requirement="", allow_nan=False
):
    """Validate a data matrix and return it as a C-contiguous float array.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        NumPy arrays, lists and pandas DataFrames. float32 stays float32;
        every other real numeric dtype becomes float64.
    name : str
        How to call the argument in messages.
    min_samples : int
        Fewest rows accepted.
    n_features : int, optional
        Required number of columns (at predict time).
    estimator : str
        Name used in the feature-count message.
    requirement : str
        Why ``min_samples`` rows are needed, appended to that message.
    allow_nan : bool, default=False
        Accept NaN entries (missing values); infinity stays an error.

    Returns
    -------
    ndarray of shape (n_samples, n_features)

    Raises
    ------
    TypeError
        Sparse matrices, strings, dates or other non-numeric data (naming
        the DataFrame column or the entry).
    ValueError
        Complex values, wrong dimensionality, too few rows, no columns, the
        wrong number of features, NaN or infinity (with the number of rows
        and the first one).
    """
    arr = _as_numeric_array(X, name)
    check_dimensions(arr, name)
    check_shape(arr, name, min_samples, n_features, estimator, requirement)
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    _check_finite_rows(arr, name, allow_nan)
    return arr


#: Feature variances EM can work with in float64: the covariances, their
#: inverses (precisions) and the weighted sums of squares must all stay finite
#: and normal, with room for components much tighter than a whole feature.
VARIANCE_RANGE = (1e-250, 1e250)


def check_magnitude(variance, mean=None, name="X"):
    """Refuse data whose spread or size is too large or too small for float64 arithmetic.

    Parameters
    ----------
    variance : ndarray of shape (n_features,)
        Each feature's variance: 0 for a constant feature (or one whose squares
        underflowed), infinite when they overflowed.
    mean : ndarray of shape (n_features,), optional
        Each feature's mean; needed to look at the features of variance 0,
        whose values must then be 0 or of a magnitude in the same range.
    name : str

    Raises
    ------
    NumericalError
        A ``ValueError`` naming the feature, its standard deviation (or value), the range allowed and how to rescale.
    """
    low, high = np.sqrt(VARIANCE_RANGE)
    sd = np.sqrt(variance)
    size = np.where(variance == 0, 0.0 if mean is None else np.abs(mean), sd)
    outside = np.flatnonzero((size != 0) & ~((size >= low) & (size <= high)))
    if not outside.size:
        return
    j = outside[0]
    if variance[j] == 0:
        what = f"no spread measurable in float64 around its mean {mean[j]:.3g}"
    elif np.isfinite(variance[j]):
        what = f"standard deviation {sd[j]:.3g}"
    else:
        what = "a variance that overflows float64" + ("" if mean is None else f" (mean {mean[j]:.3g})")
    raise NumericalError(
        f"{name}'s magnitude is out of range: feature {j} has {what}, and Gaussian mixtures can only be fitted "
        f"to features whose standard deviation (and size) lies between {low:g} and {high:g}, so that "
        f"covariances and precisions are finite in float64. Rescale the data first, for example "
        f"{name} / {name}.std(axis=0) (then multiply the fitted means by the same factor, "
        "the covariances by its square)."
    )


# ----------------------------------------------------------- sample weights
def as_real_array(value, name):
    """``value`` as a float64 array; complex, string and other non-numeric values are refused."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    if np.iscomplexobj(arr):
        raise ValueError(f"{name} has complex values; it must be real.")
    if arr.dtype.kind in "US":
        raise TypeError(f"{name} must be numeric, got strings (dtype {arr.dtype}).")
    try:
        return arr.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be numeric: {exc}") from None


def check_sample_weight(sample_weight, n_samples):
    """Validate sample weights.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,), scalar or None
    n_samples : int

    Returns
    -------
    ndarray of shape (n_samples,), float64, or None when ``sample_weight`` is None.

    Raises
    ------
    TypeError
        Non-numeric weights.
    ValueError
        Wrong shape, NaN or infinity, negative values, or all zero.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    w = as_real_array(sample_weight, "sample_weight")
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1D with shape ({n_samples},), got shape {w.shape}.")
    if w.shape[0] != n_samples:
        raise ValueError(f"sample_weight has {w.shape[0]} entries but X has {n_samples} samples; they must match.")
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise ValueError(
            f"sample_weight contains NaN or infinity at {plural(bad.size, 'position')} "
            f"(first: index {bad[0]}, value {w[bad[0]]})."
        )
    bad = np.flatnonzero(w < 0)
    if bad.size:
        raise ValueError(
            f"sample_weight contains {bad.size} negative value{'' if bad.size == 1 else 's'} "
            f"(first: index {bad[0]}, value {w[bad[0]]}); weights must be >= 0."
        )
    if not w.max() > 0:
        raise ValueError("sample_weight is all zero; at least one weight must be positive.")
    _check_weight_scale(w)
    return np.ascontiguousarray(w)


#: Smallest accepted largest sample weight: below it, weighted sums of squares underflow.
SMALLEST_WEIGHT_SCALE = 1e-150


def _check_weight_scale(w):
    """Weights whose sum overflows, or so small that weighted statistics underflow, are refused.

    Only the ratios of the weights matter to EM, so rescaling them is always possible.
    """
    largest = w.max()
    with np.errstate(over="ignore"):
        total = w.sum()
    if not np.isfinite(total):
        raise ValueError(
            f"sample_weight sums to infinity (largest weight {largest:.6g}); "
            "scale the weights down, for example sample_weight / sample_weight.max()."
        )
    if largest < SMALLEST_WEIGHT_SCALE:
        raise ValueError(
            f"sample_weight is too small to compute with (largest weight {largest:.6g}, "
            f"below {SMALLEST_WEIGHT_SCALE:g}); scale the weights up, for example sample_weight / sample_weight.max()."
        )
