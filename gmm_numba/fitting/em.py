"""The EM driver: one run from a starting point, and restarts."""

import time
from dataclasses import dataclass, field

import numpy as np

from .._kernels.em_run import (
    ACCEL_CYCLE,
    ACCEL_EXTRAPOLATED,
    ACCEL_PLAIN,
    ACCEL_SECOND,
    ACCEL_STABILISED,
    ACCEL_STEP_FACTOR,
    INNER_LOOSEST,
    RUN_ABANDONED,
    RUN_NOT_FINITE,
    RUN_OK,
    accelerate_from,
    extrapolate,
    inner_tolerance,
    projected_limit,
    settled,
)
from ..covariance import get_model
from ..errors import ConvergenceWarning, FitError, NumericalError, warn_at_caller
from .parameters import MixtureParameters, PendingParameters, m_step, made
from .prior import log_prior_of
from .starts import initial_statistics


class StopFit(Exception):
    """Raised by a callback (or returned as ``True``) to end a run early."""


@dataclass
class EMRun:
    """The outcome of one EM run.

    Attributes
    ----------
    parameters : MixtureParameters or PendingParameters
        After the last M-step (the runs of :func:`run_jobs`' compiled calls: made on first use; the best run
        of :func:`em_search` and :func:`run_em`'s: made).
    lower_bounds : ndarray of shape (n_iter,)
        Mean log-likelihood per unit weight of the parameters entering each iteration (with a
        prior: the log posterior, log-likelihood plus the log prior's terms, per unit weight).
    converged : bool
    n_iter : int
    stopped : bool
        Whether the callback ended the run (it then did not run out of ``max_iter``).
    error : str
        Empty unless the run failed (then ``parameters`` is None).
    exception : FitError or None
        The error that ended a failed run.
    abandoned : bool
        Whether the run failed because it was on course to end below the floor it was given.
    """

    parameters: MixtureParameters = None
    lower_bounds: np.ndarray = field(default_factory=lambda: np.empty(0))
    converged: bool = False
    n_iter: int = 0
    stopped: bool = False
    error: str = ""
    exception: object = None
    abandoned: bool = False

    @property
    def lower_bound(self):
        return self.lower_bounds[-1] if self.lower_bounds.size else -np.inf


@dataclass
class EMFit:
    """The best of several EM runs, with the statistics at its final parameters.

    Attributes
    ----------
    best : EMRun
    runs : list of EMRun
    best_index : int
    final : SufficientStatistics
        One more pass at the best run's final parameters: their
        log-likelihood and the ICL entropy term.
    """

    best: EMRun
    runs: list
    best_index: int
    final: object

    @property
    def parameters(self):
        return self.best.parameters


