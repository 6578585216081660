"""Bad input raises a clear error: the argument, the offending value and what is allowed."""

import copy
import re
import warnings

import numpy as np
import pytest

import gmm_numba
from gmm_numba import (
    EmptyComponentError,
    FitError,
    GaussianMixture,
    NotFittedError,
    SingularCovarianceError,
)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_METHODS = ("k-means++", "random_from_data", "random")


def _data(n=20, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 1, size=(n // 2, d)), rng.normal(5, 1, size=(n - n // 2, d))])


@pytest.fixture(scope="module")
def X():
    return _data()


@pytest.fixture(scope="module")
def fitted(X):
    return GaussianMixture(n_components=2, random_state=0).fit(X)


def _raises(exc, *fragments):
    """``pytest.raises`` that also requires every fragment, literally, in the message."""
    pattern = "".join(f"(?=[\\s\\S]*{re.escape(f)})" for f in fragments)
    return pytest.raises(exc, match=pattern)


# ---------------------------------------------------------------- X in fit
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_rows_reports_count_and_first_row(X, bad):
    Xb = X.copy()
    Xb[[3, 7, 11], [0, 1, 0]] = bad
    with _raises(ValueError, "NaN or infinity", "3 rows", "first: row 3"):
        GaussianMixture(2).fit(Xb)


def test_single_non_finite_row(X):
    Xb = X.copy()
    Xb[12, 1] = np.nan
    with _raises(ValueError, "in 1 row ", "first: row 12"):
        GaussianMixture(2).fit(Xb)


@pytest.mark.parametrize(
    "shape, fragments",
    [
        ((0, 3), ["0 sample(s)", "shape=(0, 3)", "minimum of 2"]),
        ((12, 0), ["0 feature(s)", "shape=(12, 0)", "minimum of 1"]),
        ((0, 0), ["0 sample(s)", "shape=(0, 0)"]),
    ],
)
def test_empty_X(shape, fragments):
    with _raises(ValueError, *fragments):
        GaussianMixture().fit(np.empty(shape))


def test_one_row():
    with _raises(ValueError, "1 sample(s)", "minimum of 2", "at least 2 samples"):
        GaussianMixture().fit([[1.0, 2.0]])


def test_fewer_samples_than_components():
    with _raises(ValueError, "3 sample(s)", "minimum of 5", "n_components=5"):
        GaussianMixture(n_components=5).fit(_data(n=3))


def test_string_array():
    with _raises(TypeError, "X holds strings", "<U1"):
        GaussianMixture().fit(np.array([["a", "b"], ["c", "d"], ["e", "f"]]))


def test_numbers_written_as_text_are_refused():
    with _raises(TypeError, "X holds strings", "astype(float)"):
        GaussianMixture().fit([["1", "2"], ["3", "4"], ["5", "7"]])


def test_object_array_names_the_entry():
    Xb = np.array([[1.0, 2.0], [3.0, "x"], [5.0, 6.0]], dtype=object)
    with _raises(TypeError, "X[1, 1] is 'x'", "could not convert string to float"):
        GaussianMixture().fit(Xb)


def test_dataframe_string_column_is_named():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"height": [1.0, 2.0, 3.0, 4.0], "colour": ["red", "blue", "red", "green"]})
    with _raises(TypeError, "column 'colour'", "row 0", "'red'"):
        GaussianMixture().fit(df)


def test_dataframe_date_column_is_named():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "when": pd.date_range("2024-01-01", periods=3)})
    with _raises(TypeError, "column 'when'", "datetime64"):
        GaussianMixture().fit(df)


def test_complex_data(X):
    with _raises(ValueError, "Complex data not supported", "complex"):
        GaussianMixture().fit(X + 1j)


def test_one_dimensional_X():
    with _raises(ValueError, "2D array", "1D array of length 5", "Reshape your data", "reshape(-1, 1)"):
        GaussianMixture().fit(np.arange(5.0))


def test_three_dimensional_X():
    with _raises(ValueError, "2D array", "3 dimensions", "(4, 3, 2)"):
        GaussianMixture().fit(np.zeros((4, 3, 2)))


