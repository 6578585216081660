"""``full`` (mclust VVV): each component has its own covariance matrix."""

import numpy as np

from .._kernels.em_run import MSTEP_VVV
from ._layouts import Full


class VVV(Full):
    name = "full"
    aliases = ("VVV",)
    m_step_family = MSTEP_VVV
    supports_prior = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: Sigma_k = T_k / (dof + n_k + d + 2)
        return np.full(n_components, prior.dof + n_features + 2.0), 1.0

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) // 2

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter / nk[:, None, None]


MODEL = VVV()
