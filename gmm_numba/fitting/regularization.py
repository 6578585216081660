"""``reg_covar``: absolute, or relative to each feature's variance (``"auto"``).

An absolute ``reg_covar`` (scikit-learn's default, 1e-6) is added to every
covariance's diagonal whatever the units of the data, so rescaling a
feature changes the fit when variances are small. ``"auto"`` adds
``RELATIVE_REG`` times each feature's (weighted) variance instead, which
makes the fit of ``X * a + b`` the transformed fit of ``X``.
"""

import numpy as np

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

    Parameters
    ----------
    value : float or "auto"
    data : data source (``feature_variance()`` is used for ``"auto"``)

    Returns
    -------
    float or ndarray of shape (n_features,)
    """
    if isinstance(value, str):
        variance = data.feature_variance()
        # a constant feature would get zero regularisation: fall back to the mean scale
        floor = np.mean(variance) if np.any(variance > 0) else 1.0
        return RELATIVE_REG * np.where(variance > 0, variance, floor)
    return float(value)
