"""EEV: equal volumes and shapes, orientations varying, ``Sigma_k = lambda D_k A D_k^T``."""

import numpy as np

from .._kernels.em_run import MSTEP_EEV
from ._constraints import EQUAL_SHAPE, EQUAL_VOLUME
from ._layouts import Full
from ._mstep import descending_eigh, geometric_mean, rotate


class EEV(Full):
    name = "EEV"
    m_step_family = MSTEP_EEV
    supports_prior = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: lambda = det(sum_k Omega_k)^(1/d) / (dof + d + 1 + [kappa > 0] + n), Omega_k the eigenvalues of T_k
        return np.full(n_components, (prior.dof + n_features + 1 + prior.shrinks) / n_components), 1.0
    constraints = (EQUAL_VOLUME, EQUAL_SHAPE)

    def n_covariance_parameters(self, n_components, n_features):
        return 1 + (n_features - 1) + n_components * (n_features * (n_features - 1) // 2)

    def covariances_from_scatter(self, scatter, nk, previous=None):
        # With W_k = L_k Omega_k L_k^T (eigenvalues decreasing), D_k = L_k pairs
        # the largest eigenvalues of W_k with the largest of A (von Neumann's
        # trace inequality), leaving A proportional to sum_k Omega_k.
        eigenvalues, eigenvectors = descending_eigh(scatter)
        pooled = eigenvalues.sum(axis=0)
        volume = geometric_mean(pooled)
        shape = pooled / volume
        return rotate(eigenvectors, volume / nk.sum() * np.broadcast_to(shape, eigenvalues.shape))


MODEL = EEV()
