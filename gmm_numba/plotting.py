"""Pictures (needs the optional ``plots`` extra: matplotlib)."""

import numbers

import numpy as np

from .results import check_tree


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("Plotting needs matplotlib: pip install 'gmm_numba[plots]'.") from None
    return plt


def _axes(plt, ax, figsize):
    """``ax``, or new Axes when it is None; anything else that is not Axes is refused."""
    if ax is None:
        return plt.subplots(figsize=figsize)[1]
    from matplotlib.axes import Axes

    if not isinstance(ax, Axes):
        raise TypeError(
            f"ax must be matplotlib Axes (for example from plt.subplots()) or None, got {type(ax).__name__}."
        )
    return ax


#: The criterion plot's y axis spans the best this many cells: the band where the choice is made.
N_BEST_SHOWN = 12


def plot_criterion(result, criterion=None, ax=None, n_best=N_BEST_SHOWN):
    """Criterion against the number of components, a line per covariance model, best marked.

    Parameters
    ----------
    result : xarray.DataTree
        From :func:`gmm_numba.select`.
    criterion : {"bic", "aic", "icl"}, optional
        Defaults to the one the selection used.
    ax : matplotlib Axes, optional
    n_best : int or None, default=12
        The y axis spans the ``n_best`` lowest cells (with a margin), where
        the choice is made; lines above leave the plot, and models with no
        cell in view are marked "off scale" in the legend. None shows every cell.

    Returns
    -------
    matplotlib Axes
    """
    from .fitting.checks import check_param
    from .fitting.criteria import CRITERIA

    plt = _pyplot()
    check_tree(result)
    if "selection" not in result.children:
        raise ValueError("This result has no 'selection' group; make it with gmm_numba.select.")
    if n_best is not None:
        check_param("n_best", n_best, "int", low=1)
    sel = result["selection"].to_dataset()
    criterion = criterion or sel.attrs.get("criterion", "bic")
    check_param("criterion", criterion, "option", options=CRITERIA)
    if criterion not in sel or not np.any(np.isfinite(sel[criterion].values)):
        raise ValueError(f"The selection has no finite {criterion} value to plot: every cell failed.")
    ax = _axes(plt, ax, (6, 4))
    ks = sel["n_components"].values
    values = sel[criterion].values
    low, high = criterion_band(values, n_best)
    for index, (name, row) in enumerate(zip(sel["covariance_type"].values, values)):
        in_view = np.any((row >= low) & (row <= high))
        ax.plot(ks, row, label=str(name) if in_view else f"{name} (off scale)", **curve_style(index))
    i, j = np.unravel_index(np.nanargmin(values), values.shape)
    best = f"{sel['covariance_type'].values[i]}, K={ks[j]}"
    ax.plot(ks[j], values[i, j], marker="*", markersize=18, color="black", linestyle="none", label=f"best: {best}")
    ax.set_ylim(low, high)
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    zoom = f" (y axis: the best {n_best} cells)" if n_best is not None and np.sum(np.isfinite(values)) > n_best else ""
    ax.set_title(f"{criterion.upper()}: {best} chosen{zoom}")
    ax.set_xticks(ks)
    ax.legend(ncol=2 if len(sel["covariance_type"]) > 7 else 1, fontsize="small")
    return ax


#: Markers and dash patterns that, with ten colours, tell fourteen curves apart.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X")
_LINESTYLES = ("-", "--", ":", "-.")


