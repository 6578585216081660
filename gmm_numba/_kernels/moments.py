"""Per-tile first and second moments about a component's shift, four
features per pass so that the partial sums stay in registers; and, for
diagonal and spherical factors, moments about one shift common to all
components, four components per pass."""

import numpy as np
from numba import njit

from .config import JIT
from .link_only import link_only
from .tiles import FEATURE_BLOCK, block_deviations, block_values, mean_of_means


@link_only
@njit(**JIT)
def tile_moments(xt, n_points, r, shift, full, s1, s2):
    """Add one tile's weighted moments about ``shift`` to ``s1`` and ``s2``.

    ``s1[i] += sum_t r_t d_ti`` and ``s2[i, j] += sum_t r_t d_ti d_tj`` for
    ``i >= j`` (full; entries above the diagonal may hold partial sums) or
    ``s2[0, i] += sum_t r_t d_ti^2`` (diagonal), where ``d_t = x_t - shift``.

    Parameters
    ----------
    xt : array of shape (n_padded, TILE + ROW_PAD)
        Zero-padded tile.
    n_points : int
    r : array of shape (TILE,)
        Weights of the points (sample weight times responsibility).
    shift : array of shape (n_padded,)
    full : bool
    s1 : float64 array of shape (n_padded,)
    s2 : float64 array of shape (n_padded, n_padded) or (1, n_padded)
    """
    n_padded = xt.shape[0]
    if n_padded == 2:
        _two_feature_moments(xt, n_points, r, shift, full, s1, s2)
        return
    for ib in range(0, n_padded, FEATURE_BLOCK):
        if full:
            for jb in range(0, ib, FEATURE_BLOCK):
                _cross_block(xt, n_points, r, shift, ib, jb, s2)
            _diagonal_block(xt, n_points, r, shift, ib, s1, s2)
        else:
            _diagonal_only(xt, n_points, r, shift, ib, s1, s2)


@link_only
@njit(**JIT)
def tile_first_moments(xt, n_points, r, shift, s1):
    """Add ``sum_t r_t (x_t - shift)`` to ``s1`` (shapes as in :func:`tile_moments`)."""
    if xt.shape[0] == 2:
        m0, m1 = shift[0], shift[1]
        a0 = a1 = xt.dtype.type(0.0)
        for t in range(n_points):
            a0 += r[t] * (xt[0, t] - m0)
            a1 += r[t] * (xt[1, t] - m1)
        s1[0] += a0
        s1[1] += a1
        return
    for ib in range(0, xt.shape[0], FEATURE_BLOCK):
        m = block_values(shift, ib)
        a0 = a1 = a2 = a3 = xt.dtype.type(0.0)
        for t in range(n_points):
            d0, d1, d2, d3 = block_deviations(xt, t, ib, m)
            a0 += r[t] * d0
            a1 += r[t] * d1
            a2 += r[t] * d2
            a3 += r[t] * d3
        s1[ib] += a0
        s1[ib + 1] += a1
        s1[ib + 2] += a2
        s1[ib + 3] += a3


@link_only
@njit(**JIT)
def _diagonal_only(xt, n_points, r, shift, ib, s1, s2):
    """First moments and squared deviations of features ``ib:ib+4``."""
    m = block_values(shift, ib)
    a0 = a1 = a2 = a3 = xt.dtype.type(0.0)
    q0 = q1 = q2 = q3 = xt.dtype.type(0.0)
    for t in range(n_points):
        d0, d1, d2, d3 = block_deviations(xt, t, ib, m)
        e0 = r[t] * d0
        e1 = r[t] * d1
        e2 = r[t] * d2
        e3 = r[t] * d3
        a0 += e0
        a1 += e1
        a2 += e2
        a3 += e3
        q0 += e0 * d0
        q1 += e1 * d1
        q2 += e2 * d2
        q3 += e3 * d3
    s1[ib] += a0
    s1[ib + 1] += a1
    s1[ib + 2] += a2
    s1[ib + 3] += a3
    s2[0, ib] += q0
    s2[0, ib + 1] += q1
    s2[0, ib + 2] += q2
    s2[0, ib + 3] += q3


