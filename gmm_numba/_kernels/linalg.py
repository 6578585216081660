"""Small dense linear algebra for the M-step, without per-call Python overhead."""

import math

import numpy as np
from numba import njit

from .config import JIT


@njit(**JIT)
def precision_cholesky(covariances):
    """Upper-triangular ``P_k`` with ``P_k P_k^T = Sigma_k^-1`` for each matrix.

    Computes the lower Cholesky factor ``L`` of ``Sigma`` and returns
    ``P = L^-T``.

    Parameters
    ----------
    covariances : array of shape (n_matrices, n_features, n_features), float64

    Returns
    -------
    factors : array of shape (n_matrices, n_features, n_features)
    failed : int
        Index of the first matrix that is not positive definite, or -1.
    """
    n_matrices, n_features, _ = covariances.shape
    factors = np.zeros_like(covariances)
    lower = np.empty((n_features, n_features))
    for k in range(n_matrices):
        cov = covariances[k]
        lower[:, :] = 0.0
        for j in range(n_features):
            s = cov[j, j]
            for m in range(j):
                s -= lower[j, m] * lower[j, m]
            if not s > 0.0 or not math.isfinite(s):
                return factors, k
            d = math.sqrt(s)
            lower[j, j] = d
            for i in range(j + 1, n_features):
                t = cov[i, j]
                for m in range(j):
                    t -= lower[i, m] * lower[j, m]
                lower[i, j] = t / d
        # Solve L X = I column by column: X = L^-1 (lower); P = X^T (upper).
        for c in range(n_features):
            for i in range(c, n_features):
                t = 1.0 if i == c else 0.0
                for m in range(c, i):
                    t -= lower[i, m] * factors[k, c, m]
                factors[k, c, i] = t / lower[i, i]
    return factors, -1
