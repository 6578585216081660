"""Storage layouts of covariances: everything a model does that is not its M-step.

Six layouts cover the fourteen models:

========================  ==============  ==============  ==================================
layout                    stored shape    kernel factors  models
========================  ==============  ==============  ==================================
:class:`Full`             (K, D, D)       (K, D, D)       VVV, VEE, EVE, VVE, EEV, VEV, EVV
:class:`SharedFull`       (D, D)          (K, D, D)       EEE
:class:`Diagonal`         (K, D)          (K, 1, D)       VVI, VEI, EVI
:class:`SharedDiagonal`   (D,)            (K, 1, D)       EEI
:class:`Spherical`        (K,)            (K, 1, 1)       VII
:class:`SharedSpherical`  ()              (K, 1, 1)       EII
========================  ==============  ==============  ==================================

A model subclasses its layout and supplies its name, parameter count,
constraints and :meth:`Layout.covariances_from_scatter` (the M-step proper).
"""

from abc import abstractmethod

import numpy as np

from .._kernels.constrained import INNER_TOLERANCE
from ..errors import NumericalError
from ._base import CovarianceModel, as_contiguous, component_labels, require_structure
from ._checks import check_positive_entries, check_precision_matrices
from ._cholesky import precision_cholesky_from_covariances, precision_cholesky_from_precisions
from ._constraints import AXIS_ALIGNED, EQUAL_SHAPE_AND_ORIENTATION, EQUAL_VOLUME, ISOTROPIC
from ._diagonal import check_positive_precisions, check_positive_variances
from ._mstep import expected_log_likelihood, expected_log_likelihood_diagonal
from ._prior import map_estimate, unsupported