def run_em(data, params, *, reg_covar, tol, max_iter, callback=None, verbose=0, label="", compiled=True,
           prior=None, floor=-np.inf, accelerate=False):
    """Iterate EM from ``params``.

    Convergence is declared when the mean log-likelihood per unit weight
    changes by less than ``tol``; the M-step of that iteration is still
    applied (as scikit-learn does).

    Parameters
    ----------
    data : data source
    params : MixtureParameters
    reg_covar : float or ndarray of shape (n_features,)
    tol : float
        Where the run stops (:func:`~gmm_numba._kernels.em_run.settled`; negative: a change relative to
        the log-likelihood).
    max_iter : int
        The budget in E-steps (with ``accelerate``, extrapolated points take
        E-steps that are not recorded iterations).
    callback : callable, optional
        ``callback(iteration, lower_bound, parameters)`` after each M-step;
        returning True (or raising :class:`StopFit`) ends the run.
    verbose : int
    label : str
        Printed in verbose output.
    compiled : bool, default=True
        Run the whole loop as one compiled call where that applies (small
        in-memory float64 data, a model with a compiled M-step, no callback, verbose < 2, no prior).
    prior : ConjugatePrior, optional
        MAP EM under mclust's conjugate prior: MAP M-steps, and the lower bounds
        are the mean log posterior (which EM never decreases).
    floor : float, default=-inf
        A run whose mean log-likelihood converges geometrically towards a
        limit below ``floor`` (Aitken's projection,
        :func:`gmm_numba._kernels.em_run.projected_limit`) stops there and
        carries the reason as its error.
    accelerate : bool, default=False
        Past mclust's stopping point, alternate pairs of EM iterations with
        squared extrapolation steps kept only where they do not lower the
        log-likelihood (:func:`gmm_numba._kernels.em_run.em_runs`). Ignored
        with a prior or a callback.

    Returns
    -------
    EMRun
    """
    model = params.model
    accelerate = accelerate and prior is None and callback is None
    if compiled and prior is None and callback is None and verbose < 2 and _compiled_run_applies(data, params):
        if floor > -np.inf:
            return _compiled_runs(data, [params], reg_covar, tol, [max_iter], [floor], accelerate)[0]
        return _compiled_run(data, params, reg_covar=reg_covar, tol=tol, max_iter=max_iter, accelerate=accelerate)
    lower_bounds = []
    previous = -np.inf
    converged = stop = False
    # the state machine of the compiled loop (gmm_numba._kernels.em_run._em_loop), step for step
    state = ACCEL_PLAIN
    step_max = 1.0
    kept = [None, None, None]
    cycle_starts = np.full(3, np.nan)
    inner = INNER_LOOSEST
    start = time.perf_counter()
    for _ in range(max_iter):
        stats = data.em_statistics(params)
        mean_ll = (stats.log_likelihood + log_prior_of(params, prior)) / stats.total_weight
        if state == ACCEL_EXTRAPOLATED:
            stabilised = _stabilised(model, stats, reg_covar, kept[2], inner) if np.isfinite(mean_ll) else None
            if stabilised is not None:
                params, state = stabilised, ACCEL_STABILISED
                continue
        if state >= ACCEL_EXTRAPOLATED:
            if state == ACCEL_STABILISED and mean_ll >= lower_bounds[-1]:
                state = ACCEL_CYCLE
            else:
                step_max = max(1.0, step_max / ACCEL_STEP_FACTOR)
                params, state = kept[2], ACCEL_CYCLE
                continue
        if not np.isfinite(mean_ll):
            raise _not_finite_error(mean_ll, len(lower_bounds) + 1)
        lower_bounds.append(mean_ll)
        if state == ACCEL_PLAIN:
            if floor > -np.inf and len(lower_bounds) >= 3 and projected_limit(
                np.asarray(lower_bounds), len(lower_bounds) - 1
            ) < floor:
                return _abandoned(np.asarray(lower_bounds))
        elif state == ACCEL_CYCLE:
            cycle_starts = np.append(cycle_starts[1:], mean_ll)
            if projected_limit(cycle_starts, 2) < floor:
                return _abandoned(np.asarray(lower_bounds))
        if state == ACCEL_PLAIN and accelerate and accelerate_from(mean_ll, previous, stats.total_weight):
            state = ACCEL_CYCLE
            cycle_starts[2] = mean_ll
        if state != ACCEL_PLAIN:
            kept[0 if state == ACCEL_CYCLE else 1] = params
        inner = inner_tolerance(mean_ll, previous)
        # the first M-step starts from the run's start, whose form is unknown; every later one from an M-step's end
        params = m_step(model, stats, reg_covar, previous=params.covariances, inner_tolerance=inner, prior=prior,
                        previous_is_own=len(lower_bounds) > 1)
        if verbose >= 2:
            print(
                f"  {label}iteration {len(lower_bounds)}: mean log-likelihood {mean_ll:.8g} "
                f"({time.perf_counter() - start:.2f} s)"
            )
        if callback is not None:
            try:
                stop = bool(callback(len(lower_bounds), mean_ll, params))
            except StopFit:
                stop = True
        if settled(mean_ll, previous, tol, stats.total_weight):
            converged = True
            break
        previous = mean_ll
        if stop:
            break
        if state == ACCEL_CYCLE:
            state = ACCEL_SECOND
        elif state == ACCEL_SECOND:
            kept[2] = params
            params, alpha, capped = _extrapolated(kept, step_max)
            if capped:
                step_max *= ACCEL_STEP_FACTOR
            state = ACCEL_CYCLE if alpha == -1.0 else ACCEL_EXTRAPOLATED
    if state >= ACCEL_EXTRAPOLATED:
        params = kept[2]
    return EMRun(params, np.asarray(lower_bounds), converged, len(lower_bounds), stopped=stop and not converged)


