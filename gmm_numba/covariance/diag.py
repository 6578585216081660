"""``diag`` (mclust VVI): each component has its own diagonal covariance."""

from .._kernels.em_run import MSTEP_VVI
from ._layouts import Diagonal


class VVI(Diagonal):
    name = "diag"
    aliases = ("VVI",)
    m_step_family = MSTEP_VVI

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter / nk[:, None]


MODEL = VVI()
