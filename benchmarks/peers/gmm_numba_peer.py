"""gmm_numba's ``GaussianMixture`` as a benchmark peer.

The estimator is assumed to mirror scikit-learn's constructor
(``n_components``, ``covariance_type``, ``tol``, ``max_iter``,
``weights_init``, ``means_init``, ``precisions_init``) and fitted attributes
(``n_iter_``, ``means_``, ``lower_bounds_``).  If the package or the class
cannot be imported the peer reports itself unavailable and the suite goes on.
The untimed warm-up call of :func:`benchmarks.timing.per_iteration_time`
compiles the JIT kernels before anything is timed.
"""

import warnings

from .base import InProcessPeer
from .sklearn_peer import fit_summary


def _import_estimator():
    """Return ``gmm_numba.GaussianMixture`` (raises ImportError if missing)."""
    import gmm_numba

    try:
        return gmm_numba.GaussianMixture
    except AttributeError as exc:
        raise ImportError("gmm_numba has no GaussianMixture yet") from exc


class GmmNumbaPeer(InProcessPeer):
    """Time ``gmm_numba.GaussianMixture`` in this process."""

    name = "gmm_numba"
    label = "gmm_numba"

    def availability(self):
        """Return ``None`` if the estimator imports, else the reason it does not."""
        try:
            _import_estimator()
        except Exception as exc:  # a half-written package may raise anything
            return f"import failed: {type(exc).__name__}: {exc}"
        return None

    def supports(self, case):
        """Assume every scikit-learn case is supported; return ``None``."""
        return None

    def info(self):
        """Return gmm_numba and Numba versions and Numba's threading set-up."""
        import numba

        details = {
            "numba_version": numba.__version__,
            "numba_num_threads": numba.get_num_threads(),
        }
        try:
            import gmm_numba

            details["version"] = getattr(gmm_numba, "__version__", "unknown")
            from gmm_numba._kernels import vectors as _vectors

            details["vector_width"] = _vectors.status
        except Exception as exc:
            details["version"] = f"n/a ({type(exc).__name__})"
        try:
            details["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel region has run yet
            details["numba_threading_layer"] = "not initialised yet"
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
            ``run(n_iter) -> dict``, see
            :func:`benchmarks.peers.sklearn_peer.fit_summary`.
        """
        estimator = _import_estimator()

        def run(n_iter):
            model = estimator(
                n_components=case.n_components,
                covariance_type=case.covariance_type,
                tol=0.0,
                max_iter=n_iter,
                weights_init=init["weights"],
                means_init=init["means"],
                precisions_init=init["precisions"],
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence warnings are expected
                model.fit(X)
            return fit_summary(model)

        return run
