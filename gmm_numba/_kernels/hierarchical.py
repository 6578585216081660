"""Model-based agglomerative clustering with the unconstrained ("VVV") criterion.

Fraley (1998), as mclust's ``hcVVV`` computes it. Every cluster ``C`` of
``m`` points with scatter ``W = sum_{x in C} (x - mean)(x - mean)^T`` has the
term

    t(C) = m log( det(W / m) + beta (tr W + alpha) / m )

where the determinant is left out (taken as 0) while ``m <= p`` and for a
pair of singletons, and is 0 too when ``W / m`` is singular to working
precision. A singleton's term is ``log(alpha beta)``. Merging ``A`` and
``B`` costs ``t(A u B) - t(A) - t(B)``; each step merges the pair of least
cost.

Ties (exact duplicates make them) are broken as mclust breaks them, which
depends on where it keeps each cluster: clusters sit in slots ``0..g-1``;
merging slots ``i < j`` puts the union in slot ``i`` and moves the cluster of
the last slot into slot ``j``; among equal costs the pair with the largest
``j``, then the largest ``i``, is merged.

mclust's ``hcvvv`` keeps each merged cluster's triangular factor in a
way that corrupts it (:func:`_stored_scatter`); with ``mclust_storage``
the kernel keeps, besides each cluster's scatter as mclust computed it, the
scatter mclust reads back, and uses each where mclust does, so the costs
and merges are mclust's.

Memory: the ``(n, n)`` matrix of pair costs and ``n`` (two ``n`` with
``mclust_storage``) scatter matrices of ``p x p``.
Each slot caches its least cost and the partner for it, so a step evaluates
the criterion for the new cluster against every other one. A row whose
partner was merged keeps its old least cost as a lower bound and is
rescanned only when that bound could be the least cost of all: on data with
outliers, which many rows pair with the same growing cluster, rescanning
them at once was most of the time.
"""

import math

import numpy as np
from numba import njit

from .config import JIT
from .link_only import link_only


@link_only
@njit(**JIT)
def _merged_term(a, b, count, mean, first, second, trace, alpha, beta, diff, work):
    """Term of the union of the clusters in slots ``a`` and ``b``, and the trace of its scatter.

    The union's scatter is ``first[a] + second[b]`` plus the between-means
    part (``first`` and ``second`` are the same array unless mclust's
    factor storage is reproduced). ``work`` (p, p) receives the lower
    triangle of ``W / m`` and its Cholesky factor; ``diff`` (p,) is scratch.
    """
    p = mean.shape[1]
    na = count[a]
    nb = count[b]
    m = na + nb
    c = na * nb / m
    for f in range(p):
        diff[f] = mean[b, f] - mean[a, f]
    # summed in a loop of its own that only reads: see tiles.tile_weights
    squared = 0.0
    for f in range(p):
        squared += diff[f] * diff[f]
    merged_trace = trace[a] + trace[b] + c * squared
    ridge = beta * (merged_trace + alpha) / m
    if m <= p or m == 2:
        return m * math.log(ridge), merged_trace
    for r in range(p):
        for s in range(r + 1):
            work[r, s] = (first[a, r, s] + second[b, r, s] + c * diff[r] * diff[s]) / m
    # det(W / m) as the product of the Cholesky pivots; a logarithm only if it leaves [1e-150, 1e150]
    log_det = 0.0
    det = 1.0
    for k in range(p):
        pivot = work[k, k]
        for s in range(k):
            pivot -= work[k, s] * work[k, s]
        if not pivot > 0.0:
            return m * math.log(ridge), merged_trace
        det *= pivot
        if not 1e-150 < det < 1e150:
            log_det += math.log(det)
            det = 1.0
        inverse_root = 1.0 / math.sqrt(pivot)
        work[k, k] = pivot * inverse_root
        for r in range(k + 1, p):
            v = work[r, k]
            for s in range(k):
                v -= work[r, s] * work[k, s]
            work[r, k] = v * inverse_root
    if log_det == 0.0:
        return m * math.log(det + ridge), merged_trace
    log_det += math.log(det)
    log_ridge = math.log(ridge)
    high = max(log_det, log_ridge)
    low = min(log_det, log_ridge)
    return m * (high + math.log1p(math.exp(low - high))), merged_trace


