"""Pieces shared by the constrained M-steps (Celeux & Govaert 1995; Browne & McNicholas 2014).

Every M-step maximises the expected complete-data log-likelihood in the
covariances,

    Q(Sigma) = -1/2 sum_k [ n_k log det Sigma_k + tr(Sigma_k^-1 W_k) ],

given the scatters ``W_k`` about the new means and the counts ``n_k``. The
iterative ones alternate exact maximisations over blocks of parameters
(volumes, shape, orientation), so ``Q`` never decreases; they stop after
:data:`MAX_INNER_ITERATIONS` or when ``Q`` changes by less than
:data:`INNER_TOLERANCE` relative. Each iteration costs O(K D^3), never O(N).
The compiled EM loop runs the same M-steps (:mod:`gmm_numba._kernels.constrained`,
which holds the constants both share).
"""

from dataclasses import dataclass

import numpy as np

from .._kernels.constrained import (
    EIGENVALUE_BOUND_SQUARINGS,
    INNER_TOLERANCE,
    MAX_INNER_ITERATIONS,
    SINGULAR_SCATTER,
    START_COLD,
    START_OWN,
    START_WARM,
    iterative_m_step,
)
from ..errors import SingularCovarianceError
from ._cholesky import SINGULAR_ADVICE


def geometric_mean(values):
    """Geometric mean over the last axis (``det^(1/d)`` of a diagonal matrix)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.exp(np.log(values).mean(axis=-1))


def descending_eigh(matrices):
    """Eigenvalues (decreasing) and eigenvectors (as columns) of symmetric matrices.

    Returns
    -------
    eigenvalues : ndarray of shape (..., D)
    eigenvectors : ndarray of shape (..., D, D)
    """
    eigenvalues, eigenvectors = np.linalg.eigh(matrices)
    return eigenvalues[..., ::-1], eigenvectors[..., ::-1]


def rotate(orientation, variances):
    """``D diag(v_k) D^T`` for each row ``v_k`` of ``variances``.

    Parameters
    ----------
    orientation : ndarray of shape (D, D) or (K, D, D)
    variances : ndarray of shape (K, D)

    Returns
    -------
    ndarray of shape (K, D, D)
    """
    scaled = orientation * variances[:, None, :]
    return scaled @ np.swapaxes(np.broadcast_to(orientation, scaled.shape), 1, 2)


def expected_log_likelihood(covariances, scatter, nk):
    """``Q`` for full matrices.

    Parameters
    ----------
    covariances, scatter : ndarray of shape (K, D, D)
    nk : ndarray of shape (K,)

    Returns
    -------
    float
        ``-inf`` when a covariance is not positive definite.
    """
    if not np.all(np.isfinite(covariances)):
        return -np.inf
    try:
        lower = np.linalg.cholesky(covariances)
        trace = np.trace(np.linalg.solve(covariances, scatter), axis1=1, axis2=2)
    except np.linalg.LinAlgError:
        return -np.inf
    log_det = 2 * np.log(np.diagonal(lower, axis1=1, axis2=2)).sum(axis=1)
    return float(-0.5 * np.sum(nk * log_det + trace))


def expected_log_likelihood_diagonal(variances, scatter_diagonal, nk):
    """``Q`` for diagonal covariances: ``variances`` and ``scatter_diagonal`` of shape (K, D)."""
    if not np.all(variances > 0):
        return -np.inf
    return float(-0.5 * np.sum(nk * np.log(variances).sum(axis=1) + (scatter_diagonal / variances).sum(axis=1)))


@dataclass
class InnerRun:
    """The outcome of an iterative M-step.

    Attributes
    ----------
    covariances : ndarray
        In the model's stored shape.
    objective : ndarray of shape (n_iterations + 1,)
        ``Q`` at the start and after each iteration (non-decreasing).
    """

    covariances: np.ndarray
    objective: np.ndarray


def alternate(state, update, objective, max_iter, tol):
    """Apply ``update`` to ``state`` until ``objective`` settles.

    Returns
    -------
    state
        The last state.
    history : list of float
        ``objective`` at the start and after each update.
    """
    history = [objective(state)]
    for _ in range(max_iter):
        if not np.isfinite(history[-1]):
            break
        state = update(state)
        history.append(objective(state))
        if abs(history[-1] - history[-2]) <= tol * abs(history[-1]):
            break
    return state, history


def orientation_step(orientation, scatter, inverse_variances, eigenvalue_bounds):
    """Two MM steps for a common orientation (Browne & McNicholas 2014).

    Each decreases ``f(D) = sum_k tr(W_k D M_k D^T)`` over orthogonal
    ``D``, with ``M_k = diag(m_k)``. On orthogonal matrices each term
    equals a concave quadratic in ``D`` plus a constant, in two ways:
    with ``W_k - alpha_k I`` (``alpha_k`` at least the largest eigenvalue
    of ``W_k``) or with ``M_k - beta_k I`` (``beta_k = max m_k``) in place of
    ``W_k`` or ``M_k``, both negative semidefinite. A concave function lies
    below its tangent, so the orthogonal matrix minimising the (linear)
    tangent at the current ``D``, which one SVD gives, decreases ``f``. The
    two majorisers are tight in different directions; alternating them
    converges much faster than either alone.

    Parameters
    ----------
    orientation : ndarray of shape (D, D)
        Current ``D`` (orthogonal).
    scatter : ndarray of shape (K, D, D)
    inverse_variances : ndarray of shape (K, D)
        ``m_k``, the diagonals of ``Sigma_k^-1`` in the ``D`` basis.
    eigenvalue_bounds : ndarray of shape (K,)
        ``alpha_k`` (:func:`eigenvalue_bounds_of_nonsingular`).

    Returns
    -------
    ndarray of shape (D, D)
    """
    eye = np.eye(scatter.shape[-1])
    shifted_scatter = scatter - eigenvalue_bounds[:, None, None] * eye
    gradient = np.einsum("kij,jl,kl->il", shifted_scatter, orientation, inverse_variances)
    orientation = _minimise_tangent(orientation, gradient)
    shifted_inverse = inverse_variances - inverse_variances.max(axis=1, keepdims=True)
    return _minimise_tangent(orientation, np.einsum("kij,jl,kl->il", scatter, orientation, shifted_inverse))


def _minimise_tangent(orientation, gradient):
    """The orthogonal ``X`` minimising ``tr(G^T X)``: ``-U V^T`` for ``G = U S V^T``."""
    if not np.all(np.isfinite(gradient)):
        return orientation
    left, _, right = np.linalg.svd(gradient)
    return -left @ right


class IterativeMStep:
    """Mixin for the M-steps that alternate block updates.

    A model supplies ``initial_state(scatter, nk, previous)`` (or
    ``initial_states`` for several starts, of which the best end is kept),
    ``update(state, scatter, nk)`` and ``assemble(state)`` (state ->
    covariances in the stored shape); the layout supplies
    ``expected_log_likelihood``.
    """

    def initial_states(self, scatter, nk, previous):
        return [self.initial_state(scatter, nk, previous)]

    iterative = True

    def covariances_from_scatter(self, scatter, nk, previous=None, tolerance=INNER_TOLERANCE,
                                 previous_is_own=False):
        """The M-step, compiled (:func:`gmm_numba._kernels.constrained.iterative_m_step`).

        The same updates, starts and stopping rule as :meth:`inner_iterations`,
        which spells them out in NumPy and against which the tests hold the
        compiled ones; a cold EVE or VVE M-step runs ``K + 2`` alternations,
        about ten times faster compiled. ``previous_is_own``: ``previous`` is
        this model's last M-step, which the updates cannot end below, so it
        is not compared with their end (``START_OWN``).
        """
        k, d = len(nk), scatter.shape[-1]
        full_scatter = np.ascontiguousarray(self.full_covariances(scatter, k, d), dtype=np.float64)
        if previous is None:
            start, from_covariances = START_COLD, full_scatter
        else:
            start = START_OWN if previous_is_own else START_WARM
            from_covariances = np.ascontiguousarray(self.full_covariances(previous, k, d), dtype=np.float64)
        full = np.empty_like(full_scatter)
        singular = iterative_m_step(
            self.m_step_family, np.ascontiguousarray(nk, dtype=np.float64), full_scatter, from_covariances, start,
            full, tolerance,
        )
        if singular >= 0:
            raise SingularCovarianceError(_singular_scatter_message(singular, self.name))
        _check_nonsingular(full, self.name)
        return self.pack(full)

    def inner_iterations(self, scatter, nk, previous=None, max_iter=MAX_INNER_ITERATIONS, tol=INNER_TOLERANCE):
        """The M-step with its sequence of ``Q`` values.

        Parameters
        ----------
        scatter : ndarray
            As for ``covariances_from_scatter``.
        nk : ndarray of shape (K,)
        previous : ndarray of the stored shape, optional
            Warm start. When it has a higher ``Q`` than where the updates
            end, it is returned instead, so that an M-step never loses
            ground over the previous one.
        max_iter : int
        tol : float

        Returns
        -------
        InnerRun
            With the ``Q`` sequence of the start that ended best.
        """
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            runs = [
                alternate(
                    start,
                    lambda s: self.update(s, scatter, nk),
                    lambda s: self.expected_log_likelihood(self.assemble(s), scatter, nk),
                    max_iter,
                    tol,
                )
                for start in self.initial_states(scatter, nk, previous)
            ]
            state, history = max(runs, key=lambda run: run[1][-1])
            covariances = self.assemble(state)
            if previous is not None:
                at_previous = self.expected_log_likelihood(previous, scatter, nk)
                if at_previous > history[-1]:
                    covariances = np.array(previous, dtype=np.float64)
                    history.append(at_previous)
        return InnerRun(covariances, np.asarray(history))


def common_shape_update(volumes, values, nk):
    """One round of the VEI-type updates on diagonal ``values`` (K, D) (Celeux & Govaert 1995).

    Maximises ``Q`` for ``Sigma_k = lambda_k diag(a)`` (``prod a = 1``) first
    over ``a`` at fixed volumes, then over the volumes at fixed ``a``; both
    are exact.

    Returns
    -------
    volumes : ndarray of shape (K,)
    shape : ndarray of shape (D,)
    """
    shape = (values / volumes[:, None]).sum(axis=0)
    shape = shape / geometric_mean(shape)
    volumes = (values / shape).sum(axis=1) / (nk * values.shape[1])
    return volumes, shape


def shared_orientation(covariances):
    """The common eigenvectors of matrices that commute, shape (D, D).

    They are those of a weighted sum with unequal weights, which
    (generically) has distinct eigenvalues even when the sum does not.
    """
    normalised = covariances / np.abs(covariances).max(axis=(1, 2))[:, None, None]
    weights = 1.0 / np.arange(1, len(covariances) + 1)
    return descending_eigh(np.tensordot(weights, normalised, axes=1))[1]


def candidate_orientations(scatter, nk):
    """Starting orientations for a common-orientation M-step without a warm start, shape (K + 2, D, D).

    ``Q`` is not concave in the orientation and the MM updates can settle
    on a poorer stationary point (seen on random 2 x 3 x 3 problems), so a
    cold start runs from the eigenvectors of the pooled scatter (EEE's), of
    the pooled covariances, and of each component's scatter (VVV's), and
    keeps the best end. Only the first M-step of an EM run is cold.
    """
    matrices = np.concatenate([scatter.sum(axis=0)[None], (scatter / nk[:, None, None]).sum(axis=0)[None], scatter])
    return descending_eigh(matrices)[1]


def eigenvalue_bounds_of_nonsingular(scatter, model_name):
    """A bound on the largest eigenvalue of each scatter, shape (K,), after checking none is singular.

    The bound is ``(tr W_k^(2p))^(1/(2p))`` with ``p = 2^EIGENVALUE_BOUND_SQUARINGS`` (see
    :data:`gmm_numba._kernels.constrained.EIGENVALUE_BOUND_SQUARINGS`).

    With a singular ``W_k`` the EVE and VVE likelihoods are unbounded (the
    shape ``A_k`` can shrink to zero along a null direction aligned with
    ``D``), so there is no M-step to take.

    Raises
    ------
    SingularCovarianceError
    """
    singular = singular_components(scatter)
    if singular.size:
        raise SingularCovarianceError(_singular_scatter_message(singular[0], model_name))
    scale = np.diagonal(scatter, axis1=1, axis2=2).max(axis=1)
    power = scatter / scale[:, None, None]
    for _ in range(EIGENVALUE_BOUND_SQUARINGS):
        power = power @ power
    return scale * np.sum(power * power, axis=(1, 2)) ** (0.5 ** (EIGENVALUE_BOUND_SQUARINGS + 1))


def _singular_scatter_message(component, model_name):
    return (
        f"The scatter of component {component} is singular (it collapsed onto too few points), "
        f"which leaves the {model_name} likelihood unbounded. {SINGULAR_ADVICE}"
    )


def rotated_diagonals(orientation, scatter):
    """``diag(D^T W_k D)`` for each component, shape (K, D)."""
    return np.einsum("ji,kjl,li->ki", orientation, scatter, orientation)


def _check_nonsingular(full, model_name):
    """Refuse covariances whose correlation matrix is (numerically) singular or indefinite.

    On degenerate scatters (a component on a point or a line, no regularisation) the
    alternating updates can end on matrices that factorise in floating point but
    are not positive definite: a fit that must not be returned. Correlations, so
    that features of very different units do not matter.

    Raises
    ------
    SingularCovarianceError
    """
    singular = singular_components(full)
    if singular.size:
        raise SingularCovarianceError(
            f"The {model_name} covariance of component {singular[0]} is singular or not positive definite "
            f"(it collapsed onto too few points). {SINGULAR_ADVICE}"
        )


def singular_components(matrices):
    """Indices of the symmetric matrices whose correlation matrix is singular, indefinite or not finite.

    Correlations, so that features of very different units do not matter.

    Parameters
    ----------
    matrices : ndarray of shape (K, D, D)

    Returns
    -------
    ndarray of int
    """
    spread = np.sqrt(np.abs(np.diagonal(matrices, axis1=1, axis2=2)))
    with np.errstate(divide="ignore", invalid="ignore"):
        correlations = matrices / spread[:, :, None] / spread[:, None, :]
    finite = np.all(np.isfinite(correlations), axis=(1, 2))
    smallest = np.full(len(matrices), np.nan)
    smallest[finite] = np.linalg.eigvalsh(correlations[finite])[:, 0]
    return np.flatnonzero(~(smallest > SINGULAR_SCATTER))
