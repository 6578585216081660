"""``diag`` (mclust VVI): each component has its own diagonal covariance."""

import numpy as np

from .._kernels.em_run import MSTEP_VVI
from ._layouts import Diagonal


class VVI(Diagonal):
    name = "diag"
    aliases = ("VVI",)
    m_step_family = MSTEP_VVI
    supports_prior = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: Sigma_k = T_k / (n_k + dof + 2 + [kappa > 0])
        return np.full(n_components, prior.dof + 2 + prior.shrinks), 1.0

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter / nk[:, None]


MODEL = VVI()
