"""Labeled input (NumPy, DataFrame, DataArray, Dataset), the ``.gmm`` accessor and labeled predictions."""

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gmm_numba
from gmm_numba import GaussianMixture
from gmm_numba.data.labeled import as_labeled
from gmm_numba.datasets import load_faithful

FEATURES = ["eruptions", "waiting"]


@pytest.fixture(scope="module")
def X():
    return np.ascontiguousarray(load_faithful().to_numpy(dtype=np.float64))


@pytest.fixture(scope="module")
def times(X):
    return pd.date_range("2024-01-01", periods=X.shape[0], freq="h")


@pytest.fixture(scope="module")
def da(X, times):
    """Features first, samples second: the sample dimension must be named."""
    return xr.DataArray(X.T, dims=("variable", "time"), coords={"variable": FEATURES, "time": times})


@pytest.fixture(scope="module")
def ds(X, times):
    return xr.Dataset({name: ("time", X[:, i]) for i, name in enumerate(FEATURES)}, coords={"time": times})


@pytest.fixture(scope="module")
def reference(X):
    """The fit on the plain array, which every labeled fit must reproduce."""
    return GaussianMixture(2, random_state=0).fit(X)


@pytest.fixture(scope="module")
def result(da):
    return da.gmm.fit(2, sample_dim="time", random_state=0)


# ---------------------------------------------------------------- as_labeled
def test_numpy_gets_generated_names(X):
    lab = as_labeled(X)
    assert lab.feature_names == ["x0", "x1"] and not lab.named and not lab.xarray
    assert lab.sample_coord is None


def test_dataframe_columns_and_index(X):
    df = pd.DataFrame(X, columns=FEATURES, index=np.arange(X.shape[0]) + 100)
    lab = as_labeled(df)
    assert lab.feature_names == FEATURES and lab.named and not lab.xarray
    np.testing.assert_array_equal(lab.sample_coord, np.arange(X.shape[0]) + 100)


def test_dataframe_with_non_string_columns_is_not_named(X):
    """As scikit-learn: integer column labels are not feature names."""
    lab = as_labeled(pd.DataFrame(X))
    assert lab.feature_names == ["0", "1"]
    assert not lab.named


def test_dataarray_is_transposed_to_samples_first(da, X, times):
    lab = as_labeled(da, "time")
    np.testing.assert_array_equal(np.asarray(lab.values), X)
    assert lab.feature_names == FEATURES and lab.named and lab.xarray
    assert lab.sample_dim == "time"
    np.testing.assert_array_equal(lab.sample_coord, times.values)


def test_dataarray_defaults(X):
    plain = xr.DataArray(X, dims=("obs", "var"))
    lab = as_labeled(plain)
    assert lab.sample_dim == "obs"
    assert lab.feature_names == ["x0", "x1"] and not lab.named
    assert lab.sample_coord is None
    lab = as_labeled(xr.DataArray(X.T, dims=("var", "sample")))
    assert lab.sample_dim == "sample"
    np.testing.assert_array_equal(np.asarray(lab.values), X)


def test_dataset_variables_are_features(ds, X, times):
    lab = as_labeled(ds)
    np.testing.assert_array_equal(lab.values, X)
    assert lab.feature_names == FEATURES and lab.named
    assert lab.sample_dim == "time"
    np.testing.assert_array_equal(lab.sample_coord, times.values)


@pytest.mark.parametrize(
    "make, sample_dim, message",
    [
        (lambda X: xr.DataArray(X[:, :, None], dims=("a", "b", "c")), None, "must be 2-D"),
        (lambda X: xr.DataArray(X, dims=("a", "b")), "time", "not a dimension"),
        (lambda X: xr.Dataset(), None, "no data variables"),
        (lambda X: xr.Dataset({"a": ("t", X[:, 0]), "b": ("u", X[:, 1])}), None, "same sample dimension"),
        (lambda X: xr.Dataset({"a": (("t", "u"), X)}), None, "1-D"),
        (lambda X: xr.Dataset({"a": ("t", X[:, 0])}), "time", "not the Dataset's dimension"),
    ],
)
def test_bad_labeled_input(X, make, sample_dim, message):
    with pytest.raises(ValueError, match=message):
        as_labeled(make(X), sample_dim)