def test_ragged_rows():
    with _raises(ValueError, "different lengths"):
        GaussianMixture().fit([[1.0, 2.0], [3.0]])


def test_sparse_X(X):
    sparse = pytest.importorskip("scipy.sparse")
    with _raises(TypeError, "sparse", "toarray()"):
        GaussianMixture().fit(sparse.csr_matrix(X))


# ---------------------------------------------------------- X after fit
@pytest.mark.parametrize("method", ["predict", "score_samples", "predict_proba", "score", "bic", "aic"])
def test_wrong_number_of_features_after_fit(fitted, method):
    with _raises(ValueError, "X has 3 features", "expecting 2 features"):
        getattr(fitted, method)(np.zeros((4, 3)))


@pytest.mark.parametrize("method", ["predict", "score_samples", "predict_proba", "score"])
def test_bad_X_after_fit(fitted, method):
    with _raises(ValueError, "NaN or infinity", "first: row 1"):
        getattr(fitted, method)(np.array([[0.0, 0.0], [np.nan, 0.0]]))
    with _raises(ValueError, "Reshape your data"):
        getattr(fitted, method)(np.zeros(2))
    with _raises(ValueError, "0 sample(s)"):
        getattr(fitted, method)(np.zeros((0, 2)))


def test_feature_names_must_match(X):
    pd = pytest.importorskip("pandas")
    gm = GaussianMixture(2, random_state=0).fit(pd.DataFrame(X, columns=["a", "b"]))
    with _raises(ValueError, "feature names should match", "- c"):
        gm.predict(pd.DataFrame(X, columns=["a", "c"]))


# ------------------------------------------------------------- sample weight
@pytest.mark.parametrize(
    "make_weight, exc, fragments",
    [
        (lambda n: np.r_[1.0, 1.0, -0.5, np.ones(n - 3)], ValueError, ["negative", "index 2", "-0.5", ">= 0"]),
        (lambda n: np.r_[np.ones(n - 1), np.nan], ValueError, ["NaN or infinity", "index 19"]),
        (lambda n: np.r_[np.inf, np.ones(n - 1)], ValueError, ["NaN or infinity", "index 0", "inf"]),
        (lambda n: np.ones(n - 1), ValueError, ["sample_weight has 19 entries", "20 samples"]),
        (lambda n: np.ones((n, 1)), ValueError, ["sample_weight must be 1D", "(20, 1)"]),
        (lambda n: np.zeros(n), ValueError, ["sample_weight is all zero", "positive"]),
        (lambda n: ["a"] * n, TypeError, ["sample_weight must be numeric"]),
        (lambda n: np.ones(n) + 1j, ValueError, ["sample_weight has complex values"]),
        (lambda n: np.r_[1.0, np.zeros(n - 1)], ValueError, ["positive for 1 sample(s)", "minimum of 2"]),
    ],
    ids=["negative", "nan", "inf", "wrong-length", "2d", "all-zero", "strings", "complex", "one-positive"],
)
def test_bad_sample_weight(X, make_weight, exc, fragments):
    with _raises(exc, *fragments):
        GaussianMixture(2).fit(X, sample_weight=make_weight(len(X)))


