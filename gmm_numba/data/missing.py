"""Data with missing entries (NaN): the observed-data likelihood and expected sufficient statistics.

:class:`MissingData` answers the questions :class:`~.in_memory.InMemoryData`
answers, for an array whose NaN entries are missing at random:

* ``em_statistics(parameters)`` returns the *expected* sufficient statistics
  of EM for incomplete data (see docs/derivation.md, "Missing values"): each
  row's responsibilities come from the density of its observed entries, and
  its moments are those of the row completed by the conditional mean of the
  missing entries, plus the conditional covariance of the missing block.
  Complete rows go through the fused E-step kernel unchanged; rows with
  missing entries are sorted by missingness pattern once, each (pattern,
  component) observed block is factorised once per iteration, and the rows
  of common patterns (:data:`LARGE_PATTERN_ROWS`) go through the same fused,
  tiled E-step in one parallel pass, those of rare patterns through a
  row-by-row kernel (both in :mod:`gmm_numba._kernels.missing`). The
  statistics are always returned in the covariance model's layout, so every
  model's M-step applies as it is.
* The starting points (k-means++, random rows, random responsibilities,
  the hierarchical start) and the subsamples are taken from the data with
  each missing entry replaced by its feature's observed (weighted) mean;
  EM then corrects what that imputation gets wrong. Feature variances (for
  ``reg_covar="auto"`` and the magnitude check) are those of the observed
  entries.

Rows with every entry missing carry no information: they are left out of
the fit (the caller warns). A feature with no observed entry is an error.
"""

import numpy as np

from .._kernels import missing as _missing_kernels
from .._kernels.config import at_most_threads, block_size, kernel_threads, moment_floats
from .._kernels.interrupts import interruptible
from ..errors import NumericalError, warn_at_caller
from .checks import plural
from .in_memory import CONSTANT_FEATURE_TOLERANCE, InMemoryData, per_sample_scores
from .statistics import SufficientStatistics

missing_em_statistics = interruptible(_missing_kernels.missing_em_statistics)
missing_row_scores = interruptible(_missing_kernels.missing_row_scores)
pattern_em_statistics = interruptible(_missing_kernels.pattern_em_statistics)
pattern_row_scores = interruptible(_missing_kernels.pattern_row_scores)
pattern_conditional_means = interruptible(_missing_kernels.pattern_conditional_means)

#: Rows of a pattern with at least this many go through the fused, tiled E-step of complete data
#: (every such pattern in one parallel pass, :func:`pattern_em_statistics`); rows of rarer patterns
#: through the row-by-row kernel, which refactorises as the pattern changes at no call overhead.
LARGE_PATTERN_ROWS = 64

#: Rows of a pattern-sorted array summed per parallel group (the groups depend on the row count only).
GROUP_ROWS = 4096
#: At most this many groups.
MAX_GROUPS = 64


