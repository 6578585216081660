"""A fitted mixture to a result tree, and a result tree back to a fitted mixture."""

import numpy as np

from ..fitting.criteria import Criteria
from ..fitting.fitted import FittedMixture
from ..fitting.prior import prior_attr
from ..fitting.settings import RECORDED_SETTINGS
from .tree import build_tree
from .validate import noise_component, point_parameters, recorded_settings


def fitted_to_tree(fitted, settings, labeled=None, *, observed_data=False, log_likelihood=False):
    """The result tree of a fit.

    Parameters
    ----------
    fitted : FittedMixture
    settings : mapping
        The fit's settings; those in :data:`RECORDED_SETTINGS` are stored as root attributes.
    labeled : LabeledInput, optional
        The data it was fitted on, with its labels (checked against the
        fit); needed for ``observed_data`` and ``log_likelihood``.
    observed_data, log_likelihood : bool

    Returns
    -------
    xarray.DataTree

    Raises
    ------
    ValueError
        If ``labeled`` has another number of features, or other feature
        names than the fit.
    """
    params = fitted.parameters
    feature_names, named = _feature_labels(fitted, labeled)
    em_fit = fitted.em_fit
    criteria = None
    if em_fit is not None:
        criteria = Criteria.from_statistics(em_fit.final, fitted.n_parameters())
    observed = pointwise = None
    if (observed_data or log_likelihood) and labeled is None:
        raise ValueError("observed_data and log_likelihood need the data: use gmm_numba.fit(X, ...).")
    if labeled is not None:
        X = fitted.check_input(labeled.values)
        observed = X if observed_data else None
        pointwise = fitted.scores(X)[0] if log_likelihood else None
    return build_tree(
        params,
        feature_names=feature_names,
        named_features=named,
        em_fit=em_fit,
        criteria=criteria,
        settings={name: prior_attr(settings.get(name)) if name == "prior" else settings[name]
                  for name in RECORDED_SETTINGS},
        observed=observed,
        pointwise=pointwise,
        sample_dim=labeled.sample_dim if labeled is not None else "sample",
        sample_coord=labeled.sample_coord if labeled is not None else None,
        noise=fitted.noise,
    )


def _feature_labels(fitted, labeled):
    """Feature names for a result and whether they came from the data.

    Labeled data's names must agree with those the mixture was fitted
    with (when both have names), or the result would mislabel its parameters.
    """
    fitted_names = None if fitted.feature_names is None else [str(n) for n in fitted.feature_names]
    if labeled is None:
        if fitted_names is not None:
            return fitted_names, True
        return [f"x{i}" for i in range(fitted.n_features)], False
    if labeled.named and fitted_names is not None and labeled.feature_names != fitted_names:
        raise ValueError(f"The features {labeled.feature_names} differ from the fitted ones {fitted_names}.")
    return labeled.feature_names, labeled.named


def fitted_from_tree(tree):
    """The point estimate of a result as a fitted mixture, with the settings it records.

    Returns
    -------
    fitted : FittedMixture
        Without ``em_fit`` (a result stores the runs' traces, not their statistics).
    settings : dict
        Keyword arguments for :class:`FitSettings`: the recorded settings,
        the number of components and the covariance model.

    Raises
    ------
    ValueError
        If ``tree`` is not a valid gmm_numba result.
    """
    params = point_parameters(tree)
    noise = noise_component(tree)
    attrs = tree.attrs
    settings = {"n_components": params.n_components, "covariance_type": str(attrs["covariance_type"])}
    settings.update(recorded_settings(attrs))
    features = [str(v) for v in tree["posterior"]["feature"].values]
    names = np.asarray(features, dtype=object) if attrs.get("named_features", 0) == 1 else None
    if noise is not None:
        settings["noise"] = True  # a refit with these settings has a noise component too
        settings["noise_volume"] = noise.volume_setting()
    fitted = FittedMixture(params, params.n_features, names, noise=noise, missing=settings.get("missing", "error"))
    return fitted, settings


def best_run_trace(tree):
    """``(converged, lower_bounds)`` of the run a result kept, or None when the result does not store them."""
    if "sample_stats" not in tree.children:
        return None
    stats = tree["sample_stats"]
    if not {"n_iter", "converged", "lower_bound"} <= set(stats.data_vars):
        return None
    best = int(stats["best_restart"].values)
    n_iter = int(stats["n_iter"].values[best])
    return bool(stats["converged"].values[best]), [float(v) for v in stats["lower_bound"].values[best, :n_iter]]
