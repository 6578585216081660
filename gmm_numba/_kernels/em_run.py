"""A whole EM run in one compiled call, for data small enough that Python would dominate an iteration.

Every covariance structure is handled through full matrices: the E-step takes
full precision factors, the M-step turns the (regularised) scatter matrices
into full covariance matrices under the structure's constraints. For the small
data this path serves, a full factor costs no more than a diagonal one, and one
E-step serves every model.

M-step families are numbered (``MSTEP_*``); a covariance model names its family
once, and nothing here knows the models' names.
"""

import math

import numpy as np
from numba import njit, prange

from .config import JIT, PARALLEL_JIT
from .constrained import (
    INNER_TOLERANCE,
    MSTEP_EVE,
    MSTEP_VEE,
    MSTEP_VEI,
    MSTEP_VEV,
    MSTEP_VVE,
    START_OWN,
    START_WARM,
    iterative_m_step,
)
from .estep import block_statistics, finished_moments, statistics_buffers, statistics_setup
from .linalg import precision_cholesky, shifted_log_det, symmetric_eigen
from .link_only import link_only
from .scheduling import block_counter, claim_block
from .tiles import padded_features

MSTEP_EII = 0  # one variance
MSTEP_VII = 1  # a variance per component
MSTEP_EEI = 2  # one diagonal matrix
MSTEP_VVI = 3  # a diagonal matrix per component
MSTEP_EVI = 4  # one volume, a diagonal shape per component
MSTEP_EEE = 5  # one matrix
MSTEP_EEV = 6  # one volume and shape, an orientation per component
MSTEP_EVV = 7  # one volume, a shape and orientation per component
MSTEP_VVV = 8  # a matrix per component
#: The iterative families (:mod:`.constrained`).
ITERATIVE_FAMILIES = (MSTEP_VEI, MSTEP_VEE, MSTEP_VEV, MSTEP_EVE, MSTEP_VVE)

#: Run outcomes.
RUN_OK = 0
RUN_EMPTY = 1  # a component lost its weight (the index is returned)
RUN_SINGULAR = 2  # a covariance is not positive definite (the index is returned)
RUN_NOT_FINITE = 3  # the log-likelihood is not finite
RUN_SINGULAR_SCATTER = 4  # a scatter is singular where the M-step needs it not to be (the index is returned)
RUN_ABANDONED = 5  # on course to end below the floor it was given

#: A run is abandoned only while its log-likelihood converges geometrically, each gain at most this
#: fraction of the one before: on a plateau (ratios near 1) the projection says nothing about where
#: the run will end, and EM may still escape to a higher optimum.
ABANDON_MAX_RATE = 0.9

#: A component whose effective count falls to this fraction of the total weight (or below) is
#: treated as empty.
EMPTY_FRACTION = 1e-12

#: What the next E-step of an accelerated run (:func:`_em_loop`) is at: a plain EM iterate before
#: acceleration starts; the first or second EM iterate of an extrapolation cycle (recorded); the
#: extrapolated point (not recorded: only an M-step is taken from it); the point that M-step gave,
#: kept only if its log-likelihood is at least the cycle's last recorded one.
ACCEL_PLAIN = 0
ACCEL_CYCLE = 1
ACCEL_SECOND = 2
ACCEL_EXTRAPOLATED = 3
ACCEL_STABILISED = 4
#: The longest extrapolation step grows by this factor when a step was cut to it, and shrinks by it
#: when an extrapolated point was rejected (SQUAREM's ``mstep``).
ACCEL_STEP_FACTOR = 4.0
#: Acceleration starts where mclust stops EM: a change of the log-likelihood below this fraction of
#: ``1 + |log-likelihood|`` (:func:`accelerate_from`).
ACCEL_FROM = 1e-5
#: How many times an extrapolated point that is not a mixture (a weight not above zero, a
#: covariance not positive definite) is pulled back before the plain EM step is taken instead.
ACCEL_RETREATS = 6

#: How far an iterative M-step goes inside EM (:func:`inner_tolerance`): its alternating updates
#: stop once ``Q`` changes by less than this fraction of the last EM gain (relative), between
#: ``INNER_TOLERANCE`` and ``INNER_LOOSEST``.
INNER_LOOSENESS = 0.01
INNER_LOOSEST = 1e-4


