"""The uniform noise component (issue 24 item 1).

Tolerances:

* E-step and M-step against the naive NumPy/SciPy references
  (:func:`naive.noise_e_step`, :func:`naive.noise_m_step_full`): 1e-10
  relative (float64 rounding of sums over a few hundred rows).
* Against mclust 6.0.0 (``tests/fixtures/mclust/make_noise_fixtures.R``):
  ``me()`` from the same partition and noise flags, final log-likelihood
  within 1e-6 relative; for VVE, where mclust's M-step stops short (see
  tests/test_covariance_models.py), ours is higher. The sweep: the same
  chosen model and K, and every cell's BIC at most mclust's plus 0.05
  (mclust stops at a relative change of 1e-5 in log-likelihood, we at 1e-8
  per row).
* Clutter: with 10% uniform clutter, the fit with a noise component puts
  the means within a third of the distance from the clean fit that the fit
  without noise reaches (fixed seed).
"""

import json
import math
import os
import tempfile
from pathlib import Path

import naive
import numpy as np
import pandas as pd
import pytest

import gmm_numba
from gmm_numba import GaussianMixture
from gmm_numba.covariance import get_model
from gmm_numba.data.in_memory import InMemoryData
from gmm_numba.data.noise import nearest_neighbour_clutter, noisy_statistics
from gmm_numba.data.volume import box_volume
from gmm_numba.fitting.hierarchical import partition_statistics
from gmm_numba.fitting.noise import NoiseComponent, fit_noise_em, noisy_m_step, with_gaussian_share
from gmm_numba.fitting.parameters import MixtureParameters, m_step

FIXTURES = Path(__file__).parent / "fixtures" / "mclust"
#: mclust's VVE M-step ends below a stationary point (tests/test_covariance_models.py).
MCLUST_SHORT = {"VVE"}


@pytest.fixture(scope="module")
def clutter_data():
    df = pd.read_csv(FIXTURES / "faithful_clutter.csv")
    X = np.ascontiguousarray(df[["eruptions", "waiting"]].to_numpy(dtype=np.float64))
    return X, df["noise_init"].to_numpy(dtype=bool)


@pytest.fixture(scope="module")
def reference():
    return json.loads((FIXTURES / "noise_me.json").read_text())


def _random_parameters(X, model_name, rng, k=2):
    """Gaussian parameters near the data, weights summing to 1 - noise weight."""
    model = get_model(model_name)
    labels = rng.integers(0, k, size=X.shape[0])
    params = m_step(model, partition_statistics(X, labels, k), 1e-6)
    return with_gaussian_share(params, 0.2)


@pytest.mark.parametrize("model_name", ["VVV", "VVI", "EII", "VEV"])
def test_e_step_matches_naive(clutter_data, model_name):
    X, _ = clutter_data
    params = _random_parameters(X, model_name, np.random.default_rng(1))
    volume = 150.0
    noise = NoiseComponent(0.2, volume)
    stats, noise_sum = noisy_statistics(X, None, params, noise.log_density)
    full = params.full_covariances()
    log_density, resp = naive.noise_e_step(X, params.weights, params.means, full, 0.2, volume)
    assert stats.log_likelihood == pytest.approx(log_density.sum(), rel=1e-10)
    assert noise_sum == pytest.approx(resp[:, -1].sum(), rel=1e-10)
    np.testing.assert_allclose(stats.nk, resp[:, :-1].sum(axis=0), rtol=1e-10)
    expected_means = (resp[:, :-1].T @ X) / resp[:, :-1].sum(axis=0)[:, None]
    np.testing.assert_allclose(stats.means(), expected_means, rtol=1e-10)
    hard = np.log(resp.max(axis=1)).sum()
    assert stats.hard_log_resp == pytest.approx(hard, rel=1e-10)
    assert stats.total_weight == X.shape[0]


def test_e_step_with_sample_weights_counts_rows_as_repeats(clutter_data):
    """Integer weights give the sums of the data with the rows repeated."""
    X, _ = clutter_data
    params = _random_parameters(X, "VVV", np.random.default_rng(2))
    weights = np.random.default_rng(3).integers(0, 3, size=X.shape[0]).astype(np.float64)
    repeated = np.ascontiguousarray(np.repeat(X, weights.astype(int), axis=0))
    log_noise = math.log(0.2 / 150.0)
    a, a0 = noisy_statistics(X, weights, params, log_noise)
    b, b0 = noisy_statistics(repeated, None, params, log_noise)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-10)
    assert a0 == pytest.approx(b0, rel=1e-10)
    np.testing.assert_allclose(a.means(), b.means(), rtol=1e-10)


