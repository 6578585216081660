"""``full`` (mclust VVV): each component has its own covariance matrix."""

from .._kernels.em_run import MSTEP_VVV
from ._layouts import Full


class VVV(Full):
    name = "full"
    aliases = ("VVV",)
    m_step_family = MSTEP_VVV

    def n_covariance_parameters(self, n_components, n_features):
        return n_components * n_features * (n_features + 1) // 2

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter / nk[:, None, None]


MODEL = VVV()
