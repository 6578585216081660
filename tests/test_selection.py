"""Model selection: the sweep's table, parameter counts, information criteria
(checked against scipy), failed cells, the optimum found with the default
n_init, and recovery of a known model by BIC."""

import time
import warnings

import numpy as np
import pytest
import xarray as xr
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import gmm_numba
from gmm_numba import FitError, GaussianMixture, select
from gmm_numba.covariance import get_model
from gmm_numba.results import check_tree

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
MCLUST_NAMES = {"full": "VVV", "tied": "EEE", "diag": "VVI", "spherical": "VII"}
TABLE_VARIABLES = ("log_likelihood", "n_parameters", "bic", "aic", "icl", "converged", "n_iter", "error")

#: Criteria recomputed with scipy agree to this relative tolerance.
CRITERIA_RTOL = 1e-9


# ------------------------------------------------------------------ references
def full_covariances(cov_type, covariances, n_components, n_features):
    """scikit-learn shaped covariances as (K, D, D) matrices."""
    c = np.asarray(covariances, dtype=np.float64)
    if cov_type == "full":
        return c
    if cov_type == "tied":
        return np.broadcast_to(c, (n_components, n_features, n_features)).copy()
    if cov_type == "diag":
        return np.stack([np.diag(v) for v in c])
    return np.stack([v * np.eye(n_features) for v in c])


def scipy_criteria(X, weights, means, covariances, n_parameters, sample_weight=None):
    """log L, BIC, AIC and ICL of a mixture (full covariances), with scipy densities.

    Responsibilities by hand; ``n`` in BIC is the total weight.
    """
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    log_joint = np.column_stack(
        [np.log(pi) + multivariate_normal(mu, cov).logpdf(X) for pi, mu, cov in zip(weights, means, covariances)]
    )
    log_p = logsumexp(log_joint, axis=1)
    log_resp = log_joint - log_p[:, None]
    ll = float(np.sum(w * log_p))
    n = float(np.sum(w))
    bic = -2.0 * ll + n_parameters * np.log(n)
    aic = -2.0 * ll + 2.0 * n_parameters
    icl = bic - 2.0 * float(np.sum(w * log_resp[np.arange(len(X)), np.argmax(log_resp, axis=1)]))
    return {"log_likelihood": ll, "bic": bic, "aic": aic, "icl": icl}


def tree_parameters(tree):
    post = tree["posterior"].to_dataset().isel(chain=0, draw=0)
    return post["weights"].values, post["means"].values, post["covariances"].values


def is_degenerate(cov_type, covariances, n_components, feature_variance, reg_covar=1e-6, tolerance=1e-8):
    """A component whose covariance, less ``reg_covar``, is singular in units of the feature variances.

    Written independently of :func:`gmm_numba.selection.collapse_check`
    (which :func:`select` applies): such runs sit on points sharing a value,
    their likelihood is unbounded, and ``select`` discards them.
    """
    d = len(feature_variance)
    full = full_covariances(cov_type, covariances, n_components, d) - reg_covar * np.eye(d)
    scale = np.sqrt(feature_variance)
    scaled = full / scale[:, None] / scale[None, :]
    return bool(np.min(np.linalg.eigvalsh(scaled)) < tolerance)


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def faithful_sweep(faithful):
    """The default sweep on Old Faithful (K = 1..9, four models, default n_init)."""
    return select(faithful, random_state=0)


@pytest.fixture(scope="module")
def iris_sweep(iris):
    return select(iris, random_state=0)


# ------------------------------------------------------------------ layout
def test_sweep_layout(faithful_sweep):
    tree = faithful_sweep
    assert isinstance(tree, xr.DataTree)
    sel = tree["selection"].to_dataset()
    assert dict(sel.sizes) == {"covariance_type": 4, "n_components": 9}
    assert list(sel["covariance_type"].values) == list(COVARIANCE_TYPES)
    assert list(sel["n_components"].values) == list(range(1, 10))
    for name in TABLE_VARIABLES:
        assert sel[name].dims == ("covariance_type", "n_components"), name
    assert sel["n_parameters"].dtype.kind == "i"
    assert sel["n_iter"].dtype.kind == "i"
    assert sel["converged"].dtype == bool
    assert sel["error"].dtype.kind == "U"
    assert sel.attrs["criterion"] == "bic"
    # Old Faithful succeeds in every cell.
    assert np.all(sel["error"].values == "")
    assert np.all(np.isfinite(sel["bic"].values))