def test_m_step_matches_naive(clutter_data):
    X, _ = clutter_data
    params = _random_parameters(X, "VVV", np.random.default_rng(4))
    noise = NoiseComponent(0.2, 150.0)
    stats, noise_sum = noisy_statistics(X, None, params, noise.log_density)
    new, noise_weight = noisy_m_step(params.model, stats, noise_sum, 0.0)
    _, resp = naive.noise_e_step(X, params.weights, params.means, params.full_covariances(), 0.2, 150.0)
    weights, expected_noise, means, covs = naive.noise_m_step_full(X, resp)
    assert noise_weight == pytest.approx(expected_noise, rel=1e-10)
    np.testing.assert_allclose(new.weights, weights, rtol=1e-10)
    np.testing.assert_allclose(new.means, means, rtol=1e-10)
    np.testing.assert_allclose(new.covariances, covs, rtol=1e-9)
    assert new.weights.sum() + noise_weight == pytest.approx(1.0, abs=1e-14)


def hypervolume(X):
    return box_volume(InMemoryData(np.ascontiguousarray(X)))


def test_hypervolume_is_mclusts(clutter_data, reference):
    X, _ = clutter_data
    assert 1.0 / hypervolume(X) == pytest.approx(reference["Vinv"], rel=1e-12)
    box, pc_box = naive.bounding_box_volumes(X)
    assert hypervolume(X) == pytest.approx(min(box, pc_box), rel=1e-10)
    assert hypervolume(X[:, :1]) == pytest.approx(np.ptp(X[:, 0]), rel=1e-14)


def _fit_from_partition(X, flags, fit, volume):
    model = get_model(fit["model"])
    stats = partition_statistics(X[~flags], np.asarray(fit["partition"]) - 1, fit["G"])
    start_noise = NoiseComponent(flags.mean(), volume)
    start = with_gaussian_share(m_step(model, stats, 0.0), start_noise.weight)
    return fit_noise_em(InMemoryData(X), [start], start_noise, reg_covar=0.0, tol=1e-13, max_iter=20_000, reorder=False)


def test_against_mclust_me(clutter_data, reference):
    """Every model, K = 2 and 3: the same log-likelihood as mclust's me() from the same start."""
    X, flags = clutter_data
    assert len(reference["fits"]) == 28
    for fit in reference["fits"]:
        result, noise = _fit_from_partition(X, flags, fit, 1.0 / reference["Vinv"])
        ll = result.final.log_likelihood
        label = f"{fit['model']} G={fit['G']}"
        if fit["model"] in MCLUST_SHORT:
            assert ll > fit["loglik"] + 1e-6 * abs(fit["loglik"]), label
            continue
        assert ll == pytest.approx(fit["loglik"], rel=1e-6), label
        n_parameters = result.parameters.n_parameters() + 2
        assert n_parameters == fit["n_parameters"], label
        # our BIC is mclust's negated
        assert -2 * ll + n_parameters * math.log(len(X)) == pytest.approx(-fit["bic"], rel=1e-6), label
        assert noise.weight == pytest.approx(fit["pro"][-1], rel=1e-4, abs=1e-6), label
        np.testing.assert_allclose(result.parameters.means, fit["mean"], rtol=1e-4, err_msg=label)
        np.testing.assert_allclose(result.parameters.full_covariances(), fit["sigma"], rtol=1e-3, atol=1e-6,
                                   err_msg=label)


def test_estimator_counts_and_scores_like_mclust(clutter_data, reference):
    """The estimator from the same flags reaches mclust's VVV, K = 2 fit; its BIC is mclust's negated."""
    X, flags = clutter_data
    fit = next(f for f in reference["fits"] if f["model"] == "VVV" and f["G"] == 2)
    gm = GaussianMixture(2, covariance_type="VVV", noise=flags, tol=1e-12, max_iter=5000, reg_covar=0.0,
                         init_params="hc").fit(X)
    assert gm.n_parameters() == fit["n_parameters"] == 13
    assert gm.bic(X) == pytest.approx(-fit["bic"], rel=1e-6)
    assert gm.noise_weight_ == pytest.approx(fit["pro"][-1], rel=1e-4)
    assert gm.noise_volume_ == pytest.approx(1.0 / reference["Vinv"], rel=1e-12)
    assert gm.weights_.sum() + gm.noise_weight_ == pytest.approx(1.0)
    proba = gm.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    labels = gm.predict(X)
    np.testing.assert_array_equal(labels, np.where(proba.argmax(axis=1) == 2, -1, proba.argmax(axis=1)))
    assert set(np.unique(labels)) == {-1, 0, 1}
    # most clutter rows end as noise (those that fell inside a cluster join it: 18 of 27 here)
    assert np.count_nonzero(labels[flags] == -1) >= 0.6 * flags.sum()
    _, naive_resp = naive.noise_e_step(X, gm.weights_, gm.means_, gm.covariances_, gm.noise_weight_,
                                       gm.noise_volume_)
    np.testing.assert_allclose(proba, naive_resp, rtol=1e-9, atol=1e-12)


