"""A whole EM run as one compiled call (small in-memory data) against the Python-driven loop."""

import numpy as np
import pytest

from gmm_numba._kernels.constrained import expected_log_likelihood as compiled_q
from gmm_numba._kernels.em_run import (
    INNER_LOOSENESS,
    INNER_LOOSEST,
    RUN_SINGULAR_SCATTER,
    inner_tolerance,
    scatter_m_step,
)
from gmm_numba.covariance import canonical_names, get_model
from gmm_numba.covariance._mstep import INNER_TOLERANCE, MAX_INNER_ITERATIONS, alternate, expected_log_likelihood
from gmm_numba.data.in_memory import InMemoryData
from gmm_numba.errors import EmptyComponentError, SingularCovarianceError
from gmm_numba.fitting.em import _compiled_runs, drive, drive_together, em_search, run_em, run_jobs
from gmm_numba.fitting.parameters import MixtureParameters, m_step
from gmm_numba.fitting.starts import initial_statistics

COMPILED = [name for name in canonical_names() if get_model(name).m_step_family is not None]
ITERATIVE = ["VEI", "VEE", "VEV", "EVE", "VVE"]


def blobs(n=240, d=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * d, [4.0] + [0.0] * (d - 1), [0.0, 5.0] + [1.0] * (d - 2)])
    labels = rng.integers(0, 3, size=n)
    scales = rng.uniform(0.5, 1.5, size=(3, d))
    return np.ascontiguousarray(centres[labels] + scales[labels] * rng.normal(size=(n, d)))


def a_start(model, X, k, seed):
    """The model's M-step on a random-rows clustering: a valid start for any model."""
    stats = initial_statistics(InMemoryData(X), k, "random_from_data", np.random.default_rng(seed))
    return m_step(model, stats, 1e-6)


@pytest.mark.parametrize("name", COMPILED)
@pytest.mark.parametrize("weighted", [False, True])
def test_compiled_run_equals_python_run(name, weighted):
    model = get_model(name)
    X = blobs()
    weights = np.random.default_rng(3).uniform(0.2, 2.0, size=len(X)) if weighted else None
    data = InMemoryData(X, weights)
    assert data.compiled_run_fits(3)
    for seed in range(3):
        start = a_start(model, X, 3, seed)
        python = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400, compiled=False)
        compiled = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400)
        assert compiled.n_iter == python.n_iter and compiled.converged == python.converged
        np.testing.assert_allclose(compiled.lower_bounds, python.lower_bounds, rtol=0, atol=1e-12)
        for field in ("weights", "means", "covariances", "precisions_cholesky"):
            np.testing.assert_allclose(
                getattr(compiled.parameters, field), getattr(python.parameters, field), rtol=1e-9, atol=1e-12
            )


@pytest.mark.parametrize("name", ["E", "V"])
def test_compiled_run_equals_python_run_on_one_feature(name):
    """One feature: the factors are 1 x 1, which the fused E-step takes as a spherical layout."""
    model = get_model(name)
    X = blobs(d=2)[:, :1].copy()
    data = InMemoryData(X)
    for seed in range(3):
        start = a_start(model, X, 3, seed)
        python = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400, compiled=False)
        compiled = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400)
        assert compiled.n_iter == python.n_iter
        np.testing.assert_allclose(compiled.lower_bounds, python.lower_bounds, rtol=0, atol=1e-12)
        np.testing.assert_allclose(compiled.parameters.covariances, python.parameters.covariances, rtol=1e-9)


def test_compiled_run_is_used_only_where_it_applies():
    X = blobs()
    model = get_model("full")
    assert InMemoryData(X).compiled_run_fits(3)
    assert not InMemoryData(X.astype(np.float32)).compiled_run_fits(3)
    assert not InMemoryData(np.zeros((10**6, 3))).compiled_run_fits(3)
    # several runs share the threads one run each up to a larger size, not beyond it
    assert not InMemoryData(np.zeros((10**5, 3))).compiled_run_fits(3)
    assert InMemoryData(np.zeros((10**5, 3))).compiled_run_fits(3, n_runs=2)
    assert not InMemoryData(np.zeros((10**6, 3))).compiled_run_fits(3, n_runs=2)
    start = a_start(model, X, 3, 0)
    seen = []
    run = run_em(InMemoryData(X), start, reg_covar=1e-6, tol=1e-10, max_iter=50,
                 callback=lambda i, lb, p: seen.append(lb))
    assert len(seen) == run.n_iter  # a callback runs the Python loop, iteration by iteration