@link_only
@njit(**JIT)
def _diagonal_block(xt, n_points, r, shift, ib, s1, s2):
    """First moments of features ``ib:ib+4`` and the lower triangle of their
    block of ``s2``, in one pass."""
    m = block_values(shift, ib)
    zero = xt.dtype.type(0.0)
    a0 = a1 = a2 = a3 = zero
    c00 = zero
    c10 = c11 = zero
    c20 = c21 = c22 = zero
    c30 = c31 = c32 = c33 = zero
    for t in range(n_points):
        d0, d1, d2, d3 = block_deviations(xt, t, ib, m)
        e0 = r[t] * d0
        e1 = r[t] * d1
        e2 = r[t] * d2
        e3 = r[t] * d3
        a0 += e0
        a1 += e1
        a2 += e2
        a3 += e3
        c00 += e0 * d0
        c10 += e1 * d0
        c11 += e1 * d1
        c20 += e2 * d0
        c21 += e2 * d1
        c22 += e2 * d2
        c30 += e3 * d0
        c31 += e3 * d1
        c32 += e3 * d2
        c33 += e3 * d3
    s1[ib] += a0
    s1[ib + 1] += a1
    s1[ib + 2] += a2
    s1[ib + 3] += a3
    s2[ib, ib] += c00
    s2[ib + 1, ib] += c10
    s2[ib + 1, ib + 1] += c11
    s2[ib + 2, ib] += c20
    s2[ib + 2, ib + 1] += c21
    s2[ib + 2, ib + 2] += c22
    s2[ib + 3, ib] += c30
    s2[ib + 3, ib + 1] += c31
    s2[ib + 3, ib + 2] += c32
    s2[ib + 3, ib + 3] += c33


@link_only
@njit(**JIT)
def _cross_block(xt, n_points, r, shift, ib, jb, s2):
    """``s2[ib:ib+4, jb:jb+4] += sum_t r_t d_t[ib:ib+4] d_t[jb:jb+4]^T``."""
    mi = block_values(shift, ib)
    mj = block_values(shift, jb)
    zero = xt.dtype.type(0.0)
    c00 = c01 = c02 = c03 = zero
    c10 = c11 = c12 = c13 = zero
    c20 = c21 = c22 = c23 = zero
    c30 = c31 = c32 = c33 = zero
    for t in range(n_points):
        di0, di1, di2, di3 = block_deviations(xt, t, ib, mi)
        e0 = r[t] * di0
        e1 = r[t] * di1
        e2 = r[t] * di2
        e3 = r[t] * di3
        d0, d1, d2, d3 = block_deviations(xt, t, jb, mj)
        c00 += e0 * d0
        c01 += e0 * d1
        c02 += e0 * d2
        c03 += e0 * d3
        c10 += e1 * d0
        c11 += e1 * d1
        c12 += e1 * d2
        c13 += e1 * d3
        c20 += e2 * d0
        c21 += e2 * d1
        c22 += e2 * d2
        c23 += e2 * d3
        c30 += e3 * d0
        c31 += e3 * d1
        c32 += e3 * d2
        c33 += e3 * d3
    s2[ib, jb] += c00
    s2[ib, jb + 1] += c01
    s2[ib, jb + 2] += c02
    s2[ib, jb + 3] += c03
    s2[ib + 1, jb] += c10
    s2[ib + 1, jb + 1] += c11
    s2[ib + 1, jb + 2] += c12
    s2[ib + 1, jb + 3] += c13
    s2[ib + 2, jb] += c20
    s2[ib + 2, jb + 1] += c21
    s2[ib + 2, jb + 2] += c22
    s2[ib + 2, jb + 3] += c23
    s2[ib + 3, jb] += c30
    s2[ib + 3, jb + 1] += c31
    s2[ib + 3, jb + 2] += c32
    s2[ib + 3, jb + 3] += c33


@link_only
@njit(**JIT)
def _two_feature_moments(xt, n_points, r, shift, full, s1, s2):
    """:func:`tile_moments` for two (padded) features."""
    m0, m1 = shift[0], shift[1]
    zero = xt.dtype.type(0.0)
    a0 = a1 = c00 = c10 = c11 = zero
    for t in range(n_points):
        d0 = xt[0, t] - m0
        d1 = xt[1, t] - m1
        e0 = r[t] * d0
        e1 = r[t] * d1
        a0 += e0
        a1 += e1
        c00 += e0 * d0
        c10 += e1 * d0
        c11 += e1 * d1
    s1[0] += a0
    s1[1] += a1
    if full:
        s2[0, 0] += c00
        s2[1, 0] += c10
        s2[1, 1] += c11
    else:
        s2[0, 0] += c00
        s2[0, 1] += c11


