"""Covariance models, reachable by scikit-learn's or mclust's name.

>>> from gmm_numba.covariance import get_model
>>> get_model("VVV") is get_model("full")
True
>>> canonical_names()[:4]
['EII', 'spherical', 'EEI', 'VEI']

mclust writes ``Sigma_k = lambda_k D_k A_k D_k^T`` (volume, orientation,
shape) and names a model by whether each is Equal across components,
Varying, or the Identity. The four models scikit-learn has keep its names
(``full`` = VVV, ``tied`` = EEE, ``diag`` = VVI, ``spherical`` = VII);
the other ten go by mclust's.

A new model is a module that defines a :class:`CovarianceModel` subclass
and registers an instance with :func:`register`.
"""

from ._base import CovarianceModel

_REGISTRY = {}


def register(model):
    """Make ``model`` reachable by its name and its aliases."""
    for key in (model.name, *model.aliases):
        if key in _REGISTRY and _REGISTRY[key] is not model:
            raise ValueError(f"covariance model name {key!r} is already taken")
        _REGISTRY[key] = model
    return model


def get_model(name):
    """The model registered under ``name``.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    if isinstance(name, CovarianceModel):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"covariance_type={name!r} is not a known covariance model; choose one of {', '.join(available_models())}."
        ) from None


def available_models():
    """All accepted names (canonical names and aliases), sorted."""
    return sorted(_REGISTRY)


def mclust_names():
    """mclust's names of the models for several features, in mclust's order (``EII`` ... ``VVV``)."""
    return [get_model(name).mclust_name for name in canonical_names() if not get_model(name).only_for_one_feature]


def for_one_feature(model):
    """The model that ``model`` collapses to on one feature: mclust's ``E`` or ``V`` (by its volume)."""
    return get_model(get_model(model).mclust_name[0])


def check_n_features(model, n_features):
    """Refuse ``E`` and ``V`` on more than one feature.

    Raises
    ------
    ValueError
        Naming the models to use instead.
    """
    if model.only_for_one_feature and n_features != 1:
        raise ValueError(
            f"covariance_type={model.name!r} is mclust's model for one feature, but X has {n_features} features; "
            f"use {'EII' if model.name == 'E' else 'VII'} (or any of {', '.join(mclust_names())})."
        )


def prior_models():
    """mclust's names of the models that take the conjugate prior (``prior=``), in mclust's order."""
    return [get_model(name).mclust_name for name in canonical_names() if get_model(name).supports_prior]


def canonical_names():
    """The canonical name of each registered model, in registration order."""
    seen = []
    for model in _REGISTRY.values():
        if model.name not in seen:
            seen.append(model.name)
    return seen


from . import diag, eei, eev, eii, eve, evi, evv, full, spherical, tied, univariate, vee, vei, vev, vve  # noqa: E402

# mclust's order (volume, shape, orientation; simplest first)
for _module in (eii, spherical, eei, vei, evi, diag, tied, vee, eve, vve, eev, vev, evv, full):
    register(_module.MODEL)
for _model in univariate.MODELS:
    register(_model)

__all__ = [
    "CovarianceModel",
    "register",
    "get_model",
    "available_models",
    "canonical_names",
    "mclust_names",
    "for_one_feature",
    "check_n_features",
    "prior_models",
]
