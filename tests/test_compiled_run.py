"""A whole EM run as one compiled call (small in-memory data) against the Python-driven loop."""

import naive
import numpy as np
import pytest

from gmm_numba._kernels.constrained import START_COLD, START_OWN, START_WARM
from gmm_numba._kernels.constrained import expected_log_likelihood as compiled_q
from gmm_numba._kernels.em_run import (
    ACCEL_FROM,
    INNER_LOOSENESS,
    INNER_LOOSEST,
    RUN_SINGULAR_SCATTER,
    accelerate_from,
    extrapolate,
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
            start = START_COLD if previous is None else START_WARM
            assert scatter_m_step(model.m_step_family, nk, scatter, full_previous, start, compiled) == -1
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


@pytest.mark.parametrize("name", ITERATIVE)
@pytest.mark.parametrize("tolerance", [INNER_TOLERANCE, INNER_LOOSEST])
def test_m_step_from_its_own_last_m_step_ends_no_lower(name, tolerance):
    """``START_OWN`` skips the comparison with the previous covariances that ``START_WARM`` makes: from the
    model's own last M-step (another scatter's, stopped at ``tolerance``), ``Q`` at the end is at least ``Q``
    at the previous covariances, and both starts end at the same covariances unless ``START_WARM`` kept the
    previous ones within rounding of that ``Q``."""
    family = get_model(name).m_step_family
    rng = np.random.default_rng(11)
    for k in (2, 3, 5):
        for d in (2, 3, 4, 6):
            for _ in range(4):
                nk, scatter = random_scatter(rng, k, d)
                other_nk, other = random_scatter(rng, k, d)
                weight = rng.uniform(0.0, 1.0)  # from far (0) to the same scatter (1)
                mixed_nk, mixed = weight * nk + (1 - weight) * other_nk, weight * scatter + (1 - weight) * other
                previous, own, warm = np.empty((k, d, d)), np.empty((k, d, d)), np.empty((k, d, d))
                assert scatter_m_step(family, mixed_nk, mixed, mixed, START_COLD, previous, tolerance) == -1
                assert scatter_m_step(family, nk, scatter, previous, START_OWN, own, tolerance) == -1
                assert scatter_m_step(family, nk, scatter, previous, START_WARM, warm, tolerance) == -1
                q_previous, q_own = compiled_q(previous, scatter, nk), compiled_q(own, scatter, nk)
                assert q_own >= q_previous - 1e-13 * abs(q_previous), (k, d, weight, q_own - q_previous)
                if not np.array_equal(own, warm):
                    assert np.array_equal(warm, previous)
                    assert q_previous - q_own <= 1e-13 * abs(q_previous)


@pytest.mark.parametrize("name", ITERATIVE)
def test_m_step_from_covariances_of_another_form_keeps_them_when_higher(name):
    """Previous covariances that are not the model's (here the unconstrained ``W_k / n_k``, whose ``Q`` is the
    highest of all) are kept by ``START_WARM``; ``START_OWN``, which assumes the model's own, would lose them."""
    family = get_model(name).m_step_family
    rng = np.random.default_rng(5)
    nk, scatter = random_scatter(rng, 3, 4)
    unconstrained = scatter / nk[:, None, None]
    warm, own = np.empty_like(scatter), np.empty_like(scatter)
    assert scatter_m_step(family, nk, scatter, unconstrained, START_WARM, warm) == -1
    assert scatter_m_step(family, nk, scatter, unconstrained, START_OWN, own) == -1
    assert np.array_equal(warm, unconstrained)
    assert compiled_q(own, scatter, nk) < compiled_q(unconstrained, scatter, nk)


@pytest.mark.parametrize("name", ["EVE", "VVE"])
@pytest.mark.parametrize("warm", [False, True])
def test_one_component_eve_and_vve_m_step_is_the_full_models(name, warm):
    """With one component EVE and VVE constrain nothing: their M-step is VVV's, ``W / n``, bit for bit, also warm
    from covariances far from it. The orientation's updates from there used to stop short of it: on 100,000 x 10
    rows a sweep's EVE and VVE cells at K = 1 ended 24 log-likelihood units below VVV's."""
    rng = np.random.default_rng(3)
    for d in (2, 4, 10):
        nk, scatter = random_scatter(rng, 1, d)
        other_nk, other = random_scatter(rng, 1, d)
        previous = other / other_nk[:, None, None]
        ours, full = np.empty((1, d, d)), np.empty((1, d, d))
        start = START_WARM if warm else START_COLD
        assert scatter_m_step(get_model(name).m_step_family, nk, scatter, previous, start, ours) == -1
        assert scatter_m_step(get_model("VVV").m_step_family, nk, scatter, previous, START_COLD, full) == -1
        assert np.array_equal(ours, full), d


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


def em_iterates(model, X, k, seed, n):
    """``n`` successive plain EM iterates from a start, as ``(weights, means, full covariances)``."""
    data = InMemoryData(X)
    params = a_start(model, X, k, seed)
    iterates = []
    for _ in range(n):
        iterates.append((params.weights.copy(), params.means.copy(), np.ascontiguousarray(params.full_covariances())))
        params = m_step(model, data.em_statistics(params), 1e-6, previous=params.covariances)
    return iterates


@pytest.mark.parametrize("step_max", [1.0, 4.0, 64.0])
def test_extrapolation_is_squarems_step(step_max):
    """The extrapolated point is SQUAREM's S3 point from a naive stacking of the parameters."""
    X = blobs()
    start, first, second = em_iterates(get_model("VVV"), X, 3, 0, 3)
    weights, means, covariances = (np.empty_like(a) for a in start)
    alpha, capped, factors = extrapolate(start, first, second, step_max, weights, means, covariances)
    w, m, c, expected_alpha = naive.squarem_point(start, first, second, step_max)
    assert capped == (expected_alpha == -step_max)
    if expected_alpha == -1.0:
        assert alpha == -1.0
        np.testing.assert_array_equal(means, second[1])
        return
    np.testing.assert_allclose(alpha, expected_alpha, rtol=1e-12)
    np.testing.assert_allclose(weights, w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(means, m, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(covariances, c, rtol=1e-12, atol=1e-12)
    for j in range(3):
        np.testing.assert_allclose(factors[j] @ factors[j].T, np.linalg.inv(covariances[j]), rtol=1e-9)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)


def test_extrapolation_retreats_to_a_mixture():
    """A step whose point has a weight below zero is pulled back halfway towards plain EM until it is a mixture."""
    start = (np.array([0.5, 0.5]), np.zeros((2, 1)), np.ones((2, 1, 1)))
    first = (np.array([0.4, 0.6]), np.zeros((2, 1)), np.ones((2, 1, 1)))
    second = (np.array([0.35, 0.65]), np.zeros((2, 1)), np.ones((2, 1, 1)))
    # r = -0.1, v = 0.05 on the first weight: alpha = -2 gives 0.5 + 4 * -0.1 + 4 * 0.05 = 0.3 (a mixture);
    # alpha = -16 (the cap) would give 0.5 - 3.2 + 12.8; a cap of 16 with |r|/|v| = 2 stays at -2
    weights, means, covariances = np.empty(2), np.empty((2, 1)), np.empty((2, 1, 1))
    alpha, capped, _ = extrapolate(start, first, second, 16.0, weights, means, covariances)
    assert alpha == pytest.approx(-2.0, rel=1e-12) and not capped
    np.testing.assert_allclose(weights, [0.3, 0.7], rtol=1e-12)
    # a curve that makes the full step leave the simplex: v = -0.05, |r| / |v| = 2, point 0.5 + 0.4 - 0.2
    second = (np.array([0.25, 0.75]), np.zeros((2, 1)), np.ones((2, 1, 1)))
    # r = -0.1, v = -0.05: alpha = -2 gives 0.5 - 0.4 - 0.2 = -0.1 < 0; alpha = -1.5: 0.5 - 0.3 - 0.1125 = 0.0875
    alpha, capped, _ = extrapolate(start, first, second, 16.0, weights, means, covariances)
    assert alpha == pytest.approx(-1.5, rel=1e-12) and not capped
    np.testing.assert_allclose(weights, [0.0875, 0.9125], rtol=1e-12)


@pytest.mark.parametrize("name", COMPILED)
def test_accelerated_compiled_run_equals_python_run(name):
    """The compiled loop and the Python loop take the same accelerated steps: same iterations, same bounds."""
    model = get_model(name)
    X = blobs()
    data = InMemoryData(X)
    for seed in range(3):
        start = a_start(model, X, 3, seed)
        python = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400, compiled=False, accelerate=True)
        compiled = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=400, accelerate=True)
        assert compiled.n_iter == python.n_iter and compiled.converged == python.converged
        np.testing.assert_allclose(compiled.lower_bounds, python.lower_bounds, rtol=0, atol=1e-10)
        np.testing.assert_allclose(compiled.parameters.means, python.parameters.means, rtol=1e-6, atol=1e-8)


