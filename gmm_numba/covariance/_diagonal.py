"""Checks shared by the models with diagonal factors."""

import numpy as np

from ..errors import SingularCovarianceError
from ._cholesky import SINGULAR_ADVICE


def check_positive_variances(variances):
    variances = np.asarray(variances)
    if variances.size and variances.min() > 0 and variances.max() < np.inf:  # NaN fails both comparisons
        return
    positive = (variances > 0) & np.isfinite(variances)
    bad = np.flatnonzero(~positive.reshape(len(variances), -1).all(axis=1))
    if bad.size:
        raise SingularCovarianceError(
            f"The variance of component {bad[0]} is zero or negative "
            f"(it collapsed onto too few points). {SINGULAR_ADVICE}"
        )


def check_positive_precisions(precisions):
    if not np.all(np.asarray(precisions) > 0):
        raise ValueError("precisions_init must be positive for this covariance_type.")
