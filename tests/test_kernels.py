"""The Numba kernels against the naive NumPy/SciPy references in ``naive.py``.

Tolerances (relative to the largest magnitude of the compared array unless
stated otherwise):

* float64: ``1e-10`` for E-step statistics and scores, ``1e-9`` after an
  M-step (the M-step subtracts moments), ``1e-12`` for additivity.
* float32: ``1e-5`` (observed errors are ~1e-7: the per-point arithmetic
  runs in float32, relative rounding ~6e-8 on log densities of size ~10,
  while every sum is float64). The M-step after a float32 E-step: ``1e-5``.
  Data far from zero (1e4 + N(0, 1)): ``1e-5`` when the means are float32
  numbers, else one float32 ulp of the data on the means and ``2e-3`` on
  the covariances (the kernel evaluates densities at the float32-rounded
  means, which is inherent to doing the per-point arithmetic in float32).
"""

import math

import naive
import numpy as np
import pytest
from scipy.special import logsumexp

from gmm_numba import _kernels
from gmm_numba._kernels.config import TILE, block_size
from gmm_numba._kernels.moments import common_shift
from gmm_numba._kernels.tiles import padded_parameters
from gmm_numba.covariance import get_model
from gmm_numba.data.in_memory import InMemoryData, per_sample_scores
from gmm_numba.data.statistics import SufficientStatistics
from gmm_numba.errors import EmptyComponentError, SingularCovarianceError
from gmm_numba.fitting.parameters import MixtureParameters, m_step

COVARIANCE_TYPES = naive.COVARIANCE_TYPES
DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-10}
RTOL_MSTEP = {np.float32: 1e-5, np.float64: 1e-9}

#: (n_samples, n_features, n_components). 3000 rows span two thread blocks
#: (block_size(3000) == 2048) and end in a partial tile; 9 rows are less than
#: one tile; D == 1 exercises the 1x1 factors of the full/tied models.
SHAPES = [(9, 1, 2), (500, 2, 3), (3000, 3, 3), (300, 5, 4), (400, 9, 3)]