def test_returned_model_has_the_layout_of_fit(faithful, faithful_sweep):
    tree = faithful_sweep
    fitted = gmm_numba.fit(faithful, 3, covariance_type="tied", random_state=0)
    assert set(tree.children) == set(fitted.children) | {"selection"}
    for group in fitted.children:
        assert set(tree[group].to_dataset().data_vars) == set(fitted[group].to_dataset().data_vars), group
        for name, var in fitted[group].to_dataset().data_vars.items():
            assert tree[group][name].dims == var.dims, (group, name)
    assert set(fitted.attrs) <= set(tree.attrs)
    check_tree(tree)
    estimator = GaussianMixture.from_xarray(tree)
    assert estimator.covariance_type == tree.attrs["covariance_type"]
    assert estimator.n_components == tree.attrs["n_components"]


@pytest.mark.parametrize("criterion", ["bic", "aic", "icl"])
def test_best_cell_is_returned(faithful, criterion):
    tree = select(faithful, n_components=range(1, 6), criterion=criterion, random_state=1)
    sel = tree["selection"].to_dataset()
    values = sel[criterion].values
    i, j = np.unravel_index(np.nanargmin(values), values.shape)
    best_type = str(sel["covariance_type"].values[i])
    best_k = int(sel["n_components"].values[j])
    assert sel.attrs["criterion"] == criterion
    assert (sel.attrs["best_covariance_type"], sel.attrs["best_n_components"]) == (best_type, best_k)
    assert (tree.attrs["covariance_type"], tree.attrs["n_components"]) == (best_type, best_k)
    assert tree.attrs["criterion"] == criterion
    crit = tree["criteria"].to_dataset()
    for name in ("log_likelihood", "bic", "aic", "icl", "n_parameters"):
        assert float(crit[name]) == pytest.approx(float(sel[name].values[i, j]), rel=1e-12), name
    weights, means, covariances = tree_parameters(tree)
    assert weights.shape == (best_k,)
    ref = scipy_criteria(faithful, weights, means, covariances, int(sel["n_parameters"].values[i, j]))
    assert ref[criterion] == pytest.approx(float(values[i, j]), rel=CRITERIA_RTOL)


def test_mclust_names_are_accepted(faithful):
    sel = select(faithful, n_components=[1, 2], covariance_type=tuple(MCLUST_NAMES.values()), random_state=0)
    ref = select(faithful, n_components=[1, 2], covariance_type=COVARIANCE_TYPES, random_state=0)
    assert list(sel["selection"]["covariance_type"].values) == list(COVARIANCE_TYPES)
    np.testing.assert_array_equal(sel["selection"]["bic"].values, ref["selection"]["bic"].values)


def test_result_survives_netcdf(faithful, tmp_path):
    tree = select(faithful, n_components=[1, 2, 300], random_state=0)
    path = tmp_path / "sweep.nc"
    tree.to_netcdf(path)
    loaded = gmm_numba.load(path)
    xr.testing.assert_identical(loaded["selection"].to_dataset(), tree["selection"].to_dataset())


def test_same_random_state_same_table(faithful):
    a = select(faithful, n_components=[2, 3], random_state=7)["selection"].to_dataset()
    b = select(faithful, n_components=[2, 3], random_state=7)["selection"].to_dataset()
    xr.testing.assert_identical(a, b)


