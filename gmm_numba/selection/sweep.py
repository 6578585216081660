"""Model selection over the number of components and covariance models.

:func:`select` checks its arguments, reads the data and hands over: with a
noise component or labelled rows to the simpler sweeps of
:mod:`~gmm_numba.selection.noise_sweep` and :mod:`~gmm_numba.selection.semi_sweep`;
otherwise its cells (:mod:`~gmm_numba.selection.plan`) are fitted from their
starts (:mod:`~gmm_numba.selection.starts`) by a
:class:`~gmm_numba.selection.runner.CellRunner`.
"""

import numpy as np

from ..covariance import get_model, mclust_names
from ..data.checks import check_data, check_sample_weight
from ..data.dispatch import is_out_of_core, out_of_core_input
from ..data.in_memory import InMemoryData
from ..data.labeled import as_labeled
from ..data.missing import MissingData, in_memory_source
from ..data.semi_supervised import check_labels
from ..errors import ConvergenceWarning, NotSupportedError, warn_at_caller
from ..fitting.checks import check_param, check_random_state
from ..fitting.criteria import CRITERIA
from ..fitting.noise import check_noise
from ..fitting.prior import check_prior, check_prior_model, prior_attr, refuse_with
from ..fitting.regularization import check_reg_covar, resolve_reg_covar
from ..fitting.settings import MISSING_OPTIONS
from ..fitting.starts import DEFAULT_INIT_SAMPLE_SIZE, INIT_METHODS
from .collapse import collapse_check, recording_resolution
from .noise_sweep import select_with_noise
from .plan import SelectionTable, SweepData, SweepPlan, cell_priors, models_for
from .progress import CellReport, ProgressBar, resolve_progress
from .runner import SEARCH_CHOICE, SEARCHES, CellRunner
from .semi_sweep import select_with_labels
from .starts import MIXED, CellStarts

#: mclust's fourteen models, as ``Mclust()`` sweeps them (on one feature they collapse to ``E`` and ``V``).
DEFAULT_COVARIANCE_TYPES = tuple(mclust_names())

#: Initialisations per cell. Each is shared by every covariance model.
DEFAULT_N_INIT = 5

#: Convergence threshold of a sweep: much tighter than a single fit's
#: default, because cells are compared by their log-likelihoods.
DEFAULT_TOL = 1e-8