def switch_point(lower_bounds, total_weight):
    """The iteration at which an accelerated run starts extrapolating (None if it never does)."""
    for i in range(1, len(lower_bounds)):
        if accelerate_from(lower_bounds[i], lower_bounds[i - 1], total_weight):
            return i
    return None


@pytest.mark.parametrize("name", COMPILED)
def test_accelerated_run_is_monotone_and_ends_where_plain_em_does(name):
    """Over a battery of slow runs (five components on three clusters): the accelerated run is plain EM up
    to mclust's stopping point, its lower bounds never decrease, it ends at least as high as plain EM was
    there, and at plain EM's optimum in most runs, in fewer iterations overall."""
    model = get_model(name)
    X = blobs(n=300, seed=5)
    data = InMemoryData(X)
    same, plain_total, fast_total = 0, 0, 0
    seeds = range(6)
    for seed in seeds:
        start = a_start(model, X, 5, seed)
        plain = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=3000)
        fast = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=3000, accelerate=True)
        if plain.error or fast.error:
            assert plain.error == fast.error
            continue
        plain_total += plain.n_iter
        fast_total += fast.n_iter
        # an extrapolated point is kept only where it is not lower; the iterative M-steps stop short of their
        # optimum (a generalised EM step) and may lose a few 1e-12 at the end of a run
        assert np.all(np.diff(fast.lower_bounds) >= -1e-11)
        switch = switch_point(plain.lower_bounds, len(X))
        if switch is None or switch + 2 >= plain.n_iter:
            assert fast.n_iter == plain.n_iter
            continue
        np.testing.assert_array_equal(fast.lower_bounds[: switch + 2], plain.lower_bounds[: switch + 2])
        assert fast.lower_bound >= plain.lower_bounds[switch] - 1e-12
        # relative to mclust's tolerance: the same optimum
        same += abs(fast.lower_bound - plain.lower_bound) < ACCEL_FROM * 1e-3 * abs(plain.lower_bound)
    assert fast_total < plain_total
    assert same >= len(seeds) - 2


