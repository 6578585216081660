"""Model selection over the number of components and covariance models."""

import time

import numpy as np
import xarray as xr

from .covariance import get_model
from .criteria import CRITERIA, Criteria
from .em import fit_em
from .errors import ConvergenceWarning, FitError, warn_at_caller
from .initialization import DEFAULT_INIT_SAMPLE_SIZE, INIT_METHODS, initial_statistics
from .labeled import as_labeled
from .parameters import m_step
from .results import build_tree
from .sources import InMemoryData
from .validation import check_data, check_param, check_random_state, check_sample_weight

DEFAULT_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

#: Initialisations per cell. Each is shared by every covariance model.
DEFAULT_N_INIT = 20

#: Convergence threshold of a sweep: much tighter than a single fit's
#: default, because cells are compared by their log-likelihoods.
DEFAULT_TOL = 1e-8

#: Short-EM screening: every start runs this many iterations, then only the
#: best few continue to convergence.
SCREEN_ITERATIONS = 20
SCREEN_KEEP = 3

#: ``init_params="mixed"``: the first start of a cell is k-means++, the
#: others random rows. k-means++ starts tend to reach the same partition
#: after the Lloyd steps; random rows explore more local optima.
MIXED = "mixed"


def _initial_method(init_params, restart):
    if init_params != MIXED:
        return init_params
    return "k-means++" if restart == 0 else "random_from_data"


def _cell_seed(base_seed, n_components, restart):
    return np.random.default_rng([base_seed, n_components, restart])


def select(
    X,
    n_components=range(1, 10),
    covariance_type=DEFAULT_COVARIANCE_TYPES,
    criterion="bic",
    *,
    n_init=DEFAULT_N_INIT,
    random_state=None,
    sample_weight=None,
    sample_dim=None,
    init_params=MIXED,
    tol=DEFAULT_TOL,
    reg_covar=1e-6,
    max_iter=2000,
    init_sample_size=DEFAULT_INIT_SAMPLE_SIZE,
    verbose=0,
    progress=None,
    allow_degenerate=False,
):
    """Fit every (covariance model, number of components) cell; return the best.

    For each number of components, ``n_init`` initial clusterings are drawn
    once and shared by every covariance model. Every start runs
    ``SCREEN_ITERATIONS`` EM iterations; the ``SCREEN_KEEP`` best continue
    to convergence ("short EM"). A cell that fails (singular
    covariance, emptied component, too few points) gets NaN criteria and a
    reason; only when every cell fails is there an error.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), DataFrame, DataArray or Dataset
    n_components : int or iterable of int, default=range(1, 10)
    covariance_type : str or iterable of str, default=("full", "tied", "diag", "spherical")
        scikit-learn or mclust names.
    criterion : {"bic", "aic", "icl"}, default="bic"
        Lower is better (scikit-learn's sign).
    n_init : int, default=20
    random_state : int, numpy Generator or None
    sample_weight : array-like of shape (n_samples,), optional
    sample_dim : str, optional
    init_params : {"mixed", "k-means++", "kmeans", "random_from_data", "random"}, default="mixed"
        ``"mixed"``: one k-means++ start, the others random rows.
    tol, reg_covar, max_iter, init_sample_size
        As for :class:`GaussianMixture` (here ``tol`` defaults to 1e-8 and
        ``max_iter`` to 2000).
    verbose : int
        1 prints a line per cell.
    progress : callable, optional
        ``progress(done, total, cell_description)`` after every cell.
    allow_degenerate : bool, default=False
        Keep runs in which a component collapsed onto points sharing a
        value (its variance held up only by ``reg_covar``). By default such
        runs are discarded, and a cell where every run collapsed fails with
        the reason, as mclust reports singular fits.

    Returns
    -------
    xarray.DataTree
        The chosen model in the layout of :func:`gmm_numba.fit`, plus a
        ``selection`` group with dims (covariance_type, n_components)
        holding log_likelihood, n_parameters, bic, aic, icl, converged,
        n_iter and error (empty where the cell succeeded).
    """
    ks = [n_components] if isinstance(n_components, (int, np.integer)) else list(n_components)
    if not ks:
        raise ValueError("n_components is empty; give at least one number of components.")
    for k in ks:
        check_param("n_components", k, "int", low=1)
    if len(set(ks)) != len(ks):
        raise ValueError(f"n_components has repeated values: {ks}.")
    names = [covariance_type] if isinstance(covariance_type, str) else list(covariance_type)
    models = [get_model(name) for name in names]
    if len({m.name for m in models}) != len(models):
        raise ValueError(f"covariance_type lists the same model twice: {names}.")
    check_param("criterion", criterion, "option", options=CRITERIA)
    check_param("n_init", n_init, "int", low=1)
    check_param("init_params", init_params, "option", options=(MIXED, *INIT_METHODS))
    check_param("tol", tol, "float", low=0)
    check_param("reg_covar", reg_covar, "float", low=0)
    check_param("max_iter", max_iter, "int", low=1)

    labeled = as_labeled(X, sample_dim)
    arr = check_data(labeled.values, min_samples=2)
    data = InMemoryData(arr, check_sample_weight(sample_weight, arr.shape[0]))
    base_seed = int(check_random_state(random_state).integers(0, 2**63 - 1))
    accept = None if allow_degenerate else collapse_check(reg_covar, data.feature_variance(), labeled.feature_names)

    shape = (len(models), len(ks))
    table = {name: np.full(shape, np.nan) for name in ("log_likelihood", "bic", "aic", "icl")}
    n_parameters = np.array([[m.n_parameters(k, arr.shape[1]) for k in ks] for m in models], dtype=np.int64)
    converged = np.zeros(shape, dtype=bool)
    n_iter = np.zeros(shape, dtype=np.int64)
    errors = np.full(shape, "", dtype=object)
    fits = {}
    total, done = shape[0] * shape[1], 0
    started = time.perf_counter()
    for j, k in enumerate(ks):
        if k > arr.shape[0]:
            errors[:, j] = f"{k} components need at least {k} samples; X has {arr.shape[0]}."
            done += len(models)
            continue
        inits = []
        for r in range(n_init):
            try:
                method = _initial_method(init_params, r)
                inits.append(initial_statistics(data, k, method, _cell_seed(base_seed, k, r), init_sample_size))
            except FitError as exc:
                inits.append(exc)
        for i, model in enumerate(models):
            starts = [s if isinstance(s, FitError) else _safe_m_step(model, s, reg_covar) for s in inits]
            try:
                result = fit_em(
                    data,
                    model,
                    k,
                    n_init=n_init,
                    rng=None,
                    reg_covar=reg_covar,
                    tol=tol,
                    max_iter=max_iter,
                    starts=starts,
                    reorder=True,
                    accept=accept,
                    warn=False,
                    screen=(SCREEN_ITERATIONS, SCREEN_KEEP),
                )
            except FitError as exc:
                errors[i, j] = str(exc)
            else:
                crit = Criteria.from_statistics(result.final, n_parameters[i, j])
                for name in table:
                    table[name][i, j] = getattr(crit, name)
                converged[i, j] = result.best.converged
                n_iter[i, j] = result.best.n_iter
                fits[i, j] = (result, crit)
            done += 1
            description = f"{model.name} K={k}"
            if verbose:
                outcome = errors[i, j] or f"{criterion}={table[criterion][i, j]:.6g}"
                print(f"[{done}/{total}] {description}: {outcome} ({time.perf_counter() - started:.1f} s)")
            if progress is not None:
                progress(done, total, description)
    unconverged = [f"{models[i].name} K={ks[j]}" for (i, j) in fits if not converged[i, j]]
    if unconverged:
        warn_at_caller(
            f"{len(unconverged)} cell(s) stopped at max_iter={max_iter} before converging "
            f"(tol={tol}): {', '.join(unconverged)}. Their criteria may be slightly off; raise max_iter.",
            ConvergenceWarning,
        )
    if not fits:
        reasons = sorted(set(errors.ravel()))
        raise FitError("Every model failed to fit:\n" + "\n".join(f"- {r}" for r in reasons))
    scores = np.where(np.isnan(table[criterion]), np.inf, table[criterion])
    best_i, best_j = np.unravel_index(np.argmin(scores), shape)
    result, crit = fits[best_i, best_j]
    settings = {
        "tol": tol,
        "reg_covar": reg_covar,
        "max_iter": max_iter,
        "n_init": n_init,
        "init_params": init_params,
        "random_state": random_state,
        "criterion": criterion,
    }
    tree = build_tree(
        result.parameters,
        feature_names=labeled.feature_names,
        named_features=labeled.named,
        em_fit=result,
        criteria=crit,
        settings=settings,
    )
    selection = xr.Dataset(
        {
            **{name: (("covariance_type", "n_components"), values) for name, values in table.items()},
            "n_parameters": (("covariance_type", "n_components"), n_parameters),
            "converged": (("covariance_type", "n_components"), converged),
            "n_iter": (("covariance_type", "n_components"), n_iter),
            "error": (("covariance_type", "n_components"), errors.astype(str)),
        },
        coords={"covariance_type": [m.name for m in models], "n_components": np.asarray(ks, dtype=np.int64)},
        attrs={
            "criterion": criterion,
            "best_covariance_type": models[best_i].name,
            "best_n_components": int(ks[best_j]),
        },
    )
    tree["selection"] = xr.DataTree(selection)
    return tree


