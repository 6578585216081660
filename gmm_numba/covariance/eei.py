"""EEI: one diagonal covariance shared by all components, ``Sigma_k = lambda B``."""

import numpy as np

from .._kernels.em_run import MSTEP_EEI
from ._layouts import SharedDiagonal


class EEI(SharedDiagonal):
    name = "EEI"
    m_step_family = MSTEP_EEI
    supports_prior = True
    prior_shrinks_means = False  # mclust's EM keeps the means at the weighted averages for EEI

    def prior_weights(self, n_components, n_features, prior):
        # mclust: B = [scale + sum_k (diag W_k + c_k delta_k^2)] / (dof + n + 1 + [kappa > 0])
        return np.full(n_components, (prior.dof + 1 + prior.shrinks) / n_components), 1.0 / n_components

    def n_covariance_parameters(self, n_components, n_features):
        return n_features

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter.sum(axis=0) / nk.sum()


MODEL = EEI()
