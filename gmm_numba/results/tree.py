"""Fits as labeled ``xarray.DataTree`` objects, and back.

Layout (group names follow ArviZ's schema)::

    /                  attrs: format, version, covariance model, settings
    /posterior         weights(chain, draw, component)
                       means(chain, draw, component, feature)
                       covariances(chain, draw, component, feature, feature_bis)
    /sample_stats      per restart: lower_bound(restart, iteration), n_iter,
                       converged, final_lower_bound, error; best_restart
    /criteria          log_likelihood, n_parameters, n_samples, bic, aic, icl
    /noise             (fits with a noise component only) weight(chain, draw): the
                       uniform component's mixing weight (posterior.weights then sum
                       to 1 - weight); volume: its region's volume V
    /point_estimate    (bootstrap results only) the fit the draws started from
    /observed_data     X(sample, feature)              (on request)
    /log_likelihood    X(chain, draw, sample)          (on request)
    /selection         (model selection only) one cell per model tried

Covariances are stored as full matrices for every covariance model, so
downstream code never branches on the model.
"""

import datetime

import numpy as np
import xarray as xr

FORMAT = "gmm_numba.mixture"
FORMAT_VERSION = 1

#: Tolerances applied when checking loaded parameters.


def _attr_value(value):
    """Attributes must be strings or numbers (netCDF refuses None, bools, dicts)."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, float, np.integer, np.floating, str)):
        return value
    if value is None:
        return "None"
    return type(value).__name__


def parameter_dataset(weights, means, covariances, feature_names, draw_dims=("chain", "draw")):
    """Weights, means and full covariances as a Dataset.

    Parameters
    ----------
    weights : ndarray of shape (*draws, n_components)
    means : ndarray of shape (*draws, n_components, n_features)
    covariances : ndarray of shape (*draws, n_components, n_features, n_features)
    feature_names : list of str
    draw_dims : tuple of str
        Names of the leading dimensions (empty for a point estimate).

    Returns
    -------
    xarray.Dataset
    """
    n_components = weights.shape[-1]
    coords = {
        "component": np.arange(n_components),
        "feature": list(feature_names),
        "feature_bis": list(feature_names),
    }
    for dim, size in zip(draw_dims, weights.shape[: len(draw_dims)]):
        coords[dim] = np.arange(size)
    return xr.Dataset(
        {
            "weights": ((*draw_dims, "component"), weights),
            "means": ((*draw_dims, "component", "feature"), means),
            "covariances": ((*draw_dims, "component", "feature", "feature_bis"), covariances),
        },
        coords=coords,
    )


def sample_stats_dataset(runs, best_index):
    """Per-restart traces of an :class:`~gmm_numba.fitting.em.EMFit`'s runs."""
    n_restarts = len(runs)
    n_iterations = max([run.n_iter for run in runs] + [1])
    trace = np.full((n_restarts, n_iterations), np.nan)
    for r, run in enumerate(runs):
        trace[r, : run.n_iter] = run.lower_bounds
    final = np.array([run.lower_bound if not run.error else np.nan for run in runs])
    return xr.Dataset(
        {
            "lower_bound": (("restart", "iteration"), trace),
            "n_iter": ("restart", np.array([run.n_iter for run in runs], dtype=np.int64)),
            "converged": ("restart", np.array([run.converged for run in runs], dtype=bool)),
            "final_lower_bound": ("restart", final),
            "error": ("restart", np.array([run.error for run in runs], dtype=object).astype(str)),
            "best_restart": ((), np.int64(best_index)),
        },
        coords={"restart": np.arange(n_restarts), "iteration": np.arange(1, n_iterations + 1)},
    )


def noise_dataset(noise):
    """The noise component's weight (one draw) and volume (its ``region`` attribute: box, hull or given)."""
    return xr.Dataset(
        {
            "weight": (("chain", "draw"), np.array([[float(noise.weight)]])),
            "volume": ((), float(noise.volume), {"region": noise.region}),
        },
        coords={"chain": [0], "draw": [0]},
    )


def criteria_dataset(criteria):
    return xr.Dataset({name: ((), value) for name, value in criteria.as_dict().items()})


def build_tree(
    params,
    *,
    feature_names,
    named_features,
    em_fit=None,
    criteria=None,
    settings=None,
    observed=None,
    pointwise=None,
    sample_dim="sample",
    sample_coord=None,
    noise=None,
):
    """The result tree of one fit.

    Parameters
    ----------
    params : MixtureParameters
    feature_names : list of str
    named_features : bool
        Whether the names came from the user's data (restored on loading).
    em_fit : EMFit, optional
        Supplies ``sample_stats``.
    criteria : Criteria, optional
    settings : dict, optional
        Estimator settings, stored as root attributes.
    observed : ndarray of shape (n_samples, n_features), optional
        Stored in ``observed_data``.
    pointwise : ndarray of shape (n_samples,), optional
        Per-sample log-density, stored in ``log_likelihood``.
    sample_dim : str
    sample_coord : ndarray, optional
    noise : NoiseComponent, optional
        Stored in the ``noise`` group.

    Returns
    -------
    xarray.DataTree
    """
    from .. import __version__

    groups = {
        "posterior": parameter_dataset(
            params.weights[None, None],
            params.means[None, None],
            params.full_covariances()[None, None],
            feature_names,
        )
    }
    if noise is not None:
        groups["noise"] = noise_dataset(noise)
    if em_fit is not None:
        groups["sample_stats"] = sample_stats_dataset(em_fit.runs, em_fit.best_index)
    if criteria is not None:
        groups["criteria"] = criteria_dataset(criteria)
    coords = {"feature": list(feature_names)}
    if sample_coord is not None:
        coords[sample_dim] = sample_coord
    if observed is not None:
        groups["observed_data"] = xr.Dataset({"X": ((sample_dim, "feature"), np.asarray(observed))}, coords=coords)
    if pointwise is not None:
        groups["log_likelihood"] = xr.Dataset(
            {"X": (("chain", "draw", sample_dim), np.asarray(pointwise)[None, None])},
            coords={k: v for k, v in coords.items() if k != "feature"},
        )
    attrs = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gmm_numba_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "covariance_type": params.model.name,
        "n_components": params.n_components,
        "named_features": int(named_features),
    }
    for key, value in (settings or {}).items():
        attrs[key] = _attr_value(value)
    tree = xr.DataTree.from_dict({f"/{name}": ds for name, ds in groups.items()})
    tree.attrs = attrs
    return tree


# ------------------------------------------------------------------- reading
