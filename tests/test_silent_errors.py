"""No silently wrong answer (issue #22): every hostile input fits correctly or says what is wrong and what to do."""

import re
import warnings

import numpy as np
import pytest

from gmm_numba import FitError, GaussianMixture

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _raises(exc, *fragments):
    """``pytest.raises`` that also requires every fragment, literally, in the message."""
    pattern = "".join(f"(?=[\\s\\S]*{re.escape(f)})" for f in fragments)
    return pytest.raises(exc, match=pattern)


def _blobs(n=40, seed=0):
    """Two separated blobs in two features, shape (2 n, 2)."""
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0, 1, (n, 2)), rng.normal(8, 1, (n, 2))])


def _fit(X, covariance_type="full"):
    """The fit of ``X``, or the error it raised; no warning may escape."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return GaussianMixture(2, covariance_type=covariance_type, reg_covar="auto", random_state=0).fit(X)
        except FitError as exc:
            return exc


def _assert_refused_for_magnitude(result):
    assert isinstance(result, FitError), result
    assert "magnitude is out of range" in str(result) and ".std(axis=0)" in str(result), str(result)


def _sorted_means(gm):
    return gm.means_[np.argsort(gm.means_[:, 0])]


# ------------------------------------------- 1. float32 at every scale
def test_float32_at_a_tiny_scale_fits_as_float64_does():
    """The reported case: float32 squares underflowed, leaving covariances of the regularisation alone."""
    X32 = (_blobs() * 1e-25).astype(np.float32)
    gm32, gm64 = _fit(X32), _fit(X32.astype(np.float64))
    assert gm32.converged_
    assert gm32.score(X32) == pytest.approx(gm64.score(X32.astype(np.float64)), abs=1e-3)
    assert gm32.score(X32) > 100


@pytest.mark.parametrize(
    "sd, offset, weights, expected",
    [
        (1.0, 0.0, (1.0, 1.0), np.float32),
        (1e-25, 0.0, (1.0, 1.0), np.float64),  # the squares underflow
        (1e20, 0.0, (1.0, 1.0), np.float64),  # the squares overflow
        (1.0, 1e16, (1.0, 1.0), np.float64),  # the means' spread squared overflows
        (1.0, 0.0, (1.0, 1e35), np.float64),  # weighted squares overflow
    ],
)
def test_float32_arithmetic_only_within_its_range(sd, offset, weights, expected):
    from gmm_numba.data.in_memory import compute_dtype

    means = np.array([[0.0, 0.0], [offset, 0.0]])
    for factors in (np.eye(2)[None].repeat(2, 0) / sd, np.full((2, 1, 2), 1 / sd), np.full((2, 1, 1), 1 / sd)):
        assert compute_dtype(np.dtype(np.float32), factors, means, weights) == expected


#: Relative tolerance of the float32 fit's means (to the spread of the data) and absolute
#: tolerance of its mean log-likelihood, against the float64 fit of the same values.
MEANS_RTOL, SCORE_ATOL = 1e-4, 1e-3

#: Decades of float32's range, every five: from its smallest subnormal to its largest finite value (the data
#: reaches about 12 times the scale).
FLOAT32_EXPONENTS = range(-45, 37, 5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_fits_as_float64_over_the_whole_float32_range(covariance_type):
    base = _blobs(n=30)
    for exponent in FLOAT32_EXPONENTS:
        for sign in (1, -1):
            scale = 10.0**exponent
            X32 = (base * scale + sign * 3 * scale).astype(np.float32)
            X64 = X32.astype(np.float64)
            gm32, gm64 = _fit(X32, covariance_type), _fit(X64, covariance_type)
            where = f"scale 1e{exponent}, offset sign {sign}"
            if isinstance(gm32, Exception):
                _assert_refused_for_magnitude(gm32)
                continue
            assert not isinstance(gm64, Exception), where
            spread = X64.std()
            means32, means64 = _sorted_means(gm32), _sorted_means(gm64)
            np.testing.assert_allclose(means32, means64, atol=MEANS_RTOL * spread, err_msg=where)
            # the same values: the log-likelihoods carry the same log-scale term
            assert gm32.score(X32) == pytest.approx(gm64.score(X64), abs=SCORE_ATOL), where


# ------------------------------------------- 4. float64 at every scale
#: Decades of float64's range, every five, from subnormal to near overflow.
FLOAT64_EXPONENTS = range(-320, 306, 5)


@pytest.mark.parametrize("covariance_type", ["full", "spherical"])
def test_float64_fits_scale_invariantly_or_names_the_magnitude(covariance_type):
    """Either the fit of ``X * s + b`` is the transformed fit of ``X`` or the error says the scale is the problem."""
    base = _blobs(n=30)
    unit = _fit(base, covariance_type)
    n_fitted = 0
    for exponent in FLOAT64_EXPONENTS:
        for sign in (1, -1):
            scale = 10.0**exponent
            X = base * scale + sign * 3 * scale
            gm = _fit(X, covariance_type)
            where = f"scale 1e{exponent}, offset sign {sign}"
            if isinstance(gm, Exception):
                _assert_refused_for_magnitude(gm)
                continue
            n_fitted += 1
            expected = _sorted_means(unit) * scale + sign * 3 * scale
            np.testing.assert_allclose(_sorted_means(gm), expected, rtol=1e-6, atol=1e-6 * scale, err_msg=where)
            # log p(x s + b) = log p(x) - D log s
            assert gm.score(X) + 2 * np.log(scale) == pytest.approx(unit.score(base), abs=1e-6), where
    # the range that fits is not a token one: 1e-120 to 1e120 at least
    assert n_fitted >= 2 * 49


@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e160), (np.float64, 1e-160), (np.float32, 1e20)])
def test_data_near_the_overflow_range_fits_or_names_its_magnitude(dtype, scale):
    X = (_blobs() * scale).astype(dtype)
    result = _fit(X)
    if isinstance(result, Exception):
        _assert_refused_for_magnitude(result)
    else:
        assert result.converged_ and np.all(np.isfinite(result.covariances_))


# ------------------------------------------- 2. a DataArray's sample dimension
def _feature_major(X, chunked=False):
    """``X`` as a DataArray with dims ("feature", "sample"): the transpose of its layout."""
    xr = pytest.importorskip("xarray")
    da = xr.DataArray(X.T, dims=("feature", "sample"), coords={"feature": ["a", "b", "c"]})
    return da.chunk({"sample": 100}) if chunked else da


@pytest.fixture(scope="module")
def three_features():
    rng = np.random.default_rng(3)
    return np.vstack([rng.normal(0, 1, (250, 3)), rng.normal(6, 1, (250, 3))])


def test_numpy_backed_data_array_is_read_along_its_sample_dimension(three_features):
    reference = GaussianMixture(2, random_state=0).fit(three_features)
    da = _feature_major(three_features)
    gm = GaussianMixture(2, random_state=0).fit(da)
    assert gm.n_features_in_ == 3
    np.testing.assert_allclose(gm.means_, reference.means_)
    np.testing.assert_array_equal(gm.predict(da), reference.predict(three_features))
    assert gm.score(da) == pytest.approx(reference.score(three_features))


def test_every_entry_point_and_backing_reads_the_same_samples(three_features):
    pytest.importorskip("dask")
    import gmm_numba

    means = [
        GaussianMixture(2, random_state=0).fit(_feature_major(three_features)).means_,
        GaussianMixture(2, random_state=0).fit(_feature_major(three_features, chunked=True)).means_,
        gmm_numba.fit(_feature_major(three_features), 2, random_state=0)["posterior"]["means"].values[0, 0],
    ]
    for m in means:
        assert m.shape == (2, 3)
        np.testing.assert_allclose(m[np.argsort(m[:, 0])], means[0][np.argsort(means[0][:, 0])], rtol=1e-6)


# ------------------------------------------- 3. masked arrays
def test_masked_values_are_refused_with_the_remedy(three_features):
    masked = np.ma.masked_array(three_features, mask=False)
    masked[[4, 9], 1] = np.ma.masked
    with _raises(ValueError, "masked values in 2 rows", "first: row 4", "not supported", ".filled(", "Drop"):
        GaussianMixture(2).fit(masked)
    fitted = GaussianMixture(2, random_state=0).fit(three_features)
    with _raises(ValueError, "masked values in 2 rows"):
        fitted.predict(masked)


def test_a_mask_that_hides_nothing_is_plain_data(three_features):
    reference = GaussianMixture(2, random_state=0).fit(three_features)
    for mask in (False, np.zeros(three_features.shape, dtype=bool)):
        gm = GaussianMixture(2, random_state=0).fit(np.ma.masked_array(three_features, mask=mask))
        np.testing.assert_allclose(gm.means_, reference.means_)


# ------------------------------------------- 4. near overflow, through the command line
def test_cli_names_the_magnitude_without_numpy_warnings(tmp_path, capsys):
    from gmm_numba.cli import commands as cli

    path = tmp_path / "huge.npy"
    np.save(path, _blobs() * 1e160)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status = cli.main(["fit", str(path), "--components", "1-2", "--n-init", "1"])
    out, err = capsys.readouterr()
    assert status == 2
    assert "RuntimeWarning" not in err + out and "overflow encountered" not in err + out
    assert "magnitude is out of range" in err and ".std(axis=0)" in err


# ------------------------------------------- 5. smaller ones
def test_a_fit_the_callback_stopped_does_not_warn_about_max_iter():
    gm = GaussianMixture(2, n_init=2, random_state=0, callback=lambda iteration, bound, params: iteration == 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm.fit(_blobs())
    assert gm.n_iter_ == 1 and not gm.converged_


def test_running_out_of_max_iter_still_warns():
    from gmm_numba import ConvergenceWarning

    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        GaussianMixture(2, max_iter=1, tol=1e-12, random_state=0).fit(_blobs())


@pytest.mark.parametrize("transform", [lambda X: X * 1000, lambda X: X / 1000, lambda X: X + 100])
def test_bootstrap_on_other_data_says_so(transform):
    import gmm_numba

    X = _blobs()
    fitted = GaussianMixture(2, random_state=0).fit(X)
    with _raises(ValueError, "does not look like the data the mixture was fitted to", "same units and scaling"):
        gmm_numba.bootstrap(fitted, transform(X), n_draws=2, random_state=0)


def test_bootstrap_of_a_fit_with_a_constant_feature_runs():
    import gmm_numba

    X = np.column_stack([_blobs()[:, 0], np.full(80, 3.0)])
    fitted = GaussianMixture(2, random_state=0).fit(X)
    assert gmm_numba.bootstrap(fitted, X, n_draws=2, random_state=0).attrs["n_draws"] == 2


def test_a_saved_converged_flag_that_is_not_boolean_is_refused(tmp_path):
    import xarray as xr

    import gmm_numba

    result = gmm_numba.fit(_blobs(), 2, random_state=0)
    stats = result["sample_stats"].to_dataset()
    stats["converged"] = xr.full_like(stats["converged"], "yes", dtype=object).astype(str)
    result["sample_stats"] = xr.DataTree(stats)
    path = tmp_path / "bad.nc"
    result.to_netcdf(path)
    with _raises(ValueError, "sample_stats.converged must hold booleans", "'yes'"):
        gmm_numba.load(path)


@pytest.mark.parametrize("value", [1e-12, 1.0, 1e12])
def test_auto_regularisation_of_constant_data_scales_with_it(value):
    """All-constant data: the covariance is RELATIVE_REG times the squared value, whatever the units."""
    from gmm_numba.fitting.regularization import RELATIVE_REG

    gm = GaussianMixture(1, reg_covar="auto").fit(np.full((10, 2), value))
    np.testing.assert_allclose(gm.covariances_, RELATIVE_REG * value**2 * np.eye(2)[None], rtol=1e-9)
    unit = GaussianMixture(1, reg_covar="auto").fit(np.full((10, 2), 1.0))
    assert gm.score(np.full((10, 2), value)) == pytest.approx(unit.score(np.full((10, 2), 1.0)) - 2 * np.log(value))


# ------------------------------------------- 5 and 6. the command line
@pytest.fixture
def blobs_csv(tmp_path):
    import pandas as pd

    path = tmp_path / "blobs.csv"
    pd.DataFrame(_blobs(), columns=["a", "b"]).to_csv(path, index=False)
    return path


def _cli(capsys, *argv):
    """``(status, stdout, stderr)`` of ``gmm-numba argv`` with a quick sweep."""
    from gmm_numba.cli import commands as cli

    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


QUICK = ("--components", "1-2", "--n-init", "1")


def test_cli_data_after_the_model_list_is_data(blobs_csv, capsys):
    status, out, err = _cli(capsys, "fit", "--models", "full", "tied", blobs_csv, *QUICK)
    assert status == 0, err
    assert "Fitting 2 covariance model(s)" in out and "80 rows" in out


def test_cli_models_as_a_comma_separated_list(blobs_csv, capsys):
    status, out, err = _cli(capsys, "fit", blobs_csv, "--models", "full,diag", *QUICK)
    assert status == 0, err
    assert "Fitting 2 covariance model(s)" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--models", "full", "{tmp}/absent.csv"], "absent.csv: no such file"),
        (["--models", "{csv}"], "give the models before DATA"),
        ([], "required: DATA"),
    ],
)
def test_cli_missing_data_is_named(argv, fragment, blobs_csv, tmp_path, capsys):
    status, out, err = _cli(capsys, "fit", *[a.format(tmp=tmp_path, csv=blobs_csv) for a in argv], *QUICK)
    assert status == 2 and fragment in err, err


def test_cli_csv_without_a_header_keeps_its_first_row(tmp_path, capsys):
    path = tmp_path / "plain.csv"
    np.savetxt(path, _blobs(), delimiter=",")
    status, out, err = _cli(capsys, "fit", path, *QUICK)
    assert status == 0, err
    assert "no header row" in err and "x0, x1" in err
    assert "to 80 rows x 2 features" in out


def test_cli_boolean_columns_are_numbers(tmp_path, capsys):
    import pandas as pd

    frame = pd.DataFrame(_blobs(), columns=["a", "b"])
    frame["flag"] = frame["a"] > 4
    path = tmp_path / "flags.csv"
    frame.to_csv(path, index=False)
    status, out, err = _cli(capsys, "fit", path, *QUICK)
    assert status == 0, err
    assert "80 rows x 3 features" in out


def test_cli_unknown_suffix_lists_the_known_ones(blobs_csv, tmp_path, capsys):
    path = tmp_path / "blobs.dat"
    path.write_bytes(blobs_csv.read_bytes())
    status, out, err = _cli(capsys, "fit", path, *QUICK)
    assert status == 2
    assert "unknown file type" in err and ".csv" in err and ".npy" in err and ".parquet" in err


def test_cli_drop_nan_says_how_many_rows_it_dropped(tmp_path, capsys):
    import pandas as pd

    frame = pd.DataFrame(_blobs(), columns=["a", "b"])
    frame.iloc[[3, 9, 11], 1] = np.nan
    path, model = tmp_path / "holes.csv", tmp_path / "m.nc"
    frame.to_csv(path, index=False)
    status, out, err = _cli(capsys, "fit", path, "--drop-nan", "-o", model, *QUICK)
    assert status == 0, err
    assert "left out 3 of 80 row(s)" in out and "to 77 rows" in out
    status, out, err = _cli(capsys, "predict", model, path, "--drop-nan")
    assert status == 0, err
    assert "left out 3 of 80 row(s)" in err and "left out" not in out
