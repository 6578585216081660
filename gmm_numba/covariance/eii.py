"""EII: one variance shared by all components and features, ``Sigma_k = lambda I``."""

import numpy as np

from .._kernels.em_run import MSTEP_EII
from ._layouts import SharedSpherical


class EII(SharedSpherical):
    name = "EII"
    m_step_family = MSTEP_EII
    supports_prior = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: lambda = sum_k [tr W_k + c_k |delta_k|^2] / (dof + (n + K) d + 2); its EM leaves the scale out
        return np.full(n_components, (prior.dof + 2) / (n_components * n_features) + 1.0), 0.0

    def n_covariance_parameters(self, n_components, n_features):
        return 1

    def covariances_from_scatter(self, scatter, nk, previous=None):
        # lambda = sum_k tr(W_k) / (n d); the scatter is already tr(W_k) / d
        return scatter.sum() / nk.sum()


MODEL = EII()
