"""The ``.gmm`` accessor on xarray DataArrays and Datasets.

>>> result = da.gmm.fit(3, sample_dim="time")         # doctest: +SKIP
>>> labels = da.gmm.predict(result, sample_dim="time")  # doctest: +SKIP

Importing this module registers the accessor. ``gmm_numba`` does so as soon
as xarray is imported (see :mod:`gmm_numba._lazy`), so that ``import
gmm_numba`` alone does not pay for importing xarray and pandas. At its top
the module imports only :mod:`gmm_numba.data.labeled` (NumPy only): it may run
while one of gmm_numba's own modules is importing xarray.
"""

import xarray as xr

from .data.labeled import as_labeled, check_features, label_samples


class GMMAccessor:
    """Fit mixtures to, and predict on, labeled data (samples along one dimension)."""

    def __init__(self, obj):
        self._obj = obj

    def fit(self, n_components=1, *, sample_dim=None, **options):
        """Same as ``gmm_numba.fit(obj, n_components, ...)``."""
        from .api import fit

        return fit(self._obj, n_components, sample_dim=sample_dim, **options)

    def select(self, *, sample_dim=None, **options):
        """Same as ``gmm_numba.select(obj, ...)``."""
        from .selection import select

        return select(self._obj, sample_dim=sample_dim, **options)

    def _scores(self, result, sample_dim, with_responsibilities=False):
        from .data.checks import check_data
        from .data.in_memory import per_sample_scores
        from .fitting.fitted import check_finite_scores
        from .results.convert import fitted_from_tree

        fitted = fitted_from_tree(result)[0]
        labeled = as_labeled(self._obj, sample_dim)
        check_features(labeled, result)
        X = check_data(labeled.values, n_features=fitted.n_features)
        scores = per_sample_scores(X, fitted.parameters, with_responsibilities)
        check_finite_scores(scores[0])
        return labeled, scores

    def predict(self, result, *, sample_dim=None):
        """Most responsible component per sample, as a DataArray along the sample dimension."""
        labeled, (_, labels, _) = self._scores(result, sample_dim)
        return label_samples(labels, labeled, "component")

    def predict_proba(self, result, *, sample_dim=None):
        """Responsibilities as a DataArray (sample, component)."""
        labeled, (_, _, resp) = self._scores(result, sample_dim, True)
        components = result["posterior"]["component"].values
        return label_samples(resp, labeled, "responsibility", ("component",), {"component": components})

    def score_samples(self, result, *, sample_dim=None):
        """Per-sample log-density as a DataArray along the sample dimension."""
        labeled, (lse, _, _) = self._scores(result, sample_dim)
        return label_samples(lse, labeled, "log_density")


xr.register_dataarray_accessor("gmm")(GMMAccessor)
xr.register_dataset_accessor("gmm")(GMMAccessor)