# ------------------------------------------------------------------ parameter counts
#: Hand-computed: K*D means + (K-1) weights + covariance parameters
#: (full K*D(D+1)/2, tied D(D+1)/2, diag K*D, spherical K).
HAND_COUNTS = {
    # (K, D): full, tied, diag, spherical
    (1, 1): (2, 2, 2, 2),
    (1, 4): (14, 14, 8, 5),
    (3, 2): (17, 11, 14, 11),
    (4, 4): (59, 29, 35, 23),
    (9, 2): (53, 29, 44, 35),
    (2, 5): (41, 26, 21, 13),
    (6, 3): (59, 29, 41, 29),
}


@pytest.mark.parametrize(("k", "d"), list(HAND_COUNTS))
def test_n_parameters_by_hand(k, d):
    for cov_type, expected in zip(COVARIANCE_TYPES, HAND_COUNTS[k, d]):
        assert get_model(cov_type).n_parameters(k, d) == expected, (cov_type, k, d)
        assert get_model(MCLUST_NAMES[cov_type]).n_parameters(k, d) == expected


#: K = 20 (more components than the 8 rows below: the cells fail, the counts stay).
COUNTS_K20 = {
    1: (59, 40, 59, 59),
    2: (119, 62, 99, 79),
    3: (199, 85, 139, 99),
    4: (299, 109, 179, 119),
    5: (419, 134, 219, 139),
}


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
def test_n_parameters_in_the_table(d):
    """The table's counts, including cells that fail (K above the number of rows)."""
    X = np.random.default_rng(d).normal(size=(8, d))
    ks = sorted({k for (k, dd) in HAND_COUNTS if dd == d} | {1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = select(X, n_components=ks + [20], random_state=0)["selection"]
    for (k, dd), expected in HAND_COUNTS.items():
        if dd == d:
            np.testing.assert_array_equal(sel["n_parameters"].sel(n_components=k).values, expected)
    np.testing.assert_array_equal(sel["n_parameters"].sel(n_components=20).values, COUNTS_K20[d])


# ------------------------------------------------------------------ criteria
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_every_cell_matches_scipy(faithful, faithful_sweep, cov_type):
    """Each cell of the sweep, refitted alone (same seeds, so the same fit),
    against log L, BIC, AIC and ICL recomputed with scipy from its parameters."""
    sel = faithful_sweep["selection"].to_dataset()
    for k in range(1, 10):
        alone = select(faithful, n_components=k, covariance_type=cov_type, random_state=0)
        p = int(sel["n_parameters"].sel(covariance_type=cov_type, n_components=k))
        ref = scipy_criteria(faithful, *tree_parameters(alone), p)
        for name, value in ref.items():
            cell = float(sel[name].sel(covariance_type=cov_type, n_components=k))
            assert cell == pytest.approx(value, rel=CRITERIA_RTOL), (cov_type, k, name)
        assert float(alone["criteria"]["n_samples"]) == len(faithful)


def test_iris_best_cell_matches_scipy(iris, iris_sweep):
    sel = iris_sweep["selection"].to_dataset()
    cov_type, k = sel.attrs["best_covariance_type"], sel.attrs["best_n_components"]
    p = int(sel["n_parameters"].sel(covariance_type=cov_type, n_components=k))
    ref = scipy_criteria(iris, *tree_parameters(iris_sweep), p)
    for name, value in ref.items():
        assert float(sel[name].sel(covariance_type=cov_type, n_components=k)) == pytest.approx(value, rel=CRITERIA_RTOL)


def test_criteria_identities(faithful_sweep):
    sel = faithful_sweep["selection"].to_dataset()
    ll, p, n = sel["log_likelihood"], sel["n_parameters"], 272.0
    np.testing.assert_allclose(sel["bic"], -2 * ll + p * np.log(n), rtol=1e-12)
    np.testing.assert_allclose(sel["aic"], -2 * ll + 2 * p, rtol=1e-12)
    assert np.all(sel["icl"].values >= sel["bic"].values)
    # One component: every point is fully assigned, ICL equals BIC.
    np.testing.assert_allclose(sel["icl"].sel(n_components=1), sel["bic"].sel(n_components=1), rtol=1e-12)


def test_weighted_criteria_match_scipy(faithful):
    w = np.random.default_rng(3).uniform(0.2, 2.0, len(faithful))
    tree = select(faithful, n_components=[1, 2, 3], sample_weight=w, random_state=0)
    sel = tree["selection"].to_dataset()
    i = list(sel["covariance_type"].values).index(tree.attrs["covariance_type"])
    j = list(sel["n_components"].values).index(tree.attrs["n_components"])
    ref = scipy_criteria(faithful, *tree_parameters(tree), int(sel["n_parameters"].values[i, j]), sample_weight=w)
    assert float(tree["criteria"]["n_samples"]) == pytest.approx(w.sum())
    for name, value in ref.items():
        assert float(sel[name].values[i, j]) == pytest.approx(value, rel=CRITERIA_RTOL), name


def test_integer_weights_equal_repeated_rows(faithful):
    # k-means++ starts: random-row starts draw different rows from the two arrays by construction
    w = np.random.default_rng(0).integers(0, 3, len(faithful))
    options = dict(n_components=[1, 2, 3], init_params="k-means++", random_state=0)
    weighted = select(faithful, sample_weight=w, **options)["selection"]
    repeated = select(np.repeat(faithful, w, axis=0), **options)["selection"]
    for name in ("log_likelihood", "bic", "aic", "icl"):
        np.testing.assert_allclose(weighted[name].values, repeated[name].values, rtol=1e-6, err_msg=name)


# ------------------------------------------------------------------ failed cells
def test_more_components_than_samples_fails_only_those_cells():
    X = np.random.default_rng(0).normal(size=(6, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = select(X, n_components=[1, 2, 7, 9], random_state=0)
    sel = tree["selection"].to_dataset()
    for k in (7, 9):
        cells = sel.sel(n_components=k)
        assert np.all(np.isnan(cells["bic"].values))
        assert np.all(np.isnan(cells["log_likelihood"].values))
        assert not cells["converged"].values.any()
        for reason in cells["error"].values:
            assert f"{k} components need at least {k} samples" in reason
    ok = sel.sel(n_components=1)
    assert np.all(ok["error"].values == "") and np.all(np.isfinite(ok["bic"].values))
    assert tree.attrs["n_components"] in (1, 2)
    assert np.isfinite(float(tree["criteria"]["bic"]))


def test_collapsing_cells_fail_with_a_reason_and_the_rest_compete():
    """Four distinct points, each repeated 25 times: a component on one of them
    has a singular covariance, which regularisation would hide."""
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(4, 2)) * 5, 25, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = select(X, n_components=range(1, 7), random_state=0)
    sel = tree["selection"].to_dataset()
    failed = sel["error"].values != ""
    assert np.array_equal(failed, np.isnan(sel["bic"].values))
    assert np.all(np.isfinite(sel["n_parameters"].values))
    # Every model fits one component; no model can give 4 (or more) components
    # to 4 distinct points without a singular covariance.
    assert not failed[:, 0].any()
    assert failed[:, 3:].all()
    assert any("collapsed" in e for e in sel["error"].values.ravel())
    bic = np.where(failed, np.inf, sel["bic"].values)
    i, j = np.unravel_index(np.argmin(bic), bic.shape)
    assert tree.attrs["covariance_type"] == str(sel["covariance_type"].values[i])
    assert tree.attrs["n_components"] == int(sel["n_components"].values[j])
    weights, _, covariances = tree_parameters(tree)
    assert np.all(np.linalg.eigvalsh(covariances)[:, 0] > 1e-3)


def test_allow_degenerate_keeps_the_spikes():
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(4, 2)) * 5, 25, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = select(X, n_components=[4], covariance_type="spherical", random_state=0, allow_degenerate=True)
    assert float(sel["selection"]["log_likelihood"].squeeze()) > 0  # density spikes of width sqrt(reg_covar)


def test_every_cell_failing_raises_fit_error():
    X = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.raises(FitError, match="Every model failed") as info:
        select(X, n_components=[6, 8], random_state=0)
    assert "6 components need at least 6 samples" in str(info.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FitError, match="collapsed"):
            select(np.ones((10, 2)), n_components=[1, 2], random_state=0)


# ------------------------------------------------------------------ the optimum
#: Random restarts per cell for the reference optimum.
N_REFERENCE_RESTARTS = 200
#: The sweep's log-likelihood may fall short of the reference by this, relatively.
OPTIMUM_RTOL = 1e-6


def best_of_random_restarts(X, cov_type, k, n_restarts, init_params="random_from_data"):
    """Highest log-likelihood over ``n_restarts`` seeded EM runs, tight tolerance,
    degenerate runs (see :func:`is_degenerate`) left out."""
    feature_variance = X.var(axis=0)
    best = -np.inf
    for seed in range(n_restarts):
        gm = GaussianMixture(
            k, covariance_type=cov_type, tol=1e-8, max_iter=10_000, init_params=init_params, random_state=seed
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gm.fit(X)
        except FitError:
            continue
        if is_degenerate(cov_type, gm.covariances_, k, feature_variance):
            continue
        best = max(best, gm.score(X) * len(X))
    return best


@pytest.mark.slow
@pytest.mark.parametrize("k", range(1, 10))
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", ["faithful", "iris"])
def test_default_n_init_reaches_the_best_of_random_restarts(dataset, cov_type, k, request):
    """Each cell of the default sweep is as good as the best of 200 random restarts."""
    X = request.getfixturevalue(dataset)
    sel = request.getfixturevalue(f"{dataset}_sweep")["selection"]
    started = time.perf_counter()
    reference = best_of_random_restarts(X, cov_type, k, N_REFERENCE_RESTARTS)
    found = float(sel["log_likelihood"].sel(covariance_type=cov_type, n_components=k))
    print(f"{dataset} {cov_type} K={k}: {time.perf_counter() - started:.1f} s")
    assert found >= reference - OPTIMUM_RTOL * abs(reference), (
        f"{dataset}, {cov_type}, K={k}: the default sweep reaches log L {found:.6f}, "
        f"{N_REFERENCE_RESTARTS} random restarts {reference:.6f} (short by {reference - found:.3g})"
    )


# ------------------------------------------------------------------ recovery by BIC
N_RECOVERY_SEEDS = 20
RECOVERY_K = range(1, 5)

MEANS = np.array([[0.0, 0.0], [9.0, 0.0], [4.0, 8.0]])
WEIGHTS = np.array([0.3, 0.3, 0.4])
TRUE_COVARIANCES = {
    "spherical": [np.eye(2) * v for v in (1.0, 2.25, 0.5)],
    "diag": [np.diag(v) for v in ((1.0, 3.0), (3.0, 0.6), (2.0, 0.4))],
    "tied": [np.array([[2.0, 1.1], [1.1, 1.5]])] * 3,
    "full": [
        np.array([[2.0, 1.1], [1.1, 1.5]]),
        np.array([[1.0, -0.7], [-0.7, 1.2]]),
        np.array([[0.5, 0.0], [0.0, 2.5]]),
    ],
}


def simulate(truth, seed, n_samples=500):
    """N=500 draws from a well-separated 3-component, 2-D mixture of the ``truth`` model."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n_samples, p=WEIGHTS)
    X = np.empty((n_samples, 2))
    for k, cov in enumerate(TRUE_COVARIANCES[truth]):
        X[labels == k] = rng.multivariate_normal(MEANS[k], cov, size=int(np.sum(labels == k)))
    return X


@pytest.mark.filterwarnings("ignore::gmm_numba.errors.ConvergenceWarning")
@pytest.mark.parametrize("truth", COVARIANCE_TYPES)
def test_bic_recovers_the_true_model(truth):
    picks = []
    for seed in range(N_RECOVERY_SEEDS):
        tree = select(simulate(truth, seed), n_components=RECOVERY_K, random_state=seed)
        picks.append((tree.attrs["covariance_type"], int(tree.attrs["n_components"])))
    right = sum(pick == (truth, 3) for pick in picks)
    assert right >= N_RECOVERY_SEEDS - 1, f"BIC picked (model, K) = {picks}"
