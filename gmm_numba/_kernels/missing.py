"""Kernels for rows with missing entries: the observed-data E-step and conditional expectations.

The rows come sorted by missingness pattern (one boolean mask of observed
features per pattern), so that each (pattern, component) pays one Cholesky
factorisation of the observed block ``Sigma_oo`` and one regression matrix
``B = Sigma_mo Sigma_oo^-1``, shared by every row of the pattern.

* Rare patterns: :func:`missing_em_statistics` and :func:`missing_row_scores`
  walk the rows one by one (a triangular solve for the Mahalanobis distance of
  the observed entries, ``B (x_o - mu_o)`` for the conditional mean of the
  missing ones, the outer product of the completed row) and refactorise when
  the pattern changes.
* Common patterns: :func:`pattern_parameters` lays each pattern's Gaussian out
  in full width with zeros at the missing features (as the tiles pad
  features), so that :func:`pattern_em_statistics` and
  :func:`pattern_row_scores` run the fused, tiled E-step of complete data over
  every pattern's rows in one parallel pass; :func:`completed_moments` turns
  the observed entries' moments into those of the completed rows.

Covariances come as full matrices, shape (n_components, n_features,
n_features), whatever the model; expected second moments are returned in
full too (the caller reduces them to the model's layout).
"""

import math

import numpy as np
from numba import njit, prange

from .config import JIT, PARALLEL_JIT, TILE
from .moments import tile_moments
from .scheduling import block_counter, claim_block
from .tiles import (
    FEATURE_BLOCK,
    component_constants,
    load_tile,
    new_tile,
    padded_features,
    padded_parameters,
    tile_argmax,
    tile_buffer,
    tile_log_probs,
    tile_normalise,
    tile_vector,
    tile_weights,
)

_LOG_2PI = math.log(2.0 * math.pi)


@njit(**dict(PARALLEL_JIT, parallel=False))
def _pattern_factors(mask, covariances, lower, regression, conditional, log_norm):
    """Factor every component's covariance for one missingness pattern (fills the work arrays).

    Parameters
    ----------
    mask : array of shape (n_features,), bool
        Observed features.
    covariances : array of shape (n_components, n_features, n_features)
    lower : array of shape (n_components, n_features, n_features)
        Out: the lower Cholesky factor ``L`` of ``Sigma_oo`` in the top-left ``no x no`` block.
    regression : array of shape (n_components, n_features, n_features)
        Out: ``B = Sigma_mo Sigma_oo^-1`` in the top-left ``nm x no`` block.
    conditional : array of shape (n_components, n_features, n_features)
        Out: ``C = Sigma_mm - B Sigma_om`` in the top-left ``nm x nm`` block.
    log_norm : array of shape (n_components,)
        Out: ``-(no log 2 pi + log det Sigma_oo) / 2``.

    Returns
    -------
    ok : bool
        False when some ``Sigma_oo`` is not numerically positive definite.
    """
    d = mask.shape[0]
    obs = np.empty(d, np.int64)
    mis = np.empty(d, np.int64)
    no = 0
    nm = 0
    for j in range(d):
        if mask[j]:
            obs[no] = j
            no += 1
        else:
            mis[nm] = j
            nm += 1
    k_count = covariances.shape[0]
    tmp = np.empty(d)
    for k in range(k_count):
        S = covariances[k]
        L = lower[k]
        log_det = 0.0
        for i in range(no):
            for j in range(i + 1):
                s = S[obs[i], obs[j]]
                for p in range(j):
                    s -= L[i, p] * L[j, p]
                if i == j:
                    if not s > 0.0:
                        return False
                    L[i, i] = math.sqrt(s)
                    log_det += 2.0 * math.log(L[i, i])
                else:
                    L[i, j] = s / L[j, j]
        log_norm[k] = -0.5 * (no * _LOG_2PI + log_det)
        B = regression[k]
        for a in range(nm):
            # row a of B solves Sigma_oo b = Sigma_o,m[a]: forward then back substitution
            for i in range(no):
                s = S[mis[a], obs[i]]
                for p in range(i):
                    s -= L[i, p] * tmp[p]
                tmp[i] = s / L[i, i]
            for i in range(no - 1, -1, -1):
                s = tmp[i]
                for p in range(i + 1, no):
                    s -= L[p, i] * B[a, p]
                B[a, i] = s / L[i, i]
        C = conditional[k]
        for a in range(nm):
            for b in range(nm):
                s = S[mis[a], mis[b]]
                for i in range(no):
                    s -= B[a, i] * S[obs[i], mis[b]]
                C[a, b] = s
    return True


