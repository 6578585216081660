"""Data larger than memory: statistics chunk by chunk.

:class:`ChunkedData` serves a NumPy memmap, a ``.npy`` file (opened with
``np.load(mmap_mode="r")``) or any array-like that returns NumPy arrays for
row slices ``X[a:b]`` (zarr, h5py). It answers the same questions as
:class:`~gmm_numba.data.in_memory.InMemoryData` (the EM driver and the
initialisation cannot tell them apart): every chunk is made C-contiguous,
handed to the same kernels through an ``InMemoryData`` and the results are
added in chunk order, so memory holds a few chunks at most and the answer
does not depend on the chunking beyond floating-point rounding.

The chunk machinery (:func:`chunk_call`, :func:`add_results`,
:class:`BlockwiseSource`) is shared with :mod:`gmm_numba.data.dask_source`.
"""

import hashlib
import mmap
import numbers
import os
import threading
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from .._kernels import random_responsibility_statistics
from .._kernels.config import kernel_threads
from .checks import check_dimensions, check_shape, finite_report, plural
from .in_memory import (
    InMemoryData,
    feature_mean,
    feature_variance,
    per_sample_scores,
    random_start_block,
    subsample_indices,
)
from .statistics import SufficientStatistics

#: Default bytes of float64 data per chunk (rows = this / (8 * n_features)).
DEFAULT_CHUNK_BYTES = 64 * 2**20

#: Serialises kernel launches of one process: Numba's "workqueue" threading
#: layer aborts on concurrent parallel launches (Dask's threaded scheduler
#: runs several tasks at once), and every kernel is threaded already.
_KERNEL_LOCK = threading.Lock()


# ------------------------------------------------------------------ chunk work
class KernelArguments:
    """Parameters reduced to what the kernels take (cheap to pickle and ship).

    Stands in for :class:`~gmm_numba.fitting.parameters.MixtureParameters` in
    ``InMemoryData.em_statistics`` and :func:`~gmm_numba.data.in_memory.per_sample_scores`.
    """

    def __init__(self, params):
        self.arguments = tuple(np.ascontiguousarray(a) for a in params.kernel_arguments())
        self.n_components = params.n_components

    def kernel_arguments(self):
        return self.arguments

    def __dask_tokenize__(self):
        # the exact bytes: Dask does not normalise what this returns (arrays
        # would be tokenised by their rounded repr, and close parameters collide)
        digest = hashlib.sha256()
        for a in self.arguments:
            digest.update(f"{a.dtype.str}{a.shape}".encode())
            digest.update(a.tobytes())
        return ("KernelArguments", digest.hexdigest())


def kernel_dtype(dtype):
    """float32 stays float32; every other real dtype is computed in float64."""
    return np.dtype(np.float32) if np.dtype(dtype) == np.float32 else np.dtype(np.float64)


def random_at(X, sample_weight, shift, seed, n_components, offset):
    """Random-responsibility sums of one chunk whose first row is global row ``offset``."""
    n = X.shape[0]
    with kernel_threads(n):
        nk, s1, s2 = random_responsibility_statistics(
            X, sample_weight, shift, np.uint64(seed), n_components, random_start_block(n, n_components, X.shape[1]),
            np.int64(offset),
        )
    return nk, s1, s2


def as_kernel_array(X):
    """A chunk as the kernels take it: C-contiguous, float32 or float64, and writeable.

    Read-only chunks (memory-mapped files opened with ``mode="r"``) are
    copied: the copy costs little next to a kernel pass, and the kernels
    then run with the same (cached) compiled signatures as for in-memory data.
    """
    dtype = kernel_dtype(X.dtype)
    if isinstance(X, np.ndarray) and not X.flags.writeable:
        return np.array(X, dtype=dtype, order="C")
    return np.ascontiguousarray(X, dtype=dtype)