def _extrapolated(iterates, step_max):
    """The squared extrapolation from three EM iterates (:func:`gmm_numba._kernels.em_run.extrapolate`).

    Returns
    -------
    params : MixtureParameters
        The new point, under the full covariance model (an extrapolation need
        not keep a model's constraints); the third iterate if no step was taken.
    alpha : float
        The step (``-1``: none).
    capped : bool
        Whether the step was cut to ``step_max``.
    """
    arrays = [(p.weights, p.means, np.ascontiguousarray(p.full_covariances())) for p in iterates]
    weights, means, covariances = (np.empty_like(a) for a in arrays[2])
    alpha, capped, factors = extrapolate(*arrays, step_max, weights, means, covariances)
    if alpha == -1.0:
        return iterates[2], alpha, capped
    return MixtureParameters(get_model("full"), weights, means, covariances, factors), alpha, capped


def _stabilised(model, stats, reg_covar, plain, inner):
    """The M-step from an extrapolated point's statistics, warm-started from ``plain``; None where it fails."""
    try:
        return m_step(model, stats, reg_covar, previous=plain.covariances, inner_tolerance=inner, previous_is_own=True)
    except FitError:
        return None


def _abandoned(lower_bounds):
    """The :class:`EMRun` of a run stopped because it was on course to end below the floor it was given."""
    reason = f"abandoned after {len(lower_bounds)} more iterations: on course to end below the best run"
    return EMRun(lower_bounds=lower_bounds, n_iter=len(lower_bounds), error=reason, abandoned=True)


def _not_finite_error(mean_ll, iteration):
    return NumericalError(
        f"The log-likelihood became {mean_ll} at iteration {iteration}: the data's scale is "
        "beyond what floating point can handle here. Standardise the features (or use float64)."
    )


def _compiled_run_applies(data, params, n_runs=1):
    """Whether ``n_runs`` runs from starts like ``params`` can be compiled calls: in-memory data, a compiled M-step."""
    compiled_run_fits = getattr(data, "compiled_run_fits", None)
    return (
        params.model.m_step_family is not None
        and compiled_run_fits is not None
        and compiled_run_fits(params.n_components, n_runs)
    )


def _compiled_run(data, params, *, reg_covar, tol, max_iter, accelerate=False):
    """:func:`run_em` as one compiled call: the same iterations, errors and result (to rounding)."""
    model = params.model
    outcome = data.run_em(
        params.weights, params.means, params.full_covariances(), model.m_step_family, reg_covar, tol, max_iter,
        accelerate,
    )
    run = _finished(data, params, outcome, reg_covar, tol, max_iter, accelerate)
    run.parameters = made(run.parameters)
    return run


