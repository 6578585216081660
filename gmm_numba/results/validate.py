"""Checks that a tree is a well-formed gmm_numba result, and its point estimate and settings read back."""

import numpy as np
import xarray as xr

from ..covariance import get_model
from ..fitting.noise import NoiseComponent
from ..fitting.parameters import MixtureParameters
from ..fitting.prior import prior_from_attr
from ..fitting.settings import RECORDED_SETTINGS, FitSettings
from .tree import FORMAT, FORMAT_VERSION

WEIGHT_SUM_TOLERANCE = 1e-8
SYMMETRY_TOLERANCE = 1e-10


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
        _check_values(point, model, "point_estimate", _noise_weights(tree, point=True))
    _check_values(post, model, "posterior", _noise_weights(tree))
    if "sample_stats" in tree.children:
        _check_sample_stats(tree["sample_stats"].to_dataset())
    if "criteria" in tree.children:
        _check_criteria(tree["criteria"].to_dataset())


def _noise_weights(tree, point=False):
    """The noise group's weight per draw (shape (chain, draw), or () for ``point``), or 0 without noise."""
    if "noise" not in tree.children:
        return 0.0
    noise = tree["noise"].to_dataset()
    for name, dims in (("weight", ("chain", "draw")), ("volume", ())):
        if name not in noise or noise[name].dims != dims:
            _fail(f"noise.{name} is missing or does not have dimensions {dims}.")
        values = noise[name].values
        if not np.issubdtype(values.dtype, np.floating) or not np.all(np.isfinite(values)):
            _fail(f"noise.{name} holds non-finite or non-numeric values.")
    weight, volume = noise["weight"].values, float(noise["volume"].values)
    if np.any(weight <= 0) or np.any(weight >= 1) or not volume > 0:
        _fail("noise.weight must lie strictly between 0 and 1 and noise.volume be positive.")
    if point:
        if weight.size != 1:
            _fail("a noise group with several draws is not supported.")
        return float(weight.ravel()[0])
    return weight


def noise_component(tree):
    """The result's noise component as :class:`NoiseComponent`, or None if it has none."""
    if "noise" not in tree.children:
        return None
    weight = _noise_weights(tree, point=True)
    volume = tree["noise"]["volume"]
    region = str(volume.attrs.get("region", "box"))  # results written before the attribute: mclust's box
    if region not in ("box", "hull", "given"):
        _fail(f"noise.volume's region attribute is {region!r}; expected 'box', 'hull' or 'given'.")
    return NoiseComponent(weight, float(volume.values), region)


def _check_values(ds, model, where, noise_weight=0.0):
    """Finite parameters, weights (with the noise weight) on the simplex, SPD covariances of the model's form."""
    weights, covariances = ds["weights"].values, ds["covariances"].values
    for name in ("weights", "means", "covariances"):
        value = ds[name].values
        if not np.issubdtype(value.dtype, np.floating) or not np.all(np.isfinite(value)):
            _fail(f"{where}.{name} holds non-finite or non-numeric values.")
    if np.any(weights < 0) or np.any(np.abs(weights.sum(axis=-1) + noise_weight - 1.0) > WEIGHT_SUM_TOLERANCE):
        noise = " with the noise weight" if np.any(noise_weight) else ""
        _fail(f"{where}.weights are negative or do not sum to 1{noise}.")
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
    """``converged`` holds booleans; the restart that won is one of those listed, with a finite trace of its length."""
    if "converged" in stats and stats["converged"].dtype != bool:
        values = stats["converged"].values
        _fail(
            f"sample_stats.converged must hold booleans (True/False), got {values.dtype} values "
            f"{np.array2string(values.ravel()[:4], separator=', ')}."
        )
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


def recorded_settings(attrs):
    """The estimator settings stored as root attributes, converted back to their types and checked.

    Parameters
    ----------
    attrs : dict
        Root attributes of a result.

    Returns
    -------
    dict
        Keyword arguments for :class:`FitSettings` (and :class:`GaussianMixture`).

    Raises
    ------
    ValueError
        Naming the attribute that does not hold a valid value.
    """
    settings = _converted_settings(attrs)
    try:
        FitSettings.validated(**settings)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Not a valid gmm_numba result: its recorded settings are invalid: {exc}") from None
    return settings


def _converted_settings(attrs):
    settings = {}
    for name in RECORDED_SETTINGS:
        if name in attrs:
            settings[name] = attrs[name]
    if "prior" in settings:
        try:
            settings["prior"] = prior_from_attr(settings["prior"])
        except ValueError as exc:
            raise ValueError(f"Not a valid gmm_numba result: its root attribute prior: {exc}.") from None
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
