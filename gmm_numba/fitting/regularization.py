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
    magnitude float64 cannot fit is refused (:func:`~gmm_numba.data.checks.check_magnitude`).

    Parameters
    ----------
    value : float or "auto"
    data : data source (``feature_variance()``, and its mean when a feature is constant)

    Returns
    -------
    float or ndarray of shape (n_features,)

    Raises
    ------
    NumericalError
        The data's spread, or for constant data under ``"auto"`` its magnitude, is out of float64's range.
    """
    variance = data.feature_variance()
    mean = feature_mean(data)[1] if not np.all((variance > 0) & np.isfinite(variance)) else None
    check_magnitude(variance, mean)
    if not isinstance(value, str):
        return float(value)
    if np.any(variance > 0):
        # a constant feature would get zero regularisation: fall back to the mean scale
        return RELATIVE_REG * np.where(variance > 0, variance, np.mean(variance))
    return RELATIVE_REG * np.full_like(variance, _mean_square(mean))


def _mean_square(mean):
    """Mean squared value of the features' means (1 when they are all zero)."""
    square = float(np.mean(mean**2))
    return square if square > 0 else 1.0
