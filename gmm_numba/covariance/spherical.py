"""``spherical`` (mclust VII): each component has a single variance."""

from .._kernels.em_run import MSTEP_VII
from ._layouts import Spherical


class VII(Spherical):
    name = "spherical"
    aliases = ("VII",)
    m_step_family = MSTEP_VII

    def n_covariance_parameters(self, n_components, n_features):
        return n_components

    def covariances_from_scatter(self, scatter, nk, previous=None):
        return scatter / nk


MODEL = VII()
