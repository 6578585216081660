"""Fits as labeled ``xarray.DataTree`` objects, and back.

Layout (group names follow ArviZ's schema)::

    /                  attrs: format, version, covariance model, settings
    /posterior         weights(chain, draw, component)
                       means(chain, draw, component, feature)
                       covariances(chain, draw, component, feature, feature_bis)
    /sample_stats      per restart: lower_bound(restart, iteration), n_iter,
                       converged, final_lower_bound, error; best_restart
    /criteria          log_likelihood, n_parameters, n_samples, bic, aic, icl
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

from .covariance import get_model
from .parameters import MixtureParameters

FORMAT = "gmm_numba.mixture"
FORMAT_VERSION = 1

#: Tolerances applied when checking loaded parameters.
WEIGHT_SUM_TOLERANCE = 1e-8
SYMMETRY_TOLERANCE = 1e-10


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
    """Per-restart traces of an :class:`~gmm_numba.em.EMFit`'s runs."""
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

    Returns
    -------
    xarray.DataTree
    """
    from . import __version__

    groups = {
        "posterior": parameter_dataset(
            params.weights[None, None],
            params.means[None, None],
            params.full_covariances()[None, None],
            feature_names,
        )
    }
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
def _fail(message):
    raise ValueError(f"Not a valid gmm_numba result: {message}")


def check_tree(tree):
    """Check that ``tree`` is a well-formed gmm_numba result.

    Raises
    ------
    ValueError
        Naming the first problem found.
    """
    if not isinstance(tree, xr.DataTree):
        raise TypeError(f"expected an xarray.DataTree (a gmm_numba result), got {type(tree).__name__}.")
    if tree.attrs.get("format") != FORMAT:
        _fail(
            "its root attribute 'format' is not 'gmm_numba.mixture' (was it written by gmm_numba's result.to_netcdf?)."
        )
    version = tree.attrs.get("format_version")
    if not isinstance(version, (int, np.integer)):
        _fail(f"its root attribute 'format_version' is {version!r}, not an integer.")
    if version > FORMAT_VERSION:
        _fail(f"format_version {version} is newer than this gmm_numba reads.")
    try:
        model = get_model(tree.attrs.get("covariance_type"))
    except ValueError as exc:
        _fail(str(exc))
    if "posterior" not in tree.children:
        _fail("it has no 'posterior' group.")
    post = tree["posterior"].to_dataset()
    expected = {
        "weights": ("chain", "draw", "component"),
        "means": ("chain", "draw", "component", "feature"),
        "covariances": ("chain", "draw", "component", "feature", "feature_bis"),
    }
    for name, dims in expected.items():
        if name not in post:
            _fail(f"posterior has no variable {name!r}.")
        if post[name].dims != dims:
            _fail(f"posterior.{name} has dimensions {post[name].dims}, expected {dims}.")
    if post.sizes["feature"] != post.sizes["feature_bis"] or not np.array_equal(
        post["feature"].values, post["feature_bis"].values
    ):
        _fail("the feature and feature_bis coordinates differ.")
    n_components = tree.attrs.get("n_components", post.sizes["component"])
    if not isinstance(n_components, (int, np.integer)) or n_components != post.sizes["component"]:
        _fail(f"its attribute n_components={n_components!r} does not match the {post.sizes['component']} components.")
    from .api import recorded_settings

    recorded_settings(tree.attrs)
    named = tree.attrs.get("named_features", 0)
    if not isinstance(named, (int, np.integer)) or named not in (0, 1):
        _fail(f"its attribute named_features={named!r} is not 0 or 1.")
    if "point_estimate" in tree.children:
        point = tree["point_estimate"].to_dataset()
        for name, dims in expected.items():
            if name not in point or point[name].dims != dims[2:]:
                _fail(f"point_estimate.{name} is missing or has the wrong dimensions.")
        if point.sizes["component"] != post.sizes["component"] or point.sizes["feature"] != post.sizes["feature"]:
            _fail("point_estimate and posterior have different numbers of components or features.")
        _check_values(point, model, "point_estimate")
    _check_values(post, model, "posterior")
    if "sample_stats" in tree.children:
        _check_sample_stats(tree["sample_stats"].to_dataset())
    if "criteria" in tree.children:
        _check_criteria(tree["criteria"].to_dataset())


def _check_values(ds, model, where):
    """Finite parameters, weights on the simplex, SPD covariances of the model's form."""
    weights, covariances = ds["weights"].values, ds["covariances"].values
    for name in ("weights", "means", "covariances"):
        value = ds[name].values
        if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
            _fail(f"{where}.{name} holds non-finite or non-numeric values.")
    if np.any(weights < 0) or np.any(np.abs(weights.sum(axis=-1) - 1.0) > WEIGHT_SUM_TOLERANCE):
        _fail(f"{where}.weights are negative or do not sum to 1.")
    flat = covariances.reshape(-1, *covariances.shape[-2:])
    scale = np.abs(flat).max(axis=(1, 2), keepdims=True)
    if np.any(np.abs(flat - np.swapaxes(flat, 1, 2)) > SYMMETRY_TOLERANCE * scale):
        _fail(f"{where}.covariances are not symmetric.")
    if np.any(np.linalg.eigvalsh(flat)[:, 0] <= 0):
        _fail(f"{where}.covariances are not positive definite.")
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        inverses = np.linalg.inv(flat)
    if not np.all(np.isfinite(inverses)):
        _fail(f"{where}.covariances are too close to singular to invert in floating point.")
    for draw in covariances.reshape(-1, *covariances.shape[-3:]):
        try:
            model.from_full_covariances(draw)
        except ValueError as exc:
            _fail(f"{where}.covariances: {exc}.")


