"""Missing values (issue 21): EM for incomplete data, observed-data scores and imputation.

Every expected value comes from tests/naive.py (each row by itself, SciPy
marginals and conditional Gaussians) or from a fit on complete data.
"""

import warnings

import naive
import numpy as np
import pytest
from conftest import make_mixture

from gmm_numba import GaussianMixture
from gmm_numba._kernels.em_run import inner_tolerance
from gmm_numba.covariance import get_model, mclust_names
from gmm_numba.data import missing as missing_module
from gmm_numba.data.missing import MissingData
from gmm_numba.data.statistics import SufficientStatistics
from gmm_numba.fitting.em import run_em
from gmm_numba.fitting.parameters import m_step

SKLEARN_NAMES = {"VVV": "full", "EEE": "tied", "VVI": "diag", "VII": "spherical"}

#: mclust's iterative M-steps stop their inner iterations at a relative change of 1e-10 in Q, which fixes
#: the covariances only to about 1e-5 relative (tests/test_compiled_run.py): statistics equal to 1e-13
#: can end the inner loop one iteration apart. Their likelihoods, weights and means still agree closely.
ITERATIVE = {"VEI", "VEE", "VEV", "EVE", "VVE"}


def with_missing(X, fraction, seed):
    """``X`` with ``fraction`` of its entries set to NaN completely at random (no row left empty)."""
    rng = np.random.default_rng(seed)
    X = np.array(X, dtype=np.float64)
    holes = rng.random(X.shape) < fraction
    empty = holes.all(axis=1)
    holes[empty, rng.integers(0, X.shape[1], size=int(empty.sum()))] = False
    X[holes] = np.nan
    return X


@pytest.fixture(params=["row kernel", "pattern blocks"])
def kernel_path(request, monkeypatch):
    """Both ways rows with missing entries are computed: the row-by-row kernel (rare patterns) and
    the fused complete-data kernels on each pattern's observed columns (common patterns)."""
    monkeypatch.setattr(missing_module, "LARGE_PATTERN_ROWS", 10**9 if request.param == "row kernel" else 1)
    return request.param


@pytest.fixture(scope="module")
def incomplete():
    X = make_mixture(21, 150, 3, 2, separation=3.0)[0]
    return with_missing(X, 0.25, 1)


def reference_step(name, X, w, full, weights, means, covariances, model, reg, previous_bound):
    """One textbook EM step for incomplete data: ``(lower_bound, weights, means, covariances)``.

    scikit-learn's four models: naive.missing_m_step throughout. mclust's other models: the
    naive expected statistics, then the model's own M-step from statistics (tested against a
    direct maximisation of Q in tests/test_covariance_models.py), whose alternating updates stop
    where EM's own do (``inner_tolerance`` of this bound and ``previous_bound``); what is under
    test here is the incomplete-data E-step and expected statistics.
    """
    if name in SKLEARN_NAMES:
        bound, (w_new, m_new, c_new) = naive.missing_m_step(X, w, weights, means, full, SKLEARN_NAMES[name], reg)
        return bound, w_new, m_new, np.asarray(c_new)
    s = naive.missing_statistics(X, w, weights, means, full)
    stats = SufficientStatistics(s["W"], s["LL"], s["hard"], s["nk"], s["s1"], s["s2"], np.array(means))
    bound = s["LL"] / s["W"]
    new = m_step(model, stats, reg, previous=covariances, inner_tolerance=inner_tolerance(bound, previous_bound))
    return bound, new.weights, new.means, new.covariances


def start_parameters(model, X, rng, k):
    """Parameters in the model's form: its M-step on the statistics of a random soft partition."""
    filled = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    resp = rng.dirichlet(np.ones(k), size=len(X))
    s = naive.statistics_from_responsibilities(filled, None, resp, np.zeros((k, X.shape[1])))
    stats = SufficientStatistics(s["W"], np.nan, np.nan, s["nk"], s["s1"], s["s2"], np.zeros((k, X.shape[1])))
    return m_step(model, stats, 1e-3)


