"""Numba kernels: contiguous arrays and scalars in, arrays out.

Nothing here knows about covariance models, estimators or labels. Precision
factors come in one of three layouts, which is the only thing a kernel
branches on:

* full factors, shape ``(n_components, n_features, n_features)``: the upper
  triangular ``P_k`` with ``Sigma_k^-1 = P_k P_k^T`` (full and tied models);
* diagonal factors, shape ``(n_components, 1, n_features)``: the square roots
  of the diagonal precisions (diag model);
* spherical factors, shape ``(n_components, 1, 1)``: the square root of each
  component's one precision (spherical model). The E-step then returns only
  the trace of the second moments, which it gets from the squared distances
  it has computed anyway.
"""

from . import em_run, estep, hierarchical, kmeans, linalg
from .interrupts import interruptible

em_statistics = interruptible(estep.em_statistics)
em_statistics_one_block = interruptible(estep.em_statistics_one_block)
per_sample_scores = interruptible(estep.per_sample_scores)
kmeans_plusplus = interruptible(kmeans.kmeans_plusplus)
nearest_center_statistics = interruptible(kmeans.nearest_center_statistics)
random_responsibility_statistics = interruptible(kmeans.random_responsibility_statistics)
precision_cholesky = interruptible(linalg.precision_cholesky)
run_em_batch = interruptible(em_run.em_runs)
start_m_steps = interruptible(em_run.start_m_steps)
vvv_merges = interruptible(hierarchical.vvv_merges)

__all__ = [
    "em_statistics",
    "em_statistics_one_block",
    "per_sample_scores",
    "kmeans_plusplus",
    "precision_cholesky",
    "run_em_batch",
    "start_m_steps",
    "nearest_center_statistics",
    "random_responsibility_statistics",
    "vvv_merges",
]
