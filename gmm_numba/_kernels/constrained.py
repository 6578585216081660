"""The iterative M-steps (VEI, VEE, VEV, EVE, VVE) on full matrices, for the compiled EM loop.

The same updates, starts and stopping rule as the Python M-steps of
``gmm_numba.covariance`` (``_mstep.IterativeMStep`` and the model modules),
which import the constants below from here so that both paths share them.
Every M-step maximises

    Q(Sigma) = -1/2 sum_k [ n_k log det Sigma_k + tr(Sigma_k^-1 W_k) ]

by alternating exact block updates, each O(K D^3), until ``Q`` changes by at
most :data:`INNER_TOLERANCE` relative or after :data:`MAX_INNER_ITERATIONS`
updates; when previous covariances of any form have a higher ``Q`` than the end
of the updates, they are kept (:data:`START_WARM`).

A run's state is ``volumes`` (K,), ``variances`` (K, D) and ``matrices``
(K, D, D), which hold, by family:

====  =====================  =========================  ==============================
      volumes                variances                  matrices
====  =====================  =========================  ==============================
VEI   ``lambda_k``           ``lambda_k a`` (diagonal)  unused
VEV   ``lambda_k``           ``lambda_k a``             eigenvectors of ``W_k``
VEE   ``lambda_k``           unused                     ``C`` in ``[0]``
EVE   unused                 ``lambda A_k``             the orientation ``D`` in ``[0]``
VVE   unused                 ``lambda_k A_k``           the orientation ``D`` in ``[0]``
====  =====================  =========================  ==============================

and ``values`` (K, D) the scatters' diagonals (VEI), their eigenvalues (VEV) or
their diagonals in the common orientation (EVE, VVE), from which ``Q`` is
computed without a factorisation.
"""

import math

import numpy as np
from numba import njit

from .config import JIT
from .linalg import (
    orthogonal_polar_factor,
    precision_cholesky,
    shifted_log_det,
    symmetric_eigen,
    symmetric_eigenvalues,
)
from .link_only import link_only

MSTEP_VEI = 9  # a volume per component, one diagonal shape
MSTEP_VEE = 10  # a volume per component, one shape and orientation
MSTEP_VEV = 11  # a volume per component, one shape, an orientation per component
MSTEP_EVE = 12  # one volume and orientation, a shape per component
MSTEP_VVE = 13  # one orientation, a volume and shape per component

#: How an M-step starts (``iterative_m_step``'s ``start``): from the scatters alone; from previous
#: covariances of any form, which are kept where their ``Q`` is higher than where the updates end; or
#: from the model's own previous M-step. From there the start is at least as high as the previous
#: covariances and every update raises ``Q``, so they need not be compared: VEI, VEE and VEV take their
#: volumes and maximise the rest, EVE and VVE take their orientation and maximise the variances.
START_COLD = 0
START_WARM = 1
START_OWN = 2

#: Cap on the alternating updates of one M-step. An M-step stopped early
#: still increases ``Q`` (a generalised EM step), and the next M-step
#: continues from where this one stopped (warm start).
MAX_INNER_ITERATIONS = 100

#: The alternating updates stop when ``Q`` changes by less than this, relative.
INNER_TOLERANCE = 1e-10

#: A scatter whose correlation matrix has its smallest eigenvalue at or
#: below this counts as singular for the common-orientation models (the
#: correlations, so that the features' units do not matter).
SINGULAR_SCATTER = 1e-13

#: The MM updates of EVE and VVE shift each ``W_k`` by ``alpha_k I``, which has to be at least its largest
#: eigenvalue; ``(tr W_k^(2p))^(1/(2p))`` with ``p = 2^EIGENVALUE_BOUND_SQUARINGS`` is, and within a factor
#: ``D^(1/(2p))`` of it (at most 1.16 for D = 10), from this many matrix squarings: a tenth of the time of
#: the eigenvalues, with the same updates to within ``Q``'s rounding on most M-steps of a sweep.
EIGENVALUE_BOUND_SQUARINGS = 3

#: A correlation matrix stays positive definite with this taken off its diagonal only when its smallest
#: eigenvalue is far above ``SINGULAR_SCATTER``: the eigenvalues then need not be computed.
CLEARLY_NONSINGULAR = 1e-10


