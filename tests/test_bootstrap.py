"""Bootstrap draws of the parameters: layout, alignment, standard errors, summaries and coverage."""

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gmm_numba
from gmm_numba import GaussianMixture, NotFittedError
from gmm_numba.bootstrap import align
from gmm_numba.covariance import get_model
from gmm_numba.fitting.parameters import MixtureParameters
from gmm_numba.results import check_tree

#: Two well-separated components in two dimensions.
TRUE_WEIGHTS = np.array([0.4, 0.6])
TRUE_MEANS = np.array([[-3.0, 0.0], [3.0, 1.0]])
TRUE_COVS = np.array([[[1.0, 0.3], [0.3, 0.8]], [[0.7, -0.2], [-0.2, 1.2]]])
N_DRAWS = 30


def draw_mixture(rng, n, weights, means, covs):
    z = rng.choice(len(weights), size=n, p=weights)
    X = np.empty((n, means.shape[1]))
    for k in range(len(weights)):
        X[z == k] = rng.multivariate_normal(means[k], covs[k], size=int(np.sum(z == k)))
    return X


@pytest.fixture(scope="module")
def X():
    return draw_mixture(np.random.default_rng(0), 300, TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVS)


@pytest.fixture(scope="module")
def frame(X):
    return pd.DataFrame(X, columns=["a", "b"])


@pytest.fixture(scope="module")
def fitted(frame):
    return gmm_numba.fit(frame, 2, random_state=0, observed_data=True, log_likelihood=True)


@pytest.fixture(scope="module")
def boot(fitted, frame):
    return gmm_numba.bootstrap(fitted, frame, N_DRAWS, random_state=1)


# ------------------------------------------------------------------- layout
def test_draws_land_in_the_posterior(boot, fitted):
    post = boot["posterior"]
    assert dict(post.sizes) == {"chain": 1, "draw": N_DRAWS, "component": 2, "feature": 2, "feature_bis": 2}
    assert list(post["feature"].values) == ["a", "b"]
    assert boot.attrs["bootstrap_method"] == "wlbs"
    assert boot.attrs["n_draws"] == N_DRAWS and boot.attrs["n_failed_draws"] == 0
    point = boot["point_estimate"]
    for name in ("weights", "means", "covariances"):
        np.testing.assert_array_equal(point[name].values, fitted["posterior"][name].values[0, 0])
    check_tree(boot)
    for group in ("sample_stats", "criteria", "observed_data"):
        assert boot[group].identical(fitted[group]), group


def test_pointwise_log_likelihood_of_the_fit_is_not_kept(boot, fitted):
    """It holds one draw (the fit), which would contradict the posterior's draws."""
    assert "log_likelihood" in fitted.children
    assert "log_likelihood" not in boot.children


def test_every_draw_is_a_valid_distinct_mixture(boot):
    post = boot["posterior"]
    w = post["weights"].values[0]
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    covs = post["covariances"].values[0]
    assert np.all(np.linalg.eigvalsh(covs)[..., 0] > 0)
    np.testing.assert_array_equal(covs, np.swapaxes(covs, -1, -2))
    means = post["means"].values[0]
    assert len(np.unique(means[:, 0, 0])) == N_DRAWS


def test_draws_are_aligned_with_the_fit(boot):
    """No label switching: every draw's component k stays near the fit's component k."""
    point = boot["point_estimate"]["means"].values
    means = boot["posterior"]["means"].values[0]
    half_gap = np.linalg.norm(point[0] - point[1]) / 2
    assert np.all(np.linalg.norm(means - point[None], axis=2) < half_gap)


def test_align_undoes_a_permutation():
    rng = np.random.default_rng(3)
    model = get_model("full")
    ref = MixtureParameters.from_covariances(
        model, np.array([0.2, 0.3, 0.5]), rng.normal(size=(3, 2)) * 5, np.stack([np.eye(2)] * 3)
    )
    shuffled = ref.permuted(np.array([2, 0, 1]))
    back = align(ref, shuffled)
    np.testing.assert_array_equal(back.means, ref.means)
    np.testing.assert_array_equal(back.weights, ref.weights)


def test_same_seed_same_draws_and_estimator_input(fitted, frame, boot):
    again = gmm_numba.bootstrap(fitted, frame, N_DRAWS, random_state=1)
    assert again["posterior"].identical(boot["posterior"])
    estimator = GaussianMixture.from_xarray(fitted)
    from_estimator = gmm_numba.bootstrap(estimator, frame, N_DRAWS, random_state=1)
    np.testing.assert_array_equal(from_estimator["posterior"]["means"].values, boot["posterior"]["means"].values)
    other = gmm_numba.bootstrap(fitted, frame, N_DRAWS, random_state=2)
    assert not np.array_equal(other["posterior"]["means"].values, boot["posterior"]["means"].values)


