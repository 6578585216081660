"""Deliberately naive reference implementations for the tests.

Everything here is written from the textbook definitions with NumPy/SciPy,
without looking at how gmm_numba organises its computation: explicit
``(n_samples, n_components)`` responsibility matrices, SciPy's
``multivariate_normal.logpdf`` for the densities, ``logsumexp`` for the
normalisation and ``np.cov(..., aweights=...)`` for the M-steps. All
arithmetic is float64 (float32 inputs are cast first), so the references are
also the "exact" answers the float32 kernels are compared with.

Covariances are passed around in scikit-learn's shapes:

* ``full``: (K, D, D)
* ``tied``: (D, D)
* ``diag``: (K, D)
* ``spherical``: (K,)
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


# --------------------------------------------------------------------------- shapes
def full_covariances(cov_type, covariances, n_components, n_features):
    """Covariances in the model's shape -> (K, D, D) float64 matrices."""
    c = np.asarray(covariances, dtype=np.float64)
    if cov_type == "full":
        return c.copy()
    if cov_type == "tied":
        return np.array([c for _ in range(n_components)])
    if cov_type == "diag":
        return np.array([np.diag(c[k]) for k in range(n_components)])
    if cov_type == "spherical":
        return np.array([c[k] * np.eye(n_features) for k in range(n_components)])
    raise ValueError(cov_type)


def precisions(cov_type, covariances):
    """Inverse covariances in the model's shape."""
    c = np.asarray(covariances, dtype=np.float64)
    if cov_type == "full":
        return np.array([np.linalg.inv(m) for m in c])
    if cov_type == "tied":
        return np.linalg.inv(c)
    return 1.0 / c


def precisions_cholesky(cov_type, covariances):
    """scikit-learn's ``precisions_cholesky_``: upper triangular ``P`` with
    ``P P^T = Sigma^-1`` (``P = (L^-1)^T`` for the Cholesky factor ``L`` of
    ``Sigma``), or ``1 / sqrt(variance)`` for diag/spherical."""
    c = np.asarray(covariances, dtype=np.float64)

    def one(m):
        lower = np.linalg.cholesky(m)
        return np.linalg.inv(lower).T

    if cov_type == "full":
        return np.array([one(m) for m in c])
    if cov_type == "tied":
        return one(c)
    return 1.0 / np.sqrt(c)


# ------------------------------------------------------------------------- E-step
def weighted_log_densities(X, weights, means, full_covs):
    """``log pi_k + log N(x_n | mu_k, Sigma_k)``, shape (N, K), via SciPy."""
    X = np.asarray(X, dtype=np.float64)
    n, k = X.shape[0], len(weights)
    out = np.empty((n, k))
    for j in range(k):
        with np.errstate(divide="ignore"):
            log_w = np.log(weights[j])
        logpdf = multivariate_normal(mean=means[j], cov=full_covs[j]).logpdf(X)
        out[:, j] = log_w + np.reshape(logpdf, n)
    return out


def responsibilities(wlp):
    """Per-point log-likelihood and responsibilities from weighted log-densities."""
    lse = logsumexp(wlp, axis=1)
    log_resp = wlp - lse[:, None]
    return lse, np.exp(log_resp), log_resp


def e_step(X, weights, means, full_covs):
    """``(log p(x_n), r_nk, log r_nk)`` for each point."""
    return responsibilities(weighted_log_densities(X, weights, means, full_covs))