@link_only
@njit(**JIT)
def _root_det(matrix):
    """``det(matrix) ** (1 / d)`` of a symmetric positive (semi-)definite matrix: 0 unless positive definite."""
    log_det = shifted_log_det(matrix, 0.0)
    return 0.0 if math.isnan(log_det) else math.exp(log_det / matrix.shape[0])


@njit(**JIT)
def inner_tolerance(mean_ll, previous):
    """The relative change of ``Q`` at which an iterative M-step inside EM stops.

    Early in a run, while EM still gains much, an M-step that stops short of
    its optimum costs nothing: ``Q`` rose (a generalised EM step) and the next
    M-step goes on from where it stopped. So the updates stop once ``Q``
    changes by less than :data:`INNER_LOOSENESS` of the iteration's gain in
    mean log-likelihood (relative to it), never looser than
    :data:`INNER_LOOSEST` (the first iteration, whose gain is unknown) nor
    tighter than :data:`INNER_TOLERANCE` (where the run converges). Called by
    the compiled loop and the Python one alike, so both take the same steps.

    Parameters
    ----------
    mean_ll : float
        This iteration's mean log-likelihood.
    previous : float
        The last iteration's (``-inf`` at the first).

    Returns
    -------
    float
    """
    looseness = INNER_LOOSENESS * (mean_ll - previous) / max(abs(mean_ll), 1.0)
    if not looseness < INNER_LOOSEST:  # also the first iteration (inf) and NaN
        return INNER_LOOSEST
    return max(INNER_TOLERANCE, looseness)


@njit(inline="always", **JIT)
def scatter_m_step(family, nk, scatter, previous, start, out, tolerance=INNER_TOLERANCE):
    """Covariances maximising the expected complete-data log-likelihood under a structure.

    Parameters
    ----------
    family : int
        One of the ``MSTEP_*`` codes.
    nk : array of shape (n_components,)
    scatter : array of shape (n_components, n_features, n_features)
        Scatter about the new means, regularisation already added (``W_k + n_k diag(reg)``).
    previous : array of shape (n_components, n_features, n_features)
        The previous covariances: the warm start of the iterative families.
    start : int
        How the iterative families start: ``START_COLD`` (no previous
        covariances), ``START_WARM`` or ``START_OWN`` (see
        :func:`~gmm_numba._kernels.constrained.iterative_m_step`).
    out : array of shape (n_components, n_features, n_features)
        Receives the full covariance matrices.
    tolerance : float, default=INNER_TOLERANCE
        Where the iterative families stop (relative change of ``Q``).

    Returns
    -------
    int
        The first component whose scatter is singular where the family
        cannot take one (EVE, VVE; ``out`` is then left as it was), or -1.
    """
    if family >= MSTEP_VEI:
        return iterative_m_step(family, nk, scatter, previous, start, out, tolerance)
    k, d, _ = scatter.shape
    n = nk.sum()
    out[:] = 0.0
    if family == MSTEP_VVV:
        for c in range(k):
            out[c] = scatter[c] / nk[c]
    elif family == MSTEP_EEE:
        pooled = scatter.sum(axis=0) / n
        for c in range(k):
            out[c] = pooled
    elif family == MSTEP_VVI:
        for c in range(k):
            for j in range(d):
                out[c, j, j] = scatter[c, j, j] / nk[c]
    elif family == MSTEP_EEI:
        for j in range(d):
            value = 0.0
            for c in range(k):
                value += scatter[c, j, j]
            for c in range(k):
                out[c, j, j] = value / n
    elif family == MSTEP_VII:
        for c in range(k):
            value = 0.0
            for j in range(d):
                value += scatter[c, j, j]
            for j in range(d):
                out[c, j, j] = value / (nk[c] * d)
    elif family == MSTEP_EII:
        value = 0.0
        for c in range(k):
            for j in range(d):
                value += scatter[c, j, j]
        for c in range(k):
            for j in range(d):
                out[c, j, j] = value / (n * d)
    elif family == MSTEP_EVI:
        # B_k = diag(W_k) / det(diag W_k)^(1/d), lambda = sum_k det(diag W_k)^(1/d) / n
        volume = 0.0
        roots = np.empty(k)
        for c in range(k):
            log_sum = 0.0
            for j in range(d):
                log_sum += math.log(scatter[c, j, j])
            roots[c] = math.exp(log_sum / d)
            volume += roots[c]
        volume /= n
        for c in range(k):
            for j in range(d):
                out[c, j, j] = volume * scatter[c, j, j] / roots[c]
    elif family == MSTEP_EVV:
        # C_k = W_k / det(W_k)^(1/d), lambda = sum_k det(W_k)^(1/d) / n
        volume = 0.0
        roots = np.empty(k)
        for c in range(k):
            roots[c] = _root_det(scatter[c])
            volume += roots[c]
        volume /= n
        for c in range(k):
            out[c] = volume * scatter[c] / roots[c]
    elif family == MSTEP_EEV:
        # W_k = L_k Omega_k L_k^T; A = sum Omega_k / det(sum Omega_k)^(1/d); lambda = det(sum Omega_k)^(1/d) / n
        vectors = np.empty((k, d, d))
        shape = np.zeros(d)
        values = np.empty(d)
        for c in range(k):
            symmetric_eigen(scatter[c], values, vectors[c])
            for j in range(d):
                shape[j] += values[j]
        for c in range(k):
            for a in range(d):
                for b in range(d):
                    value = 0.0
                    for j in range(d):
                        value += vectors[c, a, j] * shape[j] * vectors[c, b, j]
                    out[c, a, b] = value / n
    return -1


