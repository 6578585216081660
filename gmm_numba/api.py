"""Functional entry points: fit to a labeled result, and estimator <-> tree."""

import numpy as np

from .criteria import Criteria
from .labeled import as_labeled
from .results import build_tree, point_parameters
from .sources import InMemoryData

#: Estimator settings recorded as attributes of a result.
RECORDED_SETTINGS = ("tol", "reg_covar", "max_iter", "n_init", "init_params", "random_state")


def fit(
    X, n_components=1, *, sample_weight=None, sample_dim=None, observed_data=False, log_likelihood=False, **options
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
    **options
        Any :class:`GaussianMixture` parameter (covariance_type, n_init, ...).

    Returns
    -------
    xarray.DataTree
        See :mod:`gmm_numba.results` for the layout.
    """
    from .estimator import GaussianMixture

    labeled = as_labeled(X, sample_dim)
    estimator = GaussianMixture(n_components, **options).fit(labeled.values, sample_weight=sample_weight)
    return estimator_to_tree(estimator, labeled, observed_data=observed_data, log_likelihood=log_likelihood)


def estimator_to_tree(estimator, labeled=None, *, observed_data=False, log_likelihood=False):
    """The result tree of a fitted estimator.

    Parameters
    ----------
    estimator : GaussianMixture
        Fitted.
    labeled : LabeledInput, optional
        The data it was fitted on, with its labels (checked against the
        estimator); needed for ``observed_data`` and ``log_likelihood``.
    observed_data, log_likelihood : bool

    Returns
    -------
    xarray.DataTree

    Raises
    ------
    ValueError
        If ``labeled`` has another number of features, or other feature
        names than the estimator was fitted with.
    """
    estimator._check_is_fitted()
    params = estimator._parameters
    feature_names, named = _feature_labels(estimator, labeled)
    em_fit = getattr(estimator, "fit_result_", None)
    criteria = None
    if em_fit is not None:
        criteria = Criteria.from_statistics(em_fit.final, params.n_parameters())
    observed = pointwise = None
    if (observed_data or log_likelihood) and labeled is None:
        raise ValueError("observed_data and log_likelihood need the data: use gmm_numba.fit(X, ...).")
    if labeled is not None:
        X = estimator._check_input(labeled.values, reset=False)[0]
        observed = X if observed_data else None
        pointwise = estimator.score_samples(X) if log_likelihood else None
    settings = {name: getattr(estimator, name) for name in RECORDED_SETTINGS}
    return build_tree(
        params,
        feature_names=feature_names,
        named_features=named,
        em_fit=em_fit,
        criteria=criteria,
        settings=settings,
        observed=observed,
        pointwise=pointwise,
        sample_dim=labeled.sample_dim if labeled is not None else "sample",
        sample_coord=labeled.sample_coord if labeled is not None else None,
    )


def _feature_labels(estimator, labeled):
    """Feature names for a result and whether they came from the data.

    Labeled data's names must agree with those the estimator was fitted
    with (when both have names), or the result would mislabel its parameters.
    """
    names = getattr(estimator, "feature_names_in_", None)
    fitted = None if names is None else [str(n) for n in names]
    if labeled is None:
        if fitted is not None:
            return fitted, True
        return [f"x{i}" for i in range(estimator.n_features_in_)], False
    if labeled.named and fitted is not None and labeled.feature_names != fitted:
        raise ValueError(f"The features {labeled.feature_names} differ from the fitted ones {fitted}.")
    return labeled.feature_names, labeled.named


def estimator_from_tree(cls, tree):
    """A fitted ``cls`` (GaussianMixture) holding the point estimate of ``tree``."""
    params = point_parameters(tree)
    attrs = tree.attrs
    settings = {"n_components": params.n_components, "covariance_type": params.model.name}
    settings.update(recorded_settings(attrs))
    estimator = cls(**settings)
    features = [str(v) for v in tree["posterior"]["feature"].values]
    names = np.asarray(features, dtype=object) if attrs.get("named_features", 0) == 1 else None
    estimator._set_fitted(params, params.n_features, names)
    if "sample_stats" in tree.children:
        stats = tree["sample_stats"]
        best = int(stats["best_restart"].values)
        if {"n_iter", "converged", "lower_bound"} <= set(stats.data_vars):
            n_iter = int(stats["n_iter"].values[best])
            estimator.converged_ = bool(stats["converged"].values[best])
            estimator.n_iter_ = n_iter
            estimator.lower_bounds_ = [float(v) for v in stats["lower_bound"].values[best, :n_iter]]
            estimator.lower_bound_ = estimator.lower_bounds_[-1] if n_iter else float("nan")
    return estimator


def recorded_settings(attrs):
    """The estimator settings stored as root attributes, converted back to their types and checked.

    Parameters
    ----------
    attrs : dict
        Root attributes of a result.

    Returns
    -------
    dict
        Keyword arguments for :class:`GaussianMixture`.

    Raises
    ------
    ValueError
        Naming the attribute that does not hold a valid value.
    """
    settings = _converted_settings(attrs)
    from .estimator import GaussianMixture

    try:
        GaussianMixture(**settings)._validated_settings()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Not a valid gmm_numba result: its recorded settings are invalid: {exc}") from None
    return settings


def _converted_settings(attrs):
    settings = {}
    for name in RECORDED_SETTINGS:
        if name in attrs:
            settings[name] = attrs[name]
    if settings.get("init_params") == "mixed":  # select's own scheme; a refit starts the estimator's way
        del settings["init_params"]
    seed = settings.get("random_state")
    settings["random_state"] = int(seed) if isinstance(seed, (int, np.integer)) and seed >= 0 else None
    conversions = {"max_iter": int, "n_init": int, "tol": float}
    if settings.get("reg_covar") != "auto":
        conversions["reg_covar"] = float
    for name, kind in conversions.items():
        if name not in settings:
            continue
        value = settings[name]
        value = value.item() if isinstance(value, np.generic) else value  # netCDF gives numpy scalars
        if isinstance(value, str) or (kind is int and not float(value).is_integer()):
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"Not a valid gmm_numba result: its root attribute {name}={value!r} is not {what}.")
        settings[name] = kind(value)
    return settings


def fitted_data_source(estimator, X, sample_weight=None):
    """An in-memory source for ``X`` checked against a fitted estimator."""
    from .validation import check_sample_weight

    arr = estimator._check_input(X, reset=False)[0]
    return InMemoryData(arr, check_sample_weight(sample_weight, arr.shape[0]))