def _compiled_runs(data, starts, reg_covar, tol, max_iters, floors, accelerate=False):
    """:func:`run_em` from each start, the runs in one compiled call on the threads.

    The starts may differ in model and number of components. A run on course
    to end below its floor (mean log-likelihood) is abandoned (see
    ``data.run_em_batch``) and carries that as its error.

    Returns
    -------
    list of EMRun
        A failed run carries its error; the others' parameters are :class:`PendingParameters`.
    """
    batch, outcomes = data.run_em_batch(
        [(p.weights, p.means, p.full_covariances()) for p in starts],
        [p.model.m_step_family for p in starts],
        reg_covar,
        tol,
        max_iters,
        floors,
        accelerate,
    )
    runs = []
    for r, (start, (converged, status)) in enumerate(zip(starts, outcomes[:, 1:3].tolist())):
        if status == RUN_ABANDONED:
            runs.append(_abandoned(batch[r][3]))
            continue
        try:
            runs.append(_finished(data, start, (*batch[r], bool(converged), status), reg_covar, tol, max_iters[r],
                                  accelerate))
        except FitError as exc:
            runs.append(EMRun(error=str(exc), exception=exc))
    return runs


def _finished(data, start, outcome, reg_covar, tol, max_iter, accelerate=False):
    """The :class:`EMRun` of a compiled run, or the error the Python loop would have raised."""
    model = start.model
    weights, means, covariances, lower_bounds, converged, status = outcome[:6]
    if status == RUN_NOT_FINITE:
        raise _not_finite_error(np.nan, len(lower_bounds) + 1)
    if status == RUN_OK:
        # the compiled M-steps keep the constraints by construction (tests/test_compiled_run.py), and the run
        # factorised its last covariances: the parameters can be made when first needed
        return EMRun(PendingParameters(model, weights, means, covariances), lower_bounds, bool(converged),
                     len(lower_bounds))
    # Name the failure as the Python loop does: the model's own factorisation refuses a singular
    # covariance, and the Python M-step at the parameters a failed iteration started from names an
    # emptied component or a singular scatter.
    entering = MixtureParameters.from_covariances(model, weights, means, model.pack(covariances))
    m_step(model, data.em_statistics(entering), reg_covar, previous=entering.covariances)
    # the two arithmetics disagree at the margin: the Python loop decides
    return run_em(data, made(start), reg_covar=reg_covar, tol=tol, max_iter=max_iter, compiled=False,
                  accelerate=accelerate)


def continued(previous, run):
    """``run`` as the continuation of ``previous`` (None: ``run`` itself); failed runs stay as they are."""
    if previous is None or run.error:
        return run
    return EMRun(run.parameters, np.concatenate([previous.lower_bounds, run.lower_bounds]),
                 run.converged, previous.n_iter + run.n_iter, run.stopped)


def starting_points(data, model, n_components, *, n_init, init_params, rng, reg_covar, user_init, init_sample_size,
                    prior=None):
    """Yield ``n_init`` starting parameters (or the error that prevented one).

    ``user_init`` holds ``weights``, ``means`` and ``precisions`` (each may
    be None); given values replace the estimated ones, as in scikit-learn.
    """
    weights, means, precisions = user_init
    for _ in range(n_init):
        try:
            if weights is not None and means is not None and precisions is not None:
                yield MixtureParameters.from_precisions(model, weights, means, precisions)
                continue
            stats = initial_statistics(data, n_components, init_params, rng, init_sample_size)
            yield override(m_step(model, stats, reg_covar, prior=prior), weights, means, precisions)
        except FitError as exc:
            yield exc


def override(params, weights=None, means=None, precisions=None):
    """``params`` with any given weights, means or precisions put in place."""
    weights = params.weights if weights is None else weights
    means = params.means if means is None else means
    if precisions is not None:
        return MixtureParameters.from_precisions(params.model, weights, means, precisions)
    return MixtureParameters(params.model, weights, means, params.covariances, params.precisions_cholesky)


#: Screened runs continued to convergence are abandoned only when on course to end more than this
#: (log-likelihood units, not per row) below the best run so far, so that the projection's error
#: does not decide close calls.
ABANDON_MARGIN = 1.0


