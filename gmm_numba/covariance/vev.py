"""VEV: volumes and orientations varying, one shape, ``Sigma_k = lambda_k D_k A D_k^T``."""

import numpy as np

from .._kernels.em_run import MSTEP_VEV
from ._constraints import EQUAL_SHAPE, volumes
from ._layouts import Full
from ._mstep import IterativeMStep, common_shape_update, descending_eigh, rotate


class VEV(IterativeMStep, Full):
    """The orientations are the eigenvectors of the scatters whatever the
    volumes and shape (von Neumann's trace inequality, eigenvalues of ``W_k``
    and ``A`` both decreasing), so the updates are VEI's on the eigenvalues."""

    name = "VEV"
    m_step_family = MSTEP_VEV
    supports_prior = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust's EM: lambda_k = sum_j Omega_kj / a_j / (n_k d), the dof left out
        return np.zeros(n_components), 1.0
    constraints = (EQUAL_SHAPE,)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components + (n_features - 1) + n_components * (n_features * (n_features - 1) // 2)

    def initial_state(self, scatter, nk, previous):
        eigenvalues, eigenvectors = descending_eigh(scatter)
        start = np.ones(len(nk)) if previous is None else volumes(previous)
        return (*common_shape_update(start, eigenvalues, nk), eigenvalues, eigenvectors)

    def update(self, state, scatter, nk):
        _, _, eigenvalues, eigenvectors = state
        return (*common_shape_update(state[0], eigenvalues, nk), eigenvalues, eigenvectors)

    def assemble(self, state):
        component_volumes, shape, eigenvalues, eigenvectors = state
        return rotate(eigenvectors, component_volumes[:, None] * shape)


MODEL = VEV()
