"""Neighbour moves of a model-selection sweep: starts for K components from a fit with K - 1 or K + 1.

A component is split in two along its widest axis, a component is inserted
on a small group of rows, or the closest pair of components is merged. The
candidates of one move come out stacked (:class:`Moments`: weights, means
and covariances), all built at once; each covariance model's M-step turns
them into its starts.
"""

import math
from typing import NamedTuple

import numpy as np

from ..data.statistics import SufficientStatistics

#: Neighbour moves: a cell also starts from its neighbours' best fits, the
#: fit with one component fewer with each of its components split in two,
#: and the fit with one component more with each pair of its components
#: merged (closest pairs first, at most ``MAX_MERGES`` pairs).
SPLIT = "split"
MERGE = "merge"
MAX_MERGES = 45

#: A split puts the two halves of a component this many standard deviations
#: (along its widest axis) either side of its mean: the means of the two
#: halves of a Gaussian cut through its centre, ``sqrt(2 / pi)``.
SPLIT_OFFSET = math.sqrt(2.0 / math.pi)

#: Most floats the row-to-anchor differences of one block of insertion anchors may take (8 MiB).
ANCHOR_BLOCK_FLOATS = 1 << 20


class Moments(NamedTuple):
    """The starts of several candidate moves, each a mixture's weights, means and covariances.

    Attributes
    ----------
    weights : ndarray of shape (C, K)
    means : ndarray of shape (C, K, D)
    covariances : ndarray of shape (C, K, D, D)
        Without the regularisation, which the M-step adds.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray

    def __len__(self):
        return len(self.weights)

    def statistics(self, c):
        """Candidate ``c`` as :class:`SufficientStatistics` whose M-step gives back its moments.

        A model with fewer covariance parameters takes what its M-step takes
        from any statistics: the tied model the weighted average, the diagonal
        models the diagonal (and spherical its mean).
        """
        weights = self.weights[c]
        return SufficientStatistics(float(weights.sum()), np.nan, np.nan, weights, np.zeros_like(self.means[c]),
                                    weights[:, None, None] * self.covariances[c], self.means[c])


def concatenate_moments(parts):
    """The candidates of several :class:`Moments` (of one number of components), in order."""
    return Moments(*(np.concatenate(arrays) for arrays in zip(*parts)))


def _regularisation_matrix(reg_covar, n_features):
    return np.diag(np.broadcast_to(np.asarray(reg_covar, dtype=np.float64), (n_features,)))


def _unregularised(params, reg_covar):
    full = params.full_covariances() - _regularisation_matrix(reg_covar, params.n_features)
    return 0.5 * (full + np.swapaxes(full, 1, 2))


def _repeated(params, covs, count):
    """``count`` copies of the fit's weights (count, K), means (count, K, D) and ``covs`` (count, K, D, D)."""
    return tuple(np.repeat(np.asarray(a, dtype=np.float64)[None], count, axis=0)
                 for a in (params.weights, params.means, covs))


def split_moments(params, components, reg_covar):
    """The fit with one component cut in two along its widest axis, for each of ``components``.

    The two halves get half the weight each, means ``SPLIT_OFFSET``
    standard deviations either side of the old mean, and the old
    covariance less the part explained by the split (the variance of a
    Gaussian halved through its centre along that axis); the new half is
    the last component. Every other component is unchanged.

    Parameters
    ----------
    params : MixtureParameters
        ``K`` components.
    components : sequence of int
        One candidate per entry.
    reg_covar : float or ndarray of shape (n_features,)
        The regularisation ``params`` were fitted with.

    Returns
    -------
    Moments
        ``K + 1`` components per candidate.
    """
    covs = _unregularised(params, reg_covar)
    chosen = np.asarray(components, dtype=np.intp)
    rows = np.arange(len(chosen))
    values, vectors = np.linalg.eigh(covs[chosen])
    spread = np.maximum(values[:, -1], 0.0)
    axis = vectors[:, :, -1]
    offset = SPLIT_OFFSET * np.sqrt(spread)[:, None] * axis
    reduced = covs[chosen] - (SPLIT_OFFSET**2 * spread)[:, None, None] * (axis[:, :, None] * axis[:, None, :])
    weights, means, covariances = _repeated(params, covs, len(chosen))
    weights = np.concatenate([weights, weights[rows, chosen][:, None] / 2], axis=1)
    weights[rows, chosen] /= 2
    means = np.concatenate([means, (means[rows, chosen] + offset)[:, None]], axis=1)
    means[rows, chosen] -= offset
    covariances = np.concatenate([covariances, reduced[:, None]], axis=1)
    covariances[rows, chosen] = reduced
    return Moments(weights, means, covariances)