def fit_em(
    data,
    model,
    n_components,
    *,
    n_init=1,
    init_params="k-means++",
    rng,
    reg_covar=1e-6,
    tol=1e-3,
    max_iter=100,
    user_init=(None, None, None),
    init_sample_size=100_000,
    callback=None,
    verbose=0,
    starts=None,
    reorder=None,
    warn=True,
    prior=None,
):
    """EM from ``n_init`` starting points; keep the run with the best lower bound.

    Parameters
    ----------
    data : data source
    model : CovarianceModel
    n_components : int
    n_init : int
    init_params : str
    rng : numpy.random.Generator
    reg_covar, tol, max_iter, callback, verbose
        As for :func:`run_em`.
    user_init : tuple (weights, means, precisions)
    init_sample_size : int
    starts : iterable of MixtureParameters or FitError, optional
        Starting points to use instead of drawing them.
    warn : bool, default=True
        Warn (:class:`ConvergenceWarning`) when the best run did not converge.
    reorder : bool, optional
        Sort the components of the result by their means. By default, only
        when the starting points were drawn and no means were given.
    prior : ConjugatePrior, optional
        MAP EM (see :func:`run_em`): runs are compared by their log posterior.

    Returns
    -------
    EMFit

    Raises
    ------
    FitError
        When every run fails; the message is the first run's.
    """
    if reorder is None:
        reorder = starts is None and user_init[1] is None
    if starts is None:
        starts = starting_points(
            data,
            model,
            n_components,
            n_init=n_init,
            init_params=init_params,
            rng=rng,
            reg_covar=reg_covar,
            user_init=user_init,
            init_sample_size=init_sample_size,
            prior=prior,
        )
    search = em_search(data, starts, max_iter=max_iter, tol=tol, prior=prior, reorder=reorder, warn=warn)
    return drive(search, lambda jobs: run_jobs(data, jobs, reg_covar=reg_covar, tol=tol, callback=callback,
                                               verbose=verbose))


@dataclass(frozen=True)
class RunJob:
    """One EM run a search asks for.

    Attributes
    ----------
    index : int
        The start's position among its search's starts (labels verbose output).
    n_starts : int
        How many starts its search has.
    params : MixtureParameters
        Where the run starts.
    budget : int
        Its iteration budget.
    previous : EMRun or None
        The run it continues (its result is reported as the whole run).
    floor : float
        Mean log-likelihood below which it is abandoned once on course to end there.
    prior : ConjugatePrior or None
    accelerate : bool
        Extrapolate past mclust's stopping point (see :func:`run_em`).
    """

    index: int
    n_starts: int
    params: MixtureParameters
    budget: int
    previous: EMRun = None
    floor: float = -np.inf
    prior: object = None
    accelerate: bool = False


def run_jobs(data, jobs, *, reg_covar, tol, callback=None, verbose=0):
    """The :class:`EMRun` of each job: one compiled call for those that can be, the others one by one.

    The compiled runs are independent of each other, so a job's run is the
    same whichever jobs share its call.
    """
    runs = [None] * len(jobs)
    compiled = [
        r for r, job in enumerate(jobs)
        if len(jobs) > 1 and job.prior is None and callback is None and not verbose
        and _compiled_run_applies(data, job.params, len(jobs))
    ]
    # longest budgets first, so that the threads do not end waiting for a long run started last
    compiled.sort(key=lambda r: (-jobs[r].budget, -jobs[r].params.n_components))
    for accelerate in (False, True):
        batch = [r for r in compiled if jobs[r].accelerate == accelerate]
        if not batch:
            continue
        finished = _compiled_runs(data, [jobs[r].params for r in batch], reg_covar, tol,
                                  [jobs[r].budget for r in batch], [jobs[r].floor for r in batch], accelerate)
        for r, run in zip(batch, finished):
            runs[r] = continued(jobs[r].previous, run)
    for r, job in enumerate(jobs):
        if runs[r] is None:
            runs[r] = _attempt(data, job, reg_covar=reg_covar, tol=tol, callback=callback, verbose=verbose)
    return runs


