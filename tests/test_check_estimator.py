"""scikit-learn's estimator checks, and the scikit-learn tools that rely on them.

scikit-learn is a test dependency only: the module is skipped without it.
"""

import pickle
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import NotFittedError as SklearnNotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba import GaussianMixture  # noqa: E402

# Checks that cannot hold for this estimator, with the reason. scikit-learn's
# own GaussianMixture has no sample_weight, so the check is not run on it.
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": (
        "The starting point is random and depends on the row order: k-means++ draws its first centre by "
        "row index (with probability proportional to the weight), and the check compares a fit on "
        "shuffled weighted rows with a fit on unshuffled repeated rows. The two fits start from different "
        "centres and reach different local optima of the likelihood (15 samples in 30 dimensions), so "
        "predict_proba differs. With a deterministic start (weights_init, means_init and precisions_init "
        "all given) weights and repetitions give the same fit: "
        "see test_sample_weight_equals_repetition_from_a_fixed_start."
    ),
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


with warnings.catch_warnings():
    # GaussianMixture does not inherit from sklearn.base.BaseEstimator on purpose
    # (scikit-learn is not a dependency); the checks say so at collection time.
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base.BaseEstimator`")
    _with_checks = parametrize_with_checks(
        [GaussianMixture(n_components=2, max_iter=20, random_state=0)],
        expected_failed_checks=_expected_failed_checks,
    )


@_with_checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------- data
def _blobs(n_per_blob=40, n_features=2, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0] * n_features, [6.0] * n_features])
    X = np.vstack([rng.normal(c, 1.0, size=(n_per_blob, n_features)) for c in centres])
    return X[rng.permutation(len(X))]


# ------------------------------------------------------------ sklearn tools
def test_clone_copies_parameters_not_fitted_state():
    X = _blobs()
    gm = GaussianMixture(n_components=2, covariance_type="diag", reg_covar=1e-4, random_state=3).fit(X)
    copy = clone(gm)
    assert copy is not gm
    assert copy.get_params() == gm.get_params()
    assert not hasattr(copy, "means_")
    with pytest.raises(SklearnNotFittedError):
        copy.predict(X)
    np.testing.assert_array_equal(copy.fit(X).predict(X), gm.predict(X))


def test_clone_copies_array_parameters():
    means = np.array([[0.0, 0.0], [6.0, 6.0]])
    gm = GaussianMixture(n_components=2, means_init=means, covariance_type="tied")
    copy = clone(gm)
    np.testing.assert_array_equal(copy.means_init, means)
    assert copy.covariance_type == "tied"
    assert copy.fit(_blobs()).means_.shape == (2, 2)


def test_pipeline_with_scaler():
    X = _blobs() * [1.0, 1000.0] + [0.0, 5000.0]
    pipe = make_pipeline(StandardScaler(), GaussianMixture(n_components=2, random_state=0))
    labels = pipe.fit(X).predict(X)
    assert labels.shape == (len(X),)
    assert set(np.unique(labels)) == {0, 1}
    proba = pipe.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.isfinite(pipe.score(X))
    assert pipe.score_samples(X).shape == (len(X),)
    # the mixture saw standardised data
    gm = pipe[-1]
    assert np.all(np.abs(gm.means_) < 3)


def test_grid_search_over_components_and_covariance_type():
    X = _blobs(n_per_blob=30)
    grid = {"n_components": [1, 2], "covariance_type": ["full", "spherical"]}
    search = GridSearchCV(GaussianMixture(random_state=0), grid, cv=3, error_score="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmm_numba.ConvergenceWarning)
        search.fit(X)
    assert search.best_params_["n_components"] == 2
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert isinstance(search.best_estimator_, GaussianMixture)
    assert search.best_estimator_.n_components == 2
    assert np.isfinite(search.score(X))


# ------------------------------------------------------------ not fitted
def test_not_fitted_error_is_sklearns():
    gm = GaussianMixture()
    with pytest.raises(SklearnNotFittedError, match="not fitted yet"):
        gm.predict(np.zeros((3, 2)))
    with pytest.raises(SklearnNotFittedError):
        check_is_fitted(gm)
    with pytest.raises(gmm_numba.NotFittedError):
        gm.score(np.zeros((3, 2)))


def test_not_fitted_error_pickles():
    try:
        GaussianMixture().sample()
    except gmm_numba.NotFittedError as exc:
        error = exc
    restored = pickle.loads(pickle.dumps(error))
    assert isinstance(restored, SklearnNotFittedError)
    assert isinstance(restored, gmm_numba.NotFittedError)
    assert str(restored) == str(error)


# --------------------------------------------------------- sample weights
def test_sample_weight_equivalence_check_passes_with_one_component():
    """With one component the start is not random, and scikit-learn's check holds as is."""
    from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

    check_sample_weight_equivalence_on_dense_data("GaussianMixture", GaussianMixture(n_components=1))


def test_sample_weight_equals_repetition_from_a_fixed_start():
    """The part of check_sample_weight_equivalence that holds: weights are frequencies."""
    X = _blobs(n_per_blob=15, n_features=3)
    weights = np.random.default_rng(1).integers(0, 4, size=len(X))
    start = {
        "weights_init": np.array([0.5, 0.5]),
        "means_init": np.array([[0.5] * 3, [5.5] * 3]),
        "precisions_init": np.stack([np.eye(3), np.eye(3)]),
    }
    order = np.random.default_rng(2).permutation(len(X))
    weighted = GaussianMixture(2, **start).fit(X[order], sample_weight=weights[order])
    repeated = GaussianMixture(2, **start).fit(np.repeat(X, weights, axis=0))
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-7)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-7)
