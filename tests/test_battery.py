"""Regressions found by an adversarial battery of bad and extreme inputs against every entry point.

Each test pins one defect the battery found: a crash with a foreign
message, a silent NaN, or a tampered result accepted.
"""

import re

import numpy as np
import pytest
import xarray as xr

import gmm_numba
from gmm_numba import GaussianMixture, NumericalError, plotting
from gmm_numba.cli import main as cli_main


def _data(n=20, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 1, size=(n // 2, d)), rng.normal(5, 1, size=(n - n // 2, d))])


def _raises(exc, *fragments):
    """``pytest.raises`` that also requires every fragment, literally, in the message."""
    pattern = "".join(f"(?=[\\s\\S]*{re.escape(f)})" for f in fragments)
    return pytest.raises(exc, match=pattern)


@pytest.fixture(scope="module")
def X():
    return _data()


@pytest.fixture(scope="module")
def fitted(X):
    return GaussianMixture(2, random_state=0).fit(X)


@pytest.fixture()
def tree(X):
    return gmm_numba.fit(X, 2, random_state=0)


# ------------------------------------------------------- hyper-parameters
@pytest.mark.parametrize("name", ["tol", "reg_covar"])
def test_float_parameter_beyond_float_range(X, name):
    with _raises(ValueError, f"{name} must be finite", "100000000000000000000000000000000000"):
        GaussianMixture(2, **{name: 10**400}).fit(X)


# ---------------------------------------------------------- sample weights
@pytest.mark.parametrize(
    "weights, fragments",
    [
        (np.full(20, 1e308), ["sample_weight sums to infinity", "scale the weights down"]),
        (np.full(20, 5e-324), ["sample_weight is too small", "scale the weights up"]),
        (np.full(20, 1e-200), ["largest weight 1e-200"]),
    ],
    ids=["overflowing-sum", "subnormal", "tiny"],
)
@pytest.mark.parametrize("entry", ["estimator", "fit", "select", "bootstrap"])
def test_sample_weight_scale(X, fitted, weights, fragments, entry):
    calls = {
        "estimator": lambda: GaussianMixture(2, random_state=0).fit(X, sample_weight=weights),
        "fit": lambda: gmm_numba.fit(X, 2, sample_weight=weights),
        "select": lambda: gmm_numba.select(X, [1, 2], "full", n_init=1, sample_weight=weights),
        "bootstrap": lambda: gmm_numba.bootstrap(fitted, X, n_draws=2, sample_weight=weights),
    }
    with _raises(ValueError, *fragments):
        calls[entry]()


def test_rescaled_small_weights_still_fit(X):
    weights = np.random.default_rng(1).uniform(0.5, 2.0, size=len(X))
    a = GaussianMixture(2, random_state=0).fit(X, sample_weight=weights)
    b = GaussianMixture(2, random_state=0).fit(X, sample_weight=weights * 1e-100)
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-8)


# ---------------------------------------------------------------------- X
@pytest.mark.parametrize("method", ["fit", "predict"])
def test_dataset_given_to_the_estimator(X, fitted, method):
    ds = xr.Dataset({"a": ("s", X[:, 0]), "b": ("s", X[:, 1])})
    target = GaussianMixture(2) if method == "fit" else fitted
    with _raises(TypeError, "X is an xarray.Dataset", "gmm_numba.fit(X)"):
        getattr(target, method)(ds)


@pytest.mark.parametrize("entry", ["fit", "select", "bootstrap", "plot_classification"])
def test_ragged_rows_in_functional_entry_points(fitted, entry):
    ragged = [[1.0, 2.0], [3.0]] * 10
    calls = {
        "fit": lambda: gmm_numba.fit(ragged, 2),
        "select": lambda: gmm_numba.select(ragged, [1, 2]),
        "bootstrap": lambda: gmm_numba.bootstrap(fitted, ragged, n_draws=2),
        "plot_classification": lambda: plotting.plot_classification(fitted.to_xarray(), ragged),
    }
    with _raises(ValueError, "X could not be read as a 2D array", "different lengths"):
        calls[entry]()


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic"])
@pytest.mark.parametrize("scale", [1e200, 1e300])
def test_samples_beyond_floating_point_from_the_model(X, fitted, method, scale):
    """Their log-density underflows to -inf: an error, not NaN probabilities or arbitrary labels."""
    far = X * scale
    far[:5] = X[:5]
    with _raises(NumericalError, "15 row(s) (first: row 5)", "log-density is -inf", "units and scaling"):
        getattr(fitted, method)(far)


def test_far_samples_in_labeled_outputs(X, fitted, tree):
    da = xr.DataArray(X * 1e300, dims=("sample", "feature"))
    with _raises(NumericalError, "log-density is -inf"):
        da.gmm.predict(tree)
    with _raises(NumericalError, "log-density is -inf"):
        fitted.to_xarray(X * 1e300, log_likelihood=True)


# ----------------------------------------------------------------- callback
def test_callback_returning_an_array(X):
    with _raises(TypeError, "callback returned array([ True, False])", "return True to stop"):
        GaussianMixture(2, random_state=0, callback=lambda *a: np.array([True, False])).fit(X)


def test_callback_taking_no_arguments(X):
    with _raises(TypeError, "callback must accept three positional arguments", "signature ()"):
        GaussianMixture(2, callback=lambda: None).fit(X)


# ------------------------------------------------------------ result trees
def _set_attr(name, value):
    def mutate(tree):
        tree.attrs[name] = value

    return mutate


def _set_stats(name, change):
    def mutate(tree):
        ds = tree["sample_stats"].to_dataset()
        ds[name] = (ds[name].dims, change(ds[name].values.copy()))
        tree["sample_stats"] = ds

    return mutate


def _scale_covariances(tree):
    ds = tree["posterior"].to_dataset()
    ds["covariances"] = ds["covariances"] * 1e-320
    tree["posterior"] = ds


def _nan_criteria(tree):
    tree["criteria"] = tree["criteria"].to_dataset() * np.nan


TAMPERED = {
    "named_features-str": (_set_attr("named_features", "yes"), "named_features='yes' is not 0 or 1"),
    "n_components-str": (_set_attr("n_components", "2"), "n_components='2' does not match"),
    "tol-str": (_set_attr("tol", "abc"), "tol='abc' is not a number"),
    "max_iter-str": (_set_attr("max_iter", "abc"), "max_iter='abc' is not an integer"),
    "max_iter-float": (_set_attr("max_iter", 2.5), "max_iter=2.5 is not an integer"),
    "reg_covar-str": (_set_attr("reg_covar", "lots"), "reg_covar='lots' is not a number"),
    "tol-negative": (_set_attr("tol", -1.0), "recorded settings are invalid: tol=-1.0 is out of range"),
    "n_init-zero": (_set_attr("n_init", 0), "recorded settings are invalid: n_init=0 is out of range"),
    "init_params-unknown": (_set_attr("init_params", "evil"), "init_params='evil' is not valid"),
    "n_iter-negative": (_set_stats("n_iter", lambda a: a - 1000), "sample_stats.n_iter"),
    "n_iter-too-long": (_set_stats("n_iter", lambda a: a + 1000), "sample_stats.n_iter"),
    "lower_bound-nan": (_set_stats("lower_bound", lambda a: a * np.nan), "sample_stats.lower_bound"),
    "criteria-nan": (_nan_criteria, "criteria.log_likelihood holds non-finite"),
    "covariances-subnormal": (_scale_covariances, "too close to singular"),
}


@pytest.mark.parametrize("case", list(TAMPERED))
@pytest.mark.parametrize("entry", ["from_xarray", "load", "summary", "describe", "bootstrap"])
def test_tampered_result_is_refused(X, tree, tmp_path, case, entry):
    mutate, fragment = TAMPERED[case]
    mutate(tree)
    if entry == "load":
        path = tmp_path / "tampered.nc"
        tree.to_netcdf(path)
        call = lambda: gmm_numba.load(path)  # noqa: E731
    else:
        call = {
            "from_xarray": lambda: GaussianMixture.from_xarray(tree),
            "summary": lambda: gmm_numba.summary(tree),
            "describe": lambda: gmm_numba.describe(tree),
            "bootstrap": lambda: gmm_numba.bootstrap(tree, X, n_draws=2),
        }[entry]
    with _raises(ValueError, "Not a valid gmm_numba result", fragment):
        call()


def test_selection_result_round_trips_into_an_estimator(X, tmp_path):
    """select() records init_params="mixed", which the estimator does not take."""
    result = gmm_numba.select(X, [1, 2], "full", n_init=2, random_state=0)
    result.to_netcdf(tmp_path / "sel.nc")
    estimator = GaussianMixture.from_xarray(gmm_numba.load(tmp_path / "sel.nc"))
    assert estimator.init_params == "k-means++"
    estimator.set_params(warm_start=True).fit(X)


@pytest.mark.parametrize(
    "obj",
    [None, 3, "model.nc", xr.Dataset({"a": ("x", [1.0])}), {"posterior": 1}, GaussianMixture(2)],
    ids=["None", "int", "str", "Dataset", "dict", "estimator"],
)
@pytest.mark.parametrize("entry", ["summary", "describe", "to_inference_data", "plot_criterion"])
def test_summaries_of_something_else(obj, entry):
    call = {
        "summary": gmm_numba.summary,
        "describe": gmm_numba.describe,
        "to_inference_data": gmm_numba.to_inference_data,
        "plot_criterion": plotting.plot_criterion,
    }[entry]
    with _raises(TypeError, "expected an xarray.DataTree (a gmm_numba result)"):
        call(obj)


@pytest.mark.parametrize("entry", ["summary", "describe", "to_inference_data"])
def test_summaries_of_an_empty_tree(entry):
    with _raises(ValueError, "Not a valid gmm_numba result"):
        getattr(gmm_numba, entry)(xr.DataTree())


def test_summary_of_nan_weights_is_refused(tree):
    ds = tree["posterior"].to_dataset()
    ds["weights"] = ds["weights"] * np.nan
    tree["posterior"] = ds
    with _raises(ValueError, "posterior.weights holds non-finite"):
        gmm_numba.summary(tree)


def test_summary_arguments(tree):
    assert list(gmm_numba.summary(tree, var_names="weights").index) == ["weights[0]", "weights[1]"]
    with _raises(TypeError, "var_names must be a list of parameter names", "None"):
        gmm_numba.summary(tree, var_names=None)
    with _raises(TypeError, "prob must be a real number", "'0.9'"):
        gmm_numba.summary(tree, prob="0.9")


@pytest.mark.parametrize("fitted_value", [None, "model.nc", xr.Dataset()], ids=["None", "str", "Dataset"])
def test_bootstrap_of_something_else(X, fitted_value):
    with _raises(TypeError, "fitted must be a gmm_numba result", type(fitted_value).__name__):
        gmm_numba.bootstrap(fitted_value, X, n_draws=2)


# --------------------------------------------------------------------- load
def test_load_path_types(tree, tmp_path):
    path = tmp_path / "m.nc"
    tree.to_netcdf(path)
    assert gmm_numba.load(str(path).encode()).attrs["n_components"] == 2
    with _raises(TypeError, "path must be a str or path-like object", "NoneType"):
        gmm_numba.load(None)


# ----------------------------------------------------------------- plotting
def _selection(X):
    return gmm_numba.select(X, [1, 2], ["full", "diag"], n_init=2, random_state=0)


def test_plot_criterion_checks_the_criterion(X):
    pytest.importorskip("matplotlib")
    result = _selection(X)
    with _raises(ValueError, "criterion='BIC' is not valid", "'bic'"):
        plotting.plot_criterion(result, criterion="BIC")
    ds = result["selection"].to_dataset()
    ds["aic"] = ds["aic"] * np.nan
    result["selection"] = ds
    with _raises(ValueError, "no finite aic value to plot"):
        plotting.plot_criterion(result, criterion="aic")


@pytest.mark.parametrize(
    "kwargs, exc, fragments",
    [
        ({"features": (0, 1.5)}, TypeError, ["features: 1.5 is neither a feature name nor an integer index"]),
        ({"features": (None, 1)}, TypeError, ["features: None"]),
        ({"features": "ab"}, TypeError, ["features must be a pair", "'ab'"]),
        ({"responsibilities": np.ones(20)}, ValueError, ["responsibilities must have shape (20, 2)"]),
        ({"responsibilities": np.ones((3, 2))}, ValueError, ["responsibilities must have shape (20, 2)"]),
        ({"responsibilities": np.full((20, 2), np.nan)}, ValueError, ["responsibilities contains NaN"]),
        ({"responsibilities": np.full((20, 2), 2.0)}, ValueError, ["responsibilities must lie in [0, 1]"]),
    ],
    ids=["float-index", "None-index", "string", "1d-resp", "short-resp", "nan-resp", "resp-above-1"],
)
def test_plot_classification_arguments(X, tree, kwargs, exc, fragments):
    pytest.importorskip("matplotlib")
    with _raises(exc, *fragments):
        plotting.plot_classification(tree, X, **kwargs)


@pytest.mark.parametrize(
    "bad, exc, fragments",
    [
        (np.array([["a", "b"]] * 20), TypeError, ["X holds strings"]),
        (np.where(np.arange(40).reshape(20, 2) == 7, np.nan, 1.0), ValueError, ["X contains NaN", "row 3"]),
    ],
    ids=["strings", "nan"],
)
def test_plot_classification_checks_X(tree, bad, exc, fragments):
    pytest.importorskip("matplotlib")
    with _raises(exc, *fragments):
        plotting.plot_classification(tree, bad)


@pytest.mark.parametrize(
    "mean, covariance, fragments",
    [
        (np.zeros(2), np.array([[1.0, 2.0], [2.0, 1.0]]), ["symmetric positive definite"]),
        (np.zeros(2), np.eye(2) * np.nan, ["covariance contains NaN"]),
        (np.zeros(3), np.eye(3), ["mean must have shape (2,)"]),
    ],
    ids=["not-pd", "nan", "3d"],
)
def test_ellipse_points_arguments(mean, covariance, fragments):
    with _raises(ValueError, *fragments):
        plotting.ellipse_points(mean, covariance, 1)


# ---------------------------------------------------------------------- CLI
def _cli(capsys, *argv):
    status = cli_main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in out + err, (status, err)
    return lines[0]


@pytest.fixture()
def csv(tmp_path, X):
    path = tmp_path / "d.csv"
    path.write_text("a,b\n" + "\n".join(f"{x},{y}" for x, y in X))
    return path


def test_cli_repeated_column(capsys, csv):
    line = _cli(capsys, "fit", csv, "--columns", "a", "a", "-k", "1")
    assert "--columns names 'a' more than once" in line


def test_cli_huge_range_of_components(capsys, csv):
    line = _cli(capsys, "fit", csv, "-k", "1-1000000000000")
    assert "holds 1000000000000 values of K; at most 1000" in line


def test_cli_header_only_csv(capsys, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("a,b\n")
    line = _cli(capsys, "fit", path, "-k", "1")
    assert "no rows to use" in line and "not numeric" not in line