def n_groups(n_rows):
    """Row groups of the missing-value kernels for ``n_rows`` rows (independent of the thread count)."""
    return int(min(MAX_GROUPS, max(1, -(-n_rows // GROUP_ROWS))))


def has_nan(X):
    """Whether ``X`` (no infinity) holds a NaN; one pass, without a boolean temporary when it does not."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isnan(np.add.reduce(X, axis=None, dtype=np.float64)) and np.isnan(X).any())


def check_missing(X, name="X"):
    """Refuse data whose missing entries leave nothing to fit.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        May hold NaN (not infinity).
    name : str

    Returns
    -------
    observed : ndarray of shape (n_samples, n_features), bool

    Raises
    ------
    ValueError
        A feature with no observed entry, or no row with an observed entry.
    """
    observed = ~np.isnan(X)
    empty_columns = np.flatnonzero(~observed.any(axis=0))
    if empty_columns.size:
        raise ValueError(
            f"{name} has {plural(empty_columns.size, 'feature')} with every entry missing (NaN) "
            f"(first: feature {empty_columns[0]}); nothing can be estimated for it. Drop the column first, "
            f"for example {name}[:, ~np.isnan({name}).all(axis=0)]."
        )
    return observed


def pattern_order(observed):
    """Rows grouped by missingness pattern.

    Parameters
    ----------
    observed : ndarray of shape (n_rows, n_features), bool

    Returns
    -------
    order : ndarray of shape (n_rows,), int64
        Row indices sorted by pattern (stable within a pattern).
    pattern_of_row : ndarray of shape (n_rows,), int64
        The pattern of each sorted row (non-decreasing).
    masks : ndarray of shape (n_patterns, n_features), bool
    """
    if observed.shape[0] == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.zeros((0, observed.shape[1]), bool)
    n, d = observed.shape
    packed = np.packbits(observed, axis=1, bitorder="little")
    if d <= 64:
        # each pattern as one unsigned integer (16 bits or fewer: numpy's stable sort is a radix sort)
        width = next(w for w in (2, 4, 8) if packed.shape[1] <= w)
        words = np.zeros((n, width), np.uint8)
        words[:, : packed.shape[1]] = packed
        codes = words.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[width]).reshape(n)
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        starts = np.concatenate([[True], sorted_codes[1:] != sorted_codes[:-1]])
        pattern_of_row = np.cumsum(starts) - 1
        masks_packed = words[order[starts]]
    else:
        masks_packed, inverse = np.unique(packed, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        order = np.argsort(inverse, kind="stable")
        pattern_of_row = inverse[order]
    masks = np.unpackbits(masks_packed, axis=1, count=d, bitorder="little").astype(bool)
    return order.astype(np.int64), pattern_of_row.astype(np.int64), np.ascontiguousarray(masks)


class MissingData:
    """An in-memory array with missing entries (NaN), with optional sample weights.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        C-contiguous float32 or float64, checked (:func:`~.checks.check_data` with
        ``allow_nan=True``); NaN marks a missing entry.
    sample_weight : ndarray of shape (n_samples,) or None

    Attributes
    ----------
    n_all_missing : int
        Rows with every entry missing, left out.
    n_incomplete : int
        Rows (kept) with at least one entry missing.
    missing_fraction : float
        Fraction of the kept rows' entries that are missing.
    """

    def __init__(self, X, sample_weight=None):
        observed = check_missing(X)
        any_observed = observed.any(axis=1)
        self.n_all_missing = int(X.shape[0] - np.count_nonzero(any_observed))
        if not self.n_all_missing:
            any_observed = slice(None)
        X = X[any_observed]
        observed = observed[any_observed]
        weights = None if sample_weight is None else np.ascontiguousarray(sample_weight[any_observed])
        self._dtype = X.dtype
        complete = observed.all(axis=1)
        self.n_incomplete = int(X.shape[0] - np.count_nonzero(complete))
        self.missing_fraction = float(1.0 - observed.mean()) if X.size else 0.0
        self.complete = None
        if complete.any():
            self.complete = InMemoryData(
                np.ascontiguousarray(X[complete]), None if weights is None else np.ascontiguousarray(weights[complete])
            )
        partial = np.flatnonzero(~complete)
        order, pattern_of_row, masks = pattern_order(observed[partial])
        rows = partial[order]
        large, small = split_patterns(pattern_of_row, len(masks))
        common = np.concatenate([np.arange(a, b) for _, a, b in large]) if large else np.empty(0, np.int64)
        #: rows of the common patterns, sorted by pattern, missing entries 0; their patterns and row ranges
        self.common_X = np.ascontiguousarray(np.nan_to_num(X[rows[common]], nan=0.0), dtype=np.float64)
        self.common_weight = (
            _NO_WEIGHTS if weights is None else np.ascontiguousarray(weights[rows[common]], np.float64)
        )
        self.common_masks = np.ascontiguousarray(masks[[p for p, _, _ in large]].reshape(-1, X.shape[1]))
        self._common_sizes = np.array([b - a for _, a, b in large], dtype=np.int64)
        self._blocks = {}
        rows = rows[small]
        self.pattern_of_row, self.masks = pattern_of_row[small], masks
        self.partial_X = np.ascontiguousarray(np.nan_to_num(X[rows], nan=0.0), dtype=np.float64)
        self.partial_weight = np.ones(len(rows)) if weights is None else np.ascontiguousarray(weights[rows], np.float64)
        self._observed_moments(X, observed, weights)
        filled = np.where(observed, X, self._observed_mean.astype(X.dtype))
        #: the data with each missing entry replaced by its feature's observed mean: for the starts
        self.imputed = InMemoryData(np.ascontiguousarray(filled), weights)

    def _observed_moments(self, X, observed, weights):
        """Each feature's weighted mean and variance over its observed entries (two passes)."""
        w = np.ones(X.shape[0]) if weights is None else weights
        a = observed * w[:, None]
        total = a.sum(axis=0)
        values = np.where(observed, X, 0.0).astype(np.float64)
        mean = (a * values).sum(axis=0) / total
        with np.errstate(over="ignore", invalid="ignore"):
            variance = (a * np.where(observed, values - mean, 0.0) ** 2).sum(axis=0) / total
            constant = np.isfinite(variance) & (variance <= (CONSTANT_FEATURE_TOLERANCE * mean) ** 2)
        self._observed_mean = mean
        self._variance = np.where(constant, 0.0, variance)

    # ------------------------------------------------------------ the source's questions
    @property
    def n_samples(self):
        return self.imputed.n_samples

    @property
    def n_features(self):
        return self.imputed.n_features

    @property
    def dtype(self):
        return self._dtype

    @property
    def sample_weight(self):
        return self.imputed.sample_weight

    @property
    def weight_range(self):
        return self.imputed.weight_range

    def feature_variance(self):
        """Weighted variance of each feature over its observed entries, shape (n_features,)."""
        return self._variance

    def em_statistics(self, params):
        """Expected sufficient statistics at ``params``, in the model's layout.

        Parameters
        ----------
        params : MixtureParameters

        Returns
        -------
        SufficientStatistics
            ``log_likelihood`` is the observed-data log-likelihood
            ``sum_n w_n log p(x_n,o)``.

        Raises
        ------
        NumericalError
            An observed block of a covariance that is not numerically positive definite.
        """
        stats = None if self.complete is None else self.complete.em_statistics(params)
        means = np.ascontiguousarray(params.means, dtype=np.float64)
        shifts = means if stats is None else stats.shifts
        covariances = np.ascontiguousarray(params.full_covariances(), dtype=np.float64)
        log_weights = params.kernel_arguments()[2]
        k, d = means.shape
        totals = np.zeros(3)
        nk, s1, s2 = np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d))
        if len(self.common_masks):
            ok, means_p, factors_p, log_det_p, regression, conditional = _missing_kernels.pattern_parameters(
                self.common_masks, covariances, means
            )
            if not ok:
                raise _not_positive_definite()
            bounds, block_pattern = self.common_blocks(k)
            with at_most_threads(len(block_pattern)):
                scalars, nk_p, m1, m2 = pattern_em_statistics(
                    self.common_X, self.common_weight, bounds, block_pattern, means_p, factors_p, log_weights,
                    log_det_p, _FLOAT64,
                )
            for row in scalars:  # pattern by pattern, in order
                totals += row
            for row in nk_p:
                nk += row
            _missing_kernels.completed_moments(
                self.common_masks, nk_p, m1, m2, regression, conditional, means - shifts, s1, s2
            )
        if len(self.partial_X):
            groups = n_groups(len(self.partial_X))
            with at_most_threads(groups):
                raw, nk_r, s1_r, s2_r = missing_em_statistics(
                    self.partial_X, self.partial_weight, self.pattern_of_row, self.masks, means, covariances,
                    log_weights, np.ascontiguousarray(shifts), groups,
                )
            if not raw[3]:
                raise _not_positive_definite()
            totals += raw[:3]
            nk, s1, s2 = nk + nk_r, s1 + s1_r, s2 + s2_r
        partial = SufficientStatistics(
            totals[0], totals[1], totals[2], nk, s1, in_layout(s2, params.model.layout), np.array(shifts)
        )
        return partial if stats is None else stats + partial

    def common_blocks(self, n_components):
        """Blocks of the common patterns' rows for :func:`pattern_em_statistics` (cached per ``n_components``).

        As many rows per block as the complete-data kernel takes for this
        shape (:func:`block_size`), a block never spanning two patterns.

        Returns
        -------
        bounds : ndarray of shape (n_blocks + 1,), int64
        block_pattern : ndarray of shape (n_blocks,), int64
        """
        if n_components not in self._blocks:
            d = self.n_features
            rows = block_size(len(self.common_X), moment_floats(n_components, d, (d, d)))
            self._blocks[n_components] = pattern_blocks(self._common_sizes, rows)
        return self._blocks[n_components]

    def nearest_center_statistics(self, centers, with_s2, inv_scale=None):
        """Hard-assignment sums of the mean-imputed data (for the starts)."""
        return self.imputed.nearest_center_statistics(centers, with_s2, inv_scale)

    def random_responsibility_statistics(self, seed, n_components):
        """Random-responsibility statistics of the mean-imputed data (for the ``"random"`` start)."""
        return self.imputed.random_responsibility_statistics(seed, n_components)

    def subsample(self, size, rng):
        """At most ``size`` rows of the mean-imputed data; see :meth:`InMemoryData.subsample`."""
        return self.imputed.subsample(size, rng)

    def rows(self, indices):
        """Rows of the mean-imputed data as float64, shape (len(indices), n_features)."""
        return self.imputed.rows(indices)


_FLOAT64 = np.empty(0, np.float64)
_NO_WEIGHTS = np.empty(0)


def _not_positive_definite():
    return NumericalError(
        "A covariance's block of observed features is not numerically positive definite; "
        "increase reg_covar or standardise the features."
    )


def pattern_blocks(sizes, rows):
    """Blocks of at most ``rows`` rows over consecutive patterns of ``sizes`` rows, none spanning two patterns.

    Parameters
    ----------
    sizes : ndarray of shape (n_patterns,), int64
    rows : int

    Returns
    -------
    bounds : ndarray of shape (n_blocks + 1,), int64
        Row offsets of the blocks.
    block_pattern : ndarray of shape (n_blocks,), int64
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    counts = -(-sizes // rows)
    block_pattern = np.repeat(np.arange(len(counts)), counts)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    first_block = np.concatenate([[0], np.cumsum(counts)])
    within = np.arange(len(block_pattern)) - first_block[block_pattern]
    bounds = np.append(starts[block_pattern] + within * rows, starts[-1])
    return np.ascontiguousarray(bounds, np.int64), block_pattern.astype(np.int64)


def split_patterns(pattern_of_row, n_patterns):
    """The common patterns' row ranges, and the rows of the rare ones.

    Parameters
    ----------
    pattern_of_row : ndarray of shape (n_rows,), int64, non-decreasing
    n_patterns : int

    Returns
    -------
    large : list of (pattern, start, stop)
        Patterns of at least :data:`LARGE_PATTERN_ROWS` rows.
    small : ndarray of int64
        Positions of the other rows.
    """
    sizes = np.bincount(pattern_of_row, minlength=n_patterns)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    common = sizes >= LARGE_PATTERN_ROWS
    large = [(int(p), int(bounds[p]), int(bounds[p + 1])) for p in np.flatnonzero(common)]
    small = np.flatnonzero(~common[pattern_of_row])
    return large, small


def in_layout(s2, layout):
    """Full second moments (K, D, D) in a model's layout: themselves, their diagonals (K, 1, D) or traces (K, 1, 1)."""
    if layout == "diag":
        return np.ascontiguousarray(np.diagonal(s2, axis1=1, axis2=2)[:, None, :])
    if layout == "spherical":
        return np.trace(s2, axis1=1, axis2=2)[:, None, None]
    return s2


def missing_scores(X, params, with_responsibilities=False, with_imputed=False):
    """Per-row observed-data scores of data that may hold NaN, and optionally conditional means.

    Complete rows are scored by the complete-data kernel exactly as
    :func:`~.in_memory.per_sample_scores` scores them; rows with missing
    entries by their observed entries' density. A row with every entry
    missing has log-density 0 (the density of nothing), the mixture weights
    as responsibilities and the mixture mean as its imputation.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        float32 or float64; NaN marks a missing entry.
    params : MixtureParameters
    with_responsibilities, with_imputed : bool

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
    labels : ndarray of shape (n_samples,), int64
    responsibilities : ndarray of shape (n_samples, n_components) or None
    imputed : ndarray of shape (n_samples, n_features), X's dtype, or None
        ``X`` with each missing entry replaced by ``E[x_m | x_o]``; observed
        entries are copied unchanged.
    """
    n, d = X.shape
    k = params.n_components
    observed = ~np.isnan(X)
    complete = observed.all(axis=1)
    lse = np.empty(n)
    labels = np.empty(n, dtype=np.int64)
    resp = np.empty((n, k)) if with_responsibilities else None
    imputed = X.copy() if with_imputed else None
    if complete.any():
        c_lse, c_labels, c_resp = per_sample_scores(
            np.ascontiguousarray(X[complete]), params, with_responsibilities
        )
        lse[complete], labels[complete] = c_lse, c_labels
        if with_responsibilities:
            resp[complete] = c_resp
    partial = np.flatnonzero(~complete)
    if not partial.size:
        return lse, labels, resp, imputed
    order, pattern_of_row, masks = pattern_order(observed[partial])
    rows = partial[order]
    means = np.ascontiguousarray(params.means, dtype=np.float64)
    covariances = np.ascontiguousarray(params.full_covariances(), dtype=np.float64)
    log_weights = params.kernel_arguments()[2]
    large, small = split_patterns(pattern_of_row, len(masks))
    if large:
        common = np.concatenate([np.arange(a, b) for _, a, b in large])
        these = rows[common]
        X_c = np.ascontiguousarray(np.nan_to_num(X[these], nan=0.0), dtype=np.float64)
        c_masks = np.ascontiguousarray(masks[[p for p, _, _ in large]])
        ok, means_p, factors_p, log_det_p, regression, _ = _missing_kernels.pattern_parameters(
            c_masks, covariances, means
        )
        if not ok:
            raise _not_positive_definite()
        sizes = np.array([b - a for _, a, b in large], dtype=np.int64)
        bounds, block_pattern = pattern_blocks(sizes, block_size(len(these)))
        c_lse = np.empty(len(these))
        c_labels = np.empty(len(these), dtype=np.int64)
        c_resp = np.empty((len(these) if with_responsibilities or with_imputed else 0, k))
        with at_most_threads(len(block_pattern)):
            pattern_row_scores(
                X_c, bounds, block_pattern, means_p, factors_p, log_weights, log_det_p, _FLOAT64,
                c_lse, c_labels, c_resp,
            )
        lse[these], labels[these] = c_lse, c_labels
        if with_responsibilities:
            resp[these] = c_resp
        if with_imputed:
            filled = X_c.copy()
            with kernel_threads(len(these)):
                pattern_conditional_means(
                    X_c, np.repeat(np.arange(len(sizes)), sizes), c_masks, regression, means, c_resp, filled
                )
            missing = ~observed[these]
            block = imputed[these]
            block[missing] = filled[missing].astype(X.dtype)
            imputed[these] = block
    if small.size:
        these = rows[small]
        X_s = np.ascontiguousarray(np.nan_to_num(X[these], nan=0.0), dtype=np.float64)
        p_lse = np.empty(len(these))
        p_resp = np.empty((len(these), k))
        p_imputed = np.empty((len(these) if with_imputed else 0, d))
        groups = n_groups(len(these))
        with at_most_threads(groups):
            ok = missing_row_scores(
                X_s, pattern_of_row[small], masks, means, covariances, log_weights, groups, p_lse, p_resp, p_imputed
            )
        if not ok:
            raise _not_positive_definite()
        lse[these] = p_lse
        labels[these] = np.argmax(p_resp, axis=1)
        if with_responsibilities:
            resp[these] = p_resp
        if with_imputed:
            missing = ~observed[these]
            block = imputed[these]
            block[missing] = p_imputed[missing].astype(X.dtype)
            imputed[these] = block
    return lse, labels, resp, imputed


def in_memory_source(X, sample_weight=None, *, min_samples=1, requirement=""):
    """The source for checked in-memory data that may hold NaN: MissingData, or without NaN InMemoryData.

    Data without a NaN gets the complete-data source, so its fit is
    today's, bit for bit.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Checked with ``allow_nan=True``.
    sample_weight : ndarray of shape (n_samples,) or None
        Checked.
    min_samples : int
        Fewest rows with an observed entry (and positive weight) a fit accepts.
    requirement : str
        Why (for the message).

    Returns
    -------
    InMemoryData or MissingData

    Warns
    -----
    UserWarning
        Rows with every entry missing: how many, left out of the fit.

    Raises
    ------
    ValueError
        A feature with every entry missing, or too few rows with an observed entry.
    """
    if not has_nan(X):
        return InMemoryData(X, sample_weight)
    data = MissingData(X, sample_weight)
    n_used = data.n_samples if sample_weight is None else int(np.count_nonzero(data.sample_weight))
    if n_used < min_samples:
        weighted = "" if sample_weight is None else " and positive weight"
        raise ValueError(
            f"X has {plural(n_used, 'row')} with an observed entry{weighted} "
            f"while a minimum of {min_samples} is required ({requirement}); rows with every entry missing do not count."
        )
    if data.n_all_missing:
        first = int(np.flatnonzero(np.isnan(X).all(axis=1))[0])
        warn_at_caller(
            f"X has {plural(data.n_all_missing, 'row')} with every entry missing (first: row {first}): they carry no "
            "information and are left out of the fit; impute gives them the mixture's mean.",
            UserWarning,
        )
    return data


def conditional_draws(X, params, n_draws, rng):
    """Draws of the missing entries from their conditional distribution under the mixture.

    For each row and draw, a component ``k`` is drawn with probability
    ``p(k | x_o)``, then the missing entries from
    ``N(mu_k,m + B_k (x_o - mu_k,o), C_k)`` (see docs/derivation.md).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Checked; NaN marks a missing entry.
    params : MixtureParameters
    n_draws : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n_draws, n_samples, n_features), X's dtype
        Observed entries copied unchanged into every draw.
    """
    out = np.repeat(X[None], n_draws, axis=0)
    observed = ~np.isnan(X)
    partial = np.flatnonzero(~observed.all(axis=1))
    if not partial.size:
        return out
    resp = missing_scores(X[partial], params, with_responsibilities=True)[2]
    order, pattern_of_row, masks = pattern_order(observed[partial])
    covariances = params.full_covariances()
    means = params.means
    bounds = np.flatnonzero(np.diff(np.r_[-1, pattern_of_row, -1]))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        mask = masks[pattern_of_row[start]]
        local = order[start:stop]
        rows = partial[local]
        o, m = np.flatnonzero(mask), np.flatnonzero(~mask)
        x_o = X[rows][:, o].astype(np.float64)
        cumulative = np.cumsum(resp[local], axis=1)
        cumulative[:, -1] = 1.0
        for d in range(n_draws):
            chosen = (rng.random(len(rows))[:, None] > cumulative).sum(axis=1)
            noise = rng.standard_normal((len(rows), len(m)))
            values = np.empty((len(rows), len(m)))
            for k in np.unique(chosen):
                S = covariances[k]
                these = chosen == k
                if len(o):
                    B = np.linalg.solve(S[np.ix_(o, o)], S[np.ix_(o, m)]).T
                    mean = means[k, m] + (x_o[these] - means[k, o]) @ B.T
                    C = S[np.ix_(m, m)] - B @ S[np.ix_(o, m)]
                else:
                    mean = np.broadcast_to(means[k, m], (int(these.sum()), len(m)))
                    C = S[np.ix_(m, m)]
                lower = np.linalg.cholesky(0.5 * (C + C.T))
                values[these] = mean + noise[these] @ lower.T
            block = out[d, rows]
            block[:, m] = values.astype(X.dtype)
            out[d, rows] = block
    return out