class Layout(CovarianceModel):
    """A covariance model's storage; the M-step works on regularised scatters.

    Attributes
    ----------
    constraints : tuple of Constraint
        What the model's covariances obey beyond being positive definite
        (checked on loading, see :mod:`._constraints`).
    """

    constraints = ()

    #: Whether mclust's conjugate prior has an M-step for the model (:mod:`._prior`).
    supports_prior = False

    #: Whether the MAP M-step shrinks the means towards the prior mean (all but mclust's EEI).
    prior_shrinks_means = True

    def prior_weights(self, n_components, n_features, prior):
        """``(a, b)`` of the model's MAP M-step (:mod:`._prior`): extra counts per component and the scale's weight.

        Parameters
        ----------
        n_components, n_features : int
        prior : ConjugatePrior

        Returns
        -------
        a : ndarray of shape (n_components,)
            Added to the counts ``n_k`` (the prior's power of ``det Sigma_k``).
        b : float
            The scale's weight in each component's augmented scatter (1/K: once for a shared covariance).

        Raises
        ------
        NotSupportedError
            For the models without a MAP M-step in mclust.
        """
        from . import prior_models

        raise unsupported(self, prior_models())

    def map_estimate(self, stats, prior, reg_covar, previous=None):
        """The MAP M-step under ``prior``: ``(means, covariances)`` (:func:`._prior.map_estimate`)."""
        return map_estimate(self, stats, prior, reg_covar, previous)

    def covariances(self, stats, reg_covar, previous=None, inner_tolerance=INNER_TOLERANCE, previous_is_own=False):
        # a degenerate scatter gives zero, infinite or NaN entries, which
        # precisions_cholesky reports as a SingularCovarianceError
        scatter = self.regularised_scatter(stats, reg_covar)
        if not np.all(np.isfinite(scatter)):
            raise NumericalError(
                "The second moments of the data are not finite (overflow): standardise the features (or use float64)."
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.iterative:
                return self.covariances_from_scatter(scatter, stats.nk, previous, inner_tolerance, previous_is_own)
            return self.covariances_from_scatter(scatter, stats.nk, previous)

    @abstractmethod
    def regularised_scatter(self, stats, reg_covar):
        """The layout's scatter with ``n_k * reg_covar`` added to its diagonal.

        Returns
        -------
        ndarray of shape (K, D, D), (K, D) or (K,)
            Full scatters, their diagonals, or (spherical layout) their
            traces divided by ``D``.
        """

    @abstractmethod
    def covariances_from_scatter(self, scatter, nk, previous=None):
        """The M-step: covariances maximising the expected complete-data log-likelihood.

        That is ``-1/2 sum_k [n_k log det Sigma_k + tr(Sigma_k^-1 W_k)]``
        over the model's constraint set.

        Parameters
        ----------
        scatter : ndarray of shape (K, D, D), (K, D) or (K,)
            ``W_k`` about the new means, in the layout of
            :meth:`regularised_scatter` (``tr(W_k) / D`` for the spherical one).
        nk : ndarray of shape (K,)
            Effective counts.
        previous : ndarray of shape ``covariance_shape``, optional
            Warm start for iterative M-steps.

        Returns
        -------
        ndarray of shape ``covariance_shape``
        """

    @abstractmethod
    def pack(self, full):
        """Full matrices (K, D, D) that obey the constraints -> the stored shape."""

    def check_constraints(self, full):
        """Raise ``ValueError`` unless ``full`` (K, D, D) has this model's structure."""
        for constraint in self.constraints:
            require_structure(constraint.holds(full), self.name, constraint.broken)

    def from_full_covariances(self, full):
        full = np.asarray(full, dtype=np.float64)
        self.check_constraints(full)
        return self.pack(full)


def _add_to_diagonal(matrices, values):
    idx = np.arange(matrices.shape[-1])
    matrices[..., idx, idx] += values
    return matrices


class Full(Layout):
    """One full matrix per component, shape (K, D, D)."""

    layout = "full"

    def covariance_shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def regularised_scatter(self, stats, reg_covar):
        scatter = stats.scatter()
        scatter = 0.5 * (scatter + np.swapaxes(scatter, 1, 2))
        return _add_to_diagonal(scatter, stats.nk[:, None] * np.broadcast_to(reg_covar, (stats.n_features,)))

    def pack(self, full):
        return np.array(full, dtype=np.float64)

    def precisions_cholesky(self, covariances):
        return precision_cholesky_from_covariances(covariances, component_labels(len(covariances)))

    def check_precisions(self, precisions, name):
        check_precision_matrices(precisions, name, self.name)

    def precisions_cholesky_from_precisions(self, precisions):
        return precision_cholesky_from_precisions(precisions, "precisions_init")

    def precisions(self, precisions_cholesky):
        return precisions_cholesky @ np.swapaxes(precisions_cholesky, -1, -2)

    def kernel_factors(self, precisions_cholesky, n_components, n_features):
        return as_contiguous(precisions_cholesky)

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.log(np.diagonal(precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)

    def full_covariances(self, covariances, n_components, n_features):
        return np.array(covariances, dtype=np.float64)

    def expected_log_likelihood(self, covariances, scatter, nk):
        """``Q`` of covariances in this model's shape, given full scatters (K, D, D)."""
        k, d = scatter.shape[:2]
        return expected_log_likelihood(self.full_covariances(covariances, k, d), scatter, nk)


class SharedFull(Full):
    """One full matrix for all components, shape (D, D)."""

    shared = True

    constraints = (EQUAL_VOLUME, EQUAL_SHAPE_AND_ORIENTATION)

    def covariance_shape(self, n_components, n_features):
        return (n_features, n_features)

    def pack(self, full):
        return np.array(full[0], dtype=np.float64)

    def precisions_cholesky(self, covariances):
        return precision_cholesky_from_covariances(covariances[None], ["the tied covariance"])[0]

    def precisions_cholesky_from_precisions(self, precisions):
        return precision_cholesky_from_precisions(precisions[None], "precisions_init")[0]

    def kernel_factors(self, precisions_cholesky, n_components, n_features):
        return as_contiguous(np.broadcast_to(precisions_cholesky, (n_components,) + precisions_cholesky.shape))

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.full(n_components, np.log(np.diag(precisions_cholesky)).sum())

    def full_covariances(self, covariances, n_components, n_features):
        return np.array(np.broadcast_to(covariances, (n_components,) + covariances.shape), dtype=np.float64)

    def permute(self, covariances, order):
        return covariances


class VarianceFactors:
    """Precision factors of the diagonal and spherical layouts: one over the square root of each variance."""

    def precisions_cholesky(self, covariances):
        check_positive_variances(covariances)
        return 1.0 / np.sqrt(covariances)

    def check_precisions(self, precisions, name):
        check_positive_entries(precisions, name, self.name)

    def precisions_cholesky_from_precisions(self, precisions):
        check_positive_precisions(precisions)
        return np.sqrt(precisions)

    def precisions(self, precisions_cholesky):
        return precisions_cholesky**2


class Diagonal(VarianceFactors, Layout):
    """One diagonal (variances per feature) per component, shape (K, D)."""

    layout = "diag"
    constraints = (AXIS_ALIGNED,)

    def covariance_shape(self, n_components, n_features):
        return (n_components, n_features)

    def regularised_scatter(self, stats, reg_covar):
        return stats.scatter_diagonal() + stats.nk[:, None] * reg_covar

    def pack(self, full):
        return np.array(np.diagonal(full, axis1=1, axis2=2), dtype=np.float64)

    def kernel_factors(self, precisions_cholesky, n_components, n_features):
        return as_contiguous(precisions_cholesky[:, None, :])

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.log(precisions_cholesky).sum(axis=1)

    def full_covariances(self, covariances, n_components, n_features):
        return covariances[:, :, None] * np.eye(n_features)

    def expected_log_likelihood(self, covariances, scatter, nk):
        """``Q`` of covariances in this model's shape, given scatter diagonals (K, D)."""
        return expected_log_likelihood_diagonal(np.broadcast_to(covariances, scatter.shape), scatter, nk)


class SharedDiagonal(Diagonal):
    """One diagonal for all components, shape (D,)."""

    shared = True

    constraints = (AXIS_ALIGNED, EQUAL_VOLUME, EQUAL_SHAPE_AND_ORIENTATION)

    def covariance_shape(self, n_components, n_features):
        return (n_features,)

    def pack(self, full):
        return np.array(np.diagonal(full[0]), dtype=np.float64)

    def precisions_cholesky(self, covariances):
        check_positive_variances(covariances[None])
        return 1.0 / np.sqrt(covariances)

    def kernel_factors(self, precisions_cholesky, n_components, n_features):
        return as_contiguous(np.broadcast_to(precisions_cholesky, (n_components, 1, n_features)))

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.full(n_components, np.log(precisions_cholesky).sum())

    def full_covariances(self, covariances, n_components, n_features):
        return np.array(np.broadcast_to(np.diag(covariances), (n_components, n_features, n_features)))

    def permute(self, covariances, order):
        return covariances


class Spherical(VarianceFactors, Layout):
    """One variance per component, shape (K,)."""

    layout = "spherical"
    constraints = (AXIS_ALIGNED, ISOTROPIC)

    def covariance_shape(self, n_components, n_features):
        return (n_components,)

    def regularised_scatter(self, stats, reg_covar):
        # the trace per feature, so that a spherical M-step needs no D
        reg = np.broadcast_to(reg_covar, (stats.n_features,)).mean()
        return stats.scatter_trace() / stats.n_features + stats.nk * reg

    def pack(self, full):
        return np.array(full[:, 0, 0], dtype=np.float64)

    def kernel_factors(self, precisions_cholesky, n_components, n_features):
        # one factor per component: the kernels then return only the trace of the second moments
        return as_contiguous(np.broadcast_to(precisions_cholesky, (n_components,)).reshape(n_components, 1, 1))

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return n_features * np.log(np.broadcast_to(precisions_cholesky, (n_components,)))

    def full_covariances(self, covariances, n_components, n_features):
        return np.broadcast_to(covariances, (n_components,))[:, None, None] * np.eye(n_features)


class SharedSpherical(Spherical):
    """One variance for all components and features, shape ()."""

    shared = True

    constraints = (AXIS_ALIGNED, ISOTROPIC, EQUAL_VOLUME)

    def covariance_shape(self, n_components, n_features):
        return ()

    def pack(self, full):
        return np.array(full[0, 0, 0], dtype=np.float64)

    def precisions_cholesky(self, covariances):
        check_positive_variances(np.reshape(covariances, (1,)))
        return 1.0 / np.sqrt(covariances)

    def permute(self, covariances, order):
        return covariances
