"""Dask arrays as a data source: the kernels run where the blocks live.

:class:`DaskData` answers the EM driver's questions by mapping the same
kernels over the blocks of a Dask array (one task per block, through an
``InMemoryData`` on the worker), adding the per-block statistics in a tree
of fixed shape (``SPLIT_EVERY`` children per node, in block order) and
computing on the client. Only ``O(K D^2)`` numbers per block travel to the
client; the rows never do, except the ``init_sample_size`` rows drawn for
k-means++ seeding.

Dask is imported only when this module is used (``pip install
"gmm_numba[dask]"``).
"""

import hashlib
import numbers
from contextlib import contextmanager

import numpy as np

from .checks import check_sample_weight
from .chunked import (
    BlockwiseSource,
    KernelArguments,
    WeightReport,
    check_lazy_shape,
    check_real_dtype,
    chunk_call,
    chunk_scores,
    kernel_dtype,
    sum_in_order,
    weight_report,
)
from .in_memory import per_sample_scores

#: Children per node of the reduction tree.
SPLIT_EVERY = 8

#: Dask weights of at most this many entries are also held as a NumPy array
#: (``sample_weight``), as initialisation draws rows in proportion to them.
WEIGHTS_IN_MEMORY = 1_000_000

#: Retries of a failed task (worker deaths are handled by the scheduler on top of these).
RETRIES = 3


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'Dask input needs dask: pip install "gmm_numba[dask]" (dask[array] and distributed).'
        ) from exc
    return dask, da


def is_dask_array(X):
    """Whether ``X`` is a ``dask.array.Array`` (without importing dask when it is not loaded)."""
    import sys

    module = sys.modules.get("dask.array")
    return module is not None and isinstance(X, module.Array)


