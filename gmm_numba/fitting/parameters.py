"""Mixture parameters and the M-step that produces them from statistics."""

from dataclasses import dataclass

import numpy as np

from .._kernels.constrained import INNER_TOLERANCE
from .._kernels.em_run import EMPTY_FRACTION
from ..errors import EmptyComponentError


class _Sizes:
    """``n_components`` and ``n_features`` from ``means`` (K, D)."""

    __slots__ = ()

    @property
    def n_components(self):
        return self.means.shape[0]

    @property
    def n_features(self):
        return self.means.shape[1]


@dataclass(frozen=True)
class MixtureParameters(_Sizes):
    """The parameters of a Gaussian mixture under one covariance model.

    Attributes
    ----------
    model : CovarianceModel
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape ``model.covariance_shape(K, D)``
    precisions_cholesky : ndarray of the same shape
    """

    model: object
    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @classmethod
    def from_covariances(cls, model, weights, means, covariances):
        """Parameters whose precision factors are computed from ``covariances``."""
        covariances = np.asarray(covariances, dtype=np.float64)
        return cls(model, weights, means, covariances, model.precisions_cholesky(covariances))

    @classmethod
    def from_precisions(cls, model, weights, means, precisions):
        """Parameters from precision matrices (as scikit-learn's ``precisions_init``)."""
        chol = model.precisions_cholesky_from_precisions(np.asarray(precisions, dtype=np.float64))
        precisions = model.precisions(chol)
        k, d = means.shape
        full_prec = model.full_covariances(precisions, k, d)
        covariances = model.from_full_covariances(np.linalg.inv(full_prec))
        return cls(model, weights, means, covariances, chol)

    def kernel_arguments(self):
        """``(means, factors, log_weights, log_det)`` as the E-step kernels take them."""
        k, d = self.means.shape
        with np.errstate(divide="ignore"):
            log_weights = np.log(self.weights)
        return (
            np.ascontiguousarray(self.means, dtype=np.float64),
            self.model.kernel_factors(self.precisions_cholesky, k, d),
            log_weights,
            self.model.log_det_cholesky(self.precisions_cholesky, k, d),
        )

    def full_covariances(self):
        """Covariances as full matrices, shape (n_components, n_features, n_features)."""
        return self.model.full_covariances(self.covariances, self.n_components, self.n_features)

    def n_parameters(self):
        return self.model.n_parameters(self.n_components, self.n_features)

    def permuted(self, order):
        """The same mixture with its components listed in ``order``."""
        model = self.model
        return MixtureParameters(
            model,
            self.weights[order],
            self.means[order],
            model.permute(self.covariances, order),
            model.permute(self.precisions_cholesky, order),
        )

    def canonical(self):
        """Components sorted by their means (first feature first, ties by the next).

        Used when the order carries no meaning (no user-given means), so that
        the same fit always lists its components the same way.
        """
        order = np.lexsort(self.means.T[::-1])
        return self.permuted(order)


class PendingParameters(_Sizes):
    """``MixtureParameters.from_covariances(model, weights, means, model.pack(full))``, made on first use.

    A compiled run's result stays as the kernel left it: most runs of a search (the screened-out starts)
    are never looked at again, and the runs that go on need only the full matrices, not the precision
    factors. Any attribute other than those below is the made parameters' (:meth:`made`).

    Parameters
    ----------
    model : CovarianceModel
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    full : ndarray of shape (n_components, n_features, n_features)
        Positive definite, with the model's structure.
    """

    __slots__ = ("model", "weights", "means", "_full", "_made")

    def __init__(self, model, weights, means, full):
        self.model = model
        self.weights = weights
        self.means = means
        self._full = full
        self._made = None

    def full_covariances(self):
        """As :meth:`MixtureParameters.full_covariances` of the made parameters (a new array), without making them.

        The kernels write the model's structure exactly (the zeros, the shared and repeated entries), so that
        packing ``full`` and unpacking it again gives ``full`` back: tests/test_compiled_run.py holds both equal.
        """
        return self._full.copy()

    def made(self):
        """The :class:`MixtureParameters` (made once)."""
        if self._made is None:
            self._made = MixtureParameters.from_covariances(self.model, self.weights, self.means,
                                                            self.model.pack(self._full))
        return self._made

    def __getattr__(self, name):
        return getattr(self.made(), name)


def made(params):
    """``params`` as :class:`MixtureParameters` (a :class:`PendingParameters` made)."""
    return params.made() if isinstance(params, PendingParameters) else params


def m_step(model, stats, reg_covar, previous=None, inner_tolerance=INNER_TOLERANCE, prior=None,
           previous_is_own=False):
    """Maximise the expected complete-data log-likelihood (plus the log prior, with ``prior``).

    Parameters
    ----------
    model : CovarianceModel
    stats : SufficientStatistics
    reg_covar : float or ndarray of shape (n_features,)
    previous : ndarray of shape ``model.covariance_shape(K, D)``, optional
        The covariances of the previous iteration: a warm start for models
        whose M-step is iterative.
    inner_tolerance : float, default=INNER_TOLERANCE
        Where an iterative M-step stops (see
        :func:`gmm_numba._kernels.em_run.inner_tolerance`).
    prior : ConjugatePrior, optional
        mclust's conjugate prior: the MAP M-step (:mod:`gmm_numba.covariance._prior`).
    previous_is_own : bool, default=False
        ``previous`` is the result of this model's own last M-step (see
        :meth:`CovarianceModel.covariances <gmm_numba.covariance._base.CovarianceModel.covariances>`).

    Returns
    -------
    MixtureParameters

    Raises
    ------
    EmptyComponentError
        If a component has (almost) no weight left.
    SingularCovarianceError
        If a covariance is not positive definite.
    """
    nk = stats.nk
    empty = np.flatnonzero(~(nk > EMPTY_FRACTION * stats.total_weight))
    if empty.size:
        raise empty_component_error(empty[0], nk, stats.total_weight)
    weights = nk / nk.sum()
    if prior is not None:
        means, covariances = model.map_estimate(stats, prior, reg_covar, previous)
        return MixtureParameters.from_covariances(model, weights, means, covariances)
    means = stats.means()
    covariances = model.covariances(stats, reg_covar, previous, inner_tolerance, previous_is_own)
    return MixtureParameters.from_covariances(model, weights, means, covariances)


def empty_component_error(component, nk, total_weight):
    """The error for a component whose effective count fell to (almost) nothing.

    Parameters
    ----------
    component : int
    nk : ndarray of shape (n_components,)
    total_weight : float
    """
    return EmptyComponentError(
        f"Component {component} lost all of its weight (effective count {nk[component]:.3g} "
        f"of {total_weight:.6g}): no data supports {len(nk)} components "
        "from this start. Try fewer components, another random_state or init_params."
    )