# ---------------------------------------------------------------------- fit
def _same_fit(tree, estimator):
    post = tree["posterior"]
    np.testing.assert_allclose(post["weights"].values[0, 0], estimator.weights_, rtol=1e-12)
    np.testing.assert_allclose(post["means"].values[0, 0], estimator.means_, rtol=1e-12)
    np.testing.assert_allclose(post["covariances"].values[0, 0], estimator.covariances_, rtol=1e-12)


def test_every_input_kind_gives_the_same_fit(X, da, ds, reference):
    inputs = {
        "numpy": (X, None, ["x0", "x1"]),
        "dataframe": (pd.DataFrame(X, columns=FEATURES), None, FEATURES),
        "dataarray": (da, "time", FEATURES),
        "dataset": (ds, None, FEATURES),
    }
    for kind, (data, sample_dim, names) in inputs.items():
        tree = gmm_numba.fit(data, 2, sample_dim=sample_dim, random_state=0)
        _same_fit(tree, reference)
        assert list(tree["posterior"]["feature"].values) == names, kind


def test_accessors_fit_like_the_function(da, ds, result, reference):
    _same_fit(result, reference)
    assert list(result["posterior"]["feature"].values) == FEATURES
    from_ds = ds.gmm.fit(2, random_state=0, covariance_type="diag")
    direct = gmm_numba.fit(ds, 2, random_state=0, covariance_type="diag")
    assert from_ds["posterior"].identical(direct["posterior"])
    assert from_ds.attrs["covariance_type"] == "diag"


def test_observed_data_keeps_the_sample_coordinate(da, X, times):
    tree = da.gmm.fit(2, sample_dim="time", random_state=0, observed_data=True, log_likelihood=True)
    obs = tree["observed_data"]["X"]
    assert obs.dims == ("time", "feature")
    np.testing.assert_array_equal(obs["time"].values, times.values)
    np.testing.assert_array_equal(obs.values, X)
    assert tree["log_likelihood"]["X"].dims == ("chain", "draw", "time")
    np.testing.assert_array_equal(tree["log_likelihood"]["time"].values, times.values)


def test_to_xarray_with_a_dataarray(da, times, reference):
    tree = reference.to_xarray(da, sample_dim="time", observed_data=True)
    np.testing.assert_array_equal(tree["observed_data"]["time"].values, times.values)
    assert list(tree["posterior"]["feature"].values) == FEATURES


def test_labeled_result_round_trips_through_netcdf(da, tmp_path):
    tree = da.gmm.fit(2, sample_dim="time", random_state=0, observed_data=True, log_likelihood=True)
    tree.to_netcdf(tmp_path / "labeled.nc")
    loaded = gmm_numba.load(tmp_path / "labeled.nc")
    assert loaded.identical(tree)
    assert loaded["observed_data"]["time"].dtype.kind == "M"


# ---------------------------------------------------------------- predictions
def test_predictions_on_a_dataarray_are_labeled(da, result, reference, X, times):
    labels = da.gmm.predict(result, sample_dim="time")
    assert isinstance(labels, xr.DataArray)
    assert labels.dims == ("time",)
    np.testing.assert_array_equal(labels["time"].values, times.values)
    np.testing.assert_array_equal(labels.values, reference.predict(X))

    proba = da.gmm.predict_proba(result, sample_dim="time")
    assert proba.dims == ("time", "component")
    np.testing.assert_array_equal(proba["component"].values, [0, 1])
    np.testing.assert_allclose(proba.values, reference.predict_proba(X), rtol=1e-12)
    np.testing.assert_allclose(proba.sum("component").values, 1.0)

    dens = da.gmm.score_samples(result, sample_dim="time")
    assert dens.dims == ("time",)
    np.testing.assert_allclose(dens.values, reference.score_samples(X), rtol=1e-12)


