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
``"hc"``
    mclust's start: the partition of model-based hierarchical clustering
    (:mod:`.hierarchical`) into ``K`` groups, on at most 2,000 random rows.
    Deterministic for data of up to 2,000 rows; sample weights must be
    equal.
"""

import math

import numpy as np

from .. import _kernels
from ..data.statistics import SufficientStatistics
from ..errors import FitError
from .hierarchical import partition_statistics, source_tree

INIT_METHODS = ("k-means++", "kmeans", "random_from_data", "random", "hc")

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
    method : {"k-means++", "kmeans", "random_from_data", "random", "hc"}
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
    if method == "hc":
        return hierarchical_statistics(data, n_components, rng)
    raise ValueError(f"init_params={method!r} is not valid; choose one of {', '.join(map(repr, INIT_METHODS))}.")


def hierarchical_statistics(data, n_components, rng):
    """Statistics of the hierarchical tree's partition into ``n_components`` groups.

    With more than 2,000 rows they are the sums over the tree's random
    subset only; the model's M-step and EM's first E-step on every row then
    extend the partition, as mclust does.

    Raises
    ------
    ValueError
        Unequal sample weights (the criterion is unweighted).
    FitError
        Fewer rows in the tree than components.
    """
    tree, X = source_tree(data, rng)
    if tree.n_leaves < n_components:
        raise FitError(
            f"{n_components} components need {n_components} rows for init_params='hc'; X has {tree.n_leaves}."
        )
    return partition_statistics(X, tree.labels(n_components), n_components)