def curve_style(index):
    """Colour, marker and line style of the ``index``-th curve: no two of the first 28 alike.

    Returns
    -------
    dict
        Keyword arguments for ``Axes.plot``.
    """
    return {
        "color": f"C{index % 10}",
        "marker": _MARKERS[index % len(_MARKERS)],
        "linestyle": _LINESTYLES[(index // len(_MARKERS)) % len(_LINESTYLES)],
        "markersize": 5,
    }


def criterion_band(values, n_best=N_BEST_SHOWN):
    """The y range of :func:`plot_criterion`: from the lowest finite value to the ``n_best``-th, with 8% margins.

    Parameters
    ----------
    values : ndarray
        The criterion of every cell (NaN where a cell failed).
    n_best : int or None
        None: every finite value.

    Returns
    -------
    (float, float)
    """
    finite = np.sort(values[np.isfinite(values)])
    low, high = finite[0], finite[-1 if n_best is None else min(n_best, finite.size) - 1]
    margin = 0.08 * (high - low) or max(1.0, 1e-3 * abs(low))
    return low - margin, high + margin


def ellipse_points(mean, covariance, n_sigma, n_points=100):
    """Points on the ``n_sigma`` ellipse of a 2-D Gaussian, shape (n_points, 2).

    Raises
    ------
    ValueError
        If ``mean`` is not 2-D, or ``covariance`` is not a finite symmetric
        positive definite 2 x 2 matrix.
    """
    from .fitting.checks import check_init_array

    mean = check_init_array(mean, "mean", (2,))
    covariance = check_init_array(covariance, "covariance", (2, 2))
    if not np.allclose(covariance, covariance.T) or not np.all(np.linalg.eigvalsh(covariance) > 0):
        raise ValueError(f"covariance must be symmetric positive definite, got {covariance.tolist()}.")
    angles = np.linspace(0, 2 * np.pi, n_points)
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return mean + n_sigma * circle @ np.linalg.cholesky(covariance).T


def plot_classification(result, X, features=None, ax=None, responsibilities=None):
    """Data coloured by component with each component's 1 and 2 sigma ellipses.

    With a noise component, the rows it explains best are grey crosses.

    Parameters
    ----------
    result : xarray.DataTree
    X : array-like of shape (n_samples, n_features)
    features : pair of str or int, optional
        Which two (different) features to show (default: the first two).
    ax : matplotlib Axes, optional
    responsibilities : ndarray of shape (n_samples, 2), optional
        When given (K = 2), points are coloured by their mix of the two components.

    Returns
    -------
    matplotlib Axes
    """
    from .data.labeled import as_labeled
    from .results.convert import fitted_from_tree

    plt = _pyplot()
    labeled = as_labeled(X)
    fitted = fitted_from_tree(result)[0]
    names = [str(f) for f in result["posterior"]["feature"].values]
    _check_feature_names(labeled, result, names)
    values = fitted.check_input(labeled.values).astype(np.float64)
    idx = _feature_pair(names, features)
    if responsibilities is not None:
        responsibilities = _check_responsibilities(responsibilities, values.shape[0])
    ax = _axes(plt, ax, (6, 5))
    colors = plt.get_cmap("tab10")
    if responsibilities is not None:
        r = np.asarray(responsibilities)[:, 0]
        point_colors = r[:, None] * np.array(colors(0)) + (1 - r[:, None]) * np.array(colors(1))
        ax.scatter(values[:, idx[0]], values[:, idx[1]], s=12, c=np.clip(point_colors, 0, 1))
    else:
        labels = fitted.scores(values)[1]
        noise = labels < 0  # rows the noise component explains best: grey crosses
        ax.scatter(values[~noise, idx[0]], values[~noise, idx[1]], s=12, c=[colors(k % 10) for k in labels[~noise]])
        if noise.any():
            ax.scatter(values[noise, idx[0]], values[noise, idx[1]], s=14, marker="x", c="0.5", label="noise")
            ax.legend(loc="best")
    full = fitted.parameters.full_covariances()
    for k, mean in enumerate(fitted.parameters.means):
        cov = full[k][np.ix_(idx, idx)]
        for n_sigma, style in ((1, "-"), (2, "--")):
            pts = ellipse_points(mean[idx], cov, n_sigma)
            ax.plot(pts[:, 0], pts[:, 1], style, color=colors(k % 10), linewidth=1.5)
        ax.plot(*mean[idx], marker="x", color="black")
    ax.set_xlabel(names[idx[0]])
    ax.set_ylabel(names[idx[1]])
    return ax


def _feature_pair(names, features):
    """Indices of the two distinct features to show (default: the first two).

    Raises
    ------
    ValueError
        With fewer than two features, or when both picks are the same feature.
    """
    if len(names) < 2:
        raise ValueError("plot_classification needs two features; this mixture has one.")
    features = features if features is not None else (0, 1)
    if isinstance(features, str) or not hasattr(features, "__iter__"):
        raise TypeError(f"features must be a pair of feature names or indices, got {features!r}.")
    idx = []
    for f in features:
        if isinstance(f, str):
            if f not in names:
                raise ValueError(f"features: {f!r} is not a feature of this mixture; it has {names}.")
            idx.append(names.index(f))
        elif isinstance(f, numbers.Integral) and not isinstance(f, (bool, np.bool_)):
            i = int(f)
            if not -len(names) <= i < len(names):
                raise ValueError(f"features: index {i} is out of range for {len(names)} features {names}.")
            idx.append(i % len(names))
        else:
            raise TypeError(f"features: {f!r} is neither a feature name nor an integer index; the features: {names}.")
    if len(idx) != 2 or idx[0] == idx[1]:
        raise ValueError(f"features must name two different features; got {features!r}.")
    return idx


def _check_responsibilities(responsibilities, n_samples):
    """Responsibilities of shape ``(n_samples, 2)``, finite and in [0, 1]."""
    from .fitting.checks import check_init_array

    r = check_init_array(responsibilities, "responsibilities", (n_samples, 2))
    if np.any((r < 0) | (r > 1)):
        raise ValueError("responsibilities must lie in [0, 1] (as those of GaussianMixture.predict_proba).")
    return r


def _check_feature_names(labeled, result, names):
    """Refuse named data whose columns differ from the fitted features (a silently wrong picture)."""
    if labeled.named and int(result.attrs.get("named_features", 0)) and list(labeled.feature_names) != names:
        raise ValueError(f"X has the features {list(labeled.feature_names)}; the mixture was fitted on {names}.")
