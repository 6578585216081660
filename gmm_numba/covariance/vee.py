"""VEE: volumes varying, one shape and orientation, ``Sigma_k = lambda_k C`` with ``det C = 1``."""

import numpy as np

from .._kernels.em_run import MSTEP_VEE
from ._constraints import EQUAL_SHAPE_AND_ORIENTATION, volumes
from ._layouts import Full
from ._mstep import IterativeMStep


def _shape_then_volumes(component_volumes, scatter, nk):
    """Exact maximisation over ``C`` at fixed volumes, then over the volumes at fixed ``C``."""
    shared = np.tensordot(1.0 / component_volumes, scatter, axes=1)
    shared = shared / volumes(shared[None])[0]
    traces = np.trace(np.linalg.solve(shared, scatter), axis1=1, axis2=2)
    return traces / (nk * scatter.shape[-1]), shared


class VEE(IterativeMStep, Full):
    name = "VEE"
    m_step_family = MSTEP_VEE
    constraints = (EQUAL_SHAPE_AND_ORIENTATION,)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components + (n_features - 1) + n_features * (n_features - 1) // 2

    def initial_state(self, scatter, nk, previous):
        # equal volumes give EEE's matrix; the previous volumes, the next one
        start = np.ones(len(nk)) if previous is None else volumes(previous)
        return _shape_then_volumes(start, scatter, nk)

    def update(self, state, scatter, nk):
        return _shape_then_volumes(state[0], scatter, nk)

    def assemble(self, state):
        component_volumes, shared = state
        return component_volumes[:, None, None] * shared


MODEL = VEE()
