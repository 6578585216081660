"""Kernels for initialisation: k-means++ seeding, Lloyd statistics and
random responsibilities."""

import numpy as np
from numba import njit, prange

from .config import JIT, PARALLEL_JIT, TILE
from .link_only import link_only
from .reduction import sum_over_blocks
from .scheduling import block_counter, claim_block
from .tiles import load_tile, new_tile, tile_vector


@link_only
@njit(**JIT)
def _squared_distance(X, n, center):
    s = 0.0
    for i in range(X.shape[1]):
        d = X[n, i] - center[i]
        s += d * d
    return s


@link_only
@njit(**JIT)
def _tile_nearest(xt, n_points, centers, inv_scale, dist, best_dist, best):
    """Nearest centre of each point of a tile and its scaled squared distance.

    Vector loops over the points, one centre at a time; per point the sum
    runs over the features in order, as a loop per point would.

    Parameters
    ----------
    xt : array of shape (n_padded_features, n_points or more)
        The tile, transposed (:func:`.tiles.load_tile`).
    n_points : int
    centers : array of shape (n_clusters, n_features)
    inv_scale : array of shape (n_features,)
    dist : array of shape (>= n_points,)
        Scratch.
    best_dist : array of shape (>= n_points,)
        Receives the distances to the nearest centres.
    best : int64 array of shape (>= n_points,)
        Receives their indices, the lowest on ties.
    """
    n_clusters, n_features = centers.shape
    for c in range(n_clusters):
        for t in range(n_points):
            dist[t] = 0.0
        for i in range(n_features):
            centre = centers[c, i]
            scale = inv_scale[i]
            for t in range(n_points):
                d = (xt[i, t] - centre) * scale
                dist[t] += d * d
        if c == 0:
            for t in range(n_points):
                best_dist[t] = dist[t]
                best[t] = 0
        else:
            for t in range(n_points):
                if dist[t] < best_dist[t]:
                    best_dist[t] = dist[t]
                    best[t] = c


@link_only
@njit(**JIT)
def _pick(cumulative, target):
    """First index whose cumulative weight exceeds ``target``."""
    lo, hi = 0, cumulative.shape[0] - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] > target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(**JIT)
def kmeans_plusplus(X, sample_weight, uniforms):
    """Greedy k-means++ seeding.

    Each new centre is the best (lowest potential) of several candidates
    drawn with probability proportional to ``w_n d(x_n)^2``.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    sample_weight : array of shape (n_samples,), float64
    uniforms : array of shape (n_clusters, n_trials), float64 in [0, 1)
        The random numbers, drawn by the caller so the result depends on
        its generator only. Row 0, column 0 picks the first centre.

    Returns
    -------
    array of shape (n_clusters,), int64
        Row indices of the chosen centres.
    """
    n_samples = X.shape[0]
    n_clusters, n_trials = uniforms.shape
    chosen = np.empty(n_clusters, np.int64)
    cumulative = np.cumsum(sample_weight)
    chosen[0] = _pick(cumulative, uniforms[0, 0] * cumulative[-1])
    closest = np.empty(n_samples)
    for n in range(n_samples):
        closest[n] = _squared_distance(X, n, X[chosen[0]])
    candidate_closest = np.empty(n_samples)
    best_closest = np.empty(n_samples)
    for c in range(1, n_clusters):
        potential = 0.0
        for n in range(n_samples):
            potential += sample_weight[n] * closest[n]
            cumulative[n] = potential
        best_potential = np.inf
        best_index = 0
        for trial in range(n_trials):
            index = _pick(cumulative, uniforms[c, trial] * potential)
            candidate_potential = 0.0
            for n in range(n_samples):
                d = min(closest[n], _squared_distance(X, n, X[index]))
                candidate_closest[n] = d
                candidate_potential += sample_weight[n] * d
            if candidate_potential < best_potential:
                best_potential = candidate_potential
                best_index = index
                best_closest[:] = candidate_closest
        chosen[c] = best_index
        closest[:] = best_closest
    return chosen