@link_only
@njit(**JIT)
def _inverse_trace(factor, matrix):
    """``tr(Sigma^-1 W)`` from the precision factor ``P`` (``P P^T = Sigma^-1``): the trace of ``P^T W P``."""
    d = matrix.shape[0]
    trace = 0.0
    for j in range(d):
        for a in range(j + 1):
            row = 0.0
            for b in range(j + 1):
                row += matrix[a, b] * factor[b, j]
            trace += factor[a, j] * row
    return trace


@link_only
@njit(**JIT)
def expected_log_likelihood(covariances, scatter, nk):
    """``Q`` of full covariances (K, D, D) given scatters (K, D, D); ``-inf`` unless all are positive definite."""
    k, d, _ = covariances.shape
    for c in range(k):
        for a in range(d):
            for b in range(d):
                if not math.isfinite(covariances[c, a, b]):
                    return -np.inf
    factors, failed = precision_cholesky(covariances)
    if failed >= 0:
        return -np.inf
    total = 0.0
    for c in range(k):
        log_det = 0.0
        for j in range(d):
            log_det -= 2.0 * math.log(factors[c, j, j])
        total += nk[c] * log_det + _inverse_trace(factors[c], scatter[c])
    return -0.5 * total


@link_only
@njit(**JIT)
def _geometric_mean(values):
    """``prod(values) ** (1 / len(values))``; NaN when a value is negative, 0 when one is 0."""
    log_sum = 0.0
    for value in values:
        log_sum += np.log(value)
    return math.exp(log_sum / values.size)


@link_only
@njit(**JIT)
def _volume(matrix):
    """``det(matrix) ** (1 / d)`` of a symmetric matrix; NaN unless it is positive definite."""
    return math.exp(shifted_log_det(matrix, 0.0) / matrix.shape[0])


@link_only
@njit(**JIT)
def _descending_eigenvectors(matrix, out):
    """Writes the eigenvectors of a symmetric ``matrix`` (D, D) as the columns of ``out``, eigenvalues decreasing.

    Returns
    -------
    array of shape (D,)
        The eigenvalues, decreasing.
    """
    d = matrix.shape[0]
    values = np.empty(d)
    vectors = np.empty((d, d))
    symmetric_eigen(matrix, values, vectors)
    for j in range(d):
        out[:, j] = vectors[:, d - 1 - j]
    return values[::-1].copy()


@link_only
@njit(**JIT)
def _rotated_diagonal(orientation, matrix, out):
    """Writes ``diag(D^T W D)`` (D,) into ``out``."""
    d = matrix.shape[0]
    for j in range(d):
        value = 0.0
        for a in range(d):
            row = 0.0
            for b in range(d):
                row += matrix[a, b] * orientation[b, j]
            value += orientation[a, j] * row
        out[j] = value


@link_only
@njit(**JIT)
def _rotate(orientation, variances, out):
    """Writes ``D diag(v) D^T`` (D, D) into ``out``."""
    d = variances.size
    for a in range(d):
        for b in range(d):
            value = 0.0
            for j in range(d):
                value += orientation[a, j] * variances[j] * orientation[b, j]
            out[a, b] = value


@link_only
@njit(**JIT)
def _common_shape_update(volumes, values, nk, variances):
    """One round of the VEI-type updates (Celeux & Govaert 1995) on ``values`` (K, D), in place.

    The exact maximisation over the shape ``a`` (``prod a = 1``) at fixed
    ``volumes``, then over ``volumes`` at fixed ``a``; ``variances``
    (K, D) receives ``volumes_k * a``.
    """
    k, d = values.shape
    shape = np.zeros(d)
    for c in range(k):
        for j in range(d):
            shape[j] += values[c, j] / volumes[c]
    shape /= _geometric_mean(shape)
    for c in range(k):
        total = 0.0
        for j in range(d):
            total += values[c, j] / shape[j]
        volumes[c] = total / (nk[c] * d)
        for j in range(d):
            variances[c, j] = volumes[c] * shape[j]


