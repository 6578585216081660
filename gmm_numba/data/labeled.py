"""Labeled input (DataFrames, xarray) to plain arrays and back."""

from dataclasses import dataclass

import numpy as np


@dataclass
class LabeledInput:
    """A data matrix with the labels it came with.

    Attributes
    ----------
    values : array-like of shape (n_samples, n_features)
        What the numeric code consumes.
    feature_names : list of str
        Column names, DataArray feature coordinates, Dataset variables, or
        ``x0, x1, ...``.
    named : bool
        Whether the names came from the input (not generated).
    sample_dim : str
        Name of the sample dimension in labeled outputs.
    sample_coord : ndarray or None
        The input's sample labels (DataFrame index, xarray coordinate).
    xarray : bool
        Whether the input was an xarray object (outputs are then DataArrays).
    """

    values: object
    feature_names: list
    named: bool
    sample_dim: str = "sample"
    sample_coord: object = None
    xarray: bool = False


def _generated_names(n_features):
    return [f"x{i}" for i in range(n_features)]


def as_labeled(X, sample_dim=None):
    """Split ``X`` into values and labels.

    Parameters
    ----------
    X : ndarray, list, pandas.DataFrame, xarray.DataArray or xarray.Dataset
        A DataArray must be 2-D; ``sample_dim`` names its sample dimension
        (default: ``"sample"`` if present, else the first dimension). A
        Dataset's data variables are the features and must share one dimension.
    sample_dim : str, optional

    Returns
    -------
    LabeledInput
    """
    import xarray as xr

    if isinstance(X, xr.Dataset):
        names = [str(v) for v in X.data_vars]
        if not names:
            raise ValueError("The Dataset has no data variables to use as features.")
        dims = {X[v].dims for v in X.data_vars}
        if len(dims) != 1 or len(next(iter(dims))) != 1:
            raise ValueError(
                "Every data variable of the Dataset must be 1-D along the same sample dimension; "
                f"got dimensions {sorted(map(str, dims))}. Select or stack variables first."
            )
        dim = next(iter(dims))[0]
        if sample_dim is not None and sample_dim != dim:
            raise ValueError(f"sample_dim={sample_dim!r} is not the Dataset's dimension {dim!r}.")
        values = np.column_stack([np.asarray(X[v].values) for v in X.data_vars])
        coord = X[dim].values if dim in X.coords else None
        return LabeledInput(values, names, True, str(dim), coord, True)
    if isinstance(X, xr.DataArray):
        if X.ndim != 2:
            raise ValueError(f"The DataArray must be 2-D (samples x features), got dims {X.dims}.")
        if sample_dim is None:
            sample_dim = "sample" if "sample" in X.dims else X.dims[0]
        if sample_dim not in X.dims:
            raise ValueError(f"sample_dim={sample_dim!r} is not a dimension of the DataArray {X.dims}.")
        feature_dim = next(d for d in X.dims if d != sample_dim)
        X = X.transpose(sample_dim, feature_dim)
        named = feature_dim in X.coords
        names = [str(v) for v in X[feature_dim].values] if named else _generated_names(X.shape[1])
        coord = X[sample_dim].values if sample_dim in X.coords else None
        return LabeledInput(X.data, names, named, str(sample_dim), coord, True)
    columns = getattr(X, "columns", None)
    if columns is not None:
        index = getattr(X, "index", None)
        # as scikit-learn: only string column names are feature names (kept by the estimator)
        named = len(columns) > 0 and all(isinstance(c, str) for c in columns)
        return LabeledInput(X, [str(c) for c in columns], named, "sample", None if index is None else np.asarray(index))
    if hasattr(X, "shape"):
        arr = X
    else:
        try:
            arr = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"X could not be read as a 2D array (do its rows have different lengths?): {exc}"
            ) from None
    n_features = arr.shape[1] if getattr(arr, "ndim", 0) == 2 else 0
    return LabeledInput(X, _generated_names(n_features), False)


def label_samples(values, labeled, name, extra_dims=(), extra_coords=None):
    """Wrap a per-sample result as a DataArray when the input was xarray.

    Parameters
    ----------
    values : ndarray of shape (n_samples, ...)
    labeled : LabeledInput
    name : str
    extra_dims : tuple of str
        Names of the dimensions after the sample dimension.
    extra_coords : dict, optional

    Returns
    -------
    xarray.DataArray or ndarray
    """
    if not labeled.xarray:
        return values
    import xarray as xr

    coords = dict(extra_coords or {})
    if labeled.sample_coord is not None:
        coords[labeled.sample_dim] = labeled.sample_coord
    return xr.DataArray(values, dims=(labeled.sample_dim, *extra_dims), coords=coords, name=name)


def check_features(labeled, result):
    """Refuse labeled data whose feature names differ from those a result was fitted on.

    Nothing is checked when either side has generated names (``x0, x1, ...``).

    Parameters
    ----------
    labeled : LabeledInput
    result : xarray.DataTree
        A gmm_numba result.

    Raises
    ------
    ValueError
        Listing both sets of names.
    """
    trained = [str(f) for f in result["posterior"]["feature"].values]
    if labeled.named and int(result.attrs.get("named_features", 0)) and labeled.feature_names != trained:
        raise ValueError(
            f"The features {labeled.feature_names} differ from the fitted ones {trained} "
            "(same names in the same order are needed)."
        )
