"""The check for degenerate runs of a sweep: a component collapsed onto points that share a value."""

import numpy as np

from .._kernels import precision_cholesky

#: A component whose covariance, less the regularisation and in units of
#: the data's per-feature variances, has an eigenvalue below this is
#: degenerate: it sits on points that share a value (or a subspace).
COLLAPSE_TOLERANCE = 1e-8


def collapse_check(reg_covar, feature_variance, feature_names, resolution=None):
    """A function that names the first collapsed component of a fit, or returns ''.

    With ``reg_covar > 0`` a component that falls onto points sharing a
    value gets variance ``reg_covar`` instead of failing, and its density
    spike inflates the likelihood. mclust, which does not regularise,
    reports such cells as singular; so does :func:`gmm_numba.select` by default.

    The same happens, less blatantly, with data recorded to a fixed
    precision (integers, one decimal): a component can sit on a few points
    that share a value up to the rounding and take a variance below what the
    rounding alone gives. A run is degenerate when, after the regularisation
    is removed, some direction of a component's covariance has less variance
    than the rounding noise of the features would (``h_i^2 / 12`` for
    resolution ``h_i``), or less than ``COLLAPSE_TOLERANCE`` times the
    feature's variance.

    Parameters
    ----------
    reg_covar : float or ndarray of shape (n_features,)
    feature_variance : ndarray of shape (n_features,)
    feature_names : list of str
    resolution : ndarray of shape (n_features,), optional
        The recording precision of each feature (:func:`recording_resolution`);
        zeros (the default) for continuous data.
    """
    resolution = np.zeros(len(feature_variance)) if resolution is None else np.asarray(resolution, dtype=float)
    # a constant feature (variance 0) is measured against the regularisation instead
    relative_to = np.maximum(np.asarray(feature_variance, dtype=float), np.broadcast_to(reg_covar, resolution.shape))
    collapse_floor = COLLAPSE_TOLERANCE * relative_to
    rounding_floor = np.maximum(collapse_floor, resolution**2 / 12.0)

    collapse_scale, rounding_scale = (np.sqrt(np.maximum(floor, np.finfo(float).tiny))
                                      for floor in (collapse_floor, rounding_floor))
    identity = np.eye(len(rounding_floor))
    regularisation_diagonal = np.broadcast_to(np.asarray(reg_covar, dtype=float), resolution.shape).copy()
    regularisation = np.diag(regularisation_diagonal)
    # each floor's scale as a column and as a row, made once: the check runs after every run of a sweep
    collapse_units, rounding_units = ((scale[:, None], scale[None, :]) for scale in (collapse_scale, rounding_scale))

    def in_floor_units(full, units):
        """Covariances (K, D, D) in units of a floor: entry ``(i, j)`` divided by ``scale_i scale_j``, where
        ``scale = sqrt(floor)`` and ``units`` is ``scale`` as a column and as a row (``collapse_units`` or
        ``rounding_units``)."""
        column, row = units
        return full / column / row

    def smallest_variance(full, units, diagonal):
        """``(value, component, feature)``: the least variance of any component in units of the floor of ``units``."""
        scaled = in_floor_units(full, units)
        if diagonal:
            variances = np.diagonal(scaled, axis1=1, axis2=2)
            k, i = np.unravel_index(np.argmin(variances), variances.shape)
            return variances[k, i], k, i
        values, vectors = np.linalg.eigh(scaled)
        k = int(np.argmin(values[:, 0]))
        return values[k, 0], k, int(np.argmax(np.abs(vectors[k, :, 0])))

    def above_rounding_floor(full):
        """Whether every full covariance less ``diag(rounding_floor)`` is positive definite (one Cholesky
        factorisation each, several times cheaper than the eigenvalues); then no component is degenerate, since
        ``rounding_floor`` is at least ``collapse_floor``."""
        return precision_cholesky(np.ascontiguousarray(in_floor_units(full, rounding_units) - identity))[1] < 0

    def check(params):
        full = params.full_covariances()
        diagonal = params.model.layout != "full"
        if diagonal:
            variances = full.diagonal(0, 1, 2) - regularisation_diagonal
            if (variances / rounding_scale / rounding_scale).min() >= 1.0:
                return ""  # every variance at or above the rounding floor, so above the collapse floor too
        full = full - regularisation
        if not diagonal and above_rounding_floor(full):
            return ""
        value, k, i = smallest_variance(full, collapse_units, diagonal)
        if value < 1.0 and diagonal:
            return (
                f"component {k} collapsed: its variance of feature {feature_names[i]!r} fell to the "
                "regularisation floor (the points it holds share that value)."
            )
        if value < 1.0:
            return f"component {k} collapsed onto a lower-dimensional set (singular covariance before regularisation)."
        value, k, i = smallest_variance(full, rounding_units, diagonal)
        if value < 1.0:
            return (
                f"component {k} sits on points that share their value of feature {feature_names[i]!r} up to the "
                f"data's recording precision ({resolution[i]:.3g}): its variance there is below the rounding's."
            )
        return ""

    return check


def recording_resolution(X):
    """The smallest gap between distinct values of each feature: its recording precision at most.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        NaN (a missing entry) is ignored.

    Returns
    -------
    ndarray of shape (n_features,)
        0 for a feature with fewer than two distinct values.
    """
    out = np.zeros(X.shape[1])
    for i in range(X.shape[1]):
        values = X[:, i]
        gaps = np.diff(np.unique(values[~np.isnan(values)]))
        out[i] = gaps.min() if gaps.size else 0.0
    return out
