"""EEI: one diagonal covariance shared by all components, ``Sigma_k = lambda B``."""

from .._kernels.em_run import MSTEP_EEI
from ._layouts import SharedDiagonal


class EEI(SharedDiagonal):
    name = "EEI"
    m_step_family = MSTEP_EEI

    def n_covariance_parameters(self, n_components, n_features):
        return n_features

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter.sum(axis=0) / nk.sum()


MODEL = EEI()