def _as_list(value, name, expected):
    """``value`` as a list: a single int or string becomes a one-item list."""
    if isinstance(value, (str, int, np.integer)) and not isinstance(value, bool):
        return [value]
    try:
        return list(value)
    except TypeError:
        raise TypeError(f"{name} must be {expected}; got {value!r}.") from None


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
    search=SEARCH_CHOICE,
):
    """Fit every (covariance model, number of components) cell; return the best.

    Every cell first runs mclust's hierarchical start (the tree's partition
    at K) to convergence (on large data, where every iteration is a pass
    over the rows, only until the log-likelihood changes by less than 1e-7
    of itself, a hundredth of mclust's rule; the cells that cannot change the choice
    keep that fit, the others go on to ``tol``). On more than 2,000 rows,
    where the tree is built on a random subset as in mclust,
    ``HIERARCHICAL_TREES`` (3) trees on different subsets each give every
    cell a start (the second and third screened) and the cell keeps the best:
    a single subset, like mclust's, decides by chance which optimum a cell
    reaches. Then the cells that failed
    or whose criterion lies within ``START_MARGIN`` (50) of the sweep's best
    cell (of their covariance model's with ``search="models"``) also get
    ``n_init`` initial clusterings, drawn for their K (seeded by
    ``random_state`` and K only, so every covariance model starts from the
    same ones). Every such start runs ``SCREEN_ITERATIONS`` EM iterations;
    the ``SCREEN_KEEP`` best continue to convergence ("short EM"), unless on
    course to end below the cell's fit. (Without a hierarchical start: other
    ``init_params``, unequal sample weights, every cell gets the random
    starts.) Then, for each covariance model, neighbouring cells (K and K + 1,
    when both are swept, and the cell within ``MOVE_MARGIN`` (10) of the best
    cell, as above) improve each other: every component of the best
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
        Random starts per cell that could change the choice (see ``search``). Also
        bounds the neighbour-move starts screened per move
        (``MOVE_STARTS_PER_INIT`` per start).
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

    search : {"choice", "models"}, default="choice"
        Which cells the random starts and neighbour moves go to, after every
        cell's hierarchical start. ``"choice"``: the cells that could change
        the sweep's choice, those within the margins of its best cell; every
        other cell keeps the fit from mclust's hierarchical start, run further
        than mclust runs it (so at least as high, save where that fit is
        degenerate). ``"models"``: the cells that could change their own
        model's best K, within the margins of that model's best cell, so that
        every model's row is as good as the search makes it and does not
        depend on the other models swept (the row of
        ``select(X, covariance_type=m)``); 1.5 to 3 times slower at the
        defaults on small data.
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
        hierarchical start, or the neighbour move, that beat them; mclust's
        hierarchical start with why the cell got no random starts) and
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
            prior=prior, search=search,
        )
    finally:
        if isinstance(bar, ProgressBar):
            bar.finish()


def _cells(n_components, covariance_type, prior):
    """The numbers of components and the models to sweep, checked, and the prior as :func:`check_prior` gives it.

    Returns
    -------
    ks : list of int
    names : list of str
    models : list of CovarianceModel
    prior : None, "default" or dict
    """
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
    return ks, names, models, prior


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
    search=SEARCH_CHOICE,
):
    """:func:`select`, its ``progress`` resolved to a callable or None."""
    ks, names, models, prior = _cells(n_components, covariance_type, prior)
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
    check_param("search", search, "option", options=SEARCHES)

    check_param("missing", missing, "option", options=MISSING_OPTIONS)
    with_noise_or_labels = check_noise(noise, noise_volume) is not None or _labels_some(y)
    if is_out_of_core(X) and missing == "error" and with_noise_or_labels:
        # the sweeps with noise or labels pass over the data chunk by chunk; the others read it into memory
        labeled, data = out_of_core_input(X, sample_dim, sample_weight, min_samples=2,
                                          requirement="a covariance needs 2 samples")
        names, models = models_for(names, models, data.n_features)
    else:
        labeled = as_labeled(X, sample_dim)
        arr = check_data(labeled.values, min_samples=2, allow_nan=missing == "marginalize")
        names, models = models_for(names, models, arr.shape[1])
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
    sweep_data = SweepData(data, arr, weights, reg_covar)
    if y is not None:
        check_labels(y, arr.shape[0], max(ks))  # no row labelled: the ordinary sweep, but bad labels are errors
    if missing == "marginalize":
        refuse_with(prior, "missing='marginalize'")
    plan = SweepPlan(names, models, ks, criterion, base_seed, cell_priors(prior, data))
    accept = None
    if not allow_degenerate:
        resolution = recording_resolution(arr) if resolution is None else resolution
        accept = collapse_check(sweep_data.reg_covar, data.feature_variance(), labeled.feature_names, resolution)
    table = SelectionTable(plan, arr.shape[1])
    report = CellReport(len(models) * len(ks), verbose, progress)
    runner = CellRunner(
        sweep_data, plan, table, CellStarts(sweep_data, plan, init_params, n_init, init_sample_size), tol=tol,
        max_iter=max_iter, accept=accept, n_init=n_init, verbose=verbose, scope=search,
    )
    runner.fit_cells(report)
    report.stage("neighbour moves between K and K + 1")
    # the moves compare log-likelihoods, so a MAP sweep (prior) does without them
    runner.neighbour_moves(range(len(models) if prior is None else 0))
    doubtful = table.doubtful()
    may_change_choice = np.zeros(plan.shape, dtype=bool)
    for cell in doubtful:
        may_change_choice[cell] = True
    if doubtful:
        warn_at_caller(
            f"{len(doubtful)} cell(s) stopped at max_iter={max_iter} before converging (tol={tol}) and "
            f"could change the choice: {', '.join(plan.describe(i, j) for i, j in doubtful)}. "
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
        "search": search,
        "missing": missing,
        "prior": prior_attr(prior),
    }
    return table.result(labeled, settings, may_change_choice)