@link_only
@njit(**JIT)
def _shape_then_volumes(volumes, scatter, nk, shared):
    """VEE's exact maximisation over ``C`` (``det C = 1``) at fixed ``volumes``, then over ``volumes``; in place."""
    k, d, _ = scatter.shape
    shared[:] = 0.0
    for c in range(k):
        shared += (1.0 / volumes[c]) * scatter[c]
    shared /= _volume(shared)
    factor, failed = precision_cholesky(shared.reshape((1, d, d)))
    for c in range(k):
        trace = np.nan if failed >= 0 else _inverse_trace(factor[0], scatter[c])
        volumes[c] = trace / (nk[c] * d)


@link_only
@njit(**JIT)
def _orientation_variances(family, orientation, scatter, nk, variances, rotated):
    """The exact maximisation over the variances (K, D) in the basis ``orientation`` (D, D); in place.

    EVE: one volume, a shape per component (EVI in the ``D`` basis);
    VVE: a diagonal per component (VVI in the ``D`` basis). ``rotated``
    (K, D) receives ``diag(D^T W_k D)``, from which :func:`_diagonal_objective` takes ``Q``.
    """
    k = scatter.shape[0]
    for c in range(k):
        _rotated_diagonal(orientation, scatter[c], rotated[c])
        variances[c] = rotated[c]
    if family == MSTEP_VVE:
        for c in range(k):
            variances[c] /= nk[c]
        return
    roots = np.empty(k)
    for c in range(k):
        roots[c] = _geometric_mean(variances[c])
    volume = roots.sum() / nk.sum()
    for c in range(k):
        variances[c] *= volume / roots[c]


@link_only
@njit(**JIT)
def _diagonal_objective(rotated, variances, nk):
    """``Q`` of ``Sigma_k = D diag(v_k) D^T`` from ``rotated`` = ``diag(D^T W_k D)`` (K, D): with ``D``
    orthogonal, ``log det Sigma_k = sum_j log v_kj`` and ``tr(Sigma_k^-1 W_k) = sum_j rotated_kj / v_kj``, in
    O(K D) rather than a factorisation per component; ``-inf`` unless every variance is positive and finite."""
    k, d = variances.shape
    total = 0.0
    for c in range(k):
        log_det = 0.0
        trace = 0.0
        for j in range(d):
            value = variances[c, j]
            if not (value > 0.0 and math.isfinite(value)):
                return -np.inf
            log_det += math.log(value)
            trace += rotated[c, j] / value
        total += nk[c] * log_det + trace
    return -0.5 * total


@link_only
@njit(**JIT)
def _minimise_tangent(orientation, gradient, right):
    """The orthogonal ``X`` minimising ``tr(G^T X)``, ``-U V^T`` for ``G = U S V^T``, into ``orientation``.

    Left as it is when ``gradient`` is not finite. ``right`` (D, D) is ``V``
    of the last such gradient, where the Jacobi rotations start; it becomes
    this one's (see :func:`~gmm_numba._kernels.linalg.orthogonal_polar_factor`).
    """
    for value in gradient.ravel():
        if not math.isfinite(value):
            return
    polar = np.empty_like(gradient)
    if orthogonal_polar_factor(gradient, polar, right):
        orientation[:] = -polar
        return
    left, _, right = np.linalg.svd(gradient)  # rank deficient: LAPACK picks the free columns
    orientation[:] = -(left @ right)


@link_only
@njit(**JIT)
def _orientation_step(orientation, scatter, variances, bounds, rights):
    """Two MM steps for the common orientation (Browne & McNicholas 2014), in place.

    See ``gmm_numba.covariance._mstep.orientation_step``: with
    ``m_k = 1 / variances_k``, first the tangent of
    ``sum_k tr((W_k - alpha_k I) D M_k D^T)``, then that of
    ``sum_k tr(W_k D (M_k - max(m_k) I) D^T)``, each minimised over
    orthogonal ``D`` by one SVD.

    Parameters
    ----------
    orientation : array of shape (D, D)
    scatter : array of shape (K, D, D)
    variances : array of shape (K, D)
    bounds : array of shape (K,)
        ``alpha_k``, at least the largest eigenvalue of each ``W_k`` (:func:`_largest_eigenvalue_bound`).
    rights : array of shape (2, D, D)
        The right singular vectors of the two tangents' last gradients (see :func:`_minimise_tangent`).
    """
    k, d, _ = scatter.shape
    inverse = 1.0 / variances
    gradient = np.empty((d, d))
    _weighted_products(scatter, bounds, orientation, inverse, gradient)
    _minimise_tangent(orientation, gradient, rights[0])
    for c in range(k):
        inverse[c] -= inverse[c].max()
    _weighted_products(scatter, np.zeros(k), orientation, inverse, gradient)
    _minimise_tangent(orientation, gradient, rights[1])