#: Largest squared distance, in the component's own standard deviations,
#: between a (diagonal or spherical) component's mean and the common shift for which
#: :func:`common_shift` allows moments about that shift. Turning them into
#: moments about the mean costs ``1 + d^2`` units of rounding: at most
#: ~2e-12 relative in float64.
COMMON_SHIFT_LIMIT = 1e4

#: Components whose diagonal moments :func:`tile_common_moments` takes in one pass.
COMPONENT_BLOCK = 4


@link_only
@njit(**JIT)
def common_shift(means, prec, allowed):
    """Whether the moments of diagonal or spherical components can be taken about
    one shift for all of them.

    About a common shift ``c`` the deviation ``z = x - c`` and its square are
    computed once per point and feature and serve every component, which
    takes the moments from four operations per feature, component and point
    to about 1.5 (see :func:`tile_common_moments`). :func:`moments_about_means`
    then turns them into moments about each mean; that cancels
    ``(mu_ki - c_i)^2`` against the variance, so the shift is used only when
    every mean lies within ``sqrt(COMMON_SHIFT_LIMIT)`` of its component's
    standard deviations from it.

    Parameters
    ----------
    means : array of shape (n_components, n_padded)
    prec : array of shape (n_components, 1, n_padded)
        Padded diagonal or spherical factors (see ``tiles.padded_parameters``);
        not read unless ``allowed``.
    allowed : bool
        Whether the factors are diagonal or spherical (not full).

    Returns
    -------
    use : bool
        True only if ``allowed``, for float64 arithmetic and means near
        enough to ``c``.
    centre : array of shape (n_padded,)
        ``c``, the mean of the means.
    offsets : array of shape (n_components, n_padded)
        ``mu_k - c``.
    """
    n_components, n_padded = means.shape
    centre = mean_of_means(means)
    offsets = np.empty_like(means)
    use = allowed and means.itemsize == 8
    for k in range(n_components):
        for i in range(n_padded):
            offsets[k, i] = means[k, i] - centre[i]
            if use and (offsets[k, i] * prec[k, 0, i]) ** 2 > COMMON_SHIFT_LIMIT:
                use = False
    return use, centre, offsets


@link_only
@njit(**JIT)
def tile_common_moments(xt, n_points, r, centre, s1, s2):
    """Add one tile's diagonal moments about ``centre`` for every component.

    ``s1[k, i] += sum_t r[k, t] z_ti`` and ``s2[k, 0, i] += sum_t r[k, t] z_ti^2``
    with ``z_t = x_t - centre``. Four components share each ``z`` and ``z^2``
    (two features per pass keeps the 16 partial sums in registers); the
    components left over take :func:`tile_moments` about ``centre``.

    Parameters
    ----------
    xt : array of shape (n_padded, TILE + ROW_PAD)
        Zero-padded tile; ``n_padded`` is even.
    n_points : int
    r : array of shape (n_components, TILE + ROW_PAD)
        Weights of the points for each component.
    centre : array of shape (n_padded,)
    s1 : float64 array of shape (n_components, n_padded)
    s2 : float64 array of shape (n_components, 1, n_padded)
    """
    n_components = r.shape[0]
    grouped = n_components - n_components % COMPONENT_BLOCK
    for k in range(0, grouped, COMPONENT_BLOCK):
        for ib in range(0, xt.shape[0], 2):
            _four_component_moments(xt, n_points, r, k, ib, centre, s1, s2)
    for k in range(grouped, n_components):
        tile_moments(xt, n_points, r[k], centre, False, s1[k], s2[k])


