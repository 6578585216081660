"""EII: one variance shared by all components and features, ``Sigma_k = lambda I``."""

from .._kernels.em_run import MSTEP_EII
from ._layouts import SharedSpherical


class EII(SharedSpherical):
    name = "EII"
    m_step_family = MSTEP_EII

    def n_covariance_parameters(self, n_components, n_features):
        return 1

    def covariances_from_scatter(self, scatter, nk, previous=None):
        # lambda = sum_k tr(W_k) / (n d); the scatter is already tr(W_k) / d
        return scatter.sum() / nk.sum()


MODEL = EII()
