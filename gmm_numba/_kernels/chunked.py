"""Kernels for data served in chunks (memory-mapped files, Dask blocks).

Only what cannot be had from the whole-array kernels lives here: random
responsibilities hashed on the row's *global* index, so that the result
does not depend on how the rows are split into chunks.

If :func:`.kmeans.random_responsibility_statistics` grows an ``offset``
argument (``_uniform(seed, offset + n, k, n_components)``), this file can go.
"""

import numpy as np
from numba import njit, prange

from .._config import PARALLEL_JIT
from .kmeans import _uniform


@njit(**PARALLEL_JIT)
def random_responsibility_statistics_at(X, sample_weight, shift, seed, n_components, block, offset):
    """:func:`.kmeans.random_responsibility_statistics` for rows ``offset, offset + 1, ...``.

    Row ``n`` of ``X`` is row ``offset + n`` of the whole data: its
    responsibilities hash ``(seed, offset + n, k)``. With ``offset = 0``
    the result is that of the whole-array kernel.

    Parameters
    ----------
    X, sample_weight, shift, seed, n_components, block
        As for :func:`.kmeans.random_responsibility_statistics`.
    offset : int
        Global index of the first row of ``X``.

    Returns
    -------
    nk : array of shape (n_components,)
    s1 : array of shape (n_components, n_features)
    s2 : array of shape (n_components, n_features, n_features)
    """
    n_samples, n_features = X.shape
    weighted = sample_weight.shape[0] > 0
    n_blocks = (n_samples + block - 1) // block
    acc_nk = np.zeros((n_blocks, n_components))
    acc_s1 = np.zeros((n_blocks, n_components, n_features))
    acc_s2 = np.zeros((n_blocks, n_components, n_features, n_features))
    for b in prange(n_blocks):
        r = np.empty(n_components)
        diff = np.empty(n_features)
        for n in range(b * block, min(n_samples, (b + 1) * block)):
            total = 0.0
            for k in range(n_components):
                r[k] = _uniform(seed, offset + n, k, n_components)
                total += r[k]
            w = sample_weight[n] if weighted else 1.0
            for i in range(n_features):
                diff[i] = X[n, i] - shift[i]
            for k in range(n_components):
                wr = w * r[k] / total
                acc_nk[b, k] += wr
                for i in range(n_features):
                    acc_s1[b, k, i] += wr * diff[i]
                    for j in range(n_features):
                        acc_s2[b, k, i, j] += wr * diff[i] * diff[j]
    nk = np.zeros(n_components)
    s1 = np.zeros((n_components, n_features))
    s2 = np.zeros((n_components, n_features, n_features))
    for b in range(n_blocks):
        nk += acc_nk[b]
        s1 += acc_s1[b]
        s2 += acc_s2[b]
    return nk, s1, s2