def statistics_from_responsibilities(X, sample_weight, resp, shifts, lse=None, log_resp=None):
    """Sufficient statistics by plain loops over an explicit responsibility matrix.

    Returns a dict with ``W``, ``LL``, ``hard`` (``sum_n w_n max_k log r_nk``),
    ``nk`` (K,), ``s1`` (K, D) and ``s2`` (K, D, D), the moments taken about
    ``shifts`` (K, D).
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = resp.shape[1]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    nk = np.zeros(k)
    s1 = np.zeros((k, d))
    s2 = np.zeros((k, d, d))
    for j in range(k):
        a = w * resp[:, j]
        diff = X - shifts[j]
        nk[j] = a.sum()
        s1[j] = a @ diff
        s2[j] = np.einsum("n,ni,nj->ij", a, diff, diff)
    out = {"W": w.sum(), "nk": nk, "s1": s1, "s2": s2}
    if lse is not None:
        out["LL"] = float(np.sum(w * lse))
    if log_resp is not None:
        out["hard"] = float(np.sum(w * log_resp.max(axis=1)))
    return out


def em_statistics(X, sample_weight, weights, means, full_covs, shifts=None):
    """All the statistics of one E-step at the given parameters (shifts default to the means)."""
    lse, resp, log_resp = e_step(X, weights, means, full_covs)
    shifts = np.asarray(means, dtype=np.float64) if shifts is None else shifts
    return statistics_from_responsibilities(X, sample_weight, resp, shifts, lse, log_resp)


# ------------------------------------------------------------------------- M-step
def _weighted_cov(X, a):
    """Weighted population covariance (bias=True) with weights ``a``."""
    return np.atleast_2d(np.cov(X, rowvar=False, aweights=a, bias=True))


def m_step(X, sample_weight, resp, cov_type, reg_covar):
    """scikit-learn's M-step, written with ``np.average`` and ``np.cov``.

    Returns ``(weights, means, covariances)`` with the covariances in the
    model's shape and ``reg_covar`` on their diagonal.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = resp.shape[1]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    nk = np.array([np.sum(resp[:, j] * w) for j in range(k)])
    weights = nk / nk.sum()
    means = np.array([np.average(X, axis=0, weights=resp[:, j] * w) for j in range(k)])
    covs = np.array([_weighted_cov(X, resp[:, j] * w) for j in range(k)])
    eye = np.eye(d)
    if cov_type == "full":
        cov = covs + reg_covar * eye
    elif cov_type == "tied":
        cov = np.einsum("k,kij->ij", nk, covs) / nk.sum() + reg_covar * eye
    elif cov_type == "diag":
        cov = np.array([np.diag(c) for c in covs]) + reg_covar
    elif cov_type == "spherical":
        cov = (np.array([np.diag(c) for c in covs]) + reg_covar).mean(axis=1)
    else:
        raise ValueError(cov_type)
    return weights, means, cov


def hard_m_step(X, sample_weight, labels, n_components, cov_type, reg_covar):
    """M-step for a hard partition (one-hot responsibilities)."""
    resp = np.zeros((X.shape[0], n_components))
    resp[np.arange(X.shape[0]), labels] = 1.0
    return m_step(X, sample_weight, resp, cov_type, reg_covar)


# ---------------------------------------------------------------------------- EM
def em(X, sample_weight, weights, means, covariances, cov_type, reg_covar, n_iter):
    """``n_iter`` plain EM iterations.

    Returns ``(lower_bounds, (weights, means, covariances))`` where
    ``lower_bounds[i]`` is the weighted mean log-likelihood of the parameters
    entering iteration ``i`` (scikit-learn's ``lower_bounds_``).
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = len(weights)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    bounds = []
    for _ in range(n_iter):
        full = full_covariances(cov_type, covariances, k, d)
        lse, resp, _ = e_step(X, weights, means, full)
        bounds.append(np.sum(w * lse) / w.sum())
        weights, means, covariances = m_step(X, w, resp, cov_type, reg_covar)
    return np.array(bounds), (weights, means, covariances)


def n_parameters(cov_type, k, d):
    """Free parameters of a K-component mixture in D dimensions."""
    cov = {"full": k * d * (d + 1) / 2, "tied": d * (d + 1) / 2, "diag": k * d, "spherical": k}[cov_type]
    return int(cov + k * d + k - 1)


# ------------------------------------------------------------------ initialisation
def nearest_center_statistics(X, sample_weight, centers, with_s2=True):
    """Hard assignment to the nearest centre, by brute-force distances."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    c = centers.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    dist = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    labels = dist.argmin(axis=1)
    counts = np.zeros(c)
    s1 = np.zeros((c, d))
    s2 = np.zeros((c, d, d))
    inertia = 0.0
    for i in range(n):
        j = labels[i]
        diff = X[i] - centers[j]
        counts[j] += w[i]
        s1[j] += w[i] * diff
        if with_s2:
            s2[j] += w[i] * np.outer(diff, diff)
        inertia += w[i] * dist[i, j]
    return counts, s1, s2, inertia, labels, dist


