"""Starting points for EM.

Every method produces sufficient statistics (hard or soft assignments of
the data to ``K`` groups); the covariance model's M-step turns them into
parameters. Producing statistics rather than parameters lets a model
selection sweep reuse one clustering for every covariance model.

Methods
-------
``"k-means++"`` (default; ``"kmeans"`` is a synonym)
    Greedy k-means++ seeding on a uniform subsample of at most
    ``init_sample_size`` rows, then Lloyd iterations on the full data.
``"random_from_data"``
    ``K`` distinct random rows as centres; every point joins its nearest.

Distances are measured in standardised units (each feature divided by
its standard deviation), so the starting point, and with
``reg_covar="auto"`` the whole fit, does not depend on the units of the
features.
``"random"``
    Random responsibilities, uniform and normalised per point.
"""

import math

import numpy as np

from . import _kernels
from .errors import FitError
from .statistics import SufficientStatistics

INIT_METHODS = ("k-means++", "kmeans", "random_from_data", "random")

#: Rows used for k-means++ seeding when the data is larger.
DEFAULT_INIT_SAMPLE_SIZE = 100_000

#: Lloyd iterations after seeding (stops earlier once the centres settle).
LLOYD_ITERATIONS = 20


def inverse_scale(data):
    """1 / standard deviation of each feature (0 for constant features), shape (n_features,).

    Clustering in standardised units makes every initialisation independent
    of the units (and shifts) of the features.
    """
    std = np.sqrt(data.feature_variance())
    return np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0)


def kmeans_centers(data, n_components, rng, init_sample_size=DEFAULT_INIT_SAMPLE_SIZE, inv_scale=None):
    """k-means++ seeding on a subsample, refined by Lloyd steps on all data, in standardised units.

    Returns
    -------
    ndarray of shape (n_components, n_features)
        In the data's units.
    """
    inv_scale = inverse_scale(data) if inv_scale is None else inv_scale
    Xs, ws = data.subsample(init_sample_size, rng)
    n_trials = 2 + int(math.log(n_components))
    uniforms = rng.random((n_components, n_trials))
    centers = Xs[_kernels.kmeans_plusplus(np.ascontiguousarray(Xs * inv_scale), ws, uniforms)]
    tolerance = 1e-4 * float(np.count_nonzero(inv_scale)) / max(len(inv_scale), 1)
    for _ in range(LLOYD_ITERATIONS):
        counts, s1, _, _ = data.nearest_center_statistics(centers, False, inv_scale)
        moved = np.zeros_like(centers)
        filled = counts > 0
        moved[filled] = s1[filled] / counts[filled, None]
        centers = centers + moved
        if np.sum((moved * inv_scale) ** 2) <= tolerance:
            break
    return centers


def random_centers(data, n_components, rng):
    """``n_components`` distinct rows, drawn with probability proportional to their weights."""
    n = data.n_samples
    weights = getattr(data, "sample_weight", None)
    if isinstance(weights, np.ndarray) and weights.shape == (n,) and n <= 1_000_000:
        positive = np.count_nonzero(weights > 0)
        if positive < n_components:
            raise FitError(f"{n_components} components need {n_components} rows of positive weight; X has {positive}.")
        return data.rows(rng.choice(n, size=n_components, replace=False, p=weights / weights.sum()))
    if n > 1_000_000:
        chosen = set()
        while len(chosen) < n_components:
            chosen.update(int(i) for i in rng.integers(0, n, size=n_components - len(chosen)))
        index = np.sort(np.fromiter(chosen, dtype=np.int64))
        rng.shuffle(index)
    else:
        index = rng.choice(n, size=n_components, replace=False)
    return data.rows(index)


def hard_assignment_statistics(data, centers, inv_scale=None):
    """Statistics of the partition of the data by nearest centre (distances in standardised units)."""
    inv_scale = inverse_scale(data) if inv_scale is None else inv_scale
    counts, s1, s2, inertia = data.nearest_center_statistics(centers, True, inv_scale)
    return SufficientStatistics(counts.sum(), np.nan, np.nan, counts, s1, s2, np.array(centers))