def test_select_against_mclust(clutter_data, reference):
    X, flags = clutter_data
    ref = reference["mclust"]
    result = gmm_numba.select(pd.DataFrame(X, columns=["eruptions", "waiting"]), ref["G"], ref["models"],
                              noise=flags, random_state=0)
    selection = result["selection"]
    assert selection.attrs["best_covariance_type"] == ref["best_model"]
    assert selection.attrs["best_n_components"] == ref["best_G"]
    ours = selection["bic"].values
    theirs = -np.asarray(ref["bic"], dtype=float)
    assert np.all(ours <= theirs + 0.05), np.max(ours - theirs)
    assert float(result["criteria"]["log_likelihood"]) >= ref["loglik"] - 1e-6 * abs(ref["loglik"])
    assert float(result["noise"]["weight"].squeeze()) == pytest.approx(ref["noise_weight"], rel=0.05)


def _clutter_problem(seed=11):
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    X = np.vstack([rng.multivariate_normal(m, np.eye(2) * 0.6, size=300) for m in means])
    low, high = X.min(axis=0) - 3, X.max(axis=0) + 3
    clutter = rng.uniform(low, high, size=(100, 2))  # 10% of the rows
    return np.ascontiguousarray(X), np.ascontiguousarray(np.vstack([X, clutter]))


def test_noise_component_resists_clutter():
    clean, cluttered = _clutter_problem()
    options = dict(covariance_type="VVV", n_init=3, random_state=0, tol=1e-8, max_iter=1000)
    reference = GaussianMixture(3, **options).fit(clean)
    plain = GaussianMixture(3, **options).fit(cluttered)
    noisy = GaussianMixture(3, noise=True, **options).fit(cluttered)

    def distance(gm):
        order = [int(np.argmin(np.linalg.norm(gm.means_ - m, axis=1))) for m in reference.means_]
        assert len(set(order)) == 3
        means = np.linalg.norm(gm.means_[order] - reference.means_)
        covs = np.linalg.norm(gm.covariances_[order] - reference.covariances_)
        return means, covs

    plain_means, plain_covs = distance(plain)
    noisy_means, noisy_covs = distance(noisy)
    assert noisy_means < plain_means / 3, (noisy_means, plain_means)
    assert noisy_covs < plain_covs / 3, (noisy_covs, plain_covs)
    assert 0.05 < noisy.noise_weight_ < 0.15


def test_nearest_neighbour_clutter_finds_clutter():
    clean, cluttered = _clutter_problem()
    flags = nearest_neighbour_clutter(cluttered)
    is_clutter = np.arange(len(cluttered)) >= len(clean)
    # 88 of the 100 clutter rows, and 66 of the 900 cluster rows (the clusters' sparse tails) here
    assert np.count_nonzero(flags & is_clutter) >= 0.8 * is_clutter.sum()
    assert np.count_nonzero(flags & ~is_clutter) <= 0.1 * len(clean)
    # one homogeneous (uniform) process: few rows flagged (55, 31 and 15 of 600 here)
    for seed in range(3):
        uniform = np.random.default_rng(seed).uniform(size=(600, 2))
        assert np.count_nonzero(nearest_neighbour_clutter(uniform)) <= 0.15 * len(uniform)


def test_result_round_trips_through_netcdf(clutter_data):
    X, flags = clutter_data
    frame = pd.DataFrame(X, columns=["eruptions", "waiting"])
    result = gmm_numba.fit(frame, 2, covariance_type="EEI", noise=flags, tol=1e-10, max_iter=1000)
    assert result["criteria"]["n_parameters"] == get_model("EEI").n_parameters(2, 2) + 2
    table = gmm_numba.summary(result, ["weights"])
    assert table.loc["weights[noise]", "mean"] == pytest.approx(float(result["noise"]["weight"].squeeze()))
    assert table["mean"].sum() == pytest.approx(1.0)
    assert "noise component" in gmm_numba.describe(result)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "noise.nc")
        result.to_netcdf(path)
        loaded = gmm_numba.load(path)
        back = GaussianMixture.from_xarray(loaded)
    original = GaussianMixture.from_xarray(result)
    assert back.noise_weight_ == original.noise_weight_
    assert back.noise_volume_ == original.noise_volume_
    np.testing.assert_array_equal(back.predict(frame), original.predict(frame))
    np.testing.assert_allclose(back.score_samples(frame), original.score_samples(frame), rtol=1e-14)
    assert back.bic(frame) == pytest.approx(float(result["criteria"]["bic"]), rel=1e-10)