def chunk_call(X, sample_weight, method, args, offset=0, check=False, rows=()):
    """One chunk's share of a statistic.

    Parameters
    ----------
    X : array of shape (m, n_features)
        Made C-contiguous float32/float64 here.
    sample_weight : array of shape (m,) or None
    method : str or callable
        ``"random_at"``, the name of an ``InMemoryData`` method, or a
        function ``method(X, sample_weight, rows, *args)`` (see
        :meth:`BlockwiseSource.map_rows`).
    args : tuple
        Its arguments (``random_at`` also gets ``offset``).
    offset : int
        Global index of the chunk's first row.
    check : bool
        Also return the chunk's :class:`FiniteReport`.
    rows : tuple of arrays of shape (m,)
        The chunk's slices of per-row arrays, for a function ``method``.
    """
    X = as_kernel_array(X)
    w = None if sample_weight is None else np.array(sample_weight, dtype=np.float64)
    report = finite_report(X, offset) if check else None
    if report is not None and report.bad_rows:
        # NaN in the kernels means nothing; the report says what is wrong
        return None, report
    with _KERNEL_LOCK:
        if callable(method):
            result = method(X, w, tuple(np.asarray(r) for r in rows), *args)
        elif method == "random_at":
            result = random_at(X, np.empty(0) if w is None else w, *args, offset)
        else:
            result = getattr(InMemoryData(X, w), method)(*args)
    return (result, report) if check else result


def add_results(a, b):
    """Sum of two chunk results: statistics, tuples of arrays/numbers, reports, or (result, report) pairs."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, tuple):
        return tuple(add_results(x, y) for x, y in zip(a, b, strict=True))
    return a + b


def sum_in_order(results):
    """Left-to-right sum (a fixed order, whatever order the chunks were computed in)."""
    total = None
    for r in results:
        total = add_results(total, r)
    return total


def chunk_scores(X, kernel_args, with_responsibilities, scorer=per_sample_scores):
    """``scorer(X, kernel_args, with_responsibilities)`` of one chunk (default
    :func:`~gmm_numba.data.in_memory.per_sample_scores`)."""
    X = as_kernel_array(X)
    with _KERNEL_LOCK:
        return scorer(X, kernel_args, with_responsibilities)


# ------------------------------------------------------------ weights in chunks
@dataclass(frozen=True)
class WeightReport:
    """What :func:`~gmm_numba.data.checks.check_sample_weight` looks at, for one chunk or the sum of several."""

    non_finite: int = 0
    first_non_finite: tuple = ()
    negative: int = 0
    first_negative: tuple = ()
    positive: int = 0
    total: float = 0.0

    def __add__(self, other):
        return WeightReport(
            self.non_finite + other.non_finite,
            self.first_non_finite or other.first_non_finite,
            self.negative + other.negative,
            self.first_negative or other.first_negative,
            self.positive + other.positive,
            self.total + other.total,
        )

    def check(self, min_samples=1, requirement=""):
        """Raise the messages of ``check_sample_weight`` and ``_check_weighted_samples``."""
        if self.non_finite:
            index, value = self.first_non_finite
            raise ValueError(
                f"sample_weight contains NaN or infinity at {plural(self.non_finite, 'position')} "
                f"(first: index {index}, value {value})."
            )
        if self.negative:
            index, value = self.first_negative
            raise ValueError(
                f"sample_weight contains {self.negative} negative value{'' if self.negative == 1 else 's'} "
                f"(first: index {index}, value {value}); weights must be >= 0."
            )
        if not self.total > 0:
            raise ValueError("sample_weight is all zero; at least one weight must be positive.")
        if self.positive < min_samples:
            raise ValueError(
                f"sample_weight is positive for {self.positive} sample(s) while a minimum of {min_samples} "
                f"is required ({requirement}); samples of weight 0 do not count."
            )


def weight_report(w, offset):
    """:class:`WeightReport` of one chunk of weights whose first entry is global index ``offset``."""
    w = np.asarray(w, dtype=np.float64)
    finite = np.isfinite(w)
    report = WeightReport(positive=int(np.count_nonzero(finite & (w > 0))))
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        report = report + WeightReport(int(np.count_nonzero(~finite)), (offset + i, float(w[i])))
    negative = finite & (w < 0)
    if negative.any():
        i = int(np.flatnonzero(negative)[0])
        report = report + WeightReport(
            negative=int(np.count_nonzero(negative)), first_negative=(offset + i, float(w[i]))
        )
    if finite.all():
        report = report + WeightReport(total=float(w.sum()))
    return report


def check_real_dtype(dtype, name="X"):
    """Refuse complex and non-numeric dtypes (lazily: only the dtype is looked at)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has complex values (dtype {dtype}).")
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} has non-numeric dtype {dtype}; convert it to numbers first.")


