"""Which starts each cell of a sweep gets: hierarchical, screened random starts, and neighbour moves.

Every cell starts from mclust's hierarchical partition (never screened out);
the cells that could still change their model's choice then also get
``n_init`` clusterings drawn for their K and shared by every covariance
model. Later, a cell may also start from its neighbours' fits: the fit with
one component fewer split or given a new component, the fit with one
component more with two components merged (:mod:`gmm_numba.selection.moves`).
"""

import numpy as np

from .._kernels import start_m_steps as start_m_steps_kernel
from .._kernels.config import at_most_threads
from .._kernels.constrained import MSTEP_VEI, START_COLD
from .._kernels.em_run import EMPTY_FRACTION, INNER_LOOSEST
from ..data.in_memory import per_sample_scores
from ..data.statistics import scatter_about_means
from ..errors import FitError
from ..fitting.hierarchical import partition_statistics, source_tree
from ..fitting.parameters import PendingParameters, m_step
from ..fitting.starts import initial_statistics
from .moves import SPLIT, concatenate_moments, insertion_moments, neighbour_moments

#: Short-EM screening: every start runs this many iterations, then only the
#: best few continue to convergence.
SCREEN_ITERATIONS = 10
SCREEN_KEEP = 3

#: ``init_params="mixed"``: the first start of a cell is k-means++, the
#: others random rows. k-means++ starts tend to reach the same partition
#: after the Lloyd steps; random rows explore more local optima.
MIXED = "mixed"

#: Where the iterative M-steps (EVE, VVE: from ``K + 2`` orientations) of every start (hierarchical,
#: random, neighbour move) stop: a start needs no exact M-step, since its run's first M-step goes on
#: from there. (mclust's own hierarchical start takes one orientation, the identity.)
START_INNER_TOLERANCE = INNER_LOOSEST

#: A cell's ``origin`` when mclust's hierarchical start gave its fit.
HIERARCHICAL_ORIGIN = "mclust's hierarchical start (hc)"

#: Seeds the rows the hierarchical tree is built on (more than 2,000 rows).
HIERARCHICAL_STREAM = 2**32 + 1

