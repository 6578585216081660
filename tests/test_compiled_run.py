"""A whole EM run as one compiled call (small in-memory data) against the Python-driven loop."""

import numpy as np
import pytest

from gmm_numba.covariance import canonical_names, get_model
from gmm_numba.data.in_memory import InMemoryData
from gmm_numba.errors import EmptyComponentError, SingularCovarianceError
from gmm_numba.fitting.em import run_em
from gmm_numba.fitting.parameters import MixtureParameters, m_step
from gmm_numba.fitting.starts import initial_statistics

COMPILED = [name for name in canonical_names() if get_model(name).m_step_family is not None]


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


def test_compiled_run_is_used_only_where_it_applies():
    X = blobs()
    model = get_model("full")
    assert InMemoryData(X).compiled_run_fits(3)
    assert not InMemoryData(X.astype(np.float32)).compiled_run_fits(3)
    assert not InMemoryData(np.zeros((10**6, 3))).compiled_run_fits(3)
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