@njit(**PARALLEL_JIT)
def nearest_center_statistics(X, sample_weight, centers, inv_scale, block, with_s2):
    """Hard-assignment statistics: each point belongs to its nearest centre.

    Distances are measured after multiplying each feature by ``inv_scale``
    (for example 1 / its standard deviation, which makes the assignment
    independent of the units of the features).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    sample_weight : array of shape (n_samples,) or (0,)
    centers : array of shape (n_clusters, n_features), float64
    inv_scale : array of shape (n_features,), float64
    block : int
    with_s2 : bool
        Whether to accumulate second moments.

    Returns
    -------
    counts : array of shape (n_clusters,)
        Total weight per centre.
    s1 : array of shape (n_clusters, n_features)
        Weighted sums of ``x - c`` per centre.
    s2 : array of shape (n_clusters, n_features, n_features)
        Weighted sums of ``(x - c)(x - c)^T`` (zeros unless ``with_s2``).
    inertia : float
        Weighted sum of squared (scaled) distances to the nearest centre.
    """
    n_samples, n_features = X.shape
    n_clusters = centers.shape[0]
    weighted = sample_weight.shape[0] > 0
    n_blocks = (n_samples + block - 1) // block
    rows = n_features if with_s2 else 0
    acc_counts = np.zeros((n_blocks, n_clusters))
    acc_s1 = np.zeros((n_blocks, n_clusters, n_features))
    acc_s2 = np.zeros((n_blocks, n_clusters, rows, n_features))
    acc_inertia = np.zeros(n_blocks)
    counter = block_counter()
    for _ in prange(n_blocks):
        b = claim_block(counter)
        if b >= n_blocks:
            continue
        xt = new_tile(n_features, X)
        dist = tile_vector(np.float64)
        best_dist = tile_vector(np.float64)
        best = tile_vector(np.int64)
        diff = np.empty(n_features)
        while b < n_blocks:
            stop = min(n_samples, (b + 1) * block)
            for start in range(b * block, stop, TILE):
                n_points = min(TILE, stop - start)
                load_tile(X, start, n_points, xt)
                _tile_nearest(xt, n_points, centers, inv_scale, dist, best_dist, best)
                for t in range(n_points):
                    n = start + t
                    c = best[t]
                    w = sample_weight[n] if weighted else 1.0
                    acc_counts[b, c] += w
                    acc_inertia[b] += w * best_dist[t]
                    for i in range(n_features):
                        diff[i] = X[n, i] - centers[c, i]
                        acc_s1[b, c, i] += w * diff[i]
                    for i in range(rows):
                        for j in range(n_features):
                            acc_s2[b, c, i, j] += w * diff[i] * diff[j]
            b = claim_block(counter)
    s2 = sum_over_blocks(acc_s2) if with_s2 else np.zeros((n_clusters, n_features, n_features))
    inertia = 0.0
    for b in range(n_blocks):
        inertia += acc_inertia[b]
    return sum_over_blocks(acc_counts), sum_over_blocks(acc_s1), s2, inertia


@link_only
@njit(**JIT)
def _uniform(seed, n, k, n_components):
    """A uniform number in (0, 1) from a counter-based hash (splitmix64)."""
    z = seed ^ (np.uint64(n) * np.uint64(n_components) + np.uint64(k))
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740993.0)


@njit(**PARALLEL_JIT)
def random_responsibility_statistics(X, sample_weight, shift, seed, n_components, block, offset):
    """Statistics for uniformly random responsibilities.

    The responsibility of point ``n`` for component ``k`` is a hash of
    ``(seed, n, k)`` normalised over ``k``: reproducible, independent of
    the thread count, and never stored.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    sample_weight : array of shape (n_samples,) or (0,)
    shift : array of shape (n_features,), float64
        Common shift of the moments of every component.
    seed : uint64
    n_components : int
    block : int
    offset : int
        Global index of the first row of ``X`` (0 for a whole array; the
        row offset of a chunk), so that chunking does not change the result.

    Returns
    -------
    nk : array of shape (n_components,)
    s1 : array of shape (n_components, n_features)
    s2 : array of shape (n_components, n_features, n_features)
    """
    n_samples, n_features = X.shape
    weighted = sample_weight.shape[0] > 0
    n_blocks = (n_samples + block - 1) // block
    acc_nk = np.zeros((n_blocks, n_components))
    acc_s1 = np.zeros((n_blocks, n_components, n_features))
    acc_s2 = np.zeros((n_blocks, n_components, n_features, n_features))
    counter = block_counter()
    for _ in prange(n_blocks):
        b = claim_block(counter)
        if b >= n_blocks:
            continue
        r = np.empty(n_components)
        diff = np.empty(n_features)
        while b < n_blocks:
            for n in range(b * block, min(n_samples, (b + 1) * block)):
                total = 0.0
                for k in range(n_components):
                    r[k] = _uniform(seed, offset + n, k, n_components)
                    total += r[k]
                w = sample_weight[n] if weighted else 1.0
                for i in range(n_features):
                    diff[i] = X[n, i] - shift[i]
                for k in range(n_components):
                    wr = w * r[k] / total
                    acc_nk[b, k] += wr
                    for i in range(n_features):
                        acc_s1[b, k, i] += wr * diff[i]
                        for j in range(n_features):
                            acc_s2[b, k, i, j] += wr * diff[i] * diff[j]
            b = claim_block(counter)
    return sum_over_blocks(acc_nk), sum_over_blocks(acc_s1), sum_over_blocks(acc_s2)
