"""Partly labelled data: rows with a known component keep it, the others are shared out by EM.

:class:`PartlyLabelledData` is a data source (it answers
``em_statistics(params)`` as :class:`~gmm_numba.data.in_memory.InMemoryData`
does), so the ordinary EM driver and every covariance model's M-step work
unchanged: the unlabelled rows go through the fused kernel, the labelled
rows add their sums with fixed one-hot responsibilities. Out of core the
same sums are taken chunk by chunk (``map_rows``), each chunk with its
slice of the labels, which stay in memory (one integer per row).

The log-likelihood it reports is the one mclust's ``MclustSSC`` maximises:

    sum over unlabelled rows of w_n log sum_k pi_k N(x_n | k)
    + sum over labelled rows of w_n log(pi_{y_n} N(x_n | y_n)),

the likelihood of the unlabelled rows and the labelled rows with their
labels. The labelled rows' responsibilities are fixed, so they add nothing
to the ICL entropy term.
"""

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_triangular

from .chunked import KernelArguments
from .in_memory import InMemoryData, compute_dtype
from .statistics import SufficientStatistics


def check_labels(y, n_samples, n_components):
    """Labels as int64: ``0..n_components-1`` for labelled rows, -1 for the others.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
    n_samples, n_components : int

    Returns
    -------
    ndarray of shape (n_samples,), int64

    Raises
    ------
    TypeError
        Non-integer labels (strings, fractions, NaN).
    ValueError
        Wrong length, or labels outside ``-1..n_components-1``.
    """
    values = np.asarray(y)
    if values.ndim != 1:
        raise ValueError(f"y must be one-dimensional (one label per row), got shape {values.shape}.")
    if values.shape[0] != n_samples:
        raise ValueError(f"y has {values.shape[0]} labels but X has {n_samples} rows.")
    numeric = np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)
    if values.dtype == bool or not numeric:
        raise TypeError(
            f"y must hold component indices 0..{n_components - 1} and -1 for unlabelled rows, got dtype {values.dtype}."
        )
    if np.issubdtype(values.dtype, np.floating):
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            raise TypeError(
                "y must hold whole numbers: component indices and -1 for unlabelled rows (not NaN or fractions)."
            )
    labels = values.astype(np.int64)
    bad = np.flatnonzero((labels < -1) | (labels >= n_components))
    if bad.size:
        raise ValueError(
            f"y[{bad[0]}] = {labels[bad[0]]} is not a component index 0..{n_components - 1} or -1 (unlabelled); "
            f"{bad.size} label(s) are out of range."
        )
    return labels


def labelled_statistics(X, sample_weight, labels, n_components, shifts, s2_shape):
    """Sums of the labelled rows with one-hot responsibilities, about ``shifts``.

    Parameters
    ----------
    X : ndarray of shape (m, n_features)
    sample_weight : ndarray of shape (m,)
    labels : ndarray of shape (m,), values ``0..n_components-1``
    n_components : int
    shifts : ndarray of shape (n_components, n_features)
    s2_shape : tuple
        ``(K, D, D)``, ``(K, 1, D)`` (diagonal) or ``(K, 1, 1)`` (trace), as the
        statistics they are added to.

    Returns
    -------
    nk : ndarray of shape (K,)
    s1 : ndarray of shape (K, D)
    s2 : ndarray of shape ``s2_shape``
    """
    d = X.shape[1]
    nk = np.bincount(labels, weights=sample_weight, minlength=n_components).astype(np.float64)
    s1 = np.zeros((n_components, d))
    s2 = np.zeros(s2_shape)
    for k in range(n_components):
        rows = labels == k
        if not rows.any():
            continue
        centred = X[rows] - shifts[k]
        w = sample_weight[rows]
        s1[k] = w @ centred
        if s2_shape[1] == d:
            s2[k] = (centred * w[:, None]).T @ centred
        elif s2_shape[2] == d:
            s2[k, 0] = w @ (centred * centred)
        else:
            s2[k, 0, 0] = w @ (centred * centred).sum(axis=1)
    return nk, s1, s2


@dataclass(frozen=True)
class LabelledParameters:
    """What the labelled rows' log-densities need, computed once per E-step (cheap to ship to workers).

    Attributes
    ----------
    log_weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    factors : ndarray of shape (n_components, n_features, n_features)
        Lower Cholesky factors of the full covariances.
    """

    log_weights: np.ndarray
    means: np.ndarray
    factors: np.ndarray

    @classmethod
    def of(cls, params):
        with np.errstate(divide="ignore"):
            log_weights = np.log(params.weights)
        return cls(log_weights, np.asarray(params.means, dtype=np.float64),
                   np.linalg.cholesky(params.full_covariances()))


def labelled_log_density(X, labels, params):
    """``log(pi_{y_n} N(x_n | mu_{y_n}, Sigma_{y_n}))`` of each labelled row, shape (m,).

    ``params`` is a :class:`LabelledParameters`.
    """
    out = np.empty(X.shape[0])
    d = X.shape[1]
    for k in np.unique(labels):
        rows = labels == k
        factor = params.factors[k]
        z = solve_triangular(factor, (X[rows] - params.means[k]).T, lower=True)
        out[rows] = (params.log_weights[k] - 0.5 * np.sum(z * z, axis=0) - np.sum(np.log(np.diag(factor)))
                     - 0.5 * d * math.log(2 * math.pi))
    return out