@njit(**dict(PARALLEL_JIT, parallel=False))
def _row_log_probs(x, obs, no, means, log_weights, lower, log_norm, diff, z, out):
    """``log pi_k + log N(x_o | mu_k,o, Sigma_k,oo)`` of one row into ``out``; ``diff[k]`` keeps ``x_o - mu_k,o``."""
    for k in range(means.shape[0]):
        L = lower[k]
        maha = 0.0
        for i in range(no):
            dv = x[obs[i]] - means[k, obs[i]]
            diff[k, i] = dv
            s = dv
            for p in range(i):
                s -= L[i, p] * z[p]
            z[i] = s / L[i, i]
            maha += z[i] * z[i]
        out[k] = log_weights[k] + log_norm[k] - 0.5 * maha


@njit(**dict(PARALLEL_JIT, parallel=False))
def _indices(mask, obs, mis):
    no = 0
    nm = 0
    for j in range(mask.shape[0]):
        if mask[j]:
            obs[no] = j
            no += 1
        else:
            mis[nm] = j
            nm += 1
    return no, nm


@njit(**PARALLEL_JIT)
def missing_em_statistics(X, sample_weight, pattern_of_row, masks, means, covariances, log_weights, shifts, n_groups):
    """Expected sufficient statistics of the rows with missing entries, in one parallel pass.

    Parameters
    ----------
    X : array of shape (n_rows, n_features), float64
        Rows sorted by pattern; missing entries are never read.
    sample_weight : array of shape (n_rows,), float64
    pattern_of_row : array of shape (n_rows,), int64
        Index into ``masks`` of each row (non-decreasing).
    masks : array of shape (n_patterns, n_features), bool
        Observed features of each pattern.
    means : array of shape (n_components, n_features)
    covariances : array of shape (n_components, n_features, n_features)
    log_weights : array of shape (n_components,)
    shifts : array of shape (n_components, n_features)
        The ``c_k`` the moments are taken about.
    n_groups : int
        Contiguous row ranges summed separately (and in parallel), then added
        in order: the result depends on ``n_groups``, not on the threads.

    Returns
    -------
    stats : array of shape (4,)
        ``total_weight, log_likelihood, hard_log_resp, ok`` (``ok`` is 0 when
        an observed block was not positive definite).
    nk : array of shape (n_components,)
    s1 : array of shape (n_components, n_features)
        ``sum_n w_n r_nk (xhat_nk - c_k)``, ``xhat_nk`` the row completed by
        its conditional mean under component k.
    s2 : array of shape (n_components, n_features, n_features)
        ``sum_n w_n r_nk [(xhat_nk - c_k)(xhat_nk - c_k)^T + C_k]``, ``C_k``
        the conditional covariance of the missing entries (zero elsewhere).
    """
    n, d = X.shape
    K = means.shape[0]
    g_stats = np.zeros((n_groups, 4))
    g_nk = np.zeros((n_groups, K))
    g_s1 = np.zeros((n_groups, K, d))
    g_s2 = np.zeros((n_groups, K, d, d))
    for g in prange(n_groups):
        start = (n * g) // n_groups
        stop = (n * (g + 1)) // n_groups
        lower = np.zeros((K, d, d))
        regression = np.zeros((K, d, d))
        conditional = np.zeros((K, d, d))
        log_norm = np.empty(K)
        obs = np.empty(d, np.int64)
        mis = np.empty(d, np.int64)
        diff = np.empty((K, d))
        z = np.empty(d)
        lp = np.empty(K)
        y = np.empty(d)
        pattern_weight = np.zeros(K)
        current = -1
        no = 0
        nm = 0
        ok = 1.0
        total = 0.0
        ll = 0.0
        hard = 0.0
        nk = g_nk[g]
        s1 = g_s1[g]
        s2 = g_s2[g]
        for row in range(start, stop + 1):
            pattern = pattern_of_row[row] if row < stop else -2
            if pattern != current:
                if current >= 0:
                    # the conditional covariance, once per pattern, times the pattern's responsibility
                    for k in range(K):
                        C = conditional[k]
                        for a in range(nm):
                            for b in range(nm):
                                s2[k, mis[a], mis[b]] += pattern_weight[k] * C[a, b]
                        pattern_weight[k] = 0.0
                if row == stop:
                    break
                current = pattern
                no, nm = _indices(masks[pattern], obs, mis)
                if not _pattern_factors(masks[pattern], covariances, lower, regression, conditional, log_norm):
                    ok = 0.0
                    break
            w = sample_weight[row]
            x = X[row]
            _row_log_probs(x, obs, no, means, log_weights, lower, log_norm, diff, z, lp)
            top = lp[0]
            for k in range(1, K):
                top = max(top, lp[k])
            acc = 0.0
            for k in range(K):
                acc += math.exp(lp[k] - top)
            lse = top + math.log(acc)
            total += w
            ll += w * lse
            hard += w * (top - lse)
            for k in range(K):
                r = w * math.exp(lp[k] - lse)
                if r == 0.0:
                    continue
                nk[k] += r
                pattern_weight[k] += r
                for i in range(no):
                    y[obs[i]] = x[obs[i]] - shifts[k, obs[i]]
                B = regression[k]
                for a in range(nm):
                    s = means[k, mis[a]] - shifts[k, mis[a]]
                    for i in range(no):
                        s += B[a, i] * diff[k, i]
                    y[mis[a]] = s
                for i in range(d):
                    ry = r * y[i]
                    s1[k, i] += ry
                    for j in range(i + 1):
                        s2[k, i, j] += ry * y[j]
        g_stats[g, 0] = total
        g_stats[g, 1] = ll
        g_stats[g, 2] = hard
        g_stats[g, 3] = ok
    stats = np.zeros(4)
    stats[3] = 1.0
    nk = np.zeros(K)
    s1 = np.zeros((K, d))
    s2 = np.zeros((K, d, d))
    for g in range(n_groups):
        for t in range(3):
            stats[t] += g_stats[g, t]
        stats[3] = min(stats[3], g_stats[g, 3])
        nk += g_nk[g]
        s1 += g_s1[g]
        s2 += g_s2[g]
    # the loop filled the lower triangles of the outer products (and both of C's): mirror
    for k in range(K):
        for i in range(d):
            for j in range(i + 1, d):
                s2[k, i, j] = s2[k, j, i]
    return stats, nk, s1, s2


