"""EVV: equal volumes, shapes and orientations varying, ``Sigma_k = lambda C_k`` with ``det C_k = 1``."""

from .._kernels.em_run import MSTEP_EVV
from ._constraints import EQUAL_VOLUME, volumes
from ._layouts import Full


class EVV(Full):
    name = "EVV"
    m_step_family = MSTEP_EVV
    constraints = (EQUAL_VOLUME,)

    def n_covariance_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features * (n_features + 1) // 2 - 1)

    def covariances_from_scatter(self, scatter, nk, previous=None):
        # C_k = W_k / det(W_k)^(1/d) whatever lambda; then lambda = sum_k det(W_k)^(1/d) / n
        scatter_volumes = volumes(scatter)
        return scatter_volumes.sum() / nk.sum() * (scatter / scatter_volumes[:, None, None])


MODEL = EVV()
