"""mclust's models for one feature: ``E`` (one variance) and ``V`` (a variance per component).

On one feature the fourteen models collapse onto these two: only the volume
(the variance) can be equal or vary across components.
"""

import numpy as np

from .eii import EII
from .spherical import VII


class E(EII):
    name = "E"
    aliases = ()
    only_for_one_feature = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: sigma^2 = [scale + sum_k (W_k + c_k delta_k^2)] / (dof + n + K + 2): the scale counts, once
        return np.full(n_components, (prior.dof + 2) / n_components + 1.0), 1.0 / n_components


class V(VII):
    name = "V"
    aliases = ()
    only_for_one_feature = True

    def prior_weights(self, n_components, n_features, prior):
        # mclust: sigma_k^2 = [scale + W_k + c_k delta_k^2] / (dof + n_k + 3)
        return np.full(n_components, prior.dof + 3.0), 1.0


MODELS = (E(), V())
