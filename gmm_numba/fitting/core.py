"""The one fit function behind ``GaussianMixture.fit``, :func:`gmm_numba.fit` and their kin."""

import numpy as np

from ..covariance import check_n_features
from ..data.checks import check_data, check_sample_weight, feature_names
from ..data.dispatch import is_out_of_core, make_data_source
from ..data.in_memory import InMemoryData
from ..data.missing import in_memory_source
from ..data.semi_supervised import check_labels
from ..errors import FitError, NotSupportedError, NumericalError
from .checks import check_random_state
from .em import fit_em
from .fitted import FittedMixture
from .noise import fit_noisy_mixture
from .prior import data_moments, refuse_with, resolve_prior
from .regularization import resolve_reg_covar
from .semi_supervised import fit_semi_supervised
from .settings import checked_callback


def fit_mixture(X, settings, sample_weight=None, warm_start=None, y=None):
    """Fit a Gaussian mixture by EM.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), DataFrame, np.memmap or Dask array
    settings : FitSettings
        Validated (:meth:`FitSettings.validated`).
    sample_weight : array-like of shape (n_samples,), optional
    warm_start : FittedMixture, optional
        A previous fit to start from (one run), used when it has this
        number of components, features and covariance model.
    y : array-like of shape (n_samples,), optional
        Semi-supervised fit (:mod:`gmm_numba.fitting.semi_supervised`):
        component indices for labelled rows, -1 for the others. With no
        row labelled, the ordinary fit.

    Returns
    -------
    FittedMixture

    Raises
    ------
    TypeError, ValueError
        Invalid data, sample weights or ``*_init`` arrays.
    FitError
        EM found no valid mixture; the message says what to try.
    """
    rng = check_random_state(settings.random_state)
    min_samples, requirement = settings.sample_requirement()
    marginalize = settings.missing == "marginalize"
    if is_out_of_core(X):  # Dask, xarray on Dask, large np.memmap: see gmm_numba.data.dispatch
        if marginalize:
            raise NotSupportedError(
                "missing='marginalize' is not implemented for out-of-core data (Dask arrays, Dask-backed xarray, "
                "memory maps of 64 MiB or more) yet. Load X into memory (np.asarray(X), X.compute()), or drop "
                "or impute the rows with NaN and fit with missing='error'."
            )
        data = make_data_source(X, sample_weight, min_samples=min_samples, requirement=requirement)
        X = names = weights = None
        n_features = data.n_features
    else:
        names = feature_names(X)
        X = check_data(X, min_samples=min_samples, requirement=requirement, allow_nan=marginalize)
        n_features = X.shape[1]
        weights = check_sample_weight(sample_weight, X.shape[0])
        _check_weighted_samples(weights, min_samples, requirement)
        if marginalize:
            data = in_memory_source(X, weights, min_samples=min_samples, requirement=requirement)
        else:
            data = InMemoryData(X, weights)
    check_n_features(settings.model, n_features)
    if marginalize:
        refuse_with(settings.prior, "missing='marginalize'")
    if settings.noise is not None:
        refuse_with(settings.prior, "noise=")
    prior = resolve_prior(settings.prior, data_moments(data), settings.model, settings.n_components)
    if marginalize and (settings.noise is not None or y is not None):
        raise NotSupportedError(
            "missing='marginalize' cannot be combined with noise= or semi-supervised labels (y) yet: drop or "
            "impute the rows with NaN (GaussianMixture(missing='marginalize').fit(X).impute(X)) first."
        )
    starts, n_init = None, settings.n_init
    if warm_start is not None:
        previous = warm_start.parameters
        if previous.means.shape == (settings.n_components, n_features) and previous.model is settings.model:
            starts, n_init = [previous], 1
    user_init = settings.user_init(n_features)
    labels = None if y is None else check_labels(y, data.n_samples, settings.n_components)
    if labels is not None and np.any(labels >= 0):
        refuse_with(prior, "semi-supervised labels (y)")
        if settings.noise is not None:
            raise NotSupportedError(
                "noise and semi-supervised labels (y) cannot be combined (as in mclust, whose MclustSSC has no "
                "noise component): fit with one of them."
            )
        fit = fit_semi_supervised(
            data, labels, settings.model, settings.n_components,
            reg_covar=resolve_reg_covar(settings.reg_covar, data), tol=settings.tol, max_iter=settings.max_iter,
            callback=checked_callback(settings.callback), verbose=settings.verbose,
        )
        _check_finite_result(fit.parameters)
        return FittedMixture(fit.parameters, n_features, names, fit)
    if settings.noise is not None:
        fit, noise = fit_noisy_mixture(
            data, settings, rng=rng, reg_covar=resolve_reg_covar(settings.reg_covar, data),
            user_init=user_init, callback=checked_callback(settings.callback), warm_start=warm_start,
        )
        _check_finite_result(fit.parameters)
        return FittedMixture(fit.parameters, n_features, names, fit, noise=noise)
    try:
        result = fit_em(
            data,
            settings.model,
            settings.n_components,
            n_init=n_init,
            init_params=settings.init_params,
            rng=rng,
            reg_covar=resolve_reg_covar(settings.reg_covar, data),
            tol=settings.tol,
            max_iter=settings.max_iter,
            user_init=user_init,
            init_sample_size=settings.init_sample_size,
            callback=checked_callback(settings.callback),
            verbose=settings.verbose,
            starts=starts,
            prior=prior,
        )
    except FitError as exc:
        note = "" if X is None else _distinct_rows_note(X, weights, settings.n_components)
        if note:
            raise type(exc)(f"{exc} {note}") from exc
        raise
    _check_finite_result(result.parameters)
    return FittedMixture(result.parameters, n_features, names, result, missing=settings.missing)


def _check_weighted_samples(weights, min_samples, requirement):
    """Enough rows with positive weight (rows of weight 0 do not count)."""
    if weights is None:
        return
    n_positive = int(np.count_nonzero(weights))
    if n_positive < min_samples:
        raise ValueError(
            f"sample_weight is positive for {n_positive} sample(s) while a minimum of {min_samples} "
            f"is required ({requirement}); samples of weight 0 do not count."
        )


def _distinct_rows_note(X, weights, n_components):
    """A note for a failed fit when X has fewer distinct rows than components, else ""."""
    rows = X if weights is None else X[weights > 0]
    n_distinct = np.unique(rows, axis=0).shape[0]
    if n_distinct >= n_components:
        return ""
    among = "" if weights is None else " among the samples of positive weight"
    return (
        f"Note: X has only {n_distinct} distinct row(s){among}, fewer than n_components={n_components}: "
        f"use at most {n_distinct} components."
    )


def _check_finite_result(params):
    """Never hand back NaN or infinite parameters."""
    arrays = {name: getattr(params, name) for name in ("weights", "means", "covariances", "precisions_cholesky")}
    with np.errstate(over="ignore"):
        arrays["precisions"] = params.model.precisions(params.precisions_cholesky)
    for name, values in arrays.items():
        if not np.all(np.isfinite(values)):
            raise NumericalError(
                f"EM produced non-finite {name}; the data's scale is probably beyond what floating "
                "point handles here. Standardise the features, use float64, or increase reg_covar."
            )