def _attempt(data, job, *, reg_covar, tol, callback, verbose):
    """One job's run by :func:`run_em` (a failed run carries its error)."""
    label = f"init {job.index + 1}/{job.n_starts}: " if job.n_starts > 1 else ""
    try:
        run = run_em(data, made(job.params), reg_covar=reg_covar, tol=tol, max_iter=job.budget, callback=callback,
                     verbose=verbose, label=label, prior=job.prior, floor=job.floor, accelerate=job.accelerate)
    except FitError as exc:
        return EMRun(error=str(exc), exception=exc)
    run = continued(job.previous, run)
    if verbose:
        state = "converged" if run.converged else "stopped"
        print(f"{label}{state} after {run.n_iter} iterations, mean log-likelihood {run.lower_bound:.8g}")
    return run


def drive(search, run):
    """Carry one search (:func:`em_search`) to its end; ``run(jobs)`` gives the runs of each round's jobs."""
    try:
        jobs = next(search)
        while True:
            jobs = search.send(run(jobs))
    except StopIteration as stop:
        return stop.value


def drive_together(searches, run):
    """Carry several searches in lockstep: each round's jobs of all of them go to one ``run`` call.

    Parameters
    ----------
    searches : dict
        Key to a search generator (:func:`em_search`).
    run : callable
        ``run(jobs)`` returns the list of the jobs' :class:`EMRun`.

    Returns
    -------
    dict
        Key to the search's :class:`EMFit`, or the :class:`FitError` it raised.
    """
    results, pending = {}, {}

    def advance(key, runs):
        try:
            pending[key] = searches[key].send(runs)
        except StopIteration as stop:
            results[key] = stop.value
        except FitError as exc:
            results[key] = exc

    for key in searches:
        advance(key, None)
    while pending:
        waiting = list(pending.items())
        pending.clear()
        runs = run([job for _, jobs in waiting for job in jobs])
        offset = 0
        for key, jobs in waiting:
            advance(key, runs[offset : offset + len(jobs)])
            offset += len(jobs)
    return results