@njit(**PARALLEL_JIT)
def missing_row_scores(X, pattern_of_row, masks, means, covariances, log_weights, n_groups, lse, resp, imputed):
    """Per-row observed-data log-density, responsibilities and conditional means.

    Parameters
    ----------
    X, pattern_of_row, masks, means, covariances, log_weights, n_groups
        As for :func:`missing_em_statistics` (rows sorted by pattern).
    lse : array of shape (n_rows,)
        Out: ``log p(x_o)``.
    resp : array of shape (n_rows, n_components) or (0, n_components)
        Out: ``p(k | x_o)``; not computed when empty.
    imputed : array of shape (n_rows, n_features) or (0, n_features)
        Out: ``E[x | x_o] = sum_k r_k xhat_k``, the observed entries copied
        unchanged; not computed when empty.

    Returns
    -------
    ok : bool
        False when an observed block was not positive definite.
    """
    n, d = X.shape
    K = means.shape[0]
    want_resp = resp.shape[0] > 0
    want_imputed = imputed.shape[0] > 0
    oks = np.ones(n_groups, np.bool_)
    for g in prange(n_groups):
        start = (n * g) // n_groups
        stop = (n * (g + 1)) // n_groups
        lower = np.zeros((K, d, d))
        regression = np.zeros((K, d, d))
        conditional = np.zeros((K, d, d))
        log_norm = np.empty(K)
        obs = np.empty(d, np.int64)
        mis = np.empty(d, np.int64)
        diff = np.empty((K, d))
        z = np.empty(d)
        lp = np.empty(K)
        current = -1
        no = 0
        nm = 0
        for row in range(start, stop):
            pattern = pattern_of_row[row]
            if pattern != current:
                current = pattern
                no, nm = _indices(masks[pattern], obs, mis)
                if not _pattern_factors(masks[pattern], covariances, lower, regression, conditional, log_norm):
                    oks[g] = False
                    break
            x = X[row]
            _row_log_probs(x, obs, no, means, log_weights, lower, log_norm, diff, z, lp)
            top = lp[0]
            for k in range(1, K):
                top = max(top, lp[k])
            acc = 0.0
            for k in range(K):
                acc += math.exp(lp[k] - top)
            total = top + math.log(acc)
            lse[row] = total
            if want_resp:
                for k in range(K):
                    resp[row, k] = math.exp(lp[k] - total)
            if want_imputed:
                for j in range(d):
                    imputed[row, j] = x[j]
                for a in range(nm):
                    s = 0.0
                    for k in range(K):
                        r = math.exp(lp[k] - total)
                        c = means[k, mis[a]]
                        B = regression[k]
                        for i in range(no):
                            c += B[a, i] * diff[k, i]
                        s += r * c
                    imputed[row, mis[a]] = s
    ok = True
    for g in range(n_groups):
        ok = ok and oks[g]
    return ok