@link_only
@njit(**JIT)
def _weighted_products(matrices, shifts, orientation, weights, out):
    """Writes ``sum_k (M_k - s_k I) D diag(w_k)`` (D, D) into ``out``.

    Parameters
    ----------
    matrices : array of shape (K, D, D)
    shifts : array of shape (K,)
    orientation : array of shape (D, D)
    weights : array of shape (K, D)
    """
    k, d, _ = matrices.shape
    out[:] = 0.0
    for c in range(k):
        for i in range(d):
            for m in range(d):
                value = -shifts[c] * orientation[i, m]
                for j in range(d):
                    value += matrices[c, i, j] * orientation[j, m]
                out[i, m] += value * weights[c, m]


@link_only
@njit(**JIT)
def _clearly_nonsingular(correlations):
    """Whether ``correlations - CLEARLY_NONSINGULAR I`` (D, D) has a Cholesky factor: then the smallest
    eigenvalue exceeds ``SINGULAR_SCATTER`` by far (the factorisation is backward stable), in a tenth of the
    time of the eigenvalues."""
    return not math.isnan(shifted_log_det(correlations, CLEARLY_NONSINGULAR))


@link_only
@njit(**JIT)
def _eigenvalue_bounds_of_nonsingular(scatter, bounds):
    """Writes a bound on the largest eigenvalue of each scatter into ``bounds`` (K,) after checking none is
    singular (:func:`_largest_eigenvalue_bound`).

    Singular (the EVE and VVE likelihoods are then unbounded): the smallest
    eigenvalue of the correlation matrix is at most :data:`SINGULAR_SCATTER`
    or not a number.

    Returns
    -------
    int
        The first singular component, or -1.
    """
    k, d, _ = scatter.shape
    correlations = np.empty((d, d))
    values = np.empty(d)
    for c in range(k):
        for a in range(d):
            for b in range(d):
                correlations[a, b] = scatter[c, a, b] / math.sqrt(scatter[c, a, a]) / math.sqrt(scatter[c, b, b])
                if not math.isfinite(correlations[a, b]):
                    return c
        if _clearly_nonsingular(correlations):
            continue
        symmetric_eigenvalues(correlations, values)
        if not values[0] > SINGULAR_SCATTER:
            return c
    power, square = np.empty((d, d)), np.empty((d, d))
    for c in range(k):
        bounds[c] = _largest_eigenvalue_bound(scatter[c], power, square)
    return -1


@link_only
@njit(**JIT)
def _largest_eigenvalue_bound(matrix, power, square):
    """``(tr W^(2p))^(1/(2p))``, ``p = 2^EIGENVALUE_BOUND_SQUARINGS``, of a symmetric positive definite ``W``
    (D, D): at least its largest eigenvalue ``lambda``, at most ``D^(1/(2p)) lambda``.

    ``W`` is first divided by its largest diagonal entry, so that the powers
    neither overflow nor underflow. ``power`` and ``square`` (D, D) are work space.
    """
    d = matrix.shape[0]
    scale = 0.0
    for j in range(d):
        scale = max(scale, matrix[j, j])
    for a in range(d):
        for b in range(d):
            power[a, b] = matrix[a, b] / scale
    for _ in range(EIGENVALUE_BOUND_SQUARINGS):
        for a in range(d):
            for b in range(d):
                total = 0.0
                for m in range(d):
                    total += power[a, m] * power[m, b]
                square[a, b] = total
        power[:] = square
    total = 0.0
    for a in range(d):
        for b in range(d):
            total += power[a, b] * power[a, b]
    return scale * total ** (0.5 ** (EIGENVALUE_BOUND_SQUARINGS + 1))


