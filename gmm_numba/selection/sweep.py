"""Model selection over the number of components and covariance models."""

import time

import numpy as np

from .._kernels.constrained import INNER_TOLERANCE
from .._kernels.em_run import INNER_LOOSEST
from ..covariance import check_n_features, for_one_feature, get_model, mclust_names
from ..data.checks import check_data, check_sample_weight
from ..data.dispatch import is_out_of_core, out_of_core_input
from ..data.in_memory import InMemoryData, per_sample_scores
from ..data.labeled import as_labeled
from ..data.missing import MissingData, in_memory_source
from ..data.semi_supervised import check_labels
from ..errors import ConvergenceWarning, FitError, NotSupportedError, warn_at_caller
from ..fitting.checks import check_param, check_random_state
from ..fitting.criteria import CRITERIA, Criteria
from ..fitting.em import drive_together, em_search, run_jobs
from ..fitting.hierarchical import partition_statistics, source_tree
from ..fitting.noise import check_noise
from ..fitting.parameters import m_step
from ..fitting.prior import check_prior, check_prior_model, data_moments, prior_attr, refuse_with, resolve_prior
from ..fitting.regularization import check_reg_covar, resolve_reg_covar
from ..fitting.settings import MISSING_OPTIONS
from ..fitting.starts import DEFAULT_INIT_SAMPLE_SIZE, INIT_METHODS, initial_statistics, inverse_scale
from .cells import selection_result
from .moves import MERGE, SPLIT, insertion_statistics, neighbour_statistics
from .noise_sweep import select_with_noise
from .progress import ProgressBar, resolve_progress
from .semi_sweep import select_with_labels

#: mclust's fourteen models, as ``Mclust()`` sweeps them (on one feature they collapse to ``E`` and ``V``).
DEFAULT_COVARIANCE_TYPES = tuple(mclust_names())

#: Initialisations per cell. Each is shared by every covariance model.
DEFAULT_N_INIT = 5

#: Convergence threshold of a sweep: much tighter than a single fit's
#: default, because cells are compared by their log-likelihoods.
DEFAULT_TOL = 1e-8

#: Short-EM screening: every start runs this many iterations, then only the
#: best few continue to convergence.
SCREEN_ITERATIONS = 10
SCREEN_KEEP = 3

#: ``init_params="mixed"``: the first start of a cell is k-means++, the
#: others random rows. k-means++ starts tend to reach the same partition
#: after the Lloyd steps; random rows explore more local optima.
MIXED = "mixed"

#: Neighbour moves are tried only for cells whose criterion lies within this of the best cell of
#: their model (or that failed): a move would have to raise a cell's log-likelihood by more than
#: half of it to change the model's best K. 10 is "very strong" evidence on Kass and Raftery's scale
#: for BIC differences.
MOVE_MARGIN = 10.0

#: Where the iterative M-steps (EVE, VVE: from ``K + 2`` orientations) of the random and neighbour-move
#: starts stop: a start needs no exact M-step, since its run's first M-step goes on from there.
#: mclust's hierarchical start keeps the exact one.
START_INNER_TOLERANCE = INNER_LOOSEST

#: A cell's ``origin`` when mclust's hierarchical start gave its fit.
HIERARCHICAL_ORIGIN = "mclust's hierarchical start (hc)"

#: Seeds the rows the hierarchical tree is built on (more than 2,000 rows).
HIERARCHICAL_STREAM = 2**32 + 1

#: Insertion moves: with the splits, the fit with one component fewer also
#: gets a new component on the ``2 (D + 1)`` nearest rows (in standardised
#: units) of each of ``N_INSERTIONS`` rows drawn at random once per K, and of
#: each of the ``N_OUTLIER_ANCHORS`` rows that fit has the lowest density
#: at. Small groups of rows that random starts rarely isolate (the optimum
#: of many cells with K above the number of clear clusters) become reachable.
N_INSERTIONS = 10
N_OUTLIER_ANCHORS = 5
INSERTION_GROUPS = (2,)
INSERTION_STREAM = 2**32

#: Starts from neighbour moves that go on to convergence after screening.
MOVE_KEEP = 3

#: At most this many move starts per ``n_init`` are screened for a cell in one
#: move (spread evenly over the candidates, so splits, insertions and merges
#: all stay represented): the moves' cost follows the budget the user set.
#: With the default ``n_init`` every candidate is screened.
MOVE_STARTS_PER_INIT = 2

#: Passes down (merges) then up (splits) after the first sweep, while some cell improves.
MAX_NEIGHBOUR_PASSES = 3

