"""Per-tile building blocks shared by the E-step kernels.

A tile is up to ``TILE`` points copied transposed into an
``(n_features, TILE)`` buffer, so that every loop over points runs over
contiguous memory and vectorises.
"""

import math

import numpy as np
from numba import njit

from .._config import JIT
from .vmath import flushed_exp, vector_log


@njit(**JIT)
def load_tile(X, start, n_points, xt):
    """Copy ``X[start:start + n_points]`` transposed into ``xt[:, :n_points]``."""
    n_features = X.shape[1]
    for t in range(n_points):
        for i in range(n_features):
            xt[i, t] = X[start + t, i]


@njit(**JIT)
def tile_log_probs(xt, n_points, means, prec, const, lp, diff, y):
    """Weighted log-densities of a tile.

    Writes ``lp[k, t] = const[k] - ||(x_t - mu_k)^T P_k||^2 / 2`` where
    ``const[k] = log pi_k + log|P_k| - D log(2 pi) / 2``.

    Parameters
    ----------
    xt : array of shape (n_features, TILE)
    n_points : int
        Number of valid columns of ``xt``.
    means : array of shape (n_components, n_features)
    prec : array of shape (n_components, n_features, n_features) or (n_components, 1, n_features)
        Full upper-triangular or diagonal precision factors.
    const : array of shape (n_components,)
    lp : array of shape (n_components, TILE)
        Output.
    diff : array of shape (n_features, TILE)
    y : array of shape (TILE,)
        Scratch space.
    """
    n_features = xt.shape[0]
    n_components = means.shape[0]
    diagonal = prec.shape[1] == 1
    zero = lp.dtype.type(0.0)
    half = lp.dtype.type(0.5)
    for k in range(n_components):
        for t in range(n_points):
            lp[k, t] = zero
        if diagonal:
            for i in range(n_features):
                m = means[k, i]
                p = prec[k, 0, i]
                for t in range(n_points):
                    z = (xt[i, t] - m) * p
                    lp[k, t] += z * z
        else:
            for i in range(n_features):
                m = means[k, i]
                for t in range(n_points):
                    diff[i, t] = xt[i, t] - m
            for j in range(n_features):
                for t in range(n_points):
                    y[t] = zero
                i = 0
                # four rows per pass: a quarter of the loads and stores of y
                while i + 3 <= j:
                    p0 = prec[k, i, j]
                    p1 = prec[k, i + 1, j]
                    p2 = prec[k, i + 2, j]
                    p3 = prec[k, i + 3, j]
                    for t in range(n_points):
                        y[t] += diff[i, t] * p0 + diff[i + 1, t] * p1 + diff[i + 2, t] * p2 + diff[i + 3, t] * p3
                    i += 4
                while i <= j:
                    p = prec[k, i, j]
                    for t in range(n_points):
                        y[t] += diff[i, t] * p
                    i += 1
                for t in range(n_points):
                    lp[k, t] += y[t] * y[t]
        c = const[k]
        for t in range(n_points):
            lp[k, t] = c - half * lp[k, t]


#: log-responsibilities below these count as zero (float32 / float64 tiles):
#: e^-60 ~ 1e-26 and e^-230 ~ 1e-100 are far below what either precision can
#: resolve in a sum, and products with them would otherwise turn subnormal.
RESPONSIBILITY_FLOOR_32 = -60.0
RESPONSIBILITY_FLOOR_64 = -230.0


@njit(**JIT)
def tile_normalise(lp, n_points, lse, log_norm, inv_total, top):
    """Exponentiate a tile's weighted log-densities, in place.

    Afterwards ``lp[k, t]`` holds ``exp(lp[k, t] - max_j lp[j, t])``
    (flushed to 0 below the floor), so that ``r_tk = lp[k, t] *
    inv_total[t]``; ``lse[t]`` holds the per-point log-likelihood
    ``log sum_k exp(lp[k, t])`` and ``log_norm[t]`` the amount
    ``lse[t] - max_k lp[k, t]``, which is ``-log max_k r_tk``. The
    normalisation itself is left to the caller, which can fold it into the
    next product.

    Parameters
    ----------
    lp : array of shape (n_components, TILE)
    n_points : int
    lse, log_norm : float64 arrays of shape (TILE,)
    inv_total, top : arrays of shape (TILE,), of the dtype of ``lp``
        ``inv_total`` receives ``1 / sum_k lp[k, t]``; ``top`` is scratch.
    """
    n_components = lp.shape[0]
    floor = RESPONSIBILITY_FLOOR_32 if lp.itemsize == 4 else RESPONSIBILITY_FLOOR_64
    for t in range(n_points):
        top[t] = lp[0, t]
        inv_total[t] = 0.0
    for k in range(1, n_components):
        for t in range(n_points):
            top[t] = max(top[t], lp[k, t])
    for k in range(n_components):
        for t in range(n_points):
            e = flushed_exp(lp[k, t] - top[t], floor)
            lp[k, t] = e
            inv_total[t] += e
    for t in range(n_points):
        log_total = vector_log(np.float64(inv_total[t]))
        log_norm[t] = log_total
        lse[t] = top[t] + log_total
        inv_total[t] = 1.0 / inv_total[t]


@njit(**JIT)
def component_constants(log_weights, log_det, n_features, dtype_like):
    """``log pi_k + log|P_k| - D log(2 pi) / 2`` in the dtype of ``dtype_like``."""
    n_components = log_weights.shape[0]
    const = np.empty(n_components, dtype_like.dtype)
    for k in range(n_components):
        const[k] = log_weights[k] + log_det[k] - 0.5 * n_features * math.log(2.0 * math.pi)
    return const
