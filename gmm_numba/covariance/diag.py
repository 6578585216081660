"""``diag`` (mclust VVI): each component has its own diagonal covariance."""

import numpy as np

from .._kernels.em_run import MSTEP_VVI
from ._base import CovarianceModel, as_contiguous, require_structure
from ._checks import check_positive_entries
from ._diagonal import check_positive_precisions, check_positive_variances


class Diag(CovarianceModel):
    name = "diag"
    aliases = ("VVI",)
    kernel = "diag"
    m_step_family = MSTEP_VVI

    def covariance_shape(self, n_components, n_features):
        return (n_components, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features

    def covariances(self, stats, reg_covar):
        return stats.scatter_diagonal() / stats.nk[:, None] + reg_covar

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
        return as_contiguous(precisions_cholesky[:, None, :])

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.log(precisions_cholesky).sum(axis=1)

    def full_covariances(self, covariances, n_components, n_features):
        return np.stack([np.diag(c) for c in covariances])

    def from_full_covariances(self, full):
        diagonal = np.diagonal(full, axis1=1, axis2=2)
        off = full - np.stack([np.diag(d) for d in diagonal])
        require_structure(not np.any(off), self.name, "off-diagonal entries are not zero")
        return np.array(diagonal, dtype=np.float64)


MODEL = Diag()