# ---------------------------------------------------------------- parameters
@pytest.mark.parametrize(
    "params, exc, fragments",
    [
        ({"n_components": 0}, ValueError, ["n_components=0", ">= 1"]),
        ({"n_components": -1}, ValueError, ["n_components=-1", ">= 1"]),
        ({"n_components": 1.5}, TypeError, ["n_components must be an integer", "1.5"]),
        ({"n_components": "3"}, TypeError, ["n_components must be an integer", "'3'", "str"]),
        ({"n_components": True}, TypeError, ["n_components must be an integer", "True"]),
        ({"covariance_type": "foo"}, ValueError, ["covariance_type='foo'", "full", "spherical"]),
        ({"covariance_type": None}, ValueError, ["covariance_type=None"]),
        ({"tol": -1}, ValueError, ["tol=-1", ">= 0"]),
        ({"tol": np.nan}, ValueError, ["tol must be finite"]),
        ({"reg_covar": -1}, ValueError, ["reg_covar=-1", ">= 0"]),
        ({"reg_covar": np.nan}, ValueError, ["reg_covar must be finite", "nan"]),
        ({"reg_covar": "1e-6"}, TypeError, ["reg_covar must be a real number", "'1e-6'"]),
        ({"max_iter": 0}, ValueError, ["max_iter=0", ">= 1"]),
        ({"n_init": 0}, ValueError, ["n_init=0", ">= 1"]),
        ({"init_params": "bogus"}, ValueError, ["init_params='bogus'", "'k-means++'", "'random'"]),
        ({"random_state": "x"}, TypeError, ["random_state must be", "'x'", "str"]),
        ({"random_state": -3}, ValueError, ["random_state=-3", ">= 0"]),
        ({"warm_start": "yes"}, TypeError, ["warm_start must be True or False", "'yes'"]),
        ({"verbose": -1}, ValueError, ["verbose=-1"]),
        ({"init_sample_size": 0}, ValueError, ["init_sample_size=0"]),
        ({"callback": 3}, TypeError, ["callback must be callable", "3"]),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else None,
)
def test_invalid_parameter(X, params, exc, fragments):
    gm = GaussianMixture(**params)
    with _raises(exc, *fragments):
        gm.fit(X)
    assert not hasattr(gm, "means_")


def test_unknown_parameter_name():
    with _raises(ValueError, "Invalid parameter 'n_component'", "n_components"):
        GaussianMixture().set_params(n_component=2)


# ----------------------------------------------------------- *_init arrays
@pytest.mark.parametrize(
    "weights, exc, fragments",
    [
        ([0.5, 0.4], ValueError, ["weights_init must sum to 1", "0.9"]),
        ([1.2, -0.2], ValueError, ["weights_init must lie in [0, 1]", "weights_init[0] = 1.2"]),
        ([0.2, -0.2, 1.0], ValueError, ["weights_init must have shape (2,)", "(3,)"]),
        ([[0.5, 0.5]], ValueError, ["weights_init must have shape (2,)", "(1, 2)"]),
        ([0.5, np.nan], ValueError, ["weights_init contains NaN or infinity", "weights_init[1]"]),
        (["a", "b"], TypeError, ["weights_init must be numeric"]),
    ],
)
def test_bad_weights_init(X, weights, exc, fragments):
    with _raises(exc, *fragments):
        GaussianMixture(2, weights_init=weights).fit(X)


@pytest.mark.parametrize(
    "means, fragments",
    [
        (np.zeros((3, 2)), ["means_init must have shape (2, 2)", "(3, 2)"]),
        (np.zeros((2, 3)), ["means_init must have shape (2, 2)", "(2, 3)"]),
        (np.zeros(2), ["means_init must have shape (2, 2)", "(2,)"]),
        (np.array([[0.0, 0.0], [np.nan, 5.0]]), ["means_init contains NaN or infinity", "means_init[1, 0] = nan"]),
    ],
)
def test_bad_means_init(X, means, fragments):
    with _raises(ValueError, *fragments):
        GaussianMixture(2, means_init=means).fit(X)


_ASYMMETRIC = np.array([[2.0, 0.5], [0.1, 2.0]])
_INDEFINITE = np.array([[1.0, 2.0], [2.0, 1.0]])


@pytest.mark.parametrize(
    "covariance_type, precisions, fragments",
    [
        ("full", np.stack([np.eye(2), _ASYMMETRIC]), ["precisions_init[1] is not symmetric", "'full'"]),
        ("full", np.stack([_INDEFINITE, np.eye(2)]), ["precisions_init[0] is not positive definite", "-1"]),
        ("full", np.stack([np.eye(2), np.zeros((2, 2))]), ["precisions_init[1] is not positive definite"]),
        ("full", np.eye(2), ["precisions_init must have shape (2, 2, 2)", "(2, 2)"]),
        ("tied", _ASYMMETRIC, ["precisions_init is not symmetric", "'tied'"]),
        ("tied", _INDEFINITE, ["precisions_init is not positive definite", "smallest eigenvalue -1"]),
        ("tied", np.stack([np.eye(2), np.eye(2)]), ["precisions_init must have shape (2, 2)", "(2, 2, 2)"]),
        ("diag", np.array([[1.0, 1.0], [1.0, -2.0]]), ["must be positive", "'diag'", "precisions_init[1, 1] = -2"]),
        ("diag", np.array([[1.0, 0.0], [1.0, 1.0]]), ["must be positive", "precisions_init[0, 1] = 0"]),
        ("diag", np.ones(2), ["precisions_init must have shape (2, 2)", "(2,)"]),
        ("spherical", np.array([1.0, -1.0]), ["must be positive", "'spherical'", "precisions_init[1] = -1"]),
        ("spherical", np.ones((2, 2)), ["precisions_init must have shape (2,)", "(2, 2)"]),
        ("spherical", np.array([1.0, np.inf]), ["precisions_init contains NaN or infinity"]),
    ],
)
def test_bad_precisions_init(X, covariance_type, precisions, fragments):
    gm = GaussianMixture(2, covariance_type=covariance_type, precisions_init=precisions)
    with _raises(ValueError, *fragments):
        gm.fit(X)


def test_mclust_names_get_the_same_checks(X):
    with _raises(ValueError, "precisions_init is not symmetric"):
        GaussianMixture(2, covariance_type="EEE", precisions_init=_ASYMMETRIC).fit(X)


# ----------------------------------------------------------------- not fitted
@pytest.mark.parametrize(
    "call",
    [
        lambda gm: gm.predict(np.zeros((3, 2))),
        lambda gm: gm.predict_proba(np.zeros((3, 2))),
        lambda gm: gm.score(np.zeros((3, 2))),
        lambda gm: gm.score_samples(np.zeros((3, 2))),
        lambda gm: gm.bic(np.zeros((3, 2))),
        lambda gm: gm.aic(np.zeros((3, 2))),
        lambda gm: gm.sample(5),
        lambda gm: gm.n_parameters(),
    ],
    ids=["predict", "predict_proba", "score", "score_samples", "bic", "aic", "sample", "n_parameters"],
)
def test_not_fitted(call):
    with _raises(NotFittedError, "GaussianMixture instance is not fitted yet", "Call 'fit'"):
        call(GaussianMixture())


def test_not_fitted_error_is_value_and_attribute_error():
    with pytest.raises(ValueError):
        GaussianMixture().predict(np.zeros((3, 2)))
    with pytest.raises(AttributeError):
        GaussianMixture().predict(np.zeros((3, 2)))


@pytest.mark.parametrize(
    "n_samples, exc, fragments",
    [
        (0, ValueError, ["n_samples=0", ">= 1"]),
        (-2, ValueError, ["n_samples=-2", ">= 1"]),
        (1.5, TypeError, ["n_samples must be an integer", "1.5"]),
    ],
)
def test_bad_sample_size(fitted, n_samples, exc, fragments):
    with _raises(exc, *fragments):
        fitted.sample(n_samples)


# ---------------------------------------------------------- collapsing fits
TWO_POINTS = np.array([[0.0, 0.0], [1.0, 1.0]] * 10)


def _assert_valid_mixture(gm, X):
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert np.all(np.isfinite(getattr(gm, name))), name
    np.testing.assert_allclose(gm.weights_.sum(), 1.0)
    assert np.all(gm.weights_ > 0)
    assert np.all(np.isfinite(gm.score_samples(X)))
    np.testing.assert_allclose(gm.predict_proba(X).sum(axis=1), 1.0)
    assert np.isfinite(gm.lower_bound_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_collapse_without_regularisation_raises_fit_error(covariance_type):
    gm = GaussianMixture(3, covariance_type=covariance_type, reg_covar=0.0, random_state=0)
    with pytest.raises((SingularCovarianceError, EmptyComponentError)) as info:
        gm.fit(TWO_POINTS)
    message = str(info.value)
    assert "Try" in message
    assert "only 2 distinct row(s)" in message and "n_components=3" in message
    assert not hasattr(gm, "means_")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_METHODS)
@pytest.mark.parametrize("reg_covar", [0.0, 1e-6])
def test_collapse_fits_validly_or_raises_fit_error(covariance_type, init_params, reg_covar):
    gm = GaussianMixture(
        3, covariance_type=covariance_type, init_params=init_params, reg_covar=reg_covar, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gmm_numba.ConvergenceWarning)
        try:
            gm.fit(TWO_POINTS)
        except FitError as exc:
            assert "Try" in str(exc)
            assert not hasattr(gm, "means_")
            return
    _assert_valid_mixture(gm, TWO_POINTS)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_extreme_scale_never_returns_nan(scale):
    X = _data() * scale
    gm = GaussianMixture(2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gm.fit(X)
        except FitError:
            assert not hasattr(gm, "means_")
            return
        _assert_valid_mixture(gm, X)


# ------------------------------------------------------ failed fit is atomic
def _snapshot(gm):
    return {name: (value, copy.deepcopy(value)) for name, value in vars(gm).items() if name != "fit_result_"}


def _assert_unchanged(gm, before):
    after = vars(gm)
    assert set(after) - {"fit_result_"} == set(before)
    for name, (value, saved) in before.items():
        assert after[name] is value, name
        if isinstance(saved, np.ndarray):
            np.testing.assert_array_equal(after[name], saved, err_msg=name)
        elif isinstance(saved, list):
            assert after[name] == saved, name


def _stop_with_runtime_error(iteration, lower_bound, parameters):
    raise RuntimeError("callback failed")


FAILING_FITS = {
    "nan-in-X": (lambda gm: None, lambda X: np.where(np.arange(len(X))[:, None] == 4, np.nan, X), ValueError),
    "bad-param": (lambda gm: gm.set_params(tol=-1.0), lambda X: X, ValueError),
    "bad-weights-init": (lambda gm: gm.set_params(weights_init=[0.3, 0.3]), lambda X: X, ValueError),
    "collapse": (lambda gm: gm.set_params(n_components=3, reg_covar=0.0), lambda X: TWO_POINTS, FitError),
    "callback-error": (lambda gm: gm.set_params(callback=_stop_with_runtime_error), lambda X: X, RuntimeError),
}


@pytest.mark.parametrize("warm_start", [False, True])
@pytest.mark.parametrize("case", sorted(FAILING_FITS))
def test_failed_fit_keeps_fitted_state(X, case, warm_start):
    gm = GaussianMixture(2, random_state=0, warm_start=warm_start).fit(X)
    result = gm.fit_result_
    before = _snapshot(gm)
    before_labels = gm.predict(X)
    change, make_X, exc = FAILING_FITS[case]
    saved_params = gm.get_params()
    change(gm)
    with pytest.raises(exc):
        gm.fit(make_X(X))
    gm.set_params(**saved_params)
    _assert_unchanged(gm, before)
    assert gm.fit_result_ is result
    np.testing.assert_array_equal(gm.predict(X), before_labels)


@pytest.mark.parametrize("case", sorted(FAILING_FITS))
def test_failed_fit_leaves_unfitted_estimator_unfitted(X, case):
    gm = GaussianMixture(2, random_state=0)
    change, make_X, exc = FAILING_FITS[case]
    change(gm)
    names = set(vars(gm))
    with pytest.raises(exc):
        gm.fit(make_X(X))
    assert set(vars(gm)) == names
    with pytest.raises(NotFittedError):
        gm.predict(X)


@pytest.mark.parametrize("bad_rows", [[0], [7], [3, 4, 19], [19]])
def test_non_finite_rows_are_found_in_every_chunk_of_the_check(monkeypatch, bad_rows):
    """The finite check runs chunk by chunk (no N x D boolean array); every bad row is still named."""
    from gmm_numba.data import checks as validation

    monkeypatch.setattr(validation, "_FINITE_CHECK_ROWS", 1)  # one row per chunk for two features (8 // 2 = 4 rows)
    X = np.full((20, 2), 1e308)  # finite, but every chunk's sum overflows
    for row in bad_rows:
        X[row, row % 2] = np.nan
    with pytest.raises(ValueError, match=rf"in {len(bad_rows)} rows? \(first: row {bad_rows[0]}\)"):
        validation.check_data(X)
    validation.check_data(np.delete(X, bad_rows, axis=0))