def with_labelled_rows(free, X, sample_weight, labels, kernel_args, params, dtype):
    """The unlabelled rows' statistics plus the labelled rows' fixed one-hot sums.

    Parameters
    ----------
    free : SufficientStatistics or None
        The E-step of the unlabelled rows (None when there are none).
    X : ndarray of shape (m, n_features)
        The labelled rows.
    sample_weight : ndarray of shape (m,)
    labels : ndarray of shape (m,), values ``0..K-1``
    kernel_args : MixtureParameters or KernelArguments
    params : LabelledParameters
    dtype : numpy dtype
        The data's (for the shifts when ``free`` is None, as the kernel rounds them).

    Returns
    -------
    SufficientStatistics
    """
    means, factors = kernel_args.kernel_arguments()[:2]
    k, d = means.shape
    if free is None:
        s2_shape = (k, d, d) if factors.shape[1] > 1 else (k, 1, factors.shape[2])
        shifts = np.asarray(means).astype(compute_dtype(dtype, factors, means)).astype(np.float64)
        free = SufficientStatistics(0.0, 0.0, 0.0, np.zeros(k), np.zeros((k, d)), np.zeros(s2_shape), shifts)
    X = np.asarray(X, dtype=np.float64)
    nk, s1, s2 = labelled_statistics(X, sample_weight, labels, k, free.shifts, free.s2.shape)
    positive = sample_weight > 0
    log_density = labelled_log_density(X[positive], labels[positive], params)
    return SufficientStatistics(
        free.total_weight + float(sample_weight.sum()),
        free.log_likelihood + float(sample_weight[positive] @ log_density),
        free.hard_log_resp,
        free.nk + nk,
        free.s1 + s1,
        free.s2 + s2,
        free.shifts,
    )


def partly_labelled_chunk(X, sample_weight, rows, kernel_args, params):
    """:meth:`PartlyLabelledData.em_statistics` of one chunk, ``rows[0]`` its labels (a ``map_rows`` function)."""
    labels = rows[0]
    known = labels >= 0
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    free = None
    if not known.all():
        w = None if sample_weight is None else np.ascontiguousarray(weights[~known])
        free = InMemoryData(np.ascontiguousarray(X[~known]), w).em_statistics(kernel_args)
    return with_labelled_rows(free, X[known], weights[known], labels[known], kernel_args, params, X.dtype)


def start_responsibilities(labels, n_components):
    """mclust's start: one-hot for labelled rows, ``1 / K`` to every component for the others, shape (m, K)."""
    resp = np.full((labels.shape[0], n_components), 1.0 / n_components)
    known = np.flatnonzero(labels >= 0)
    resp[known] = 0.0
    resp[known, labels[known]] = 1.0
    return resp


def start_moments_chunk(X, sample_weight, rows, n_components):
    """``(sum_n w_n, sum_n w_n r_nk, sum_n w_n r_nk x_n)`` of one chunk at the start responsibilities."""
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    weighted = start_responsibilities(rows[0], n_components) * weights[:, None]
    return float(weights.sum()), weighted.sum(axis=0), weighted.T @ np.asarray(X, dtype=np.float64)


def start_scatter_chunk(X, sample_weight, rows, shifts):
    """``sum_n w_n r_nk (x_n - c_k)(x_n - c_k)^T`` of one chunk at the start responsibilities, shape (K, D, D)."""
    k = shifts.shape[0]
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    weighted = start_responsibilities(rows[0], k) * weights[:, None]
    X = np.asarray(X, dtype=np.float64)
    s2 = np.empty((k, X.shape[1], X.shape[1]))
    for j in range(k):
        centred = X - shifts[j]
        s2[j] = (centred * weighted[:, j, None]).T @ centred
    return s2


class PartlyLabelledData:
    """A data source whose labelled rows keep their component.

    Parameters
    ----------
    source : data source
        :class:`~gmm_numba.data.in_memory.InMemoryData`, or an out-of-core
        source with ``map_rows`` (memory map, Dask), passed over chunk by chunk.
    labels : ndarray of shape (n_samples,), int64
        From :func:`check_labels`; at least one row labelled.
    n_components : int
    """

    def __init__(self, source, labels, n_components):
        self.source = source
        # out of core the labels travel with every pass: the narrowest integers that hold -1..K-1
        self.labels = labels.astype(np.min_scalar_type(-n_components))
        self.n_components = n_components
        self._split = None
        if isinstance(source, InMemoryData):  # split once instead of at every E-step
            X, w = source.take()
            known = labels >= 0
            weights = np.ones(X.shape[0]) if w is None else w
            free = None
            if not known.all():
                free = InMemoryData(np.ascontiguousarray(X[~known]),
                                    None if w is None else np.ascontiguousarray(weights[~known]))
            self._split = (free, np.asarray(X[known], dtype=np.float64), weights[known], labels[known])

    @property
    def n_samples(self):
        return self.source.n_samples

    @property
    def n_features(self):
        return self.source.n_features

    @property
    def dtype(self):
        return self.source.dtype

    def em_statistics(self, params):
        """Sufficient statistics at ``params``: the unlabelled rows' E-step plus the labelled rows' fixed sums."""
        labelled = LabelledParameters.of(params)
        if self._split is None:
            return self.source.map_rows(partly_labelled_chunk, KernelArguments(params), labelled, rows=(self.labels,))
        free, X, w, labels = self._split
        free = None if free is None else free.em_statistics(params)
        return with_labelled_rows(free, X, w, labels, params, labelled, self.dtype)

    def start_statistics(self):
        """mclust's start: labelled rows one-hot, unlabelled rows ``1 / K`` to every component (full sums).

        Two passes over the data.

        Returns
        -------
        SufficientStatistics
            About each component's start mean, with full second moments.
        """
        k = self.n_components
        total, nk, sums = self.source.map_rows(start_moments_chunk, k, rows=(self.labels,))
        shifts = sums / nk[:, None]
        s2 = self.source.map_rows(start_scatter_chunk, shifts, rows=(self.labels,))
        return SufficientStatistics(total, np.nan, np.nan, nk, np.zeros_like(shifts), s2, shifts)
