"""Information criteria, with scikit-learn's sign (lower is better).

mclust reports ``2 log L - p log n`` (higher is better): its BIC and ICL
are ours negated.
"""

from dataclasses import asdict, dataclass

import numpy as np

CRITERIA = ("bic", "aic", "icl")


@dataclass(frozen=True)
class Criteria:
    """Fit statistics of a mixture on the data it was fitted to.

    Attributes
    ----------
    log_likelihood : float
        ``sum_n w_n log p(x_n)`` at the final parameters.
    n_parameters : int
    n_samples : float
        ``n`` in the penalties: the number of rows, or the total weight
        when sample weights are given.
    bic : float
        ``-2 log L + p log n``.
    aic : float
        ``-2 log L + 2 p``.
    icl : float
        ``BIC - 2 sum_n w_n log r_{n, z(n)}`` with ``z(n)`` the most
        responsible component.
    """

    log_likelihood: float
    n_parameters: int
    n_samples: float
    bic: float
    aic: float
    icl: float

    @classmethod
    def from_statistics(cls, stats, n_parameters):
        """Criteria from the statistics taken at the final parameters."""
        n = float(stats.total_weight)
        ll = float(stats.log_likelihood)
        bic = -2.0 * ll + n_parameters * np.log(n)
        return cls(
            ll, int(n_parameters), n, bic, -2.0 * ll + 2.0 * n_parameters, bic - 2.0 * float(stats.hard_log_resp)
        )

    def as_dict(self):
        return asdict(self)
