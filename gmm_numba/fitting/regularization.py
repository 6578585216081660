"""``reg_covar``: absolute, or relative to each feature's variance (``"auto"``).

An absolute ``reg_covar`` (scikit-learn's default, 1e-6) is added to every
covariance's diagonal whatever the units of the data, so rescaling a
feature changes the fit when variances are small. ``"auto"`` adds
``RELATIVE_REG`` times each feature's (weighted) variance instead, which
makes the fit of ``X * a + b`` the transformed fit of ``X``. A constant
feature (variance 0) gets ``RELATIVE_REG`` times the mean variance of the
other features; when every feature is constant, ``RELATIVE_REG`` times the
mean squared value of the data (1 for all-zero data), so that rescaling
still rescales the fit.
"""

import numpy as np

from ..data.checks import check_magnitude
from ..data.in_memory import feature_mean
from ..errors import warn_at_caller
from .checks import check_param

AUTO = "auto"

#: Fraction of each feature's variance added to the covariance diagonals by ``reg_covar="auto"``.
RELATIVE_REG = 1e-6


def check_reg_covar(value):
    """Validate ``reg_covar``: a finite number >= 0, or ``"auto"``."""
    if isinstance(value, str):
        if value != AUTO:
            raise TypeError(f"reg_covar must be a real number >= 0 or 'auto', got {value!r}.")
        return value
    return check_param("reg_covar", value, "float", low=0)


def resolve_reg_covar(value, data):
    """The regularisation to add to covariance diagonals.

    Every fit passes here before EM, so this is also where data whose
    magnitude float64 cannot fit is refused (:func:`~gmm_numba.data.checks.check_magnitude`),
    and where an absolute ``value`` larger than a feature's variance is warned about.

    Parameters
    ----------
    value : float or "auto"
    data : data source (``feature_variance()``, and its mean when a feature is constant)

    Returns
    -------
    float or ndarray of shape (n_features,)

    Warns
    -----
    UserWarning
        An absolute ``value`` larger than a feature's variance.

    Raises
    ------
    NumericalError
        The data's spread, or for constant data under ``"auto"`` its magnitude, is out of float64's range.
    """
    variance = data.feature_variance()
    mean = feature_mean(data)[1] if not np.all((variance > 0) & np.isfinite(variance)) else None
    check_magnitude(variance, mean)
    if not isinstance(value, str):
        _warn_if_dominant(float(value), variance)
        return float(value)
    if np.any(variance > 0):
        # a constant feature would get zero regularisation: fall back to the mean scale
        return RELATIVE_REG * np.where(variance > 0, variance, np.mean(variance))
    return RELATIVE_REG * np.full_like(variance, _mean_square(mean))


def _warn_if_dominant(reg_covar, variance):
    """Warn when an absolute ``reg_covar`` exceeds a feature's variance: the fit would be mostly regularisation."""
    positive = variance[variance > 0]
    if positive.size and reg_covar > positive.min():
        j = int(np.flatnonzero(variance == positive.min())[0])
        warn_at_caller(
            f"reg_covar={reg_covar:g} is larger than the variance of feature {j} ({variance[j]:.3g}): the "
            "covariances will be mostly regularisation, and components may look collapsed. Rescale the data "
            "(for example X / X.std(axis=0)) or use reg_covar='auto', which scales with the data.",
            UserWarning,
        )


def _mean_square(mean):
    """Mean squared value of the features' means (1 when they are all zero)."""
    square = float(np.mean(mean**2))
    return square if square > 0 else 1.0