@link_only
@njit(**JIT)
def _shared_orientation(covariances, out):
    """Writes the common eigenvectors of commuting matrices (K, D, D) into ``out`` (D, D), eigenvalues decreasing.

    They are those of a weighted sum with unequal weights, which
    (generically) has distinct eigenvalues even when the sum does not.
    """
    k, d, _ = covariances.shape
    total = np.zeros((d, d))
    for c in range(k):
        total += (1.0 / (c + 1)) * (covariances[c] / np.abs(covariances[c]).max())
    _descending_eigenvectors(total, out)


@link_only
@njit(**JIT)
def _candidate_orientation(index, scatter, nk, out):
    """Writes cold-start orientation ``index`` of ``K + 2`` into ``out`` (D, D).

    The eigenvectors of the pooled scatter (0), of the pooled covariances
    (1) and of each component's scatter (2, ..., K + 1): ``Q`` is not
    concave in the orientation, so a cold start keeps the best end of all.
    """
    k, d, _ = scatter.shape
    if index >= 2:
        _descending_eigenvectors(scatter[index - 2], out)
        return
    pooled = np.zeros((d, d))
    for c in range(k):
        pooled += scatter[c] if index == 0 else scatter[c] / nk[c]
    _descending_eigenvectors(pooled, out)


@link_only
@njit(**JIT)
def _update(family, scatter, nk, values, bounds, volumes, variances, matrices, rights):
    """One round of the family's block updates, in place (the state as in the module docstring)."""
    if family == MSTEP_VEI or family == MSTEP_VEV:
        _common_shape_update(volumes, values, nk, variances)
    elif family == MSTEP_VEE:
        _shape_then_volumes(volumes, scatter, nk, matrices[0])
    else:
        _orientation_step(matrices[0], scatter, variances, bounds, rights)
        _orientation_variances(family, matrices[0], scatter, nk, variances, values)


@link_only
@njit(**JIT)
def _assemble(family, volumes, variances, matrices, out):
    """Writes the state's covariances (K, D, D) into ``out``."""
    k, d, _ = out.shape
    for c in range(k):
        if family == MSTEP_VEI:
            out[c] = 0.0
            for j in range(d):
                out[c, j, j] = variances[c, j]
        elif family == MSTEP_VEE:
            out[c] = volumes[c] * matrices[0]
        elif family == MSTEP_VEV:
            _rotate(matrices[c], variances[c], out[c])
        else:
            _rotate(matrices[0], variances[c], out[c])


@link_only
@njit(**JIT)
def _start(family, index, scatter, nk, previous, warm, values, bounds, volumes, variances, matrices, rights):
    """Sets the state to start ``index``: the model's ``initial_state`` (or ``initial_states[index]``).

    VEI, VEE and VEV take one update from equal volumes (cold) or the
    previous volumes (warm); EVE and VVE take the variances at a candidate
    orientation (cold) or at the previous covariances' orientation (warm),
    and their polar factors' rotations start from the identity.
    """
    k = nk.size
    if family == MSTEP_EVE or family == MSTEP_VVE:
        rights[:] = 0.0
        for j in range(scatter.shape[1]):
            rights[:, j, j] = 1.0
        if warm:
            _shared_orientation(previous, matrices[0])
        else:
            _candidate_orientation(index, scatter, nk, matrices[0])
        _orientation_variances(family, matrices[0], scatter, nk, variances, values)
        return
    for c in range(k):
        if not warm:
            volumes[c] = 1.0
        elif family == MSTEP_VEI:
            volumes[c] = _geometric_mean(np.diag(previous[c]))
        else:
            volumes[c] = _volume(previous[c])
    _update(family, scatter, nk, values, bounds, volumes, variances, matrices, rights)


@link_only
@njit(**JIT)
def _alternate(family, scatter, nk, values, bounds, volumes, variances, matrices, rights, out, tolerance):
    """Updates the state until ``Q`` changes by at most ``tolerance``, relative.

    ``out`` (K, D, D) receives the last covariances.

    Returns
    -------
    float
        ``Q`` at the last covariances.
    """
    objective = _objective(family, nk, values, volumes, variances)
    for _ in range(MAX_INNER_ITERATIONS):
        if not math.isfinite(objective):
            break
        _update(family, scatter, nk, values, bounds, volumes, variances, matrices, rights)
        updated = _objective(family, nk, values, volumes, variances)
        settled = abs(updated - objective) <= tolerance * abs(updated)
        objective = updated
        if settled:
            break
    _assemble(family, volumes, variances, matrices, out)
    return objective