#: A neighbour move replaces a cell's fit when it raises the log-likelihood
#: by more than this, relatively (EM's own noise at tol=1e-8 is far smaller).
IMPROVEMENT_RTOL = 1e-10


def _as_list(value, name, expected):
    """``value`` as a list: a single int or string becomes a one-item list."""
    if isinstance(value, (str, int, np.integer)) and not isinstance(value, bool):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{name} must be {expected}; got {value!r}.") from None


def _hierarchical_partitions(data, init_params, base_seed, reg_covar, prior_for=lambda model, k: None):
    """mclust's start for each cell: ``start(k, model)`` gives the model's M-step on the tree's cut at ``k``.

    One tree (on at most 2,000 rows) serves every cell. None when the sweep does
    not use it (``init_params`` other than "mixed" and "hc") or cannot (unequal
    sample weights, which the tree's criterion does not take).
    """
    if init_params not in (MIXED, "hc"):
        return None
    try:
        tree, rows = source_tree(data, np.random.default_rng([base_seed, HIERARCHICAL_STREAM]))
    except ValueError:
        if init_params == "hc":
            raise
        return None

    cuts = {}

    def start(k, model):
        if tree.n_leaves < k:
            return FitError(f"{k} components need {k} rows for the hierarchical start; it has {tree.n_leaves}.")
        if k not in cuts:
            cuts[k] = partition_statistics(rows, tree.labels(k), k)
        return _safe_m_step(model, cuts[k], reg_covar, prior_for(model, k))

    return start


def _initial_method(init_params, restart):
    if init_params != MIXED:
        return init_params
    return "k-means++" if restart == 0 else "random_from_data"


def _labels_some(y):
    """Whether ``y`` gives some row a component (a number >= 0); bad labels are left to :func:`check_labels`."""
    if y is None:
        return False
    values = np.asarray(y)
    return values.dtype.kind in "iuf" and bool(np.any(values >= 0))


def _select_noise_or_labels(data, labeled, names, models, ks, *, noise, noise_volume, y, prior, random_state,
                            criterion, n_init, init_params, tol, reg_covar, max_iter, init_sample_size, verbose,
                            progress):
    """:func:`select` with a noise component or labelled rows, on any data source (arguments as there)."""
    base_seed = int(check_random_state(random_state).integers(0, 2**63 - 1))
    reg = resolve_reg_covar(reg_covar, data)
    noise_setting = check_noise(noise, noise_volume, data.n_samples)
    labels = None if y is None else check_labels(y, data.n_samples, max(ks))
    if noise_setting is not None:
        refuse_with(prior, "noise=")
    settings = {"tol": tol, "reg_covar": reg_covar, "max_iter": max_iter, "n_init": n_init,
                "init_params": init_params, "random_state": random_state, "criterion": criterion}
    if labels is not None and np.any(labels >= 0):
        refuse_with(prior, "semi-supervised labels (y)")
        if noise_setting is not None:
            raise NotSupportedError(
                "noise and semi-supervised labels (y) cannot be combined (as in mclust, whose MclustSSC has no "
                "noise component): select with one of them."
            )
        return select_with_labels(
            data, labels, labeled, names, models, ks, criterion=criterion, reg=reg, tol=tol,
            max_iter=max_iter, verbose=verbose, progress=progress, settings=settings,
        )
    return select_with_noise(
        data, labeled, names, models, ks, noise=noise_setting, noise_volume=noise_volume,
        criterion=criterion, n_init=n_init, init_params=init_params, base_seed=base_seed, reg=reg, tol=tol,
        max_iter=max_iter, init_sample_size=init_sample_size, verbose=verbose, progress=progress,
        settings=settings,
    )


