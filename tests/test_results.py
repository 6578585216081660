"""Fits as labeled DataTrees: layout, contents, netCDF round trips and checked loading."""

import datetime
import os
import re

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gmm_numba
from gmm_numba import GaussianMixture
from gmm_numba.datasets import load_faithful
from gmm_numba.results import check_tree, point_parameters

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gmm_numba")


@pytest.fixture(scope="module")
def frame():
    """Old Faithful with a non-default index (so sample labels are visible)."""
    df = load_faithful()
    df.index = pd.Index(np.arange(len(df)) * 10 + 5, name="obs")
    return df


@pytest.fixture(scope="module")
def X(frame):
    return np.ascontiguousarray(frame.to_numpy(dtype=np.float64))


def _fit_pair(X, cov_type, **options):
    """The same fit as an estimator and as a tree."""
    settings = dict(covariance_type=cov_type, random_state=0, **options)
    return GaussianMixture(2, **settings).fit(X), gmm_numba.fit(X, 2, **settings)


@pytest.fixture(scope="module")
def fits(X):
    return {cov_type: _fit_pair(X, cov_type) for cov_type in COVARIANCE_TYPES}


def _expected_full(cov_type, covariances, k, d):
    """Covariances in scikit-learn's shapes expanded to (k, d, d), written out per model."""
    if cov_type == "full":
        return covariances
    if cov_type == "tied":
        return np.stack([covariances] * k)
    if cov_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([v * np.eye(d) for v in covariances])


def _n_parameters(cov_type, k, d):
    covs = {"full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": k * d, "spherical": k}[cov_type]
    return k * d + (k - 1) + covs


# ------------------------------------------------------------------ layout
def test_groups_and_dimensions(fits):
    _, tree = fits["full"]
    assert set(tree.children) == {"posterior", "sample_stats", "criteria"}
    post = tree["posterior"]
    assert dict(post.sizes) == {"chain": 1, "draw": 1, "component": 2, "feature": 2, "feature_bis": 2}
    assert post["weights"].dims == ("chain", "draw", "component")
    assert post["means"].dims == ("chain", "draw", "component", "feature")
    assert post["covariances"].dims == ("chain", "draw", "component", "feature", "feature_bis")
    assert list(post["component"].values) == [0, 1]
    assert set(tree["criteria"].data_vars) == {"log_likelihood", "n_parameters", "n_samples", "bic", "aic", "icl"}
    stats = tree["sample_stats"]
    for name in ("lower_bound", "n_iter", "converged", "final_lower_bound", "best_restart"):
        assert name in stats.data_vars
    assert stats["lower_bound"].dims == ("restart", "iteration")


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_posterior_holds_full_matrices_of_the_fit(fits, cov_type):
    est, tree = fits[cov_type]
    post = tree["posterior"]
    np.testing.assert_array_equal(post["weights"].values[0, 0], est.weights_)
    np.testing.assert_array_equal(post["means"].values[0, 0], est.means_)
    full = post["covariances"].values[0, 0]
    assert full.shape == (2, 2, 2)
    np.testing.assert_allclose(full, _expected_full(cov_type, est.covariances_, 2, 2), rtol=0, atol=0)
    np.testing.assert_array_equal(full, np.swapaxes(full, 1, 2))
    assert tree.attrs["covariance_type"] == cov_type


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_single_component_is_the_weighted_mean_and_covariance(X, cov_type):
    rng = np.random.default_rng(5)
    w = rng.uniform(0.1, 3.0, size=X.shape[0])
    reg = 1e-6
    tree = gmm_numba.fit(X, 1, covariance_type=cov_type, sample_weight=w, reg_covar=reg, random_state=0)
    post = tree["posterior"]
    np.testing.assert_allclose(post["weights"].values, [[[1.0]]])
    np.testing.assert_allclose(post["means"].values[0, 0, 0], np.average(X, axis=0, weights=w), rtol=1e-12)
    cov = np.cov(X.T, aweights=w, bias=True)
    expected = {
        "full": cov,
        "tied": cov,
        "diag": np.diag(np.diag(cov)),
        "spherical": np.mean(np.diag(cov)) * np.eye(2),
    }[cov_type] + reg * np.eye(2)
    np.testing.assert_allclose(post["covariances"].values[0, 0, 0], expected, rtol=1e-9)
    assert float(tree["criteria"]["n_samples"]) == pytest.approx(w.sum(), rel=1e-12)


