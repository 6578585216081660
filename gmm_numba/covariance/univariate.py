"""mclust's models for one feature: ``E`` (one variance) and ``V`` (a variance per component).

On one feature the fourteen models collapse onto these two: only the volume
(the variance) can be equal or vary across components.
"""

from .eii import EII
from .spherical import VII


class E(EII):
    name = "E"
    aliases = ()
    only_for_one_feature = True


class V(VII):
    name = "V"
    aliases = ()
    only_for_one_feature = True


MODELS = (E(), V())