def initial_statistics(data, n_components, method, rng, init_sample_size=DEFAULT_INIT_SAMPLE_SIZE):
    """Statistics of an initial (hard or soft) assignment.

    Parameters
    ----------
    data : InMemoryData or another data source
    n_components : int
    method : {"k-means++", "kmeans", "random_from_data", "random"}
    rng : numpy.random.Generator
    init_sample_size : int

    Returns
    -------
    SufficientStatistics
        With full second moments, so any covariance model can use them.
    """
    if method in ("k-means++", "kmeans"):
        inv_scale = inverse_scale(data)
        centers = kmeans_centers(data, n_components, rng, init_sample_size, inv_scale)
        return hard_assignment_statistics(data, centers, inv_scale)
    if method == "random_from_data":
        return hard_assignment_statistics(data, random_centers(data, n_components, rng))
    if method == "random":
        seed = int(rng.integers(0, np.iinfo(np.int64).max))
        return data.random_responsibility_statistics(seed, n_components)
    raise ValueError(f"init_params={method!r} is not valid; choose one of {', '.join(map(repr, INIT_METHODS))}.")


# ------------------------------------------------------------------ neighbour moves
#: A split puts the two halves of a component this many standard deviations
#: (along its widest axis) either side of its mean: the means of the two
#: halves of a Gaussian cut through its centre, ``sqrt(2 / pi)``.
SPLIT_OFFSET = math.sqrt(2.0 / math.pi)


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


def split_statistics(params, component, reg_covar):
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

    Returns
    -------
    SufficientStatistics
        ``K + 1`` components; the M-step of any covariance model turns them into parameters.
    """
    weights, means, covs = np.array(params.weights), np.array(params.means), _unregularised(params, reg_covar)
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


def merge_statistics(params, first, second, reg_covar):
    """Statistics of ``params`` with two components replaced by one with their combined moments.

    The merged component has the summed weight and the weighted mean and
    covariance of the pair (within-pair spread of the means included).

    Returns
    -------
    SufficientStatistics
        ``K - 1`` components.
    """
    weights, means, covs = np.array(params.weights), np.array(params.means), _unregularised(params, reg_covar)
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
    pairs = []
    for a in range(len(means)):
        for b in range(a + 1, len(means)):
            pooled = 0.5 * (covs[a] + covs[b])
            delta = means[a] - means[b]
            _, logdet = np.linalg.slogdet(pooled)
            distance = 0.125 * delta @ np.linalg.solve(pooled, delta) + 0.5 * (logdet - 0.5 * (logdets[a] + logdets[b]))
            pairs.append((distance, a, b))
    pairs.sort()
    return [(a, b) for _, a, b in pairs]


def _nearest(distance, count):
    """Indices of the ``count`` smallest distances, ties broken by row order, in linear time."""
    if count >= len(distance):
        return np.arange(len(distance))
    cutoff = np.partition(distance, count - 1)[count - 1]
    closer = np.flatnonzero(distance < cutoff)
    tied = np.flatnonzero(distance == cutoff)[: count - len(closer)]
    return np.sort(np.concatenate([closer, tied]))


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
    scaled = X * inv_scale
    out = []
    for anchor in anchors:
        distance = np.sum((scaled - scaled[anchor]) ** 2, axis=1)
        distance[weights <= 0] = np.inf
        group = _nearest(distance, n_neighbours)
        w = weights[group]
        share = w.sum() / total
        mean = w @ X[group] / w.sum()
        centred = X[group] - mean
        cov = (w[:, None] * centred).T @ centred / w.sum()
        out.append(
            _moment_statistics(
                np.concatenate([params.weights * (1 - share), [share]]),
                np.concatenate([params.means, [mean]]),
                np.concatenate([base_covs, [cov]]),
            )
        )
    return out