def _models_for(names, models, n_features):
    """The models to sweep on ``n_features`` features, and their names as the table shows them.

    On one feature the models collapse by their volume onto mclust's ``E`` and
    ``V``: each is fitted once. ``E`` and ``V`` are refused on several features.
    """
    if n_features != 1:
        for model in models:
            check_n_features(model, n_features)
        return list(names), list(models)
    collapsed = []
    for model in models:
        single = for_one_feature(model)
        if single not in collapsed:
            collapsed.append(single)
    return [m.name for m in collapsed], collapsed


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
    noise=None,
    noise_volume=None,
    y=None,
    missing="error",
    prior=None,
):
    """Fit every (covariance model, number of components) cell; return the best.

    For each number of components, ``n_init`` initial clusterings are drawn
    (seeded by ``random_state`` and K only, so every covariance model starts
    from the same ones). Every start runs ``SCREEN_ITERATIONS`` EM
    iterations; the ``SCREEN_KEEP`` best continue to convergence ("short
    EM"). Then, for each covariance model, neighbouring cells (K and K + 1,
    when both are swept) improve each other: every component of the best
    K-component fit is split in two, or a component is added on a small
    group of rows (some drawn at random, some where that fit has the lowest
    density), to start K + 1 components, and the closest pairs of the best
    (K + 1)-component fit are merged to start K.
    A cell keeps whichever fit has the highest log-likelihood, so these
    moves never lower it; passes down and up repeat while a cell improves.
    A cell that fails (singular covariance, emptied component, too few
    points) gets NaN criteria and a reason; only when every cell fails is
    there an error.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), DataFrame, DataArray or Dataset
    n_components : int or iterable of int, default=range(1, 10)
    covariance_type : str or iterable of str, default: mclust's fourteen models
        mclust or scikit-learn names (``"full"`` is ``"VVV"``, ``"tied"`` ``"EEE"``,
        ``"diag"`` ``"VVI"``, ``"spherical"`` ``"VII"``); the table names the models
        as given. On one feature the models collapse onto mclust's ``E`` (equal
        variances) and ``V`` (varying variances), and the table has those two rows.
    criterion : {"bic", "aic", "icl"}, default="bic"
        Lower is better (scikit-learn's sign).
    n_init : int, default=5
        Starts per cell. Also bounds the neighbour-move starts screened per
        move (``MOVE_STARTS_PER_INIT`` per start).
    random_state : int, numpy Generator or None
    sample_weight : array-like of shape (n_samples,), optional
    sample_dim : str, optional
    init_params : {"mixed", "k-means++", "kmeans", "random_from_data", "random"}, default="mixed"
        ``"mixed"``: one k-means++ start, the others random rows.
    tol, reg_covar, max_iter, init_sample_size
        As for :class:`GaussianMixture` (here ``tol`` defaults to 1e-8 and
        ``max_iter`` to 2000). ``reg_covar="auto"`` adds 1e-6 times each
        feature's variance, so the sweep does not depend on the units of the features.
    verbose : int
        1 prints a line per cell.
    progress : None, bool or callable, default=None
        By default a one-line bar on standard error (cells done, time taken
        and time left), drawn in terminals and notebooks once the sweep has
        run for ``PROGRESS_DELAY`` (2) seconds; ``True`` draws it at once
        wherever standard error goes, ``False`` turns it off. A callable is
        called as ``progress(done, total, cell_description)`` after every cell.
    allow_degenerate : bool, default=False
        Keep runs in which a component collapsed onto points sharing a
        value (its variance held up only by ``reg_covar``). By default such
        runs are discarded, and a cell where every run collapsed fails with
        the reason, as mclust reports singular fits.
    noise : None, True or array-like of shape (n_samples,) of bool
        Add a uniform noise component to every cell, as
        :class:`GaussianMixture`'s ``noise`` (True: starting flags from
        nearest-neighbour distances; an array: the flags). The sweep is then
        the simpler one of :mod:`gmm_numba.selection.noise_sweep`; the
        result has a ``noise`` group and counts 2 more parameters per cell.
    noise_volume : float or "hull", optional
        The noise component's ``V``; by default mclust's box volume,
        ``"hull"`` the convex hull's (as :class:`GaussianMixture`).
    y : array-like of shape (n_samples,), optional
        Semi-supervised selection: component indices for labelled rows, -1
        for the others (as ``GaussianMixture(semi_supervised=True).fit(X, y)``).
        When some row is labelled, every cell is one semi-supervised fit
        (:mod:`gmm_numba.selection.semi_sweep`); cells whose K does not
        match the labels fail with the reason. Not with ``noise``.

        With ``noise`` or labelled rows, out-of-core ``X`` (Dask arrays,
        Dask-backed xarray, large memory maps) is passed over chunk by
        chunk, as by :class:`GaussianMixture`; every other sweep reads ``X``
        into memory.
    missing : {"error", "marginalize"}, default="error"
        As for :class:`GaussianMixture`: with ``"marginalize"`` NaN entries are
        missing, every cell maximises the observed-data likelihood, and the
        starts, neighbour moves and collapse check look at the data with each
        missing entry replaced by its feature's observed mean.

    prior : None, "default" or dict
        mclust's conjugate prior, as :class:`GaussianMixture`'s ``prior``:
        every cell is a MAP fit, its hyper-parameters resolved for the cell's
        model and K (``"default"``: ``Mclust(X, prior = priorControl())``).
        As in mclust, the default ``covariance_type`` then sweeps only the ten
        models that take a prior (VEE, EVE, VVE and EVV are left out); naming
        one of those four explicitly is an error. Each cell keeps the start
        with the best log posterior; the neighbour moves (which compare
        log-likelihoods) are not made. The table's log-likelihood and
        criteria are those of the likelihood, as mclust's BIC. Not with
        ``noise``, ``y`` or ``missing="marginalize"``.

    Returns
    -------
    xarray.DataTree
        The chosen model in the layout of :func:`gmm_numba.fit`, plus a
        ``selection`` group with dims (covariance_type, n_components)
        holding log_likelihood, n_parameters, bic, aic, icl, converged,
        n_iter, error (empty where the cell succeeded), origin (empty when
        the cell's fit is the best of its ``n_init`` random starts; mclust's
        hierarchical start, or the neighbour move, that beat them) and
        may_change_choice (the cells the ConvergenceWarning names).

    Warns
    -----
    ConvergenceWarning
        Once, naming the cells that stopped at ``max_iter`` and could change
        the choice: the chosen cell, and any cell whose criterion, with the
        log-likelihood its run was still expected to gain, could beat the
        chosen one. Other unconverged cells show only in ``converged``.
    """
    bar = resolve_progress(progress, "select")
    try:
        return _select(
            X, n_components, covariance_type, criterion, n_init=n_init, random_state=random_state,
            sample_weight=sample_weight, sample_dim=sample_dim, init_params=init_params, tol=tol, reg_covar=reg_covar,
            max_iter=max_iter, init_sample_size=init_sample_size, verbose=verbose, progress=bar,
            allow_degenerate=allow_degenerate, noise=noise, noise_volume=noise_volume, y=y, missing=missing,
            prior=prior,
        )
    finally:
        if isinstance(bar, ProgressBar):
            bar.finish()


