"""ArviZ-style summaries of a result."""

import numpy as np
import pandas as pd
import xarray as xr

from ..covariance import get_model
from ..errors import one_line
from ..fitting.checks import check_param
from .validate import check_tree

#: Probability mass of the interval :func:`summary` reports for draws: an
#: equal-tailed one (the 3% and 97% quantiles), which for bootstrap draws is
#: the percentile bootstrap interval (mclust's MclustBootstrap reports the
#: same kind). It is computed here, so it does not change with the installed
#: ArviZ, whose ``az.summary`` defaults differ: a 94% highest-density
#: interval in 0.x, an 89% equal-tailed interval in 1.x.
INTERVAL_PROB = 0.94

#: The parameters :func:`summary` lists.
PARAMETERS = ("weights", "means", "covariances")

#: The groups of a result ArviZ knows; :func:`to_inference_data` keeps only these.
ARVIZ_GROUPS = ("posterior", "sample_stats", "observed_data", "log_likelihood")


def _covariance_cells(model, n_components, n_features):
    """``(component, i, j)`` of the covariance entries worth a row; component None for a shared matrix.

    A full matrix lists its upper triangle; models with diagonal or spherical
    factors only their variances, since their other entries are zero by
    construction; a matrix shared by every component (EII, EEI, EEE), once.
    """
    if model.layout != "full":
        pairs = [(i, i) for i in range(n_features)]
    else:
        pairs = [(i, j) for i in range(n_features) for j in range(i, n_features)]
    components = [None] if model.shared else range(n_components)
    return [(k, i, j) for k in components for i, j in pairs]


def _rows(ds, name, feature_names, model):
    da = ds[name]
    stacked = da.values.reshape(-1, *da.shape[2:])  # (draws, ...)
    n_components = da.sizes["component"]
    if name == "weights":
        for k in range(n_components):
            yield f"weights[{k}]", stacked[:, k]
    elif name == "means":
        for k in range(n_components):
            for i, f in enumerate(feature_names):
                yield f"means[{k}, {f}]", stacked[:, k, i]
    else:
        for k, i, j in _covariance_cells(model, n_components, len(feature_names)):
            label = ":" if k is None else k
            yield f"covariances[{label}, {feature_names[i]}, {feature_names[j]}]", stacked[:, k or 0, i, j]


def summary(result, var_names=("weights", "means", "covariances"), prob=INTERVAL_PROB):
    """A row per parameter, in the style of ``arviz.summary``.

    Parameters
    ----------
    result : xarray.DataTree
        From :func:`gmm_numba.fit`, :func:`gmm_numba.select` or :func:`gmm_numba.bootstrap`.
    var_names : sequence of str
        Which parameters to list. Covariances list the upper triangle of
        each component's matrix; a tied matrix once, as
        ``covariances[:, f, g]``; diagonal models only the variances.
    prob : float
        Mass of the equal-tailed (percentile) interval when there are
        several draws. 0.94 by default, whatever ArviZ's own default is:
        see :data:`INTERVAL_PROB`.

    Returns
    -------
    pandas.DataFrame
        Index like ``weights[0]``, ``means[1, waiting]``; with a noise
        component, ``weights`` adds the row ``weights[noise]``. Columns ``mean``
        and, when the posterior holds several draws, ``sd`` and the interval
        bounds (``eti_3%``, ``eti_97%`` for ``prob=0.94``).

    Raises
    ------
    TypeError
        If ``result`` is not a gmm_numba result, ``var_names`` not a list
        of names or ``prob`` not a number.
    ValueError
        For an invalid result (see :func:`gmm_numba.load`), an unknown name
        in ``var_names`` or ``prob`` outside (0, 1).
    """
    check_tree(result)
    if isinstance(var_names, str):
        var_names = [var_names]
    if var_names is None or not all(isinstance(name, str) for name in var_names):
        raise TypeError(f"var_names must be a list of parameter names such as ['weights', 'means'], got {var_names!r}.")
    unknown = [name for name in var_names if name not in PARAMETERS]
    if unknown:
        raise ValueError(f"var_names {unknown} are not parameters; choose among {list(PARAMETERS)}.")
    check_param("prob", prob, "float", low=0, high=1, low_inclusive=False)
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie strictly between 0 and 1, got {prob!r}.")
    ds = result["posterior"].to_dataset()
    features = [str(f) for f in ds["feature"].values]
    n_draws = ds.sizes["chain"] * ds.sizes["draw"]
    lo_q, hi_q = (1 - prob) / 2, 1 - (1 - prob) / 2
    lo_name, hi_name = f"eti_{100 * lo_q:g}%", f"eti_{100 * hi_q:g}%"
    model = get_model(result.attrs["covariance_type"])
    records = {}
    for name in var_names:
        for label, values in _rows(ds, name, features, model):
            row = {"mean": float(np.mean(values))}
            if n_draws > 1:
                row["sd"] = float(np.std(values, ddof=1))
                row[lo_name] = float(np.quantile(values, lo_q))
                row[hi_name] = float(np.quantile(values, hi_q))
            records[label] = row
        if name == "weights" and "noise" in result.children:
            records["weights[noise]"] = {"mean": float(result["noise"]["weight"].mean())}
    return pd.DataFrame.from_dict(records, orient="index")


