"""``tied`` (mclust EEE): one covariance matrix shared by all components."""

from .._kernels.em_run import MSTEP_EEE
from ._layouts import SharedFull


class EEE(SharedFull):
    name = "tied"
    aliases = ("EEE",)
    m_step_family = MSTEP_EEE

    def n_covariance_parameters(self, n_components, n_features):
        return n_features * (n_features + 1) // 2

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter.sum(axis=0) / nk.sum()


MODEL = EEE()