def test_nonparametric_method(fitted, frame):
    out = gmm_numba.bootstrap(fitted, frame, 20, method="nonparametric", random_state=4)
    assert out.attrs["bootstrap_method"] == "nonparametric"
    assert out["posterior"].sizes["draw"] == 20
    assert np.all(out["posterior"]["means"].std("draw").values > 0)


@pytest.mark.parametrize("cov_type", ["tied", "diag", "spherical"])
def test_every_covariance_model(X, cov_type):
    """Draws keep the model's structure (checked by check_tree) and vary."""
    tree = gmm_numba.fit(X, 2, covariance_type=cov_type, random_state=0)
    out = gmm_numba.bootstrap(tree, X, 8, random_state=0)
    check_tree(out)
    covs = out["posterior"]["covariances"].values[0]
    if cov_type == "tied":
        np.testing.assert_array_equal(covs[:, 0], covs[:, 1])
    else:
        off = covs[..., 0, 1]
        np.testing.assert_array_equal(off, 0.0)
    assert np.all(covs.std(axis=0)[..., 0, 0] > 0)


def test_dataarray_input(X):
    da = xr.DataArray(X.T, dims=("feature", "time"), coords={"feature": ["a", "b"]})
    tree = da.gmm.fit(2, sample_dim="time", random_state=0)
    out = gmm_numba.bootstrap(tree, da, 5, sample_dim="time", random_state=0)
    same = gmm_numba.bootstrap(tree, X, 5, random_state=0)
    np.testing.assert_array_equal(out["posterior"]["means"].values, same["posterior"]["means"].values)
    assert list(out["posterior"]["feature"].values) == ["a", "b"]


def test_bootstrap_round_trips_through_netcdf(boot, frame, tmp_path):
    boot.to_netcdf(tmp_path / "boot.nc")
    loaded = gmm_numba.load(tmp_path / "boot.nc")
    assert loaded.identical(boot)
    estimator = GaussianMixture.from_xarray(loaded)
    np.testing.assert_array_equal(estimator.means_, boot["point_estimate"]["means"].values)


def test_sample_weight_is_honoured():
    """Rows of weight 0 never move a draw: one component fitted to x <= 1 keeps its mean below 1."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(200, 1))
    w = (X[:, 0] <= 1.0).astype(float)
    tree = gmm_numba.fit(X, 1, sample_weight=w)
    out = gmm_numba.bootstrap(tree, X, 20, sample_weight=w, random_state=0)
    means = out["posterior"]["means"].values.ravel()
    assert np.all(means < np.max(X[w > 0]))
    unweighted = gmm_numba.bootstrap(tree, X, 20, random_state=0)["posterior"]["means"].values.ravel()
    assert np.mean(unweighted) > np.mean(means) + 0.1


@pytest.mark.parametrize("method", ["wlbs", "nonparametric"])
def test_standard_errors_of_a_single_gaussian(method):
    """For one component, the draws' spread is the textbook standard error of the mean and variance."""
    rng = np.random.default_rng(11)
    n = 400
    X = rng.normal(2.0, 3.0, size=(n, 1))
    tree = gmm_numba.fit(X, 1, reg_covar=0.0)
    out = gmm_numba.bootstrap(tree, X, 200, method=method, random_state=5)
    table = gmm_numba.summary(out)
    x = X[:, 0]
    se_mean = x.std() / np.sqrt(n)
    centred = x - x.mean()
    se_var = np.sqrt((np.mean(centred**4) - np.mean(centred**2) ** 2) / n)
    assert table.loc["means[0, x0]", "sd"] == pytest.approx(se_mean, rel=0.2)
    assert table.loc["covariances[0, x0, x0]", "sd"] == pytest.approx(se_var, rel=0.2)
    assert table.loc["weights[0]", "sd"] == 0.0


# ---------------------------------------------------------------- bad input
def test_bad_arguments(fitted, frame, X):
    with pytest.raises(ValueError, match="method"):
        gmm_numba.bootstrap(fitted, frame, 5, method="parametric")
    with pytest.raises(ValueError, match="n_draws"):
        gmm_numba.bootstrap(fitted, frame, 0)
    with pytest.raises(ValueError, match="feature"):
        gmm_numba.bootstrap(fitted, X[:, :1], 5)
    with pytest.raises(NotFittedError):
        gmm_numba.bootstrap(GaussianMixture(2), X, 5)


def test_labeled_data_with_other_features_is_refused(fitted, X):
    ds = xr.Dataset({"b": ("obs", X[:, 1]), "a": ("obs", X[:, 0])})
    with pytest.raises(ValueError, match="differ from the fitted ones"):
        gmm_numba.bootstrap(fitted, ds, 5)
    same = xr.Dataset({"a": ("obs", X[:, 0]), "b": ("obs", X[:, 1])})
    assert gmm_numba.bootstrap(fitted, same, 3, random_state=0)["posterior"].sizes["draw"] == 3