@njit(**PARALLEL_JIT)
def start_m_steps(families, nk, scatter, tolerance, start, out):
    """Cold M-steps from many starts' statistics, as :func:`scatter_m_step` takes them, the starts shared out to
    the threads.

    Each start's M-step is serial and independent, so its result does not
    depend on which thread took it, on the number of threads or on the other
    starts.

    Parameters
    ----------
    families : array of shape (S,), int64
        Each start's ``MSTEP_*`` code.
    nk : array of shape (S, n_components)
    scatter : array of shape (S, n_components, n_features, n_features)
        Each start's regularised scatter about its means.
    tolerance : float
        Where the iterative families stop.
    start : int
        Always ``START_COLD``: the starts have no previous covariances. An
        argument rather than the constant, for which Numba would compile
        :func:`~gmm_numba._kernels.constrained.iterative_m_step` once more,
        besides the plain-integer version the EM loop and the Python M-step use.
    out : array of shape (S, n_components, n_features, n_features)
        Receives each start's full covariance matrices.

    Returns
    -------
    array of shape (S,), int64
        Per start, as :func:`scatter_m_step`, the first singular component, else the first component whose
        covariance in ``out`` is not positive definite (no Cholesky factor), or -1.
    """
    n_starts = nk.shape[0]
    failed = np.empty(n_starts, dtype=np.int64)
    counter = block_counter()
    for _ in prange(n_starts):
        s = claim_block(counter)
        while s < n_starts:
            failed[s] = scatter_m_step(families[s], nk[s], scatter[s], scatter[s], start, out[s], tolerance)
            if failed[s] < 0:
                failed[s] = precision_cholesky(out[s])[1]
            s = claim_block(counter)
    return failed


@njit(**JIT)
def accelerate_from(mean_ll, previous, total_weight):
    """Whether a run has reached mclust's stopping point, where :func:`_em_loop` starts extrapolating.

    mclust stops EM once the log-likelihood changes by less than
    :data:`ACCEL_FROM` relative to ``1 + |log-likelihood|``; until then plain
    EM steps are cheap and reliable, past it they are what makes a strict
    ``tol`` slow.
    """
    return settled(mean_ll, previous, -ACCEL_FROM, total_weight)


@njit(**JIT)
def settled(mean_ll, previous, tol, total_weight):
    """Whether a run stops at mean log-likelihood ``mean_ll`` after ``previous`` (``-inf``: the first iteration).

    With ``tol >= 0``: once the mean log-likelihood changed by less than
    ``tol``. A negative ``tol`` asks for mclust's kind of rule, relative to
    the log-likelihood (``mean * total_weight``): once it changed by less
    than ``-tol`` times ``1 + |log-likelihood|``.
    """
    if tol >= 0.0:
        return abs(mean_ll - previous) < tol
    return abs(mean_ll - previous) * total_weight < -tol * (1.0 + abs(mean_ll) * total_weight)


