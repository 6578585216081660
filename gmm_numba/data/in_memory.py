"""Data sources: where the data lives, answering "give me the sums".

The EM driver asks a source for sufficient statistics at given parameters
and never touches the rows itself. :class:`InMemoryData` serves a NumPy
array; other sources (chunked files, Dask) implement the same methods.
"""

import numpy as np

from .. import _kernels
from .._kernels.config import (
    COMPILED_BATCH_MAX_WORK,
    COMPILED_RUN_MAX_WORK,
    at_most_threads,
    block_size,
    kernel_threads,
    moment_floats,
)
from .statistics import SufficientStatistics

_NO_WEIGHTS = np.empty(0)


class InMemoryData:
    """A validated array in memory, with optional sample weights.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        C-contiguous float32 or float64.
    sample_weight : ndarray of shape (n_samples,) or None
    """

    def __init__(self, X, sample_weight=None):
        self.X = X
        self.sample_weight = _NO_WEIGHTS if sample_weight is None else sample_weight

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def total_weight(self):
        """``sum_n w_n`` (the number of rows without weights)."""
        return float(self.sample_weight.sum()) if self.sample_weight.size else float(self.n_samples)

    @property
    def dtype(self):
        return self.X.dtype

    @property
    def weight_range(self):
        """Smallest and largest positive sample weight, each widened to include 1 (computed once)."""
        if getattr(self, "_weight_range", None) is None:
            self._weight_range = weight_range(self.sample_weight)
        return self._weight_range

    def em_statistics(self, params):
        """Sufficient statistics at ``params`` (one fused pass)."""
        means, factors, log_weights, log_det = params.kernel_arguments()
        like = np.empty(0, compute_dtype(self.X.dtype, factors, means, self.weight_range))
        block = block_size(self.n_samples, moment_floats(len(means), self.n_features, factors.shape[1:]))
        if self.n_samples <= block:
            w, ll, hard, nk, s1, s2 = _kernels.em_statistics_one_block(
                self.X, self.sample_weight, means, factors, log_weights, log_det, like
            )
        else:
            with kernel_threads(self.n_samples):
                w, ll, hard, nk, s1, s2 = _kernels.em_statistics(
                    self.X, self.sample_weight, means, factors, log_weights, log_det, block, like
                )
        # the kernel works about the means rounded to its arithmetic's dtype: record those
        shifts = means.astype(like.dtype).astype(np.float64, copy=False)
        return SufficientStatistics(w, ll, hard, nk, s1, s2, shifts)

    def compiled_run_fits(self, n_components, n_runs=1):
        """Whether EM runs on this data are best done as serial compiled calls (float64 data).

        One run is, while one iteration is too small work to share out
        (``COMPILED_RUN_MAX_WORK``). Several runs are, up to a larger size
        (``COMPILED_BATCH_MAX_WORK``): they share the threads out one run
        each, which also keeps a descheduled thread from stalling the others
        at every iteration; above it, runs of unequal lengths would leave
        threads idle beside the longest.
        """
        n_samples, n_features = self.X.shape  # asked before every job of a sweep: no properties
        work = n_samples * n_components * n_features**2
        limit = COMPILED_RUN_MAX_WORK if n_runs == 1 else COMPILED_BATCH_MAX_WORK
        return self.X.dtype == np.float64 and work <= limit

    def run_em(self, weights, means, covariances, family, reg_covar, tol, max_iter, accelerate=False):
        """A whole EM run in one compiled call (:meth:`run_em_batch` from one start).

        Parameters
        ----------
        weights, means, covariances : ndarray of shape (K,), (K, D), (K, D, D)
            The start (copied, not changed).
        family : int
            The covariance structure's ``MSTEP_*`` code.
        reg_covar : float or ndarray of shape (n_features,)
        tol : float
        max_iter : int
        accelerate : bool, default=False
            Extrapolate past mclust's stopping point (see
            :func:`gmm_numba._kernels.em_run.em_runs`).

        Returns
        -------
        weights, means, covariances : ndarray
            After the last M-step.
        lower_bounds : ndarray of shape (n_iter,)
        converged : bool
        status : int
            ``RUN_OK`` or why the run failed.
        index : int
            The component a failure is about.
        """
        runs, outcomes = self.run_em_batch([(weights, means, covariances)], [family], reg_covar, tol, [max_iter],
                                           [-np.inf], accelerate)
        _, converged, status, index = outcomes[0]
        return (*runs[0], bool(converged), int(status), int(index))

    def run_em_batch(self, starts, families, reg_covar, tol, max_iters, floors, accelerate=False):
        """EM runs from many starts in one compiled call, the runs shared out to the threads.

        Parameters
        ----------
        starts : sequence of R tuples (weights, means, covariances)
            Arrays of shape (K_r,), (K_r, D), (K_r, D, D): full covariance
            matrices; the runs may differ in ``K_r``.
        families : sequence of R ints
            Each run's ``MSTEP_*`` code.
        max_iters : sequence of R ints
        floors : sequence of R floats
            Mean log-likelihood below which a run on course to end there is
            abandoned (see :func:`gmm_numba._kernels.em_run.em_runs`); -inf for none.
        accelerate : bool, default=False
            Extrapolate past mclust's stopping point (see :func:`~gmm_numba._kernels.em_run.em_runs`).

        Returns
        -------
        runs : list of R tuples (weights, means, covariances, lower_bounds)
            Each run's parameters after its last M-step, and its mean
            log-likelihood per iteration.
        outcomes : ndarray of shape (R, 4), int64
            ``n_iter, converged, status, index`` per run.
        """
        n_runs, d = len(starts), self.n_features
        # Python ints: slicing with them is several times cheaper than with NumPy's, for hundreds of runs
        ks = [len(start[0]) for start in starts]
        k_max = max(ks)
        weights = np.zeros((n_runs, k_max))
        means = np.zeros((n_runs, k_max, d))
        covariances = np.zeros((n_runs, k_max, d, d))
        for r, (w, m, c) in enumerate(starts):
            k = ks[r]
            weights[r, :k], means[r, :k], covariances[r, :k] = w, m, c
        reg = np.ascontiguousarray(np.broadcast_to(np.asarray(reg_covar, dtype=np.float64), (d,)))
        lower_bounds = np.empty((n_runs, max(1, max(max_iters))))
        outcomes = np.zeros((n_runs, 4), dtype=np.int64)
        with at_most_threads(n_runs):
            _kernels.run_em_batch(
                self.X, self.sample_weight, weights, means, covariances, np.asarray(families, dtype=np.int64),
                np.array(ks, dtype=np.int64), reg, float(tol), np.asarray(max_iters, dtype=np.int64), lower_bounds,
                outcomes, np.asarray(floors, dtype=np.float64), bool(accelerate),
            )
        runs = [
            (weights[r, :k], means[r, :k], covariances[r, :k], lower_bounds[r, :n])
            for r, (k, n) in enumerate(zip(ks, outcomes[:, 0].tolist()))
        ]
        return runs, outcomes

    def nearest_center_statistics(self, centers, with_s2, inv_scale=None):
        """Hard-assignment sums; see :func:`_kernels.nearest_center_statistics`.

        ``inv_scale`` (shape (n_features,), default all ones) weights the
        features in the distances.
        """
        centers = np.ascontiguousarray(centers, dtype=np.float64)
        inv_scale = np.ones(self.n_features) if inv_scale is None else np.ascontiguousarray(inv_scale, np.float64)
        d = self.n_features
        block = block_size(self.n_samples, moment_floats(len(centers), d, (d if with_s2 else 0, d)))
        with kernel_threads(self.n_samples):
            counts, s1, s2, inertia = _kernels.nearest_center_statistics(
                self.X, self.sample_weight, centers, inv_scale, block, with_s2
            )
        return counts, s1, s2, inertia

    def random_responsibility_statistics(self, seed, n_components):
        """Statistics for hashed random responsibilities, about the data mean."""
        total_weight, shift = feature_mean(self)
        block = random_start_block(self.n_samples, n_components, self.n_features)
        with kernel_threads(self.n_samples):
            nk, s1, s2 = _kernels.random_responsibility_statistics(
                self.X, self.sample_weight, shift, np.uint64(seed), n_components, block, np.int64(0)
            )
        return SufficientStatistics(total_weight, np.nan, np.nan, nk, s1, s2, np.tile(shift, (n_components, 1)))

    def feature_variance(self):
        """Weighted variance of each feature, shape (n_features,); see :func:`feature_variance` (computed once)."""
        if getattr(self, "_variance", None) is None:
            self._variance = feature_variance(self)
        return self._variance

    def subsample(self, size, rng):
        """At most ``size`` rows drawn uniformly without replacement.

        Returns
        -------
        X : ndarray of shape (m, n_features), float64
        sample_weight : ndarray of shape (m,)
        """
        index = subsample_indices(self.n_samples, size, rng)
        index = slice(None) if index is None else index
        X = np.ascontiguousarray(self.X[index], dtype=np.float64)
        if self.sample_weight.shape[0]:
            w = np.ascontiguousarray(self.sample_weight[index], dtype=np.float64)
        else:
            w = np.ones(X.shape[0])
        return X, w

    def rows(self, indices):
        """The rows at ``indices`` as float64, shape (len(indices), n_features)."""
        return np.asarray(self.X[np.asarray(indices)], dtype=np.float64)

    def take(self, index=None):
        """The rows at sorted ``index`` (every row for None) and their weights.

        Returns
        -------
        X : ndarray of shape (m, n_features), C-contiguous, the data's dtype
        sample_weight : ndarray of shape (m,) or None
            None without weights.
        """
        if index is None:
            return self.X, (self.sample_weight if self.sample_weight.size else None)
        w = np.ascontiguousarray(self.sample_weight[index]) if self.sample_weight.size else None
        return np.ascontiguousarray(self.X[index]), w

    def map_rows(self, function, *args, rows=()):
        """``function(X, sample_weight, rows, *args)`` of the whole array: the one-chunk case of
        :meth:`gmm_numba.data.chunked.BlockwiseSource.map_rows` (``sample_weight`` None without weights)."""
        weights = self.sample_weight if self.sample_weight.size else None
        return function(self.X, weights, tuple(np.asarray(r) for r in rows), *args)


