"""The data side of a uniform noise component: a first guess of the clutter, the E-step and the scores.

A noise component has density ``1 / V`` on a region of volume ``V`` that
holds the data. With fixed parameters the Gaussian components' weighted
log-densities are what the fused kernels already compute; this module adds
the noise term per row, splits each row's weight between the noise and the
Gaussian part, and hands the Gaussian part to the ordinary sufficient
statistics as per-row weights. Every covariance model's M-step then works
unchanged.

The functions ending in ``_chunk`` are ``map_rows`` functions
(:meth:`gmm_numba.data.chunked.BlockwiseSource.map_rows`): the same code
serves in-memory, memory-mapped and Dask data, chunk by chunk. The region's
volume is :mod:`gmm_numba.data.volume`'s.
"""

import math
from dataclasses import dataclass

import numpy as np

from .chunked import KernelArguments
from .in_memory import InMemoryData, per_sample_scores
from .statistics import SufficientStatistics

#: Neighbours in the clutter criterion (:func:`nearest_neighbour_clutter`).
CLUTTER_NEIGHBOURS = 10

#: EM iterations of the two-rate mixture in :func:`nearest_neighbour_clutter`.
CLUTTER_EM_ITERATIONS = 200


def nearest_neighbour_clutter(X, n_neighbours=CLUTTER_NEIGHBOURS):
    """Flag rows that look like scattered clutter, by their distance to the ``k``-th nearest neighbour.

    After Byers & Raftery (1998), "Nearest-neighbor clutter removal for
    estimating features in spatial point processes". For a Poisson process
    of rate ``lambda`` in ``D`` dimensions, the volume of the ball that
    reaches a point's ``k``-th nearest neighbour, ``y = c_D d_k^D``, times
    ``lambda`` is Gamma(k, 1) distributed. Features and clutter are two
    processes of different rates, so the ``y`` are modelled as a mixture of
    two Gamma(k, rate lambda_j) laws, fitted by EM (closed-form M-step
    ``lambda_j = k sum_n r_nj / sum_n r_nj y_n``); a row is clutter when the
    sparse (lower-rate) law is the more probable for it.

    This is a simple version: distances are Euclidean in standardised
    units (each feature divided by its standard deviation, so that the
    criterion does not depend on the features' units), the two laws start
    from the lower and upper quarters of the ``y``, and rows at distance 0
    (duplicates) belong to the dense law. A feature-rich cluster that is
    much more spread than the others can be flagged in part: the flags are
    only EM's starting point.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_neighbours : int, default=10

    Returns
    -------
    ndarray of shape (n_samples,), bool
        True for the rows judged to be clutter.
    """
    from scipy.spatial import cKDTree

    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    std = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    k = min(n_neighbours, n - 1)
    if k < 1:
        return np.zeros(n, dtype=bool)
    distance = cKDTree(X).query(X, k=k + 1)[0][:, k]  # column 0 is the row itself
    log_ball = (d / 2) * math.log(math.pi) - math.lgamma(d / 2 + 1)
    with np.errstate(divide="ignore"):
        log_y = log_ball + d * np.log(distance)
    y = np.exp(log_y - np.max(log_y[np.isfinite(log_y)]))  # scaled to at most 1: the classes do not change
    positive = y > 0
    if np.count_nonzero(positive) < 4:
        return np.zeros(n, dtype=bool)
    low, high = np.quantile(y[positive], [0.25, 0.75])
    rates = np.array([k / max(low, 1e-300), k / max(high, 1e-300)])
    share = np.array([0.5, 0.5])
    for _ in range(CLUTTER_EM_ITERATIONS):
        with np.errstate(divide="ignore"):
            log_p = np.log(share) + k * np.log(rates) + (k - 1) * np.log(y[:, None]) - rates * y[:, None]
        log_p[~positive] = [0.0, -np.inf]  # duplicated rows belong to the dense law
        resp = np.exp(log_p - np.logaddexp.reduce(log_p, axis=1, keepdims=True))
        counts = resp.sum(axis=0)
        if np.any(counts <= 1e-12 * n):
            return np.zeros(n, dtype=bool)
        new_rates = k * counts / (resp * y[:, None]).sum(axis=0)
        share = counts / n
        done = np.allclose(new_rates, rates, rtol=1e-10)
        rates = new_rates
        if done:
            break
    sparse = int(np.argmin(rates))
    return resp[:, sparse] > 0.5


@dataclass(frozen=True)
class NoisyEStep:
    """One E-step of a mixture with a uniform noise component.

    Attributes
    ----------
    log_density : ndarray of shape (n_samples,)
        ``log p(x_n) = log(pi_0 / V + sum_k pi_k N(x_n | k))``.
    noise_resp : ndarray of shape (n_samples,)
        ``r_n0``, the noise component's responsibility.
    hard_log_resp : ndarray of shape (n_samples,)
        ``max_k log r_nk`` over every component, noise included.
    """

    log_density: np.ndarray
    noise_resp: np.ndarray
    hard_log_resp: np.ndarray