@link_only
@njit(**JIT)
def _step_norms(start, first, second, scales):
    """``||first - start||`` and ``||second - 2 first + start||``, features in units of ``scales``.

    Each of ``start, first, second`` is a tuple ``(weights, means,
    covariances)``; weights count as they are, mean entries are divided by
    their feature's scale, covariance entries by the product of two.
    """
    w0, m0, c0 = start
    w1, m1, c1 = first
    w2, m2, c2 = second
    k, d = m0.shape
    step = 0.0
    curve = 0.0
    for c in range(k):
        r = w1[c] - w0[c]
        v = w2[c] - 2.0 * w1[c] + w0[c]
        step += r * r
        curve += v * v
        for a in range(d):
            r = (m1[c, a] - m0[c, a]) / scales[a]
            v = (m2[c, a] - 2.0 * m1[c, a] + m0[c, a]) / scales[a]
            step += r * r
            curve += v * v
            for b in range(d):
                unit = scales[a] * scales[b]
                r = (c1[c, a, b] - c0[c, a, b]) / unit
                v = (c2[c, a, b] - 2.0 * c1[c, a, b] + c0[c, a, b]) / unit
                step += r * r
                curve += v * v
    return math.sqrt(step), math.sqrt(curve)


@njit(**JIT)
def extrapolate(start, first, second, step_max, weights, means, covariances):
    """The squared extrapolation (SQUAREM's S3 step) from three EM iterates.

    With ``r = first - start`` and ``v = second - 2 first + start`` the
    step length is ``alpha = -||r|| / ||v||``, kept within
    ``[-step_max, -1]``, and the new point ``start - 2 alpha r + alpha^2 v``
    (``alpha = -1`` gives ``second``). A point with a weight not above zero
    or a covariance that is not positive definite is pulled back halfway
    towards ``alpha = -1``, at most :data:`ACCEL_RETREATS` times, then
    ``second`` is taken.

    Parameters
    ----------
    start, first, second : tuples (weights, means, covariances)
        Three successive EM iterates, arrays of shape (K,), (K, D), (K, D, D);
        full covariance matrices.
    step_max : float
        The longest step allowed (``>= 1``).
    weights, means, covariances : arrays of shape (K,), (K, D), (K, D, D)
        Receive the new point.

    Returns
    -------
    alpha : float
        The step taken (``-1``: none, the point is ``second``).
    capped : bool
        Whether the step was cut to ``step_max``.
    factors : array of shape (K, D, D)
        The precision factors of the new point.
    """
    w0, m0, c0 = start
    w1, m1, c1 = first
    w2, m2, c2 = second
    k, d = m0.shape
    scales = np.empty(d)
    for a in range(d):
        spread = 0.0
        for c in range(k):
            spread += w0[c] * c0[c, a, a]
        scales[a] = math.sqrt(spread) if spread > 0 else 1.0
    step, curve = _step_norms(start, first, second, scales)
    alpha = -step / curve if curve > 0 else -1.0
    capped = not alpha > -step_max
    if capped:
        alpha = -step_max
    for _ in range(ACCEL_RETREATS):
        if not alpha < -1.0:
            break
        a, b = -2.0 * alpha, alpha * alpha
        valid = True
        for c in range(k):
            weights[c] = w0[c] + a * (w1[c] - w0[c]) + b * (w2[c] - 2.0 * w1[c] + w0[c])
            valid = valid and weights[c] > 0
        means[:] = m0 + a * (m1 - m0) + b * (m2 - 2.0 * m1 + m0)
        covariances[:] = c0 + a * (c1 - c0) + b * (c2 - 2.0 * c1 + c0)
        factors, failed = precision_cholesky(covariances)
        if valid and failed < 0:
            return alpha, capped, factors
        alpha = 0.5 * (alpha - 1.0)
    weights[:] = w2
    means[:] = m2
    covariances[:] = c2
    factors, _ = precision_cholesky(covariances)
    return -1.0, capped, factors