def kmeans_plusplus(X, sample_weight, uniforms):
    """Greedy k-means++ as documented: candidate ``c`` of round ``r`` is the
    first row whose cumulative ``w d^2`` exceeds ``u[r, c] * total``; the
    candidate giving the lowest potential is kept (the first on ties)."""
    X = np.asarray(X, dtype=np.float64)
    w = np.asarray(sample_weight, dtype=np.float64)
    k, trials = uniforms.shape

    def pick(prob, u):
        cum = np.cumsum(prob)
        return int(np.searchsorted(cum, u * cum[-1], side="right"))

    chosen = [pick(w, uniforms[0, 0])]
    closest = ((X - X[chosen[0]]) ** 2).sum(axis=1)
    for r in range(1, k):
        best, best_pot, best_closest = None, np.inf, None
        for t in range(trials):
            idx = pick(w * closest, uniforms[r, t])
            cand = np.minimum(closest, ((X - X[idx]) ** 2).sum(axis=1))
            pot = np.sum(w * cand)
            if pot < best_pot:
                best, best_pot, best_closest = idx, pot, cand
        chosen.append(best)
        closest = best_closest
    return np.array(chosen)


_MASK = (1 << 64) - 1


def splitmix_uniform(seed, n, k, n_components):
    """The documented counter-based uniform: splitmix64 of ``seed ^ (n K + k)``
    mapped to (0, 1), computed with Python integers."""
    z = (seed ^ ((n * n_components + k) & _MASK)) & _MASK
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z = z ^ (z >> 31)
    return ((z >> 11) + 1) * (1.0 / 9007199254740993.0)


def random_responsibilities(seed, n_samples, n_components):
    """The (N, K) responsibility matrix of the ``random`` initialisation."""
    r = np.array(
        [[splitmix_uniform(seed, n, k, n_components) for k in range(n_components)] for n in range(n_samples)]
    )
    return r / r.sum(axis=1, keepdims=True)


# ------------------------------------------------- mclust's constrained covariance models
# Sigma_k = lambda_k D_k A_k D_k^T, each of volume lambda, orientation D and
# shape A Equal across components, Varying, or the Identity (the model's three
# letters, in that order).


def expected_log_likelihood(full_covs, scatter, nk):
    """``Q = -1/2 sum_k [n_k log det Sigma_k + tr(Sigma_k^-1 W_k)]`` by the definition."""
    total = 0.0
    for k in range(len(nk)):
        sign, log_det = np.linalg.slogdet(full_covs[k])
        if sign <= 0:
            return -np.inf
        total += nk[k] * log_det + np.trace(np.linalg.inv(full_covs[k]) @ scatter[k])
    return -0.5 * total


def _skew(params, d):
    s = np.zeros((d, d))
    s[np.triu_indices(d, 1)] = params
    return s - s.T


def constrained_covariances(name, theta, n_components, n_features):
    """Covariances of mclust model ``name`` from an unconstrained vector ``theta``.

    Volumes are ``exp`` of free numbers, orientations Cayley transforms
    ``(I - S)^-1 (I + S)`` of skew matrices ``S``, shapes ``exp`` of free numbers centred to sum zero (so
    ``det A = 1``). Returns ``(covariances (K, D, D), size of theta used)``.
    """
    k, d = n_components, n_features
    volume, shape, orientation = name[0], name[1], name[2]
    count = {"E": 1, "V": k, "I": 0}
    theta = np.asarray(theta, dtype=np.float64)
    used = 0

    def take(n):
        nonlocal used
        out = theta[used:used + n]
        used += n
        return out

    log_volumes = take(count[volume])
    log_volumes = np.resize(log_volumes, k)
    shapes = [np.ones(d)] * k
    if shape != "I":
        raw = take(count[shape] * d).reshape(count[shape], d)
        shapes = [np.exp(raw[j % count[shape]] - raw[j % count[shape]].mean()) for j in range(k)]
    rotations = [np.eye(d)] * k
    if orientation != "I":
        m = d * (d - 1) // 2
        raw = take(count[orientation] * m).reshape(count[orientation], m)
        skews = [_skew(raw[j % count[orientation]], d) for j in range(k)]
        rotations = [np.linalg.solve(np.eye(d) - s, np.eye(d) + s) for s in skews]
    covs = np.array([np.exp(log_volumes[j]) * rotations[j] @ np.diag(shapes[j]) @ rotations[j].T for j in range(k)])
    return covs, used