def test_two_components_are_an_em_fixed_point(X):
    """Weights, means and covariances equal the M-step from the tree's own responsibilities."""
    tree = gmm_numba.fit(X, 2, tol=1e-12, max_iter=2000, reg_covar=0.0, random_state=1)
    est = GaussianMixture.from_xarray(tree)
    r = est.predict_proba(X)
    nk = r.sum(axis=0)
    post = tree["posterior"]
    np.testing.assert_allclose(post["weights"].values[0, 0], nk / nk.sum(), rtol=1e-7)
    for k in range(2):
        np.testing.assert_allclose(post["means"].values[0, 0, k], r[:, k] @ X / nk[k], rtol=1e-7)
        cov = np.cov(X.T, aweights=r[:, k], bias=True)
        np.testing.assert_allclose(post["covariances"].values[0, 0, k], cov, rtol=1e-6)


def test_sample_stats_traces_per_restart(X):
    est = GaussianMixture(3, n_init=4, init_params="random", tol=1e-6, max_iter=500, random_state=1).fit(X)
    stats = est.to_xarray()["sample_stats"]
    trace = stats["lower_bound"].values
    n_iter = stats["n_iter"].values
    assert trace.shape == (4, n_iter.max())
    assert len(set(n_iter)) > 1, "restarts should stop at different iterations for this test to bite"
    np.testing.assert_array_equal(stats["iteration"].values, np.arange(1, n_iter.max() + 1))
    for r in range(4):
        assert np.all(np.isfinite(trace[r, : n_iter[r]]))
        assert np.all(np.isnan(trace[r, n_iter[r] :]))
        assert stats["final_lower_bound"].values[r] == trace[r, n_iter[r] - 1]
        assert np.all(np.diff(trace[r, : n_iter[r]]) > -1e-9)  # EM never goes down
    best = int(stats["best_restart"])
    assert best == int(np.argmax(stats["final_lower_bound"].values))
    assert n_iter[best] == est.n_iter_
    assert bool(stats["converged"].values[best]) == est.converged_
    np.testing.assert_array_equal(trace[best, : n_iter[best]], est.lower_bounds_)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_criteria_match_independent_computation(fits, X, cov_type):
    est, tree = fits[cov_type]
    crit = tree["criteria"]
    n, d = X.shape
    log_density = est.score_samples(X)
    ll = log_density.sum()
    p = _n_parameters(cov_type, 2, d)
    assert int(crit["n_parameters"]) == p
    assert float(crit["n_samples"]) == n
    assert float(crit["log_likelihood"]) == pytest.approx(ll, rel=1e-10)
    assert float(crit["bic"]) == pytest.approx(-2 * ll + p * np.log(n), rel=1e-10)
    assert float(crit["aic"]) == pytest.approx(-2 * ll + 2 * p, rel=1e-10)
    assert float(crit["bic"]) == pytest.approx(est.bic(X), rel=1e-10)
    entropy = np.log(est.predict_proba(X).max(axis=1)).sum()
    assert float(crit["icl"]) == pytest.approx(-2 * ll + p * np.log(n) - 2 * entropy, rel=1e-10)


