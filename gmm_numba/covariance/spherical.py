"""``spherical`` (mclust VII): each component has a single variance."""

import numpy as np

from .._kernels.em_run import MSTEP_VII
from ._base import CovarianceModel, as_contiguous, require_structure
from ._checks import check_positive_entries
from ._diagonal import check_positive_precisions, check_positive_variances


class Spherical(CovarianceModel):
    name = "spherical"
    aliases = ("VII",)
    kernel = "diag"
    m_step_family = MSTEP_VII

    def covariance_shape(self, n_components, n_features):
        return (n_components,)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components

    def covariances(self, stats, reg_covar):
        # the mean over features of the diagonal model's variances
        reg = np.broadcast_to(reg_covar, (stats.n_features,)).mean()
        return stats.scatter_trace() / (stats.nk * stats.n_features) + reg

    def precisions_cholesky(self, covariances):
        check_positive_variances(covariances)
        return 1.0 / np.sqrt(covariances)

    def precisions_cholesky_from_precisions(self, precisions):
        check_positive_precisions(precisions)
        return np.sqrt(precisions)

    def check_precisions(self, precisions, name):
        check_positive_entries(precisions, name, self.name)

    def precisions(self, precisions_cholesky):
        return precisions_cholesky**2

    def kernel_factors(self, precisions_cholesky, n_components, n_features):
        # one factor per component: the kernels then return only the trace of the second moments
        return as_contiguous(precisions_cholesky[:, None, None])

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return n_features * np.log(precisions_cholesky)

    def full_covariances(self, covariances, n_components, n_features):
        return covariances[:, None, None] * np.eye(n_features)

    def from_full_covariances(self, full):
        diagonal = np.diagonal(full, axis1=1, axis2=2)
        require_structure(np.allclose(diagonal, diagonal[:, :1], rtol=1e-12, atol=0), self.name, "unequal variances")
        return np.array(diagonal[:, 0], dtype=np.float64)


MODEL = Spherical()
