"""gmm_numba.GaussianMixture against sklearn.mixture.GaussianMixture.

From the same starting point (``weights_init``/``means_init``/
``precisions_init`` taken from a 2-iteration scikit-learn fit), with
``tol=0`` both run exactly ``max_iter`` EM iterations: the lower bounds must
agree to 1e-8 relative and the final parameters to 1e-6. After a default
fit, every scoring method must equal scikit-learn's on the same parameters
and the naive SciPy formulas.
"""

import warnings

import naive
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from gmm_numba import GaussianMixture

COVARIANCE_TYPES = naive.COVARIANCE_TYPES

#: data-set fixture name -> (n_components, max_iter)
DATASETS = {
    "faithful": (2, 50),
    "iris": (3, 40),
    "blobs_2d": (3, 30),
    "blobs_5d": (4, 20),
}


def _data(request, name):
    return request.getfixturevalue(name)


def assert_rel(actual, expected, rtol, what):
    """Relative to each entry, with an absolute floor at rtol times the array's largest magnitude."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.max(np.abs(expected)), err_msg=what)


def sklearn_start(X, n_components, cov_type, seed=0):
    """Weights, means and precisions after 2 scikit-learn EM iterations from random rows."""
    sk = SkGaussianMixture(
        n_components, covariance_type=cov_type, max_iter=2, tol=0, init_params="random_from_data",
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        sk.fit(X)
    return sk.weights_.copy(), sk.means_.copy(), sk.precisions_.copy()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_same_start_same_trajectory(dataset, cov_type, request):
    X = _data(request, dataset)
    k, max_iter = DATASETS[dataset]
    weights, means, precisions = sklearn_start(X, k, cov_type)
    common = dict(
        covariance_type=cov_type, tol=0.0, max_iter=max_iter, reg_covar=1e-6,
        weights_init=weights, means_init=means, precisions_init=precisions,
    )
    sk = SkGaussianMixture(k, init_params="random_from_data", random_state=0, **common).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tol=0 must not be reported as a convergence failure
        ours = GaussianMixture(k, random_state=0, **common).fit(X)

    assert len(ours.lower_bounds_) == len(sk.lower_bounds_) == max_iter
    assert ours.n_iter_ == sk.n_iter_ == max_iter
    np.testing.assert_allclose(ours.lower_bounds_, sk.lower_bounds_, rtol=1e-8, atol=0)
    np.testing.assert_allclose(ours.lower_bound_, sk.lower_bound_, rtol=1e-8, atol=0)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_"):
        ours_value, sk_value = getattr(ours, name), getattr(sk, name)
        assert ours_value.shape == sk_value.shape, name
        assert_rel(ours_value, sk_value, 1e-6, name)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_float32_input_follows_the_float64_trajectory(cov_type, blobs_2d):
    """float32 data (per-point arithmetic in float32): lower bounds to 1e-6 relative and
    parameters to 1e-4 of scikit-learn's float64 run on the same (rounded) data."""
    X32 = blobs_2d.astype(np.float32)
    weights, means, precisions = sklearn_start(X32.astype(np.float64), 3, cov_type)
    common = dict(
        covariance_type=cov_type, tol=0.0, max_iter=15, reg_covar=1e-6,
        weights_init=weights, means_init=means, precisions_init=precisions,
    )
    sk = SkGaussianMixture(3, init_params="random_from_data", random_state=0, **common).fit(X32.astype(np.float64))
    ours = GaussianMixture(3, **common).fit(X32)
    np.testing.assert_allclose(ours.lower_bounds_, sk.lower_bounds_, rtol=1e-6, atol=0)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(ours, name).dtype == np.float64, name
        assert_rel(getattr(ours, name), getattr(sk, name), 1e-4, name)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_same_start_matches_naive_em(cov_type, weighted, blobs_2d):
    """The same comparison against the naive EM loop, which also covers sample weights."""
    X = blobs_2d
    k, n_iter = 3, 15
    weights, means, precisions = sklearn_start(X, k, cov_type, seed=1)
    w = np.random.default_rng(0).uniform(0.0, 2.0, X.shape[0]) if weighted else None
    ours = GaussianMixture(
        k, covariance_type=cov_type, tol=0.0, max_iter=n_iter, reg_covar=1e-6,
        weights_init=weights, means_init=means, precisions_init=precisions,
    ).fit(X, sample_weight=w)
    covariances = naive.precisions(cov_type, precisions)  # the inverse of the precisions
    bounds, (w_ref, m_ref, c_ref) = naive.em(X, w, weights, means, covariances, cov_type, 1e-6, n_iter)
    np.testing.assert_allclose(ours.lower_bounds_, bounds, rtol=1e-8, atol=0)
    assert_rel(ours.weights_, w_ref, 1e-6, "weights")
    assert_rel(ours.means_, m_ref, 1e-6, "means")
    assert_rel(ours.covariances_, c_ref, 1e-6, "covariances")


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_default_fit_scores_equal_sklearn_and_naive(dataset, cov_type, request):
    X = _data(request, dataset)
    n, d = X.shape
    k, _ = DATASETS[dataset]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a default fit on these data converges
        ours = GaussianMixture(k, covariance_type=cov_type, random_state=0).fit(X)
    assert ours.converged_
    assert ours.n_iter_ == len(ours.lower_bounds_) <= 100
    assert ours.lower_bound_ == ours.lower_bounds_[-1]

    # scikit-learn's estimator holding our fitted parameters
    sk = SkGaussianMixture(k, covariance_type=cov_type)
    sk.weights_ = ours.weights_
    sk.means_ = ours.means_
    sk.covariances_ = ours.covariances_
    sk.precisions_cholesky_ = ours.precisions_cholesky_
    sk.precisions_ = ours.precisions_
    sk.converged_ = True
    sk.n_iter_ = ours.n_iter_
    sk.lower_bound_ = ours.lower_bound_
    sk.n_features_in_ = d

    np.testing.assert_allclose(ours.score_samples(X), sk.score_samples(X), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.score(X), sk.score(X), rtol=1e-10)
    np.testing.assert_allclose(ours.bic(X), sk.bic(X), rtol=1e-10)
    np.testing.assert_allclose(ours.aic(X), sk.aic(X), rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), rtol=0, atol=1e-10)
    resp = sk.predict_proba(X)
    clear = np.sort(resp, axis=1)[:, -1] - np.sort(resp, axis=1)[:, -2] > 1e-8
    np.testing.assert_array_equal(ours.predict(X)[clear], sk.predict(X)[clear])

    # the same quantities from the naive formulas
    full = naive.full_covariances(cov_type, ours.covariances_, k, d)
    lse, resp_ref, _ = naive.e_step(X, ours.weights_, ours.means_, full)
    p = naive.n_parameters(cov_type, k, d)
    assert ours.n_parameters() == p
    np.testing.assert_allclose(ours.score_samples(X), lse, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours.score(X), lse.mean(), rtol=1e-10)
    np.testing.assert_allclose(ours.bic(X), -2 * lse.sum() + p * np.log(n), rtol=1e-10)
    np.testing.assert_allclose(ours.aic(X), -2 * lse.sum() + 2 * p, rtol=1e-10)
    np.testing.assert_allclose(ours.predict_proba(X), resp_ref, rtol=0, atol=1e-10)

    # consistent fitted attributes
    assert_rel(ours.precisions_, naive.precisions(cov_type, ours.covariances_), 1e-8, "precisions_")
    assert_rel(ours.precisions_cholesky_, naive.precisions_cholesky(cov_type, ours.covariances_), 1e-8,
               "precisions_cholesky_")
    assert np.isclose(ours.weights_.sum(), 1.0, rtol=0, atol=1e-12)
    # one more EM step cannot lower the likelihood: the final parameters score at
    # least the last recorded lower bound, and close to it (converged)
    assert lse.mean() >= ours.lower_bound_ - 1e-9 * abs(ours.lower_bound_)
    assert lse.mean() - ours.lower_bound_ < 10 * ours.tol