@pytest.mark.parametrize("name", mclust_names())
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_each_iteration_matches_textbook_missing_data_em(name, weighted, incomplete, kernel_path):
    """From the same start, four iterations: the observed-data bound, weights and means to 1e-10 for
    every model (covariances to 1e-10 too, 1e-6 for the iterative M-steps: see ITERATIVE)."""
    X = incomplete
    rng = np.random.default_rng(5)
    w = rng.uniform(0.2, 3.0, size=len(X)) if weighted else None
    model = get_model(name)
    reg = 1e-3
    params = start_parameters(model, X, rng, 2)
    data = MissingData(X, w)
    seen = []
    run = run_em(data, params, reg_covar=reg, tol=0.0, max_iter=4, callback=lambda i, lb, p: seen.append(p))
    assert len(seen) == 4
    weights, means, covariances = params.weights, params.means, params.covariances
    cov_rtol = 1e-6 if name in ITERATIVE else 1e-10
    bound = -np.inf
    for iteration, ours in enumerate(seen):
        full = model.full_covariances(covariances, 2, X.shape[1])
        bound, weights, means, covariances = reference_step(
            name, X, w, full, weights, means, covariances, model, reg, bound
        )
        np.testing.assert_allclose(run.lower_bounds[iteration], bound, rtol=1e-10, atol=0)
        np.testing.assert_allclose(ours.weights, weights, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(ours.means, means, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(ours.covariances, covariances, rtol=cov_rtol, atol=cov_rtol * 1e-2)
        if name in ITERATIVE:  # carry on from ours, so that the inner loops' rounding does not add up
            covariances = ours.covariances


@pytest.mark.parametrize("layout_model", ["VVV", "VVI", "VII"])
def test_statistics_come_in_the_models_layout(layout_model, incomplete, kernel_path):
    """Full, diagonal or trace second moments, as the complete-data kernel returns them for the model."""
    model = get_model(layout_model)
    params = start_parameters(model, incomplete, np.random.default_rng(0), 3)
    stats = MissingData(incomplete).em_statistics(params)
    expected = {"full": (3, 3, 3), "diag": (3, 1, 3), "spherical": (3, 1, 1)}[model.layout]
    assert stats.s2.shape == expected
    s = naive.missing_statistics(incomplete, None, params.weights, params.means, params.full_covariances())
    full = s["s2"]
    reduced = {"full": full, "diag": np.diagonal(full, axis1=1, axis2=2)[:, None],
               "spherical": np.trace(full, axis1=1, axis2=2)[:, None, None]}[model.layout]
    np.testing.assert_allclose(stats.s2, reduced, rtol=1e-11)
    np.testing.assert_allclose(stats.hard_log_resp, s["hard"], rtol=1e-10)


def test_float32_input_follows_the_float64_textbook(incomplete, kernel_path):
    """float32 data: complete rows may be computed in float32 (per-point rounding ~1e-7): 1e-5."""
    X32 = incomplete.astype(np.float32)
    model = get_model("VVV")
    params = start_parameters(model, incomplete, np.random.default_rng(2), 2)
    stats = MissingData(X32).em_statistics(params)
    s = naive.missing_statistics(X32.astype(np.float64), None, params.weights, params.means,
                                 params.full_covariances(), shifts=stats.shifts)
    np.testing.assert_allclose(stats.log_likelihood, s["LL"], rtol=1e-5)
    np.testing.assert_allclose(stats.nk, s["nk"], rtol=1e-5)
    np.testing.assert_allclose(stats.s2, s["s2"], rtol=1e-4, atol=1e-4 * np.abs(s["s2"]).max())
    fitted = GaussianMixture(2, missing="marginalize", random_state=0).fit(X32)
    imputed = fitted.impute(X32)
    assert imputed.dtype == np.float32
    observed = ~np.isnan(X32)
    assert np.array_equal(imputed[observed], X32[observed])


@pytest.mark.parametrize("cov_type", ["full", "diag", "tied", "spherical"])
def test_scores_are_the_observed_data_likelihood(cov_type, incomplete, kernel_path):
    g = GaussianMixture(3, covariance_type=cov_type, missing="marginalize", random_state=0).fit(incomplete)
    full = naive.full_covariances(cov_type, g.covariances_, 3, incomplete.shape[1])
    expected = naive.observed_log_likelihood(incomplete, g.weights_, g.means_, full)
    np.testing.assert_allclose(g.score_samples(incomplete), expected, rtol=1e-10)
    np.testing.assert_allclose(g.score(incomplete), expected.mean(), rtol=1e-10)
    _, resp, _, _, _ = naive.missing_e_step(incomplete, g.weights_, g.means_, full)
    np.testing.assert_allclose(g.predict_proba(incomplete), resp, rtol=1e-9, atol=1e-12)
    assert np.array_equal(g.predict(incomplete), resp.argmax(axis=1))
    n, p = len(incomplete), g.n_parameters()
    np.testing.assert_allclose(g.bic(incomplete), -2 * expected.sum() + p * np.log(n), rtol=1e-10)
    np.testing.assert_allclose(g.aic(incomplete), -2 * expected.sum() + 2 * p, rtol=1e-10)
    # the fit's final bound is the observed-data likelihood of the training data at its parameters
    assert g.lower_bound_ <= expected.mean() + 1e-9


def test_imputation_is_the_conditional_mean(incomplete, kernel_path):
    g = GaussianMixture(2, missing="marginalize", random_state=0).fit(incomplete)
    X = incomplete.copy()
    X[3] = np.nan  # a row with nothing observed gets the mixture's mean
    imputed = g.impute(X)
    expected = naive.conditional_means(X, g.weights_, g.means_, g.covariances_)
    np.testing.assert_allclose(imputed, expected, rtol=1e-10)
    np.testing.assert_allclose(imputed[3], g.weights_ @ g.means_, rtol=1e-12)
    observed = ~np.isnan(X)
    assert np.array_equal(imputed[observed], X[observed])  # bit for bit
    assert not np.isnan(imputed).any()
    assert np.isnan(X).sum() == np.isnan(incomplete).sum() + 3 - np.isnan(incomplete[3]).sum()  # X not changed


def test_multiple_imputation_draws_from_the_conditional_distribution(kernel_path):
    """Draws: observed entries unchanged; their mean and covariance those of the conditional mixture."""
    pytest.importorskip("xarray")
    X = make_mixture(3, 400, 2, 1)[0]
    g = GaussianMixture(1, random_state=0).fit(X)
    row = np.array([[np.nan, 0.7]])
    draws = g.impute(row, n_draws=20_000, random_state=1)
    assert draws.dims == ("draw", "sample", "feature") and draws.shape == (20_000, 1, 2)
    assert np.all(draws.values[:, 0, 1] == 0.7)
    xhat, C = naive.conditional_gaussian(row[0], g.means_[0], g.covariances_[0])
    values = draws.values[:, 0, 0]
    sd = np.sqrt(C[0, 0])
    assert abs(values.mean() - xhat[0]) < 4 * sd / np.sqrt(len(values))
    assert abs(values.std() / sd - 1) < 0.03
    again = g.impute(row, n_draws=5, random_state=1)
    assert np.array_equal(again.values, g.impute(row, n_draws=5, random_state=1).values)


def test_multiple_imputation_of_a_mixture_picks_components_by_responsibility():
    pytest.importorskip("xarray")
    X = make_mixture(8, 600, 2, 2, separation=10.0)[0]
    g = GaussianMixture(2, random_state=0).fit(X)
    row = np.array([[np.nan, np.nan]])
    draws = g.impute(row, n_draws=20_000, random_state=3).values[:, 0]
    nearest = np.argmin(((draws[:, None, :] - g.means_[None]) ** 2).sum(axis=2), axis=1)
    shares = np.bincount(nearest, minlength=2) / len(draws)
    np.testing.assert_allclose(shares, g.weights_, atol=0.02)


@pytest.mark.parametrize("cov_type", ["full", "VEV", "diag"])
def test_no_missing_entry_is_todays_fit_bit_for_bit(cov_type, blobs_2d):
    today = GaussianMixture(3, covariance_type=cov_type, random_state=0, n_init=2).fit(blobs_2d)
    marg = GaussianMixture(3, covariance_type=cov_type, random_state=0, n_init=2, missing="marginalize").fit(blobs_2d)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bounds_"):
        assert np.array_equal(getattr(today, name), getattr(marg, name)), name
    assert np.array_equal(today.score_samples(blobs_2d), marg.score_samples(blobs_2d))
    assert np.array_equal(marg.impute(blobs_2d), blobs_2d)


def _matched_error(fit, reference):
    """Distance of a fit's means and covariances to a reference fit's, components matched by their means."""
    order = [int(np.argmin(((fit.means_ - m) ** 2).sum(axis=1))) for m in reference.means_]
    assert sorted(order) == list(range(len(order)))
    means = np.sum((fit.means_[order] - reference.means_) ** 2)
    covs = np.sum((fit.covariances_[order] - reference.covariances_) ** 2)
    return np.sqrt(means + covs)


def test_marginalising_recovers_the_complete_data_fit_better_than_complete_cases():
    """20% of entries missing completely at random: over 5 seeded data sets, the marginalised fit is
    closer to the complete-data fit than the complete-case fit (which keeps about 0.8^4 = 41% of
    the rows), by a margin: its total error below 0.7 times the complete-case one, and smaller on most."""
    ours, cases = [], []
    for seed in range(5):
        X = make_mixture(100 + seed, 800, 4, 3, separation=5.0)[0]
        holes = with_missing(X, 0.2, seed)
        complete = GaussianMixture(3, random_state=0, n_init=3).fit(X)
        marg = GaussianMixture(3, random_state=0, n_init=3, missing="marginalize").fit(holes)
        rows = ~np.isnan(holes).any(axis=1)
        cc = GaussianMixture(3, random_state=0, n_init=3).fit(holes[rows])
        ours.append(_matched_error(marg, complete))
        cases.append(_matched_error(cc, complete))
    ours, cases = np.array(ours), np.array(cases)
    assert ours.sum() < 0.7 * cases.sum(), (ours, cases)
    assert np.count_nonzero(ours < cases) >= 4, (ours, cases)


def test_every_covariance_model_fits_with_missing_entries(incomplete):
    """Each model's fit increases the observed-data likelihood monotonically and scores finitely."""
    for name in mclust_names():
        g = GaussianMixture(2, covariance_type=name, missing="marginalize", random_state=0, tol=1e-8).fit(incomplete)
        bounds = np.array(g.lower_bounds_)
        assert np.all(np.diff(bounds) >= -1e-9 * np.abs(bounds[1:])), name
        assert np.isfinite(g.score(incomplete)), name


# ------------------------------------------------------------------------------------------- bad input
def test_nan_with_missing_error_names_the_rows_and_the_option():
    X = make_mixture(1, 50, 2, 1)[0]
    X[[4, 9, 30], 1] = np.nan
    with pytest.raises(ValueError) as info:
        GaussianMixture(1).fit(X)
    message = str(info.value)
    for part in ("3 rows", "first: row 4", "rows 4, 9, 30", "missing='marginalize'"):
        assert part in message, message


def test_missing_option_is_checked():
    with pytest.raises(ValueError, match="missing"):
        GaussianMixture(1, missing="drop").fit(np.ones((5, 2)))


def test_all_missing_column_is_an_error():
    X = make_mixture(1, 50, 3, 1)[0]
    X[:, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 feature with every entry missing.*feature 1"):
        GaussianMixture(1, missing="marginalize").fit(X)


def test_all_missing_data_is_an_error():
    with pytest.raises(ValueError, match="every entry missing"):
        GaussianMixture(1, missing="marginalize").fit(np.full((10, 2), np.nan))


def test_infinity_stays_an_error():
    X = make_mixture(1, 50, 2, 1)[0]
    X[3, 0] = np.nan
    X[7, 1] = np.inf
    with pytest.raises(ValueError, match=r"infinity in 1 row \(first: row 7\)"):
        GaussianMixture(1, missing="marginalize").fit(X)


def test_nan_in_sample_weight_is_an_error():
    X = with_missing(make_mixture(1, 50, 2, 1)[0], 0.1, 0)
    w = np.ones(50)
    w[5] = np.nan
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        GaussianMixture(1, missing="marginalize").fit(X, sample_weight=w)


def test_all_missing_rows_are_counted_left_out_and_imputed_with_the_mean(kernel_path):
    X = with_missing(make_mixture(4, 200, 3, 2)[0], 0.1, 2)
    padded = np.vstack([X, np.full((3, 3), np.nan)])
    with pytest.warns(UserWarning, match=r"3 rows with every entry missing \(first: row 200\)"):
        g = GaussianMixture(2, missing="marginalize", random_state=0).fit(padded)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alone = GaussianMixture(2, missing="marginalize", random_state=0).fit(X)
    np.testing.assert_allclose(g.means_, alone.means_, rtol=1e-12)
    np.testing.assert_allclose(g.impute(padded)[200:], np.tile(g.weights_ @ g.means_, (3, 1)), rtol=1e-12)


def test_too_few_rows_with_observed_entries():
    X = np.full((6, 2), np.nan)
    X[0] = [1.0, 2.0]
    X[1, 1] = 3.0
    with pytest.raises(ValueError, match="2 rows with an observed entry while a minimum of 3"):
        GaussianMixture(3, missing="marginalize").fit(X)


def test_out_of_core_data_is_refused_by_name(tmp_path):
    from gmm_numba.data import dispatch

    X = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float64, shape=(64, 2))
    X[:] = 1.0
    original = dispatch.CHUNKED_MIN_BYTES
    dispatch.CHUNKED_MIN_BYTES = 1
    try:
        with pytest.raises(NotImplementedError, match="out-of-core") as info:
            GaussianMixture(1, missing="marginalize").fit(X)
        assert isinstance(info.value, ValueError)  # the package's errors are all ValueError or TypeError
    finally:
        dispatch.CHUNKED_MIN_BYTES = original


def test_scoring_nan_needs_a_marginalising_fit(blobs_2d):
    g = GaussianMixture(3, random_state=0).fit(blobs_2d)
    X = blobs_2d.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="missing='marginalize'"):
        g.score_samples(X)
    imputed = g.impute(X)  # imputation works for any fit
    assert np.isfinite(imputed).all() and np.array_equal(imputed[1:], blobs_2d[1:])


# ------------------------------------------------------------------------------ select, fit, CLI
def test_select_and_fit_record_and_use_missing(incomplete):
    pytest.importorskip("xarray")
    import gmm_numba

    tree = gmm_numba.select(incomplete, n_components=[1, 2], covariance_type=["full", "diag"], n_init=2,
                            random_state=0, missing="marginalize")
    assert tree.attrs["missing"] == "marginalize"
    chosen = GaussianMixture.from_xarray(tree)
    assert chosen.missing == "marginalize"
    full = naive.full_covariances(
        {"VVV": "full", "VVI": "diag", "full": "full", "diag": "diag"}[tree.attrs["covariance_type"]],
        chosen.covariances_, chosen.n_components, 3,
    )
    expected = naive.observed_log_likelihood(incomplete, chosen.weights_, chosen.means_, full)
    # the table's log-likelihood of the chosen cell is the observed-data one
    table = tree["selection"].ds
    cell = table["log_likelihood"].sel(covariance_type=tree.attrs["covariance_type"],
                                       n_components=chosen.n_components)
    np.testing.assert_allclose(float(cell), expected.sum(), rtol=1e-9)
    fitted = gmm_numba.fit(incomplete, 2, missing="marginalize", random_state=0, log_likelihood=True)
    assert fitted.attrs["missing"] == "marginalize"
    g = GaussianMixture(2, missing="marginalize", random_state=0).fit(incomplete)
    np.testing.assert_allclose(GaussianMixture.from_xarray(fitted).score_samples(incomplete),
                               g.score_samples(incomplete), rtol=1e-12)
    with pytest.raises(ValueError, match="missing='marginalize'"):
        gmm_numba.select(incomplete, n_components=[1], covariance_type=["full"])


def test_command_line_fits_and_predicts_with_missing_values(tmp_path, capsys):
    pytest.importorskip("xarray")
    from gmm_numba.cli import commands

    X = with_missing(make_mixture(6, 120, 2, 2, separation=8.0)[0], 0.15, 3)
    path = tmp_path / "holes.csv"
    lines = ["a,b"] + [",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in X]
    path.write_text("\n".join(lines) + "\n")
    model = tmp_path / "m.nc"
    status = commands.main(["fit", str(path), "--components", "1-2", "--n-init", "1", "--models", "full",
                            "-o", str(model)])
    assert status == 2 and "--missing marginalize" in capsys.readouterr().err
    status = commands.main(["fit", str(path), "--components", "1-2", "--n-init", "1", "--models", "full",
                            "--missing", "marginalize", "-o", str(model)])
    assert status == 0, capsys.readouterr()
    capsys.readouterr()
    out_csv = tmp_path / "p.csv"
    assert commands.main(["predict", str(model), str(path), "-o", str(out_csv)]) == 0
    import pandas as pd

    predicted = pd.read_csv(out_csv)
    assert len(predicted) == len(X)
    import gmm_numba

    g = GaussianMixture.from_xarray(gmm_numba.load(str(model)))
    np.testing.assert_allclose(predicted[[c for c in predicted.columns if c.startswith("p")]].to_numpy(),
                               g.predict_proba(X), rtol=1e-6, atol=1e-9)


def test_bootstrap_refits_rows_with_missing_entries(incomplete):
    pytest.importorskip("xarray")
    import gmm_numba

    g = GaussianMixture(2, missing="marginalize", random_state=0).fit(incomplete)
    tree = gmm_numba.bootstrap(g, incomplete, n_draws=5, random_state=0)
    assert tree.attrs["n_failed_draws"] == 0
    means = tree["posterior"]["means"].values
    assert np.all(np.isfinite(means))
    # the draws scatter around the fit, within a few of their own spreads
    spread = means.std(axis=(0, 1))
    assert np.all(np.abs(means.mean(axis=(0, 1)) - g.means_) <= 4 * spread + 1e-9)


def test_missing_data_never_takes_the_compiled_whole_run(incomplete):
    """The compiled whole-EM-run kernels see complete rows only: a source with missing entries must
    go through the Python loop, which asks it for expected statistics every iteration."""
    from gmm_numba.fitting.em import _compiled_run_applies

    data = MissingData(incomplete)
    params = start_parameters(get_model("VVV"), incomplete, np.random.default_rng(0), 2)
    assert not _compiled_run_applies(data, params)


@pytest.mark.parametrize("n_features", [1, 3, 8, 9, 16, 17, 40, 64, 70])
def test_rows_are_grouped_by_pattern(n_features):
    """Every pattern once, its rows together and in their original order, for patterns packed into
    16, 32 or 64 bits or (beyond 64 features) compared as byte strings."""
    from gmm_numba.data.missing import pattern_order

    observed = np.random.default_rng(n_features).random((3000, n_features)) < 0.7
    order, pattern_of_row, masks = pattern_order(observed)
    assert sorted(order) == list(range(3000))
    assert np.array_equal(masks[pattern_of_row], observed[order])
    assert np.all(np.diff(pattern_of_row) >= 0)
    assert len({m.tobytes() for m in masks}) == len(masks) == len(np.unique(observed, axis=0))
    for p in range(len(masks)):
        assert np.all(np.diff(order[pattern_of_row == p]) > 0)