@link_only
@njit(**JIT)
def tile_common_first_moments(xt, n_points, r, centre, s1):
    """``s1[k, i] += sum_t r[k, t] (x_ti - centre_i)`` for every component:
    :func:`tile_common_moments` without the squares (spherical factors, whose
    second moment comes from the distances)."""
    n_components = r.shape[0]
    grouped = n_components - n_components % COMPONENT_BLOCK
    for k in range(0, grouped, COMPONENT_BLOCK):
        for ib in range(0, xt.shape[0], 2):
            c0, c1 = centre[ib], centre[ib + 1]
            a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = xt.dtype.type(0.0)
            for t in range(n_points):
                z0 = xt[ib, t] - c0
                z1 = xt[ib + 1, t] - c1
                r0, r1, r2, r3 = r[k, t], r[k + 1, t], r[k + 2, t], r[k + 3, t]
                a00 += r0 * z0
                a01 += r0 * z1
                a10 += r1 * z0
                a11 += r1 * z1
                a20 += r2 * z0
                a21 += r2 * z1
                a30 += r3 * z0
                a31 += r3 * z1
            _add_first_pair(s1, k, ib, a00, a01)
            _add_first_pair(s1, k + 1, ib, a10, a11)
            _add_first_pair(s1, k + 2, ib, a20, a21)
            _add_first_pair(s1, k + 3, ib, a30, a31)
    for k in range(grouped, n_components):
        tile_first_moments(xt, n_points, r[k], centre, s1[k])


@link_only
@njit(**JIT)
def _four_component_moments(xt, n_points, r, k, ib, centre, s1, s2):
    """:func:`tile_common_moments` for components ``k:k+4`` and features ``ib:ib+2``."""
    c0, c1 = centre[ib], centre[ib + 1]
    zero = xt.dtype.type(0.0)
    a00 = a01 = a10 = a11 = a20 = a21 = a30 = a31 = zero
    q00 = q01 = q10 = q11 = q20 = q21 = q30 = q31 = zero
    for t in range(n_points):
        z0 = xt[ib, t] - c0
        z1 = xt[ib + 1, t] - c1
        y0 = z0 * z0
        y1 = z1 * z1
        r0, r1, r2, r3 = r[k, t], r[k + 1, t], r[k + 2, t], r[k + 3, t]
        a00 += r0 * z0
        a01 += r0 * z1
        a10 += r1 * z0
        a11 += r1 * z1
        a20 += r2 * z0
        a21 += r2 * z1
        a30 += r3 * z0
        a31 += r3 * z1
        q00 += r0 * y0
        q01 += r0 * y1
        q10 += r1 * y0
        q11 += r1 * y1
        q20 += r2 * y0
        q21 += r2 * y1
        q30 += r3 * y0
        q31 += r3 * y1
    _add_pair(s1, s2, k, ib, a00, a01, q00, q01)
    _add_pair(s1, s2, k + 1, ib, a10, a11, q10, q11)
    _add_pair(s1, s2, k + 2, ib, a20, a21, q20, q21)
    _add_pair(s1, s2, k + 3, ib, a30, a31, q30, q31)


@njit(inline="always", **JIT)
def _add_first_pair(s1, k, ib, a0, a1):
    s1[k, ib] += a0
    s1[k, ib + 1] += a1


@njit(inline="always", **JIT)
def _add_pair(s1, s2, k, ib, a0, a1, q0, q1):
    _add_first_pair(s1, k, ib, a0, a1)
    s2[k, 0, ib] += q0
    s2[k, 0, ib + 1] += q1


@link_only
@njit(**JIT)
def moments_about_means(nk, offsets, s1, s2, diagonal):
    """Turn moments about the common shift into moments about each mean, in place.

    With ``d = mu_k - c``: ``sum r (x - mu_k) = A - n_k d`` and
    ``sum r (x - mu_k)^2 = Q - 2 d A + n_k d^2``, where ``A`` and ``Q`` are
    the moments about ``c``.

    Parameters
    ----------
    nk : array of shape (n_components,)
    offsets : array of shape (n_components, >= n_features)
        ``mu_k - c`` (see :func:`common_shift`).
    s1 : array of shape (n_components, n_features)
    s2 : array of shape (n_components, 1, n_features) or (n_components, 1, 1)
        Diagonal second moments, converted if ``diagonal``; a spherical trace
        (from the distances to the means themselves) is left as it is.
    diagonal : bool
    """
    for k in range(s1.shape[0]):
        for i in range(s1.shape[1]):
            d = np.float64(offsets[k, i])
            a = s1[k, i]
            s1[k, i] = a - nk[k] * d
            if diagonal:
                s2[k, 0, i] = (s2[k, 0, i] - 2.0 * d * a) + nk[k] * d * d