def _select(
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
    noise=None,
    noise_volume=None,
    y=None,
    missing="error",
    prior=None,
):
    """:func:`select`, its ``progress`` resolved to a callable or None."""
    ks = _as_list(n_components, "n_components", "an int or an iterable of ints, such as range(1, 10)")
    if not ks:
        raise ValueError("n_components is empty; give at least one number of components.")
    for k in ks:
        check_param("n_components", k, "int", low=1)
    if len(set(ks)) != len(ks):
        raise ValueError(f"n_components has repeated values: {ks}.")
    names = _as_list(covariance_type, "covariance_type", 'a model name or an iterable of names, e.g. ("full", "diag")')
    if not names:
        raise ValueError("covariance_type is empty; give at least one model, such as 'full'.")
    models = [get_model(name) for name in names]
    if len({m.name for m in models}) != len(models):
        raise ValueError(f"covariance_type lists the same model twice: {names}.")
    prior = check_prior(prior)
    if prior is not None:
        if tuple(names) == DEFAULT_COVARIANCE_TYPES:  # as Mclust(prior = ...): only the models that take it
            names = [name for name, model in zip(names, models) if model.supports_prior]
            models = [get_model(name) for name in names]
        for model in models:
            check_prior_model(prior, model)
    check_param("criterion", criterion, "option", options=CRITERIA)
    check_param("n_init", n_init, "int", low=1)
    check_param("init_params", init_params, "option", options=(MIXED, *INIT_METHODS))
    check_param("tol", tol, "float", low=0)
    check_reg_covar(reg_covar)
    check_param("max_iter", max_iter, "int", low=1)
    check_param("init_sample_size", init_sample_size, "int", low=1)
    if not isinstance(verbose, (bool, np.bool_)):
        check_param("verbose", verbose, "int", low=0)
    check_param("allow_degenerate", allow_degenerate, "bool")

    check_param("missing", missing, "option", options=MISSING_OPTIONS)
    with_noise_or_labels = check_noise(noise, noise_volume) is not None or _labels_some(y)
    if is_out_of_core(X) and missing == "error" and with_noise_or_labels:
        # the sweeps with noise or labels pass over the data chunk by chunk; the others read it into memory
        labeled, data = out_of_core_input(X, sample_dim, sample_weight, min_samples=2,
                                          requirement="a covariance needs 2 samples")
        names, models = _models_for(names, models, data.n_features)
    else:
        labeled = as_labeled(X, sample_dim)
        arr = check_data(labeled.values, min_samples=2, allow_nan=missing == "marginalize")
        names, models = _models_for(names, models, arr.shape[1])
        weights = check_sample_weight(sample_weight, arr.shape[0])
        if missing == "marginalize":
            data = in_memory_source(arr, weights, min_samples=2, requirement="a covariance needs 2 samples")
            resolution = recording_resolution(arr)
            if isinstance(data, MissingData):  # starts and moves look at the mean-imputed rows
                arr, weights = data.imputed.X, data.imputed.sample_weight if weights is not None else None
        else:
            data = InMemoryData(arr, weights)
            resolution = None
    if missing == "marginalize" and (check_noise(noise, noise_volume) is not None or y is not None):
        raise NotSupportedError(
            "missing='marginalize' cannot be combined with noise= or semi-supervised labels (y) yet: drop or "
            "impute the rows with NaN first."
        )
    if with_noise_or_labels:
        return _select_noise_or_labels(
            data, labeled, names, models, ks, noise=noise, noise_volume=noise_volume, y=y, prior=prior,
            random_state=random_state, criterion=criterion, n_init=n_init, init_params=init_params, tol=tol,
            reg_covar=reg_covar, max_iter=max_iter, init_sample_size=init_sample_size, verbose=verbose,
            progress=progress,
        )
    base_seed = int(check_random_state(random_state).integers(0, 2**63 - 1))
    reg = resolve_reg_covar(reg_covar, data)
    inv_scale = inverse_scale(data)
    row_p = None if weights is None else weights / weights.sum()
    n_rows = len(arr) if weights is None else int(np.count_nonzero(weights > 0))
    if y is not None:
        check_labels(y, arr.shape[0], max(ks))  # no row labelled: the ordinary sweep, but bad labels are errors
    if missing == "marginalize":
        refuse_with(prior, "missing='marginalize'")
    moments = None if prior is None else data_moments(data)
    priors = {}

    def prior_for(model, k):
        """The cell's resolved prior (None without one)."""
        if prior is None:
            return None
        if (model.name, k) not in priors:
            priors[model.name, k] = resolve_prior(prior, moments, model, k)
        return priors[model.name, k]

    settings = {"tol": tol, "reg_covar": reg_covar, "max_iter": max_iter, "n_init": n_init,
                "init_params": init_params, "random_state": random_state, "criterion": criterion}
    accept = None
    if not allow_degenerate:
        resolution = recording_resolution(arr) if resolution is None else resolution
        accept = collapse_check(reg, data.feature_variance(), labeled.feature_names, resolution)

    shape = (len(models), len(ks))
    table = {name: np.full(shape, np.nan) for name in ("log_likelihood", "bic", "aic", "icl")}
    n_parameters = np.array([[m.n_parameters(k, arr.shape[1]) for k in ks] for m in models], dtype=np.int64)
    converged = np.zeros(shape, dtype=bool)
    n_iter = np.zeros(shape, dtype=np.int64)
    errors = np.full(shape, "", dtype=object)
    origins = np.full(shape, "", dtype=object)
    fits = {}
    total, done = shape[0] * shape[1], 0
    started = time.perf_counter()

    def screened(model, k, starts, keep=SCREEN_KEEP, exempt=0, floor=None):
        """The search (:func:`em_search`) of one cell from ``starts``, screened as ``SCREEN_*`` say."""
        screen = (SCREEN_ITERATIONS, keep, exempt) if keep else None
        return em_search(data, starts, max_iter=max_iter, tol=tol, accept=accept, screen=screen, floor=floor,
                         prior=prior_for(model, k), reorder=True, warn=False, accelerate=True)

    def run_together(searches):
        """Each search's EMFit (or FitError), their runs of each round in one call on the threads."""
        return drive_together(searches, lambda jobs: run_jobs(data, jobs, reg_covar=reg, tol=tol))

    def record(i, j, result, origin=""):
        crit = Criteria.from_statistics(result.final, n_parameters[i, j])
        for name in table:
            table[name][i, j] = getattr(crit, name)
        converged[i, j] = result.best.converged
        n_iter[i, j] = result.best.n_iter
        errors[i, j] = ""
        origins[i, j] = origin
        fits[i, j] = (result, crit)

    def report(i, j):
        nonlocal done
        done += 1
        description = f"{names[i]} K={ks[j]}"
        if verbose:
            outcome = errors[i, j] or f"{criterion}={table[criterion][i, j]:.6g}"
            print(f"[{done}/{total}] {description}: {outcome} ({time.perf_counter() - started:.1f} s)")
        if progress is not None:
            progress(done, total, description)

    def move_search(i, j, source, kind):
        """The search that refits cell (i, j) from the neighbour moves of the fit at ``source``, or None."""
        if source not in fits or ks[j] > arr.shape[0]:
            return None
        params = fits[source][0].parameters
        inserts = None
        if kind == SPLIT and N_INSERTIONS:
            anchor_rng = np.random.default_rng([base_seed, ks[j], INSERTION_STREAM])
            anchors = anchor_rng.choice(len(arr), size=min(N_INSERTIONS, n_rows), replace=False, p=row_p)
            sizes = sorted({min(n_rows, g * (arr.shape[1] + 1)) for g in INSERTION_GROUPS})

            def inserts(params):
                chosen = anchors
                if N_OUTLIER_ANCHORS:
                    log_density = per_sample_scores(arr, params)[0]
                    if weights is not None:
                        log_density = np.where(weights > 0, log_density, np.inf)
                    outliers = np.argsort(log_density, kind="stable")[: min(N_OUTLIER_ANCHORS, n_rows)]
                    chosen = np.concatenate([anchors, outliers[~np.isin(outliers, anchors)]])
                return [
                    stats
                    for size in sizes
                    for stats in insertion_statistics(params, arr, weights, chosen, size, reg, inv_scale)
                ]

        statistics = neighbour_statistics(params, kind, reg, inserts)
        budget = max(MOVE_KEEP, MOVE_STARTS_PER_INIT * n_init)
        if len(statistics) > budget:
            statistics = [statistics[c] for c in np.linspace(0, len(statistics) - 1, budget).round().astype(int)]
        starts = [_safe_m_step(models[i], stats, reg, inner_tolerance=START_INNER_TOLERANCE) for stats in statistics]
        if not starts:
            return None
        # a move matters only if it beats the cell's fit: runs on course to end below it are abandoned
        floor = None
        if (i, j) in fits and hasattr(data, "total_weight"):  # the compiled runs, which abandon, have it
            floor = table["log_likelihood"][i, j] / data.total_weight
        return screened(models[i], ks[j], starts, MOVE_KEEP, floor=floor)

    def moved(i, j, source, kind, result):
        """Keep the move's fit of cell (i, j) if it raised the log-likelihood; True if it did."""
        if isinstance(result, FitError):
            return False
        current = table["log_likelihood"][i, j]
        gained = result.final.log_likelihood - current
        if (i, j) in fits and not gained > IMPROVEMENT_RTOL * abs(current):
            return False
        record(i, j, result, _move_origin(kind, ks[source[1]], gained if (i, j) in fits else None, n_init))
        if verbose:
            print(f"  {names[i]} K={ks[j]}: {kind} from K={ks[source[1]]} raised log L by {gained:.6g}")
        return True

    def move_together(moves):
        """Make the neighbour moves ``(i, j, source, kind)`` (on distinct cells) together; the cells they improved."""
        searches, made = {}, {}
        for i, j, source, kind in moves:
            search = move_search(i, j, source, kind)
            if search is not None:
                searches[i, j], made[i, j] = search, (source, kind)
        results = run_together(searches)
        return {cell for cell in sorted(results) if moved(*cell, *made[cell], results[cell])}

    # Neighbour moves link K to K + 1 only when both are in the sweep.
    above = {j: ks.index(k + 1) for j, k in enumerate(ks) if k + 1 in ks}
    below = {a: j for j, a in above.items()}
    order = sorted(range(len(ks)), key=lambda j: ks[j])
    hierarchical = _hierarchical_partitions(data, init_params, base_seed, reg, prior_for)
    clusterings = {}

    def initial(k, r):
        """Statistics of start ``r`` for K = ``k`` (or why there is none): drawn once, shared by every model."""
        if (k, r) not in clusterings:
            try:
                method = _initial_method(init_params, r)
                clusterings[k, r] = initial_statistics(data, k, method, _cell_seed(base_seed, k, r), init_sample_size)
            except FitError as exc:
                clusterings[k, r] = exc
        return clusterings[k, r]

    # Every cell from its own starts: mclust's hierarchical partition and the random ones. The
    # models' cells of one K run together: hierarchical run to convergence (never screened out, so
    # that a cell reaches at least what mclust's start reaches) and screened random starts.
    for j in order:
        k = ks[j]
        searches, hierarchical_first = {}, set()
        for i, model in enumerate(models):
            if k > arr.shape[0]:
                errors[i, j] = f"{k} components need at least {k} samples; X has {arr.shape[0]}."
                continue
            exempt = [] if hierarchical is None else [hierarchical(k, model)]
            starts = []
            for r in range(0 if init_params == "hc" else n_init):
                stats = initial(k, r)
                starts.append(
                    stats if isinstance(stats, FitError)
                    else _safe_m_step(model, stats, reg, prior_for(model, k), START_INNER_TOLERANCE)
                )
            searches[i, j] = screened(model, k, exempt + starts, SCREEN_KEEP, len(exempt))
            if exempt:
                hierarchical_first.add((i, j))
        for (i, j), result in sorted(run_together(searches).items()):
            if isinstance(result, FitError):
                errors[i, j] = str(result)
            else:
                origin = HIERARCHICAL_ORIGIN if (i, j) in hierarchical_first and result.best_index == 0 else ""
                record(i, j, result, origin)
        for i in range(len(models)):
            report(i, j)

    def could_win(i, j):
        """Whether cell (i, j) failed or lies within MOVE_MARGIN of its model's best cell so far (each
        model's row stays its own sweep: it does not depend on the other models)."""
        row = table[criterion][i]
        return not np.isfinite(row[j]) or not np.any(np.isfinite(row)) or row[j] <= np.nanmin(row) + MOVE_MARGIN

    if isinstance(progress, ProgressBar):
        progress.stage("neighbour moves between K and K + 1")
    # Neighbour moves, for the cells that could still change the choice: split up from K - 1, then
    # alternate passes down (merges) and up (splits) while a cell improves. They compare
    # log-likelihoods, so a MAP sweep (prior) does without them. Each model's row is its own sweep;
    # the rows' moves at one K run together.
    rows = range(len(models) if prior is None else 0)
    for j in order:
        if j in below:
            move_together([(i, j, (i, below[j]), SPLIT) for i in rows if (i, below[j]) in fits and could_win(i, j)])
    changed = {i: {j for j in order if (i, j) in fits} for i in rows}
    for _ in range(MAX_NEIGHBOUR_PASSES):
        improved = {i: set() for i in changed}
        for j in reversed(order):
            if j in above:
                merges = [(i, j, (i, above[j]), MERGE) for i in changed
                          if above[j] in changed[i] | improved[i] and could_win(i, j)]
                for i, _ in move_together(merges):
                    improved[i].add(j)
        for j in order:
            if j in below:
                splits = [(i, j, (i, below[j]), SPLIT) for i in changed if below[j] in improved[i] and could_win(i, j)]
                for i, _ in move_together(splits):
                    improved[i].add(j)
        changed = {i: cells for i, cells in improved.items() if cells}
        if not changed:
            break
    doubtful = []
    if fits:  # with none, selection_result raises the error naming every reason
        scores = np.where(np.isnan(table[criterion]), np.inf, table[criterion])
        doubtful = _doubtful_cells(fits, converged, table[criterion], np.unravel_index(np.argmin(scores), shape))
    may_change_choice = np.zeros(shape, dtype=bool)
    for cell in doubtful:
        may_change_choice[cell] = True
    if doubtful:
        warn_at_caller(
            f"{len(doubtful)} cell(s) stopped at max_iter={max_iter} before converging (tol={tol}) and "
            f"could change the choice: {', '.join(f'{names[i]} K={ks[j]}' for i, j in doubtful)}. "
            "Raise max_iter.",
            ConvergenceWarning,
        )
    settings = {
        "tol": tol,
        "reg_covar": reg_covar,
        "max_iter": max_iter,
        "n_init": n_init,
        "init_params": init_params,
        "random_state": random_state,
        "criterion": criterion,
        "missing": missing,
        "prior": prior_attr(prior),
    }
    return selection_result(
        {cell: (fit, crit, None) for cell, (fit, crit) in fits.items()}, table, n_parameters, converged, n_iter,
        errors, origins, names, ks, criterion, labeled, settings, may_change_choice=may_change_choice,
    )