def check_lazy_shape(shape, name="X", min_samples=1, requirement="", n_features=None, estimator="GaussianMixture"):
    """Dimension and size checks of ``check_data`` that need only the shape."""

    shape = tuple(int(s) for s in shape)
    probe = SimpleNamespace(shape=shape, ndim=len(shape))
    check_dimensions(probe, name)
    check_shape(probe, name, min_samples, n_features, estimator, requirement)


# ---------------------------------------------------------------- the interface
class BlockwiseSource:
    """The data-source methods, written once on top of :meth:`_map_reduce`.

    A subclass provides ``n_samples``, ``n_features``, ``dtype``,
    :meth:`_map_reduce`, :meth:`_gather` (sorted unique indices) and
    :meth:`_all_rows`. The first full pass also checks that every value is
    finite (:class:`FiniteReport`), so a NaN is reported before EM uses it.
    """

    name = "X"
    _checked = False

    # subclasses: def _map_reduce(self, method, args, check, rows) -> result or (result, FiniteReport)

    def _reduce(self, method, *args, rows=()):
        if self._checked:
            return self._map_reduce(method, args, False, rows)
        result, report = self._map_reduce(method, args, True, rows)
        report.raise_if_bad(self.name, missing_hint=False)
        self._checked = True
        return result

    def map_rows(self, function, *args, rows=()):
        """``function(X, sample_weight, rows, *args)`` of every chunk, added in chunk order.

        Parameters
        ----------
        function : callable
            A module-level function (Dask ships it to the workers) of a
            chunk ``X`` (C-contiguous float32/float64, shape (m, n_features)),
            its weights (shape (m,), or None without weights), the chunk's
            slices of ``rows`` (a tuple) and ``args``; it returns something
            :func:`add_results` adds (statistics, numbers, arrays, tuples of
            them, or objects with ``__add__``).
        args
            The same for every chunk.
        rows : tuple of arrays of shape (n_samples,)
            Per-row arrays (NumPy, memmap or Dask), sliced as the chunks.
        """
        return self._reduce(function, *args, rows=rows)

    def check_finite(self):
        """One pass that raises ``ValueError`` if any value is NaN or infinite (once per source)."""
        if not self._checked:
            self._reduce("nearest_center_statistics", np.zeros((1, self.n_features)), False)

    def em_statistics(self, params):
        """Sufficient statistics at ``params``, summed over the chunks."""
        return self._reduce("em_statistics", KernelArguments(params))

    def nearest_center_statistics(self, centers, with_s2, *rest):
        """Hard-assignment sums over the chunks (arguments as ``InMemoryData.nearest_center_statistics``)."""
        centers = np.ascontiguousarray(centers, dtype=np.float64)
        rest = tuple(None if r is None else np.ascontiguousarray(r, dtype=np.float64) for r in rest)
        return self._reduce("nearest_center_statistics", centers, with_s2, *rest)

    def feature_variance(self):
        """Weighted variance of each feature, shape (n_features,), computed once; see :func:`feature_variance`."""
        if getattr(self, "_variance", None) is None:
            self._variance = feature_variance(self)
        return self._variance

    def random_responsibility_statistics(self, seed, n_components):
        """Statistics for hashed random responsibilities (global row indices), about the data mean."""
        total_weight, shift = feature_mean(self)
        nk, s1, s2 = self._reduce("random_at", shift, np.uint64(seed), int(n_components))
        return SufficientStatistics(total_weight, np.nan, np.nan, nk, s1, s2, np.tile(shift, (n_components, 1)))

    def subsample(self, size, rng):
        """At most ``size`` rows drawn uniformly without replacement (the same draw as ``InMemoryData``).

        Only the drawn rows are read.

        Returns
        -------
        X : ndarray of shape (m, n_features), float64
        sample_weight : ndarray of shape (m,)
        """
        index = subsample_indices(self.n_samples, size, rng)
        X, w = self._all_rows() if index is None else self._gather(index)
        X = np.ascontiguousarray(X, dtype=np.float64)
        w = np.ones(X.shape[0]) if w is None else np.ascontiguousarray(w, dtype=np.float64)
        if not np.isfinite(X).all():
            self.check_finite()  # the full pass names the count and the first bad row
        return X, w

    def take(self, index=None):
        """The rows at sorted unique ``index`` (every row for None) and their weights, read into memory.

        Returns
        -------
        X : ndarray of shape (m, n_features), C-contiguous, in :attr:`dtype`
        sample_weight : ndarray of shape (m,) or None
            None without weights.
        """
        X, w = self._all_rows() if index is None else self._gather(index)
        X = np.ascontiguousarray(X, dtype=self.dtype)
        if not np.isfinite(X).all():
            self.check_finite()  # the full pass names the count and the first bad row
        return X, (None if w is None else np.ascontiguousarray(w, dtype=np.float64))

    def rows(self, indices):
        """The rows at ``indices`` as float64, shape (len(indices), n_features)."""
        indices = np.asarray(indices, dtype=np.int64)
        unique, inverse = np.unique(indices, return_inverse=True)
        X, _ = self._gather(unique)
        return np.asarray(X, dtype=np.float64)[inverse]