#: A feature whose variance is below (this * its mean)^2 is constant up to rounding.
CONSTANT_FEATURE_TOLERANCE = 1e3 * np.finfo(np.float64).eps


def random_start_block(n_samples, n_components, n_features):
    """Points per block of the random-start kernel, which accumulates full second moments."""
    return block_size(n_samples, moment_floats(n_components, n_features, (n_features, n_features)))


def subsample_indices(n_samples, size, rng):
    """Sorted row indices of a uniform draw of ``size`` rows without replacement, or None for all rows.

    Every data source draws through this, so they all pick the same rows
    from the same generator.
    """
    if n_samples <= size:
        return None
    return np.sort(rng.choice(n_samples, size=size, replace=False))


def feature_mean(source):
    """Total weight and weighted mean of each feature of a data source (one pass).

    Returns
    -------
    total_weight : float
    mean : ndarray of shape (n_features,)
    """
    counts, s1, _, _ = source.nearest_center_statistics(np.zeros((1, source.n_features)), False)
    return counts[0], s1[0] / counts[0]


def feature_variance(source):
    """Weighted variance of each feature of a data source, in two passes.

    A constant feature gets exactly 0, not the rounding noise of its mean;
    sums of squares that overflow give infinity.

    Parameters
    ----------
    source : data source with ``nearest_center_statistics`` and ``n_features``

    Returns
    -------
    ndarray of shape (n_features,)
    """
    _, mean = feature_mean(source)
    counts, _, s2, _ = source.nearest_center_statistics(mean[None], True)
    # data near float64's overflow gives infinite sums: check_magnitude reports them
    with np.errstate(over="ignore", invalid="ignore"):
        variance = np.diag(s2[0]) / counts[0]
        constant = np.isfinite(variance) & (variance <= (CONSTANT_FEATURE_TOLERANCE * mean) ** 2)
    return np.where(constant, 0.0, variance)