def noisy_e_step(X, params, log_noise):
    """The E-step with a noise component, per row.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous float32 or float64
    params : MixtureParameters
        The Gaussian components, their weights ``pi_k`` summing to ``1 - pi_0``.
    log_noise : float
        ``log(pi_0 / V)``.

    Returns
    -------
    NoisyEStep
    """
    gaussian, _, resp = per_sample_scores(X, params, with_responsibilities=True)
    log_density = np.logaddexp(gaussian, log_noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r0 = log_noise - log_density
        log_rest = gaussian - log_density  # log of the Gaussian part's share
        hard = np.maximum(log_r0, log_rest + np.log(resp.max(axis=1)))
    return NoisyEStep(log_density, np.exp(log_r0), hard)


def noisy_statistics(X, sample_weight, params, log_noise):
    """Sufficient statistics of the Gaussian components with a noise component in the mixture.

    Each row's weight is split: ``w_n r_n0`` to the noise and ``w_n (1 -
    r_n0)`` to the Gaussian part, which the fused kernel shares out as the
    Gaussian-only responsibilities ``pi_k N_k / sum_j pi_j N_j``. Their
    product is the full responsibility ``r_nk``, so the sums are those of
    the mixture with noise.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous float32 or float64
    sample_weight : ndarray of shape (n_samples,) or None
    params : MixtureParameters
    log_noise : float
        ``log(pi_0 / V)``.

    Returns
    -------
    stats : SufficientStatistics
        ``nk``, ``s1``, ``s2`` weighted by ``w_n r_nk`` (``k >= 1``);
        ``total_weight`` is ``sum_n w_n``, ``log_likelihood`` the mixture's
        (noise included) and ``hard_log_resp`` over every component.
    noise_weight : float
        ``sum_n w_n r_n0``.
    """
    step = noisy_e_step(X, params, log_noise)
    weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    gaussian_weight = weights * (1.0 - step.noise_resp)
    stats = InMemoryData(X, gaussian_weight).em_statistics(params)
    positive = weights > 0  # rows of weight 0 may have any density
    log_likelihood = float(np.sum(weights[positive] * step.log_density[positive]))
    hard = float(np.sum(weights[positive] * step.hard_log_resp[positive]))
    full = SufficientStatistics(
        float(weights.sum()), log_likelihood, hard, stats.nk, stats.s1, stats.s2, stats.shifts
    )
    return full, float(np.sum(weights * step.noise_resp))


def noisy_statistics_chunk(X, sample_weight, rows, params, log_noise):
    """:func:`noisy_statistics` of one chunk (a ``map_rows`` function)."""
    return noisy_statistics(X, sample_weight, params, log_noise)


def source_noisy_statistics(data, params, log_noise):
    """:func:`noisy_statistics` of a data source, summed over its chunks.

    Parameters
    ----------
    data : data source with ``map_rows``
    params : MixtureParameters
    log_noise : float

    Returns
    -------
    stats : SufficientStatistics
    noise_weight : float
    """
    return data.map_rows(noisy_statistics_chunk, KernelArguments(params), log_noise)


def flagged_weight_chunk(X, sample_weight, rows):
    """``(sum of the weights of the rows flagged in rows[0], sum of all weights)`` of one chunk."""
    flags = rows[0]
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    return float(w[flags].sum()), float(w.sum())


def noisy_scores(X, params, log_noise, with_responsibilities=False):
    """Per-row ``(log_density, labels, responsibilities)`` of a mixture with noise.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), C-contiguous float32 or float64
    params : MixtureParameters (or KernelArguments)
        The Gaussian components, weights summing to ``1 - pi_0``.
    log_noise : float
        ``log(pi_0 / V)``.
    with_responsibilities : bool

    Returns
    -------
    log_density : ndarray of shape (n_samples,)
    labels : ndarray of shape (n_samples,), int64
        The most responsible component, -1 for the noise component.
    responsibilities : ndarray of shape (n_samples, n_components + 1) or None
        Columns ``0..K-1`` the Gaussian components, the last column the noise.
    """
    gaussian, _, resp = per_sample_scores(X, params, with_responsibilities=True)
    log_density = np.logaddexp(gaussian, log_noise)
    with np.errstate(divide="ignore", invalid="ignore"):
        r0 = np.exp(log_noise - log_density)
    full = np.concatenate([resp * (1.0 - r0)[:, None], r0[:, None]], axis=1)
    labels = np.argmax(full, axis=1).astype(np.int64)
    labels[labels == params.n_components] = -1
    return log_density, labels, (full if with_responsibilities else None)


@dataclass(frozen=True)
class NoisyScorer:
    """:func:`noisy_scores` with its ``log_noise`` bound: a chunk scorer for out-of-core predictions.

    Attributes
    ----------
    log_noise : float
    """

    log_noise: float

    def __call__(self, X, params, with_responsibilities):
        return noisy_scores(X, params, self.log_noise, with_responsibilities)
