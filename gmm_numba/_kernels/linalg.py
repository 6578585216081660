"""Small dense linear algebra for the M-step, without per-call Python overhead."""

import math

import numpy as np
from numba import njit

from .config import JIT
from .link_only import link_only


@njit(**JIT)
def precision_cholesky(covariances):
    """Upper-triangular ``P_k`` with ``P_k P_k^T = Sigma_k^-1`` for each matrix.

    Computes the lower Cholesky factor ``L`` of ``Sigma`` and returns
    ``P = L^-T``.

    Parameters
    ----------
    covariances : array of shape (n_matrices, n_features, n_features), float64

    Returns
    -------
    factors : array of shape (n_matrices, n_features, n_features)
    failed : int
        Index of the first matrix that is not positive definite, or -1.
    """
    n_matrices, n_features, _ = covariances.shape
    factors = np.zeros_like(covariances)
    lower = np.empty((n_features, n_features))
    for k in range(n_matrices):
        cov = covariances[k]
        lower[:, :] = 0.0
        for j in range(n_features):
            s = cov[j, j]
            for m in range(j):
                s -= lower[j, m] * lower[j, m]
            if not s > 0.0 or not math.isfinite(s):
                return factors, k
            d = math.sqrt(s)
            lower[j, j] = d
            for i in range(j + 1, n_features):
                t = cov[i, j]
                for m in range(j):
                    t -= lower[i, m] * lower[j, m]
                lower[i, j] = t / d
        # Solve L X = I column by column: X = L^-1 (lower); P = X^T (upper).
        for c in range(n_features):
            for i in range(c, n_features):
                t = 1.0 if i == c else 0.0
                for m in range(c, i):
                    t -= lower[i, m] * factors[k, c, m]
                factors[k, c, i] = t / lower[i, i]
    return factors, -1


#: One-sided Jacobi stops rotating a pair of columns whose cosine is below this.
JACOBI_TOLERANCE = 1e-15

#: Sweeps over all column pairs; Jacobi converges quadratically, a handful suffice for small matrices.
MAX_JACOBI_SWEEPS = 60


@link_only
@njit(**JIT)
def _jacobi_rotation(cotangent):
    """``(cos, sin)`` of the smaller plane rotation that zeroes a Jacobi pair, from the cotangent of twice its angle."""
    t = math.copysign(1.0, cotangent) / (abs(cotangent) + math.sqrt(1.0 + cotangent * cotangent))
    c = 1.0 / math.sqrt(1.0 + t * t)
    return c, c * t


@link_only
@njit(**JIT)
def _rotate_columns(matrix, p, q, c, s):
    """Columns ``p`` and ``q`` of ``matrix`` (D, D) times the plane rotation ``[[c, s], [-s, c]]``, in place."""
    for i in range(matrix.shape[0]):
        left = matrix[i, p]
        right = matrix[i, q]
        matrix[i, p] = c * left - s * right
        matrix[i, q] = s * left + c * right


@link_only
@njit(**JIT)
def _complete_orthonormal_columns(columns, missing):
    """Writes into column ``missing`` of ``columns`` (D, D) a unit vector orthogonal to the other, orthonormal,
    columns: the standard basis vector farthest from their span, its projection on them removed (twice, for
    orthogonality to rounding)."""
    d = columns.shape[0]
    start = 0
    farthest = -1.0
    for i in range(d):
        distance = 1.0
        for j in range(d):
            if j != missing:
                distance -= columns[i, j] * columns[i, j]
        if distance > farthest:
            farthest = distance
            start = i
    for i in range(d):
        columns[i, missing] = 1.0 if i == start else 0.0
    for _ in range(2):
        for j in range(d):
            if j == missing:
                continue
            overlap = 0.0
            for i in range(d):
                overlap += columns[i, j] * columns[i, missing]
            for i in range(d):
                columns[i, missing] -= overlap * columns[i, j]
    norm = 0.0
    for i in range(d):
        norm += columns[i, missing] * columns[i, missing]
    norm = math.sqrt(norm)
    for i in range(d):
        columns[i, missing] /= norm


@link_only
@njit(**JIT)
def orthogonal_polar_factor(matrix, out, right):
    """Writes the orthogonal factor ``U V^T`` of ``matrix = U S V^T`` (D, D) into ``out``.

    One-sided Jacobi (Hestenes): plane rotations ``J`` applied on the right
    make the columns of ``matrix J`` orthogonal, so that ``matrix V = U S``
    with ``V`` the product of the rotations. For the small matrices of the
    M-steps this avoids LAPACK's per-call allocations and checks, which cost
    more than the arithmetic.

    The rotations start from ``right``: the identity, or the ``V`` of a
    similar matrix (the last M-step update's), whose columns then start
    nearly orthogonal and need fewer sweeps. The factor does not depend on
    the start beyond rounding, as the polar factor of a full-rank matrix is
    unique.

    A matrix of rank ``D - 1`` (one column of ``matrix V`` vanishes) has two
    orthogonal factors that both maximise ``tr(matrix^T X)``; the missing
    column of ``U`` is then completed to an orthonormal basis, which picks one
    of them. The orientation M-steps meet this whenever every component has
    its largest precision in the same direction, and either factor gives
    them the same covariances.

    Parameters
    ----------
    matrix : array of shape (D, D)
    out : array of shape (D, D)
        Written only on success.
    right : array of shape (D, D)
        An orthogonal matrix to start from; on success, replaced by ``V``.

    Returns
    -------
    bool
        False when ``matrix`` has rank below ``D - 1`` (numerically) or is not
        finite: ``U`` is then not determined by the columns, and the caller
        decides.
    """
    d = matrix.shape[0]
    a = np.empty((d, d))
    _small_product(matrix, right, False, a)
    v = right.copy()
    for _ in range(MAX_JACOBI_SWEEPS):
        rotated = False
        for p in range(d - 1):
            for q in range(p + 1, d):
                alpha = 0.0
                beta = 0.0
                gamma = 0.0
                for i in range(d):
                    alpha += a[i, p] * a[i, p]
                    beta += a[i, q] * a[i, q]
                    gamma += a[i, p] * a[i, q]
                if not abs(gamma) > JACOBI_TOLERANCE * math.sqrt(alpha * beta):
                    continue
                rotated = True
                c, s = _jacobi_rotation((beta - alpha) / (2.0 * gamma))
                _rotate_columns(a, p, q, c, s)
                _rotate_columns(v, p, q, c, s)
        if not rotated:
            break
    norms = np.empty(d)
    largest = 0.0
    for j in range(d):
        total = 0.0
        for i in range(d):
            total += a[i, j] * a[i, j]
        norms[j] = math.sqrt(total)
        if not math.isfinite(norms[j]):
            return False
        largest = max(largest, norms[j])
    missing = -1
    for j in range(d):
        if not norms[j] > d * 1e-14 * largest:
            if missing >= 0 or not largest > 0.0:
                return False
            missing = j
    for j in range(d):
        if j != missing:
            for i in range(d):
                a[i, j] /= norms[j]
    if missing >= 0:
        _complete_orthonormal_columns(a, missing)
    _small_product(a, v, True, out)
    right[:] = v
    return True


