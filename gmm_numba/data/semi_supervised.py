"""Partly labelled data: rows with a known component keep it, the others are shared out by EM.

:class:`PartlyLabelledData` is a data source (it answers
``em_statistics(params)`` as :class:`~gmm_numba.data.in_memory.InMemoryData`
does), so the ordinary EM driver and every covariance model's M-step work
unchanged: the unlabelled rows go through the fused kernel, the labelled
rows add their sums with fixed one-hot responsibilities.

The log-likelihood it reports is the one mclust's ``MclustSSC`` maximises:

    sum over unlabelled rows of w_n log sum_k pi_k N(x_n | k)
    + sum over labelled rows of w_n log(pi_{y_n} N(x_n | y_n)),

the likelihood of the unlabelled rows and the labelled rows with their
labels. The labelled rows' responsibilities are fixed, so they add nothing
to the ICL entropy term.
"""

import math

import numpy as np
from scipy.linalg import solve_triangular

from .in_memory import InMemoryData
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


def labelled_log_density(X, labels, params):
    """``log(pi_{y_n} N(x_n | mu_{y_n}, Sigma_{y_n}))`` of each labelled row, shape (m,)."""
    out = np.empty(X.shape[0])
    full = params.full_covariances()
    d = X.shape[1]
    with np.errstate(divide="ignore"):
        log_weights = np.log(params.weights)
    for k in np.unique(labels):
        rows = labels == k
        factor = np.linalg.cholesky(full[k])
        z = solve_triangular(factor, (X[rows] - params.means[k]).T, lower=True)
        out[rows] = (log_weights[k] - 0.5 * np.sum(z * z, axis=0) - np.sum(np.log(np.diag(factor)))
                     - 0.5 * d * math.log(2 * math.pi))
    return out


class PartlyLabelledData:
    """A data source whose labelled rows keep their component.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous float32 or float64
    sample_weight : ndarray of shape (n_samples,) or None
    labels : ndarray of shape (n_samples,), int64
        From :func:`check_labels`; at least one row labelled.
    n_components : int
    """

    def __init__(self, X, sample_weight, labels, n_components):
        self.X = X
        self.n_components = n_components
        weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        known = labels >= 0
        self._known = known
        self.X_labelled = np.asarray(X[known], dtype=np.float64)
        self.w_labelled = weights[known]
        self.labels = labels[known]
        unknown = ~known
        self.unlabelled = None
        if unknown.any():
            w = None if sample_weight is None else np.ascontiguousarray(weights[unknown])
            self.unlabelled = InMemoryData(np.ascontiguousarray(X[unknown]), w)
        self.sample_weight = weights

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def dtype(self):
        return self.X.dtype

    def em_statistics(self, params):
        """Sufficient statistics at ``params``: the unlabelled rows' E-step plus the labelled rows' fixed sums."""
        k, d = params.means.shape
        if self.unlabelled is not None:
            free = self.unlabelled.em_statistics(params)
            shifts, s2_shape = free.shifts, free.s2.shape
        else:
            kernel_factors = params.kernel_arguments()[1]
            s2_shape = (k, d, d) if kernel_factors.shape[1] > 1 else (k, 1, kernel_factors.shape[2])
            shifts = np.asarray(params.means, dtype=np.float64)
            free = SufficientStatistics(0.0, 0.0, 0.0, np.zeros(k), np.zeros((k, d)), np.zeros(s2_shape), shifts)
        nk, s1, s2 = labelled_statistics(self.X_labelled, self.w_labelled, self.labels, k, shifts, s2_shape)
        positive = self.w_labelled > 0
        log_density = labelled_log_density(self.X_labelled[positive], self.labels[positive], params)
        return SufficientStatistics(
            free.total_weight + float(self.w_labelled.sum()),
            free.log_likelihood + float(self.w_labelled[positive] @ log_density),
            free.hard_log_resp,
            free.nk + nk,
            free.s1 + s1,
            free.s2 + s2,
            shifts,
        )

    def start_statistics(self):
        """mclust's start: labelled rows one-hot, unlabelled rows ``1 / K`` to every component (full sums).

        Returns
        -------
        SufficientStatistics
            About each component's start mean, with full second moments.
        """
        k = self.n_components
        X = np.asarray(self.X, dtype=np.float64)
        resp = np.zeros((X.shape[0], k))
        known = np.flatnonzero(self._known)
        resp[:] = 1.0 / k
        resp[known] = 0.0
        resp[known, self.labels] = 1.0
        weighted = resp * self.sample_weight[:, None]
        nk = weighted.sum(axis=0)
        shifts = (weighted.T @ X) / nk[:, None]
        s2 = np.empty((k, X.shape[1], X.shape[1]))
        for j in range(k):
            centred = X - shifts[j]
            s2[j] = (centred * weighted[:, j, None]).T @ centred
        total = float(self.sample_weight.sum())
        return SufficientStatistics(total, np.nan, np.nan, nk, np.zeros_like(shifts), s2, shifts)