#: A component whose covariance, less the regularisation and in units of
#: the data's per-feature variances, has an eigenvalue below this is
#: degenerate: it sits on points that share a value (or a subspace).
COLLAPSE_TOLERANCE = 1e-8


def collapse_check(reg_covar, feature_variance, feature_names):
    """A function that names the first collapsed component of a fit, or returns ''.

    With ``reg_covar > 0`` a component that falls onto points sharing a
    value gets variance ``reg_covar`` instead of failing, and its density
    spike inflates the likelihood. mclust, which does not regularise,
    reports such cells as singular; so does :func:`select` by default.
    """
    scale = np.sqrt(np.maximum(feature_variance, np.finfo(float).tiny))

    def check(params):
        full = params.full_covariances() - reg_covar * np.eye(params.n_features)
        scaled = full / scale[:, None] / scale[None, :]
        if params.model.kernel == "diag":
            smallest = np.diagonal(scaled, axis1=1, axis2=2)
            k, i = np.unravel_index(np.argmin(smallest), smallest.shape)
            if smallest[k, i] < COLLAPSE_TOLERANCE:
                return (
                    f"component {k} collapsed: its variance of feature {feature_names[i]!r} fell to the "
                    "regularisation floor (the points it holds share that value)."
                )
            return ""
        smallest = np.linalg.eigvalsh(scaled)[:, 0]
        k = int(np.argmin(smallest))
        if smallest[k] < COLLAPSE_TOLERANCE:
            return f"component {k} collapsed onto a lower-dimensional set (singular covariance before regularisation)."
        return ""

    return check


def _safe_m_step(model, stats, reg_covar):
    try:
        return m_step(model, stats, reg_covar)
    except FitError as exc:
        return exc