@link_only
@njit(**JIT)
def _em_loop(X, sample_weight, weights, means, covariances, family, reg, tol, max_iter, lower_bounds, floor,
             accelerate):
    """The EM iterations of one run, on one thread; see :func:`em_runs` for the arguments.

    ``weights, means, covariances`` are updated in place; returns ``n_iter,
    converged, status, index``.
    """
    n, d = X.shape
    k = means.shape[0]
    weighted = sample_weight.size > 0
    total_weight = sample_weight.sum() if weighted else float(n)
    factors, failed = precision_cholesky(covariances)
    if failed >= 0:
        return 0, False, RUN_SINGULAR, failed
    like = np.empty(0)
    # full factors of one feature take the kernel's spherical path; any factors may turn out shared
    buffers = statistics_buffers(d, k, d == 1, True, like)
    n_padded = padded_features(d)
    scalars = np.empty(3)
    acc_nk = np.empty(k)
    acc_s1 = np.empty((k, n_padded))
    acc_s2 = np.empty((k, n_padded, n_padded))
    log_det = np.empty(k)
    log_weights = np.empty(k)
    updated = np.empty((k, d, d))
    # the three iterates of an extrapolation cycle, and the lower bounds of the cycles' starts
    kept_weights = np.empty((3, k))
    kept_means = np.empty((3, k, d))
    kept_covariances = np.empty((3, k, d, d))
    cycle_starts = np.full(3, np.nan)
    state = ACCEL_PLAIN
    step_max = 1.0
    previous = -np.inf
    inner = INNER_LOOSEST
    n_iter = 0
    # the first M-step starts from the run's start, whose form is unknown; every later one from an M-step's
    # end. Reassigned below, so not a literal, for which the M-steps would be compiled once more than the
    # Python calls need
    start = START_WARM
    for _ in range(max_iter):
        for c in range(k):
            log_weights[c] = math.log(weights[c]) if weights[c] > 0 else -np.inf
            log_det[c] = 0.0
            for j in range(d):
                log_det[c] += math.log(factors[c, j, j])
        setup = statistics_setup(means, factors, log_weights, log_det, d, like)
        scalars[:] = 0.0
        acc_nk[:] = 0.0
        acc_s1[:] = 0.0
        acc_s2[:] = 0.0
        block_statistics(X, sample_weight, weighted, 0, n, setup, buffers, scalars, acc_nk, acc_s1, acc_s2)
        nk, s1, s2 = finished_moments(acc_nk, acc_s1, acc_s2, setup, d)
        mean_ll = scalars[1] / total_weight
        if state == ACCEL_EXTRAPOLATED:
            # the extrapolated point: an M-step from it (warm from the cycle's last M-step: ``start`` is
            # START_OWN after the first), not recorded; any failure rejects the point
            usable = math.isfinite(mean_ll)
            for c in range(k):
                usable = usable and nk[c] > EMPTY_FRACTION * total_weight
            if usable:
                _centred_scatter(nk, s1, s2, reg)
                failed = scatter_m_step(family, nk, s2, kept_covariances[2], start, updated, inner)
                usable = failed < 0
            if usable:
                _take_m_step(updated, nk, s1, weights, means, covariances)
                factors, failed = precision_cholesky(covariances)
                usable = failed < 0
            if usable:
                state = ACCEL_STABILISED
                continue
        if state >= ACCEL_EXTRAPOLATED:
            if state == ACCEL_STABILISED and mean_ll >= lower_bounds[n_iter - 1]:
                state = ACCEL_CYCLE
            else:
                # not better than plain EM's last point: go on from the cycle's plain EM step
                step_max = max(1.0, step_max / ACCEL_STEP_FACTOR)
                _restore(kept_weights[2], kept_means[2], kept_covariances[2], weights, means, covariances)
                factors, _ = precision_cholesky(covariances)
                state = ACCEL_CYCLE
                continue
        if not math.isfinite(mean_ll):
            return n_iter, False, RUN_NOT_FINITE, -1
        lower_bounds[n_iter] = mean_ll
        n_iter += 1
        if state == ACCEL_PLAIN:
            if n_iter >= 3 and projected_limit(lower_bounds, n_iter - 1) < floor:
                return n_iter, False, RUN_ABANDONED, -1
        elif state == ACCEL_CYCLE:
            cycle_starts[:2] = cycle_starts[1:]
            cycle_starts[2] = mean_ll
            if projected_limit(cycle_starts, 2) < floor:
                return n_iter, False, RUN_ABANDONED, -1
        for c in range(k):
            if not nk[c] > EMPTY_FRACTION * total_weight:
                return n_iter, False, RUN_EMPTY, c
        if state == ACCEL_PLAIN and accelerate and accelerate_from(mean_ll, previous, total_weight):
            state = ACCEL_CYCLE
            cycle_starts[2] = mean_ll
        if state != ACCEL_PLAIN:
            kept = 0 if state == ACCEL_CYCLE else 1
            kept_weights[kept] = weights
            kept_means[kept] = means
            kept_covariances[kept] = covariances
        _centred_scatter(nk, s1, s2, reg)
        inner = inner_tolerance(mean_ll, previous)
        failed = scatter_m_step(family, nk, s2, covariances, start, updated, inner)
        start = START_OWN
        if failed >= 0:
            # the parameters stay those the iteration started from, where the Python M-step refuses too
            return n_iter, False, RUN_SINGULAR_SCATTER, failed
        _take_m_step(updated, nk, s1, weights, means, covariances)
        factors, failed = precision_cholesky(covariances)
        if failed >= 0:
            return n_iter, False, RUN_SINGULAR, failed
        if settled(mean_ll, previous, tol, total_weight):
            return n_iter, True, RUN_OK, -1
        previous = mean_ll
        if state == ACCEL_CYCLE:
            state = ACCEL_SECOND
        elif state == ACCEL_SECOND:
            kept_weights[2] = weights
            kept_means[2] = means
            kept_covariances[2] = covariances
            alpha, capped, factors = extrapolate(
                (kept_weights[0], kept_means[0], kept_covariances[0]),
                (kept_weights[1], kept_means[1], kept_covariances[1]),
                (kept_weights[2], kept_means[2], kept_covariances[2]),
                step_max, weights, means, covariances,
            )
            if capped:
                step_max *= ACCEL_STEP_FACTOR
            state = ACCEL_CYCLE if alpha == -1.0 else ACCEL_EXTRAPOLATED
    if state >= ACCEL_EXTRAPOLATED:
        # out of iterations at a point not yet checked: end at the cycle's plain EM step
        _restore(kept_weights[2], kept_means[2], kept_covariances[2], weights, means, covariances)
    return n_iter, False, RUN_OK, -1


