"""Model selection with a uniform noise component: every (model, K) cell fitted by EM with noise.

:func:`gmm_numba.select` hands over here when given ``noise``. The starts
follow mclust's ``Mclust(..., initialization = list(noise = ...))``: the
flagged rows start in the noise component and the Gaussian components start
from clusterings of the other rows (mclust's hierarchical partition and
``n_init`` k-means++ / random-row starts, each shared by every covariance
model); every start runs to convergence and the best is kept. The
neighbour moves and short-EM screening of the sweep without noise are not
used, nor is its check for degenerate (collapsed) runs.
"""

import time

import numpy as np

from ..errors import FitError
from ..fitting.criteria import Criteria
from ..fitting.hierarchical import partition_statistics, source_tree
from ..fitting.noise import check_noise, count_with_noise, fit_noise_em, noise_start, with_gaussian_share
from ..fitting.parameters import m_step
from ..fitting.starts import initial_statistics
from .cells import selection_result
from .starts import HIERARCHICAL_ORIGIN


def select_with_noise(
    data, labeled, names, models, ks, *, noise, noise_volume, criterion, n_init, init_params, base_seed,
    reg, tol, max_iter, init_sample_size, verbose, progress, settings,
):
    """The sweep of :func:`gmm_numba.select` with a noise component (arguments already checked there).

    Parameters
    ----------
    data : data source
        In memory, memory-mapped or Dask: every EM pass goes over it chunk
        by chunk, the starts are taken from the rows :func:`noise_start` reads.
    labeled : LabeledInput
    names : list of str
    models : list of CovarianceModel
    ks : list of int
    noise : True or array-like of shape (n_samples,), bool
    noise_volume : float or None
    criterion : str
    n_init : int
    init_params : str
        ``"mixed"``: mclust's hierarchical start, one k-means++ start and random rows.
    base_seed : int
    reg : float or ndarray
        The resolved ``reg_covar``.
    tol, max_iter, init_sample_size, verbose, progress
        As for :func:`gmm_numba.select`.
    settings : dict
        Recorded as the result's attributes.

    Returns
    -------
    xarray.DataTree
    """
    start_rows, start_noise = noise_start(
        data, check_noise(noise, noise_volume, data.n_samples), noise_volume, init_sample_size,
        np.random.default_rng([base_seed, 2**32 + 2]),
    )
    n_clean = start_rows.n_samples
    weights = start_rows.sample_weight
    tree = None
    if init_params in ("mixed", "hc") and (weights.size == 0 or np.all(weights == weights[0])):
        tree, tree_rows = source_tree(start_rows, np.random.default_rng([base_seed, 2**32 + 1]))
    shape = (len(models), len(ks))
    table = {name: np.full(shape, np.nan) for name in ("log_likelihood", "bic", "aic", "icl")}
    n_parameters = np.array(
        [[count_with_noise(m.n_parameters(k, data.n_features), True) for k in ks] for m in models], dtype=np.int64
    )
    converged = np.zeros(shape, dtype=bool)
    n_iter = np.zeros(shape, dtype=np.int64)
    errors = np.full(shape, "", dtype=object)
    origins = np.full(shape, "", dtype=object)
    fits = {}
    total, done, started = shape[0] * shape[1], 0, time.perf_counter()
    for j, k in enumerate(ks):
        statistics = []  # (stats or FitError, origin), shared by every model
        if tree is not None and tree.n_leaves >= k:
            statistics.append((partition_statistics(tree_rows, tree.labels(k), k), HIERARCHICAL_ORIGIN))
        for r in range(0 if init_params == "hc" else n_init):
            method = init_params if init_params != "mixed" else ("k-means++" if r == 0 else "random_from_data")
            try:
                rng = np.random.default_rng([base_seed, k, r])
                stats = initial_statistics(start_rows, k, method, rng, init_sample_size)
            except FitError as exc:
                stats = exc
            statistics.append((stats, ""))
        for i, model in enumerate(models):
            if k > n_clean:
                errors[i, j] = f"{k} components need at least {k} rows not flagged as noise; there are {n_clean}."
            else:
                best = None
                for stats, origin in statistics:
                    try:
                        if isinstance(stats, FitError):
                            raise stats
                        start = with_gaussian_share(m_step(model, stats, reg), start_noise.weight)
                        fit, fitted_noise = fit_noise_em(data, [start], start_noise, reg_covar=reg, tol=tol,
                                                         max_iter=max_iter, warn=False)
                    except FitError as exc:
                        errors[i, j] = errors[i, j] or str(exc)
                        continue
                    if best is None or fit.final.log_likelihood > best[0].final.log_likelihood:
                        best = (fit, fitted_noise, origin)
                if best is not None:
                    fit, fitted_noise, origin = best
                    crit = Criteria.from_statistics(fit.final, n_parameters[i, j])
                    for name in table:
                        table[name][i, j] = getattr(crit, name)
                    converged[i, j], n_iter[i, j] = fit.best.converged, fit.best.n_iter
                    errors[i, j], origins[i, j] = "", origin
                    fits[i, j] = (fit, crit, fitted_noise)
            done += 1
            description = f"{names[i]} K={k} with noise"
            if verbose:
                outcome = errors[i, j] or f"{criterion}={table[criterion][i, j]:.6g}"
                print(f"[{done}/{total}] {description}: {outcome} ({time.perf_counter() - started:.1f} s)")
            if progress is not None:
                progress(done, total, description)
    return selection_result(
        fits, table, n_parameters, converged, n_iter, errors, origins, names, ks, criterion, labeled, settings,
        {"noise": 1},
    )