def merge_moments(params, pairs, reg_covar):
    """The fit with two components replaced by one with their combined moments, for each pair.

    The merged component, in the first one's place, has the summed weight
    and the weighted mean and covariance of the pair (within-pair spread of
    the means included).

    Parameters
    ----------
    params : MixtureParameters
    pairs : sequence of tuple (int, int)
        ``first < second``.
    reg_covar : float or ndarray of shape (n_features,)

    Returns
    -------
    Moments
        ``K - 1`` components per candidate.
    """
    covs = _unregularised(params, reg_covar)
    first, second = (np.array(side, dtype=np.intp) for side in zip(*pairs))
    rows = np.arange(len(first))
    weights, means, covariances = _repeated(params, covs, len(first))
    wa, wb = weights[rows, first], weights[rows, second]
    w = wa + wb
    delta = means[rows, first] - means[rows, second]
    weights[rows, first] = w
    means[rows, first] = (wa[:, None] * means[rows, first] + wb[:, None] * means[rows, second]) / w[:, None]
    covariances[rows, first] = (
        (wa[:, None, None] * covs[first] + wb[:, None, None] * covs[second]) / w[:, None, None]
        + (wa * wb / w**2)[:, None, None] * (delta[:, :, None] * delta[:, None, :])
    )
    keep = np.arange(params.n_components)[None, :] != second[:, None]
    k = params.n_components - 1
    return Moments(weights[keep].reshape(len(rows), k), means[keep].reshape(len(rows), k, -1),
                   covariances[keep].reshape(len(rows), k, *covs.shape[1:]))


def merge_order(params):
    """Pairs of components, closest first by the Bhattacharyya distance of their Gaussians.

    Returns
    -------
    list of tuple (int, int)
    """
    means, covs = params.means, params.full_covariances()
    _, logdets = np.linalg.slogdet(covs)
    first, second = np.triu_indices(len(means), 1)
    pooled = 0.5 * (covs[first] + covs[second])
    delta = means[first] - means[second]
    _, logdet = np.linalg.slogdet(pooled)
    mahalanobis = np.einsum("pd,pd->p", delta, np.linalg.solve(pooled, delta[..., None])[..., 0])
    distance = 0.125 * mahalanobis + 0.5 * (logdet - 0.5 * (logdets[first] + logdets[second]))
    order = np.lexsort((second, first, distance))
    return [(int(first[p]), int(second[p])) for p in order]


def _nearest(distances, count):
    """Each row's ``count`` smallest distances: their column indices, increasing (ties broken by column order).

    Parameters
    ----------
    distances : ndarray of shape (A, n_samples)
    count : int

    Returns
    -------
    ndarray of shape (A, min(count, n_samples)), int
    """
    n = distances.shape[1]
    if count >= n:
        return np.broadcast_to(np.arange(n), distances.shape)
    cutoff = np.partition(distances, count - 1, axis=1)[:, count - 1 : count]
    closer = distances < cutoff
    tied = distances == cutoff
    missing = count - np.count_nonzero(closer, axis=1)[:, None]
    chosen = closer | (tied & (np.cumsum(tied, axis=1) <= missing))
    return np.nonzero(chosen)[1].reshape(len(distances), count)


