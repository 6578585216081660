"""Which data source serves which input.

:func:`make_data_source` is the one entry point: it returns

* :class:`~gmm_numba.data.dask_source.DaskData` for a Dask array, or an xarray
  DataArray / Dataset backed by Dask (``xr.open_zarr(path, chunks=...)``);
* :class:`~gmm_numba.data.chunked.ChunkedData` for a ``np.memmap`` (or a zarr /
  h5py array) of at least :data:`CHUNKED_MIN_BYTES`;
* :class:`~gmm_numba.data.in_memory.InMemoryData` for everything else (after
  :func:`~gmm_numba.data.checks.check_data`), including small memmaps, which
  are read into memory exactly as an ndarray would be.

Lazy inputs are validated lazily: shape and dtype at once, NaN and
infinity during the first pass over the data (a ``ValueError`` naming the
number of bad rows and the first one, as for in-memory data).

:func:`is_out_of_core` and :func:`out_of_core_scores` are what the
estimator uses to route ``fit`` and the predictions.
"""

import sys
from dataclasses import replace

import numpy as np

from .checks import check_data, check_sample_weight
from .chunked import ChunkedData, WeightReport, check_lazy_shape
from .in_memory import InMemoryData, per_sample_scores
from .noise import NoisyScorer

#: A memmap (or zarr / h5py array) smaller than this is read into memory
#: and fitted as an ndarray; a larger one is processed chunk by chunk.
CHUNKED_MIN_BYTES = 64 * 2**20

_CHUNK_READABLE_MODULES = ("zarr", "h5py")


def _xarray():
    return sys.modules.get("xarray")


def _is_dask_backed_xarray(X):
    xr = _xarray()
    if xr is None:
        return False
    if isinstance(X, xr.DataArray):
        return X.chunks is not None
    if isinstance(X, xr.Dataset):
        return any(v.chunks is not None for v in X.data_vars.values())
    return False


def _nbytes(X):
    try:
        return int(np.prod(X.shape)) * np.dtype(X.dtype).itemsize
    except (AttributeError, TypeError):
        return 0


def input_kind(X):
    """``"dask"``, ``"chunked"`` or ``None`` (in memory) for input ``X``."""
    from .dask_source import is_dask_array

    if is_dask_array(X) or _is_dask_backed_xarray(X):
        return "dask"
    chunk_readable = isinstance(X, np.memmap) or type(X).__module__.split(".")[0] in _CHUNK_READABLE_MODULES
    if chunk_readable and _nbytes(X) >= CHUNKED_MIN_BYTES:
        return "chunked"
    return None


def is_out_of_core(X):
    """Whether ``X`` is served by Dask or chunk by chunk rather than as an in-memory array."""
    return input_kind(X) is not None


def dask_values(X):
    """A Dask-backed DataArray or Dataset (or a Dask array) as a 2-D Dask array, lazily.

    A DataArray's sample dimension is ``"sample"`` if present, else its
    first; a Dataset's 1-D data variables are the features, in order (as
    :func:`~gmm_numba.data.labeled.as_labeled`).
    """
    xr = _xarray()
    if xr is not None and isinstance(X, xr.Dataset):
        import dask.array as da

        from .labeled import as_labeled

        names = list(X.data_vars)
        # as_labeled's checks, on a zero-length selection (nothing is read)
        dims = {X[v].dims for v in names}
        if not names or len(dims) != 1 or len(next(iter(dims))) != 1:
            as_labeled(X.isel({d: slice(0, 0) for d in X.dims}))
        return da.stack([da.asarray(X[v].data) for v in names], axis=1)
    if xr is not None and isinstance(X, xr.DataArray):
        from .labeled import as_labeled

        return as_labeled(X).values
    return X


def out_of_core_input(X, sample_dim=None, sample_weight=None, *, min_samples=1, requirement=""):
    """The labels and the data source of out-of-core ``X``, reading nothing but names and shapes.

    Parameters
    ----------
    X : dask array, Dask-backed xarray DataArray / Dataset, or large np.memmap
    sample_dim : str, optional
        As for :func:`~gmm_numba.data.labeled.as_labeled`.
    sample_weight, min_samples, requirement
        As for :func:`make_data_source`.

    Returns
    -------
    labeled : LabeledInput
        Its ``values`` are the lazy array (a Dataset's sample coordinate is not read).
    data : ChunkedData or DaskData
    """
    from .labeled import as_labeled

    xr = _xarray()
    if xr is not None and isinstance(X, xr.Dataset):
        empty = as_labeled(X.isel({d: slice(0, 0) for d in X.dims}), sample_dim)
        labeled = replace(empty, values=dask_values(X), sample_coord=None)
    else:
        labeled = as_labeled(X, sample_dim)
    data = make_data_source(labeled.values, sample_weight, min_samples=min_samples, requirement=requirement)
    return labeled, data


def make_data_source(X, sample_weight=None, *, min_samples=1, requirement="", client=None, chunk_rows=None):
    """The data source for ``X``: Dask, chunked or in memory (see the module docstring).

    Parameters
    ----------
    X : array-like, np.memmap, dask array, or Dask-backed xarray DataArray / Dataset
    sample_weight : array-like of shape (n_samples,), scalar or None
        NumPy or (with Dask input) Dask.
    min_samples : int
        Fewest rows, and rows of positive weight, accepted.
    requirement : str
        Why ``min_samples`` rows are needed (for the message).
    client : distributed.Client, optional
        For Dask input; default: the current client, if any.
    chunk_rows : int, optional
        Rows per chunk for memmap input.

    Returns
    -------
    InMemoryData, ChunkedData or DaskData
    """
    kind = input_kind(X)
    if kind == "dask":
        from .dask_source import DaskData

        return DaskData(dask_values(X), sample_weight, client, min_samples=min_samples, requirement=requirement)
    if kind == "chunked":
        return ChunkedData(X, sample_weight, chunk_rows, min_samples=min_samples, requirement=requirement)
    arr = check_data(X, min_samples=min_samples, requirement=requirement)
    weights = check_sample_weight(sample_weight, arr.shape[0])
    if weights is not None:
        WeightReport(positive=int(np.count_nonzero(weights)), total=float(weights.sum())).check(
            min_samples, requirement
        )
    return InMemoryData(arr, weights)


def out_of_core_scores(X, params, with_responsibilities, n_features, estimator="GaussianMixture", log_noise=None):
    """Per-sample ``(log_density, labels, responsibilities)`` for out-of-core input.

    Dask input gives lazy Dask arrays chunked as ``X``'s rows; memmap input
    is scored chunk by chunk into NumPy arrays. Returns None for any other
    input (score it in memory). With ``log_noise`` (``log(pi_0 / V)``) the
    mixture has a noise component: label -1 and a last responsibility
    column for it (:func:`~gmm_numba.data.noise.noisy_scores`).
    """
    kind = input_kind(X)
    scorer, n_columns = per_sample_scores, params.n_components
    if log_noise is not None:
        scorer, n_columns = NoisyScorer(log_noise), params.n_components + 1
    if kind == "dask":
        from .dask_source import dask_scores

        return dask_scores(dask_values(X), params, with_responsibilities, n_features, estimator, scorer, n_columns)
    if kind == "chunked":
        check_lazy_shape(X.shape, n_features=n_features, estimator=estimator)
        return ChunkedData(X).scores(params, with_responsibilities, scorer, n_columns)
    return None