def _check_sample_stats(stats):
    """The restart that won is one of those listed, with a finite trace of its length."""
    if "best_restart" not in stats or "n_iter" not in stats:
        return
    best = stats["best_restart"].values
    n_iter = stats["n_iter"].values
    if best.ndim != 0 or not np.issubdtype(best.dtype, np.integer) or not 0 <= best < n_iter.size:
        _fail(f"sample_stats.best_restart={best} is not one of its {n_iter.size} restarts.")
    if "lower_bound" not in stats:
        return
    trace = stats["lower_bound"].values
    if not np.issubdtype(n_iter.dtype, np.integer) or np.any(n_iter < 0) or np.any(n_iter > trace.shape[-1]):
        _fail(f"sample_stats.n_iter={n_iter} does not fit its lower_bound trace of {trace.shape[-1]} iterations.")
    if not np.issubdtype(trace.dtype, np.floating) or not np.all(np.isfinite(trace[best, : n_iter[best]])):
        _fail("sample_stats.lower_bound of the best restart holds non-finite or non-numeric values.")


def _check_criteria(criteria):
    """Every criterion a finite number."""
    for name, value in criteria.data_vars.items():
        values = value.values
        if not np.issubdtype(values.dtype, np.number) or not np.all(np.isfinite(values)):
            _fail(f"criteria.{name} holds non-finite or non-numeric values.")


def point_parameters(tree):
    """The point estimate of a result as :class:`MixtureParameters`.

    That is the ``point_estimate`` group of a bootstrap result, else the
    single draw of ``posterior``.
    """
    check_tree(tree)
    model = get_model(tree.attrs["covariance_type"])
    if "point_estimate" in tree.children:
        ds = tree["point_estimate"].to_dataset()
    else:
        post = tree["posterior"].to_dataset()
        if post.sizes["chain"] * post.sizes["draw"] != 1:
            _fail("its posterior holds several draws and it has no point_estimate group.")
        ds = post.isel(chain=0, draw=0)
    try:
        covariances = model.from_full_covariances(ds["covariances"].values)
    except ValueError as exc:
        _fail(str(exc))
    params = MixtureParameters.from_covariances(
        model, ds["weights"].values.astype(np.float64), ds["means"].values.astype(np.float64), covariances
    )
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        precisions = model.precisions(params.precisions_cholesky)
    if not (np.all(np.isfinite(params.precisions_cholesky)) and np.all(np.isfinite(precisions))):
        _fail("its covariances are too close to singular to invert in floating point.")
    return params


def load(path):
    """Read a result written by ``result.to_netcdf(path)``, checking what it reads.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    xarray.DataTree
        Loaded into memory (the file is closed).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable netCDF file or not a valid gmm_numba result.
    """
    import os

    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like object, got {path!r} of type {type(path).__name__}.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: {path!r}")
    try:
        with xr.open_datatree(path, engine="netcdf4") as opened:
            tree = opened.load().copy()
    except Exception as exc:  # netCDF4/HDF5 raise many types for damaged files
        raise ValueError(f"Could not read {path!r} as a netCDF file ({type(exc).__name__}: {exc}).") from None
    check_tree(tree)
    return tree
