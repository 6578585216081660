"""Per-tile building blocks shared by the E-step kernels.

A tile is up to ``TILE`` points copied transposed into an
``(n_features, TILE + ROW_PAD)`` buffer, so that every loop over points runs
over contiguous memory and vectorises.
"""

import math

import numpy as np
from numba import njit

from .config import JIT, TILE
from .link_only import link_only
from .vmath import flushed_exp, vector_log

#: Features handled together in the register-blocked loops. Tiles, means and
#: precision factors are zero-padded to a multiple of it, except that one or
#: two features are padded to two and take loops of their own (padding them
#: to four would double or quadruple the arithmetic).
FEATURE_BLOCK = 4


@link_only
@njit(**JIT)
def padded_features(n_features):
    """``n_features`` rounded up to 2 (for 1 or 2) or to a multiple of :data:`FEATURE_BLOCK`."""
    if n_features <= 2:
        return 2
    return -(-n_features // FEATURE_BLOCK) * FEATURE_BLOCK


@link_only
@njit(**JIT)
def padded_parameters(means, prec, dtype_like):
    """Means and precision factors zero-padded to whole feature blocks.

    Padded features have mean 0 and precision factor 0, so with a
    zero-padded tile they add nothing to any product. A spherical factor
    (one value per component) is repeated over the features.

    Parameters
    ----------
    means : array of shape (n_components, n_features)
    prec : array of shape (n_components, n_features, n_features), (n_components, 1, n_features)
        or (n_components, 1, 1)
    dtype_like : array
        The results take its dtype.

    Returns
    -------
    mu : array of shape (n_components, n_padded)
    pc : array of shape (n_components, n_padded, n_padded) or (n_components, 1, n_padded)
    """
    n_components, n_features = means.shape
    n_padded = padded_features(n_features)
    rows = n_padded if prec.shape[1] != 1 else 1
    mu = np.zeros((n_components, n_padded), dtype_like.dtype)
    pc = np.zeros((n_components, rows, n_padded), dtype_like.dtype)
    for k in range(n_components):
        for j in range(n_features):
            mu[k, j] = means[k, j]
        for i in range(prec.shape[1]):
            for j in range(n_features):
                pc[k, i, j] = prec[k, i, min(j, prec.shape[2] - 1)]
    return mu, pc


#: Spare columns at the end of every row of a per-tile buffer. Rows of
#: 512 float64 (or 1024 float32) would lie exactly 4 KB apart, so that the
#: loops that read or write several rows at once hit the same level-1 cache
#: set and suffer 4K aliasing: transposing a D = 32 tile was 4x slower.
ROW_PAD = 16


#: Bytes to which every per-tile buffer is aligned: one cache line. Numba
#: aligns new arrays to 32 bytes only; a buffer that starts half-way into a
#: line makes every 512-bit load and store of its rows touch two lines. The
#: worker threads' allocations happened to be placed so: the second thread
#: ran the D = 2 E-step 30% slower per block than the first.
ALIGNMENT = 64


@link_only
@njit(**JIT)
def aligned_empty(size, dtype):
    """An uninitialised 1-D array of ``size`` elements of ``dtype`` that starts a cache line.

    A view into a slightly larger array, which it keeps alive.
    """
    raw = np.empty(size + ALIGNMENT, dtype)
    misalignment = np.intp(raw.ctypes.data & np.uintp(ALIGNMENT - 1))
    skip = ((ALIGNMENT - misalignment) % ALIGNMENT) // raw.itemsize
    return raw[skip : skip + size]


@link_only
@njit(**JIT)
def tile_vector(dtype):
    """An uninitialised, aligned per-tile vector: array of shape (TILE,)."""
    return aligned_empty(TILE, dtype)


@link_only
@njit(**JIT)
def tile_buffer(rows, dtype_like):
    """An uninitialised, aligned per-tile buffer of ``rows`` rows of ``TILE + ROW_PAD`` columns."""
    return aligned_empty(rows * (TILE + ROW_PAD), dtype_like.dtype).reshape((rows, TILE + ROW_PAD))


@link_only
@njit(**JIT)
def new_tile(n_features, dtype_like):
    """A zeroed, aligned ``(n_padded_features, TILE + ROW_PAD)`` buffer for :func:`load_tile`."""
    xt = tile_buffer(padded_features(n_features), dtype_like)
    xt[:] = 0
    return xt


@link_only
@njit(**JIT)
def load_tile(X, start, n_points, xt):
    """Copy ``X[start:start + n_points]`` transposed into ``xt[:, :n_points]``.

    Rows of ``xt`` beyond ``X.shape[1]`` (the padding) are left as they are: zero.
    """
    n_features = X.shape[1]
    if n_features <= 4:
        # feature by feature: below five features the point-by-point loop was up to 25% slower,
        # from five on it is faster (1.34 against 1.79 ns per value at D = 8)
        for i in range(n_features):
            for t in range(n_points):
                xt[i, t] = X[start + t, i]
    else:
        for t in range(n_points):
            for i in range(n_features):
                xt[i, t] = X[start + t, i]


@link_only
@njit(**JIT)
def tile_log_probs(xt, n_points, means, prec, const, lp, y, squares):
    """Weighted log-densities of a tile.

    Writes ``lp[k, t] = const[k] - ||(x_t - mu_k)^T P_k||^2 / 2`` where
    ``const[k] = log pi_k + log|P_k| - D log(2 pi) / 2``, and keeps the
    squared norms in ``squares`` unless it is empty.

    Parameters
    ----------
    xt : array of shape (n_padded, TILE + ROW_PAD)
        Zero-padded tile (see :func:`new_tile`).
    n_points : int
        Number of valid columns of ``xt``.
    means : array of shape (n_components, n_padded)
    prec : array of shape (n_components, n_padded, n_padded) or (n_components, 1, n_padded)
        Zero-padded upper-triangular or diagonal precision factors
        (see :func:`padded_parameters`).
    const : array of shape (n_components,)
    lp : array of shape (n_components, TILE + ROW_PAD)
        Output.
    y : array of shape (FEATURE_BLOCK, TILE + ROW_PAD)
        Scratch space.
    squares : array of shape (n_components, TILE + ROW_PAD) or (0, TILE + ROW_PAD)
        Output: ``||(x_t - mu_k)^T P_k||^2``, if not empty.
    """
    n_components = means.shape[0]
    keep = squares.shape[0] > 0
    for k in range(n_components):
        if xt.shape[0] == 2:
            _two_feature_squares(xt, n_points, means, prec, k, lp)
        elif prec.shape[1] == 1:
            _diagonal_squares(xt, n_points, means, prec, k, lp)
        else:
            _triangular_squares(xt, n_points, means, prec, k, lp, y)
        if keep:
            for t in range(n_points):
                squares[k, t] = lp[k, t]
        _log_density_from_square(lp, n_points, k, const[k])


@njit(inline="always", **JIT)
def _log_density_from_square(lp, n_points, k, c):
    """``lp[k, t] = c - lp[k, t] / 2``: log-density from the squared distance."""
    half = lp.dtype.type(0.5)
    for t in range(n_points):
        lp[k, t] = c - half * lp[k, t]


@njit(inline="always", **JIT)
def factor_block(factor, ib, jb):
    """Columns of the 4 x 4 block ``factor[ib:ib+4, jb:jb+4]`` as tuples (register values)."""
    p = factor[ib : ib + FEATURE_BLOCK, jb : jb + FEATURE_BLOCK]
    return (
        (p[0, 0], p[1, 0], p[2, 0], p[3, 0]),
        (p[0, 1], p[1, 1], p[2, 1], p[3, 1]),
        (p[0, 2], p[1, 2], p[2, 2], p[3, 2]),
        (p[0, 3], p[1, 3], p[2, 3], p[3, 3]),
    )


@link_only
@njit(**JIT)
def _two_feature_squares(xt, n_points, means, prec, k, lp):
    """``lp[k, t] = ||(x_t - mu_k)^T P_k||^2`` for two (padded) features."""
    m0, m1 = means[k, 0], means[k, 1]
    if prec.shape[1] == 1:
        p00, p01, p11 = prec[k, 0, 0], lp.dtype.type(0.0), prec[k, 0, 1]
    else:
        p00, p01, p11 = prec[k, 0, 0], prec[k, 0, 1], prec[k, 1, 1]
    for t in range(n_points):
        d0 = xt[0, t] - m0
        d1 = xt[1, t] - m1
        a0 = d0 * p00
        a1 = d0 * p01 + d1 * p11
        lp[k, t] = a0 * a0 + a1 * a1


@link_only
@njit(**JIT)
def _diagonal_squares(xt, n_points, means, prec, k, lp):
    """``lp[k, t] = sum_i ((x_ti - mu_ki) p_ki)^2``, four features per pass."""
    for ib in range(0, xt.shape[0], FEATURE_BLOCK):
        p = block_values(prec[k, 0], ib)
        # the means scaled by the factor, as _scaled_square_sum takes them
        m = (means[k, ib] * p[0], means[k, ib + 1] * p[1], means[k, ib + 2] * p[2], means[k, ib + 3] * p[3])
        if ib == 0:
            for t in range(n_points):
                lp[k, t] = _scaled_square_sum(xt, t, ib, m, p)
        else:
            for t in range(n_points):
                lp[k, t] += _scaled_square_sum(xt, t, ib, m, p)


@njit(inline="always", **JIT)
def _scaled_square_sum(xt, t, ib, m, p):
    """``sum_i (x_t[ib + i] p_i - m_i)^2`` over one block of four features, where
    ``m_i = mu_i p_i`` (one multiply-add per feature for the scaled deviation)."""
    z0 = xt[ib, t] * p[0] - m[0]
    z1 = xt[ib + 1, t] * p[1] - m[1]
    z2 = xt[ib + 2, t] * p[2] - m[2]
    z3 = xt[ib + 3, t] * p[3] - m[3]
    return (z0 * z0 + z1 * z1) + (z2 * z2 + z3 * z3)


@njit(inline="always", **JIT)
def block_values(v, ib):
    """``v[ib:ib+4]`` as a tuple, so that the values live in registers."""
    return v[ib], v[ib + 1], v[ib + 2], v[ib + 3]


@njit(inline="always", **JIT)
def block_deviations(xt, t, ib, m):
    """``x_t[ib:ib+4] - m`` for a tile ``xt`` and a 4-tuple ``m``."""
    return xt[ib, t] - m[0], xt[ib + 1, t] - m[1], xt[ib + 2, t] - m[2], xt[ib + 3, t] - m[3]


@link_only
@njit(**JIT)
def _triangular_squares(xt, n_points, means, prec, k, lp, y):
    """``lp[k, t] = ||(x_t - mu_k)^T P_k||^2`` for upper-triangular ``P_k``.

    Four output columns ``j`` at a time: the partial products over one block
    of four rows ``i`` stay in registers, and only the running sums between
    row blocks pass through ``y``. The last (diagonal) row block squares and
    adds them to ``lp`` in the same loop. Each case has its own loop so that
    none of them branches inside.
    """
    for jb in range(0, xt.shape[0], FEATURE_BLOCK):
        for ib in range(0, jb + FEATURE_BLOCK, FEATURE_BLOCK):
            m = block_values(means[k], ib)
            c = factor_block(prec[k], ib, jb)
            # diagonal blocks (ib == jb) use only the upper triangle of the factor
            if ib == 0 and jb == 0:
                for t in range(n_points):
                    a0, a1, a2, a3 = _diagonal_block_product(xt, t, ib, m, c)
                    lp[k, t] = (a0 * a0 + a1 * a1) + (a2 * a2 + a3 * a3)
            elif ib == jb:
                for t in range(n_points):
                    a0, a1, a2, a3 = _diagonal_block_product(xt, t, ib, m, c)
                    a0 += y[0, t]
                    a1 += y[1, t]
                    a2 += y[2, t]
                    a3 += y[3, t]
                    lp[k, t] += (a0 * a0 + a1 * a1) + (a2 * a2 + a3 * a3)
            elif ib == 0:
                for t in range(n_points):
                    a0, a1, a2, a3 = _block_product(xt, t, ib, m, c)
                    y[0, t] = a0
                    y[1, t] = a1
                    y[2, t] = a2
                    y[3, t] = a3
            else:
                for t in range(n_points):
                    a0, a1, a2, a3 = _block_product(xt, t, ib, m, c)
                    y[0, t] += a0
                    y[1, t] += a1
                    y[2, t] += a2
                    y[3, t] += a3


@njit(inline="always", **JIT)
def _block_product(xt, t, ib, m, c):
    """``(x_t[ib:ib+4] - m) @ P[ib:ib+4, jb:jb+4]``, with ``c[j]`` column ``j`` of the block."""
    d0, d1, d2, d3 = block_deviations(xt, t, ib, m)
    return (
        (d0 * c[0][0] + d1 * c[0][1]) + (d2 * c[0][2] + d3 * c[0][3]),
        (d0 * c[1][0] + d1 * c[1][1]) + (d2 * c[1][2] + d3 * c[1][3]),
        (d0 * c[2][0] + d1 * c[2][1]) + (d2 * c[2][2] + d3 * c[2][3]),
        (d0 * c[3][0] + d1 * c[3][1]) + (d2 * c[3][2] + d3 * c[3][3]),
    )


@njit(inline="always", **JIT)
def _diagonal_block_product(xt, t, ib, m, c):
    """:func:`_block_product` for a block on the diagonal of an upper-triangular factor."""
    d0, d1, d2, d3 = block_deviations(xt, t, ib, m)
    return (
        d0 * c[0][0],
        d0 * c[1][0] + d1 * c[1][1],
        (d0 * c[2][0] + d1 * c[2][1]) + d2 * c[2][2],
        (d0 * c[3][0] + d1 * c[3][1]) + (d2 * c[3][2] + d3 * c[3][3]),
    )


@link_only
@njit(**JIT)
def mean_of_means(means):
    """``sum_k mu_k / K``, shape (n_padded,): the common shift of the tied and
    common-shift kernels, central to the components so that deviations from
    it stay of the order of the data's spread."""
    n_components, n_padded = means.shape
    centre = np.zeros(n_padded, means.dtype)
    for k in range(n_components):
        for i in range(n_padded):
            centre[i] += means[k, i] / n_components
    return centre


@link_only
@njit(**JIT)
def shared_factor(means, prec):
    """Set-up for :func:`tile_shared_log_probs` when every component has the
    same full precision factor (the tied model).

    Then ``||(x - mu_k)^T P||^2 = ||y - nu_k||^2`` with ``y = (x - c)^T P``
    computed once per point and ``nu_k = (mu_k - c)^T P``, which replaces K
    triangular products per point by one. ``c`` is the mean of the means,
    so that ``y`` and ``nu_k`` stay of the order of the data's spread
    (their difference cancels to within float64 rounding of that spread).

    Parameters
    ----------
    means : array of shape (n_components, n_padded)
    prec : array of shape (n_components, n_padded, n_padded) or (n_components, 1, n_padded)
        Padded factors (see :func:`padded_parameters`).

    Returns
    -------
    shared : bool
        False unless the factors are full, all equal, float64, K > 1 and
        more than two features (the other cases keep :func:`tile_log_probs`).
    nu : array of shape (n_components, n_padded)
    centre : array of shape (n_padded,)
    unit : array of shape (n_components, 1, n_padded)
        Ones: unit diagonal factors for :func:`_diagonal_squares`.
    """
    n_components, n_padded = means.shape
    shared = prec.shape[1] > 1 and n_components > 1 and n_padded > 2 and prec.itemsize == 8
    for k in range(1, n_components if shared else 0):
        for i in range(n_padded):
            for j in range(n_padded):
                if prec[k, i, j] != prec[0, i, j]:
                    shared = False
    centre = np.zeros(n_padded, means.dtype)
    nu = np.zeros((n_components, n_padded), means.dtype)
    unit = np.ones((n_components, 1, n_padded), means.dtype)
    if not shared:
        return False, nu, centre, unit
    centre = mean_of_means(means)
    for k in range(n_components):
        for j in range(n_padded):
            total = 0.0
            for i in range(j + 1):
                total += (means[k, i] - centre[i]) * prec[0, i, j]
            nu[k, j] = total
    return True, nu, centre, unit


@link_only
@njit(**JIT)
def tile_shared_log_probs(xt, n_points, centre, factor, nu, unit, const, lp, yt):
    """:func:`tile_log_probs` for components that share one full factor.

    Parameters
    ----------
    xt : array of shape (n_padded, TILE + ROW_PAD)
    n_points : int
    centre, factor, nu, unit
        From :func:`shared_factor`; ``factor`` is one padded factor,
        shape (n_padded, n_padded).
    const : array of shape (n_components,)
    lp : array of shape (n_components, TILE + ROW_PAD)
        Output.
    yt : array of shape (n_padded, TILE + ROW_PAD)
        Scratch: the transformed tile.
    """
    _transform_tile(xt, n_points, centre, factor, yt)
    for k in range(nu.shape[0]):
        _diagonal_squares(yt, n_points, nu, unit, k, lp)
        _log_density_from_square(lp, n_points, k, const[k])


@link_only
@njit(**JIT)
def _transform_tile(xt, n_points, centre, factor, yt):
    """``yt[:, t] = (x_t - centre)^T P`` for an upper-triangular ``P``, four
    output features at a time (the blocks of :func:`_triangular_squares`).

    Four loops that differ only in store versus add: folding them into one
    loop with a flag made the D = 32 tied E-step 25% slower (one thread).
    """
    for jb in range(0, xt.shape[0], FEATURE_BLOCK):
        for ib in range(0, jb + FEATURE_BLOCK, FEATURE_BLOCK):
            m = block_values(centre, ib)
            c = factor_block(factor, ib, jb)
            if ib == 0 and jb == 0:
                for t in range(n_points):
                    a0, a1, a2, a3 = _diagonal_block_product(xt, t, ib, m, c)
                    yt[jb, t] = a0
                    yt[jb + 1, t] = a1
                    yt[jb + 2, t] = a2
                    yt[jb + 3, t] = a3
            elif ib == 0:
                for t in range(n_points):
                    a0, a1, a2, a3 = _block_product(xt, t, ib, m, c)
                    yt[jb, t] = a0
                    yt[jb + 1, t] = a1
                    yt[jb + 2, t] = a2
                    yt[jb + 3, t] = a3
            elif ib == jb:
                for t in range(n_points):
                    a0, a1, a2, a3 = _diagonal_block_product(xt, t, ib, m, c)
                    yt[jb, t] += a0
                    yt[jb + 1, t] += a1
                    yt[jb + 2, t] += a2
                    yt[jb + 3, t] += a3
            else:
                for t in range(n_points):
                    a0, a1, a2, a3 = _block_product(xt, t, ib, m, c)
                    yt[jb, t] += a0
                    yt[jb + 1, t] += a1
                    yt[jb + 2, t] += a2
                    yt[jb + 3, t] += a3


@link_only
@njit(**JIT)
def tile_argmax(lp, n_points, best, top):
    """``best[t] = argmax_k lp[k, t]``, the lowest index on ties.

    Component by component with a running maximum in ``top`` (scratch), so
    that the loop over points vectorises (compare and blend).

    Parameters
    ----------
    lp : array of shape (n_components, TILE + ROW_PAD)
    n_points : int
    best : int64 array of shape (TILE,)
        Output.
    top : array of shape (TILE,), of the dtype of ``lp``
    """
    for t in range(n_points):
        best[t] = 0
        top[t] = lp[0, t]
    for k in range(1, lp.shape[0]):
        for t in range(n_points):
            value = lp[k, t]
            higher = value > top[t]
            best[t] = k if higher else best[t]
            top[t] = value if higher else top[t]


#: log-responsibilities below these count as zero (float32 / float64 tiles):
#: e^-60 ~ 1e-26 and e^-230 ~ 1e-100 are far below what either precision can
#: resolve in a sum, and products with them would otherwise turn subnormal.
RESPONSIBILITY_FLOOR_32 = -60.0
RESPONSIBILITY_FLOOR_64 = -230.0


@link_only
@njit(**JIT)
def tile_normalise(lp, n_points, lse, log_norm, inv_total, top):
    """Exponentiate a tile's weighted log-densities, in place.

    Afterwards ``lp[k, t]`` holds ``exp(lp[k, t] - max_j lp[j, t])``
    (flushed to 0 below the floor), so that ``r_tk = lp[k, t] *
    inv_total[t]``; ``lse[t]`` holds the per-point log-likelihood
    ``log sum_k exp(lp[k, t])`` and ``log_norm[t]`` the amount
    ``lse[t] - max_k lp[k, t]``, which is ``-log max_k r_tk``. The
    normalisation itself is left to the caller, which can fold it into the
    next product.

    Parameters
    ----------
    lp : array of shape (n_components, TILE + ROW_PAD)
    n_points : int
    lse, log_norm : float64 arrays of shape (TILE,)
    inv_total, top : arrays of shape (TILE,), of the dtype of ``lp``
        ``inv_total`` receives ``1 / sum_k lp[k, t]``; ``top`` is scratch.
    """
    n_components = lp.shape[0]
    floor = RESPONSIBILITY_FLOOR_32 if lp.itemsize == 4 else RESPONSIBILITY_FLOOR_64
    for t in range(n_points):
        top[t] = lp[0, t]
        inv_total[t] = 0.0
    for k in range(1, n_components):
        for t in range(n_points):
            top[t] = max(top[t], lp[k, t])
    for k in range(n_components):
        for t in range(n_points):
            e = flushed_exp(lp[k, t] - top[t], floor)
            lp[k, t] = e
            inv_total[t] += e
    for t in range(n_points):
        log_total = vector_log(np.float64(inv_total[t]))
        log_norm[t] = log_total
        lse[t] = top[t] + log_total
        inv_total[t] = 1.0 / inv_total[t]


@link_only
@njit(**JIT)
def tile_weights(sample_weight, weighted, start, n_points, lse, log_norm, inv_total, wt):
    """A tile's sums ``sum w``, ``sum w lse`` and ``sum -w log_norm``, and its folded weights ``w / total``.

    Rows ``start:start + n_points`` of the data. The sums come from a loop that
    only reads, and ``wt`` is filled by a loop of its own. A loop that both
    stores and sums is vectorised behind LLVM's run-time overlap checks, whose
    outcome depends on where the arrays lie in memory (here even on the unused
    negative-index addresses of ``sample_weight``): its sums would follow the
    vector or the scalar order depending on the heap's layout, and differ in
    their last bits from one run to the next.

    Parameters
    ----------
    sample_weight : array of shape (n_samples,) or (0,)
    weighted : bool
        Whether ``sample_weight`` holds weights (else every weight is 1).
    start, n_points : int
    lse, log_norm, inv_total : arrays of shape (TILE,)
        From :func:`tile_normalise`.
    wt : array of shape (TILE,), of the dtype of ``inv_total``
        Receives ``w * inv_total``: the normalisation of the responsibilities folded into the weights.

    Returns
    -------
    w_sum, ll_sum, hard_sum : float
    """
    w_sum = 0.0
    ll_sum = 0.0
    hard_sum = 0.0
    for t in range(n_points):
        w = sample_weight[start + t] if weighted else 1.0
        w_sum += w
        ll_sum += w * lse[t]
        hard_sum -= w * log_norm[t]
    for t in range(n_points):
        wt[t] = (sample_weight[start + t] if weighted else 1.0) * inv_total[t]
    return w_sum, ll_sum, hard_sum


@link_only
@njit(**JIT)
def component_constants(log_weights, log_det, n_features, dtype_like):
    """``log pi_k + log|P_k| - D log(2 pi) / 2`` in the dtype of ``dtype_like``."""
    n_components = log_weights.shape[0]
    const = np.empty(n_components, dtype_like.dtype)
    for k in range(n_components):
        const[k] = log_weights[k] + log_det[k] - 0.5 * n_features * math.log(2.0 * math.pi)
    return const
