"""``spherical`` (mclust VII): each component has a single variance."""

import numpy as np

from .._kernels.em_run import MSTEP_VII
from ._layouts import Spherical


class VII(Spherical):
    name = "spherical"
    aliases = ("VII",)
    m_step_family = MSTEP_VII
    supports_prior = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: sigma_k^2 = [scale + tr W_k + c_k |delta_k|^2] / (dof + n_k d + 2 + d [kappa > 0])
        return np.full(n_components, (prior.dof + 2) / n_features + prior.shrinks), 1.0 / n_features

    def n_covariance_parameters(self, n_components, n_features):
        return n_components

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter / nk


MODEL = VII()