@link_only
@njit(**JIT)
def _pair_cost(a, b, count, mean, first, second, trace, term, alpha, beta, diff, work):
    merged, _ = _merged_term(a, b, count, mean, first, second, trace, alpha, beta, diff, work)
    return merged - (term[a] + term[b])


@link_only
@njit(**JIT)
def _rescan(s, n_live, cost, best, partner):
    value = np.inf
    at = -1
    for t in range(n_live):
        if t != s and cost[s, t] < value:
            value = cost[s, t]
            at = t
    best[s] = value
    partner[s] = at


@link_only
@njit(**JIT)
def _singleton_costs(Z, alpha, beta, cost):
    """The lower triangle of ``cost`` for singletons: what :func:`_pair_cost` gives, without its set-up."""
    n, p = Z.shape
    singletons = 2.0 * math.log(alpha * beta)
    for j in range(n):
        cost[j, j] = np.inf
        for i in range(j):
            squared = 0.0
            for f in range(p):
                d = Z[j, f] - Z[i, f]
                squared += d * d
            trace = 0.0 + 0.0 + 0.5 * squared
            cost[j, i] = 2.0 * math.log(beta * (trace + alpha) / 2.0) - singletons


@link_only
@njit(**JIT)
def _mirror_lower(a):
    """Copy the strict lower triangle of the square ``a`` onto the upper one, in cache-sized blocks."""
    n = a.shape[0]
    block = 64
    for r0 in range(0, n, block):
        for c0 in range(0, r0 + 1, block):
            for r in range(r0, min(r0 + block, n)):
                for c in range(c0, min(c0 + block, r)):
                    a[c, r] = a[r, c]


@link_only
@njit(**JIT)
def _stored_scatter(scatter, n_rows, out):
    """The scatter mclust 6's ``hcvvv`` reads back for a cluster whose scatter is ``scatter``.

    It keeps a merged cluster's upper triangular factor ``R`` (``R^T R =
    scatter``) as ``n_rows = min(m - 1, p)`` rows of the data matrix, but
    writes the first row of ``R`` into each of them (``hcvvv`` copies
    ``r(1,1)`` in the loop over the rows), and reads row ``k`` back from
    column ``k`` on. The factor it works with later is then row ``k`` =
    ``(0, ..., 0, R[0, k:])``, whose scatter this returns. The cluster
    formed at the last step is still used with its true factor. Lower
    triangles only.
    """
    p = scatter.shape[0]
    head = scatter[0, 0]
    for r in range(p):
        for s in range(r + 1):
            if head > 0.0:
                out[r, s] = min(s + 1.0, n_rows) * scatter[r, 0] * scatter[s, 0] / head
            else:
                out[r, s] = scatter[r, s]


@link_only
@njit(**JIT)
def _move_slot(source, target, n_live, count, mean, fresh, stored, birth, trace, term, ids, cost, best, partner):
    """Put the cluster of slot ``source`` into slot ``target`` (slots below ``n_live``)."""
    count[target] = count[source]
    mean[target] = mean[source]
    fresh[target] = fresh[source]
    stored[target] = stored[source]
    birth[target] = birth[source]
    trace[target] = trace[source]
    term[target] = term[source]
    ids[target] = ids[source]
    best[target] = best[source]
    partner[target] = partner[source]
    for t in range(n_live):
        if t != target and t != source:
            cost[target, t] = cost[source, t]
            cost[t, target] = cost[t, source]


