"""EVI: equal volumes, diagonal shapes varying, ``Sigma_k = lambda B_k`` with ``det B_k = 1``."""

import numpy as np

from .._kernels.em_run import MSTEP_EVI
from ._constraints import EQUAL_VOLUME
from ._layouts import Diagonal
from ._mstep import geometric_mean


class EVI(Diagonal):
    name = "EVI"
    m_step_family = MSTEP_EVI
    supports_prior = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: lambda = sum_k det(T_k)^(1/d) / (dof + n + 1 + [kappa > 0])
        return np.full(n_components, (prior.dof + 1 + prior.shrinks) / n_components), 1.0
    constraints = Diagonal.constraints + (EQUAL_VOLUME,)

    def n_covariance_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features - 1)

    def covariances_from_scatter(self, scatter, nk, previous=None):
        # For any lambda, B_k = diag(W_k) / det(diag W_k)^(1/d) minimises
        # tr(W_k B_k^-1) under det B_k = 1, leaving d det(diag W_k)^(1/d).
        volumes = geometric_mean(scatter)
        shapes = scatter / volumes[:, None]
        return volumes.sum() / nk.sum() * shapes


MODEL = EVI()