def test_compiled_run_reports_an_emptied_component_as_python_does():
    X = blobs()
    model = get_model("full")
    start = a_start(model, X, 3, 0)
    far = MixtureParameters.from_covariances(
        model, np.array([0.5, 0.5 - 1e-300, 1e-300]), np.vstack([start.means[:2], [1e6, 1e6, 1e6]]),
        np.stack([np.eye(3)] * 3),
    )
    data = InMemoryData(X)
    errors = []
    for compiled in (False, True):
        with pytest.raises(EmptyComponentError) as info:
            run_em(data, far, reg_covar=1e-6, tol=1e-10, max_iter=50, compiled=compiled)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def test_compiled_run_reports_a_singular_covariance_as_python_does():
    X = np.repeat(blobs(n=40, d=2), 1, axis=0)
    X[:20] = X[0]  # 20 identical rows: a component sitting on them collapses
    model = get_model("full")
    start = MixtureParameters.from_covariances(
        model, np.array([0.5, 0.5]), np.vstack([X[0], X[30]]), np.stack([np.eye(2) * 1e-3, np.eye(2) * 10])
    )
    data = InMemoryData(np.ascontiguousarray(X))
    errors = []
    for compiled in (False, True):
        with pytest.raises(SingularCovarianceError) as info:
            run_em(data, start, reg_covar=0.0, tol=1e-10, max_iter=50, compiled=compiled)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


def random_scatter(rng, k, d):
    """Counts (K,) and scatters (K, D, D) of unequal sizes, shapes and orientations."""
    nk = rng.uniform(5.0, 50.0, size=k)
    factors = rng.normal(size=(k, d, d)) * rng.uniform(0.2, 3.0, size=(k, 1, d))
    return nk, nk[:, None, None] * (factors @ np.swapaxes(factors, 1, 2) / d + 0.1 * np.eye(d))


def in_layout(model, scatter):
    """Full scatters in the layout the model's Python M-step takes."""
    return scatter if model.layout == "full" else np.ascontiguousarray(np.diagonal(scatter, axis1=1, axis2=2))


def python_ends(model, scatter, nk, previous):
    """The covariances (full) and ``Q`` at the end of each start of the Python M-step."""
    own = in_layout(model, scatter)
    k, d = scatter.shape[:2]
    ends = []
    for start in model.initial_states(own, nk, previous):
        state, history = alternate(
            start,
            lambda s: model.update(s, own, nk),
            lambda s: model.expected_log_likelihood(model.assemble(s), own, nk),
            MAX_INNER_ITERATIONS,
            INNER_TOLERANCE,
        )
        ends.append((model.full_covariances(model.assemble(state), k, d), history[-1]))
    return ends


