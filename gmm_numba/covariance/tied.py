"""``tied`` (mclust EEE): one covariance matrix shared by all components."""

import numpy as np

from .._kernels.em_run import MSTEP_EEE
from ._base import CovarianceModel, as_contiguous, require_structure
from ._checks import check_precision_matrices
from ._cholesky import precision_cholesky_from_covariances, precision_cholesky_from_precisions


class Tied(CovarianceModel):
    name = "tied"
    aliases = ("EEE",)
    kernel = "full"
    m_step_family = MSTEP_EEE

    def covariance_shape(self, n_components, n_features):
        return (n_features, n_features)

    def n_covariance_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) // 2

    def covariances(self, stats, reg_covar):
        cov = stats.scatter().sum(axis=0) / stats.nk.sum()
        cov = 0.5 * (cov + cov.T)
        idx = np.arange(stats.n_features)
        cov[idx, idx] += reg_covar
        return cov

    def precisions_cholesky(self, covariances):
        return precision_cholesky_from_covariances(covariances[None], ["the tied covariance"])[0]

    def precisions_cholesky_from_precisions(self, precisions):
        return precision_cholesky_from_precisions(precisions[None], "precisions_init")[0]

    def check_precisions(self, precisions, name):
        check_precision_matrices(precisions, name, self.name)

    def precisions(self, precisions_cholesky):
        return precisions_cholesky @ precisions_cholesky.T

    def kernel_factors(self, precisions_cholesky, n_components, n_features):
        return as_contiguous(np.broadcast_to(precisions_cholesky, (n_components,) + precisions_cholesky.shape))

    def log_det_cholesky(self, precisions_cholesky, n_components, n_features):
        return np.full(n_components, np.log(np.diag(precisions_cholesky)).sum())

    def full_covariances(self, covariances, n_components, n_features):
        return np.array(np.broadcast_to(covariances, (n_components,) + covariances.shape), dtype=np.float64)

    def permute(self, covariances, order):
        return covariances

    def from_full_covariances(self, full):
        require_structure(np.allclose(full, full[0], rtol=1e-12, atol=0), self.name, "components differ")
        return np.array(full[0], dtype=np.float64)


MODEL = Tied()
