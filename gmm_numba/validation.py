"""Input checks that turn bad input into clear errors."""

import numbers

import numpy as np

__all__ = ["check_data", "check_sample_weight", "check_param", "check_random_state"]


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


def _check_columns_numeric(X, name):
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return
    for column, dtype in dtypes.items():
        kind = getattr(dtype, "kind", "O")
        if kind not in "biuf":
            if kind == "O":
                continue  # object columns may still hold numbers; conversion decides
            raise TypeError(
                f"{name} column {column!r} has non-numeric dtype {dtype}; "
                "select numeric columns only or convert them first."
            )


def check_data(X, *, name="X", min_samples=1, n_features=None, estimator="GaussianMixture"):
    """Validate a data matrix and return it as a C-contiguous float array.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        NumPy arrays, lists and pandas DataFrames. float32 stays float32;
        every other numeric dtype becomes float64.
    name : str
        How to call the argument in messages.
    min_samples : int
        Fewest rows accepted.
    n_features : int, optional
        Required number of columns (at predict time).
    estimator : str
        Name used in the feature-count message.

    Returns
    -------
    ndarray of shape (n_samples, n_features)

    Raises
    ------
    TypeError
        Sparse, complex-free but non-numeric data.
    ValueError
        Wrong dimensionality, too few rows, NaN or infinity, complex values,
        wrong number of features.
    """
    if _is_sparse(X):
        raise TypeError(
            f"{name} is a sparse matrix; gmm_numba needs dense data: pass {name}.toarray()."
        )
    _check_columns_numeric(X, name)
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} could not be read as a numeric array: {exc}") from None
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported: {name} has complex values.")
    if arr.dtype.kind not in "biuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} contains non-numeric data: {exc}") from None
    if arr.ndim != 2:
        if arr.ndim == 1:
            raise ValueError(
                f"Expected a 2D array for {name}, got a 1D array of length {arr.shape[0]}. "
                f"Reshape it with {name}.reshape(-1, 1) for a single feature "
                f"or {name}.reshape(1, -1) for a single sample."
            )
        raise ValueError(f"Expected a 2D array for {name}, got {arr.ndim} dimensions (shape {arr.shape}).")
    n_rows, n_cols = arr.shape
    if n_cols == 0:
        raise ValueError(f"{name} has 0 features (shape {arr.shape}); at least 1 is required.")
    if n_rows < min_samples:
        raise ValueError(
            f"{name} has {n_rows} sample{'s' if n_rows != 1 else ''} (shape {arr.shape}); "
            f"at least {min_samples} {'are' if min_samples != 1 else 'is'} required."
        )
    if n_features is not None and n_cols != n_features:
        raise ValueError(
            f"{name} has {n_cols} features, but {estimator} is expecting {n_features} features as input."
        )
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = np.ascontiguousarray(arr, dtype=dtype)
    finite_rows = np.isfinite(arr).all(axis=1)
    if not finite_rows.all():
        bad = np.flatnonzero(~finite_rows)
        raise ValueError(
            f"{name} contains NaN or infinity in {bad.size} row{'s' if bad.size != 1 else ''} "
            f"(first: row {bad[0]}). Drop or impute them first, for example "
            f"{name}[np.isfinite({name}).all(axis=1)]."
        )
    return arr


def feature_names(X):
    """Column names of a DataFrame-like ``X`` (all strings), else None."""
    return _feature_names(X)


def check_sample_weight(sample_weight, n_samples):
    """Validate sample weights.

    Parameters
    ----------
    sample_weight : array-like of shape (n_samples,) or None
    n_samples : int

    Returns
    -------
    ndarray of shape (n_samples,), float64, or None when all weights are equal to 1.
    """
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"sample_weight must be numeric: {exc}") from None
    if w.ndim != 1:
        raise ValueError(f"sample_weight must be 1D with shape ({n_samples},), got shape {w.shape}.")
    if w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight has {w.shape[0]} entries but X has {n_samples} samples; they must match."
        )
    bad = np.flatnonzero(~np.isfinite(w))
    if bad.size:
        raise ValueError(f"sample_weight contains NaN or infinity at {bad.size} positions (first: {bad[0]}).")
    bad = np.flatnonzero(w < 0)
    if bad.size:
        raise ValueError(
            f"sample_weight contains {bad.size} negative values (first: index {bad[0]}, value {w[bad[0]]}); "
            "weights must be >= 0."
        )
    if not w.sum() > 0:
        raise ValueError("sample_weight sums to zero; at least one weight must be positive.")
    return np.ascontiguousarray(w)


def check_param(name, value, kind, *, low=None, high=None, low_inclusive=True, options=None):
    """Validate one hyper-parameter; raise a message naming it, its value and what is allowed.

    Parameters
    ----------
    name : str
    value : object
    kind : {"int", "float", "bool", "option"}
    low, high : number, optional
        Bounds (``high`` inclusive).
    low_inclusive : bool
    options : sequence of str, optional
        Allowed values for ``kind="option"``.
    """
    if kind == "option":
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"{name}={value!r} is not valid; choose one of {', '.join(map(repr, options))}.")
        return value
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {value!r}.")
        return bool(value)
    wanted = numbers.Integral if kind == "int" else numbers.Real
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, wanted):
        what = "an integer" if kind == "int" else "a number"
        raise TypeError(f"{name} must be {what}, got {value!r} of type {type(value).__name__}.")
    if kind == "float" and not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}.")
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and value > high
    if too_low or too_high:
        bounds = []
        if low is not None:
            bounds.append(f"{'>=' if low_inclusive else '>'} {low}")
        if high is not None:
            bounds.append(f"<= {high}")
        raise ValueError(f"{name}={value!r} is out of range; it must be {' and '.join(bounds)}.")
    return value


def check_random_state(random_state):
    """A :class:`numpy.random.Generator` from None, an int, a Generator or a RandomState."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        if isinstance(random_state, (bool, np.bool_)):
            raise TypeError(f"random_state must be None, an int or a numpy Generator, got {random_state!r}.")
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state={random_state} must be >= 0.")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
    raise TypeError(
        f"random_state must be None, an int, a numpy Generator or RandomState, got {type(random_state).__name__}."
    )