# ------------------------------------------------------------------------------------------------
# Common patterns: the fused, tiled E-step of the complete data, every pattern in one parallel pass


@njit(**JIT)
def pattern_parameters(masks, covariances, means):
    """Each (pattern, component)'s observed-data Gaussian in full width, and its conditional Gaussian.

    A missing feature gets mean 0 and a zero row and column in the precision
    factor, so that, with the data's missing entries set to 0, the fused
    kernels (which pad features the same way) compute the density and moments
    of the observed entries alone.

    Parameters
    ----------
    masks : array of shape (n_patterns, n_features), bool
    covariances : array of shape (n_components, n_features, n_features)
    means : array of shape (n_components, n_features)

    Returns
    -------
    ok : bool
        False when an observed block is not numerically positive definite.
    means_p : array of shape (n_patterns, n_components, n_features)
        The means, 0 at missing features.
    factors_p : array of shape (n_patterns, n_components, n_features, n_features)
        Upper triangular ``P`` with ``P_oo P_oo^T = Sigma_oo^-1``, zero elsewhere.
    log_det_p : array of shape (n_patterns, n_components)
        ``log |P_oo| + (n_features - n_o) log(2 pi) / 2`` (the kernels subtract ``n_features log(2 pi) / 2``).
    regression : array of shape (n_patterns, n_components, n_features, n_features)
        ``B = Sigma_mo Sigma_oo^-1`` at rows m, columns o; zero elsewhere.
    conditional : array of shape (n_patterns, n_components, n_features, n_features)
        ``C = Sigma_mm - B Sigma_om`` at rows and columns m; zero elsewhere.
    """
    n_patterns, d = masks.shape
    K = covariances.shape[0]
    means_p = np.zeros((n_patterns, K, d))
    factors_p = np.zeros((n_patterns, K, d, d))
    log_det_p = np.zeros((n_patterns, K))
    regression = np.zeros((n_patterns, K, d, d))
    conditional = np.zeros((n_patterns, K, d, d))
    lower = np.zeros((K, d, d))
    reg = np.zeros((K, d, d))
    cond = np.zeros((K, d, d))
    log_norm = np.empty(K)
    obs = np.empty(d, np.int64)
    mis = np.empty(d, np.int64)
    inverse = np.zeros((d, d))
    for p in range(n_patterns):
        no, nm = _indices(masks[p], obs, mis)
        if not _pattern_factors(masks[p], covariances, lower, reg, cond, log_norm):
            return False, means_p, factors_p, log_det_p, regression, conditional
        for k in range(K):
            L = lower[k]
            # inverse of the lower triangular L by forward substitution, column by column
            for c in range(no):
                for i in range(no):
                    if i < c:
                        inverse[i, c] = 0.0
                        continue
                    s = 1.0 if i == c else 0.0
                    for q in range(c, i):
                        s -= L[i, q] * inverse[q, c]
                    inverse[i, c] = s / L[i, i]
            log_det = 0.0
            for a in range(no):
                log_det -= math.log(L[a, a])
                means_p[p, k, obs[a]] = means[k, obs[a]]
                for b in range(a, no):
                    # P = L^-T: P[a, b] = inverse[b, a], upper triangular; o is sorted, so it stays so
                    factors_p[p, k, obs[a], obs[b]] = inverse[b, a]
            log_det_p[p, k] = log_det + 0.5 * (d - no) * _LOG_2PI
            for a in range(nm):
                for i in range(no):
                    regression[p, k, mis[a], obs[i]] = reg[k, a, i]
                for b in range(nm):
                    conditional[p, k, mis[a], mis[b]] = cond[k, a, b]
    return True, means_p, factors_p, log_det_p, regression, conditional