def test_root_attributes_are_strings_and_numbers(fits):
    est, tree = fits["diag"]
    attrs = tree.attrs
    for key, value in attrs.items():
        assert isinstance(value, (str, int, float, np.integer, np.floating)), key
        assert not isinstance(value, (bool, np.bool_)), key
    assert attrs["covariance_type"] == "diag"
    assert attrs["gmm_numba_version"] == gmm_numba.__version__
    for name in ("tol", "reg_covar", "max_iter", "n_init", "init_params", "random_state"):
        assert attrs[name] == getattr(est, name), name
    created = datetime.datetime.fromisoformat(attrs["created"])
    assert abs((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds()) < 3600


@pytest.mark.parametrize("seed", [None, "generator"])
def test_unstorable_random_states_become_strings(X, seed, tmp_path):
    random_state = np.random.default_rng(0) if seed == "generator" else None
    tree = gmm_numba.fit(X, 1, random_state=random_state)
    assert isinstance(tree.attrs["random_state"], str)
    tree.to_netcdf(tmp_path / "r.nc")
    assert GaussianMixture.from_xarray(gmm_numba.load(tmp_path / "r.nc")).random_state is None


def test_feature_coordinates(fits, frame, X):
    assert list(fits["full"][1]["posterior"]["feature"].values) == ["x0", "x1"]
    assert fits["full"][1].attrs["named_features"] == 0
    named = gmm_numba.fit(frame, 1)
    assert list(named["posterior"]["feature"].values) == ["eruptions", "waiting"]
    assert list(named["posterior"]["feature_bis"].values) == ["eruptions", "waiting"]
    assert named.attrs["named_features"] == 1


def test_components_in_a_deterministic_order():
    rng = np.random.default_rng(7)
    centres = np.array([[6.0, 1.0], [-6.0, 2.0], [0.0, -3.0]])
    X = np.vstack([rng.normal(c, 1.0, size=(100, 2)) for c in centres])
    means = []
    for seed in range(4):
        tree = gmm_numba.fit(X, 3, random_state=seed, n_init=2)
        m = tree["posterior"]["means"].values[0, 0]
        assert np.all(np.diff(m[:, 0]) > 0), "components are listed by their first feature"
        means.append(m)
    for m in means[1:]:
        np.testing.assert_allclose(m, means[0], rtol=1e-3)


def test_optional_groups(frame, X):
    tree = gmm_numba.fit(frame, 2, random_state=0, observed_data=True, log_likelihood=True)
    obs = tree["observed_data"]["X"]
    assert obs.dims == ("sample", "feature")
    np.testing.assert_array_equal(obs.values, X)
    np.testing.assert_array_equal(obs["sample"].values, frame.index.to_numpy())
    assert list(obs["feature"].values) == ["eruptions", "waiting"]
    ll = tree["log_likelihood"]["X"]
    assert ll.dims == ("chain", "draw", "sample")
    est = GaussianMixture(2, random_state=0).fit(frame)
    np.testing.assert_allclose(ll.values[0, 0], est.score_samples(frame), rtol=1e-12)
    np.testing.assert_array_equal(ll["sample"].values, frame.index.to_numpy())


def test_to_xarray_matches_fit(fits, X):
    est, tree = fits["tied"]
    other = est.to_xarray()
    for group in ("posterior", "sample_stats", "criteria"):
        assert other[group].identical(tree[group]), group
    with_data = est.to_xarray(X, observed_data=True)
    np.testing.assert_array_equal(with_data["observed_data"]["X"].values, X)
    with pytest.raises(ValueError, match="need the data"):
        est.to_xarray(observed_data=True)


def test_point_parameters_are_the_estimator_parameters(fits):
    est, tree = fits["spherical"]
    params = point_parameters(tree)
    np.testing.assert_array_equal(params.covariances, est.covariances_)
    np.testing.assert_array_equal(params.means, est.means_)


# --------------------------------------------------------------- round trip
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_netcdf_round_trip_gives_an_equal_tree_and_estimator(fits, X, cov_type, tmp_path):
    est, _ = fits[cov_type]
    tree = est.to_xarray(X, observed_data=True, log_likelihood=True)
    path = tmp_path / f"{cov_type}.nc"
    tree.to_netcdf(path)
    loaded = gmm_numba.load(path)
    assert loaded.identical(tree)
    back = GaussianMixture.from_xarray(loaded)
    assert back.covariance_type == cov_type
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(est, name), err_msg=name)
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    np.testing.assert_array_equal(back.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(back.score_samples(X), est.score_samples(X))
    Xs, ys = back.sample(50)
    Xo, yo = est.sample(50)
    np.testing.assert_array_equal(Xs, Xo)
    np.testing.assert_array_equal(ys, yo)
    assert back.bic(X) == est.bic(X)
    assert back.aic(X) == est.aic(X)
    assert back.n_iter_ == est.n_iter_ and back.converged_ == est.converged_
    assert back.lower_bounds_ == est.lower_bounds_


def test_round_trip_keeps_feature_names(frame, tmp_path):
    est = GaussianMixture(2, random_state=0).fit(frame)
    est.to_xarray().to_netcdf(tmp_path / "named.nc")
    back = GaussianMixture.from_xarray(gmm_numba.load(tmp_path / "named.nc"))
    assert list(back.feature_names_in_) == ["eruptions", "waiting"]
    np.testing.assert_array_equal(back.predict(frame), est.predict(frame))
    with pytest.raises(ValueError, match="feature names"):
        back.predict(frame[["waiting", "eruptions"]])


def test_load_returns_an_in_memory_tree(fits, tmp_path):
    path = tmp_path / "closed.nc"
    fits["full"][1].to_netcdf(path)
    loaded = gmm_numba.load(path)
    os.remove(path)  # the file is closed and nothing is read lazily
    assert float(loaded["posterior"]["weights"].sum()) == pytest.approx(1.0)


# ------------------------------------------------------------ refused files
@pytest.fixture
def saved(fits, tmp_path):
    """A valid saved result (full covariances) and its path."""
    path = tmp_path / "valid.nc"
    fits["full"][1].to_netcdf(path)
    return path


def _edit(path, group, name, change):
    """Change a variable inside the netCDF file itself."""
    with netCDF4.Dataset(path, "r+") as nc:
        var = nc.groups[group].variables[name]
        var[...] = change(np.array(var[...]))


def _refused(path, *fragments):
    pattern = "".join(f"(?=[\\s\\S]*{re.escape(f)})" for f in fragments)
    with pytest.raises(ValueError, match=pattern):
        gmm_numba.load(path)


def test_valid_file_loads(saved):
    check_tree(gmm_numba.load(saved))


def test_foreign_netcdf_is_refused(tmp_path):
    path = tmp_path / "foreign.nc"
    xr.Dataset({"weights": ("component", [0.5, 0.5])}, attrs={"title": "x"}).to_netcdf(path)
    _refused(path, "Not a valid gmm_numba result", "format")


def test_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    _refused(saved, "Could not read", "netCDF")


def test_text_file_named_nc_is_refused(tmp_path):
    path = tmp_path / "notes.nc"
    path.write_text("weights,means\n0.5,1\n")
    _refused(path, "Could not read", "netCDF")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.nc"):
        gmm_numba.load(tmp_path / "missing.nc")


def test_weights_not_summing_to_one_are_refused(saved):
    _edit(saved, "posterior", "weights", lambda w: w * 1.1)
    _refused(saved, "weights", "sum to 1")


def test_negative_weight_is_refused(saved):
    _edit(saved, "posterior", "weights", lambda w: w * np.array([-1.0, 3.0]) / (3 * w[..., 1] - w[..., 0])[..., None])
    _refused(saved, "weights", "negative")


def test_non_symmetric_covariance_is_refused(saved):
    def skew(c):
        c[0, 0, 1, 0, 1] += 0.5
        return c

    _edit(saved, "posterior", "covariances", skew)
    _refused(saved, "covariances", "not symmetric")


def test_negative_definite_covariance_is_refused(saved):
    def negate(c):
        c[0, 0, 1] = -c[0, 0, 1]
        return c

    _edit(saved, "posterior", "covariances", negate)
    _refused(saved, "covariances", "not positive definite")


def test_indefinite_covariance_is_refused(saved):
    def indefinite(c):
        c[0, 0, 0] = [[1.0, 2.0], [2.0, 1.0]]  # eigenvalues 3 and -1
        return c

    _edit(saved, "posterior", "covariances", indefinite)
    _refused(saved, "not positive definite")


def test_non_finite_means_are_refused(saved):
    def poison(m):
        m[0, 0, 1, 0] = np.nan
        return m

    _edit(saved, "posterior", "means", poison)
    _refused(saved, "means", "non-finite")


def test_wrong_dimensions_are_refused(fits, tmp_path):
    tree = fits["full"][1].copy()
    post = tree["posterior"].to_dataset()
    post["means"] = post["means"].transpose("chain", "draw", "feature", "component")
    tree["posterior"] = xr.DataTree(post)
    path = tmp_path / "dims.nc"
    tree.to_netcdf(path)
    _refused(path, "posterior.means has dimensions")


def test_missing_posterior_is_refused(fits, tmp_path):
    tree = fits["full"][1].copy()
    del tree["posterior"]
    path = tmp_path / "noposterior.nc"
    tree.to_netcdf(path)
    _refused(path, "no 'posterior' group")


def test_covariance_of_the_wrong_model_is_refused(fits, tmp_path):
    """A 'diag' result whose covariances gained off-diagonal entries."""
    tree = fits["diag"][1].copy()
    path = tmp_path / "diag.nc"
    tree.to_netcdf(path)

    def correlate(c):
        c[0, 0, 0, 0, 1] = c[0, 0, 0, 1, 0] = 0.1 * np.sqrt(c[0, 0, 0, 0, 0] * c[0, 0, 0, 1, 1])
        return c

    _edit(path, "posterior", "covariances", correlate)
    _refused(path, "not of the 'diag' form")


def test_unknown_covariance_model_and_newer_format_are_refused(fits, tmp_path):
    for attrs, fragment in (
        ({"covariance_type": "banana"}, "banana"),
        ({"format_version": 99}, "newer"),
        ({"format_version": "one"}, "format_version"),
        ({"n_components": 5}, "n_components"),
    ):
        tree = fits["full"][1].copy()
        tree.attrs = dict(tree.attrs, **attrs)
        path = tmp_path / "attrs.nc"
        tree.to_netcdf(path)
        _refused(path, fragment)


def test_mismatched_feature_coordinates_are_refused(fits, tmp_path):
    tree = fits["full"][1].copy()
    tree["posterior"] = xr.DataTree(tree["posterior"].to_dataset().assign_coords(feature_bis=["p", "q"]))
    path = tmp_path / "bis.nc"
    tree.to_netcdf(path)
    _refused(path, "feature_bis")


def test_out_of_range_best_restart_is_refused(saved):
    _edit(saved, "sample_stats", "best_restart", lambda b: b + 7)
    _refused(saved, "best_restart")


def test_in_memory_checks(fits):
    tree = fits["full"][1].copy()
    with pytest.raises(TypeError, match="DataTree"):
        check_tree(tree["posterior"].to_dataset())
    post = tree["posterior"].to_dataset()
    post["weights"] = post["weights"] * 0.5
    tree["posterior"] = xr.DataTree(post)
    with pytest.raises(ValueError, match="sum to 1"):
        GaussianMixture.from_xarray(tree)


def test_no_pickle_or_eval_in_the_package():
    pattern = re.compile(
        r"\b(import|from)\s+(c?pickle|dill|shelve|marshal)\b|\bpickle\.|allow_pickle\s*=\s*True|\b(eval|exec)\s*\("
    )
    offenders = []
    for root, _, files in os.walk(PACKAGE_DIR):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, 1):
                        if pattern.search(line):
                            offenders.append(f"{path}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


# ---------------------------------------------------------------- summaries
def test_summary_of_a_point_estimate(frame):
    tree = gmm_numba.fit(frame, 2, random_state=0)
    table = gmm_numba.summary(tree)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["mean"]
    post = tree["posterior"]
    assert len(table) == 2 + 2 * 2 + 2 * 3
    assert table.loc["weights[0]", "mean"] == float(post["weights"][0, 0, 0])
    assert table.loc["means[1, waiting]", "mean"] == float(post["means"][0, 0, 1, 1])
    assert table.loc["covariances[0, eruptions, waiting]", "mean"] == float(post["covariances"][0, 0, 0, 0, 1])
    assert "covariances[0, waiting, eruptions]" not in table.index
    assert list(gmm_numba.summary(tree, var_names=["weights"]).index) == ["weights[0]", "weights[1]"]
    with pytest.raises(ValueError, match="var_names"):
        gmm_numba.summary(tree, var_names=["weight"])


@pytest.mark.parametrize(
    "covariance_type, rows",
    [
        ("tied", ["covariances[:, eruptions, eruptions]", "covariances[:, eruptions, waiting]",
                  "covariances[:, waiting, waiting]"]),
        ("diag", [f"covariances[{k}, {f}, {f}]" for k in range(2) for f in ("eruptions", "waiting")]),
        ("spherical", [f"covariances[{k}, {f}, {f}]" for k in range(2) for f in ("eruptions", "waiting")]),
    ],
)
def test_summary_lists_a_tied_covariance_once_and_no_zero_entries(frame, covariance_type, rows):
    tree = gmm_numba.fit(frame, 2, covariance_type=covariance_type, random_state=0)
    table = gmm_numba.summary(tree, var_names="covariances")
    assert list(table.index) == rows
    full = tree["posterior"]["covariances"].values[0, 0]
    expected = full[0, 0, 1] if covariance_type == "tied" else full[0, 1, 1]
    assert table.loc[rows[1], "mean"] == expected


def test_describe(frame):
    tree = gmm_numba.fit(frame, 2, random_state=0)
    text = gmm_numba.describe(tree)
    assert "2 components" in text and "'full'" in text
    assert f"{float(tree['criteria']['bic']):.6g}" in text
    assert "eruptions" in text and "waiting" in text
