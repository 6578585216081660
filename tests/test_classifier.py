"""GaussianMixtureClassifier: scikit-learn's checks, mclust's cross-validated errors, Bayes' rule, bad labels.

scikit-learn is a test dependency only: the module is skipped without it.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from scipy.stats import multivariate_normal  # noqa: E402
from sklearn.datasets import load_iris, load_wine  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import gmm_numba  # noqa: E402
from gmm_numba import GaussianMixtureClassifier  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mclust"

# select's sweeps run at tol=1e-8; a cell of the small sweeps stopping at max_iter does not matter here
pytestmark = pytest.mark.filterwarnings("ignore::gmm_numba.errors.ConvergenceWarning")

#: A sweep small enough for the tests (select over mclust's fourteen models is slow on small classes).
SMALL = {"n_components": [1, 2], "covariance_type": ("EII", "VVI", "VVV"), "n_init": 2}

# Checks that cannot hold for this estimator, with the reason: none so far.
EXPECTED_FAILED_CHECKS = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS


with warnings.catch_warnings():
    # scikit-learn is not a dependency, so the classifier does not inherit from BaseEstimator
    warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base.BaseEstimator`")
    _with_checks = parametrize_with_checks(
        [GaussianMixtureClassifier(**SMALL, random_state=0), GaussianMixtureClassifier("EDDA", random_state=0)],
        expected_failed_checks=_expected_failed_checks,
    )


@_with_checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# --------------------------------------------------------------------- data
def _fixture_data(name):
    """The rows make_classifier_fixtures.R read (scikit-learn's data, exported to CSV)."""
    table = np.loadtxt(FIXTURES / f"classifier_{name}.csv", delimiter=",", skiprows=1)
    return table[:, :-1], table[:, -1].astype(int)


@pytest.fixture(scope="module")
def cv_fixture():
    with open(FIXTURES / "classifier_cv.json") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


def test_exported_data_are_sklearns():
    for name, loader in (("iris", load_iris), ("wine", load_wine)):
        X, y = loader(return_X_y=True)
        X_csv, y_csv = _fixture_data(name)
        np.testing.assert_array_equal(X_csv, X)
        np.testing.assert_array_equal(y_csv, y)


def test_defaults_are_selects_and_mclusts():
    from gmm_numba.selection import sweep

    clf = GaussianMixtureClassifier()
    assert clf.covariance_type == sweep.DEFAULT_COVARIANCE_TYPES and len(clf.covariance_type) == 14
    assert clf.n_init == sweep.DEFAULT_N_INIT and clf.tol == sweep.DEFAULT_TOL
    assert clf.n_components == tuple(range(1, 6))  # MclustDA's G = 1:5
    assert clf.method == "MclustDA"


# ------------------------------------------------------ against mclust's CV
def cv_error(X, y, folds, **params):
    """10-fold error as cvMclustDA computes it.

    The model and number of components of each class are chosen on all rows
    and kept; each fold refits only the parameters on its training rows and
    predicts its test rows with the class proportions of all rows as priors.
    """
    full = GaussianMixtureClassifier(**params).fit(X, y)
    fixed = dict(params, priors=full.priors_)
    if full.method == "MclustDA":
        fixed["n_components"] = {c: full.chosen_[c]["n_components"] for c in full.classes_}
        fixed["covariance_type"] = {c: full.chosen_[c]["covariance_type"] for c in full.classes_}
    else:
        fixed["covariance_type"] = full.chosen_[full.classes_[0]]["covariance_type"]
    wrong = 0
    for test in folds:
        train = np.setdiff1d(np.arange(len(y)), test)
        wrong += np.sum(GaussianMixtureClassifier(**fixed).fit(X[train], y[train]).predict(X[test]) != y[test])
    return wrong / len(y), full


CV_CASES = [
    ("iris", "small", "MclustDA"),
    ("wine", "small", "MclustDA"),
    ("iris", "small", "EDDA"),
    ("wine", "small", "EDDA"),
    ("iris", "default", "EDDA"),
    ("wine", "default", "EDDA"),
]


@pytest.mark.parametrize("name, sweep, method", CV_CASES)
def test_cross_validated_error_matches_mclust(cv_fixture, name, sweep, method):
    """Our 10-fold error on cvMclustDA's folds is within two rows of mclust's.

    Both sides choose per class on all rows (MclustDA's small sweep: G = 1:3 and
    six fast models; EDDA: one component, the six or all fourteen models).
    At the time of writing all six errors are equal (iris 0.0267, 0.0267, 0.0200;
    wine 0.0112, 0.0281, 0.0112). The margin allows another local optimum of a
    class's mixture to move a row or two.
    """
    X, y = _fixture_data(name)
    data = cv_fixture["data"][name]
    reference = data["sweeps"][sweep][method]
    params = {"method": method, "covariance_type": tuple(reference["modelNames"]), "random_state": 0}
    if method == "MclustDA":
        params.update(n_components=tuple(reference["G"]), n_init=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmm_numba.ConvergenceWarning)
        error, full = cv_error(X, y, data["folds"], **params)
    assert abs(error - reference["ce"]) <= 2 / len(y) + 1e-12, (error, reference["ce"])
    assert error <= 0.05
    if method == "EDDA":  # no local optima: the same model as mclust's
        assert {str(c): v["covariance_type"] for c, v in full.chosen_.items()} == {
            c: v["modelName"] for c, v in reference["chosen"].items()
        }


def test_edda_eee_is_linear_discriminant_analysis(iris):
    """EDDA's EEE shares one covariance (pooled, divided by n) between the classes: LDA."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    X, y = iris
    ours = GaussianMixtureClassifier("EDDA", covariance_type="EEE").fit(X, y)
    lda = LinearDiscriminantAnalysis(solver="lsqr").fit(X, y)
    np.testing.assert_allclose(ours.predict_proba(X), lda.predict_proba(X), atol=1e-4)
    covariances = [ours.models_[c]._parameters.full_covariances()[0] for c in ours.classes_]
    np.testing.assert_allclose(covariances[0], covariances[2])


def test_edda_and_mclustda_choose_as_documented(iris):
    X, y = iris
    edda = GaussianMixtureClassifier("EDDA").fit(X, y)
    assert {v["covariance_type"] for v in edda.chosen_.values()} == {"VEV"}  # mclust's EDDA choice on iris
    assert all(v["n_components"] == 1 for v in edda.chosen_.values())
    assert edda.selection_["bic"].sizes == {"covariance_type": 14}
    mda = GaussianMixtureClassifier(**SMALL, random_state=0).fit(X, y)
    assert set(mda.selection_) == set(mda.classes_)
    for label, choice in mda.chosen_.items():
        table = mda.selection_[label]
        assert choice["bic"] == pytest.approx(float(table["bic"].min()))
        assert mda.models_[label].n_components == choice["n_components"]


# ------------------------------------------------------------ Bayes' rule
def naive_posteriors(clf, X, priors):
    """p(c | x) from scipy's normal densities of each class's fitted mixture and ``priors``."""
    densities = []
    for label in clf.classes_:
        gm = clf.models_[label]
        covariances = gm._parameters.full_covariances()
        densities.append(
            sum(w * multivariate_normal(m, s).pdf(X) for w, m, s in zip(gm.weights_, gm.means_, covariances))
        )
    joint = np.column_stack(densities) * priors
    return joint / joint.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("method", ["MclustDA", "EDDA"])
def test_priors_change_predictions_as_bayes_rule_says(iris, method):
    X, y = iris
    fitted = {}
    for priors in (None, [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]):
        clf = GaussianMixtureClassifier(method, **(SMALL if method == "MclustDA" else {}), priors=priors)
        clf.fit(X, y)
        expected = naive_posteriors(clf, X, clf.priors_)
        np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(clf.predict_log_proba(X), np.log(expected), rtol=1e-9, atol=1e-9)
        np.testing.assert_array_equal(clf.predict(X), clf.classes_[expected.argmax(axis=1)])
        fitted[None if priors is None else tuple(priors)] = clf
    np.testing.assert_allclose(fitted[None].priors_, [1 / 3] * 3)
    towards_versicolor = fitted[(0.05, 0.9, 0.05)].predict(X)
    towards_virginica = fitted[(0.05, 0.05, 0.9)].predict(X)
    assert np.any(towards_versicolor != towards_virginica)  # the rows between the two classes
    assert np.sum(towards_versicolor == "versicolor") > np.sum(towards_virginica == "versicolor")


def test_posteriors_stay_finite_far_from_every_class(iris):
    """Where every density underflows to 0, log-sum-exp still gives the posteriors."""
    X, y = iris
    clf = GaussianMixtureClassifier("EDDA", covariance_type="VVV").fit(X, y)
    far = np.array([[40.0, -20.0, 60.0, 30.0]])
    with np.errstate(invalid="ignore"):
        assert np.all(np.isnan(naive_posteriors(clf, far, clf.priors_)))  # 0 / 0
    proba = clf.predict_proba(far)
    assert np.all(np.isfinite(proba)) and proba.sum() == pytest.approx(1.0)
    assert clf.predict(far)[0] in clf.classes_


# ------------------------------------------------------------ the results
def test_models_summary_and_xarray(iris):
    X, y = iris
    clf = GaussianMixtureClassifier(**SMALL, random_state=1).fit(X, y)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert set(clf.models_) == set(clf.classes_)
    text = clf.summary()
    for label in clf.classes_:
        choice = clf.chosen_[label]
        assert f"class {label}" in text and f"{choice['covariance_type']} K={choice['n_components']}" in text
    tree = clf.to_xarray()
    assert set(tree.children) == {f"class_{c}" for c in clf.classes_}
    np.testing.assert_allclose(tree["prior"].values, clf.priors_)
    assert list(tree["class"].values) == list(clf.classes_)
    for label in clf.classes_:
        group = tree[f"class_{label}"]
        assert "selection" in group.children
        restored = gmm_numba.GaussianMixture.from_xarray(group)
        np.testing.assert_allclose(restored.score_samples(X), clf.models_[label].score_samples(X))
    edda_tree = GaussianMixtureClassifier("EDDA").fit(X, y).to_xarray()
    assert "selection" in edda_tree.children and edda_tree.attrs["method"] == "EDDA"


def test_dataframe_feature_names(iris):
    pd = pytest.importorskip("pandas")
    X, y = iris
    frame = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    clf = GaussianMixtureClassifier("EDDA").fit(frame, y)
    assert list(clf.feature_names_in_) == ["sl", "sw", "pl", "pw"]
    np.testing.assert_array_equal(clf.predict(frame), GaussianMixtureClassifier("EDDA").fit(X, y).predict(X))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame.rename(columns={"sl": "other"}))
    group = clf.to_xarray()[f"class_{clf.classes_[0]}"]
    assert list(group["posterior"]["feature"].values) == ["sl", "sw", "pl", "pw"]
    restored = gmm_numba.GaussianMixture.from_xarray(group)
    np.testing.assert_allclose(restored.score_samples(frame), clf.models_[clf.classes_[0]].score_samples(frame))


def test_settings_per_class(iris):
    X, y = iris
    clf = GaussianMixtureClassifier(
        n_components={"setosa": 2, "versicolor": 1, "virginica": 1},
        covariance_type={"setosa": "EII", "versicolor": "VVV", "virginica": ["VVI"]},
        n_init=2,
        random_state=0,
    ).fit(X, y)
    assert [clf.chosen_[c]["n_components"] for c in clf.classes_] == [2, 1, 1]
    assert [clf.chosen_[c]["covariance_type"] for c in clf.classes_] == ["EII", "VVV", "VVI"]
    with pytest.raises(ValueError, match="no entry for class 'virginica'|without an entry for class 'virginica'"):
        GaussianMixtureClassifier(n_components={"setosa": 1, "versicolor": 1}).fit(X, y)
    with pytest.raises(ValueError, match="EDDA shares one covariance model"):
        GaussianMixtureClassifier("EDDA", covariance_type={"setosa": "EII"}).fit(X, y)


# ------------------------------------------------------------- bad labels
def test_string_labels_work_as_in_sklearn(iris):
    X, y = iris
    clf = GaussianMixtureClassifier("EDDA").fit(X, y.astype(object))
    assert clf.predict(X[:3]).tolist() == ["setosa"] * 3
    assert clf.score(X, y) > 0.95


def test_a_class_with_one_row_is_named(iris):
    X, y = iris
    y = y.copy()
    y[0] = "lonely"
    for method in ("MclustDA", "EDDA"):
        with pytest.raises(ValueError, match="class 'lonely' has 1 row"):
            GaussianMixtureClassifier(method, **SMALL if method == "MclustDA" else {}).fit(X, y)


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.where(np.arange(150) == 7, np.nan, np.arange(150) % 3), "contains NaN"),
        (np.array([None] + ["a", "b"] * 74 + ["a"], dtype=object), "contains NaN"),
        (np.zeros(150), "only one class: 0.0"),
        (np.linspace(0, 1, 150), "Unknown label type: continuous"),
        (np.arange(149) % 3, "inconsistent numbers of samples: \\[150, 149\\]"),
        (np.zeros((150, 2)), "1d array"),
        (None, "requires y to be passed"),
    ],
    ids=["nan", "none", "one-class", "continuous", "length", "2d", "missing"],
)
def test_bad_labels(iris, labels, message):
    X, _ = iris
    with pytest.raises(ValueError, match=message):
        GaussianMixtureClassifier("EDDA").fit(X, labels)


@pytest.mark.parametrize(
    "priors, message",
    [
        ([0.5, 0.5], "2 value\\(s\\) but y has 3 classes"),
        ([0.5, 0.6, -0.1], "positive"),
        ([0.2, 0.2, 0.2], "sum to 1"),
        ("abc", "array of numbers"),
    ],
)
def test_bad_priors(iris, priors, message):
    X, y = iris
    with pytest.raises(ValueError, match=message):
        GaussianMixtureClassifier("EDDA", priors=priors).fit(X, y)


def test_bad_method_and_not_fitted(iris):
    X, y = iris
    with pytest.raises(ValueError, match="method"):
        GaussianMixtureClassifier("LDA").fit(X, y)
    with pytest.raises(gmm_numba.NotFittedError):
        GaussianMixtureClassifier().predict_proba(X)
    with pytest.raises(gmm_numba.NotFittedError):
        GaussianMixtureClassifier().summary()


def test_every_model_failing_for_a_class_names_it():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(20, 2)), np.repeat([[5.0, 5.0]], 3, axis=0)])
    y = np.array([0] * 20 + [1] * 3)
    with pytest.raises(gmm_numba.FitError, match="class 1"):
        GaussianMixtureClassifier(n_components=[4, 5], covariance_type=["EII"], n_init=1).fit(X, y)