def _anchor_distances(scaled, anchors, excluded):
    """Squared distances of every row to each anchor row, ``inf`` at the ``excluded`` rows, a block of anchors
    at a time.

    A block's difference array stays within ``ANCHOR_BLOCK_FLOATS``; each distance is summed exactly as
    one anchor's alone would be.

    Parameters
    ----------
    scaled : ndarray of shape (n_samples, n_features)
    anchors : ndarray of shape (A,), int
    excluded : ndarray of shape (n_samples,), bool

    Yields
    ------
    ndarray of shape (B, n_samples)
        The distances to the next ``B`` anchors.
    """
    per_block = max(1, ANCHOR_BLOCK_FLOATS // max(1, scaled.size))
    for start in range(0, len(anchors), per_block):
        block = anchors[start : start + per_block]
        distances = np.sum((scaled[None, :, :] - scaled[block][:, None, :]) ** 2, axis=2)
        distances[:, excluded] = np.inf
        yield distances


def insertion_moments(params, X, sample_weight, anchors, n_neighbours, reg_covar, inv_scale):
    """The fit with one more component on each anchor's nearest neighbours.

    For every anchor row, its ``n_neighbours`` nearest rows (in standardised
    units, the anchor included) give the new component's weight, mean and
    covariance; the other components keep their means and covariances, their
    weights scaled down to make room. Small groups that random starts rarely
    isolate become reachable from the fit with one component fewer.

    Parameters
    ----------
    params : MixtureParameters
        ``K`` components.
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    anchors : ndarray of int
        Rows to build a component around, one candidate each.
    n_neighbours : int
    reg_covar : float or ndarray of shape (n_features,)
    inv_scale : ndarray of shape (n_features,)
        See :func:`inverse_scale`.

    Returns
    -------
    Moments
        ``K + 1`` components per anchor, the new one last.
    """
    weights = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = weights.sum()
    shares, new_means, new_covs = [], [], []
    for distances in _anchor_distances(X * inv_scale, np.asarray(anchors), weights <= 0):
        groups = _nearest(distances, n_neighbours)
        w, rows = weights[groups], X[groups]  # (B, n) and (B, n, D)
        group_weight = w.sum(axis=1)
        means = (w[:, :, None] * rows).sum(axis=1) / group_weight[:, None]
        centred = rows - means[:, None, :]
        covs = (w[:, :, None, None] * centred[:, :, :, None] * centred[:, :, None, :]).sum(axis=1)
        covs /= group_weight[:, None, None]
        shares.append(group_weight / total)
        new_means.append(means)
        new_covs.append(covs)
    share = np.concatenate(shares)
    old_weights, old_means, old_covs = _repeated(params, _unregularised(params, reg_covar), len(share))
    return Moments(np.concatenate([old_weights * (1 - share)[:, None], share[:, None]], axis=1),
                   np.concatenate([old_means, np.concatenate(new_means)[:, None]], axis=1),
                   np.concatenate([old_covs, np.concatenate(new_covs)[:, None]], axis=1))


def neighbour_moments(params, kind, reg_covar, inserts=None, budget=None):
    """Starting moments from a neighbouring cell's fit: splits and insertions, or the closest merges.

    Only the candidates kept are built: at most ``budget``, spread evenly
    over the list (every split, then every insertion; or the merges, closest
    first).

    Parameters
    ----------
    params : MixtureParameters
        The neighbour's fit (``K - 1`` components for ``"split"``, ``K + 1`` for ``"merge"``).
    kind : {"split", "merge"}
    reg_covar : float or ndarray of shape (n_features,)
    inserts : callable, optional
        ``inserts(params)`` -> ``(count, build)``: ``count`` more ``"split"``
        starts with a component added rather than split, and
        ``build(indices)``, the :class:`Moments` of those (increasing) indices
        among them (see :func:`insertion_moments`).
    budget : int, optional
        The most candidates to build; all by default.

    Returns
    -------
    Moments or None
        None when there is no candidate.
    """
    if kind == MERGE:
        pairs = merge_order(params)[:MAX_MERGES]
        chosen = spread_evenly(len(pairs), budget)
        return merge_moments(params, [pairs[c] for c in chosen], reg_covar) if chosen else None
    n_splits = params.n_components
    n_inserts, build = inserts(params) if inserts is not None else (0, None)
    chosen = spread_evenly(n_splits + n_inserts, budget)
    splits = [c for c in chosen if c < n_splits]
    added = [c - n_splits for c in chosen if c >= n_splits]
    parts = ([split_moments(params, splits, reg_covar)] if splits else []) + ([build(added)] if added else [])
    return concatenate_moments(parts) if parts else None


def spread_evenly(n, budget):
    """Increasing indices of at most ``budget`` of ``n`` items, spread evenly (first and last kept); all when
    ``budget`` is None or at least ``n``."""
    if budget is None or n <= budget:
        return list(range(n))
    return [int(c) for c in np.linspace(0, n - 1, budget).round()]