def em_search(data, starts, *, max_iter, tol, accept=None, screen=None, floor=None, prior=None, reorder=False,
              warn=True, accelerate=False):
    """The search of :func:`fit_em`, as a generator: it yields the runs it needs, and returns the :class:`EMFit`.

    Each ``yield`` hands out a non-empty list of :class:`RunJob` and receives
    their runs (:func:`run_jobs`); :func:`drive` or :func:`drive_together`
    carry it.

    Parameters
    ----------
    data : data source
    starts : iterable of MixtureParameters or FitError
    max_iter, tol, prior, warn
        As for :func:`fit_em`.
    reorder : bool, default=False
        Sort the components of the result by their means.
    accept : callable, optional
        ``accept(parameters)`` returns an empty string for an acceptable
        result, else the reason to discard the run.
    screen : tuple (int, int) or (int, int, int), optional
        ``(iterations, keep[, exempt])``: run every start for at most
        ``iterations`` iterations, then continue only the ``keep`` best to
        convergence ("short EM" screening, which makes many starts
        affordable). The first ``exempt`` starts (default 0) are not
        screened: they run to convergence in the same batch. Only runs that
        went on to convergence can win; when every one of them fails or is
        discarded, the next ``keep`` screened runs go on.
    floor : float, optional
        With ``screen``: a mean log-likelihood the caller already has (a
        cell's current fit). Screened runs continued to convergence are
        abandoned once they are on course to end more than
        ``ABANDON_MARGIN`` below it or below the best run so far that passed
        ``accept`` (compiled runs only; see :func:`_compiled_runs`). Once
        one is abandoned so, no more screened runs go on: those screened
        lower would not beat ``floor`` either.
    accelerate : bool, default=False
        Accelerate the runs past mclust's stopping point (see :func:`run_em`).

    Returns
    -------
    EMFit

    Raises
    ------
    FitError
        When every run fails; the message is the first run's.
    """
    starts = list(starts)
    n_starts = len(starts)
    runs = [EMRun(error=str(start), exception=start) if isinstance(start, FitError) else None for start in starts]
    exempt = screen[2] if screen and len(screen) > 2 else 0
    budgets = [max_iter if i < exempt or not screen else min(max_iter, screen[0]) for i in range(n_starts)]
    jobs = [RunJob(i, n_starts, start, budgets[i], prior=prior, accelerate=accelerate)
            for i, start in enumerate(starts) if runs[i] is None]
    if jobs:
        for job, run in zip(jobs, (yield jobs)):
            runs[job.index] = run
    first_error = next((run.exception or FitError(run.error) for run in runs if run.error), None)

    def judged(indices):
        """Discard the runs ``accept`` refuses; the indices of the good ones."""
        nonlocal first_error
        for i in indices:
            reason = accept(runs[i].parameters) if accept is not None and not runs[i].error else ""
            if reason:
                runs[i] = EMRun(lower_bounds=runs[i].lower_bounds, n_iter=runs[i].n_iter, error=reason)
                first_error = first_error or FitError(reason)
        return [i for i in indices if not runs[i].error]

    if screen:
        good = judged(range(min(exempt, n_starts)))
        waiting = sorted(
            (i for i in range(exempt, n_starts) if not runs[i].error), key=lambda i: runs[i].lower_bound, reverse=True
        )
        while waiting:
            best, waiting = waiting[: screen[1]], waiting[screen[1] :]
            target = max([runs[i].lower_bound for i in good] + [-np.inf if floor is None else floor])
            margin = ABANDON_MARGIN / getattr(data, "total_weight", np.inf)
            jobs = [
                RunJob(i, n_starts, runs[i].parameters, max_iter - runs[i].n_iter, runs[i], target - margin, prior,
                       accelerate)
                for i in best
                if not (runs[i].converged or runs[i].stopped) and runs[i].n_iter < max_iter
            ]
            if jobs:
                for job, run in zip(jobs, (yield jobs)):
                    runs[job.index] = run
                    first_error = first_error or (run.exception or FitError(run.error) if run.error else None)
            good += judged(best)
            # runs abandoned on course to end below the floor: those screened lower would not beat it either
            if good or (floor is not None and any(runs[i].abandoned for i in best)):
                break
    else:
        good = judged(range(n_starts))
    if not good:
        raise _all_failed(runs, first_error)
    best_index = max(good, key=lambda i: runs[i].lower_bound)
    best = runs[best_index]
    best.parameters = made(best.parameters)
    if reorder:
        best.parameters = best.parameters.canonical()
    final = data.em_statistics(best.parameters)
    if not np.isfinite(final.log_likelihood):
        raise NumericalError("The log-likelihood of the fitted mixture is not finite; standardise the features.")
    if warn and not (best.converged or best.stopped) and tol > 0:
        warn_at_caller(
            f"The best of {len(runs)} initialisations did not converge within max_iter={max_iter} "
            f"iterations (last change in mean log-likelihood above tol={tol}). Increase max_iter or tol, "
            "or check the data.",
            ConvergenceWarning,
        )
    return EMFit(best, runs, best_index, final)


def _all_failed(runs, first_error):
    """One error naming every distinct reason the runs failed, most frequent first."""
    reasons = {}
    for run in runs:
        reasons[run.error] = reasons.get(run.error, 0) + 1
    if len(reasons) == 1:
        return first_error
    ordered = sorted(reasons.items(), key=lambda item: -item[1])
    return type(first_error)(
        f"All {len(runs)} runs failed: " + " | ".join(f"{reason} ({count} runs)" for reason, count in ordered)
    )