#: A component whose covariance, less the regularisation and in units of
#: the data's per-feature variances, has an eigenvalue below this is
#: degenerate: it sits on points that share a value (or a subspace).
COLLAPSE_TOLERANCE = 1e-8


def collapse_check(reg_covar, feature_variance, feature_names, resolution=None):
    """A function that names the first collapsed component of a fit, or returns ''.

    With ``reg_covar > 0`` a component that falls onto points sharing a
    value gets variance ``reg_covar`` instead of failing, and its density
    spike inflates the likelihood. mclust, which does not regularise,
    reports such cells as singular; so does :func:`select` by default.

    The same happens, less blatantly, with data recorded to a fixed
    precision (integers, one decimal): a component can sit on a few points
    that share a value up to the rounding and take a variance below what the
    rounding alone gives. A run is degenerate when, after the regularisation
    is removed, some direction of a component's covariance has less variance
    than the rounding noise of the features would (``h_i^2 / 12`` for
    resolution ``h_i``), or less than ``COLLAPSE_TOLERANCE`` times the
    feature's variance.

    Parameters
    ----------
    reg_covar : float or ndarray of shape (n_features,)
    feature_variance : ndarray of shape (n_features,)
    feature_names : list of str
    resolution : ndarray of shape (n_features,), optional
        The recording precision of each feature (:func:`recording_resolution`);
        zeros (the default) for continuous data.
    """
    resolution = np.zeros(len(feature_variance)) if resolution is None else np.asarray(resolution, dtype=float)
    # a constant feature (variance 0) is measured against the regularisation instead
    relative_to = np.maximum(np.asarray(feature_variance, dtype=float), np.broadcast_to(reg_covar, resolution.shape))
    collapse_floor = COLLAPSE_TOLERANCE * relative_to
    rounding_floor = np.maximum(collapse_floor, resolution**2 / 12.0)

    def smallest_variance(full, floor, diagonal):
        """``(value, component, feature)``: the least variance of any component in units of ``floor``."""
        scale = np.sqrt(np.maximum(floor, np.finfo(float).tiny))
        scaled = full / scale[:, None] / scale[None, :]
        if diagonal:
            variances = np.diagonal(scaled, axis1=1, axis2=2)
            k, i = np.unravel_index(np.argmin(variances), variances.shape)
            return variances[k, i], k, i
        values, vectors = np.linalg.eigh(scaled)
        k = int(np.argmin(values[:, 0]))
        return values[k, 0], k, int(np.argmax(np.abs(vectors[k, :, 0])))

    def check(params):
        full = params.full_covariances() - np.diag(np.broadcast_to(reg_covar, (params.n_features,)))
        diagonal = params.model.layout != "full"
        value, k, i = smallest_variance(full, collapse_floor, diagonal)
        if value < 1.0 and diagonal:
            return (
                f"component {k} collapsed: its variance of feature {feature_names[i]!r} fell to the "
                "regularisation floor (the points it holds share that value)."
            )
        if value < 1.0:
            return f"component {k} collapsed onto a lower-dimensional set (singular covariance before regularisation)."
        value, k, i = smallest_variance(full, rounding_floor, diagonal)
        if value < 1.0:
            return (
                f"component {k} sits on points that share their value of feature {feature_names[i]!r} up to the "
                f"data's recording precision ({resolution[i]:.3g}): its variance there is below the rounding's."
            )
        return ""

    return check