class ChunkedData(BlockwiseSource):
    """A memory-mapped or otherwise chunk-readable array, processed chunk by chunk.

    Parameters
    ----------
    source_array : np.memmap, ndarray, str or os.PathLike, or array-like
        A path is opened with ``np.load(path, mmap_mode="r")``. Any object
        with ``shape``, ``dtype`` and row slicing ``X[a:b]`` returning an
        array works (zarr, h5py).
    sample_weight : array-like of shape (n_samples,), scalar or None
        May itself be a memmap: it is read (and checked) chunk by chunk.
    chunk_rows : int, optional
        Rows per chunk. Default: about 64 MiB of float64 per chunk, rounded
        to a multiple of the source's own row chunks (zarr, h5py) if it has them.
    name : str
        What messages call the data.
    min_samples : int
        Fewest rows (and rows of positive weight) accepted.
    requirement : str
        Why, for the message.

    Raises
    ------
    TypeError, ValueError
        As :func:`~gmm_numba.data.checks.check_data` for the shape and dtype;
        NaN or infinity is reported by the first pass over the data.
    """

    def __init__(self, source_array, sample_weight=None, chunk_rows=None, *, name="X", min_samples=1, requirement=""):
        if isinstance(source_array, (str, os.PathLike)):
            source_array = np.load(os.fspath(source_array), mmap_mode="r", allow_pickle=False)
        if not hasattr(source_array, "shape") or not hasattr(source_array, "dtype"):
            source_array = np.asarray(source_array)
        self.name = name
        check_real_dtype(source_array.dtype, name)
        check_lazy_shape(source_array.shape, name, min_samples, requirement)
        self.source = source_array
        n, d = (int(s) for s in source_array.shape)
        self._shape = (n, d)
        if chunk_rows is None:
            chunk_rows = max(1, DEFAULT_CHUNK_BYTES // (8 * d))
            native = getattr(source_array, "chunks", None)
            if isinstance(native, tuple) and native and isinstance(native[0], numbers.Integral):
                chunk_rows = max(1, chunk_rows // native[0]) * native[0]
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, numbers.Integral) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}.")
        self.chunk_rows = int(min(chunk_rows, n))
        self.starts = list(range(0, n, self.chunk_rows))
        self.sample_weight = self._checked_weights(sample_weight, min_samples, requirement)
        releasers = [_page_releaser(source_array), _page_releaser(self.sample_weight)]
        self._release = _no_op if all(r is _no_op for r in releasers) else lambda: [r() for r in releasers]

    @property
    def n_samples(self):
        return self._shape[0]

    @property
    def n_features(self):
        return self._shape[1]

    @property
    def dtype(self):
        return kernel_dtype(self.source.dtype)

    @property
    def n_chunks(self):
        return len(self.starts)

    def _checked_weights(self, w, min_samples, requirement):
        if w is None:
            return None
        n = self.n_samples
        if isinstance(w, numbers.Real) and not isinstance(w, bool):
            w = np.full(n, float(w))
        if not hasattr(w, "shape"):
            w = np.asarray(w)
        if np.dtype(w.dtype).kind not in "biuf":
            raise TypeError(f"sample_weight must be numeric, got dtype {w.dtype}.")
        if len(w.shape) != 1:
            raise ValueError(f"sample_weight must be 1D with shape ({n},), got shape {tuple(w.shape)}.")
        if w.shape[0] != n:
            raise ValueError(f"sample_weight has {w.shape[0]} entries but X has {n} samples; they must match.")
        release = _page_releaser(w)
        reports = []
        for a, b in self._bounds():
            reports.append(weight_report(w[a:b], a))
            release()
        sum_in_order(reports).check(min_samples, requirement)
        return w

    def _bounds(self):
        n = self.n_samples
        return [(a, min(n, a + self.chunk_rows)) for a in self.starts]

    def _weights(self, a, b):
        return None if self.sample_weight is None else np.asarray(self.sample_weight[a:b], dtype=np.float64)

    def _map_reduce(self, method, args, check, rows=()):
        total = None
        for a, b in self._bounds():
            chunk = self.source[a:b]
            parts = tuple(r[a:b] for r in rows)
            try:
                total = add_results(total, chunk_call(chunk, self._weights(a, b), method, args, a, check, parts))
            finally:
                del chunk
                self._release()
        return total

    def _all_rows(self):
        return np.asarray(self.source[:]), self._weights(0, self.n_samples)

    def _gather(self, index):
        """Rows at sorted unique ``index`` (and their weights), chunk by chunk, reading only what holds them.

        Going chunk by chunk keeps a memmap's resident pages to one chunk:
        touching scattered rows of a whole map at once would fault in (and
        read ahead) most of the file.
        """
        parts, weights = [], []
        for a, b in self._bounds():
            lo, hi = np.searchsorted(index, [a, b])
            if hi == lo:
                continue
            if isinstance(self.source, np.ndarray):
                parts.append(np.array(self.source[index[lo:hi]]))
            else:
                first, last = int(index[lo]), int(index[hi - 1]) + 1
                parts.append(np.asarray(self.source[first:last])[index[lo:hi] - first])
            if self.sample_weight is not None:
                weights.append(np.array(self.sample_weight[index[lo:hi]], dtype=np.float64))
            self._release()
        X = np.concatenate(parts) if parts else np.empty((0, self.n_features))
        w = None if self.sample_weight is None else np.concatenate(weights) if weights else np.empty(0)
        return X, w

    def scores(self, params, with_responsibilities=False, scorer=per_sample_scores, n_columns=None):
        """Per-sample ``(log_density, labels, responsibilities)`` computed chunk by chunk.

        The outputs (N floats, N labels, N x K responsibilities if asked)
        are in memory; the data is not. ``scorer`` scores one chunk (as
        :func:`chunk_scores`) with ``n_columns`` responsibilities (default K).
        """
        n = self.n_samples
        args = KernelArguments(params)
        lse = np.empty(n)
        labels = np.empty(n, dtype=np.int64)
        n_columns = params.n_components if n_columns is None else n_columns
        resp = np.empty((n, n_columns)) if with_responsibilities else None
        for a, b in self._bounds():
            chunk = as_kernel_array(self.source[a:b])
            try:
                finite_report(chunk, a).raise_if_bad(self.name, missing_hint=False)
                part = chunk_scores(chunk, args, with_responsibilities, scorer)
            finally:
                del chunk
                self._release()
            lse[a:b], labels[a:b] = part[0], part[1]
            if with_responsibilities:
                resp[a:b] = part[2]
        return lse, labels, resp


def _page_releaser(source):
    """A function that drops the pages of a read-only memmap from this process's resident set.

    Reading a memory-mapped file maps its pages into the process (they count
    in its RSS until the kernel reclaims them). ``MADV_DONTNEED`` on a
    read-only shared mapping only unmaps them (they stay in the page cache),
    so resident memory stays at a few chunks. Other sources: a no-op.
    """
    mm = getattr(source, "_mmap", None)
    if not isinstance(source, np.memmap) or mm is None or getattr(source, "mode", "") != "r":
        return _no_op
    if not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return _no_op

    def release():
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass

    return release


def _no_op():
    pass