@link_only
@njit(**JIT)
def _take_m_step(updated, nk, shift, weights, means, covariances):
    """Move to an M-step's result in place: covariances ``updated`` (K, D, D), means shifted by ``shift``
    (K, D), weights ``nk / sum(nk)`` (K,)."""
    covariances[:] = updated
    for c in range(nk.size):
        means[c] += shift[c]
        # the sum inside the loop: a sum taken once before it becomes a reciprocal under fastmath (arcp),
        # and one component's weight 1 - 1e-16 instead of NumPy's exact 1
        weights[c] = nk[c] / nk.sum()


@link_only
@njit(**JIT)
def _restore(kept_weights, kept_means, kept_covariances, weights, means, covariances):
    """Copy a kept point (weights (K,), means (K, D), covariances (K, D, D)) back into the run's parameters."""
    weights[:] = kept_weights
    means[:] = kept_means
    covariances[:] = kept_covariances


@link_only
@njit(**JIT)
def _centred_scatter(nk, s1, s2, reg):
    """Turn the sums ``s1, s2`` into the mean shift ``s1 / nk`` and the regularised scatter about it, in place."""
    k, d = s1.shape
    for c in range(k):
        for j in range(d):
            s1[c, j] /= nk[c]
        for j in range(d):
            for m in range(d):
                s2[c, j, m] -= nk[c] * s1[c, j] * s1[c, m]
        for j in range(d):
            s2[c, j, j] += nk[c] * reg[j]