def maximise_expected_log_likelihood(name, scatter, nk, rng, n_starts=4):
    """Best ``Q`` (and its covariances) that scipy.optimize finds over model ``name``'s constraint set.

    BFGS from ``n_starts`` random starts plus one at the identity, on
    :func:`constrained_covariances`' parametrisation.
    """
    from scipy.optimize import minimize

    k, d = scatter.shape[:2]
    size = constrained_covariances(name, np.zeros(10_000), k, d)[1]
    scale = np.log(np.trace(scatter.sum(axis=0)) / (nk.sum() * d))

    def negative_q(theta):
        return -expected_log_likelihood(constrained_covariances(name, theta, k, d)[0], scatter, nk)

    best = None
    for start in range(n_starts + 1):
        theta0 = np.zeros(size) if start == 0 else rng.normal(scale=0.5, size=size)
        theta0[: {"E": 1, "V": k, "I": 0}[name[0]]] += scale
        result = minimize(negative_q, theta0, method="BFGS", options={"gtol": 1e-10, "maxiter": 10_000})
        if best is None or result.fun < best.fun:
            best = result
    return -best.fun, constrained_covariances(name, best.x, k, d)[0]


# --------------------------------------------------------------------------- hierarchical start
def vvv_term(rows, alpha, beta, n_features):
    """Fraley's (1998) VVV term of one cluster, from its rows, as mclust regularises it.

    ``m log(det(W / m) + beta (tr W + alpha) / m)`` for the cluster's scatter
    ``W``; the determinant counts as 0 while ``m <= p``, for a pair formed of
    two singletons and when ``W`` is singular.
    """
    m = rows.shape[0]
    centred = rows - rows.mean(axis=0)
    scatter = centred.T @ centred
    ridge = beta * (np.trace(scatter) + alpha) / m
    det = 0.0
    if m > max(n_features, 2):
        sign, logdet = np.linalg.slogdet(scatter / m)
        det = np.exp(logdet) if sign > 0 else 0.0
    return m * np.log(det + ridge)


def vvv_agglomeration(Z, alpha, beta=1.0):
    """Merge sequence of the VVV agglomeration, recomputing every pair's cost from its rows at every step.

    Clusters sit in slots; merging slots ``i < j`` puts the union in slot
    ``i`` and moves the last slot's cluster into slot ``j`` (mclust's
    bookkeeping, which decides ties: the largest ``j``, then the largest ``i``).

    Returns
    -------
    ndarray of shape (n - 1, 2)
        SciPy-linkage numbering: rows 0..n-1, step ``s`` creates ``n + s``;
        the cluster of the lower slot first.
    """
    n, p = Z.shape
    slots = [[row] for row in range(n)]
    ids = list(range(n))
    merges = []
    for step in range(n - 1):
        terms = [vvv_term(Z[members], alpha, beta, p) for members in slots]
        best, chosen = np.inf, None
        for j in range(len(slots)):
            for i in range(j):
                cost = vvv_term(Z[slots[i] + slots[j]], alpha, beta, p) - (terms[i] + terms[j])
                if cost <= best:
                    best, chosen = cost, (i, j)
        i, j = chosen
        merges.append((ids[i], ids[j]))
        slots[i] = slots[i] + slots[j]
        ids[i] = n + step
        slots[j], ids[j] = slots[-1], ids[-1]
        slots.pop()
        ids.pop()
    return np.array(merges, dtype=np.int64).reshape(-1, 2)


def mclust_read_back(gram, n_rows):
    """The scatter mclust 6's ``hcvvv`` reads back for a cluster whose factor ``R`` it stored.

    It writes the first row of ``R`` (``R^T R = gram``) into each of the
    ``n_rows`` rows it keeps, and reads row ``k`` back from column ``k`` on.
    """
    p = gram.shape[0]
    if gram[0, 0] <= 0:
        return gram.copy()
    first = gram[0] / np.sqrt(gram[0, 0])
    rows = np.zeros((n_rows, p))
    for k in range(n_rows):
        rows[k, k:] = first[k:]
    return rows.T @ rows


