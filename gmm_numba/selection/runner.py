"""The runs of a sweep: every cell from its own starts, then neighbour moves between K and K + 1.

:class:`CellRunner` is the one place where the sweep calls :func:`em_search`.
The searches of many cells go on in lockstep (:func:`drive_together`), so
that their runs of each round share one compiled call.
"""

import math

import numpy as np

from .._kernels.em_run import ACCEL_FROM
from ..errors import FitError
from ..fitting.em import EMFit, continued, drive_together, em_search, run_jobs
from .moves import MERGE, SPLIT
from .starts import HIERARCHICAL_ORIGIN, MOVE_KEEP, SCREEN_ITERATIONS, SCREEN_KEEP, move_origin

#: ``select(search=...)``: the random starts and neighbour moves go to the cells that could change the sweep's
#: choice (within the margins below of the best cell of the whole sweep), or to those that could change their
#: own model's best K (within the margins of their model's best cell: every row is then its own sweep, which
#: does not depend on the other models).
SEARCH_CHOICE = "choice"
SEARCH_MODELS = "models"
SEARCHES = (SEARCH_CHOICE, SEARCH_MODELS)

#: Neighbour moves are tried only for cells whose criterion lies within this of the best cell (of the
#: sweep or of their model, by ``search``), or that failed: a move would have to raise a cell's
#: log-likelihood by more than half of it to change that best cell. 10 is "very strong" evidence on
#: Kass and Raftery's scale for BIC differences.
MOVE_MARGIN = 10.0

#: After the hierarchical starts, a cell also gets its ``n_init`` random starts only when it failed or
#: its criterion lies within this of the best cell (of the sweep or of its model, by ``search``):
#: random starts would have to raise its log-likelihood by more than half of it to change that best
#: cell. Wider than MOVE_MARGIN, because a hierarchical start can end far below a cell's best optimum.
START_MARGIN = 50.0

#: On large data the hierarchical starts first stop once the log-likelihood changes by less than
#: this fraction of ``1 + |log-likelihood|`` (a negative ``tol`` asks the runs for that rule): a
#: hundredth of mclust's own rule (1e-5), so those runs end at least as converged as mclust's from its
#: start (at a tenth, EVE K=3 of 100,000 x 10 rows stopped 4 log-likelihood units below mclust's
#: optimum while still climbing by about 2 an iteration). Only the cells that then lie within
#: ``START_MARGIN`` of their model's best go on to the sweep's ``tol``; the others cannot change the choice.
FAR_CELL_TOL = -ACCEL_FROM / 100

#: Passes down (merges) then up (splits) after the first sweep, while some cell improves.
MAX_NEIGHBOUR_PASSES = 3

#: A neighbour move replaces a cell's fit when it raises the log-likelihood
#: by more than this, relatively (EM's own noise at tol=1e-8 is far smaller).
IMPROVEMENT_RTOL = 1e-10