def test_tree_with_bad_noise_group_is_refused(clutter_data):
    X, flags = clutter_data
    result = gmm_numba.fit(X, 2, covariance_type="EEI", noise=flags)
    result["noise"]["weight"] = result["noise"]["weight"] * 0 + 0.5
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture.from_xarray(result)


def test_noise_volume_is_used(clutter_data):
    X, flags = clutter_data
    small = GaussianMixture(2, covariance_type="EEI", noise=flags, noise_volume=50.0).fit(X)
    large = GaussianMixture(2, covariance_type="EEI", noise=flags, noise_volume=5000.0).fit(X)
    assert small.noise_volume_ == 50.0
    # a denser noise component explains more rows
    assert small.noise_weight_ > large.noise_weight_
    assert small.score_samples(X).min() >= math.log(small.noise_weight_ / 50.0) - 1e-12


def test_no_noise_setting_is_the_plain_fit(clutter_data):
    X, _ = clutter_data
    a = GaussianMixture(2, random_state=0, noise=False).fit(X)
    b = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_array_equal(a.means_, b.means_)
    assert not hasattr(a, "noise_weight_")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(noise=np.ones(5, dtype=bool)), "row flags but X has"),
        (dict(noise="all"), "noise must be None, True"),
        (dict(noise=np.zeros((299, 1), dtype=bool)), "one-dimensional"),
        (dict(noise=np.arange(299)), "booleans"),
        (dict(noise=np.ones(299, dtype=bool)), "every row"),
        (dict(noise=np.zeros(299, dtype=bool)), "no row"),
        (dict(noise=True, noise_volume=0.0), "positive"),
        (dict(noise=True, noise_volume=-3.0), "positive"),
        (dict(noise=True, noise_volume="big"), "'hull' or a positive number"),
        (dict(noise_volume=10.0), "noise is None"),
    ],
)
def test_bad_noise_settings(clutter_data, kwargs, match):
    X, _ = clutter_data
    with pytest.raises((TypeError, ValueError), match=match):
        GaussianMixture(2, **kwargs).fit(X)


def test_noise_refused_where_not_available(clutter_data):
    X, flags = clutter_data
    gm = GaussianMixture(2, noise=flags).fit(X)
    with pytest.raises(ValueError, match="noise component"):
        gm.sample(5)
    with pytest.raises(ValueError, match="noise component"):
        gmm_numba.bootstrap(gm, X, n_draws=2)


def test_parameters_are_consistent_after_fit(clutter_data):
    X, flags = clutter_data
    gm = GaussianMixture(3, covariance_type="VEV", noise=flags, random_state=1).fit(X)
    params = MixtureParameters.from_covariances(gm._parameters.model, gm.weights_, gm.means_,
                                                gm._parameters.covariances)
    log_density, _ = naive.noise_e_step(X, params.weights, params.means, params.full_covariances(),
                                        gm.noise_weight_, gm.noise_volume_)
    np.testing.assert_allclose(gm.score_samples(X), log_density, rtol=1e-10)


def test_plot_shows_noise_rows(clutter_data):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from gmm_numba.plotting import plot_classification

    X, flags = clutter_data
    result = gmm_numba.fit(X, 2, covariance_type="EEI", noise=flags)
    n_noise = int(np.count_nonzero(GaussianMixture.from_xarray(result).predict(X) == -1))
    ax = plot_classification(result, X)
    grey = [c for c in ax.collections if c.get_label() == "noise"]
    assert len(grey) == 1 and grey[0].get_offsets().shape[0] == n_noise > 0


def test_warm_start_continues_with_the_noise_component(clutter_data):
    X, flags = clutter_data
    gm = GaussianMixture(2, covariance_type="EEI", noise=flags, warm_start=True, max_iter=3, tol=1e-300,
                         random_state=0)
    with pytest.warns(gmm_numba.ConvergenceWarning):
        gm.fit(X)
    first = gm.lower_bounds_
    with pytest.warns(gmm_numba.ConvergenceWarning):
        gm.fit(X)
    # the second fit starts where the first ended: its first lower bound is above the first fit's last
    assert gm.lower_bounds_[0] > first[-1]
    cold = GaussianMixture(2, covariance_type="EEI", noise=flags, max_iter=6, tol=1e-300, random_state=0)
    with pytest.warns(gmm_numba.ConvergenceWarning):
        cold.fit(X)
    np.testing.assert_allclose(gm.means_, cold.means_, rtol=1e-10)
