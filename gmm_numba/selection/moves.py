"""Neighbour moves of a model-selection sweep: starts for K components from a fit with K - 1 or K + 1.

A component is split in two along its widest axis, a component is inserted
on a small group of rows, or the closest pair of components is merged. Each
move produces sufficient statistics; the covariance model's M-step turns
them into a start.
"""

import math

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


def _regularisation_matrix(reg_covar, n_features):
    return np.diag(np.broadcast_to(np.asarray(reg_covar, dtype=np.float64), (n_features,)))


def _moment_statistics(weights, means, covariances):
    """Statistics whose M-step gives back ``weights``, ``means`` and (per model) ``covariances``.

    ``covariances`` exclude the regularisation, which the M-step adds. A
    model with fewer covariance parameters takes what its M-step takes from
    any statistics: the tied model the weighted average, the diagonal
    models the diagonal (and spherical its mean).
    """
    weights = np.asarray(weights, dtype=np.float64)
    return SufficientStatistics(
        float(weights.sum()),
        np.nan,
        np.nan,
        weights,
        np.zeros_like(means),
        weights[:, None, None] * covariances,
        np.array(means, dtype=np.float64),
    )


def _unregularised(params, reg_covar):
    full = params.full_covariances() - _regularisation_matrix(reg_covar, params.n_features)
    return 0.5 * (full + np.swapaxes(full, 1, 2))


def split_statistics(params, component, reg_covar, unregularised=None):
    """Statistics of ``params`` with one component cut in two along its widest axis.

    The two halves get half the weight each, means ``SPLIT_OFFSET``
    standard deviations either side of the old mean, and the old
    covariance less the part explained by the split (the variance of a
    Gaussian halved through its centre along that axis). Every other
    component is unchanged.

    Parameters
    ----------
    params : MixtureParameters
        ``K`` components.
    component : int
    reg_covar : float or ndarray of shape (n_features,)
        The regularisation ``params`` were fitted with.
    unregularised : ndarray of shape (K, n_features, n_features), optional
        ``params``' full covariances less ``reg_covar``, symmetrised, when the caller has them (not changed).

    Returns
    -------
    SufficientStatistics
        ``K + 1`` components; the M-step of any covariance model turns them into parameters.
    """
    weights, means = np.array(params.weights), np.array(params.means)
    covs = _unregularised(params, reg_covar) if unregularised is None else unregularised.copy()
    values, vectors = np.linalg.eigh(covs[component])
    spread = max(float(values[-1]), 0.0)
    offset = SPLIT_OFFSET * math.sqrt(spread) * vectors[:, -1]
    reduced = covs[component] - SPLIT_OFFSET**2 * spread * np.outer(vectors[:, -1], vectors[:, -1])
    weights = np.concatenate([weights, [weights[component] / 2]])
    weights[component] /= 2
    means = np.concatenate([means, [means[component] + offset]])
    means[component] -= offset
    covs = np.concatenate([covs, [reduced]])
    covs[component] = reduced
    return _moment_statistics(weights, means, covs)


def merge_statistics(params, first, second, reg_covar, unregularised=None):
    """Statistics of ``params`` with two components replaced by one with their combined moments.

    The merged component has the summed weight and the weighted mean and
    covariance of the pair (within-pair spread of the means included).
    ``unregularised`` as for :func:`split_statistics`.

    Returns
    -------
    SufficientStatistics
        ``K - 1`` components.
    """
    weights, means = np.array(params.weights), np.array(params.means)
    covs = _unregularised(params, reg_covar) if unregularised is None else unregularised.copy()
    wa, wb = weights[first], weights[second]
    w = wa + wb
    delta = means[first] - means[second]
    weights[first] = w
    means[first] = (wa * means[first] + wb * means[second]) / w
    covs[first] = (wa * covs[first] + wb * covs[second]) / w + (wa * wb / w**2) * np.outer(delta, delta)
    keep = np.arange(len(weights)) != second
    return _moment_statistics(weights[keep], means[keep], covs[keep])


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


def insertion_statistics(params, X, sample_weight, anchors, n_neighbours, reg_covar, inv_scale):
    """Statistics of ``params`` with one more component on each anchor's nearest neighbours.

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
    list of SufficientStatistics
        ``K + 1`` components each.
    """
    weights = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = weights.sum()
    base_covs = _unregularised(params, reg_covar)
    out = []
    for distances in _anchor_distances(X * inv_scale, np.asarray(anchors), weights <= 0):
        groups = _nearest(distances, n_neighbours)
        w, rows = weights[groups], X[groups]  # (B, n) and (B, n, D)
        group_weight = w.sum(axis=1)
        means = (w[:, :, None] * rows).sum(axis=1) / group_weight[:, None]
        centred = rows - means[:, None, :]
        covs = (w[:, :, None, None] * centred[:, :, :, None] * centred[:, :, None, :]).sum(axis=1)
        covs /= group_weight[:, None, None]
        for share, mean, cov in zip(group_weight / total, means, covs):
            out.append(
                _moment_statistics(
                    np.concatenate([params.weights * (1 - share), [share]]),
                    np.concatenate([params.means, [mean]]),
                    np.concatenate([base_covs, [cov]]),
                )
            )
    return out


def neighbour_statistics(params, kind, reg_covar, inserts=None, budget=None):
    """Starting statistics from a neighbouring cell's fit: splits and insertions, or the closest merges.

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
        ``build(indices)``, the statistics of those (increasing) indices
        among them (see :func:`insertion_statistics`).
    budget : int, optional
        The most candidates to build; all by default.

    Returns
    -------
    list of SufficientStatistics
    """
    if kind == MERGE:
        pairs = merge_order(params)[:MAX_MERGES]
        covs = _unregularised(params, reg_covar)
        return [merge_statistics(params, *pairs[c], reg_covar, covs) for c in spread_evenly(len(pairs), budget)]
    n_splits = params.n_components
    n_inserts, build = inserts(params) if inserts is not None else (0, None)
    chosen = spread_evenly(n_splits + n_inserts, budget)
    covs = _unregularised(params, reg_covar) if chosen and chosen[0] < n_splits else None
    splits = [split_statistics(params, c, reg_covar, covs) for c in chosen if c < n_splits]
    added = [c - n_splits for c in chosen if c >= n_splits]
    return splits + (build(added) if added else [])


def spread_evenly(n, budget):
    """Increasing indices of at most ``budget`` of ``n`` items, spread evenly (first and last kept); all when
    ``budget`` is None or at least ``n``."""
    if budget is None or n <= budget:
        return list(range(n))
    return [int(c) for c in np.linspace(0, n - 1, budget).round()]