#: float32 data is computed in float32 only while every full precision factor
#: has a condition number at most this (covariance condition number at most its
#: square): float32 rounds the per-point products to ~6e-8 relative, and the
#: Mahalanobis distances lose about that times the factor's condition number.
FLOAT32_MAX_CONDITION = 100.0

#: float32 arithmetic keeps every squared deviation the kernels form (times a
#: sample weight) within ``[1 / FLOAT32_SQUARE_RANGE, FLOAT32_SQUARE_RANGE]``:
#: inside float32's normal range (1.2e-38 to 3.4e38) with room for the
#: relative precision of the smallest squares and for the sums over a tile of
#: points. Outside it the squares underflow to zero (the covariances become
#: the regularisation alone) or overflow to infinity.
FLOAT32_SQUARE_RANGE = 1e30

#: Deviations of the data from a mean are taken to reach at most this many of
#: the largest standard deviations beyond the spread of the means.
DEVIATION_REACH = 10.0


def weight_range(sample_weight):
    """``(min(1, smallest positive weight), max(1, largest weight))``; ``(1, 1)`` without weights.

    Parameters
    ----------
    sample_weight : ndarray of shape (n_samples,) or (0,)
    """
    positive = sample_weight[sample_weight > 0]
    if not positive.size:
        return 1.0, 1.0
    return min(1.0, float(positive.min())), max(1.0, float(positive.max()))


