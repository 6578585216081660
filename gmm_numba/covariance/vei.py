"""VEI: volumes varying, one diagonal shape, ``Sigma_k = lambda_k B`` with ``det B = 1``."""

import numpy as np

from .._kernels.em_run import MSTEP_VEI
from ._constraints import EQUAL_SHAPE_AND_ORIENTATION
from ._layouts import Diagonal
from ._mstep import IterativeMStep, common_shape_update, geometric_mean


class VEI(IterativeMStep, Diagonal):
    name = "VEI"
    m_step_family = MSTEP_VEI
    supports_prior = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: lambda_k = sum_j T_kj / a_j / (n_k d + dof + 2 + [kappa > 0])
        return np.full(n_components, (prior.dof + 2 + prior.shrinks) / n_features), 1.0
    constraints = Diagonal.constraints + (EQUAL_SHAPE_AND_ORIENTATION,)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components + (n_features - 1)

    def initial_state(self, scatter, nk, previous):
        # equal volumes give EEI's shape; the previous volumes, the next shape
        volumes = np.ones(len(nk)) if previous is None else geometric_mean(previous)
        return common_shape_update(volumes, scatter, nk)

    def update(self, state, scatter, nk):
        return common_shape_update(state[0], scatter, nk)

    def assemble(self, state):
        volumes, shape = state
        return volumes[:, None] * shape


MODEL = VEI()