class CellRunner:
    """Fits the cells of a sweep into its table.

    Parameters
    ----------
    data : SweepData
    plan : SweepPlan
    table : SelectionTable
        Filled in place.
    starts : CellStarts
    tol : float
    max_iter : int
    accept : callable or None
        ``accept(params)`` -> "" or why a run is degenerate (:func:`collapse_check`); None keeps every run.
    n_init : int
        Named in the ``origin`` of cells a move improved.
    verbose : int or bool
        Prints a line per move that improved a cell.
    scope : {"choice", "models"}
        ``select``'s ``search``: whether the margins of the random starts and moves (``START_MARGIN``,
        ``MOVE_MARGIN``) are measured from the best cell of the sweep or from each model's best cell.
    """

    def __init__(self, data, plan, table, starts, *, tol, max_iter, accept, n_init, verbose, scope=SEARCH_CHOICE):
        self.data = data
        self.plan = plan
        self.table = table
        self.starts = starts
        self.tol = tol
        self.max_iter = max_iter
        self.accept = accept
        self.n_init = n_init
        self.verbose = verbose
        self.scope = scope

    def search(self, model, k, starts, keep, exempt=0, floor=None, tol=None, max_iter=None):
        """The search (:func:`em_search`) of one cell from ``starts``, screened as ``SCREEN_*`` say.

        Parameters
        ----------
        model : CovarianceModel
        k : int
        starts : list of MixtureParameters or FitError
        keep : int
            Starts that go on to convergence after ``SCREEN_ITERATIONS``.
        exempt : int
            The first ``exempt`` starts run to convergence unscreened.
        floor : float, optional
            Mean log-likelihood per unit weight below which a run on course to end there is abandoned.
        tol, max_iter : float and int, optional
            The sweep's own by default.
        """
        screen = (SCREEN_ITERATIONS, keep, exempt) if keep else None
        return em_search(self.data.source, starts, max_iter=self.max_iter if max_iter is None else max_iter,
                         tol=self.tol if tol is None else tol, accept=self.accept,
                         screen=screen, floor=floor, prior=self.plan.prior_for(model, k), reorder=True, warn=False,
                         accelerate=True)

    def run_together(self, searches, tol=None):
        """Each search's EMFit (or FitError), their runs of each round in one call on the threads.

        Parameters
        ----------
        searches : dict
            ``key -> search`` (:meth:`search`).
        tol : float, optional
            The searches' ``tol``: the sweep's by default.

        Returns
        -------
        dict
            ``key -> EMFit or FitError``.
        """
        source, reg_covar = self.data.source, self.data.reg_covar
        tol = self.tol if tol is None else tol
        return drive_together(searches, lambda jobs: run_jobs(source, jobs, reg_covar=reg_covar, tol=tol))

    def fit_cells(self, report):
        """Fit every cell from mclust's hierarchical start, then the cells that could win from random starts too.

        The hierarchical start runs to convergence (on large data only until
        its relative change falls below a hundredth of mclust's stopping rule,
        ``FAR_CELL_TOL``; never screened out, so that a
        cell reaches at least what mclust's start reaches), the models' cells
        of one K together. On more rows than a tree is built on, each cell
        has a start from each of ``HIERARCHICAL_TREES`` trees: the first
        tree's runs to convergence, the others' are screened (short EM, then
        abandoned once on course to end below the best) and the best is kept.
        A cell that failed or whose criterion lies within ``START_MARGIN`` of
        the best cell (the sweep's, or its model's: ``scope``) then goes on to ``tol`` and also gets its
        ``n_init`` screened random starts; those runs are abandoned once on
        course to end below the cell's fit. The other cells cannot change the
        choice: they keep the hierarchical fit. Without a
        hierarchical start (other ``init_params``, unequal sample weights)
        every cell gets random starts, run to ``tol``.

        Parameters
        ----------
        report : CellReport
        """
        plan, table, starts = self.plan, self.table, self.starts
        n_samples = self.data.X.shape[0]
        cells = []
        for j in plan.order:
            for i in range(len(plan.models)):
                k = plan.ks[j]
                if k > n_samples:
                    table.errors[i, j] = f"{k} components need at least {k} samples; X has {n_samples}."
                else:
                    cells.append((i, j))

        def rows_at(j):
            return [i for i, jj in cells if jj == j]

        searches = {}
        if starts.has_hierarchical:
            far_tol = self._far_cell_tol()
            # compiled runs side by side share the threads best all in one call; passes over large data go K by K
            groups = [[j] for j in plan.order] if self._iterations_are_passes() else [plan.order]
            for group in groups:
                report.stage("hierarchical starts" + (f", K={plan.ks[group[0]]}" if len(group) == 1 else ""))
                hierarchical = {}
                for j in group:
                    rows = rows_at(j)
                    made = starts.hierarchical([plan.models[i] for i in rows], plan.ks[j]) if rows else []
                    hierarchical.update({(i, j): self.search(plan.models[i], plan.ks[j], cell_starts,
                                                             len(cell_starts) - 1, exempt=1, tol=far_tol)
                                         for i, cell_starts in zip(rows, made)})
                for (i, jj), result in sorted(self.run_together(hierarchical, far_tol).items()):
                    if isinstance(result, FitError):
                        table.errors[i, jj] = str(result)
                    else:
                        table.record(i, jj, result, HIERARCHICAL_ORIGIN)
            far = {(i, j) for i, j in cells if not self._could_win(i, j, START_MARGIN)}
            for i, j in far:
                if far_tol != self.tol and table.fits[i, j][0].best.converged:
                    table.origins[i, j] = (f"{HIERARCHICAL_ORIGIN}, stopped at a relative change of "
                                           f"{-far_tol:g}: cannot change the choice")
                else:
                    table.origins[i, j] = f"{HIERARCHICAL_ORIGIN}, no random starts: cannot change the choice"
            cells = [cell for cell in cells if cell not in far]
            for i, j in cells:
                search = self._polish(i, j, far_tol)
                if search is not None:
                    searches[i, j, "polish"] = search
        report.stage("random starts")
        for j in plan.order:
            rows = rows_at(j)
            if not rows:
                continue
            for i, random in zip(rows, starts.random([plan.models[i] for i in rows], plan.ks[j])):
                if random:
                    searches[i, j, "random"] = self.search(plan.models[i], plan.ks[j], random, SCREEN_KEEP,
                                                           floor=self._floor(i, j))
        for (i, j, kind), result in sorted(self.run_together(searches).items()):
            if kind == "polish":
                self._polished(i, j, result)
            else:
                self._keep_better(i, j, result)
        for j in plan.order:
            for i in range(len(plan.models)):
                report(plan.describe(i, j), table.outcome(i, j))

    def _far_cell_tol(self):
        """The hierarchical starts' ``tol``: ``FAR_CELL_TOL`` where every iteration is a pass over large data
        (:meth:`_iterations_are_passes`) and the sweep's ``tol`` is stricter than that rule's usual size (an
        absolute change of the mean log-likelihood below 1e-6), else the sweep's (0 too: no stopping)."""
        return FAR_CELL_TOL if 0 < self.tol < -FAR_CELL_TOL and self._iterations_are_passes() else self.tol

    def _iterations_are_passes(self):
        """Whether the sweep's largest cells iterate as passes over the data on the threads (large data, out of
        core), not as compiled runs side by side. Only there does an early stop save much: small data's
        iterations cost microseconds, and a run stopped early may have stopped on a plateau."""
        compiled_run_fits = getattr(self.data.source, "compiled_run_fits", None)
        return compiled_run_fits is None or not compiled_run_fits(max(self.plan.ks), 2)

    def _polish(self, i, j, far_tol):
        """The search that takes cell (i, j)'s hierarchical fit on from where ``far_tol`` stopped it to ``tol``,
        or None when it needs none."""
        if far_tol == self.tol or (i, j) not in self.table.fits:
            return None
        run = self.table.fits[i, j][0].best
        if not run.converged or run.n_iter >= self.max_iter:
            return None
        return self.search(self.plan.models[i], self.plan.ks[j], [run.parameters], 0,
                           max_iter=self.max_iter - run.n_iter)

    def _polished(self, i, j, result):
        """Make the continued hierarchical run (EMFit, or FitError: the cell keeps its fit) cell (i, j)'s fit."""
        if isinstance(result, FitError):
            return
        run = continued(self.table.fits[i, j][0].best, result.best)
        self.table.record(i, j, EMFit(run, [run], 0, result.final), HIERARCHICAL_ORIGIN)

    def _keep_better(self, i, j, result):
        """Make the random starts' fit (EMFit or FitError) cell (i, j)'s, unless its hierarchical fit is as good.

        The cell's starts are then the hierarchical one followed by the random ones, as one fit's runs.
        """
        table = self.table
        if (i, j) not in table.fits:
            if isinstance(result, FitError):
                hierarchical = table.errors[i, j]
                table.errors[i, j] = str(result) + (f" (mclust's hierarchical start: {hierarchical})"
                                                    if hierarchical and hierarchical != str(result) else "")
            else:
                table.record(i, j, result)
            return
        if isinstance(result, FitError):
            return
        fit = table.fits[i, j][0]
        runs = fit.runs + result.runs
        if result.best.lower_bound > fit.best.lower_bound:
            table.record(i, j, EMFit(result.best, runs, len(fit.runs) + result.best_index, result.final))
        else:
            table.record(i, j, EMFit(fit.best, runs, fit.best_index, fit.final), HIERARCHICAL_ORIGIN)

    def _floor(self, i, j):
        """Mean log-likelihood of cell (i, j)'s fit per unit weight (with a prior: its run's last log posterior, what
        the runs are compared by), below which new runs are abandoned; None when the cell has no fit or the data's
        runs do not abandon."""
        if (i, j) not in self.table.fits or not hasattr(self.data.source, "total_weight"):
            return None
        if self.plan.prior_for(self.plan.models[i], self.plan.ks[j]) is not None:
            return self.table.fits[i, j][0].best.lower_bound
        return self.table.values["log_likelihood"][i, j] / self.data.source.total_weight

    def neighbour_moves(self, rows):
        """Neighbour moves for the cells that could still change the choice.

        Split up from K - 1, then alternate passes down (merges) and up (splits)
        while a cell improves. Each model's row is its own sweep; the rows' moves
        at one K run together.

        Parameters
        ----------
        rows : range
            The models (rows of the table) to move.
        """
        plan, fits = self.plan, self.table.fits
        order, above, below = plan.order, plan.above, plan.below
        for j in order:
            if j in below:
                self._move_together(
                    [(i, j, (i, below[j]), SPLIT) for i in rows if (i, below[j]) in fits and self._could_win(i, j)]
                )
        changed = {i: {j for j in order if (i, j) in fits} for i in rows}
        for _ in range(MAX_NEIGHBOUR_PASSES):
            improved = {i: set() for i in changed}
            for j in reversed(order):
                if j in above:
                    merges = [(i, j, (i, above[j]), MERGE) for i in changed
                              if above[j] in changed[i] | improved[i] and self._could_win(i, j)]
                    for i, _ in self._move_together(merges):
                        improved[i].add(j)
            for j in order:
                if j in below:
                    splits = [(i, j, (i, below[j]), SPLIT) for i in changed
                              if below[j] in improved[i] and self._could_win(i, j)]
                    for i, _ in self._move_together(splits):
                        improved[i].add(j)
            changed = {i: cells for i, cells in improved.items() if cells}
            if not changed:
                break

    def _could_win(self, i, j, margin=None):
        """Whether cell (i, j) failed or lies within ``margin`` (default ``MOVE_MARGIN``) of the best cell so far:
        the sweep's, or with ``scope="models"`` its model's (each model's row is then its own sweep: it does not
        depend on the other models)."""
        margin = MOVE_MARGIN if margin is None else margin
        values = self.table.values[self.plan.criterion]
        value = float(values[i, j])
        # a finite value makes the least (NaN-skipping) finite as well
        best = np.fmin.reduce(values[i] if self.scope == SEARCH_MODELS else values, axis=None)
        return not math.isfinite(value) or value <= best + margin

    def _moved(self, i, j, source, kind, result):
        """Keep the move's fit of cell (i, j) if it raised the log-likelihood; True if it did."""
        if isinstance(result, FitError):
            return False
        table, ks = self.table, self.plan.ks
        current = table.values["log_likelihood"][i, j]
        gained = result.final.log_likelihood - current
        if (i, j) in table.fits and not gained > IMPROVEMENT_RTOL * abs(current):
            return False
        table.record(i, j, result, move_origin(kind, ks[source[1]], gained if (i, j) in table.fits else None,
                                               self.n_init))
        if self.verbose:
            print(f"  {self.plan.describe(i, j)}: {kind} from K={ks[source[1]]} raised log L by {gained:.6g}")
        return True

    def _move_together(self, moves):
        """Make the neighbour moves ``(i, j, source, kind)`` (on distinct cells) together; the cells they improved."""
        plan, table = self.plan, self.table
        moves = [move for move in moves if move[2] in table.fits and plan.ks[move[1]] <= self.data.X.shape[0]]
        requests = [(plan.models[i], plan.ks[j], table.fits[source][0].parameters, kind)
                    for i, j, source, kind in moves]
        searches, made = {}, {}
        for (i, j, source, kind), starts in zip(moves, self.starts.moves(requests) if moves else []):
            if starts:
                # a move matters only if it beats the cell's fit: runs on course to end below it are abandoned
                searches[i, j] = self.search(plan.models[i], plan.ks[j], starts, MOVE_KEEP, floor=self._floor(i, j))
                made[i, j] = source, kind
        results = self.run_together(searches)
        return {cell for cell in sorted(results) if self._moved(*cell, *made[cell], results[cell])}