@njit(**JIT)
def projected_limit(lower_bounds, iteration):
    """Aitken's estimate of where a geometrically converging run ends; +inf unless it converges so.

    With gains ``g1`` (last) and ``g0`` (the one before) in ratio ``a = g1 / g0`` below
    :data:`ABANDON_MAX_RATE`, the remaining gains sum to ``g1 a / (1 - a)``.
    """
    last = lower_bounds[iteration] - lower_bounds[iteration - 1]
    before = lower_bounds[iteration - 1] - lower_bounds[iteration - 2]
    if not (last > 0 and before > 0):
        return np.inf
    rate = last / before
    if not rate < ABANDON_MAX_RATE:
        return np.inf
    return lower_bounds[iteration] + last * rate / (1.0 - rate)


@njit(**PARALLEL_JIT)
def em_runs(X, sample_weight, weights, means, covariances, families, ks, reg, tol, max_iters, lower_bounds, outcomes,
            floors, accelerate):
    """EM runs from many starts until each one's mean log-likelihood settles, the starts shared out to the threads.

    Each run follows the Python driver (:func:`gmm_numba.fitting.em.run_em`)
    step for step: at each iteration the statistics at the current parameters
    give the mean log-likelihood per unit weight, an M-step gives new
    parameters, and the run stops after the M-step of the first iteration
    whose mean log-likelihood changed by less than ``tol``. Every covariance
    structure is handled through full matrices.

    The runs may differ in their number of components and covariance
    structure, so that the runs of many cells go to the threads together (one
    fork and join for all of them). Each run is serial and independent, so its
    result does not depend on which thread ran it, on the number of threads or
    on the other runs of the batch.

    Parameters
    ----------
    X : array of shape (n_samples, n_features), float64
    sample_weight : array of shape (n_samples,) or (0,) for unit weights
    weights, means, covariances : arrays of shape (R, K), (R, K, D), (R, K, D, D)
        One start per row, ``K`` the largest number of components of any run;
        run ``r`` uses the first ``ks[r]`` components. Overwritten with each
        run's final parameters.
    families : array of shape (R,), int64
        The ``MSTEP_*`` code of each run.
    ks : array of shape (R,), int64
        The number of components of each run.
    reg : array of shape (n_features,)
        Added to the scatter's diagonal in proportion to ``n_k`` (so that the
        covariances get ``reg`` for the unconstrained models).
    tol : float
        Where the runs stop (:func:`settled`; negative: a change relative to the log-likelihood).
    max_iters : array of shape (R,), int64
        The budget of each run, in E-steps (with ``accelerate``, a cycle's
        extrapolated points take E-steps that are not recorded iterations).
    lower_bounds : array of shape (R, max(max_iters))
        Receives the mean log-likelihood of each run's iterations.
    outcomes : array of shape (R, 4), int64
        Receives ``n_iter, converged, status, index`` of each run: ``status``
        is ``RUN_OK`` or why the run failed, ``index`` the component a
        failure other than ``RUN_NOT_FINITE`` is about.
    floors : array of shape (R,)
        A run whose mean log-likelihood converges geometrically towards a limit
        below its floor (Aitken's estimate, :func:`projected_limit`; under
        acceleration, over the cycles' first iterates) stops with
        ``RUN_ABANDONED``; ``-inf`` lets the run go on.
    accelerate : bool
        Past mclust's stopping point (:func:`accelerate_from`), take squared
        extrapolation steps (:func:`extrapolate`) between pairs of EM
        iterations, each kept only where it ends at least as high as plain
        EM's last iterate, so that the lower bounds never decrease.
    """
    X = np.ascontiguousarray(X)
    n_runs = weights.shape[0]
    counter = block_counter()
    for _ in prange(n_runs):
        r = claim_block(counter)
        while r < n_runs:
            k = ks[r]
            n_iter, converged, status, index = _em_loop(
                X, sample_weight, weights[r, :k], means[r, :k], covariances[r, :k], families[r], reg, tol,
                max_iters[r], lower_bounds[r], floors[r], accelerate
            )
            outcomes[r, 0] = n_iter
            outcomes[r, 1] = 1 if converged else 0
            outcomes[r, 2] = status
            outcomes[r, 3] = index
            r = claim_block(counter)