@link_only
@njit(**JIT)
def _small_product(left, right, transposed, out):
    """``out = left @ right`` (``left @ right.T`` when ``transposed``) of square (D, D) matrices, in index order."""
    d = left.shape[0]
    for i in range(d):
        for j in range(d):
            total = 0.0
            for m in range(d):
                total += left[i, m] * (right[j, m] if transposed else right[m, j])
            out[i, j] = total


@link_only
@njit(**JIT)
def symmetric_eigen(matrix, values, vectors):
    """Eigenvalues (ascending, as LAPACK's ``eigh``) and eigenvectors of a symmetric ``matrix`` (D, D).

    Cyclic Jacobi: plane rotations ``J`` make ``J^T A J`` diagonal one off-diagonal pair at a time
    (Golub & Van Loan, section 8.5). As accurate as LAPACK's ``eigh`` for the small matrices of the
    M-steps, and free of its per-call allocations and checks, which cost more than the arithmetic there.

    Parameters
    ----------
    matrix : array of shape (D, D)
        Symmetric; read only.
    values : array of shape (D,)
        Receives the eigenvalues, ascending.
    vectors : array of shape (D, D)
        Receives the eigenvectors as columns, in the order of ``values``.
    """
    _jacobi(matrix, values, vectors, True)


@link_only
@njit(**JIT)
def symmetric_eigenvalues(matrix, values):
    """:func:`symmetric_eigen`'s ``values`` (D,) alone, ascending."""
    _jacobi(matrix, values, np.empty((0, 0)), False)


@link_only
@njit(**JIT)
def _jacobi(matrix, values, vectors, with_vectors):
    """:func:`symmetric_eigen`; ``vectors`` is neither read nor written unless ``with_vectors``."""
    d = matrix.shape[0]
    a = matrix.copy()
    if with_vectors:
        vectors[:] = 0.0
        for j in range(d):
            vectors[j, j] = 1.0
    for _ in range(MAX_JACOBI_SWEEPS):
        off = 0.0
        scale = 0.0
        for p in range(d):
            scale += a[p, p] * a[p, p]
            for q in range(p + 1, d):
                off += a[p, q] * a[p, q]
        if not off > (JACOBI_TOLERANCE * JACOBI_TOLERANCE) * scale:  # also NaN: nothing more to gain
            break
        for p in range(d - 1):
            for q in range(p + 1, d):
                apq = a[p, q]
                if apq == 0.0:
                    continue
                c, s = _jacobi_rotation((a[q, q] - a[p, p]) / (2.0 * apq))
                _rotate_columns(a, p, q, c, s)
                _rotate_columns(a.T, p, q, c, s)
                a[p, q] = 0.0
                a[q, p] = 0.0
                if with_vectors:
                    _rotate_columns(vectors, p, q, c, s)
    for j in range(d):
        values[j] = a[j, j]
    for j in range(d - 1):  # selection sort, the columns of ``vectors`` along
        smallest = j
        for m in range(j + 1, d):
            if values[m] < values[smallest]:
                smallest = m
        if smallest != j:
            values[j], values[smallest] = values[smallest], values[j]
            if with_vectors:
                for i in range(d):
                    vectors[i, j], vectors[i, smallest] = vectors[i, smallest], vectors[i, j]


@link_only
@njit(**JIT)
def shifted_log_det(matrix, shift):
    """``log det(matrix - shift I)`` of a symmetric ``matrix`` (D, D) by its Cholesky factor; NaN unless
    ``matrix - shift I`` is positive definite. A tenth of the time of LAPACK's ``slogdet`` on small matrices."""
    d = matrix.shape[0]
    lower = matrix.copy()  # its lower triangle becomes the factor, column by column
    log_det = 0.0
    for j in range(d):
        pivot = lower[j, j] - shift
        for m in range(j):
            pivot -= lower[j, m] * lower[j, m]
        if not (pivot > 0.0 and math.isfinite(pivot)):
            return np.nan
        pivot = math.sqrt(pivot)
        log_det += 2.0 * math.log(pivot)
        for i in range(j + 1, d):
            value = lower[i, j]
            for m in range(j):
                value -= lower[i, m] * lower[j, m]
            lower[i, j] = value / pivot
    return log_det
