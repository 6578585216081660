"""The ``prior=`` setting: mclust's conjugate prior, checked and resolved against the data.

``prior=None`` fits by maximum likelihood. ``prior="default"`` is mclust's
``priorControl()`` (its ``defaultPrior``), resolved for each model and number
of components ``K`` from the data:

* ``shrinkage`` 0.01 and ``mean`` the column means;
* ``dof`` ``d + 2`` (3 on one feature);
* ``scale`` ``var(X) / K^(2/d)`` (the covariance matrix, ``n - 1`` in the
  denominator) for the models with full covariances (EEE, EEV, VEV, VVV), and
  ``trace(var(X)) / d / K^(2/d)`` for the diagonal and spherical ones.

A dict sets any of those four keys and leaves the others at the default; a
given ``scale`` is used as it is (not divided by ``K^(2/d)``), a matrix given
for a diagonal or spherical model counts by ``trace / d``. mclust's
``defaultPrior`` ignores a ``dof`` it is given; here it is used.
"""

import json
import numbers

import numpy as np

from ..covariance import get_model, prior_models
from ..covariance._prior import ConjugatePrior, log_prior, unsupported
from ..errors import NotSupportedError

PRIOR_KEYS = ("shrinkage", "mean", "dof", "scale")

#: mclust's ``defaultPrior`` shrinkage.
DEFAULT_SHRINKAGE = 0.01