def mclust_vvv_agglomeration(Z, alpha, beta=1.0):
    """:func:`vvv_agglomeration` with the scatter matrices mclust 6's ``hcvvv`` works with.

    A cluster's scatter is what mclust computed when it formed it; a pair's
    cost takes the newer cluster's as computed and the older's as read back
    (:func:`mclust_read_back`); a union is built from the last step's
    cluster as computed and the other as read back, or from both read back.
    """
    n, p = Z.shape
    slots = [[row] for row in range(n)]
    ids = list(range(n))
    grams = [np.zeros((p, p)) for _ in range(n)]
    births = [-1] * n

    def read_back(k):
        return mclust_read_back(grams[k], min(len(slots[k]) - 1, p))

    def union(a, b, first, second):
        rows = slots[a] + slots[b]
        v = Z[slots[a]].mean(axis=0) - Z[slots[b]].mean(axis=0)
        gram = first + second + len(slots[a]) * len(slots[b]) / len(rows) * np.outer(v, v)
        return rows, gram

    def term(rows, gram):
        m = len(rows)
        centred = Z[rows] - Z[rows].mean(axis=0)
        ridge = beta * (np.sum(centred**2) + alpha) / m
        det = 0.0
        if m > max(p, 2):
            sign, logdet = np.linalg.slogdet(gram / m)
            det = np.exp(logdet) if sign > 0 else 0.0
        return m * np.log(det + ridge)

    terms = [np.log(alpha * beta)] * n
    merges = []
    for step in range(n - 1):
        best, chosen = np.inf, None
        for j in range(len(slots)):
            for i in range(j):
                newer, older = (i, j) if births[i] > births[j] else (j, i)
                merged = term(*union(newer, older, grams[newer], read_back(older)))
                cost = merged - (terms[i] + terms[j])
                if cost <= best:
                    best, chosen, chosen_term = cost, (i, j), merged
        i, j = chosen
        newer, older = (i, j) if births[i] > births[j] else (j, i)
        if births[newer] == step - 1:
            rows, gram = union(newer, older, grams[newer], read_back(older))
        else:
            rows, gram = union(i, j, read_back(i), read_back(j))
        merges.append((ids[i], ids[j]))
        slots[i], grams[i], terms[i], births[i], ids[i] = rows, gram, chosen_term, step, n + step
        for store in (slots, grams, terms, births, ids):
            store[j] = store[-1]
            store.pop()
    return np.array(merges, dtype=np.int64).reshape(-1, 2)


# --------------------------------------------------------------------------- noise component
def noise_e_step(X, weights, means, full_covs, noise_weight, volume):
    """E-step of a Gaussian mixture plus a uniform component of density ``1 / volume``.

    ``weights`` are the Gaussian weights (summing to ``1 - noise_weight``).

    Returns
    -------
    log_density : (N,)
    resp : (N, K + 1)
        Responsibilities, the noise column last.
    """
    X = np.asarray(X, dtype=np.float64)
    columns = [np.log(weights[k]) + multivariate_normal(means[k], full_covs[k]).logpdf(X) for k in range(len(weights))]
    columns.append(np.full(X.shape[0], np.log(noise_weight) - np.log(volume)))
    wlp = np.column_stack(columns)
    log_density = logsumexp(wlp, axis=1)
    return log_density, np.exp(wlp - log_density[:, None])


def noise_m_step_full(X, resp):
    """Unconstrained (VVV) M-step with a noise column last in ``resp``, no regularisation.

    Returns
    -------
    weights : (K,) Gaussian weights; noise_weight : float; means : (K, D); covariances : (K, D, D)
    """
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    gaussian = resp[:, :-1]
    nk = gaussian.sum(axis=0)
    means = np.array([np.average(X, axis=0, weights=gaussian[:, k]) for k in range(len(nk))])
    covs = np.array([(gaussian[:, k, None] * (X - means[k])).T @ (X - means[k]) / nk[k] for k in range(len(nk))])
    return nk / n, resp[:, -1].sum() / n, means, covs


def bounding_box_volumes(X):
    """Volumes of the bounding box of X and of the bounding box of its principal-component scores."""
    X = np.asarray(X, dtype=np.float64)
    box = np.prod(X.max(axis=0) - X.min(axis=0))
    centred = X - X.mean(axis=0)
    eigenvalues, vectors = np.linalg.eigh(np.cov(centred.T))
    scores = centred @ vectors
    return box, np.prod(scores.max(axis=0) - scores.min(axis=0))


