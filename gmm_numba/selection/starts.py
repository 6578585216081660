"""Which starts each cell of a sweep gets: hierarchical, screened random starts, and neighbour moves.

Every cell starts from mclust's hierarchical partition (never screened out)
and ``n_init`` clusterings drawn for its K and shared by every covariance
model. Later, a cell may also start from its neighbours' fits: the fit with
one component fewer split or given a new component, the fit with one
component more with two components merged (:mod:`gmm_numba.selection.moves`).
"""

import numpy as np

from .._kernels.constrained import INNER_TOLERANCE
from .._kernels.em_run import INNER_LOOSEST
from ..data.in_memory import per_sample_scores
from ..errors import FitError
from ..fitting.hierarchical import partition_statistics, source_tree
from ..fitting.parameters import m_step
from ..fitting.starts import initial_statistics
from .moves import SPLIT, insertion_statistics, neighbour_statistics

#: Short-EM screening: every start runs this many iterations, then only the
#: best few continue to convergence.
SCREEN_ITERATIONS = 10
SCREEN_KEEP = 3

#: ``init_params="mixed"``: the first start of a cell is k-means++, the
#: others random rows. k-means++ starts tend to reach the same partition
#: after the Lloyd steps; random rows explore more local optima.
MIXED = "mixed"

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


class CellStarts:
    """The starts of a sweep's cells, each drawn once and shared where the cells share it.

    Parameters
    ----------
    data : SweepData
    plan : SweepPlan
    init_params : str
        ``"mixed"`` or one of :data:`gmm_numba.fitting.starts.INIT_METHODS`.
    n_init : int
        Random starts per cell; also sets the neighbour moves' budget.
    init_sample_size : int
    """

    def __init__(self, data, plan, init_params, n_init, init_sample_size):
        self.data = data
        self.plan = plan
        self.init_params = init_params
        self.n_init = n_init
        self.init_sample_size = init_sample_size
        self._hierarchical = _hierarchical_partitions(
            data.source, init_params, plan.base_seed, data.reg_covar, plan.prior_for
        )
        self._clusterings = {}

    def initial(self, model, k):
        """The starts of cell (``model``, ``k``) before any move.

        Returns
        -------
        starts : list of MixtureParameters or FitError
            mclust's hierarchical start first, when the sweep has one, then
            the ``n_init`` random ones (none with ``init_params="hc"``).
        n_hierarchical : int
            1 when the first start is the hierarchical one (exempt from screening), else 0.
        """
        hierarchical = [] if self._hierarchical is None else [self._hierarchical(k, model)]
        starts = []
        for r in range(0 if self.init_params == "hc" else self.n_init):
            stats = self._clustering(k, r)
            starts.append(
                stats if isinstance(stats, FitError)
                else _safe_m_step(model, stats, self.data.reg_covar, self.plan.prior_for(model, k),
                                  START_INNER_TOLERANCE)
            )
        return hierarchical + starts, len(hierarchical)

    def moves(self, model, k, params, kind):
        """Starts for ``k`` components of ``model`` from the neighbour moves of ``params``.

        Parameters
        ----------
        model : CovarianceModel
        k : int
        params : MixtureParameters
            The fit with ``k - 1`` components (``kind`` SPLIT: splits and
            insertions) or ``k + 1`` (MERGE).
        kind : {SPLIT, MERGE}

        Returns
        -------
        list of MixtureParameters or FitError
            At most ``max(MOVE_KEEP, MOVE_STARTS_PER_INIT * n_init)``, spread evenly over the candidates.
        """
        reg = self.data.reg_covar
        inserts = self._insertions(k) if kind == SPLIT and N_INSERTIONS else None
        statistics = neighbour_statistics(params, kind, reg, inserts)
        budget = max(MOVE_KEEP, MOVE_STARTS_PER_INIT * self.n_init)
        if len(statistics) > budget:
            statistics = [statistics[c] for c in np.linspace(0, len(statistics) - 1, budget).round().astype(int)]
        return [_safe_m_step(model, stats, reg, inner_tolerance=START_INNER_TOLERANCE) for stats in statistics]

    def _insertions(self, k):
        """``inserts(params)``: statistics of ``params`` with a component added on a small group of rows."""
        data = self.data
        arr, weights, n_rows = data.X, data.sample_weight, data.n_rows
        anchor_rng = np.random.default_rng([self.plan.base_seed, k, INSERTION_STREAM])
        anchors = anchor_rng.choice(len(arr), size=min(N_INSERTIONS, n_rows), replace=False, p=data.row_p)
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
                for stats in insertion_statistics(params, arr, weights, chosen, size, data.reg_covar, data.inv_scale)
            ]

        return inserts

    def _clustering(self, k, r):
        """Statistics of start ``r`` for K = ``k`` (or why there is none): drawn once, shared by every model."""
        if (k, r) not in self._clusterings:
            try:
                method = _initial_method(self.init_params, r)
                rng = np.random.default_rng([self.plan.base_seed, k, r])
                self._clusterings[k, r] = initial_statistics(self.data.source, k, method, rng, self.init_sample_size)
            except FitError as exc:
                self._clusterings[k, r] = exc
        return self._clusterings[k, r]


def move_origin(kind, source_k, gained, n_init):
    """How a neighbour move made the starts that beat a cell's ``n_init`` initial starts (None: they all failed)."""
    how = "splitting a component of, or adding one to," if kind == SPLIT else "merging two components of"
    if gained is None:
        return f"{how} the K={source_k} fit; all {n_init} initial starts had failed"
    gain = f"they beat the best of the {n_init} initial starts by {gained:.3g} in log-likelihood"
    return f"{how} the K={source_k} fit; {gain}"


def _hierarchical_partitions(data, init_params, base_seed, reg_covar, prior_for):
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


def _safe_m_step(model, stats, reg_covar, prior=None, inner_tolerance=INNER_TOLERANCE):
    try:
        return m_step(model, stats, reg_covar, inner_tolerance=inner_tolerance, prior=prior)
    except FitError as exc:
        return exc
