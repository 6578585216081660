"""``full`` (mclust VVV): each component has its own covariance matrix."""

import numpy as np

from .._kernels.em_run import MSTEP_VVV
from ._base import CovarianceModel, as_contiguous, component_labels
from ._checks import check_precision_matrices
from ._cholesky import precision_cholesky_from_covariances, precision_cholesky_from_precisions


class Full(CovarianceModel):
    name = "full"
    aliases = ("VVV",)
    kernel = "full"
    m_step_family = MSTEP_VVV

    def covariance_shape(self, n_components, n_features):
        return (n_components, n_features, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) // 2

    def covariances(self, stats, reg_covar):
        cov = stats.scatter() / stats.nk[:, None, None]
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        idx = np.arange(stats.n_features)
        cov[:, idx, idx] += reg_covar
        return cov

    def precisions_cholesky(self, covariances):
        return precision_cholesky_from_covariances(covariances, component_labels(len(covariances)))

    def precisions_cholesky_from_precisions(self, precisions):
        return precision_cholesky_from_precisions(precisions, "precisions_init")

    def check_precisions(self, precisions, name):
        check_precision_matrices(precisions, name, self.name)

    def precisions(self, precisions_cholesky):
        return precisions_cholesky @ np.swapaxes(precisions_cholesky, 1, 2)

    def kernel_factors(self, precisions_cholesky, n_components, n_features):
        return as_contiguous(precisions_cholesky)

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.log(np.diagonal(precisions_cholesky, axis1=1, axis2=2)).sum(axis=1)

    def full_covariances(self, covariances, n_components, n_features):
        return np.array(covariances, dtype=np.float64)

    def from_full_covariances(self, full):
        return np.array(full, dtype=np.float64)


MODEL = Full()