@pytest.mark.parametrize("name", ITERATIVE)
@pytest.mark.parametrize("warm", ["cold", "other scatter", "same scatter"])
def test_compiled_m_step_equals_python_m_step(name, warm):
    """``scatter_m_step`` against the model's ``covariances_from_scatter``, cold and warm.

    Warm from the M-step of another scatter (the updates run), or of the
    same one (the previous covariances are where the updates end, and may be
    kept). A cold EVE or VVE step runs K + 2 starts that often end within
    rounding of the same ``Q``; which wins is then a coin toss, so the
    compiled step must match the end of one of the Python starts whose
    ``Q`` ties with the best.
    """
    model = get_model(name)
    rng = np.random.default_rng(7)
    for k in (2, 3, 4):
        for d in (2, 3, 4):
            nk, scatter = random_scatter(rng, k, d)
            previous = None
            if warm != "cold":
                other_nk, other = random_scatter(rng, k, d) if warm == "other scatter" else (nk, scatter)
                previous = model.covariances_from_scatter(in_layout(model, other), other_nk)
            python = model.inner_iterations(in_layout(model, scatter), nk, previous)
            full_previous = np.zeros((k, d, d)) if previous is None else model.full_covariances(previous, k, d)
            compiled = np.empty((k, d, d))
            assert scatter_m_step(model.m_step_family, nk, scatter, full_previous, previous is not None, compiled) == -1
            model.check_constraints(compiled)
            best = python.objective[-1]
            np.testing.assert_allclose(compiled_q(compiled, scatter, nk), best, rtol=1e-13)
            np.testing.assert_allclose(expected_log_likelihood(compiled, scatter, nk), best, rtol=1e-13)
            candidates = [model.full_covariances(python.covariances, k, d)]
            ends = python_ends(model, scatter, nk, previous)
            candidates += [end for end, q in ends if abs(q - best) <= 1e-13 * abs(best)]
            # The inner updates stop at a relative change of 1e-10 in Q; Q is flat (quadratic) at its
            # maximum, so that fixes the covariances to about sqrt(1e-10) only: two arithmetic paths
            # (NumPy's and Numba's eigh) end within 2e-9 of each other on some machines. Q agrees to 1e-13.
            errors = [np.abs(compiled - candidate).max() / np.abs(candidate).max() for candidate in candidates]
            assert min(errors) <= 1e-7, (k, d, errors)


@pytest.mark.parametrize("name", ["EVE", "VVE"])
def test_compiled_run_reports_a_singular_scatter_as_python_does(name):
    """A component on points along a line: its scatter is singular, and EVE and VVE have no M-step."""
    rng = np.random.default_rng(0)
    line = np.outer(np.linspace(-1.0, 1.0, 12), [1.0, 2.0])
    X = np.ascontiguousarray(np.vstack([line, 100.0 + rng.normal(size=(40, 2))]))
    model = get_model(name)
    start = MixtureParameters.from_covariances(
        model, np.array([0.25, 0.75]), np.array([[0.0, 0.0], [100.0, 100.0]]), np.stack([np.eye(2)] * 2)
    )
    data = InMemoryData(X)
    outcome = data.run_em(start.weights, start.means, start.full_covariances(), model.m_step_family, 0.0, 1e-10, 50)
    assert outcome[-2] == RUN_SINGULAR_SCATTER and outcome[-1] == 0
    errors = []
    for compiled in (False, True):
        with pytest.raises(SingularCovarianceError) as info:
            run_em(data, start, reg_covar=0.0, tol=1e-10, max_iter=50, compiled=compiled)
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert "scatter of component 0 is singular" in errors[0] and name in errors[0]


def test_inner_tolerance_is_loose_while_em_gains_much_and_tight_where_it_converges():
    assert inner_tolerance(-3.0, -np.inf) == INNER_LOOSEST  # the first iteration
    assert inner_tolerance(-3.0, np.nan) == INNER_LOOSEST
    assert inner_tolerance(-3.0, -4.0) == INNER_LOOSEST  # a gain of 1: capped
    assert inner_tolerance(-3.0, -3.0 - 3e-4) == pytest.approx(INNER_LOOSENESS * 1e-4)
    assert inner_tolerance(-3.0, -3.0 - 1e-9) == INNER_TOLERANCE  # near convergence: the exact M-step
    assert inner_tolerance(-3.0, -2.0) == INNER_TOLERANCE  # a loss (cannot happen in EM): exact


