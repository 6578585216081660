"""Sufficient statistics: the interface between data sources and models."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SufficientStatistics:
    """Sums over the data that an M-step needs, for fixed parameters.

    They are additive over any split of the data (``a + b``), which is what
    lets blocks, chunks and cluster workers compute them independently.

    Attributes
    ----------
    total_weight : float
        ``W = sum_n w_n``.
    log_likelihood : float
        ``sum_n w_n log p(x_n)`` at the parameters the sums were taken for.
    hard_log_resp : float
        ``sum_n w_n max_k log r_nk`` (the entropy term of ICL).
    nk : ndarray of shape (n_components,)
        ``sum_n w_n r_nk``.
    s1 : ndarray of shape (n_components, n_features)
        ``sum_n w_n r_nk (x_n - c_k)``.
    s2 : ndarray of shape (n_components, n_features, n_features), (n_components, 1, n_features)
        or (n_components, 1, 1)
        ``sum_n w_n r_nk (x_n - c_k)(x_n - c_k)^T``, only its diagonal, or
        only its trace (what the spherical model needs).
    shifts : ndarray of shape (n_components, n_features)
        The shifts ``c_k`` (the means the statistics were taken about).
    """

    total_weight: float
    log_likelihood: float
    hard_log_resp: float
    nk: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    shifts: np.ndarray

    def __add__(self, other):
        if not np.array_equal(self.shifts, other.shifts):
            raise ValueError("cannot add statistics taken about different shifts")
        return SufficientStatistics(
            self.total_weight + other.total_weight,
            self.log_likelihood + other.log_likelihood,
            self.hard_log_resp + other.hard_log_resp,
            self.nk + other.nk,
            self.s1 + other.s1,
            self.s2 + other.s2,
            self.shifts,
        )

    @property
    def n_components(self):
        return self.nk.shape[0]

    @property
    def n_features(self):
        return self.s1.shape[1]

    def means(self):
        """Weighted means, shape (n_components, n_features)."""
        return self.shifts + self.s1 / self.nk[:, None]

    def scatter(self):
        """Per-component scatter about the new means ``sum_n w_n r_nk (x_n - mu_k)(x_n - mu_k)^T``.

        Returns
        -------
        ndarray of shape (n_components, n_features, n_features)
            Requires full second moments.
        """
        if self.s2.shape[1] != self.s2.shape[2]:
            raise ValueError("these statistics hold only the diagonal of the second moments")
        return scatter_about_means(self.nk, self.s1, self.s2)

    def scatter_diagonal(self):
        """Diagonal of :meth:`scatter`, shape (n_components, n_features)."""
        if self.s2.shape[2] != self.n_features:
            raise ValueError("these statistics hold only the trace of the second moments")
        d = self.s1 / self.nk[:, None]
        s2_diag = self.s2[:, 0, :] if self.s2.shape[1] == 1 else np.diagonal(self.s2, axis1=1, axis2=2)
        return s2_diag - self.nk[:, None] * d * d

    def scatter_trace(self):
        """Trace of :meth:`scatter`, shape (n_components,): ``sum_n w_n r_nk ||x_n - mu_k||^2``."""
        d = self.s1 / self.nk[:, None]
        if self.s2.shape[1] == 1:
            s2_trace = self.s2[:, 0, :].sum(axis=1)
        else:
            s2_trace = np.trace(self.s2, axis1=1, axis2=2)
        return s2_trace - self.nk * (d * d).sum(axis=1)


def scatter_about_means(nk, s1, s2):
    """:meth:`SufficientStatistics.scatter` of one set of sums or of a stack of them (element by element alike).

    Parameters
    ----------
    nk : ndarray of shape (..., n_components)
    s1 : ndarray of shape (..., n_components, n_features)
    s2 : ndarray of shape (..., n_components, n_features, n_features)

    Returns
    -------
    ndarray of shape (..., n_components, n_features, n_features)
    """
    d = s1 / nk[..., None]
    return s2 - nk[..., None, None] * d[..., :, None] * d[..., None, :]
