"""Model selection with partly labelled rows: every (model, K) cell fitted by semi-supervised EM.

:func:`gmm_numba.select` hands over here when ``y`` labels some row. Each
cell is one semi-supervised fit (:mod:`gmm_numba.fitting.semi_supervised`,
mclust's ``MclustSSC`` start: deterministic, so there are no restarts); a
number of components that does not match the labels (a label ``>= K``, or a
component without labelled rows) fails that cell with the reason.
"""

import time

import numpy as np

from ..data.semi_supervised import check_labels
from ..errors import FitError
from ..fitting.criteria import Criteria
from ..fitting.semi_supervised import fit_semi_supervised
from .cells import selection_result


def select_with_labels(data, labels, labeled, names, models, ks, *, criterion, reg, tol, max_iter, verbose, progress,
                       settings):
    """The sweep of :func:`gmm_numba.select` with labels (arguments already checked there).

    Parameters
    ----------
    data : data source
        In memory, memory-mapped or Dask (passed over chunk by chunk).
    labels : ndarray of shape (n_samples,), int64
        Checked against the largest K; some row labelled.
    labeled, names, models, ks, criterion, reg, tol, max_iter, verbose, progress, settings
        As in :func:`gmm_numba.selection.noise_sweep.select_with_noise`.

    Returns
    -------
    xarray.DataTree
    """
    shape = (len(models), len(ks))
    table = {name: np.full(shape, np.nan) for name in ("log_likelihood", "bic", "aic", "icl")}
    n_parameters = np.array([[m.n_parameters(k, data.n_features) for k in ks] for m in models], dtype=np.int64)
    converged = np.zeros(shape, dtype=bool)
    n_iter = np.zeros(shape, dtype=np.int64)
    errors = np.full(shape, "", dtype=object)
    origins = np.full(shape, "", dtype=object)
    fits = {}
    total, done, started = shape[0] * shape[1], 0, time.perf_counter()
    for j, k in enumerate(ks):
        for i, model in enumerate(models):
            try:
                cell_labels = check_labels(labels, data.n_samples, k)
                fit = fit_semi_supervised(data, cell_labels, model, k, reg_covar=reg, tol=tol, max_iter=max_iter,
                                          warn=False)
            except (ValueError, FitError) as exc:
                errors[i, j] = str(exc)
            else:
                crit = Criteria.from_statistics(fit.final, n_parameters[i, j])
                for name in table:
                    table[name][i, j] = getattr(crit, name)
                converged[i, j], n_iter[i, j] = fit.best.converged, fit.best.n_iter
                fits[i, j] = (fit, crit, None)
            done += 1
            description = f"{names[i]} K={k} with labels"
            if verbose:
                outcome = errors[i, j] or f"{criterion}={table[criterion][i, j]:.6g}"
                print(f"[{done}/{total}] {description}: {outcome} ({time.perf_counter() - started:.1f} s)")
            if progress is not None:
                progress(done, total, description)
    return selection_result(fits, table, n_parameters, converged, n_iter, errors, origins, names, ks, criterion,
                            labeled, settings, {"semi_supervised": 1})