@link_only
@njit(**JIT)
def _objective(family, nk, values, volumes, variances):
    """``Q`` at the state (after an update), without assembling or factorising the covariances.

    VEI, VEV, EVE and VVE: each ``Sigma_k`` is ``variances_k`` in an orthonormal basis in which
    ``values_k`` is the diagonal of ``W_k`` (:func:`_diagonal_objective`). VEE (``Sigma_k = lambda_k C``,
    ``det C = 1``): its update ends with ``lambda_k = tr(C^-1 W_k) / (n_k D)``, so that ``log det Sigma_k =
    D log lambda_k`` and ``tr(Sigma_k^-1 W_k) = n_k D`` (:func:`_equal_shape_objective`).
    """
    if family == MSTEP_VEE:
        return _equal_shape_objective(volumes, nk, values.shape[1])
    return _diagonal_objective(values, variances, nk)


@link_only
@njit(**JIT)
def _equal_shape_objective(volumes, nk, d):
    """VEE's ``Q`` right after its volume update, ``-1/2 sum_k n_k D (log lambda_k + 1)``; ``-inf`` unless every
    volume is positive and finite."""
    total = 0.0
    for c in range(volumes.size):
        if not (volumes[c] > 0.0 and math.isfinite(volumes[c])):
            return -np.inf
        total += nk[c] * d * (math.log(volumes[c]) + 1.0)
    return -0.5 * total


@njit(**JIT)
def iterative_m_step(family, nk, scatter, previous, start, out, tolerance=INNER_TOLERANCE):
    """The M-step of an iterative family (``MSTEP_VEI`` ... ``MSTEP_VVE``).

    Parameters
    ----------
    family : int
    nk : array of shape (n_components,)
    scatter : array of shape (n_components, n_features, n_features)
        Regularised scatter about the new means.
    previous : array of shape (n_components, n_features, n_features)
        The previous covariances (not read when ``start`` is ``START_COLD``).
    start : int
        ``START_COLD`` (from ``K + 2`` orientations for EVE and VVE,
        keeping the best end), ``START_WARM`` (from ``previous``, kept when
        its ``Q`` is higher than where the updates end) or ``START_OWN``
        (from ``previous``, the model's own last M-step: nothing to
        compare). EVE and VVE with one component take no updates: their
        covariance is then free, and the M-step is the full model's, ``W / n``.
    out : array of shape (n_components, n_features, n_features)
        Receives the covariances.
    tolerance : float, default=INNER_TOLERANCE
        The updates stop when ``Q`` changes by less than this, relative.

    Returns
    -------
    int
        For EVE and VVE, the first component whose scatter is singular (no
        M-step is taken, ``out`` is left as it was); otherwise -1.
    """
    k, d, _ = scatter.shape
    warm = start != START_COLD
    values = np.empty((k, d))
    volumes = np.empty(k)
    variances = np.empty((k, d))
    matrices = np.empty((k, d, d))
    rights = np.empty((2, d, d))
    bounds = np.empty(k)
    n_starts = 1
    if family == MSTEP_EVE or family == MSTEP_VVE:
        singular = _eigenvalue_bounds_of_nonsingular(scatter, bounds)
        if singular >= 0:
            return singular
        if k == 1:  # one component: any covariance is one of the model's, so Q's maximum is W / n
            out[0] = scatter[0] / nk[0]
            return -1
        if not warm:
            n_starts = k + 2
    elif family == MSTEP_VEI:
        for c in range(k):
            values[c] = np.diag(scatter[c])
    elif family == MSTEP_VEV:
        for c in range(k):
            values[c] = _descending_eigenvectors(scatter[c], matrices[c])
    trial = np.empty((k, d, d))
    best = -np.inf
    for index in range(n_starts):
        _start(family, index, scatter, nk, previous, warm, values, bounds, volumes, variances, matrices, rights)
        objective = _alternate(family, scatter, nk, values, bounds, volumes, variances, matrices, rights, trial,
                               tolerance)
        if index == 0 or objective > best:
            best = objective
            out[:] = trial
    if start == START_WARM and expected_log_likelihood(previous, scatter, nk) > best:
        out[:] = previous
    return -1
