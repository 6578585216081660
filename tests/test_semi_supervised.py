"""Semi-supervised fitting (issue 24 item 2): labelled rows keep their component.

Tolerances:

* Statistics against the naive reference (:func:`naive.semi_supervised_e_step`):
  1e-10 relative.
* Every row labelled: the closed-form complete-data estimates (class
  shares, class means, class covariances), 1e-10 relative.
* No row labelled: bit-identical to the unsupervised fit.
* Against mclust 6.0.0's ``MclustSSC`` (``make_ssc_fixtures.R``; iris, 15
  rows labelled): log-likelihood within 1e-6 relative, the same number of
  parameters, weights and means within 1e-3 relative (mclust's stopping
  rule ends where the likelihood is flat to ~1e-8, the parameters still
  ~2e-4 apart for VII); for VVE, where mclust's M-step stops short, ours is higher.
"""

import json
from pathlib import Path

import naive
import numpy as np
import pandas as pd
import pytest

import gmm_numba
from gmm_numba import GaussianMixture
from gmm_numba.covariance import get_model
from gmm_numba.data.in_memory import InMemoryData
from gmm_numba.data.semi_supervised import PartlyLabelledData
from gmm_numba.datasets import load_iris
from gmm_numba.errors import NotSupportedError
from gmm_numba.fitting.hierarchical import partition_statistics
from gmm_numba.fitting.parameters import m_step

FIXTURES = Path(__file__).parent / "fixtures" / "mclust"


@pytest.fixture(scope="module")
def iris_labelled():
    df = load_iris()
    X = np.ascontiguousarray(df.drop(columns="Species").to_numpy(dtype=np.float64))
    classes = pd.Categorical(df["Species"]).codes.astype(np.int64)  # alphabetical, as R's factor levels
    return X, classes


@pytest.fixture(scope="module")
def reference():
    return json.loads((FIXTURES / "ssc_iris.json").read_text())


def _fixture_labels(reference, n):
    y = np.full(n, -1, dtype=np.int64)
    y[np.asarray(reference["labelled_rows_1_based"]) - 1] = np.asarray(reference["labels_1_based"]) - 1
    return y


@pytest.mark.parametrize("model_name", ["VVV", "VVI", "VII", "EEE"])
def test_statistics_match_naive(iris_labelled, model_name):
    X, classes = iris_labelled
    rng = np.random.default_rng(0)
    labels = np.where(rng.random(len(X)) < 0.3, classes, -1)
    weights = rng.uniform(0.5, 2.0, size=len(X))
    model = get_model(model_name)
    params = m_step(model, partition_statistics(X, rng.integers(0, 3, len(X)), 3), 1e-6)
    stats = PartlyLabelledData(InMemoryData(X, weights), labels, 3).em_statistics(params)
    resp, _ = naive.semi_supervised_e_step(X, labels, params.weights, params.means, params.full_covariances())
    expected = naive.statistics_from_responsibilities(X, weights, resp, stats.shifts)
    np.testing.assert_allclose(stats.nk, expected["nk"], rtol=1e-10)
    np.testing.assert_allclose(stats.means(), stats.shifts + expected["s1"] / expected["nk"][:, None], rtol=1e-10)
    layout_full = stats.s2.shape[1] == X.shape[1]
    if layout_full:
        np.testing.assert_allclose(stats.s2, expected["s2"], rtol=1e-10)
    # unweighted log-likelihood as MclustSSC defines it
    unweighted = PartlyLabelledData(InMemoryData(X), labels, 3).em_statistics(params)
    _, ll = naive.semi_supervised_e_step(X, labels, params.weights, params.means, params.full_covariances())
    assert unweighted.log_likelihood == pytest.approx(ll, rel=1e-10)
    assert unweighted.total_weight == len(X)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "VVV", "EEE"])
def test_every_row_labelled_gives_the_complete_data_estimates(iris_labelled, covariance_type):
    X, classes = iris_labelled
    gm = GaussianMixture(3, covariance_type=covariance_type, semi_supervised=True, reg_covar=0.0, tol=1e-12,
                         max_iter=50).fit(X, classes)
    naive_type = {"VVV": "full", "EEE": "tied"}.get(covariance_type, covariance_type)
    weights, means, covs = naive.hard_m_step(X, None, classes, 3, naive_type, 0.0)
    np.testing.assert_allclose(gm.weights_, weights, rtol=1e-12)
    np.testing.assert_allclose(gm.means_, means, rtol=1e-12)
    np.testing.assert_allclose(gm.covariances_, covs, rtol=1e-10)
    # the complete-data log-likelihood, sum_n log pi_y N_y(x_n)
    full = naive.full_covariances(naive_type, covs, 3, X.shape[1])
    wlp = naive.weighted_log_densities(X, weights, means, full)
    expected = wlp[np.arange(len(X)), classes].sum()
    assert gm.fit_result_.final.log_likelihood == pytest.approx(expected, rel=1e-10)


def test_no_row_labelled_is_the_unsupervised_fit(iris_labelled):
    X, _ = iris_labelled
    for options in (dict(covariance_type="VVV", random_state=0), dict(covariance_type="VEV", random_state=3)):
        a = GaussianMixture(3, semi_supervised=True, **options).fit(X, np.full(len(X), -1))
        b = GaussianMixture(3, **options).fit(X)
        np.testing.assert_array_equal(a.means_, b.means_)
        np.testing.assert_array_equal(a.covariances_, b.covariances_)
        assert a.lower_bounds_ == b.lower_bounds_


