"""What a sweep fits: its data, its cells (covariance model by number of components) and the table they fill."""

from dataclasses import dataclass

import numpy as np

from ..covariance import check_n_features, for_one_feature
from ..fitting.criteria import Criteria
from ..fitting.prior import data_moments, resolve_prior
from ..fitting.regularization import resolve_reg_covar
from ..fitting.starts import inverse_scale
from .cells import selection_result


def models_for(names, models, n_features):
    """The models to sweep on ``n_features`` features, and their names as the table shows them.

    On one feature the models collapse by their volume onto mclust's ``E`` and
    ``V``: each is fitted once. ``E`` and ``V`` are refused on several features.

    Parameters
    ----------
    names : list of str
    models : list of CovarianceModel
        The models ``names`` name, in the same order.
    n_features : int

    Returns
    -------
    names : list of str
    models : list of CovarianceModel
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


def cell_priors(prior, data):
    """``prior_for(model, k)``: a cell's resolved prior (None without one), resolved once per cell.

    Parameters
    ----------
    prior : None, "default" or dict
        As :func:`gmm_numba.fitting.prior.check_prior` returns it.
    data : data source
        Its moments are taken once, when there is a prior.
    """
    moments = None if prior is None else data_moments(data)
    priors = {}

    def prior_for(model, k):
        if prior is None:
            return None
        if (model.name, k) not in priors:
            priors[model.name, k] = resolve_prior(prior, moments, model, k)
        return priors[model.name, k]

    return prior_for


class SweepData:
    """The data a sweep fits, and the rows its starts and moves look at.

    Parameters
    ----------
    source : InMemoryData or MissingData
        What every EM run passes over.
    X : ndarray of shape (n_samples, n_features)
        The rows (with ``missing="marginalize"``, each missing entry replaced
        by its feature's observed mean).
    sample_weight : ndarray of shape (n_samples,) or None
    reg_covar : float or "auto"
        As given to :func:`gmm_numba.select`.

    Attributes
    ----------
    reg_covar : float or ndarray of shape (n_features,)
        Resolved against the data.
    inv_scale : ndarray of shape (n_features,)
        1 / each feature's standard deviation: the starts' standardised units.
    row_p : ndarray of shape (n_samples,) or None
        Each row's share of the weight (None: equal).
    n_rows : int
        The rows with positive weight.
    """

    def __init__(self, source, X, sample_weight, reg_covar):
        self.source = source
        self.X = X
        self.sample_weight = sample_weight
        self.reg_covar = resolve_reg_covar(reg_covar, source)
        self.inv_scale = inverse_scale(source)
        self.row_p = None if sample_weight is None else sample_weight / sample_weight.sum()
        self.n_rows = len(X) if sample_weight is None else int(np.count_nonzero(sample_weight > 0))


@dataclass(frozen=True)
class SweepPlan:
    """The cells of a sweep: row ``i`` of the table is ``models[i]``, column ``j`` has ``ks[j]`` components.

    Parameters
    ----------
    names : list of str
        The models as the table names them.
    models : list of CovarianceModel
    ks : list of int
        The numbers of components, in the order given.
    criterion : str
    base_seed : int
        Seeds every random start and move of the sweep.
    prior_for : callable
        ``prior_for(model, k)``, as :func:`cell_priors` makes it.
    """

    names: list
    models: list
    ks: list
    criterion: str
    base_seed: int
    prior_for: object

    @property
    def shape(self):
        """(n_models, n_ks)"""
        return len(self.models), len(self.ks)

    @property
    def order(self):
        """The columns by increasing K."""
        return sorted(range(len(self.ks)), key=lambda j: self.ks[j])

    @property
    def above(self):
        """Column ``j`` -> the column with ``ks[j] + 1`` components, for the K swept with K + 1."""
        return {j: self.ks.index(k + 1) for j, k in enumerate(self.ks) if k + 1 in self.ks}

    @property
    def below(self):
        """Column ``j`` -> the column with ``ks[j] - 1`` components, for the K swept with K - 1."""
        return {a: j for j, a in self.above.items()}

    def describe(self, i, j):
        """The cell as verbose lines and the progress bar name it."""
        return f"{self.names[i]} K={self.ks[j]}"


class SelectionTable:
    """The table a sweep fills: each cell's criteria, convergence, error or origin, and its fit.

    Parameters
    ----------
    plan : SweepPlan
    n_features : int

    Attributes
    ----------
    values : dict of str to ndarray of shape (n_models, n_ks)
        log_likelihood, bic, aic, icl (NaN where the cell failed or has not run).
    n_parameters, converged, n_iter, errors, origins : ndarray of shape (n_models, n_ks)
    fits : dict
        ``(i, j) -> (EMFit, Criteria)`` for the cells that have a fit.
    """

    def __init__(self, plan, n_features):
        shape = plan.shape
        self.plan = plan
        self.values = {name: np.full(shape, np.nan) for name in ("log_likelihood", "bic", "aic", "icl")}
        self.n_parameters = np.array([[m.n_parameters(k, n_features) for k in plan.ks] for m in plan.models],
                                     dtype=np.int64)
        self.converged = np.zeros(shape, dtype=bool)
        self.n_iter = np.zeros(shape, dtype=np.int64)
        self.errors = np.full(shape, "", dtype=object)
        self.origins = np.full(shape, "", dtype=object)
        self.fits = {}

    def record(self, i, j, result, origin=""):
        """Make ``result`` (an EMFit) cell (i, j)'s fit; ``origin`` says where its start came from."""
        crit = Criteria.from_statistics(result.final, self.n_parameters[i, j])
        for name in self.values:
            self.values[name][i, j] = getattr(crit, name)
        self.converged[i, j] = result.best.converged
        self.n_iter[i, j] = result.best.n_iter
        self.errors[i, j] = ""
        self.origins[i, j] = origin
        self.fits[i, j] = (result, crit)

    def outcome(self, i, j):
        """Cell (i, j)'s error, or its criterion, for a verbose line."""
        criterion = self.plan.criterion
        return self.errors[i, j] or f"{criterion}={self.values[criterion][i, j]:.6g}"

    def doubtful(self):
        """Unconverged cells whose criterion could still beat the chosen cell's, and the chosen cell if unconverged.

        A cell that stopped at ``max_iter`` is doubtful when its criterion, less
        twice the log-likelihood its run is still expected to gain (Aitken's
        estimate, every criterion has ``-2 log L``), falls below the chosen
        cell's. Other unconverged cells only show ``converged=False`` in the table.

        Returns
        -------
        list of (int, int)
            Sorted; empty when no cell has a fit.
        """
        if not self.fits:
            return []
        scores = self.values[self.plan.criterion]
        best = np.unravel_index(np.argmin(np.where(np.isnan(scores), np.inf, scores)), self.plan.shape)
        doubtful = []
        for cell, (result, _) in self.fits.items():
            if self.converged[cell]:
                continue
            gain = remaining_gain(result.best.lower_bounds) * result.final.total_weight
            if cell == best or scores[cell] - 2 * gain < scores[best]:
                doubtful.append(cell)
        return sorted(doubtful)

    def result(self, labeled, settings, may_change_choice):
        """The chosen cell's result tree with the ``selection`` group (:func:`selection_result`)."""
        plan = self.plan
        return selection_result(
            {cell: (fit, crit, None) for cell, (fit, crit) in self.fits.items()}, self.values, self.n_parameters,
            self.converged, self.n_iter, self.errors, self.origins, plan.names, plan.ks, plan.criterion, labeled,
            settings, may_change_choice=may_change_choice,
        )


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