def test_accelerated_runs_in_a_batch_equal_each_run_alone():
    X = blobs()
    data = InMemoryData(X)
    cases = [("VVV", 5, 0), ("EVE", 4, 1), ("EII", 3, 2), ("VEV", 5, 3), ("EEI", 4, 4)]
    starts = [a_start(get_model(name), X, k, seed) for name, k, seed in cases]
    together = _compiled_runs(data, starts, 1e-6, 1e-10, [500] * len(starts), [-np.inf] * len(starts), True)
    for start, run in zip(starts, together):
        alone = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=500, accelerate=True)
        assert run.n_iter == alone.n_iter
        np.testing.assert_array_equal(run.lower_bounds, alone.lower_bounds)
        np.testing.assert_array_equal(run.parameters.means, alone.parameters.means)


def test_accelerated_python_run_is_abandoned_where_the_compiled_run_is():
    """Under acceleration Aitken's projection runs over the cycles' first iterates, in both loops alike."""
    model = get_model("VVV")
    X = blobs(n=300, seed=5)
    data = InMemoryData(X)
    for seed in range(4):
        start = a_start(model, X, 5, seed)
        free = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=3000, accelerate=True)
        if free.error:
            continue
        floor = free.lower_bound + 1e-3
        compiled = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=3000, floor=floor, accelerate=True)
        python = run_em(data, start, reg_covar=1e-6, tol=1e-10, max_iter=3000, floor=floor, accelerate=True,
                        compiled=False)
        assert python.error == compiled.error and python.n_iter == compiled.n_iter
        np.testing.assert_allclose(python.lower_bounds, compiled.lower_bounds, rtol=0, atol=1e-10)
        assert compiled.error.startswith("abandoned") or compiled.n_iter == free.n_iter