# --------------------------------------------------------------------------- semi-supervised
def semi_supervised_e_step(X, labels, weights, means, full_covs):
    """Responsibilities with the labelled rows (``labels >= 0``) one-hot, and MclustSSC's log-likelihood.

    Returns
    -------
    resp : (N, K)
    log_likelihood : float
        Unlabelled rows: ``log sum_k pi_k N_k(x)``; labelled rows: ``log pi_y N_y(x)``.
    """
    wlp = weighted_log_densities(X, weights, means, full_covs)
    lse, resp, _ = responsibilities(wlp)
    known = labels >= 0
    resp = resp.copy()
    resp[known] = 0.0
    resp[np.flatnonzero(known), labels[known]] = 1.0
    ll = lse[~known].sum() + wlp[np.flatnonzero(known), labels[known]].sum()
    return resp, float(ll)
# ------------------------------------------------------------ missing values (EM for incomplete data)
# Each row by itself, from the textbook (Ghahramani & Jordan 1994; Little & Rubin, ch. 11): the observed
# entries' density is the marginal N(x_o | mu_o, Sigma_oo) (SciPy), and under component k the missing
# entries are N(mu_m + Sigma_mo Sigma_oo^-1 (x_o - mu_o), Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om).


def conditional_gaussian(x, mean, cov):
    """``(xhat, C)``: ``x`` with its NaN entries replaced by their conditional mean, and the
    conditional covariance of those entries as a (D, D) matrix (zero in observed rows and columns)."""
    o = ~np.isnan(x)
    m = ~o
    xhat = np.array(x, dtype=np.float64)
    C = np.zeros((len(x), len(x)))
    if m.any():
        if o.any():
            B = cov[np.ix_(m, o)] @ np.linalg.inv(cov[np.ix_(o, o)])
            xhat[m] = mean[m] + B @ (xhat[o] - mean[o])
            C[np.ix_(m, m)] = cov[np.ix_(m, m)] - B @ cov[np.ix_(o, m)]
        else:
            xhat[m] = mean[m]
            C[np.ix_(m, m)] = cov[np.ix_(m, m)]
    return xhat, C