# ---------------------------------------------------------------- summaries
def test_summary_reports_standard_errors(boot):
    table = gmm_numba.summary(boot)
    assert list(table.columns) == ["mean", "sd", "eti_3%", "eti_97%"]
    assert len(table) == 2 + 2 * 2 + 2 * 3
    means = boot["posterior"]["means"].values[0]  # (draw, component, feature)
    values = means[:, 1, 0]
    row = table.loc["means[1, a]"]
    assert row["mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert row["sd"] == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert row["eti_3%"] == pytest.approx(np.quantile(values, 0.03), rel=1e-12)
    assert row["eti_97%"] == pytest.approx(np.quantile(values, 0.97), rel=1e-12)
    assert np.all(table["sd"] > 0)
    assert np.all(table["eti_3%"] < table["eti_97%"])
    narrow = gmm_numba.summary(boot, prob=0.5)
    assert list(narrow.columns) == ["mean", "sd", "eti_25%", "eti_75%"]
    assert narrow.loc["means[1, a]", "eti_25%"] > row["eti_3%"]


def test_describe_shows_the_fit_not_the_draw_average(boot):
    text = gmm_numba.describe(boot)
    assert "bootstrap (wlbs)" in text
    point = boot["point_estimate"]["means"].values
    assert f"{point[0, 0]:.4g}" in text and f"{point[1, 1]:.4g}" in text
    average = boot["posterior"]["means"].values[0].mean(axis=0)
    assert f"{average[0, 0]:.4g}" not in text


ARVIZ_1 = int(az.__version__.split(".")[0]) >= 1


def group_names(idata):
    """Group names of an InferenceData (ArviZ 0.x: a method) or a DataTree (ArviZ 1.x)."""
    return set(idata.children) if isinstance(idata, xr.DataTree) else set(idata.groups())


def test_inference_data_for_arviz(boot):
    idata = gmm_numba.to_inference_data(boot)
    assert isinstance(idata, xr.DataTree if ARVIZ_1 else az.InferenceData)
    assert group_names(idata) == {"posterior", "sample_stats", "observed_data"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.summary(idata, kind="stats", round_to="none")
    n_parameters = 2 + 2 * 2 + 2 * 2 * 2  # ArviZ lists full covariance matrices
    assert len(table) == n_parameters
    assert np.all(table["sd"] > 0)
    ours = gmm_numba.summary(boot)
    for label in ("weights[0]", "means[1, b]", "covariances[0, a, b]"):
        assert table.loc[label, "mean"] == pytest.approx(ours.loc[label, "mean"], rel=1e-12)
        assert table.loc[label, "sd"] == pytest.approx(ours.loc[label, "sd"], rel=0.05)


@pytest.mark.skipif(not ARVIZ_1, reason="ArviZ 0.x has no equal-tailed interval beside the mean")
def test_arviz_1_reports_our_interval_when_asked(boot):
    table = az.summary(gmm_numba.to_inference_data(boot), kind="stats", ci_kind="eti", ci_prob=0.94, round_to="none")
    ours = gmm_numba.summary(boot)
    np.testing.assert_allclose(table.loc[ours.index, ["eti94_lb", "eti94_ub"]], ours[["eti_3%", "eti_97%"]], rtol=1e-12)


def test_arviz_draws_a_forest_plot(boot, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    plot = az.plot_forest(gmm_numba.to_inference_data(boot), var_names=["weights"], combined=True)
    figure = plot if ARVIZ_1 else np.ravel(plot)[0].figure  # a PlotCollection, or matplotlib Axes
    figure.savefig(tmp_path / "forest.png")
    plt.close("all")
    assert (tmp_path / "forest.png").stat().st_size > 1000


# ------------------------------------------------------------------ coverage
@pytest.mark.parametrize("method", ["wlbs", "nonparametric"])
def test_interval_coverage_by_simulation(method):
    """94% intervals of the means contain the true means in most replicate data sets.

    1-D, two well-separated components, N=300, 20 replicates, 40 draws each;
    the bound is loose (the nominal rate is 94%, with Monte Carlo noise and
    few draws).
    """
    weights, means, sds = np.array([0.4, 0.6]), np.array([-2.0, 2.0]), np.array([1.0, 0.8])
    hits = total = 0
    for rep in range(20):
        rng = np.random.default_rng(500 + rep)
        z = rng.choice(2, size=300, p=weights)
        X = rng.normal(means[z], sds[z])[:, None]
        out = gmm_numba.bootstrap(gmm_numba.fit(X, 2, random_state=rep), X, 40, method=method, random_state=rep)
        table = gmm_numba.summary(out, var_names=["means"])
        lo, hi = table["eti_3%"].to_numpy(), table["eti_97%"].to_numpy()
        hits += int(np.sum((lo <= means) & (means <= hi)))
        total += 2
    assert hits / total >= 0.7