def check_prior(prior):
    """The ``prior`` setting normalised: None, ``"default"`` or a dict of the given keys (values checked).

    Shapes are checked later, against the data (:func:`resolve_prior`).

    Raises
    ------
    TypeError, ValueError
        Naming the key and the value.
    """
    if prior is None:
        return None
    if isinstance(prior, str):
        if prior != "default":
            raise ValueError(f"prior={prior!r} is not valid: use None, 'default' (mclust's priorControl()) or a dict "
                             f"with any of the keys {', '.join(PRIOR_KEYS)}.")
        return prior
    if not isinstance(prior, dict):
        raise TypeError(f"prior must be None, 'default' or a dict with any of the keys {', '.join(PRIOR_KEYS)}; "
                        f"got {type(prior).__name__}.")
    unknown = sorted(str(key) for key in prior if key not in PRIOR_KEYS)
    if unknown:
        raise ValueError(f"prior has unknown key(s) {', '.join(map(repr, unknown))}; the keys are "
                         f"{', '.join(PRIOR_KEYS)}.")
    out = {}
    for key in ("shrinkage", "dof"):
        if prior.get(key) is None:
            continue
        value = prior[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise TypeError(f"prior['{key}'] must be a finite number, got {value!r}.")
        if key == "dof" and not value > 0:
            raise ValueError(f"prior['dof'] must be positive, got {value!r}.")
        if key == "shrinkage" and not value >= 0:
            raise ValueError(f"prior['shrinkage'] must be non-negative (0: no prior on the means), got {value!r}.")
        out[key] = float(value)
    for key in ("mean", "scale"):
        if prior.get(key) is None:
            continue
        try:
            value = np.asarray(prior[key], dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"prior['{key}'] must be numeric, got {prior[key]!r}.") from None
        if not np.all(np.isfinite(value)):
            raise ValueError(f"prior['{key}'] must be finite, got {prior[key]!r}.")
        if key == "scale" and value.ndim == 0 and not value > 0:
            raise ValueError(f"prior['scale'] must be positive, got {prior[key]!r}.")
        if key == "scale" and value.ndim not in (0, 2):
            raise ValueError(f"prior['scale'] must be a positive number or a (n_features, n_features) matrix; "
                             f"got an array of shape {value.shape}.")
        if key == "mean" and value.ndim != 1:
            raise ValueError(f"prior['mean'] must be a vector of length n_features; got shape {value.shape}.")
        out[key] = value
    return out


def check_prior_model(prior, model):
    """Refuse a prior on a model without a MAP M-step (VEE, EVE, VVE, EVV).

    Raises
    ------
    NotSupportedError
    """
    if prior is not None and not get_model(model).supports_prior:
        raise unsupported(get_model(model), prior_models())


def data_moments(data):
    """Weighted column means (D,) and covariance (D, D) (``n - 1`` in the denominator) of a data source."""
    from .parameters import MixtureParameters

    full = get_model("full")
    d = data.n_features
    one = MixtureParameters.from_covariances(full, np.ones(1), np.zeros((1, d)), np.eye(d)[None])
    stats = data.em_statistics(one)
    mean = stats.means()[0]
    covariance = stats.scatter()[0] / max(stats.total_weight - 1.0, 1e-300)
    return mean, 0.5 * (covariance + covariance.T)


def resolve_prior(prior, moments, model, n_components):
    """The hyper-parameters for ``model`` with ``n_components`` components.

    Parameters
    ----------
    prior : None, "default" or dict
        As :func:`check_prior` returns it.
    moments : tuple (mean, covariance)
        Of the data (:func:`data_moments`).
    model : CovarianceModel
    n_components : int

    Returns
    -------
    ConjugatePrior or None

    Raises
    ------
    ValueError
        ``mean`` or ``scale`` of the wrong shape, a ``scale`` matrix not positive definite.
    NotSupportedError
        A model without a MAP M-step.
    """
    if prior is None:
        return None
    model = get_model(model)
    check_prior_model(prior, model)
    given = {} if prior == "default" else prior
    mean, covariance = moments
    d = mean.shape[0]
    prior_mean = given.get("mean", mean)
    if prior_mean.shape != (d,):
        raise ValueError(f"prior['mean'] has {prior_mean.shape[0]} entries but X has {d} features.")
    scale = given.get("scale")
    if scale is None:
        factor = float(n_components) ** (-2.0 / d)
        scale = factor * covariance
    elif scale.ndim == 2:
        if scale.shape != (d, d):
            raise ValueError(f"prior['scale'] has shape {scale.shape} but X has {d} features: give a ({d}, {d}) "
                             "matrix or a number.")
        if not np.allclose(scale, scale.T) or np.any(np.linalg.eigvalsh(0.5 * (scale + scale.T)) <= 0):
            raise ValueError("prior['scale'] must be a symmetric positive definite matrix.")
    if model.layout != "full" or d == 1:
        scale = float(np.trace(np.atleast_2d(scale)) / d) if np.ndim(scale) == 2 else float(scale)
        if not scale > 0:
            raise ValueError(f"prior['scale'] resolves to {scale}; it must be positive (a feature of zero variance?).")
    elif np.ndim(scale) == 0:
        scale = float(scale) * np.eye(d)
    return ConjugatePrior(
        shrinkage=given.get("shrinkage", DEFAULT_SHRINKAGE),
        mean=np.asarray(prior_mean, dtype=np.float64),
        dof=given.get("dof", d + 2.0),
        scale=scale,
    )


def log_prior_of(params, prior):
    """The parameter-dependent log prior terms of ``params`` (0 without a prior)."""
    if prior is None:
        return 0.0
    return log_prior(params.model, params.means, params.full_covariances(), prior)


def prior_attr(prior):
    """``prior`` as a result attribute (netCDF takes strings): "None", "default" or JSON."""
    if prior is None or isinstance(prior, str):
        return str(prior)
    return json.dumps({key: np.asarray(value).tolist() for key, value in prior.items()})


def prior_from_attr(value):
    """Inverse of :func:`prior_attr`.

    Raises
    ------
    ValueError
    """
    value = str(value)
    if value == "None":
        return None
    if value == "default":
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        raise ValueError(f"the recorded prior {value!r} is not valid JSON") from None


def refuse_with(prior, what):
    """Refuse ``prior`` together with a feature that has no MAP fit yet (noise, labels, missing values).

    Raises
    ------
    NotSupportedError
    """
    if prior is not None:
        raise NotSupportedError(f"prior= cannot be combined with {what} yet: fit with one of them.")