def test_predictions_on_a_dataset_are_labeled(ds, result, reference, X, times):
    subset = ds.isel(time=slice(10, 40))
    labels = subset.gmm.predict(result)
    np.testing.assert_array_equal(labels["time"].values, times.values[10:40])
    np.testing.assert_array_equal(labels.values, reference.predict(X[10:40]))
    dens = subset.gmm.score_samples(result)
    np.testing.assert_allclose(dens.values, reference.score_samples(X[10:40]), rtol=1e-12)


def test_predictions_without_sample_coordinate(X, reference):
    plain = xr.DataArray(X, dims=("obs", "var"))
    tree = plain.gmm.fit(2, random_state=0)
    labels = plain.gmm.predict(tree)
    assert labels.dims == ("obs",) and "obs" not in labels.coords
    np.testing.assert_array_equal(labels.values, reference.predict(X))


def test_predictions_with_a_loaded_result(da, result, tmp_path):
    result.to_netcdf(tmp_path / "r.nc")
    loaded = gmm_numba.load(tmp_path / "r.nc")
    assert da.gmm.predict_proba(loaded, sample_dim="time").identical(da.gmm.predict_proba(result, sample_dim="time"))


def test_predictions_refuse_other_features(da, ds, result):
    renamed = da.assign_coords(variable=["duration", "waiting"])
    with pytest.raises(ValueError, match="differ from the fitted ones"):
        renamed.gmm.predict(result, sample_dim="time")
    with pytest.raises(ValueError, match="differ from the fitted ones"):
        ds[["waiting", "eruptions"]].gmm.predict(result)
    with pytest.raises(ValueError, match="feature"):
        ds[["waiting"]].gmm.predict(result)


def test_results_from_dataframes_predict_on_xarray(X, da, times):
    tree = gmm_numba.fit(pd.DataFrame(X, columns=FEATURES), 2, random_state=0)
    labels = da.gmm.predict(tree, sample_dim="time")
    np.testing.assert_array_equal(labels["time"].values, times.values)


def test_unnamed_results_accept_any_feature_labels(X, da, reference):
    tree = gmm_numba.fit(X, 2, random_state=0)
    np.testing.assert_array_equal(da.gmm.predict(tree, sample_dim="time").values, reference.predict(X))


def test_integer_columns_round_trip_like_the_estimator(X, tmp_path):
    """A DataFrame with integer column labels: the loaded estimator behaves as the original."""
    df = pd.DataFrame(X)
    original = GaussianMixture(2, random_state=0).fit(df)
    tree = gmm_numba.fit(df, 2, random_state=0)
    tree.to_netcdf(tmp_path / "int.nc")
    loaded = GaussianMixture.from_xarray(gmm_numba.load(tmp_path / "int.nc"))
    assert hasattr(loaded, "feature_names_in_") == hasattr(original, "feature_names_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(loaded.predict(df), original.predict(df))


def test_named_dataframe_result_restores_feature_names(X, tmp_path):
    df = pd.DataFrame(X, columns=FEATURES)
    original = GaussianMixture(2, random_state=0).fit(df)
    loaded = GaussianMixture.from_xarray(gmm_numba.fit(df, 2, random_state=0))
    np.testing.assert_array_equal(loaded.feature_names_in_, original.feature_names_in_)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(loaded.predict(df), original.predict(df))


def test_to_xarray_refuses_data_with_other_features(X):
    est = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=FEATURES))
    swapped = xr.DataArray(X[:, ::-1], dims=("obs", "var"), coords={"var": FEATURES[::-1]})
    with pytest.raises(ValueError, match="differ from the fitted ones"):
        est.to_xarray(swapped)
    with pytest.raises(ValueError, match="features"):
        est.to_xarray(np.column_stack([X, X[:, 0]]))
    tree = est.to_xarray(xr.DataArray(X, dims=("obs", "var"), coords={"var": FEATURES}))
    assert list(tree["posterior"]["feature"].values) == FEATURES
