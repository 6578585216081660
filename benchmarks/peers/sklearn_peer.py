"""scikit-learn's ``GaussianMixture`` as a benchmark peer.

Every fit gets the common initial weights, means and precisions, ``tol=0``
(so exactly ``max_iter`` iterations run) and ``init_params="random_from_data"``:
scikit-learn still runs its initialiser before overriding it with the given
parameters, and this is its cheapest one (the default, k-means, would add a
full k-means fit to every call; either way the cost cancels in the
difference of two iteration counts).
"""

import warnings
from pathlib import Path

import numpy as np

from .base import InProcessPeer


def fit_summary(model, lower_bound=None):
    """Summarise a fitted model for the agreement checks.

    Parameters
    ----------
    model : object
        Fitted estimator with ``n_iter_``, ``means_`` and either
        ``lower_bounds_`` or ``lower_bound_``.
    lower_bound : float, optional
        Override for the final mean log-likelihood.

    Returns
    -------
    dict
        ``n_iter``, ``lower_bound`` (mean log-likelihood per sample computed
        in the last E-step, i.e. at the parameters before the last M-step),
        ``means`` (nested lists) and ``dtypes`` of the fitted arrays.
    """
    if lower_bound is None:
        bounds = getattr(model, "lower_bounds_", None)
        lower_bound = bounds[-1] if bounds is not None and len(bounds) else model.lower_bound_
    dtypes = {
        name: str(np.asarray(getattr(model, name)).dtype)
        for name in ("means_", "covariances_", "precisions_cholesky_")
        if hasattr(model, name)
    }
    return {
        "n_iter": int(model.n_iter_),
        "lower_bound": float(lower_bound),
        "means": np.asarray(model.means_, dtype=np.float64).tolist(),
        "dtypes": dtypes,
    }


class SklearnPeer(InProcessPeer):
    """Time ``sklearn.mixture.GaussianMixture`` in this process."""

    name = "sklearn"
    label = "scikit-learn"

    def availability(self):
        """Return ``None`` if scikit-learn imports, else the reason it does not."""
        try:
            import sklearn.mixture  # noqa: F401
        except ImportError as exc:
            return f"import failed: {exc}"
        return None

    def supports(self, case):
        """scikit-learn supports every case; return ``None``."""
        return None

    def info(self):
        """Return the version and the thread pools (BLAS, OpenMP) loaded in this process."""
        import sklearn

        details = {"version": sklearn.__version__}
        try:
            from threadpoolctl import threadpool_info

            details["threadpools"] = [
                dict(
                    {key: pool.get(key) for key in ("internal_api", "version", "num_threads", "architecture")},
                    library=Path(pool.get("filepath", "")).name,
                )
                for pool in threadpool_info()
            ]
        except ImportError:
            pass
        return details

    def make_runner(self, X, init, case):
        """Build ``run(n_iter)`` fitting ``X`` from ``init``.

        Parameters
        ----------
        X : ndarray of shape (N, D)
        init : dict of ndarray
            Output of :func:`benchmarks.cases.initial_parameters`.
        case : benchmarks.cases.Case

        Returns
        -------
        callable
            ``run(n_iter) -> dict``, see :func:`fit_summary`.
        """
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture

        def run(n_iter):
            model = GaussianMixture(
                n_components=case.n_components,
                covariance_type=case.covariance_type,
                tol=0.0,
                max_iter=n_iter,
                weights_init=init["weights"],
                means_init=init["means"],
                precisions_init=init["precisions"],
                init_params="random_from_data",
                random_state=0,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X)
            return fit_summary(model)

        return run