def recording_resolution(X):
    """The smallest gap between distinct values of each feature: its recording precision at most.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        NaN (a missing entry) is ignored.

    Returns
    -------
    ndarray of shape (n_features,)
        0 for a feature with fewer than two distinct values.
    """
    out = np.zeros(X.shape[1])
    for i in range(X.shape[1]):
        values = X[:, i]
        gaps = np.diff(np.unique(values[~np.isnan(values)]))
        out[i] = gaps.min() if gaps.size else 0.0
    return out


def remaining_gain(lower_bounds):
    """Aitken's estimate of the mean log-likelihood EM would still gain; inf when the steps do not shrink.

    Parameters
    ----------
    lower_bounds : ndarray
        Mean log-likelihood per unit weight at each iteration of a run.

    Returns
    -------
    float
    """
    if len(lower_bounds) < 3:
        return np.inf
    before, last = lower_bounds[-2] - lower_bounds[-3], lower_bounds[-1] - lower_bounds[-2]
    if not (before > 0 and 0 <= last < before):
        return np.inf
    rate = last / before
    return last * rate / (1 - rate)


def _doubtful_cells(fits, converged, scores, best):
    """Unconverged cells whose criterion could still beat the chosen cell's, and the chosen cell if unconverged.

    A cell that stopped at ``max_iter`` is doubtful when its criterion, less
    twice the log-likelihood its run is still expected to gain (Aitken's
    estimate, every criterion has ``-2 log L``), falls below the chosen
    cell's. Other unconverged cells only show ``converged=False`` in the table.
    """
    doubtful = []
    for cell, (result, _) in fits.items():
        if converged[cell]:
            continue
        gain = remaining_gain(result.best.lower_bounds) * result.final.total_weight
        if cell == best or scores[cell] - 2 * gain < scores[best]:
            doubtful.append(cell)
    return sorted(doubtful)


def _move_origin(kind, source_k, gained, n_init):
    """How a neighbour move made the starts that beat a cell's ``n_init`` initial starts (None: they all failed)."""
    how = "splitting a component of, or adding one to," if kind == SPLIT else "merging two components of"
    if gained is None:
        return f"{how} the K={source_k} fit; all {n_init} initial starts had failed"
    gain = f"they beat the best of the {n_init} initial starts by {gained:.3g} in log-likelihood"
    return f"{how} the K={source_k} fit; {gain}"


def _safe_m_step(model, stats, reg_covar, prior=None, inner_tolerance=INNER_TOLERANCE):
    try:
        return m_step(model, stats, reg_covar, inner_tolerance=inner_tolerance, prior=prior)
    except FitError as exc:
        return exc