@pytest.mark.parametrize("name", ["VVV", "VEV", "EII"])
@pytest.mark.parametrize("accelerate", [False, True])
def test_negative_tol_stops_where_the_relative_change_is_small(name, accelerate):
    """tol = -r stops at the first iteration whose log-likelihood changed by less than r (1 + |log-likelihood|),
    in the compiled loop and in the Python loop alike."""
    model = get_model(name)
    X = blobs()
    weights = np.random.default_rng(4).uniform(0.2, 2.0, size=len(X))
    data = InMemoryData(X, weights)
    total = weights.sum()
    start = a_start(model, X, 3, 0)
    for rel in (1e-5, 1e-7):
        python = run_em(data, start, reg_covar=1e-6, tol=-rel, max_iter=400, compiled=False, accelerate=accelerate)
        compiled = run_em(data, start, reg_covar=1e-6, tol=-rel, max_iter=400, accelerate=accelerate)
        assert python.converged and compiled.converged and compiled.n_iter == python.n_iter
        np.testing.assert_allclose(compiled.lower_bounds, python.lower_bounds, rtol=0, atol=1e-10)
        loglik = np.asarray(python.lower_bounds) * total
        stops = np.abs(np.diff(loglik)) < rel * (1 + np.abs(loglik[1:]))
        assert stops[-1] and not stops[:-1].any()
    assert len(run_em(data, start, reg_covar=1e-6, tol=-1e-7, max_iter=400).lower_bounds) > len(
        run_em(data, start, reg_covar=1e-6, tol=-1e-5, max_iter=400).lower_bounds)


@pytest.mark.parametrize("name", COMPILED)
def test_batched_runs_keep_pending_parameters_equal_to_the_made_ones(name):
    """A compiled batch's runs keep the kernel's full matrices (PendingParameters): their full covariances
    are those of the parameters made from them, bit for bit, any other attribute is the made one's, and a
    search's best run and run_em's run come out made."""
    from gmm_numba.fitting.parameters import PendingParameters, made

    model = get_model(name)
    X = blobs()
    data = InMemoryData(X)
    starts = [a_start(model, X, 3, seed) for seed in range(3)]
    runs = _compiled_runs(data, starts, 1e-6, 1e-8, [200] * 3, [-np.inf] * 3)
    for run in runs:
        pending = run.parameters
        assert isinstance(pending, PendingParameters)
        full = pending.full_covariances()
        params = made(pending)
        assert isinstance(params, MixtureParameters) and made(pending) is params
        assert np.array_equal(full, params.full_covariances())
        np.testing.assert_array_equal(pending.covariances, params.covariances)
        np.testing.assert_array_equal(pending.precisions_cholesky, params.precisions_cholesky)
        assert pending.n_components == params.n_components == 3
    fit = drive(em_search(data, starts, max_iter=200, tol=1e-8),
                lambda jobs: run_jobs(data, jobs, reg_covar=1e-6, tol=1e-8))
    assert isinstance(fit.best.parameters, MixtureParameters)
    assert isinstance(run_em(data, starts[0], reg_covar=1e-6, tol=1e-8, max_iter=200).parameters, MixtureParameters)