@njit(**PARALLEL_JIT)
def pattern_em_statistics(X, sample_weight, block_bounds, block_pattern, means_p, factors_p, log_weights, log_det_p,
                          like):
    """The fused E-step of :func:`gmm_numba._kernels.estep.em_statistics` over rows of many patterns, in one pass.

    Parameters
    ----------
    X : array of shape (n_rows, n_features), float64
        Rows sorted by pattern, missing entries 0.
    sample_weight : array of shape (n_rows,) or (0,)
    block_bounds : array of shape (n_blocks + 1,), int64
        Row offsets of the blocks; a block holds rows of one pattern only.
    block_pattern : array of shape (n_blocks,), int64
    means_p, factors_p, log_det_p
        From :func:`pattern_parameters`.
    log_weights : array of shape (n_components,)
    like : array of shape (0,), float64

    Returns
    -------
    scalars : array of shape (n_patterns, 3)
        ``sum w``, ``sum w log p(x_o)`` and ``sum w max_k log r_k`` per pattern.
    nk : array of shape (n_patterns, n_components)
    s1 : array of shape (n_patterns, n_components, n_features)
        ``sum w r (x_o - mu_o)``, zero at missing features.
    s2 : array of shape (n_patterns, n_components, n_features, n_features)
        ``sum w r (x_o - mu_o)(x_o - mu_o)^T``, zero in missing rows and columns.
    """
    n_samples, n_features = X.shape
    n_patterns, n_components = log_det_p.shape
    n_padded = padded_features(n_features)
    n_blocks = block_pattern.shape[0]
    weighted = sample_weight.shape[0] > 0
    acc_scalars = np.zeros((n_blocks, 3))
    acc_nk = np.zeros((n_blocks, n_components))
    acc_s1 = np.zeros((n_blocks, n_components, n_padded))
    acc_s2 = np.zeros((n_blocks, n_components, n_padded, n_padded))
    mus = np.zeros((n_patterns, n_components, n_padded), like.dtype)
    pcs = np.zeros((n_patterns, n_components, n_padded, n_padded), like.dtype)
    consts = np.zeros((n_patterns, n_components), like.dtype)
    for p in range(n_patterns):
        mu, pc = padded_parameters(means_p[p], factors_p[p], like)
        mus[p] = mu
        pcs[p] = pc
        consts[p] = component_constants(log_weights, log_det_p[p], n_features, like)

    counter = block_counter()
    for _ in prange(n_blocks):
        b = claim_block(counter)
        if b >= n_blocks:
            continue
        xt = new_tile(n_features, like)
        y = tile_buffer(FEATURE_BLOCK, like)
        lp = tile_buffer(n_components, like)
        lse = tile_vector(np.float64)
        log_norm = tile_vector(np.float64)
        inv_total = tile_vector(like.dtype)
        top = tile_vector(like.dtype)
        wt = tile_vector(like.dtype)
        no_squares = tile_buffer(0, like)
        while b < n_blocks:
            p = block_pattern[b]
            mu = mus[p]
            pc = pcs[p]
            const = consts[p]
            stop = block_bounds[b + 1]
            for start in range(block_bounds[b], stop, TILE):
                nt = min(TILE, stop - start)
                load_tile(X, start, nt, xt)
                tile_log_probs(xt, nt, mu, pc, const, lp, y, no_squares)
                tile_normalise(lp, nt, lse, log_norm, inv_total, top)
                w_sum, ll_sum, hard_sum = tile_weights(sample_weight, weighted, start, nt, lse, log_norm, inv_total,
                                                       wt)
                acc_scalars[b, 0] += w_sum
                acc_scalars[b, 1] += ll_sum
                acc_scalars[b, 2] += hard_sum
                for k in range(n_components):
                    nk_sum = 0.0
                    for t in range(nt):
                        r = wt[t] * lp[k, t]
                        lp[k, t] = r
                        nk_sum += r
                    acc_nk[b, k] += nk_sum
                    tile_moments(xt, nt, lp[k], mu[k], True, acc_s1[b, k], acc_s2[b, k])
            b = claim_block(counter)

    scalars = np.zeros((n_patterns, 3))
    nk = np.zeros((n_patterns, n_components))
    s1 = np.zeros((n_patterns, n_components, n_features))
    s2 = np.zeros((n_patterns, n_components, n_features, n_features))
    for b in range(n_blocks):  # in block order: the sums do not depend on the threads
        p = block_pattern[b]
        for t in range(3):
            scalars[p, t] += acc_scalars[b, t]
        for k in range(n_components):
            nk[p, k] += acc_nk[b, k]
            for i in range(n_features):
                s1[p, k, i] += acc_s1[b, k, i]
                for j in range(i + 1):
                    s2[p, k, i, j] += acc_s2[b, k, i, j]
    for p in range(n_patterns):
        for k in range(n_components):
            for i in range(n_features):
                for j in range(i):
                    s2[p, k, j, i] = s2[p, k, i, j]
    return scalars, nk, s1, s2


