"""Property-based reliability tests (hypothesis, bounded and derandomised).

Whatever the data -- any N, D, K, float32/float64, duplicated rows, constant
columns, integer values, magnitudes from 1e-150 to 1e150 --
``GaussianMixture.fit`` either returns a valid model or raises a
ValueError/TypeError with a message. A fitted model never produces NaN on
its own training data.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gmm_numba import GaussianMixture, select
from gmm_numba.errors import FitError

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]

#: Largest allowed decrease of the lower bound between two iterations,
#: relative to max(1, |lower bound|).
MONOTONE_RTOL = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-4}

PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


@st.composite
def datasets(draw):
    """(X, K, covariance_type): awkward but legal data."""
    n = draw(st.integers(1, 500))
    d = draw(st.integers(1, 6))
    k = draw(st.integers(1, 8))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    exponent = draw(st.integers(-150, 150))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if draw(st.booleans()):  # integers
        X = np.round(X * draw(st.sampled_from([1, 3, 10])))
    if draw(st.booleans()) and n > 1:  # duplicated rows
        n_distinct = draw(st.integers(1, n))
        X = X[rng.integers(0, n_distinct, n)]
    if draw(st.booleans()):  # some constant columns
        constant = rng.random(d) < 0.5
        X[:, constant] = draw(st.sampled_from([0.0, 1.0, -7.5]))
    X = X * 10.0**exponent
    with np.errstate(over="ignore", under="ignore"):
        X = X.astype(dtype)
    cov = draw(st.sampled_from(COVARIANCE_TYPES))
    return X, k, cov


def _assert_positive_definite(mats):
    """Every matrix in the stack symmetric positive definite, to working precision.

    Checked on the correlation form ``S^-1/2 C S^-1/2`` (S = diag C): a
    covariance mixing a 1e12 variance with a 1e-6 one (a constant column held
    up by reg_covar) is positive definite, yet ``eigvalsh`` on the raw matrix
    rounds the small eigenvalue to 0. A component on 2 points in 2-D at scale
    1e7 with reg_covar=1e-6 has condition number ~1e20: its correlation matrix
    is [[1, 1], [1, 1]] in float64, so an eigenvalue of 0 (within rounding) is
    tolerated there; a clearly negative one is not.
    """
    diag = np.diagonal(mats, axis1=1, axis2=2)
    assert np.all(diag > 0), f"non-positive variance: {diag}"
    scale = np.sqrt(diag)
    corr = mats / scale[:, :, None] / scale[:, None, :]
    eig = np.linalg.eigvalsh(corr)
    assert np.all(eig > -8 * mats.shape[-1] * np.finfo(np.float64).eps), f"not positive definite: {eig}"


def _check_error(exc):
    event(f"error: {type(exc).__name__}")
    assert isinstance(exc, (ValueError, TypeError)), repr(exc)
    assert str(exc).strip(), f"empty message from {type(exc).__name__}"


def _regularisation_negligible(gm, X, cov, reg_covar):
    """True when EM on this fit is guaranteed monotone up to rounding.

    That is, every fitted covariance (restricted to the non-constant features)
    has its smallest eigenvalue above 1e3 x reg_covar and a condition number
    below 1e8 (float64) / 1e2 (float32).

    EM with reg_covar added to the covariances is not an exact EM step: the
    likelihood may legitimately decrease when a component's variance is
    dominated by reg_covar (e.g. K=2 on two points 2.6e-3 apart with
    reg_covar=1e-6: the trace falls from 5.331 to 5.187, exactly as a naive
    regularised EM does). Near-singular covariances (condition ~1e14, e.g. few rows at
    scale 1e4 with reg_covar=1e-6) make even K=1 traces drop ~1e-4 relative in float64
    from rounding alone. Monotonicity is checked only when it is guaranteed.
    """
    X64 = X.astype(np.float64)
    variance = X64.var(axis=0)
    if reg_covar == "auto":
        floor = variance[variance > 0].mean() if np.any(variance > 0) else 1.0
        reg = 1e-6 * np.where(variance > 0, variance, floor)
    else:
        reg = np.full(X.shape[1], float(reg_covar))
    varying = np.ptp(X64, axis=0) > 0
    if not np.any(varying):
        return True
    covs = np.asarray(gm.covariances_, dtype=np.float64)
    d = X.shape[1]
    if cov == "full":
        full = covs
    elif cov == "tied":
        full = covs[None]
    elif cov == "diag":
        full = np.stack([np.diag(c) for c in covs])
    else:
        full = np.stack([c * np.eye(d) for c in covs])
    sub = full[:, varying][:, :, varying]
    eig = np.linalg.eigvalsh(sub)
    smallest, largest = eig[:, 0], eig[:, -1]
    if np.any(smallest < 1e3 * reg[varying].max()):
        return False
    # near-singular covariances make even K=1 fits wobble at rounding level
    max_condition = 1e8 if X.dtype == np.float64 else 1e2
    return bool(np.all(largest <= max_condition * smallest))


def _check_valid_model(gm, X, cov, reg_covar=1e-6):
    k, d = gm.n_components, X.shape[1]
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        value = np.asarray(getattr(gm, name))
        assert np.all(np.isfinite(value)), f"non-finite {name}"
    assert gm.weights_.shape == (k,)
    assert gm.means_.shape == (k, d)
    assert np.all(gm.weights_ >= 0)
    assert abs(gm.weights_.sum() - 1.0) < 1e-9
    covs = gm.covariances_
    if cov == "full":
        assert covs.shape == (k, d, d)
        np.testing.assert_allclose(covs, np.swapaxes(covs, 1, 2), rtol=1e-12, atol=0)
        _assert_positive_definite(covs)
    elif cov == "tied":
        assert covs.shape == (d, d)
        np.testing.assert_allclose(covs, covs.T, rtol=1e-12, atol=0)
        _assert_positive_definite(covs[None])
    elif cov == "diag":
        assert covs.shape == (k, d)
        assert np.all(covs > 0)
    else:
        assert covs.shape == (k,)
        assert np.all(covs > 0)
    bounds = np.asarray(gm.lower_bounds_)
    assert bounds.size == gm.n_iter_ >= 1
    assert np.all(np.isfinite(bounds))
    if _regularisation_negligible(gm, X, cov, reg_covar):
        event("monotonicity checked")
        rtol = MONOTONE_RTOL[X.dtype]
        drops = bounds[:-1] - bounds[1:]
        allowed = rtol * np.maximum(1.0, np.abs(bounds[:-1]))
        assert np.all(drops <= allowed), f"lower bound decreased: {bounds}"
    assert gm.lower_bound_ == bounds[-1]


@PROPERTY_SETTINGS
@given(datasets())
def test_fit_valid_model_or_clean_error(problem):
    X, k, cov = problem
    gm = GaussianMixture(k, covariance_type=cov, random_state=0, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gm.fit(X)
        except (ValueError, TypeError) as exc:
            _check_error(exc)
            assert not hasattr(gm, "means_"), "a failed fit left fitted attributes"
            return
    event("fitted")
    _check_valid_model(gm, X, cov)
    proba = gm.predict_proba(X)
    assert proba.shape == (X.shape[0], k)
    assert not np.any(np.isnan(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    scores = gm.score_samples(X)
    assert scores.shape == (X.shape[0],)
    assert not np.any(np.isnan(scores))
    labels = gm.predict(X)
    assert labels.min() >= 0 and labels.max() < k


@PROPERTY_SETTINGS
@given(datasets(), st.sampled_from(["auto", 1e-6]))
def test_fit_reg_covar_variants(problem, reg_covar):
    """Same contract with reg_covar="auto" (scale-relative) and weights."""
    X, k, cov = problem
    rng = np.random.default_rng(X.shape[0])
    w = rng.uniform(0.0, 2.0, X.shape[0])
    gm = GaussianMixture(k, covariance_type=cov, random_state=0, max_iter=50, reg_covar=reg_covar)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            gm.fit(X, sample_weight=w)
        except (ValueError, TypeError) as exc:
            _check_error(exc)
            return
    _check_valid_model(gm, X, cov, reg_covar)
    assert not np.any(np.isnan(gm.predict_proba(X)))
    assert not np.any(np.isnan(gm.score_samples(X)))


@st.composite
def small_datasets(draw):
    n = draw(st.integers(2, 60))
    d = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    exponent = draw(st.integers(-100, 100))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if draw(st.booleans()):
        X = np.round(X * 2)
    if draw(st.booleans()):
        X = X[rng.integers(0, draw(st.integers(1, n)), n)]
    if draw(st.booleans()):
        X[:, 0] = 3.0
    return X * 10.0**exponent


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_datasets(), st.sampled_from(["bic", "aic", "icl"]))
def test_select_chosen_cell_finite_or_fit_error(X, criterion):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            tree = select(X, n_components=range(1, 4), criterion=criterion, n_init=3, max_iter=200, random_state=0)
        except FitError as exc:
            assert str(exc).strip()
            return
    sel = tree["selection"].to_dataset()
    best_cov = sel.attrs["best_covariance_type"]
    best_k = sel.attrs["best_n_components"]
    cell = sel.sel(covariance_type=best_cov, n_components=best_k)
    for name in ("log_likelihood", "bic", "aic", "icl"):
        assert np.isfinite(float(cell[name])), f"chosen cell has non-finite {name}"
    assert str(cell["error"].values) == ""
    chosen = float(cell[criterion])
    others = sel[criterion].values
    assert np.all(np.isnan(others) | (others >= chosen))


# ------------------------------------------------------------ pinned findings
#: Two float32 points, one full-covariance component, reg_covar="auto":
#: found by test_fit_reg_covar_variants / test_fit_valid_model_or_clean_error in
#: non-derandomised runs (the derandomised CI examples do not hit it).
FLOAT32_PAIR = np.array([[0.12573022, -0.13210486], [0.64042264, 0.104900114]], dtype=np.float32)
FLOAT32_PAIR_WEIGHTS = np.array([0.52322427, 0.59698229])


@pytest.mark.parametrize(
    "X, weights, reg_covar",
    [
        # weighted, reg_covar="auto": lower_bounds_ 7.7178, 7.7284, 7.7157, 7.7284, ... never converges
        (FLOAT32_PAIR, FLOAT32_PAIR_WEIGHTS, "auto"),
        # unweighted, default reg_covar=1e-6 on data of variance ~7: dropped 3.5285 -> 3.5165 while
        # the per-point arithmetic ran in float32 whatever the conditioning; a covariance this close
        # to singular now switches it to float64 (sources.compute_dtype)
        (FLOAT32_PAIR * np.float32(10), None, 1e-6),
    ],
    ids=["weighted-auto", "unweighted-1e-6"],
)
def test_float32_single_component_is_fixed_point(X, weights, reg_covar):
    gm = GaussianMixture(1, covariance_type="full", reg_covar=reg_covar, random_state=0, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X, sample_weight=weights)
    bounds = np.asarray(gm.lower_bounds_)
    drops = bounds[:-1] - bounds[1:]
    assert np.all(drops <= MONOTONE_RTOL[np.dtype(np.float32)] * np.maximum(1.0, np.abs(bounds[:-1]))), bounds
    assert gm.converged_


def test_float64_single_component_is_fixed_point():
    """The control for the float32 finding: float64 on the same data settles at once."""
    gm = GaussianMixture(1, covariance_type="full", reg_covar="auto", random_state=0, max_iter=50)
    gm.fit(FLOAT32_PAIR.astype(np.float64), sample_weight=FLOAT32_PAIR_WEIGHTS)
    assert gm.converged_
    assert gm.n_iter_ <= 3
    np.testing.assert_allclose(gm.lower_bounds_, gm.lower_bounds_[0], rtol=1e-9)


def _with_constant_column(value, n=50):
    rng = np.random.default_rng(0)
    return np.column_stack([rng.standard_normal(n), np.full(n, value)])


def test_auto_reg_constant_column_at_zero_gets_the_floor():
    """Control: a constant column of exact zeros gets the 'auto' fallback floor."""
    gm = GaussianMixture(1, covariance_type="diag", reg_covar="auto", random_state=0)
    gm.fit(_with_constant_column(0.0))
    assert gm.covariances_[0, 1] > 1e-8
    assert gm.score(_with_constant_column(0.0)) < 10


@pytest.mark.parametrize("value", [0.1, 0.3])
def test_auto_reg_constant_column_translation_invariant(value):
    base = GaussianMixture(1, covariance_type="diag", reg_covar="auto", random_state=0).fit(_with_constant_column(0.0))
    shifted = GaussianMixture(1, covariance_type="diag", reg_covar="auto", random_state=0)
    shifted.fit(_with_constant_column(value))
    np.testing.assert_allclose(shifted.covariances_, base.covariances_, rtol=1e-6)
    np.testing.assert_allclose(
        shifted.score(_with_constant_column(value)), base.score(_with_constant_column(0.0)), rtol=1e-6
    )


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.parametrize("cov", COVARIANCE_TYPES)
def test_tiny_constant_data_never_gives_infinite_precisions(cov):
    X = np.full((50, 1), 1e-136)
    gm = GaussianMixture(1, covariance_type=cov, reg_covar="auto", random_state=0)
    try:
        gm.fit(X)
    except ValueError as exc:
        assert str(exc)
        return
    assert np.all(np.isfinite(gm.precisions_))
