"""The contract every covariance model fulfils."""

from abc import ABC, abstractmethod

import numpy as np

from .._kernels.constrained import INNER_TOLERANCE


class CovarianceModel(ABC):
    """One covariance structure, as a function of the sufficient statistics.

    A model owns everything that depends on the structure of the
    covariances: their shape, their free-parameter count, the M-step for
    them, and the precision factors the E-step kernels take. The EM driver
    only talks to this interface, so a new model is a new module.

    Attributes
    ----------
    name : str
        The scikit-learn name (or the mclust name for models scikit-learn lacks).
    aliases : tuple of str
        Other names that reach this model, such as mclust's.
    layout : {"full", "diag", "spherical"}
        Which layout of precision factors the E-step kernels take: full
        (K, D, D), diagonal (K, 1, D) or spherical (K, 1, 1). The kernels
        return second moments in the matching layout (full matrices, their
        diagonals or their traces), so it also fixes which scatter the
        M-step can use.
    shared : bool
        One covariance matrix for every component (EII, EEI, EEE, E).
    only_for_one_feature : bool
        mclust's ``E`` and ``V``, which exist for one feature only.
    iterative : bool
        The M-step alternates updates until its objective settles, and takes
        an ``inner_tolerance`` (VEI, VEE, VEV, EVE, VVE).
    m_step_family : int or None
        The ``MSTEP_*`` code of :mod:`gmm_numba._kernels.em_run` whose M-step is
        this model's, for whole EM runs in one compiled call; None where the
        M-step exists only in Python.
    """

    name = ""
    aliases = ()
    layout = "full"
    m_step_family = None
    only_for_one_feature = False
    shared = False
    iterative = False

    @abstractmethod
    def covariance_shape(self, n_components, n_features):
        """Shape of ``covariances_``, ``precisions_`` and ``precisions_cholesky_``."""

    @abstractmethod
    def n_covariance_parameters(self, n_components, n_features):
        """Number of free parameters in the covariances."""

    @property
    def mclust_name(self):
        """mclust's name for the model (``"VVV"`` for ``"full"``)."""
        return next((n for n in (self.name, *self.aliases) if n.isupper()), self.name)

    def n_parameters(self, n_components, n_features):
        """Free parameters of the whole mixture: means, weights and covariances."""
        return n_components * n_features + n_components - 1 + self.n_covariance_parameters(n_components, n_features)

    @abstractmethod
    def covariances(self, stats, reg_covar, previous=None, inner_tolerance=INNER_TOLERANCE, previous_is_own=False):
        """M-step for the covariances.

        Parameters
        ----------
        stats : SufficientStatistics
        reg_covar : float or ndarray of shape (n_features,)
            Regularisation: ``n_k * reg_covar`` is added to the diagonal of
            each component's scatter before the constrained M-step, so the
            result keeps the model's constraints.
        previous : ndarray of shape ``covariance_shape``, optional
            The covariances of the previous M-step, a warm start for models
            whose M-step is iterative (ignored by the closed-form ones).
        inner_tolerance : float, default=INNER_TOLERANCE
            Where an iterative M-step stops (relative change of its
            objective); ignored by the closed-form ones.
        previous_is_own : bool, default=False
            ``previous`` is this model's own last M-step, from which an
            iterative M-step can only rise: it is not compared with the end
            of the updates (``START_OWN``). Ignored by the closed-form ones.

        Returns
        -------
        ndarray of shape ``covariance_shape``
        """

    @abstractmethod
    def precisions_cholesky(self, covariances):
        """Precision factors ``P`` (``P P^T = Sigma^-1``, upper triangular) of ``covariances``."""

    @abstractmethod
    def precisions_cholesky_from_precisions(self, precisions):
        """Precision factors from user-given precision matrices (validated)."""

    @abstractmethod
    def check_precisions(self, precisions, name):
        """Raise ``ValueError`` naming ``name`` unless ``precisions`` (in the model's shape) are valid for the model."""

    @abstractmethod
    def precisions(self, precisions_cholesky):
        """Precision matrices ``P P^T`` in the model's shape."""

    @abstractmethod
    def kernel_factors(self, precisions_cholesky, n_components, n_features):
        """Factors laid out for the kernels.

        Returns
        -------
        ndarray of shape (n_components, n_features, n_features), (n_components, 1, n_features)
        or (n_components, 1, 1)
            C-contiguous float64 (full, diagonal or spherical layout; see :mod:`gmm_numba._kernels`).
        """

    @abstractmethod
    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        """``log |P_k|`` per component, shape (n_components,)."""

    @abstractmethod
    def full_covariances(self, covariances, n_components, n_features):
        """Covariances as full matrices, shape (n_components, n_features, n_features)."""

    @abstractmethod
    def from_full_covariances(self, full):
        """Inverse of :meth:`full_covariances` (for loading saved results).

        Raises ``ValueError`` when ``full`` does not have this model's structure.
        """

    def permute(self, covariances, order):
        """Covariances with the components reordered by ``order``."""
        return covariances[order]

    def __repr__(self):
        return f"<covariance model {self.name!r}>"


def component_labels(n):
    return [f"component {k}" for k in range(n)]


def require_structure(ok, model, what):
    if not ok:
        raise ValueError(f"the covariances are not of the {model!r} form: {what}")


def as_contiguous(a):
    """``a`` as the kernels take it: C-contiguous, float64 and writeable (Numba compiles every kernel
    again for a read-only array)."""
    a = np.ascontiguousarray(a, dtype=np.float64)
    return a if a.flags.writeable else a.copy()