@njit(**JIT)
def completed_moments(masks, nk, m1, m2, regression, conditional, delta, s1, s2):
    """Add the expected moments of the completed rows, pattern by pattern, to ``s1`` and ``s2``.

    Under component k a row completed by its conditional mean is
    ``xhat - c = T y + delta`` with ``y = x_o - mu_o`` (zero at the missing
    features), ``T`` the identity on the observed features plus ``B`` at
    (m, o), and ``delta = mu - c``; the conditional covariance adds ``n C``.

    Parameters
    ----------
    masks : array of shape (n_patterns, n_features), bool
    nk, m1, m2 : arrays of shape (n_patterns, K), (n_patterns, K, D), (n_patterns, K, D, D)
        From :func:`pattern_em_statistics`.
    regression, conditional : arrays of shape (n_patterns, K, D, D)
        From :func:`pattern_parameters`.
    delta : array of shape (K, D)
    s1, s2 : arrays of shape (K, D), (K, D, D)
        Added to.
    """
    n_patterns, d = masks.shape
    K = delta.shape[0]
    T = np.zeros((d, d))
    first = np.zeros(d)
    U = np.zeros((d, d))
    for p in range(n_patterns):
        for k in range(K):
            n = nk[p, k]
            for i in range(d):
                for j in range(d):
                    T[i, j] = regression[p, k, i, j]
                if masks[p, i]:
                    T[i, i] = 1.0
            for i in range(d):
                a = 0.0
                for j in range(d):
                    a += T[i, j] * m1[p, k, j]
                first[i] = a
            for i in range(d):
                for j in range(d):
                    a = 0.0
                    for q in range(d):
                        a += T[i, q] * m2[p, k, q, j]
                    U[i, j] = a
            for i in range(d):
                s1[k, i] += first[i] + n * delta[k, i]
                for j in range(d):
                    a = 0.0
                    for q in range(d):
                        a += U[i, q] * T[j, q]
                    s2[k, i, j] += (
                        a
                        + first[i] * delta[k, j]
                        + delta[k, i] * first[j]
                        + n * delta[k, i] * delta[k, j]
                        + n * conditional[p, k, i, j]
                    )