def test_y_is_ignored_unless_asked_for(iris_labelled):
    X, classes = iris_labelled
    scrambled = np.roll(classes, 7)
    a = GaussianMixture(3, random_state=0).fit(X, scrambled)
    b = GaussianMixture(3, random_state=0).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    c = GaussianMixture(3, random_state=0, semi_supervised=True).fit(X, scrambled)
    assert not np.allclose(c.means_, b.means_)


def test_against_mclust_ssc(iris_labelled, reference):
    X, _ = iris_labelled
    y = _fixture_labels(reference, len(X))
    assert len(reference["fits"]) == 14
    for fit in reference["fits"]:
        gm = GaussianMixture(3, covariance_type=fit["model"], semi_supervised=True, reg_covar=0.0, tol=1e-12,
                             max_iter=20_000).fit(X, y)
        ll = gm.fit_result_.final.log_likelihood
        assert gm.n_parameters() == fit["df"], fit["model"]
        if fit["model"] == "VVE":  # mclust's VVE M-step stops short (tests/test_covariance_models.py)
            assert ll > fit["loglik"] + 1e-6 * abs(fit["loglik"])
            continue
        assert ll == pytest.approx(fit["loglik"], rel=1e-6), fit["model"]
        # mclust stops where the likelihood is flat to ~1e-8 relative: the parameters agree to ~1e-4
        np.testing.assert_allclose(gm.means_, fit["mean"], rtol=1e-3, err_msg=fit["model"])
        np.testing.assert_allclose(gm.weights_, fit["pro"], rtol=1e-3, err_msg=fit["model"])


def test_labels_anchor_the_components(iris_labelled, reference):
    """15 labelled rows: the components follow the species, in the labels' order (at MclustSSC's
    optimum, EEE puts 98% and VVV 91% of the rows in their species' component)."""
    X, classes = iris_labelled
    y = _fixture_labels(reference, len(X))
    for model, accuracy in (("EEE", 0.95), ("VVV", 0.88)):
        gm = GaussianMixture(3, covariance_type=model, semi_supervised=True, tol=1e-8, max_iter=1000).fit(X, y)
        assert np.mean(gm.predict(X) == classes) > accuracy, model


def test_integer_weights_are_repeats(iris_labelled):
    X, classes = iris_labelled
    rng = np.random.default_rng(5)
    y = np.where(rng.random(len(X)) < 0.2, classes, -1)
    w = rng.integers(1, 3, size=len(X))
    options = dict(covariance_type="VVI", semi_supervised=True, tol=1e-12, max_iter=5000)
    a = GaussianMixture(3, **options).fit(X, y, sample_weight=w.astype(float))
    b = GaussianMixture(3, **options).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-8)


def test_select_with_labels(iris_labelled, reference):
    X, _ = iris_labelled
    y = _fixture_labels(reference, len(X))
    result = gmm_numba.select(X, [2, 3], ["VVV", "EEE", "VEV"], y=y)
    selection = result["selection"]
    assert selection.attrs["best_n_components"] == 3
    errors = selection["error"].sel(n_components=2).values
    assert all("component" in e for e in errors)  # y labels component 2, which K = 2 does not have
    for model in ("VVV", "EEE", "VEV"):
        fit = next(f for f in reference["fits"] if f["model"] == model)
        bic = float(selection["bic"].sel(covariance_type=model, n_components=3))
        assert bic == pytest.approx(-fit["bic"], rel=1e-6)


@pytest.mark.parametrize(
    "y, error, match",
    [
        (np.zeros(10, dtype=int), ValueError, "labels but X has"),
        (np.full(150, 3), ValueError, "out of range"),
        (np.full(150, -2), ValueError, "out of range"),
        (np.array(["a"] * 150), TypeError, "component indices"),
        (np.full(150, np.nan), TypeError, "whole numbers"),
        (np.full(150, 0.5), TypeError, "whole numbers"),
        (np.zeros((150, 1), dtype=int), ValueError, "one-dimensional"),
        (np.r_[np.zeros(50, dtype=int), np.ones(100, dtype=int)], ValueError, r"component\(s\) \[2\]"),
    ],
)
def test_bad_labels(iris_labelled, y, error, match):
    X, _ = iris_labelled
    with pytest.raises(error, match=match):
        GaussianMixture(3, semi_supervised=True).fit(X, y)


def test_refusals(iris_labelled):
    X, classes = iris_labelled
    with pytest.raises(NotSupportedError, match="cannot be combined.*MclustSSC"):
        GaussianMixture(3, semi_supervised=True, noise=True).fit(X, classes)
    with pytest.raises((TypeError, ValueError), match="semi_supervised"):
        GaussianMixture(3, semi_supervised="yes").fit(X, classes)


def test_fit_function_takes_labels_and_the_result_round_trips(iris_labelled, reference, tmp_path):
    X, _ = iris_labelled
    y = _fixture_labels(reference, len(X))
    result = gmm_numba.fit(X, 3, covariance_type="EEE", y=y, tol=1e-12, max_iter=5000, reg_covar=0.0)
    fit = next(f for f in reference["fits"] if f["model"] == "EEE")
    assert float(result["criteria"]["log_likelihood"]) == pytest.approx(fit["loglik"], rel=1e-6)
    path = tmp_path / "ssc.nc"
    result.to_netcdf(path)
    back = GaussianMixture.from_xarray(gmm_numba.load(path))
    np.testing.assert_allclose(back.means_, np.asarray(fit["mean"]), rtol=1e-3)