def to_inference_data(result):
    """The result's ArviZ groups, in the form the installed ArviZ takes.

    ``az.summary(gmm_numba.to_inference_data(result))`` and
    ``az.plot_forest(...)`` of the same work with ArviZ 0.x and 1.x.

    Parameters
    ----------
    result : xarray.DataTree
        From :func:`gmm_numba.fit`, :func:`gmm_numba.select` or :func:`gmm_numba.bootstrap`.

    Returns
    -------
    arviz.InferenceData or xarray.DataTree
        ``posterior``, ``sample_stats``, ``observed_data`` and
        ``log_likelihood`` (those the result has): an ``InferenceData`` for
        ArviZ before 1.0, a ``DataTree`` from 1.0 on (ArviZ 1.x works on
        DataTrees). Groups ArviZ does not know (``criteria``, ``selection``,
        ``point_estimate``) are left out.

    Raises
    ------
    TypeError, ValueError
        If ``result`` is not a valid gmm_numba result.
    """
    import arviz as az

    check_tree(result)
    groups = {name: result[name].to_dataset() for name in ARVIZ_GROUPS if name in result.children}
    if int(az.__version__.split(".")[0]) >= 1:
        tree = xr.DataTree.from_dict({f"/{name}": ds for name, ds in groups.items()}, name=result.name)
        tree.attrs = dict(result.attrs)
        return tree
    return az.InferenceData(**groups)


def describe(result):
    """A short human-readable description of a result.

    For a result of :func:`gmm_numba.select`, the criterion table comes
    first (see :func:`format_selection`). Then the fit: criteria, how EM
    ended and from how many starts, and a table of the weights and means:
    for a bootstrap result, those of the fit the draws started from (its
    ``point_estimate``), not the average of the draws.

    Returns
    -------
    str

    Raises
    ------
    TypeError, ValueError
        If ``result`` is not a valid gmm_numba result.
    """
    check_tree(result)
    attrs = result.attrs
    lines = []
    if "selection" in result.children:
        lines += [format_selection(result["selection"].to_dataset()), ""]
    lines.append(f"Gaussian mixture: {attrs.get('n_components')} components, covariance '{attrs['covariance_type']}'")
    if "criteria" in result.children:
        c = result["criteria"].to_dataset()
        lines.append(
            f"log-likelihood {float(c['log_likelihood']):.6g}, {int(c['n_parameters'])} parameters, "
            f"n = {float(c['n_samples']):g}"
        )
        lines.append(f"BIC {float(c['bic']):.6g}   AIC {float(c['aic']):.6g}   ICL {float(c['icl']):.6g}")
    if "sample_stats" in result.children:
        lines.append(_how_em_ended(result["sample_stats"].to_dataset(), _chosen_origin(result)))
    if "bootstrap_method" in attrs:
        lines.append(f"bootstrap ({attrs['bootstrap_method']}): {attrs.get('n_draws')} draws in posterior")
    point = _point_estimate(result)
    table = pd.DataFrame(point["means"].values, columns=[str(f) for f in point["feature"].values])
    table.insert(0, "weight", point["weights"].values)
    table.index.name = "component"
    if "noise" in result.children:
        noise = result["noise"].to_dataset()
        table.loc["noise"] = [float(noise["weight"].mean())] + [np.nan] * (table.shape[1] - 1)
        region = {"hull": "convex hull", "given": "given"}.get(str(noise["volume"].attrs.get("region")), "box")
        lines.append(f"noise component: uniform over volume {float(noise['volume']):.6g} ({region}; label -1)")
    lines.append(table.to_string(float_format=lambda v: f"{v:.4g}", na_rep=""))
    return "\n".join(lines)


