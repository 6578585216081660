"""Cholesky helpers shared by the covariance models."""

import numpy as np
from scipy import linalg

from .. import _kernels
from ..errors import SingularCovarianceError

SINGULAR_ADVICE = "Try a larger reg_covar, fewer components, or standardising the features."


def precision_cholesky_from_covariances(covariances, labels):
    """Upper-triangular ``P`` with ``P P^T = Sigma^-1`` for each matrix.

    Parameters
    ----------
    covariances : ndarray of shape (n_matrices, n_features, n_features)
    labels : list of str
        How to name each matrix in an error message.

    Returns
    -------
    ndarray of shape (n_matrices, n_features, n_features)

    Raises
    ------
    SingularCovarianceError
        If a matrix is not (numerically) positive definite.
    """
    factors, failed = _kernels.precision_cholesky(np.ascontiguousarray(covariances, dtype=np.float64))
    if failed >= 0:
        raise SingularCovarianceError(
            f"The covariance of {labels[failed]} is singular or not positive definite "
            f"(it collapsed onto too few points). {SINGULAR_ADVICE}"
        )
    return factors


def precision_cholesky_from_precisions(precisions, what):
    """Upper-triangular ``P`` with ``P P^T = Lambda`` for each precision matrix.

    The factor of ``Lambda`` with its rows and columns reversed, reversed
    back, is upper triangular.

    Parameters
    ----------
    precisions : ndarray of shape (n_matrices, n_features, n_features)
    what : str
        Name of the argument, for error messages.

    Returns
    -------
    ndarray of shape (n_matrices, n_features, n_features)
    """
    out = np.empty_like(precisions)
    for k, prec in enumerate(precisions):
        if not np.allclose(prec, prec.T, rtol=1e-10, atol=1e-12 * np.abs(prec).max()):
            raise ValueError(f"{what}[{k}] is not symmetric.")
        try:
            flipped = linalg.cholesky(prec[::-1, ::-1], lower=True)
        except (linalg.LinAlgError, ValueError):
            raise ValueError(f"{what}[{k}] is not positive definite.") from None
        out[k] = flipped[::-1, ::-1]
    return out