@njit(**JIT)
def vvv_merges(Z, alpha, beta, mclust_storage):
    """Merge sequence of the VVV agglomeration, from singletons to one cluster.

    Parameters
    ----------
    Z : ndarray of shape (n, p), float64
        The (transformed) data, n >= 2.
    alpha, beta : float
        Regularisation: ``alpha`` > 0 is added to the trace of the scatter,
        which ``beta`` scales (mclust: alpha = tr W(Z) / (n p), beta = 1).
    mclust_storage : bool
        Reproduce how mclust 6's ``hcvvv`` stores a merged cluster's
        triangular factor (see :func:`_stored_scatter`) instead of using the
        clusters' true scatter.

    Returns
    -------
    merges : int64 ndarray of shape (n - 1, 2)
        The clusters merged at each step. Clusters are numbered as in SciPy's
        linkage: the rows are 0..n-1 and step ``s`` creates cluster ``n + s``.
        Each row gives the cluster of the lower slot first.
    costs : ndarray of shape (n - 1,)
        The change of the classification criterion at each step.
    """
    n, p = Z.shape
    count = np.ones(n, dtype=np.float64)
    mean = Z.copy()
    fresh = np.zeros((n, p, p))
    stored = np.zeros((n, p, p)) if mclust_storage else fresh
    birth = np.full(n, -1, dtype=np.int64)
    merged = np.empty((p, p))
    trace = np.zeros(n)
    term = np.full(n, math.log(alpha * beta))
    ids = np.arange(n)
    cost = np.empty((n, n))
    best = np.empty(n)
    partner = np.empty(n, dtype=np.int64)
    diff = np.empty(p)
    work = np.empty((p, p))
    merges = np.empty((n - 1, 2), dtype=np.int64)
    costs = np.empty(n - 1)

    _singleton_costs(Z, alpha, beta, cost)
    _mirror_lower(cost)
    for s in range(n):
        _rescan(s, n, cost, best, partner)

    n_live = n
    for step in range(n - 1):
        # the cheapest pair; on ties the largest slot j, then the largest i < j. Rows whose best is
        # only a lower bound (partner -1) are rescanned when they could hold it.
        while True:
            value = np.inf
            for s in range(n_live):
                if best[s] < value:
                    value = best[s]
            exact = True
            for s in range(n_live):
                if partner[s] < 0 and best[s] <= value:
                    _rescan(s, n_live, cost, best, partner)
                    exact = False
            if exact:
                break
        j = 0
        for s in range(n_live):
            if best[s] == value:
                j = s
        i = 0
        for t in range(j - 1, -1, -1):
            if cost[j, t] == value:
                i = t
                break
        merges[step, 0] = ids[i]
        merges[step, 1] = ids[j]
        costs[step] = value

        # the union goes to slot i
        na = count[i]
        nb = count[j]
        m = na + nb
        newer, older = (i, j) if birth[i] > birth[j] else (j, i)
        merged_term, merged_trace = _merged_term(
            newer, older, count, mean, fresh, stored, trace, alpha, beta, diff, work
        )
        c = na * nb / m
        for f in range(p):
            diff[f] = mean[j, f] - mean[i, f]
        # mclust rebuilds the union from both stored factors unless one is the last step's cluster
        a, first, b, second = i, fresh, j, fresh
        if mclust_storage:
            a, first, b, second = (newer, fresh, older, stored) if birth[newer] == step - 1 else (i, stored, j, stored)
        for r in range(p):
            for s in range(r + 1):
                merged[r, s] = first[a, r, s] + second[b, r, s] + c * diff[r] * diff[s]
        for r in range(p):
            for s in range(r + 1):
                fresh[i, r, s] = merged[r, s]
            mean[i, r] = mean[i, r] + (nb / m) * diff[r]
        if mclust_storage:
            _stored_scatter(merged, min(m - 1.0, p), stored[i])
        birth[i] = step
        count[i] = m
        trace[i] = merged_trace
        term[i] = merged_term
        ids[i] = n + step

        last = n_live - 1
        if j != last:
            _move_slot(last, j, n_live, count, mean, fresh, stored, birth, trace, term, ids, cost, best, partner)
        n_live -= 1

        for t in range(n_live):
            if t != i:
                c = _pair_cost(i, t, count, mean, fresh, stored, trace, term, alpha, beta, diff, work)
                cost[i, t] = c
                cost[t, i] = c
        for s in range(n_live):
            if s == i:
                continue
            old = partner[s]
            if cost[s, i] <= best[s]:
                # no other cost of row s changed, and none was below the old best (or bound)
                best[s] = cost[s, i]
                partner[s] = i
            elif old == i or old == j:
                partner[s] = -1  # the old best stays a lower bound of the row
            elif old == last:
                partner[s] = j
        _rescan(i, n_live, cost, best, partner)
    return merges, costs