def compute_dtype(data_dtype, factors, means=None, weights=(1.0, 1.0)):
    """The dtype the kernels compute in for data of ``data_dtype``.

    float32 data is computed in float32 (half the memory traffic, twice the
    SIMD lanes) unless float32 would lose the answer, when the per-point
    arithmetic switches to float64 (the data stays float32):

    - a full precision factor is too ill-conditioned (a nearly singular
      covariance; diagonal factors need no such care, their distances are
      sums of squares without cancellation);
    - the squared deviations leave float32's range: the smallest variance is
      too small (its squares underflow) or the means' spread plus
      :data:`DEVIATION_REACH` of the largest standard deviations, squared and
      times the largest sample weight, too large (they overflow); see
      :data:`FLOAT32_SQUARE_RANGE`. This keeps float32 data of any magnitude
      fitting as its float64 values do.

    Parameters
    ----------
    data_dtype : numpy dtype, float32 or float64
    factors : ndarray of shape (n_components, n_features, n_features), (n_components, 1, n_features)
        or (n_components, 1, 1)
    means : ndarray of shape (n_components, n_features), optional
        Without them only the spread of the components is looked at.
    weights : (float, float)
        The sample weights' :func:`weight_range`.

    Returns
    -------
    numpy dtype
    """
    if data_dtype != np.float32:
        return np.dtype(np.float64)
    singular = _factor_singular_values(factors)
    full = factors.shape[1] > 1 and factors.shape[2] > 1
    if full and np.any(singular[:, 0] > FLOAT32_MAX_CONDITION * singular[:, -1]):
        return np.dtype(np.float64)
    if _float32_squares_in_range(singular, means, weights):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _factor_singular_values(factors):
    """Singular values of each precision factor, largest first: shape (n_components, r).

    They are the inverse standard deviations of the component along its axes.
    """
    if factors.shape[1] > 1 and factors.shape[2] > 1:
        with np.errstate(all="ignore"):
            return np.linalg.svd(factors, compute_uv=False)
    return -np.sort(-np.abs(factors.reshape(len(factors), -1)), axis=1)


def _float32_squares_in_range(singular, means, weights):
    """Whether the squared deviations of the data from the means stay in :data:`FLOAT32_SQUARE_RANGE`."""
    with np.errstate(all="ignore"):
        smallest_sd = 1.0 / np.max(singular)
        largest_sd = 1.0 / np.min(singular)
    spread = 0.0 if means is None else float(np.ptp(means, axis=0).max())
    reach = spread + DEVIATION_REACH * largest_sd
    low, high = weights
    with np.errstate(all="ignore"):
        smallest = smallest_sd**2 * low
        largest = reach**2 * high
    return bool(1.0 / FLOAT32_SQUARE_RANGE <= smallest and largest <= FLOAT32_SQUARE_RANGE)


def per_sample_scores(X, params, with_responsibilities=False):
    """Per-point log-likelihood, label and (optionally) responsibilities.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous float32 or float64
    params : MixtureParameters
    with_responsibilities : bool

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
    labels : ndarray of shape (n_samples,), int64
    responsibilities : ndarray of shape (n_samples, n_components) or None
    """
    n = X.shape[0]
    means, factors, log_weights, log_det = params.kernel_arguments()
    lse = np.empty(n)
    labels = np.empty(n, dtype=np.int64)
    resp = np.empty((n if with_responsibilities else 0, params.n_components))
    like = np.empty(0, compute_dtype(X.dtype, factors, means))
    with kernel_threads(n):
        _kernels.per_sample_scores(X, means, factors, log_weights, log_det, block_size(n), like, lse, labels, resp)
    return lse, labels, (resp if with_responsibilities else None)