def missing_e_step(X, weights, means, full_covs):
    """Per row: observed-data ``log p(x_o)``, responsibilities, completed rows and conditional covariances.

    Returns ``(lse (N,), resp (N, K), log_resp (N, K), xhat (N, K, D), C (N, K, D, D))``.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = len(weights)
    wlp = np.empty((n, k))
    xhat = np.empty((n, k, d))
    C = np.empty((n, k, d, d))
    for i, x in enumerate(X):
        o = ~np.isnan(x)
        for j in range(k):
            if o.any():
                log_pdf = multivariate_normal(mean=means[j][o], cov=full_covs[j][np.ix_(o, o)]).logpdf(x[o])
            else:
                log_pdf = 0.0
            wlp[i, j] = np.log(weights[j]) + log_pdf
            xhat[i, j], C[i, j] = conditional_gaussian(x, means[j], full_covs[j])
    lse, resp, log_resp = responsibilities(wlp)
    return lse, resp, log_resp, xhat, C


def missing_statistics(X, sample_weight, weights, means, full_covs, shifts=None):
    """Expected sufficient statistics (dict as :func:`statistics_from_responsibilities`) about ``shifts``:
    ``s1 = sum_n w r (xhat - c)``, ``s2 = sum_n w r [(xhat - c)(xhat - c)^T + C]``."""
    lse, resp, log_resp, xhat, C = missing_e_step(X, weights, means, full_covs)
    n, k, d = xhat.shape
    shifts = np.asarray(means, dtype=np.float64) if shifts is None else shifts
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    nk = np.zeros(k)
    s1 = np.zeros((k, d))
    s2 = np.zeros((k, d, d))
    for j in range(k):
        a = w * resp[:, j]
        diff = xhat[:, j] - shifts[j]
        nk[j] = a.sum()
        s1[j] = a @ diff
        s2[j] = np.einsum("n,ni,nj->ij", a, diff, diff) + np.einsum("n,nij->ij", a, C[:, j])
    return {"W": w.sum(), "nk": nk, "s1": s1, "s2": s2, "LL": float(np.sum(w * lse)),
            "hard": float(np.sum(w * log_resp.max(axis=1)))}


def missing_m_step(X, sample_weight, weights, means, full_covs, cov_type, reg_covar):
    """One textbook M-step for incomplete data (scikit-learn's four models): weighted averages of the
    completed rows, and covariances ``np.cov`` of the completed rows plus the averaged conditional covariances.

    Returns ``(lower_bound, (weights, means, covariances))``, the bound of the parameters entering the step.
    """
    lse, resp, _, xhat, C = missing_e_step(X, weights, means, full_covs)
    n, k, d = xhat.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    a = resp * w[:, None]
    nk = a.sum(axis=0)
    new_weights = nk / nk.sum()
    new_means = np.array([np.average(xhat[:, j], axis=0, weights=a[:, j]) for j in range(k)])
    covs = np.array([_weighted_cov(xhat[:, j], a[:, j]) + np.average(C[:, j], axis=0, weights=a[:, j])
                     for j in range(k)])
    eye = np.eye(d)
    if cov_type == "full":
        cov = covs + reg_covar * eye
    elif cov_type == "tied":
        cov = np.einsum("k,kij->ij", nk, covs) / nk.sum() + reg_covar * eye
    elif cov_type == "diag":
        cov = np.array([np.diag(c) for c in covs]) + reg_covar
    elif cov_type == "spherical":
        cov = (np.array([np.diag(c) for c in covs]) + reg_covar).mean(axis=1)
    else:
        raise ValueError(cov_type)
    return float(np.sum(w * lse) / w.sum()), (new_weights, new_means, cov)


def observed_log_likelihood(X, weights, means, full_covs):
    """``log p(x_o)`` of each row (0 for a row with nothing observed), by SciPy marginals."""
    return missing_e_step(X, weights, means, full_covs)[0]


def conditional_means(X, weights, means, full_covs):
    """``E[x | x_o]`` of each row under the mixture: ``sum_k p(k | x_o) xhat_k``."""
    _, resp, _, xhat, _ = missing_e_step(X, weights, means, full_covs)
    return np.einsum("nk,nkd->nd", resp, xhat)


# --------------------------------------------------------------------------- conjugate prior (MAP M-step)
def mclust_map_counts(name, nk, n_features, dof, shrinkage):
    """Counts and scale weight of mclust's MAP M-step for model ``name``, from the denominators of its EM.

    mclust's EM under ``priorControl()`` (the ``me*p`` Fortran routines) divides the augmented scatter
    ``T_k = W_k + c_k delta_k delta_k^T + b Lambda`` by these denominators (``s = 1`` when shrinkage > 0):

    ====  ==================================================  ================
    EII   sum_k tr T_k / (dof + (n + K) d + 2)                 b = 0
    VII   tr T_k / (dof + n_k d + 2 + s d)                     b = 1/d (Lambda once in the trace)
    EEI   sum_k diag T_k / (dof + n + 1 + s)                   b = 1/K (once)
    VEI   lambda_k = sum_j T_kj / a_j / (dof + n_k d + 2 + s)  b = 1
    EVI   lambda = sum_k det(diag T_k)^(1/d) / (dof + n + 1 + s)  b = 1
    VVI   diag T_k / (dof + n_k + 2 + s)                       b = 1
    EEE   sum_k T_k / (dof + n + d + 1 + s K)                  b = 1/K (once)
    EEV   lambda = det(sum_k Omega_k)^(1/d) / (dof + n + d + 1 + s)  b = 1
    VEV   lambda_k = sum_j Omega_kj / a_j / (n_k d)            b = 1
    VVV   T_k / (dof + n_k + d + 2)                            b = 1
    E     sum_k T_k / (dof + n + K + 2)                        b = 1/K
    V     T_k / (dof + n_k + 3)                                b = 1
    ====  ==================================================  ================

    Each is the maximiser of ``-1/2 sum_k [m_k log det Sigma_k + tr(Sigma_k^-1 T_k)]`` over the model's set for
    the counts ``m_k`` returned here (for the shared models only their sum matters; it is spread evenly).

    Returns
    -------
    counts : ndarray of shape (K,)
    b : float
    """
    nk = np.asarray(nk, dtype=np.float64)
    k, d, n = len(nk), n_features, nk.sum()
    s = 1.0 if shrinkage > 0 else 0.0

    def spread(total):
        return nk + (total - n) / k

    table = {
        "EII": (spread((dof + (n + k) * d + 2) / d), 0.0),
        "VII": ((dof + nk * d + 2 + s * d) / d, 1.0 / d),
        "EEI": (spread(dof + n + 1 + s), 1.0 / k),
        "VEI": ((dof + nk * d + 2 + s) / d, 1.0),
        "EVI": (spread(dof + n + 1 + s), 1.0),
        "VVI": (dof + nk + 2 + s, 1.0),
        "EEE": (spread(dof + n + d + 1 + s * k), 1.0 / k),
        "EEV": (spread(dof + n + d + 1 + s), 1.0),
        "VEV": (nk.copy(), 1.0),
        "VVV": (dof + nk + d + 2, 1.0),
        "E": (spread(dof + n + k + 2), 1.0 / k),
        "V": (dof + nk + 3, 1.0),
    }
    return table[name]


def map_augmented_scatter(X, resp, prior_mean, shrinkage, scale_matrix, b):
    """``T_k = W_k + c_k (xbar_k - mu_P)(xbar_k - mu_P)^T + b Lambda`` and the shrunk means, by the definitions.

    Returns
    -------
    scatter : ndarray of shape (K, D, D)
    xbar, shrunk_means : ndarray of shape (K, D)
    """
    nk = resp.sum(axis=0)
    xbar = resp.T @ X / nk[:, None]
    scatter = []
    for k in range(resp.shape[1]):
        centred = X - xbar[k]
        w = (resp[:, k, None] * centred).T @ centred
        delta = xbar[k] - prior_mean
        c = shrinkage * nk[k] / (nk[k] + shrinkage)
        scatter.append(w + c * np.outer(delta, delta) + b * scale_matrix)
    shrunk = (nk[:, None] * xbar + shrinkage * prior_mean) / (nk + shrinkage)[:, None]
    return np.array(scatter), xbar, shrunk


def map_objective(X, resp, means, full_covs, prior_mean, shrinkage, scale_matrix, counts, b):
    """The MAP M-step's objective by its definition, at any means and covariances:

    ``sum_nk r_nk log N(x_n | mu_k, Sigma_k) (up to constants) - 1/2 sum_k [(m_k - n_k) log det Sigma_k
    + b tr(Sigma_k^-1 Lambda) + kappa (mu_k - mu_P)^T Sigma_k^-1 (mu_k - mu_P)]``.
    """
    total = 0.0
    for k in range(resp.shape[1]):
        sign, log_det = np.linalg.slogdet(full_covs[k])
        if sign <= 0:
            return -np.inf
        inverse = np.linalg.inv(full_covs[k])
        centred = X - means[k]
        quad = np.einsum("ni,ij,nj->n", centred, inverse, centred)
        delta = means[k] - prior_mean
        total += -0.5 * (resp[:, k] @ quad) - 0.5 * counts[k] * log_det
        total += -0.5 * (b * np.trace(inverse @ scale_matrix) + shrinkage * delta @ inverse @ delta)
    return total


# --------------------------------------------------------------------------- convex hull
def convex_hull_area_2d(points):
    """Area of the convex hull of 2-D points: Andrew's monotone chain, then the shoelace formula."""
    pts = sorted(map(tuple, np.asarray(points, dtype=np.float64)))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    def half(sequence):
        chain = []
        for p in sequence:
            while len(chain) >= 2 and cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    hull = half(pts)[:-1] + half(reversed(pts))[:-1]
    x = np.array([p[0] for p in hull])
    y = np.array([p[1] for p in hull])
    return 0.5 * abs(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def squarem_point(start, first, second, step_max):
    """SQUAREM's S3 extrapolation from three iterates ``(weights, means, full covariances)``, no safeguards.

    The parameters are stacked into one vector, means divided by the pooled
    standard deviation of their feature at ``start`` and covariances by the
    product of two; ``alpha = -|r| / |v|`` kept within ``[-step_max, -1]``.
    Returns the point ``start - 2 alpha r + alpha^2 v`` as three arrays and ``alpha``.
    """
    w0, m0, c0 = start
    scale = np.sqrt(np.einsum("k,kjj->j", w0, c0))

    def vector(point):
        w, m, c = point
        return np.concatenate([w, (m / scale).ravel(), (c / np.outer(scale, scale)).ravel()])

    x0, x1, x2 = vector(start), vector(first), vector(second)
    r, v = x1 - x0, x2 - 2 * x1 + x0
    alpha = float(np.clip(-np.linalg.norm(r) / np.linalg.norm(v), -step_max, -1.0))
    point = [p0 - 2 * alpha * (p1 - p0) + alpha**2 * (p2 - 2 * p1 + p0) for p0, p1, p2 in zip(start, first, second)]
    return point[0], point[1], point[2], alpha
