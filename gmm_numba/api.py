"""Functional entry point: fit to a labeled result."""

from .data.labeled import as_labeled
from .fitting.checks import check_param
from .fitting.core import fit_mixture
from .fitting.settings import FitSettings
from .results.convert import fitted_to_tree


def fit(
    X, n_components=1, *, sample_weight=None, sample_dim=None, observed_data=False, log_likelihood=False, y=None,
    **options
):
    """Fit a Gaussian mixture and return the labeled result.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), DataFrame, DataArray or Dataset
    n_components : int
    sample_weight : array-like of shape (n_samples,), optional
    sample_dim : str, optional
        The sample dimension of a DataArray.
    observed_data : bool, default=False
        Store ``X`` in the ``observed_data`` group.
    log_likelihood : bool, default=False
        Store the per-sample log-density in the ``log_likelihood`` group.
    y : array-like of shape (n_samples,), optional
        Semi-supervised fit: component indices for labelled rows, -1 for
        the others (see :class:`GaussianMixture`'s ``semi_supervised``).
    **options
        Any :class:`GaussianMixture` parameter (covariance_type, n_init, ...).

    Returns
    -------
    xarray.DataTree
        See :mod:`gmm_numba.results.tree` for the layout.
    """
    # accepted as GaussianMixture accepts them; a function call has no previous fit to start from
    check_param("warm_start", options.pop("warm_start", False), "bool")
    check_param("verbose_interval", options.pop("verbose_interval", 10), "int", low=1)
    check_param("semi_supervised", options.pop("semi_supervised", False), "bool")  # here, giving y is the request
    settings = FitSettings.validated(n_components=n_components, **options)
    labeled = as_labeled(X, sample_dim)
    fitted = fit_mixture(labeled.values, settings, sample_weight, y=y)
    return fitted_to_tree(
        fitted, vars(settings), labeled, observed_data=observed_data, log_likelihood=log_likelihood
    )