#: Trees on more than 2,000 rows: each on its own random subset, and every cell starts from each one's cut.
#: mclust's single subset decides which optimum a cell far from its model's best reaches (those cells get no
#: other start), so one tree of ours against mclust's one is a coin toss per cell; the best of three is not.
HIERARCHICAL_TREES = 3

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
        self._random_statistics = {}
        self._inserts = {}

    @property
    def has_hierarchical(self):
        """Whether the sweep's cells start from mclust's hierarchical partition."""
        return self._hierarchical is not None

    def hierarchical(self, models, k):
        """mclust's hierarchical starts of the cells (``model``, ``k``) of ``models``, their M-steps in one call.
        Only when :attr:`has_hierarchical`.

        Returns
        -------
        list of list of MixtureParameters, PendingParameters or FitError
            Per model, one start per tree (``HIERARCHICAL_TREES`` on more than 2,000 rows, else one), or the
            FitError that prevented it.
        """
        return self._hierarchical(k, models)

    def random(self, models, k):
        """The ``n_init`` random starts of the cells (``model``, ``k``) of ``models`` (none with
        ``init_params="hc"``), their M-steps in one call.

        Returns
        -------
        list of list of MixtureParameters, PendingParameters or FitError
            Per model, its starts.
        """
        drawn = [self._clustering(k, r) for r in range(0 if self.init_params == "hc" else self.n_init)]
        if k not in self._random_statistics:
            self._random_statistics[k] = StartStatistics(
                [stats for stats in drawn if not isinstance(stats, FitError)], self.data.reg_covar
            )
        priors = [self.plan.prior_for(model, k) for model in models]
        out = []
        for made in start_m_steps(models, self._random_statistics[k], priors):
            made = iter(made)
            out.append([stats if isinstance(stats, FitError) else next(made) for stats in drawn])
        return out

    def moves(self, requests):
        """Starts from neighbour moves: for each request ``(model, k, params, kind)``, starts for ``k`` components
        of ``model`` from the moves of ``params``; the M-steps of all of them in one call.

        ``params`` is the fit with ``k - 1`` components (``kind`` SPLIT: splits and insertions) or ``k + 1``
        (MERGE); ``model`` and ``kind`` may differ between requests.

        Parameters
        ----------
        requests : list of tuple (CovarianceModel, int, MixtureParameters, {SPLIT, MERGE})

        Returns
        -------
        list of list of MixtureParameters, PendingParameters or FitError
            Per request, at most ``max(MOVE_KEEP, MOVE_STARTS_PER_INIT * n_init)`` starts, spread evenly over the
            candidates.
        """
        reg = self.data.reg_covar
        budget = max(MOVE_KEEP, MOVE_STARTS_PER_INIT * self.n_init)
        statistics = []
        for _, k, params, kind in requests:
            inserts = None
            if kind == SPLIT and N_INSERTIONS:
                if k not in self._inserts:  # the anchors depend on K only
                    self._inserts[k] = self._insertions(k)
                inserts = self._inserts[k]
            moments = neighbour_moments(params, kind, reg, inserts, budget)
            statistics.append(StartStatistics([], reg) if moments is None else MomentStarts(moments, reg))
        return start_m_steps([model for model, *_ in requests], statistics, [None] * len(requests))

    def _insertions(self, k):
        """``inserts(params)`` -> ``(count, build)``: the candidates of :func:`neighbour_moments` with a
        component added to ``params`` on a small group of rows, every anchor for each group size in turn."""
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

            def build(indices):
                n = len(chosen)
                by_size = [[chosen[c % n] for c in indices if c // n == s] for s in range(len(sizes))]
                return concatenate_moments([
                    insertion_moments(params, arr, weights, anchors_of_size, size, data.reg_covar, data.inv_scale)
                    for size, anchors_of_size in zip(sizes, by_size) if anchors_of_size
                ])

            return len(sizes) * len(chosen), build

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
    """mclust's starts for each cell: ``start(k, models)`` gives each model's M-steps on the trees' cuts at ``k``.

    The trees serve every cell: one on all rows, or ``HIERARCHICAL_TREES``
    on as many random subsets of 2,000 rows. None when the sweep does not use
    them (``init_params`` other than "mixed" and "hc") or cannot (unequal
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
    trees = [(tree, rows)]
    if tree.rows is not None:  # built on a subset: the others on other subsets, with as many leaves
        trees += [source_tree(data, np.random.default_rng([base_seed, HIERARCHICAL_STREAM, t]))
                  for t in range(1, HIERARCHICAL_TREES)]

    cuts = {}

    def start(k, models):
        if tree.n_leaves < k:
            reason = f"{k} components need {k} rows for the hierarchical start; it has {tree.n_leaves}."
            return [[FitError(reason)] for _ in models]
        if k not in cuts:
            cuts[k] = StartStatistics([partition_statistics(tree_rows, each.labels(k), k) for each, tree_rows in trees],
                                      reg_covar)
        return start_m_steps(models, cuts[k], [prior_for(model, k) for model in models])

    return start


def _initial_method(init_params, restart):
    if init_params != MIXED:
        return init_params
    return "k-means++" if restart == 0 else "random_from_data"


class StartStatistics:
    """Several starts' statistics, prepared once for the compiled M-steps of every model that starts from them.

    Parameters
    ----------
    statistics : list of SufficientStatistics
        With the same number of components.
    reg_covar : float or ndarray of shape (n_features,)
    """

    def __init__(self, statistics, reg_covar):
        self._statistics = list(statistics)
        self.reg_covar = reg_covar
        self._prepared = None
        self._weights_and_means = {}

    def __len__(self):
        return len(self._statistics)

    def statistics(self, s):
        """Start ``s``'s :class:`SufficientStatistics`."""
        return self._statistics[s]

    def weights_and_means(self, s):
        """Start ``s``'s mixture weights, shape (n_components,), and means, shape (n_components, n_features).

        Computed once: the starts of every model from these statistics share them.
        """
        if s not in self._weights_and_means:
            stats = self._statistics[s]
            self._weights_and_means[s] = stats.nk / stats.nk.sum(), stats.means()
        return self._weights_and_means[s]

    def _full_sums(self):
        """The starts with full second moments: their indices, weights (F, K) and total weights (F,)."""
        full = [i for i, stats in enumerate(self._statistics) if stats.s2.shape[1:] == (stats.n_features,) * 2]
        if not full:
            return full, None, None
        return (full, np.stack([self._statistics[i].nk for i in full]),
                np.array([self._statistics[i].total_weight for i in full]))

    def _scatter(self, indices, nk):
        """The scatter about their means (S, K, D, D) of starts ``indices``, whose weights are ``nk`` (S, K)."""
        chosen = [self._statistics[i] for i in indices]
        return scatter_about_means(nk, np.stack([stats.s1 for stats in chosen]),
                                   np.stack([stats.s2 for stats in chosen]))

    def prepared(self):
        """What the compiled M-step of any model takes, computed on first use.

        Returns
        -------
        eligible : list of bool
            Per start: full second moments and no (nearly) empty component.
        nk : ndarray of shape (S, n_components) or None
            The weights of the ``S`` eligible starts; None when no start is eligible.
        scatter : ndarray of shape (S, n_components, n_features, n_features) or None
            Their symmetrised scatter, ``nk * reg_covar`` added to the diagonal.
        """
        if self._prepared is None:
            full, weights, total = self._full_sums()
            eligible = [False] * len(self)
            nk = scatter = None
            if full:  # every start at once, by the same element-wise arithmetic as one at a time
                kept = np.all(weights > EMPTY_FRACTION * total[:, None], axis=1)
                for i, keep in zip(full, kept):
                    eligible[i] = bool(keep)
                if kept.any():
                    nk = weights[kept]
                    scatter = self._scatter([i for i, keep in zip(full, kept) if keep], nk)
                    scatter = 0.5 * (scatter + np.swapaxes(scatter, 2, 3))
            if nk is not None:
                d = scatter.shape[-1]
                scatter[..., np.arange(d), np.arange(d)] += nk[..., None] * np.broadcast_to(self.reg_covar, (d,))
                scatter = np.ascontiguousarray(scatter)
            self._prepared = eligible, nk, scatter
        return self._prepared


class MomentStarts(StartStatistics):
    """The neighbour moves' starts (:class:`~gmm_numba.selection.moves.Moments`), prepared as they are stacked:
    a statistics object is made only for a start that needs the Python M-step.

    Parameters
    ----------
    moments : Moments
    reg_covar : float or ndarray of shape (n_features,)
    """

    def __init__(self, moments, reg_covar):
        super().__init__([], reg_covar)
        self._moments = moments

    def __len__(self):
        return len(self._moments)

    def statistics(self, s):
        return self._moments.statistics(s)

    def weights_and_means(self, s):
        weights = self._moments.weights[s]
        return weights / weights.sum(), self._moments.means[s]

    def _full_sums(self):
        weights = self._moments.weights
        return list(range(len(weights))), weights, weights.sum(axis=1)

    def _scatter(self, indices, nk):
        return nk[..., None, None] * self._moments.covariances[indices]


def start_m_steps(models, statistics, priors):
    """The starts each of ``models`` takes from its statistics, their M-steps (at ``START_INNER_TOLERANCE``) in one
    compiled call on the threads.

    Where the compiled M-step cannot be used (no compiled family, a prior, statistics without full second
    moments) or gives no usable covariances, the start is the Python M-step's, or the error it raises.

    Parameters
    ----------
    models : list of CovarianceModel
    statistics : StartStatistics or list of StartStatistics
        The statistics every model starts from, or each model's own (one per model). The compiled M-steps of
        one call take one number of components, the most common: statistics with another go to the Python
        M-step.
    priors : list of ConjugatePrior or None
        One per model.

    Returns
    -------
    list of list of MixtureParameters, PendingParameters or FitError
        Per model, one start per statistics.
    """
    own = statistics if isinstance(statistics, list) else [statistics] * len(models)
    compiled = [m for m, (model, prior) in enumerate(zip(models, priors))
                if prior is None and model.m_step_family is not None]
    prepared = {m: own[m].prepared() for m in compiled}
    shapes = [prepared[m][2].shape[1:] for m in compiled if prepared[m][1] is not None]
    common = max(shapes, key=shapes.count) if shapes else None
    compiled = [m for m in compiled if prepared[m][1] is not None and prepared[m][2].shape[1:] == common]
    covariances = {}
    if compiled:
        counts = [len(prepared[m][1]) for m in compiled]
        families = np.repeat(np.array([models[m].m_step_family for m in compiled], dtype=np.int64), counts)
        nk_all = np.concatenate([prepared[m][1] for m in compiled])
        scatter_all = np.concatenate([prepared[m][2] for m in compiled])
        out = np.zeros_like(scatter_all)
        # the threads pay off only for the iterative M-steps (VEI and above); the others take microseconds
        with at_most_threads(int(np.count_nonzero(families >= MSTEP_VEI))):
            failed = start_m_steps_kernel(families, nk_all, scatter_all, START_INNER_TOLERANCE, START_COLD, out)
        usable = ((failed < 0) & np.isfinite(out).all(axis=(1, 2, 3))).tolist()
        end = 0
        for m, count in zip(compiled, counts):
            rows = range(end, end + count)
            covariances[m] = [out[row] if usable[row] else None for row in rows]
            end += count
    return [
        _starts_of(model, own[m], prepared[m][0] if m in covariances else [], covariances.get(m, []), prior)
        for m, (model, prior) in enumerate(zip(models, priors))
    ]


def _starts_of(model, statistics, eligible, covariances, prior):
    """``model``'s starts from ``statistics`` (StartStatistics): from the compiled M-step's ``covariances`` of the
    ``eligible`` ones (:class:`PendingParameters`; None: it failed), the Python M-step's for the others."""
    made = iter(covariances)
    starts = []
    for s, use in enumerate(eligible or [False] * len(statistics)):
        full = next(made) if use else None
        if full is not None:  # positive definite: the compiled M-step factorised it
            starts.append(PendingParameters(model, *statistics.weights_and_means(s), full))
        else:
            starts.append(_safe_m_step(model, statistics.statistics(s), statistics.reg_covar, prior))
    return starts


def _safe_m_step(model, stats, reg_covar, prior=None):
    try:
        return m_step(model, stats, reg_covar, inner_tolerance=START_INNER_TOLERANCE, prior=prior)
    except FitError as exc:
        return exc