def _how_em_ended(stats, origin):
    """'converged after 67 iterations (best of 17 starts, ...)': the winning run, and what the starts were."""
    best = int(stats["best_restart"])
    state = "converged" if bool(stats["converged"].values[best]) else "NOT converged"
    n_starts = stats.sizes["restart"]
    discarded = int(np.count_nonzero(stats["error"].values != ""))
    notes = [f"best of {n_starts} starts" + (f" made by {origin}" if origin else "")]
    if discarded:
        notes.append(f"{discarded} of them failed or were discarded: see sample_stats.error")
    return f"{state} after {int(stats['n_iter'].values[best])} iterations ({'; '.join(notes)})"


def _chosen_origin(result):
    """The selection's ``origin`` of the chosen cell ('' when it is the best of the cell's own starts)."""
    if "selection" not in result.children or "origin" not in result["selection"]:
        return ""
    sel = result["selection"]
    cell = sel["origin"].sel(
        covariance_type=sel.attrs["best_covariance_type"], n_components=sel.attrs["best_n_components"]
    )
    return str(cell.values)


def format_selection(selection):
    """The criterion table of a selection, whole: a row per covariance model, a column per K, best starred.

    Failed cells are listed with their reasons, and cells that stopped
    before EM converged with whether they could change the choice.

    Parameters
    ----------
    selection : xarray.Dataset
        The ``selection`` group of a result of :func:`gmm_numba.select`.

    Returns
    -------
    str
    """
    criterion = selection.attrs["criterion"]
    values = selection[criterion].values
    best = (selection.attrs["best_covariance_type"], int(selection.attrs["best_n_components"]))
    models = [str(m) for m in selection["covariance_type"].values]
    ks = [int(k) for k in selection["n_components"].values]
    cells = [
        [
            "failed" if not np.isfinite(values[i, j]) else f"{values[i, j]:.2f}" + ("*" if (model, k) == best else " ")
            for j, k in enumerate(ks)
        ]
        for i, model in enumerate(models)
    ]
    table = pd.DataFrame(cells, index=pd.Index(models, name="covariance"), columns=pd.Index(ks, name="K"))
    sign = " (mclust reports the same number negated)" if criterion in ("bic", "icl") else ""
    lines = [f"{criterion.upper()}, lower is better{sign}; * marks the chosen model", table.to_string()]
    lines += _failed_cells(selection, models, ks)
    lines += _unconverged_cells(selection, models, ks)
    return "\n".join(lines)


def _failed_cells(selection, models, ks):
    errors = selection["error"].values
    failed = {}
    for i, model in enumerate(models):
        for j, k in enumerate(ks):
            if errors[i, j]:
                failed.setdefault(one_line(errors[i, j]), []).append(f"{model} K={k}")
    if not failed:
        return []
    return ["Failed cells:", *(f"  {', '.join(where)}: {reason}" for reason, where in failed.items())]


def _unconverged_cells(selection, models, ks):
    """Cells whose best run stopped before reaching tol, and whether they matter."""
    if "converged" not in selection:
        return []
    slow = [
        (i, j)
        for i in range(len(models))
        for j in range(len(ks))
        if not selection["error"].values[i, j] and not selection["converged"].values[i, j]
    ]
    if not slow:
        return []
    listed = ", ".join(f"{models[i]} K={ks[j]} ({int(selection['n_iter'].values[i, j])} iterations)" for i, j in slow)
    lines = [f"Not converged (stopped before reaching tol): {listed}"]
    if "may_change_choice" in selection:
        doubtful = [f"{models[i]} K={ks[j]}" for i, j in slow if selection["may_change_choice"].values[i, j]]
        if doubtful:
            lines.append(f"  {', '.join(doubtful)} could change the choice: raise max_iter.")
        else:
            lines.append(
                "  None can change the choice: even with the log-likelihood EM could still gain "
                "(Aitken's estimate), each stays above the chosen cell's criterion."
            )
    return lines


def _point_estimate(result):
    """The fit's parameters: ``point_estimate``, else the mean over the posterior draws."""
    if "point_estimate" in result.children:
        return result["point_estimate"].to_dataset()
    return result["posterior"].to_dataset().mean(("chain", "draw"))
