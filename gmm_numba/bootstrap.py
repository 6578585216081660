"""Parameter uncertainty by resampling weights (as mclust's MclustBootstrap)."""

import numpy as np
import xarray as xr
from scipy.optimize import linear_sum_assignment

from .data.checks import check_sample_weight
from .data.in_memory import InMemoryData, feature_mean
from .data.labeled import as_labeled, check_features
from .data.missing import in_memory_source
from .errors import FitError
from .estimator import GaussianMixture
from .fitting.checks import check_param, check_random_state
from .fitting.em import run_em
from .fitting.prior import check_prior, data_moments, prior_from_attr, resolve_prior
from .fitting.regularization import resolve_reg_covar
from .fitting.settings import FitSettings
from .results import parameter_dataset
from .results.convert import fitted_from_tree

METHODS = ("wlbs", "nonparametric")


def _resampling_weights(method, n_samples, rng):
    if method == "wlbs":
        g = rng.gamma(1.0, 1.0, size=n_samples)
        return g * (n_samples / g.sum())
    return rng.multinomial(n_samples, np.full(n_samples, 1.0 / n_samples)).astype(np.float64)


#: Largest ratio between a feature's standard deviation in the data and in the fitted mixture, and
#: largest distance between their means in the mixture's standard deviations, for data to count as
#: the data the mixture was fitted to.
MAX_SCALE_RATIO = 10.0


def mixture_moments(params):
    """Mean and variance of each feature under a mixture.

    Returns
    -------
    mean, variance : ndarrays of shape (n_features,)
    """
    mean = params.weights @ params.means
    second = params.weights @ (np.diagonal(params.full_covariances(), axis1=1, axis2=2) + params.means**2)
    return mean, np.maximum(second - mean**2, 0.0)


def check_like_fitted_data(data, params, reg_covar, name="X"):
    """Refuse data whose location or scale is far from the fitted mixture's (other units, other data).

    Parameters
    ----------
    data : InMemoryData
    params : MixtureParameters
    reg_covar : float or ndarray of shape (n_features,)
        What the fit added to the covariances (the mixture's variance of a constant feature).

    Raises
    ------
    ValueError
        Naming the first feature that differs, with both standard deviations and means.
    """
    mean, variance = mixture_moments(params)
    _, data_mean = feature_mean(data)
    sd, data_sd = np.sqrt(variance), np.sqrt(data.feature_variance() + reg_covar)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sd == data_sd, 1.0, np.maximum(data_sd / sd, sd / data_sd))
        shift = np.where(data_mean == mean, 0.0, np.abs(data_mean - mean) / sd)
    off = np.flatnonzero(~(ratio <= MAX_SCALE_RATIO) | ~(shift <= MAX_SCALE_RATIO))
    if off.size:
        j = off[0]
        raise ValueError(
            f"{name} does not look like the data the mixture was fitted to: feature {j} has mean {data_mean[j]:.4g} "
            f"and standard deviation {data_sd[j]:.4g} in {name}, but {mean[j]:.4g} and {sd[j]:.4g} in the fit. "
            "The bootstrap refits to the fitted data: pass that data, in the same units and scaling."
        )


def align(reference, params):
    """Permute ``params``' components to best match ``reference``'s.

    Components are matched by the distance between their means, in units of
    the reference's average per-feature standard deviation, with the
    Hungarian algorithm.

    Returns
    -------
    MixtureParameters
    """
    full = reference.full_covariances()
    scale = np.sqrt(np.mean(np.diagonal(full, axis1=1, axis2=2), axis=0))
    diff = (reference.means[:, None, :] - params.means[None, :, :]) / scale
    _, order = linear_sum_assignment(np.sum(diff**2, axis=2))
    return params.permuted(order)


