"""EVE: equal volumes, shapes varying, one orientation, ``Sigma_k = lambda D A_k D^T``."""

from .._kernels.em_run import MSTEP_EVE
from ._constraints import COMMON_ORIENTATION, EQUAL_VOLUME
from ._layouts import Full
from ._mstep import (
    IterativeMStep,
    candidate_orientations,
    eigenvalue_bounds_of_nonsingular,
    geometric_mean,
    orientation_step,
    rotate,
    rotated_diagonals,
    shared_orientation,
)


def _volume_and_shapes(orientation, scatter, nk):
    """Exact maximisation over ``lambda`` and the ``A_k`` at fixed ``D`` (EVI in the ``D`` basis).

    Returns
    -------
    ndarray of shape (K, D)
        The variances ``lambda A_k`` in the ``D`` basis.
    """
    diagonals = rotated_diagonals(orientation, scatter)
    component_volumes = geometric_mean(diagonals)
    return component_volumes.sum() / nk.sum() * (diagonals / component_volumes[:, None])


class EVE(IterativeMStep, Full):
    """The orientation ``D`` is updated by Browne & McNicholas' (2014) MM steps."""

    name = "EVE"
    m_step_family = MSTEP_EVE
    constraints = (EQUAL_VOLUME, COMMON_ORIENTATION)

    def n_covariance_parameters(self, n_components, n_features):
        return 1 + n_components * (n_features - 1) + n_features * (n_features - 1) // 2

    def initial_states(self, scatter, nk, previous):
        bounds = eigenvalue_bounds_of_nonsingular(scatter, self.name)
        orientations = candidate_orientations(scatter, nk) if previous is None else [shared_orientation(previous)]
        return [(orientation, _volume_and_shapes(orientation, scatter, nk), bounds) for orientation in orientations]

    def update(self, state, scatter, nk):
        orientation, variances, bounds = state
        orientation = orientation_step(orientation, scatter, 1.0 / variances, bounds)
        return orientation, _volume_and_shapes(orientation, scatter, nk), bounds

    def assemble(self, state):
        orientation, variances, _ = state
        return rotate(orientation, variances)


MODEL = EVE()
