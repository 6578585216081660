"""The result of a sweep whose cells are fitted one by one (with noise, or with labels)."""

import numpy as np
import xarray as xr

from ..errors import FitError
from ..results import build_tree


def selection_result(fits, table, n_parameters, converged, n_iter, errors, origins, names, ks, criterion, labeled,
                     settings, extra_attrs=None, may_change_choice=None):
    """The chosen cell's result tree with the ``selection`` group, as :func:`gmm_numba.select` returns it.

    Parameters
    ----------
    fits : dict
        ``(i, j) -> (EMFit, Criteria, NoiseComponent or None)`` for the cells that succeeded.
    table : dict of str to ndarray of shape (n_models, n_ks)
        log_likelihood, bic, aic, icl.
    n_parameters, converged, n_iter, errors, origins : ndarray of shape (n_models, n_ks)
    names : list of str
    ks : list of int
    criterion : str
    labeled : LabeledInput
    settings : dict
        Recorded as root attributes.
    extra_attrs : dict, optional
        Added to the ``selection`` group's attributes.
    may_change_choice : ndarray of bool of shape (n_models, n_ks), optional
        The unconverged cells that could change the choice (none by default).

    Raises
    ------
    FitError
        No cell succeeded.
    """
    if not fits:
        reasons = sorted(set(errors.ravel()))
        raise FitError("Every model failed to fit:\n" + "\n".join(f"- {r}" for r in reasons))
    shape = errors.shape
    scores = np.where(np.isnan(table[criterion]), np.inf, table[criterion])
    best_i, best_j = np.unravel_index(np.argmin(scores), shape)
    fit, crit, noise = fits[best_i, best_j]
    result = build_tree(
        fit.parameters,
        feature_names=labeled.feature_names,
        named_features=labeled.named,
        em_fit=fit,
        criteria=crit,
        settings=settings,
        noise=noise,
    )
    dims = ("covariance_type", "n_components")
    selection = xr.Dataset(
        {
            **{name: (dims, values) for name, values in table.items()},
            "n_parameters": (dims, n_parameters),
            "converged": (dims, converged),
            "n_iter": (dims, n_iter),
            "error": (dims, errors.astype(str)),
            "origin": (dims, origins.astype(str)),
            "may_change_choice": (dims, np.zeros(shape, bool) if may_change_choice is None else may_change_choice),
        },
        coords={"covariance_type": list(names), "n_components": np.asarray(ks, dtype=np.int64)},
        attrs={
            "criterion": criterion,
            "best_covariance_type": names[best_i],
            "best_n_components": int(ks[best_j]),
            **(extra_attrs or {}),
        },
    )
    result.attrs["covariance_type"] = names[best_i]  # the chosen model by the name its row has
    result["selection"] = xr.DataTree(selection)
    return result