def _worker_threads():
    """Threads of the distributed worker running this task, or None (threaded scheduler, client)."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return None


@contextmanager
def worker_kernel_threads():
    """Run the Numba kernels of a task on as many threads as the Dask worker was given.

    Dask's resource model gives each worker ``nthreads`` cores (a
    LocalCluster splits the machine's cores between its workers). Numba
    would otherwise start one thread per core in every worker process, and
    several processes spinning on more threads than cores slow every kernel
    down, badly so when the machine is busy. Outside a distributed worker
    nothing changes.
    """
    n = _worker_threads()
    if n is None:
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _block_task(block, weights, method, args, offset, check, *rows):
    with worker_kernel_threads():
        return chunk_call(block, weights, method, args, offset, check, rows)


def _sum_task(*parts):
    return sum_in_order(parts)


def _weight_task(w, offset):
    return weight_report(w, offset)


def tree_sum(dask, parts, split_every=SPLIT_EVERY):
    """A delayed sum of ``parts`` whose shape depends only on ``len(parts)``: reproducible to the bit."""
    sum_delayed = dask.delayed(_sum_task, pure=True)
    while len(parts) > 1:
        parts = [sum_delayed(*parts[i : i + split_every]) for i in range(0, len(parts), split_every)]
    return parts[0]


def as_dask_features(X, name="X", n_features=None, min_samples=1, requirement="", estimator="GaussianMixture"):
    """Validate a Dask array lazily and return it with whole rows per block, in the kernels' dtype.

    Only the shape and dtype are looked at (NaN is found by the first pass).
    Blocks of unknown size are measured (one pass over the chunk lengths).
    """
    _, da = _import_dask()
    X = da.asarray(X)
    check_real_dtype(X.dtype, name)
    if X.ndim == 2 and any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    check_lazy_shape(X.shape, name, min_samples, requirement, n_features, estimator)
    dtype = kernel_dtype(X.dtype)
    if X.dtype != dtype:
        X = X.astype(dtype)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


class DaskData(BlockwiseSource):
    """A Dask array (rows x features), processed block by block on a Dask scheduler.

    Parameters
    ----------
    dask_array : dask.array.Array of shape (n_samples, n_features)
        Rechunked so that each block holds whole rows. It is not persisted:
        every EM iteration recomputes the blocks from the graph (reads a
        zarr store again, for example). Persist it first (``X = X.persist()``)
        when it fits in the cluster's memory.
    sample_weight : dask or NumPy array of shape (n_samples,), scalar, or None
        Checked by one reduction over the weights alone; NumPy weights are
        put on the cluster once.
    client : distributed.Client, optional
        Where to compute (with up to ``RETRIES`` retries of a failed task).
        Default: Dask's default scheduler, which is the current
        distributed client when one exists.
    name, min_samples, requirement
        As for :class:`~gmm_numba.data.chunked.ChunkedData`.

    Attributes
    ----------
    X : dask.array.Array
        The data as the kernels take it (whole rows per block, float32/float64).
    weights : dask.array.Array or None
        The weights, chunked as the rows of ``X``.
    sample_weight : ndarray or None
        The weights as NumPy, when they were given so or have at most
        ``WEIGHTS_IN_MEMORY`` entries (``random_from_data`` draws with them).
    """

    sample_weight = None

    def __init__(self, dask_array, sample_weight=None, client=None, *, name="X", min_samples=1, requirement=""):
        self._dask, self._da = _import_dask()
        self.name = name
        self.client = client
        self.X = as_dask_features(dask_array, name, min_samples=min_samples, requirement=requirement)
        self.row_chunks = tuple(int(c) for c in self.X.chunks[0])
        self.offsets = np.concatenate(([0], np.cumsum(self.row_chunks)[:-1])).astype(np.int64)
        self._blocks = list(self.X.to_delayed().ravel())
        self._row_block_cache = {}
        self.weights = self._checked_weights(sample_weight, min_samples, requirement)
        self._weight_blocks = (
            [None] * len(self._blocks) if self.weights is None else list(self.weights.to_delayed().ravel())
        )
        if self.sample_weight is None and self.weights is not None and self.n_samples <= WEIGHTS_IN_MEMORY:
            (self.sample_weight,) = self._compute(self.weights)

    @property
    def n_samples(self):
        return int(self.X.shape[0])

    @property
    def n_features(self):
        return int(self.X.shape[1])

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def n_chunks(self):
        return len(self._blocks)

    def _compute(self, *collections):
        if self.client is not None:
            futures = self.client.compute(list(collections), retries=RETRIES)
            return tuple(self.client.gather(futures))
        # Dask's default scheduler: the current distributed client if there is one
        return self._dask.compute(*collections)

    def _checked_weights(self, w, min_samples, requirement):
        if w is None:
            return None
        da = self._da
        n = self.n_samples
        if isinstance(w, numbers.Real) and not isinstance(w, bool):
            w = np.full(n, float(w))
        if not is_dask_array(w):
            w = self.sample_weight = check_sample_weight(w, n)
            WeightReport(positive=int(np.count_nonzero(w)), total=float(w.sum())).check(min_samples, requirement)
            w = da.from_array(w, chunks=(self.row_chunks,))
            # on the cluster once, not shipped with every iteration's graph
            return self.client.persist(w) if self.client is not None else w.persist()
        check_real_dtype(w.dtype, "sample_weight")
        if w.ndim != 1:
            raise ValueError(f"sample_weight must be 1D with shape ({n},), got shape {w.shape}.")
        if w.shape[0] != n:
            raise ValueError(f"sample_weight has {w.shape[0]} entries but X has {n} samples; they must match.")
        w = w.astype(np.float64).rechunk((self.row_chunks,))
        report_task = self._dask.delayed(_weight_task, pure=True)
        reports = [report_task(b, o) for b, o in zip(w.to_delayed().ravel(), self.offsets)]
        (report,) = self._compute(tree_sum(self._dask, reports))
        report.check(min_samples, requirement)
        return w

    def _map_reduce(self, method, args, check, rows=()):
        dask = self._dask
        # a fresh key per call: the tasks below can never be confused with another pass's
        args = dask.delayed(args, pure=False, traverse=False)
        task = dask.delayed(_block_task, pure=True)
        row_blocks = self._row_blocks(rows)
        parts = [
            task(block, weights, method, args, int(offset), check, *(blocks[i] for blocks in row_blocks))
            for i, (block, weights, offset) in enumerate(zip(self._blocks, self._weight_blocks, self.offsets))
        ]
        (result,) = self._compute(tree_sum(dask, parts))
        return result

    def _row_blocks(self, rows):
        """Delayed blocks of each per-row array of ``rows``, chunked as the rows of ``X``.

        A NumPy array is put on the cluster once and remembered by its
        contents while the following passes use it too, so that the passes
        of a fit, and the cells of a sweep that share their labels, do not
        ship it again; arrays the latest pass with per-row arrays did not use are let go.
        """
        if not rows:
            return []
        cache, out = {}, []
        for values in rows:
            # the same object again (every pass of one fit) is found without hashing its contents
            key = next((k for k, entry in self._row_block_cache.items() if entry[2] is values), None)
            if key is None:
                key = values.name if is_dask_array(values) else _content_key(values)
            if key in self._row_block_cache:
                cache[key] = self._row_block_cache[key][:2] + (values,)
            elif key not in cache:
                if is_dask_array(values):
                    blocks = values.rechunk((self.row_chunks,))
                else:
                    blocks = self._da.from_array(np.ascontiguousarray(values), chunks=(self.row_chunks,))
                    blocks = self.client.persist(blocks) if self.client is not None else blocks.persist()
                # holding the persisted array keeps its blocks on the cluster
                cache[key] = (blocks, list(blocks.to_delayed().ravel()), values)
            out.append(cache[key][1])
        self._row_block_cache = cache
        return out

    def _all_rows(self):
        if self.weights is None:
            return self._compute(self.X)[0], None
        return self._compute(self.X, self.weights)

    def _gather(self, index):
        """Rows at sorted unique ``index``: only they (and their weights) travel."""
        if self.weights is None:
            return self._compute(self.X[index])[0], None
        return self._compute(self.X[index], self.weights[index])

    def persist(self):
        """Keep the blocks in the cluster's memory (when they fit) instead of recomputing them each pass."""
        self.X = self.client.persist(self.X) if self.client is not None else self.X.persist()
        self._blocks = list(self.X.to_delayed().ravel())
        return self


