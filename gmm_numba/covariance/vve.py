"""VVE: volumes and shapes varying, one orientation, ``Sigma_k = lambda_k D A_k D^T``."""

from .._kernels.em_run import MSTEP_VVE
from ._constraints import COMMON_ORIENTATION
from ._layouts import Full
from ._mstep import (
    IterativeMStep,
    candidate_orientations,
    eigenvalue_bounds_of_nonsingular,
    orientation_step,
    rotate,
    rotated_diagonals,
    shared_orientation,
)


class VVE(IterativeMStep, Full):
    """At fixed ``D`` the variances are VVI's in the ``D`` basis; ``D`` is
    updated by Browne & McNicholas' (2014) MM steps."""

    name = "VVE"
    m_step_family = MSTEP_VVE
    constraints = (COMMON_ORIENTATION,)

    def n_covariance_parameters(self, n_components, n_features):
        return n_components + n_components * (n_features - 1) + n_features * (n_features - 1) // 2

    def initial_states(self, scatter, nk, previous):
        bounds = eigenvalue_bounds_of_nonsingular(scatter, self.name)
        orientations = candidate_orientations(scatter, nk) if previous is None else [shared_orientation(previous)]
        return [(orientation, self._variances(orientation, scatter, nk), bounds) for orientation in orientations]

    def update(self, state, scatter, nk):
        orientation, variances, bounds = state
        orientation = orientation_step(orientation, scatter, 1.0 / variances, bounds)
        return orientation, self._variances(orientation, scatter, nk), bounds

    @staticmethod
    def _variances(orientation, scatter, nk):
        """VVI's variances in the ``D`` basis, shape (K, D)."""
        return rotated_diagonals(orientation, scatter) / nk[:, None]

    def assemble(self, state):
        orientation, variances, _ = state
        return rotate(orientation, variances)


MODEL = VVE()