@njit(**PARALLEL_JIT)
def pattern_row_scores(X, block_bounds, block_pattern, means_p, factors_p, log_weights, log_det_p, like,
                       lse_out, label_out, resp_out):
    """:func:`gmm_numba._kernels.estep.per_sample_scores` over rows of many patterns, in one pass.

    Parameters
    ----------
    X, block_bounds, block_pattern, means_p, factors_p, log_weights, log_det_p, like
        As for :func:`pattern_em_statistics`.
    lse_out : array of shape (n_rows,)
        Receives ``log p(x_o)``.
    label_out : array of shape (n_rows,), int64
        Receives ``argmax_k r_k``.
    resp_out : array of shape (n_rows, n_components) or (0, n_components)
        Receives ``r_k = p(k | x_o)`` unless it is empty.
    """
    n_samples, n_features = X.shape
    n_patterns, n_components = log_det_p.shape
    n_padded = padded_features(n_features)
    n_blocks = block_pattern.shape[0]
    want_resp = resp_out.shape[0] > 0
    mus = np.zeros((n_patterns, n_components, n_padded), like.dtype)
    pcs = np.zeros((n_patterns, n_components, n_padded, n_padded), like.dtype)
    consts = np.zeros((n_patterns, n_components), like.dtype)
    for p in range(n_patterns):
        mu, pc = padded_parameters(means_p[p], factors_p[p], like)
        mus[p] = mu
        pcs[p] = pc
        consts[p] = component_constants(log_weights, log_det_p[p], n_features, like)
    counter = block_counter()
    for _ in prange(n_blocks):
        b = claim_block(counter)
        if b >= n_blocks:
            continue
        xt = new_tile(n_features, like)
        y = tile_buffer(FEATURE_BLOCK, like)
        lp = tile_buffer(n_components, like)
        lse = tile_vector(np.float64)
        log_norm = tile_vector(np.float64)
        inv_total = tile_vector(like.dtype)
        top = tile_vector(like.dtype)
        best = tile_vector(np.int64)
        no_squares = tile_buffer(0, like)
        while b < n_blocks:
            p = block_pattern[b]
            stop = block_bounds[b + 1]
            for start in range(block_bounds[b], stop, TILE):
                nt = min(TILE, stop - start)
                load_tile(X, start, nt, xt)
                tile_log_probs(xt, nt, mus[p], pcs[p], consts[p], lp, y, no_squares)
                tile_argmax(lp, nt, best, top)
                tile_normalise(lp, nt, lse, log_norm, inv_total, top)
                for t in range(nt):
                    lse_out[start + t] = lse[t]
                    label_out[start + t] = best[t]
                if want_resp:
                    for t in range(nt):
                        for k in range(n_components):
                            resp_out[start + t, k] = lp[k, t] * inv_total[t]
            b = claim_block(counter)


@njit(**PARALLEL_JIT)
def pattern_conditional_means(X, pattern_of_row, masks, regression, means, resp, out):
    """``E[x_m | x_o] = sum_k r_k (mu_k,m + B_k (x_o - mu_k,o))`` of each row's missing entries, into ``out``.

    Parameters
    ----------
    X : array of shape (n_rows, n_features), float64
        Missing entries 0.
    pattern_of_row : array of shape (n_rows,), int64
    masks : array of shape (n_patterns, n_features), bool
    regression : array of shape (n_patterns, n_components, n_features, n_features)
        From :func:`pattern_parameters`.
    means : array of shape (n_components, n_features)
    resp : array of shape (n_rows, n_components)
    out : array of shape (n_rows, n_features)
        Its missing entries are written; the others are left as they are.
    """
    n, d = X.shape
    K = means.shape[0]
    for row in prange(n):
        p = pattern_of_row[row]
        mask = masks[p]
        for i in range(d):
            if mask[i]:
                continue
            s = 0.0
            for k in range(K):
                c = means[k, i]
                for j in range(d):
                    if mask[j]:
                        c += regression[p, k, i, j] * (X[row, j] - means[k, j])
                s += resp[row, k] * c
            out[row, i] = s