def _content_key(values):
    """A key for a NumPy array's dtype, shape and bytes."""
    values = np.ascontiguousarray(values)
    return values.dtype.str, values.shape, hashlib.sha256(values.view(np.uint8)).hexdigest()


def _scores_block(block, kernel_args, what, scorer):
    with worker_kernel_threads():
        lse, labels, resp = chunk_scores(block, kernel_args, what == "proba", scorer)
    return {"score": lse, "label": labels, "proba": resp}[what]


def dask_scores(X, params, with_responsibilities=False, n_features=None, estimator="GaussianMixture",
                scorer=per_sample_scores, n_columns=None):
    """Lazy ``(log_density, labels, responsibilities)`` of a Dask array, block by block.

    Nothing is computed here: each output is a Dask array with the row
    chunks of ``X`` (``responsibilities`` is None unless asked for).
    ``scorer`` and ``n_columns`` as for :meth:`ChunkedData.scores`.
    """
    X = as_dask_features(X, n_features=n_features, estimator=estimator)
    args = KernelArguments(params)
    k = params.n_components if n_columns is None else n_columns
    lse = X.map_blocks(_scores_block, args, "score", scorer, drop_axis=1, dtype=np.float64, meta=np.empty((0,)))
    labels = X.map_blocks(_scores_block, args, "label", scorer, drop_axis=1, dtype=np.int64,
                          meta=np.empty((0,), np.int64))
    resp = None
    if with_responsibilities:
        resp = X.map_blocks(
            _scores_block, args, "proba", scorer, chunks=(X.chunks[0], (k,)), dtype=np.float64,
            meta=np.empty((0, 0)),
        )
    return lse, labels, resp
