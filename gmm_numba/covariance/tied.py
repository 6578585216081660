"""``tied`` (mclust EEE): one covariance matrix shared by all components."""

import numpy as np

from .._kernels.em_run import MSTEP_EEE
from ._layouts import SharedFull


class EEE(SharedFull):
    name = "tied"
    aliases = ("EEE",)
    m_step_family = MSTEP_EEE
    supports_prior = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: Sigma = [scale + sum_k (W_k + c_k delta_k delta_k^T)] / (dof + d + 1 + K [kappa > 0] + n)
        return np.full(n_components, (prior.dof + n_features + 1) / n_components + prior.shrinks), 1.0 / n_components

    def n_covariance_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) // 2

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter.sum(axis=0) / nk.sum()


MODEL = EEE()