@pytest.mark.parametrize("name", ITERATIVE)
def test_early_inexact_m_steps_end_where_exact_ones_do(name, monkeypatch):
    """EM whose iterative M-steps stop early while the run gains much (the default) never loses
    log-likelihood and ends at the optimum EM with exact M-steps (INNER_TOLERANCE throughout) reaches."""
    import gmm_numba.fitting.em as em

    model = get_model(name)
    X = blobs(d=3, seed=1)
    data = InMemoryData(X)
    for seed in range(4):
        start = a_start(model, X, 3, seed)
        inexact = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=1000, compiled=False)
        with monkeypatch.context() as patch:
            patch.setattr(em, "inner_tolerance", lambda mean_ll, previous: INNER_TOLERANCE)
            exact = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=1000, compiled=False)
        assert inexact.converged and exact.converged
        assert np.all(np.diff(inexact.lower_bounds) >= -1e-12)
        np.testing.assert_allclose(inexact.lower_bounds[-1], exact.lower_bounds[-1], rtol=1e-8)
        np.testing.assert_allclose(inexact.parameters.means, exact.parameters.means, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["VVV", "VEV"])
def test_python_run_is_abandoned_where_the_compiled_run_is(name):
    """A floor above where a run ends stops it once Aitken's projection shows it; the Python loop (large
    data, whose runs share the threads per iteration) stops at the same iteration as the compiled one."""
    model = get_model(name)
    X = blobs(seed=2)
    data = InMemoryData(X)
    start = a_start(model, X, 3, 0)
    free = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400)
    assert free.converged and not free.error
    floor = free.lower_bound + 1e-3
    compiled = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400, floor=floor)
    python = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400, floor=floor, compiled=False)
    assert compiled.error.startswith("abandoned") and python.error == compiled.error
    assert python.n_iter == compiled.n_iter < free.n_iter
    np.testing.assert_allclose(python.lower_bounds, compiled.lower_bounds, rtol=0, atol=1e-12)
    # a floor below where the run ends never stops it
    below = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400, floor=free.lower_bound - 1.0, compiled=False)
    assert not below.error and below.n_iter == free.n_iter


def test_a_batch_of_mixed_runs_equals_each_run_alone():
    """Runs of different models and numbers of components in one compiled call (with threads sharing
    them out) give each run bit for bit what it gives alone."""
    X = blobs()
    data = InMemoryData(X)
    cases = [(name, k, seed) for seed, (name, k) in enumerate([("VVV", 3), ("EII", 1), ("VVE", 4), ("EEV", 2),
                                                                 ("VEI", 5), ("EEE", 3), ("VII", 2)])]
    starts = [a_start(get_model(name), X, k, seed) for name, k, seed in cases]
    floors = [-np.inf] * len(starts)
    together = _compiled_runs(data, starts, 1e-6, 1e-10, [300] * len(starts), floors)
    for start, run in zip(starts, together):
        alone = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=300)
        assert run.n_iter == alone.n_iter and run.converged == alone.converged
        np.testing.assert_array_equal(run.lower_bounds, alone.lower_bounds)
        for field in ("weights", "means", "covariances"):
            np.testing.assert_array_equal(getattr(run.parameters, field), getattr(alone.parameters, field))


def test_searches_run_together_equal_searches_run_alone():
    """Screened searches of several cells carried in lockstep (one compiled call per round for all)
    end where each ends when carried alone."""
    X = blobs(seed=4)
    data = InMemoryData(X)

    def searches():
        out = {}
        for cell, (name, k) in enumerate([("VVV", 3), ("EEI", 2), ("EVE", 4), ("VII", 1)]):
            model = get_model(name)
            starts = [a_start(model, X, k, 10 * cell + seed) for seed in range(5)]
            out[cell] = em_search(data, starts, max_iter=500, tol=1e-9, screen=(5, 2, 1), reorder=True, warn=False)
        return out

    def run(jobs):
        return run_jobs(data, jobs, reg_covar=1e-6, tol=1e-9)

    together = drive_together(searches(), run)
    for cell, search in searches().items():
        alone = drive(search, run)
        assert together[cell].best_index == alone.best_index
        assert together[cell].best.n_iter == alone.best.n_iter
        np.testing.assert_array_equal(together[cell].best.lower_bounds, alone.best.lower_bounds)
        np.testing.assert_array_equal(together[cell].parameters.means, alone.parameters.means)
        assert together[cell].final.log_likelihood == alone.final.log_likelihood