def assert_close(actual, expected, rtol, what):
    """``|a - e| <= rtol * (|e| + max|e|)``: relative, with an absolute floor at the array's scale."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


def make_data(n, d, seed, dtype, weighted):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * 1.5 + 0.5).astype(dtype)
    if weighted:
        w = rng.uniform(0.0, 3.0, size=n)
        w[::7] = 0.0  # some points that must not count at all
        w[1::11] = 1.0
    else:
        w = None
    return np.ascontiguousarray(X), w


def s2_in_kernel_layout(model, s2_full):
    """The naive (K, D, D) second moments in the layout the kernel returns."""
    if model.layout == "full":
        return s2_full
    if model.name == "spherical":
        return np.trace(s2_full, axis1=1, axis2=2)[:, None, None]
    return np.diagonal(s2_full, axis1=1, axis2=2)[:, None, :]


# ------------------------------------------------------------------- E-step kernel
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}-D{}-K{}".format(*s))
def test_em_statistics_match_naive(shape, dtype, cov_type, weighted, make_parameters):
    n, d, k = shape
    X, w = make_data(n, d, seed=n + 10 * d + k, dtype=dtype, weighted=weighted)
    p = make_parameters(cov_type, k, d, np.random.default_rng(7 * k + d), center=0.5, spread=1.5)
    stats = InMemoryData(X, w).em_statistics(p.params)
    ref = naive.em_statistics(X, w, p.weights, p.means, p.full)
    rtol = RTOL[dtype]

    assert isinstance(stats, SufficientStatistics)
    assert_close(stats.total_weight, ref["W"], 1e-12 if dtype == np.float64 else 1e-6, "total weight")
    assert_close(stats.log_likelihood, ref["LL"], rtol, "log-likelihood")
    # the ICL term can be close to zero: absolute tolerance per unit of weight
    assert abs(stats.hard_log_resp - ref["hard"]) <= rtol * (abs(ref["hard"]) + ref["W"]), (
        stats.hard_log_resp, ref["hard"])
    assert_close(stats.nk, ref["nk"], rtol, "N_k")
    assert_close(stats.s1, ref["s1"], rtol, "S1")
    model = get_model(cov_type)
    expected_s2 = s2_in_kernel_layout(model, ref["s2"])
    assert stats.s2.shape == expected_s2.shape
    assert_close(stats.s2, expected_s2, rtol, "S2")
    # the kernel works about the means rounded to the data dtype, and records those
    np.testing.assert_array_equal(stats.shifts, p.means.astype(dtype).astype(np.float64))
    for a in (stats.nk, stats.s1, stats.s2):
        assert a.dtype == np.float64


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_one_block_e_step_on_the_calling_thread_equals_the_threaded_one(dtype, cov_type, weighted, make_parameters):
    """Data of one block skip the threads (``em_statistics_one_block``): the same statistics, bit for bit."""
    from gmm_numba import _kernels
    from gmm_numba._kernels.config import TILE

    X, w = make_data(700, 5, seed=3, dtype=dtype, weighted=weighted)
    p = make_parameters(cov_type, 4, 5, np.random.default_rng(2), center=0.5, spread=1.5)
    means, factors, log_weights, log_det = p.params.kernel_arguments()
    weights = np.empty(0) if w is None else w
    like = np.empty(0, dtype)
    threaded = _kernels.em_statistics(X, weights, means, factors, log_weights, log_det, 2 * TILE, like)
    alone = _kernels.em_statistics_one_block(X, weights, means, factors, log_weights, log_det, like)
    for a, b in zip(threaded, alone):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_em_statistics_zero_weight_component(dtype, make_parameters):
    """A component of weight 0 gets log-weight -inf and exactly zero responsibility (no NaN)."""
    X, _ = make_data(500, 2, seed=3, dtype=dtype, weighted=False)
    p = make_parameters("full", 3, 2, np.random.default_rng(3))
    weights = np.array([0.6, 0.0, 0.4])
    params = MixtureParameters.from_covariances(p.model, weights, p.means, p.covariances)
    stats = InMemoryData(X).em_statistics(params)
    ref = naive.em_statistics(X, None, weights, p.means, p.full)
    assert stats.nk[1] == 0.0
    assert np.all(np.isfinite(stats.s2))
    assert_close(stats.log_likelihood, ref["LL"], RTOL[dtype], "log-likelihood")
    assert_close(stats.nk, ref["nk"], RTOL[dtype], "N_k")


@pytest.mark.parametrize("cov_type", ["diag", "spherical"])
@pytest.mark.parametrize("far", [False, True], ids=["common-shift", "own-shifts"])
@pytest.mark.parametrize("shape", [(1500, 2, 4), (1500, 6, 6), (3000, 8, 9)], ids=lambda s: "N{}-D{}-K{}".format(*s))
def test_moments_about_a_common_shift(shape, far, cov_type):
    """Diagonal and spherical float64 first (and diagonal second) moments are
    taken about the mean of the means (four components per pass) unless a
    mean lies more than 100 of its standard deviations from it; both ways
    match the naive statistics."""
    n, d, k = shape
    rng = np.random.default_rng(n + d + k)
    means = rng.normal(size=(k, d)) * 3.0
    if far:
        means[-1] += 1e3  # 1000 standard deviations away: cancellation would cost ~1e-10
    if cov_type == "spherical":
        variances = np.repeat(rng.uniform(0.5, 2.0, size=(k, 1)), d, axis=1)
        covariances = variances[:, 0]
    else:
        variances = covariances = rng.uniform(0.5, 2.0, size=(k, d))
    labels = rng.integers(0, k, n)
    X = np.ascontiguousarray(means[labels] + rng.normal(size=(n, d)) * np.sqrt(variances[labels]))
    w = rng.uniform(0.0, 2.0, n)
    model = get_model(cov_type)
    params = MixtureParameters.from_covariances(model, np.full(k, 1.0 / k), means, covariances)
    factors = np.broadcast_to(params.precisions_cholesky.reshape(k, 1, -1), (k, 1, d))
    mu, pc = estep_padding(means, factors)
    use, _, _ = common_shift(mu, pc, True)
    assert use is (not far)
    stats = InMemoryData(X, w).em_statistics(params)
    ref = naive.em_statistics(X, w, params.weights, means, np.stack([np.diag(v) for v in variances]))
    assert_close(stats.nk, ref["nk"], 1e-10, "N_k")
    assert_close(stats.s1, ref["s1"], 1e-10, "S1")
    assert_close(stats.s2, s2_in_kernel_layout(model, ref["s2"]), 1e-10, "S2")


def test_common_shift_only_for_float64_diagonal_factors():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(4, 8))
    for like, allowed, expected in [(np.empty(0), True, True), (np.empty(0, np.float32), True, False),
                                    (np.empty(0), False, False)]:
        mu, pc = estep_padding(means, np.ones((4, 1, 8)), like)
        use, centre, offsets = common_shift(mu, pc, allowed)
        assert use is expected
        rtol = 1e-6 if like.dtype == np.float32 else 1e-14
        np.testing.assert_allclose(centre, means.mean(axis=0), rtol=rtol)
        np.testing.assert_allclose(offsets, means - means.mean(axis=0), rtol=rtol, atol=rtol)


def estep_padding(means, factors, like=None):
    """The means and factors as ``em_statistics`` pads them."""
    return padded_parameters(means, factors, np.empty(0) if like is None else like)


# ------------------------------------------------------------------ scoring kernel
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}-D{}-K{}".format(*s))
def test_per_sample_scores_match_scipy(shape, dtype, cov_type, make_parameters):
    n, d, k = shape
    X, _ = make_data(n, d, seed=n + d + k, dtype=dtype, weighted=False)
    p = make_parameters(cov_type, k, d, np.random.default_rng(3 * k + d), center=0.5, spread=1.5)
    log_density, labels, resp = per_sample_scores(X, p.params, with_responsibilities=True)
    wlp = naive.weighted_log_densities(X, p.weights, p.means, p.full)
    ref_lse = logsumexp(wlp, axis=1)
    ref_resp = np.exp(wlp - ref_lse[:, None])
    rtol = RTOL[dtype]

    assert log_density.shape == (n,) and labels.shape == (n,) and resp.shape == (n, k)
    np.testing.assert_allclose(log_density, ref_lse, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(resp, ref_resp, rtol=0, atol=rtol)
    # labels: compare where the two best components are not (numerically) tied
    top2 = np.sort(wlp, axis=1)[:, -2:] if k > 1 else np.c_[np.full(n, -np.inf), wlp[:, :1]]
    clear = (top2[:, 1] - top2[:, 0]) > (1e-3 if dtype == np.float32 else 1e-8)
    assert clear.mean() > 0.95
    np.testing.assert_array_equal(labels[clear], wlp.argmax(axis=1)[clear])
    assert labels.min() >= 0 and labels.max() < k

    log_density2, labels2, none = per_sample_scores(X, p.params, with_responsibilities=False)
    assert none is None
    np.testing.assert_array_equal(log_density2, log_density)
    np.testing.assert_array_equal(labels2, labels)


def test_per_sample_scores_ties_pick_lowest_index():
    """Two identical components: every point is a tie; the documented answer is component 0."""
    model = get_model("spherical")
    params = MixtureParameters.from_covariances(
        model, np.array([0.5, 0.5]), np.zeros((2, 2)), np.array([1.0, 1.0])
    )
    X = np.random.default_rng(0).normal(size=(50, 2))
    lse, labels, resp = per_sample_scores(X, params, True)
    np.testing.assert_array_equal(labels, 0)
    np.testing.assert_allclose(resp, 0.5, rtol=0, atol=1e-15)


# --------------------------------------------------------------------- additivity
@pytest.mark.parametrize("split", [1, TILE - 1, 1000, 2048, 2999])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_statistics_are_additive(cov_type, weighted, split, make_parameters):
    X, w = make_data(3000, 3, seed=11, dtype=np.float64, weighted=weighted)
    assert block_size(3000) < 3000  # the whole set spans several blocks
    p = make_parameters(cov_type, 3, 3, np.random.default_rng(5), center=0.5, spread=1.5)
    whole = InMemoryData(X, w).em_statistics(p.params)
    wa = None if w is None else np.ascontiguousarray(w[:split])
    wb = None if w is None else np.ascontiguousarray(w[split:])
    a = InMemoryData(np.ascontiguousarray(X[:split]), wa).em_statistics(p.params)
    b = InMemoryData(np.ascontiguousarray(X[split:]), wb).em_statistics(p.params)
    total = a + b
    assert isinstance(total, SufficientStatistics)
    for name in ("total_weight", "log_likelihood", "hard_log_resp", "nk", "s1", "s2"):
        assert_close(getattr(total, name), getattr(whole, name), 1e-12, name)
    np.testing.assert_array_equal(total.shifts, whole.shifts)


def test_adding_statistics_about_different_shifts_fails(make_parameters):
    X, _ = make_data(100, 2, seed=1, dtype=np.float64, weighted=False)
    p = make_parameters("diag", 2, 2, np.random.default_rng(1))
    q = make_parameters("diag", 2, 2, np.random.default_rng(2))
    a = InMemoryData(X).em_statistics(p.params)
    b = InMemoryData(X).em_statistics(q.params)
    with pytest.raises(ValueError):
        a + b


# ------------------------------------------------------------------------ M-steps
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_m_step_after_kernel_matches_np_cov(dtype, cov_type, weighted, make_parameters):
    X, w = make_data(3000, 3, seed=21, dtype=dtype, weighted=weighted)
    p = make_parameters(cov_type, 3, 3, np.random.default_rng(21), center=0.5, spread=1.5)
    reg = 1e-4
    new = m_step(p.model, InMemoryData(X, w).em_statistics(p.params), reg)
    _, resp, _ = naive.e_step(X, p.weights, p.means, p.full)
    weights, means, covs = naive.m_step(X, w, resp, cov_type, reg)
    rtol = RTOL_MSTEP[dtype]
    assert isinstance(new, MixtureParameters)
    assert new.model is p.model
    assert_close(new.weights, weights, rtol, "weights")
    assert_close(new.means, means, rtol, "means")
    assert_close(new.covariances, covs, rtol, "covariances")
    assert_close(new.precisions_cholesky, naive.precisions_cholesky(cov_type, covs), rtol, "precisions_cholesky")


@pytest.mark.parametrize(
    "cov_type, layout",
    [(c, "full") for c in COVARIANCE_TYPES]
    + [("diag", "diagonal"), ("spherical", "diagonal"), ("spherical", "trace")],
)
@pytest.mark.parametrize("shift", ["zero", "random", "far"])
def test_m_step_from_naive_statistics(cov_type, shift, layout):
    """The M-step alone, from statistics computed naively about arbitrary shifts
    (full (K, D, D), diagonal (K, 1, D) or trace (K, 1, 1) second moments)."""
    rng = np.random.default_rng(4)
    n, d, k = 400, 3, 3
    X = rng.normal(size=(n, d)) * [1.0, 2.0, 0.5] + [3.0, -1.0, 0.0]
    w = rng.uniform(0.2, 2.0, n)
    resp = rng.dirichlet(np.ones(k), size=n)
    shifts = {
        "zero": np.zeros((k, d)),
        "random": rng.normal(size=(k, d)),
        "far": 50.0 + rng.normal(size=(k, d)),
    }[shift]
    ref = naive.statistics_from_responsibilities(X, w, resp, shifts)
    s2 = {
        "full": ref["s2"],
        "diagonal": np.diagonal(ref["s2"], axis1=1, axis2=2)[:, None, :].copy(),
        "trace": np.trace(ref["s2"], axis1=1, axis2=2)[:, None, None],
    }[layout]
    stats = SufficientStatistics(ref["W"], np.nan, np.nan, ref["nk"], ref["s1"], s2, shifts)
    reg = np.array([1e-3, 2e-3, 3e-3])  # a per-feature reg_covar
    new = m_step(get_model(cov_type), stats, reg)
    weights, means, covs = naive.m_step(X, w, resp, cov_type, reg)
    assert_close(new.weights, weights, 1e-12, "weights")
    assert_close(new.means, means, 1e-10, "means")
    assert_close(new.covariances, covs, 1e-9, "covariances")
    assert_close(new.precisions_cholesky, naive.precisions_cholesky(cov_type, covs), 1e-9, "precisions_cholesky")


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_m_step_rejects_empty_component(cov_type):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    resp = np.zeros((50, 2))
    resp[:, 0] = 1.0
    ref = naive.statistics_from_responsibilities(X, None, resp, np.zeros((2, 2)))
    stats = SufficientStatistics(ref["W"], 0.0, 0.0, ref["nk"], ref["s1"], ref["s2"], np.zeros((2, 2)))
    with pytest.raises(EmptyComponentError):
        m_step(get_model(cov_type), stats, 1e-6)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_precision_cholesky_kernel_matches_numpy(d):
    rng = np.random.default_rng(d)
    covs = []
    for _ in range(3):
        A = rng.normal(size=(d, d))
        covs.append(A @ A.T + 0.1 * np.eye(d))
    covs = np.array(covs)
    factors, failed = _kernels.precision_cholesky(covs)
    assert failed == -1
    assert_close(factors, naive.precisions_cholesky("full", covs), 1e-10, "factors")
    assert not np.any(np.tril(factors, -1)), "the factors must be upper triangular"
    np.testing.assert_allclose(factors @ np.swapaxes(factors, 1, 2), np.linalg.inv(covs), rtol=1e-9, atol=1e-9)


def test_precision_cholesky_kernel_reports_first_singular_matrix():
    good = np.array([[2.0, 0.5], [0.5, 1.0]])
    rank_one = np.array([[1.0, 2.0], [2.0, 4.0]])
    indefinite = np.array([[1.0, 3.0], [3.0, 1.0]])
    assert _kernels.precision_cholesky(np.array([good, rank_one, good]))[1] == 1
    assert _kernels.precision_cholesky(np.array([good, good, indefinite]))[1] == 2
    assert _kernels.precision_cholesky(np.array([np.full((2, 2), np.nan)]))[1] == 0


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_m_step_rejects_collapsed_covariance(cov_type):
    """reg_covar=0 and a component whose points (exact binary fractions) span too few directions."""
    t = np.arange(8.0)
    line = np.c_[t, np.full(8, 3.0)]  # constant second feature: singular full and tied covariances
    point = np.zeros((8, 2)) + [5.0, -3.0]  # one repeated point: zero variances
    X = np.vstack([point, line])
    resp = np.zeros((16, 2))
    resp[:8, 0] = resp[8:, 1] = 1.0
    if cov_type == "tied":
        X = np.vstack([line, line + [0.0, 16.0]])  # both components on parallel lines
    ref = naive.statistics_from_responsibilities(X, None, resp, np.zeros((2, 2)))
    stats = SufficientStatistics(ref["W"], 0.0, 0.0, ref["nk"], ref["s1"], ref["s2"], np.zeros((2, 2)))
    with pytest.raises(SingularCovarianceError):
        m_step(get_model(cov_type), stats, 0.0)
    # and a little regularisation makes it valid again
    new = m_step(get_model(cov_type), stats, 1e-3)
    assert np.all(np.isfinite(new.precisions_cholesky))


# ------------------------------------------------------- precision far from zero
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_float32_data_far_from_zero_keeps_precision(cov_type, make_parameters):
    """float32 data 1e4 + N(0, 1): the moments about the current means stay accurate.

    Raw float32 moments (E[x^2] - E[x]^2) lose every digit of the variance
    here; the shifted moments must give the variance to ~1e-4. The means are
    chosen exactly representable in float32 so that the reference and the
    kernel evaluate the same densities.
    """
    rng = np.random.default_rng(9)
    n, d, k = 4000, 2, 2
    centre = np.full(d, 1e4)
    half = n // 2
    X64 = centre + rng.normal(size=(n, d))
    X64[:half] += 1.5
    X32 = np.ascontiguousarray(X64.astype(np.float32))
    Xref = X32.astype(np.float64)

    # sanity: the naive unshifted float32 variance is useless on this data
    raw32 = (X32 * X32).mean(axis=0, dtype=np.float32) - X32.mean(axis=0, dtype=np.float32) ** 2
    true_var = Xref.var(axis=0)
    assert np.max(np.abs(raw32 - true_var) / true_var) > 0.1

    p = make_parameters(cov_type, k, d, np.random.default_rng(1), center=centre, spread=0.8)
    means32 = p.means.astype(np.float32).astype(np.float64)
    params = MixtureParameters.from_covariances(p.model, p.weights, means32, p.covariances)
    stats = InMemoryData(X32).em_statistics(params)
    ref = naive.em_statistics(Xref, None, p.weights, means32, p.full)
    rtol = 1e-5
    assert_close(stats.log_likelihood, ref["LL"], rtol, "log-likelihood")
    assert_close(stats.nk, ref["nk"], rtol, "N_k")
    assert_close(stats.s1, ref["s1"], rtol, "S1")
    assert_close(stats.s2, s2_in_kernel_layout(p.model, ref["s2"]), rtol, "S2")

    new = m_step(p.model, stats, 1e-6)
    _, resp, _ = naive.e_step(Xref, p.weights, means32, p.full)
    weights, means, covs = naive.m_step(Xref, None, resp, cov_type, 1e-6)
    assert_close(new.weights, weights, rtol, "weights")
    assert_close(new.covariances, covs, rtol, "covariances")
    assert_close(new.means, means, 1e-9, "means")  # |mean| ~ 1e4: 1e-5 of the spread
    assert np.max(np.abs(new.means - means)) < 1e-5

    # means that are not float32 numbers: still within one float32 ulp of the data
    ulp = float(np.spacing(np.float32(1e4)))
    params = MixtureParameters.from_covariances(p.model, p.weights, p.means, p.covariances)
    new = m_step(p.model, InMemoryData(X32).em_statistics(params), 1e-6)
    _, resp, _ = naive.e_step(Xref, p.weights, p.means, p.full)
    weights, means, covs = naive.m_step(Xref, None, resp, cov_type, 1e-6)
    assert np.max(np.abs(new.means - means)) <= ulp
    assert_close(new.covariances, covs, 2e-3, "covariances")


# ---------------------------------------------------------------- initialisation
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("seed", range(4))
def test_kmeans_plusplus_distinct_valid_indices(seed, weighted):
    rng = np.random.default_rng(seed)
    n, d, k = 300, 3, 6
    X = rng.normal(size=(n, d))
    X[: n // 2] += 4.0
    w = rng.uniform(0.5, 2.0, n) if weighted else np.ones(n)
    if weighted:
        w[rng.choice(n, 100, replace=False)] = 0.0
    trials = 2 + int(np.log(k))
    uniforms = rng.random((k, trials))
    chosen = _kernels.kmeans_plusplus(np.ascontiguousarray(X), w, uniforms)
    assert chosen.shape == (k,)
    assert np.all((chosen >= 0) & (chosen < n))
    assert len(set(chosen.tolist())) == k
    assert np.all(w[chosen] > 0), "a point of zero weight was chosen as a centre"
    np.testing.assert_array_equal(chosen, naive.kmeans_plusplus(X, w, uniforms))


def test_kmeans_plusplus_first_centre_follows_uniform():
    X = np.arange(10.0)[:, None] ** 2
    w = np.ones(10)
    for u, expected in [(0.0, 0), (0.05, 0), (0.1, 1), (0.55, 5), (0.999, 9)]:
        uniforms = np.array([[u, 0.5]])
        assert _kernels.kmeans_plusplus(X, w, uniforms)[0] == expected


@pytest.mark.parametrize("with_s2", [False, True])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_nearest_center_statistics_match_naive(dtype, weighted, with_s2):
    X, w = make_data(3000, 3, seed=5, dtype=dtype, weighted=weighted)
    rng = np.random.default_rng(5)
    centers = X[rng.choice(3000, 4, replace=False)].astype(np.float64) + 0.01
    counts, s1, s2, inertia = InMemoryData(X, w).nearest_center_statistics(centers, with_s2)
    ref_counts, ref_s1, ref_s2, ref_inertia, labels, _ = naive.nearest_center_statistics(X, w, centers, with_s2)
    assert len(set(labels.tolist())) == 4
    assert_close(counts, ref_counts, 1e-12, "counts")
    assert_close(s1, ref_s1, 1e-10, "s1")
    assert_close(inertia, ref_inertia, 1e-10, "inertia")
    if with_s2:
        assert_close(s2, ref_s2, 1e-10, "s2")
    else:
        assert not np.any(s2)


@pytest.mark.parametrize("n, d", [(3001, 1), (2100, 5), (1500, 9)])
def test_nearest_center_statistics_scaled_with_tied_centres(n, d):
    """Scaled distances, both tile-copy layouts (D <= 4 and D >= 5), partial tiles, and a centre
    repeated: its points go to the lower index."""
    X, w = make_data(n, d, seed=n, dtype=np.float64, weighted=True)
    rng = np.random.default_rng(d)
    centers = X[rng.choice(n, 4, replace=False)].astype(np.float64)
    centers[3] = centers[1]
    inv_scale = rng.uniform(0.3, 3.0, d)
    counts, s1, s2, inertia = InMemoryData(X, w).nearest_center_statistics(centers, True, inv_scale)
    scaled = (((X[:, None, :] - centers[None, :, :]) * inv_scale) ** 2).sum(axis=2)
    labels = scaled.argmin(axis=1)  # the first index on ties
    assert np.any(labels == 1) and not np.any(labels == 3)
    diff = X - centers[labels]
    ref_counts = np.bincount(labels, weights=w, minlength=4)
    ref_s1 = np.zeros((4, d))
    np.add.at(ref_s1, labels, w[:, None] * diff)
    ref_s2 = np.zeros((4, d, d))
    np.add.at(ref_s2, labels, w[:, None, None] * diff[:, :, None] * diff[:, None, :])
    assert_close(counts, ref_counts, 1e-12, "counts")
    assert_close(s1, ref_s1, 1e-10, "s1")
    assert_close(s2, ref_s2, 1e-10, "s2")
    assert_close(inertia, np.sum(w * scaled[np.arange(n), labels]), 1e-10, "inertia")


@pytest.mark.parametrize("seed", [0, 12345, 2**63 - 1, 2**64 - 1])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_random_responsibility_statistics_match_naive(seed, weighted):
    n, d, k = 2500, 2, 3  # two blocks
    X, w = make_data(n, d, seed=17, dtype=np.float64, weighted=weighted)
    shift = np.array([0.3, -0.2])
    nk, s1, s2 = _kernels.random_responsibility_statistics(
        X, np.empty(0) if w is None else w, shift, np.uint64(seed), k, block_size(n), np.int64(0)
    )
    resp = naive.random_responsibilities(seed, n, k)
    ref = naive.statistics_from_responsibilities(X, w, resp, np.tile(shift, (k, 1)))
    assert_close(nk, ref["nk"], 1e-12, "nk")
    assert_close(s1, ref["s1"], 1e-10, "s1")
    assert_close(s2, ref["s2"], 1e-10, "s2")
    # roughly uniform responsibilities: every component gets a fair share
    W = n if w is None else w.sum()
    assert np.all(np.abs(nk / W - 1.0 / k) < 0.05)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_source_random_responsibility_statistics_about_the_mean(dtype, weighted):
    n, d, k = 1000, 3, 4
    X, w = make_data(n, d, seed=23, dtype=dtype, weighted=weighted)
    Xref = X.astype(np.float64)
    stats = InMemoryData(X, w).random_responsibility_statistics(99, k)
    mean = np.average(Xref, axis=0, weights=w)
    np.testing.assert_allclose(stats.shifts, np.tile(mean, (k, 1)), rtol=1e-12, atol=1e-12)
    ref = naive.statistics_from_responsibilities(Xref, w, naive.random_responsibilities(99, n, k), stats.shifts)
    assert_close(stats.total_weight, ref["W"], 1e-12, "W")
    assert_close(stats.nk, ref["nk"], 1e-12, "nk")
    assert_close(stats.s2, ref["s2"], 1e-10, "s2")
    # about the weighted mean, the first moments add up to zero over the components
    np.testing.assert_allclose(stats.s1.sum(axis=0), 0.0, atol=1e-9 * ref["W"])
    assert_close(stats.s1, ref["s1"], 1e-9, "s1")


def test_float32_data_is_computed_in_float64_only_for_ill_conditioned_full_factors():
    from gmm_numba.data.in_memory import FLOAT32_MAX_CONDITION, compute_dtype

    well = np.stack([np.eye(3), np.diag([1.0, 2.0, 5.0])])
    ill = well.copy()
    ill[1] = np.triu(np.full((3, 3), 1.0)) @ np.diag([1.0, 1.0, 10 * FLOAT32_MAX_CONDITION])
    assert np.linalg.cond(ill[1]) > FLOAT32_MAX_CONDITION
    assert compute_dtype(np.dtype(np.float32), well) == np.float32
    assert compute_dtype(np.dtype(np.float32), ill) == np.float64
    assert compute_dtype(np.dtype(np.float64), well) == np.float64
    # diagonal factors have no cancellation: float32 whatever their spread
    assert compute_dtype(np.dtype(np.float32), np.array([[[1.0, 1e6]]])) == np.float32


def test_ill_conditioned_float32_statistics_match_the_float64_pass():
    """The float64 fallback gives float32 data the statistics of its exact float64 values."""
    from gmm_numba import GaussianMixture

    rng = np.random.default_rng(5)
    base = rng.normal(size=(400, 1))
    X32 = np.hstack([base, base + 1e-4 * rng.normal(size=(400, 1))]).astype(np.float32)
    X64 = X32.astype(np.float64)
    params = GaussianMixture(2, reg_covar=1e-12, random_state=0).fit(X64)._parameters
    from gmm_numba.data.in_memory import compute_dtype

    assert compute_dtype(np.dtype(np.float32), params.kernel_arguments()[1]) == np.float64
    s32 = InMemoryData(X32).em_statistics(params)
    s64 = InMemoryData(X64).em_statistics(params)
    np.testing.assert_allclose(s32.s2, s64.s2, rtol=1e-12)
    np.testing.assert_allclose(s32.log_likelihood, s64.log_likelihood, rtol=1e-12)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 7])
def test_orthogonal_polar_factor_matches_numpy_svd(d):
    """The Jacobi polar factor of the orientation M-steps against ``U V^T`` from LAPACK's SVD, from the identity
    and from another orthogonal start (the last update's rotations); the rotations it returns orthogonalise
    the columns."""
    from gmm_numba._kernels.linalg import orthogonal_polar_factor

    rng = np.random.default_rng(d)
    for scale in (1e-6, 1.0, 1e6):
        matrix = rng.normal(size=(d, d)) * rng.lognormal(size=d) * scale
        left, _, right = np.linalg.svd(matrix)
        for start in (np.eye(d), np.linalg.qr(rng.normal(size=(d, d)))[0]):
            out, rotations = np.zeros((d, d)), start.copy()
            assert orthogonal_polar_factor(matrix, out, rotations)
            np.testing.assert_allclose(out, left @ right, atol=1e-12)
            np.testing.assert_allclose(rotations.T @ rotations, np.eye(d), atol=1e-12)
            columns = matrix @ rotations
            gram = columns.T @ columns
            np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-12 * np.abs(gram).max())
    if d > 2:
        rank_deficient = np.outer(rng.normal(size=d), rng.normal(size=d))
        untouched, rotations = np.full((d, d), 7.0), np.eye(d)
        assert not orthogonal_polar_factor(rank_deficient, untouched, rotations)
        assert np.all(untouched == 7.0)
        assert np.all(rotations == np.eye(d))
    nan_entry = rng.normal(size=(d, d))
    nan_entry[0, 0] = np.nan
    for not_finite in (np.full((d, d), np.nan), nan_entry):
        assert not orthogonal_polar_factor(not_finite, np.zeros((d, d)), np.eye(d))


@pytest.mark.parametrize("d", [2, 3, 4, 7])
def test_orthogonal_polar_factor_of_rank_one_less(d):
    """A matrix of rank D - 1 (as the orientation M-steps' second tangent, when every component has its largest
    precision in the same direction: a zero column) gets an orthogonal factor that maximises tr(G^T X) and maps
    each right singular vector of a nonzero singular value to its left one, from any start."""
    from gmm_numba._kernels.linalg import orthogonal_polar_factor

    rng = np.random.default_rng(10 + d)
    left, _ = np.linalg.qr(rng.normal(size=(d, d)))
    right, _ = np.linalg.qr(rng.normal(size=(d, d)))
    values = np.append(rng.lognormal(size=d - 1), 0.0)
    zero_column = rng.normal(size=(d, d))
    zero_column[:, d // 2] = 0.0
    for matrix in (left @ np.diag(values) @ right.T, zero_column):
        u, s, vt = np.linalg.svd(matrix)
        for start in (np.eye(d), np.linalg.qr(rng.normal(size=(d, d)))[0]):
            out = np.zeros((d, d))
            assert orthogonal_polar_factor(matrix, out, start.copy())
            np.testing.assert_allclose(out.T @ out, np.eye(d), atol=1e-12)
            np.testing.assert_allclose(np.trace(matrix.T @ out), s.sum(), rtol=1e-12)
            np.testing.assert_allclose(out @ vt[: d - 1].T, u[:, : d - 1], atol=1e-10)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 7, 12])
def test_jacobi_symmetric_eigen_matches_numpy_eigh(d):
    """The Jacobi eigen-decomposition of the M-steps against LAPACK's ``eigh``: ascending eigenvalues to
    rounding (relative to the largest), eigenvectors that diagonalise the matrix, orthonormal; also for
    repeated eigenvalues, indefinite, diagonal and badly scaled matrices."""
    from gmm_numba._kernels.linalg import symmetric_eigen, symmetric_eigenvalues

    rng = np.random.default_rng(d)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    cases = [
        np.cov(rng.normal(size=(3 * d + 2, d)).T, bias=True).reshape(d, d) * scale for scale in (1e-8, 1.0, 1e8)
    ] + [
        (basis * rng.normal(size=d)) @ basis.T,  # indefinite
        (basis * np.repeat([2.0, 5.0], [d // 2, d - d // 2])) @ basis.T,  # repeated eigenvalues
        np.diag(rng.lognormal(size=d)),
        np.eye(d),
        np.zeros((d, d)),
        np.outer(np.arange(1.0, d + 1), np.arange(1.0, d + 1)),  # rank one
    ]
    for matrix in cases:
        matrix = 0.5 * (matrix + matrix.T)
        before = matrix.copy()
        values, vectors, alone = np.empty(d), np.empty((d, d)), np.empty(d)
        symmetric_eigen(matrix, values, vectors)
        symmetric_eigenvalues(matrix, alone)
        assert np.array_equal(matrix, before)
        expected = np.linalg.eigvalsh(matrix)
        size = max(np.abs(expected).max(), np.finfo(float).tiny)
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-13 * size)
        assert np.all(np.diff(values) >= 0)
        np.testing.assert_array_equal(alone, values)
        np.testing.assert_allclose(vectors.T @ vectors, np.eye(d), atol=1e-13)
        np.testing.assert_allclose(matrix @ vectors, vectors * values, rtol=0, atol=1e-13 * size)


def test_clearly_nonsingular_only_where_the_eigenvalues_say_nonsingular():
    """The Cholesky shortcut of the EVE/VVE singularity check answers "nonsingular" only for correlation
    matrices whose smallest eigenvalue is far above ``SINGULAR_SCATTER``, and leaves the near-singular ones
    to the eigenvalues."""
    from gmm_numba._kernels.constrained import CLEARLY_NONSINGULAR, SINGULAR_SCATTER, _clearly_nonsingular

    rng = np.random.default_rng(0)
    for d in (1, 2, 4, 6):
        basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
        for smallest in (0.5, 1e-6, 1e-9, 1.01 * CLEARLY_NONSINGULAR, 0.99 * CLEARLY_NONSINGULAR, 1e-12,
                         SINGULAR_SCATTER, 0.0, -1e-3):
            values = np.concatenate([[smallest], rng.uniform(0.5, 2.0, size=d - 1)])
            matrix = (basis * values) @ basis.T
            matrix = 0.5 * (matrix + matrix.T)
            before = matrix.copy()
            clear = _clearly_nonsingular(matrix)
            assert np.array_equal(matrix, before)
            if clear:
                assert np.linalg.eigvalsh(matrix)[0] > 100 * SINGULAR_SCATTER, (d, smallest)
            if smallest >= 1e-9:
                assert clear, (d, smallest)
            if smallest <= 1e-12:
                assert not clear, (d, smallest)


@pytest.mark.parametrize("d", [1, 2, 4, 7])
def test_shifted_log_det_matches_numpy_slogdet(d):
    """The Cholesky log-determinant of the M-steps against LAPACK's ``slogdet`` of the shifted matrix, and NaN
    (matrix unchanged) exactly where the shifted matrix is not positive definite."""
    from gmm_numba._kernels.linalg import shifted_log_det

    rng = np.random.default_rng(d)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    for smallest in (1e-8, 0.3, 5.0):
        values = np.concatenate([[smallest], rng.uniform(0.5, 3.0, size=d - 1)]) * rng.lognormal()
        matrix = (basis * values) @ basis.T
        matrix = 0.5 * (matrix + matrix.T)
        before = matrix.copy()
        for shift in (0.0, 0.5 * values.min()):
            sign, expected = np.linalg.slogdet(matrix - shift * np.eye(d))
            assert sign > 0
            condition = values.max() / (values.min() - shift)
            assert shifted_log_det(matrix, shift) == pytest.approx(expected, rel=1e-12, abs=1e-14 * condition)
        assert math.isnan(shifted_log_det(matrix, 2.0 * values.max()))
        assert np.array_equal(matrix, before)
    if d > 1:
        indefinite = (basis * np.concatenate([[-1.0, -2.0], np.ones(d - 2)])) @ basis.T
        assert math.isnan(shifted_log_det(0.5 * (indefinite + indefinite.T), 0.0))
    assert math.isnan(shifted_log_det(np.full((d, d), np.nan), 0.0))


@pytest.mark.parametrize("d", [1, 2, 4, 7, 12])
def test_largest_eigenvalue_bound_lies_between_the_largest_eigenvalue_and_d_to_the_sixteenth_root_times_it(d):
    """The EVE/VVE MM shift ``alpha_k = (tr W^16)^(1/16)`` majorises only if at least the largest eigenvalue
    (LAPACK's ``eigh``); it is within ``D^(1/16)`` of it, on scatters of one dominant direction within rounding
    of it, computed alike by the compiled and the NumPy M-steps, and neither over- nor underflows at extreme
    scales."""
    from gmm_numba._kernels.constrained import EIGENVALUE_BOUND_SQUARINGS, _largest_eigenvalue_bound
    from gmm_numba.covariance._mstep import eigenvalue_bounds_of_nonsingular

    rng = np.random.default_rng(d)
    basis = np.linalg.qr(rng.normal(size=(d, d)))[0]
    power = 2 ** (EIGENVALUE_BOUND_SQUARINGS + 1)
    cases = [np.cov(rng.normal(size=(3 * d + 2, d)).T, bias=True).reshape(d, d) * s for s in (1e-150, 1.0, 1e150)]
    cases += [
        (basis * rng.lognormal(size=d)) @ basis.T,
        np.eye(d) * 3.0,  # equal eigenvalues: the bound is furthest from the largest, D^(1/16) times it
        (basis * np.concatenate([[100.0], np.full(d - 1, 1.0)])) @ basis.T,  # one dominant direction
        np.diag(rng.lognormal(size=d) * 1e6),
    ]
    for matrix in cases:
        matrix = 0.5 * (matrix + matrix.T)
        largest = np.linalg.eigvalsh(matrix)[-1]
        work = np.empty((2, d, d))
        bound = _largest_eigenvalue_bound(matrix, work[0], work[1])
        assert largest * (1 - 1e-14) <= bound <= largest * d ** (1 / power) * (1 + 1e-14), (bound, largest)
        np.testing.assert_allclose(eigenvalue_bounds_of_nonsingular(matrix[None], "VVE"), [bound], rtol=1e-14)
    one_direction = cases[-2]
    assert _largest_eigenvalue_bound(one_direction, work[0], work[1]) <= 100.0 * (1 + 1e-14)
    np.testing.assert_allclose(_largest_eigenvalue_bound(cases[-3], work[0], work[1]), 3.0 * d ** (1 / power))