def bootstrap(
    fitted,
    X,
    n_draws=100,
    method="wlbs",
    *,
    random_state=None,
    sample_weight=None,
    sample_dim=None,
    tol=1e-5,
    max_iter=200,
):
    """Bootstrap draws of the mixture parameters.

    Each draw reweights the samples, refits by EM from the fitted solution
    with the fused kernels (the data is never copied), and aligns its
    components to the fitted ones.

    Parameters
    ----------
    fitted : xarray.DataTree or GaussianMixture
        A result of :func:`gmm_numba.fit` / :func:`gmm_numba.select`, or a fitted estimator.
    X : array-like of shape (n_samples, n_features)
        The data it was fitted to.
    n_draws : int, default=100
    method : {"wlbs", "nonparametric"}, default="wlbs"
        ``"wlbs"``: weighted likelihood bootstrap, weights ``n * Dirichlet(1, ..., 1)``
        (normalised Gamma(1, 1) draws). ``"nonparametric"``: multinomial counts
        (the classical bootstrap, as weights).
    random_state : int, numpy Generator or None
    sample_weight : array-like of shape (n_samples,), optional
        Weights of the original fit; multiplied with the resampling weights.
    sample_dim : str, optional
    tol, max_iter : float, int
        EM settings of each refit. A fit under a prior (``prior=``) is refitted
        under the same prior (MAP), its hyper-parameters those of the fit's data.

    Returns
    -------
    xarray.DataTree
        The fitted result with ``posterior`` holding the draws
        (chain=1, draw=n_draws), the fit itself in ``point_estimate``, and
        root attributes ``bootstrap_method``, ``n_draws`` and ``n_failed_draws``.
        A ``log_likelihood`` group of the fit is dropped (it holds the point
        estimate's values, not one per draw).

    Raises
    ------
    TypeError
        If ``fitted`` is neither a result tree nor a GaussianMixture.
    ValueError
        If ``fitted`` is not a valid result, labeled ``X`` has other
        features than the fit, or ``X``'s location or scale is far from the
        fit's (:func:`check_like_fitted_data`).
    FitError
        If every refit failed.
    """
    check_param("n_draws", n_draws, "int", low=1)
    check_param("method", method, "option", options=METHODS)
    check_param("tol", tol, "float", low=0)
    check_param("max_iter", max_iter, "int", low=1)
    if isinstance(fitted, xr.DataTree):
        tree = fitted
        mixture = fitted_from_tree(tree)[0]
    elif not isinstance(fitted, GaussianMixture):
        raise TypeError(
            "fitted must be a gmm_numba result (an xarray.DataTree from gmm_numba.fit, select or load) "
            f"or a fitted GaussianMixture, got {type(fitted).__name__}."
        )
    else:
        tree = fitted.to_xarray()
        mixture = fitted._fitted
    if mixture.noise is not None:
        raise ValueError(
            "bootstrap does not handle a fit with a noise component yet (its refits would drop the noise "
            "component); refit the draws yourself with GaussianMixture(noise=...) and sample_weight."
        )
    labeled = as_labeled(X, sample_dim)
    check_features(labeled, tree)
    arr = mixture.check_input(labeled.values)
    n_samples = arr.shape[0]
    base = check_sample_weight(sample_weight, n_samples)
    reference = mixture.parameters
    rng = check_random_state(random_state)
    # with missing="marginalize", rows with NaN are refitted by their observed entries
    source = in_memory_source if mixture.missing == "marginalize" else InMemoryData
    data = source(arr, base)
    reg_covar = resolve_reg_covar(tree.attrs.get("reg_covar", FitSettings.reg_covar), data)
    check_like_fitted_data(data, reference, reg_covar)
    # a MAP fit is refitted under the same prior, its hyper-parameters resolved once on the original data
    prior = prior_from_attr(tree.attrs.get("prior", "None"))
    if prior is not None:
        prior = resolve_prior(check_prior(prior), data_moments(data), reference.model, reference.n_components)

    draws = []
    failures = 0
    for _ in range(n_draws):
        weights = _resampling_weights(method, n_samples, rng)
        if base is not None:
            weights = weights * base
        try:
            run = run_em(source(arr, weights), reference, reg_covar=reg_covar, tol=tol, max_iter=max_iter,
                         prior=prior)
        except FitError:
            failures += 1
            continue
        draws.append(align(reference, run.parameters))
    if not draws:
        raise FitError(f"All {n_draws} bootstrap refits failed; the fit may be too close to degenerate.")

    features = [str(f) for f in tree["posterior"]["feature"].values]
    posterior = parameter_dataset(
        np.stack([p.weights for p in draws])[None],
        np.stack([p.means for p in draws])[None],
        np.stack([p.full_covariances() for p in draws])[None],
        features,
    )
    point = parameter_dataset(reference.weights, reference.means, reference.full_covariances(), features, draw_dims=())
    out = tree.copy()
    if "log_likelihood" in out.children:
        # pointwise values of the point estimate only: they do not match the draws
        del out["log_likelihood"]
    out["posterior"] = xr.DataTree(posterior)
    out["point_estimate"] = xr.DataTree(point)
    out.attrs = dict(tree.attrs, bootstrap_method=method, n_draws=len(draws), n_failed_draws=failures)
    return out
