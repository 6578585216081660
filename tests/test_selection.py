"""Model selection: the sweep's table, parameter counts, information criteria
(checked against scipy), failed cells, the optimum found with the default
n_init, and recovery of a known model by BIC."""

import io
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

import gmm_numba
from gmm_numba import FitError, GaussianMixture, select
from gmm_numba.covariance import get_model, mclust_names
from gmm_numba.fitting.parameters import MixtureParameters, m_step, made
from gmm_numba.results import check_tree
from gmm_numba.results.summary import format_selection
from gmm_numba.selection import runner
from gmm_numba.selection.moves import (
    concatenate_moments,
    insertion_moments,
    merge_moments,
    merge_order,
    neighbour_moments,
    split_moments,
)
from gmm_numba.selection.plan import remaining_gain
from gmm_numba.selection.starts import CellStarts
from gmm_numba.selection.sweep import DEFAULT_N_INIT

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def split_statistics(params, component, reg_covar):
    """One split's statistics (any model's M-step takes them)."""
    return split_moments(params, [component], reg_covar).statistics(0)


def merge_statistics(params, first, second, reg_covar):
    """One merge's statistics."""
    return merge_moments(params, [(first, second)], reg_covar).statistics(0)


def insertion_statistics(params, X, sample_weight, anchors, n_neighbours, reg_covar, inv_scale):
    """Each anchor's insertion statistics."""
    moments = insertion_moments(params, X, sample_weight, anchors, n_neighbours, reg_covar, inv_scale)
    return [moments.statistics(c) for c in range(len(moments))]
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

    Written independently of :func:`gmm_numba.selection.collapse.collapse_check`
    (which :func:`select` applies): such runs sit on points sharing a value,
    their likelihood is unbounded, and ``select`` discards them.
    """
    d = len(feature_variance)
    full = full_covariances(cov_type, covariances, n_components, d) - reg_covar * np.eye(d)
    scale = np.sqrt(feature_variance)
    scaled = full / scale[:, None] / scale[None, :]
    return bool(np.min(np.linalg.eigvalsh(scaled)) < tolerance)


def select_recording_random_starts(X, **options):
    """``select(X, **options)``, and the cells ``(model name, K)`` that got random starts after the hierarchical one."""
    cells = set()
    random_starts = CellStarts.random

    def recording(self, models, k):
        cells.update((model.name, k) for model in models)
        return random_starts(self, models, k)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CellStarts, "random", recording)
        return select(X, **options), cells


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def faithful_sweep_and_random_cells(faithful):
    """The default sweep on Old Faithful (K = 1..9, mclust's fourteen models, default n_init), and the cells
    that got random starts."""
    return select_recording_random_starts(faithful, random_state=0)


@pytest.fixture(scope="module")
def faithful_sweep(faithful_sweep_and_random_cells):
    return faithful_sweep_and_random_cells[0]


@pytest.fixture(scope="module")
def iris_sweep(iris):
    return select(iris, random_state=0)


# ------------------------------------------------------------------ layout
def test_sweep_layout(faithful_sweep):
    tree = faithful_sweep
    assert isinstance(tree, xr.DataTree)
    sel = tree["selection"].to_dataset()
    assert dict(sel.sizes) == {"covariance_type": 14, "n_components": 9}
    assert list(sel["covariance_type"].values) == mclust_names()
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
    assert list(sel["selection"]["covariance_type"].values) == list(MCLUST_NAMES.values())  # as given
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
        sel = select(X, n_components=ks + [20], covariance_type=COVARIANCE_TYPES, random_state=0)["selection"]
    # on one feature the four collapse onto mclust's E (tied's count) and V (full's)
    rows = (lambda counts: counts) if d > 1 else (lambda counts: counts[:2])  # full -> V, tied -> E
    assert list(sel["covariance_type"].values) == (list(COVARIANCE_TYPES) if d > 1 else ["V", "E"])
    for (k, dd), expected in HAND_COUNTS.items():
        if dd == d:
            np.testing.assert_array_equal(sel["n_parameters"].sel(n_components=k).values, rows(expected))
    np.testing.assert_array_equal(sel["n_parameters"].sel(n_components=20).values, rows(COUNTS_K20[d]))


# ------------------------------------------------------------------ criteria
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_every_cell_matches_scipy(faithful, faithful_sweep_and_random_cells, cov_type):
    """Each cell fitted alone (its own random starts, no neighbour moves)
    against log L, BIC, AIC and ICL recomputed with scipy from its parameters;
    the sweep's cell, which also starts from its neighbours' fits, is at least as good
    where the sweep gave it the same random starts."""
    faithful_sweep, random_cells = faithful_sweep_and_random_cells
    assert random_cells, "no cell of the sweep got random starts"
    sel = faithful_sweep["selection"].to_dataset()
    row = get_model(cov_type).mclust_name  # the default sweep names its rows by mclust's names
    for k in range(1, 10):
        alone = select(faithful, n_components=k, covariance_type=cov_type, random_state=0)
        p = int(sel["n_parameters"].sel(covariance_type=row, n_components=k))
        ref = scipy_criteria(faithful, *tree_parameters(alone), p)
        for name, value in ref.items():
            assert float(alone["criteria"][name]) == pytest.approx(value, rel=CRITERIA_RTOL), (cov_type, k, name)
        assert float(alone["criteria"]["n_samples"]) == len(faithful)
        cell = float(sel["log_likelihood"].sel(covariance_type=row, n_components=k))
        if (get_model(cov_type).name, k) in random_cells:
            assert cell >= ref["log_likelihood"] - 1e-9 * abs(cell), (cov_type, k)


@pytest.fixture(scope="module")
def faithful_models_sweep(faithful):
    """The default sweep on Old Faithful with ``search="models"``."""
    return select(faithful, random_state=0, search="models")


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_with_search_models_each_model_row_is_its_own_sweep(faithful, faithful_models_sweep, cov_type):
    """With ``search="models"`` the starts and neighbour moves of one covariance model do not depend on the
    others."""
    alone = select(faithful, covariance_type=cov_type, random_state=0, search="models")["selection"].to_dataset()
    row = faithful_models_sweep["selection"].to_dataset().sel(covariance_type=[get_model(cov_type).mclust_name])
    for name in ("log_likelihood", "bic", "converged", "n_iter", "error"):
        np.testing.assert_array_equal(alone[name].values, row[name].values, err_msg=name)


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
    # k-means++ starts: random-row starts draw different rows from the two arrays by construction, and
    # so do the insertion moves' anchors, hence no neighbouring values of K (no moves)
    w = np.random.default_rng(0).integers(0, 3, len(faithful))
    options = dict(n_components=[1, 3], covariance_type=COVARIANCE_TYPES, init_params="k-means++", random_state=0)
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
        tree = select(X, n_components=range(1, 7), covariance_type=COVARIANCE_TYPES, random_state=0)
    sel = tree["selection"].to_dataset()
    failed = sel["error"].values != ""
    assert np.array_equal(failed, np.isnan(sel["bic"].values))
    assert np.all(np.isfinite(sel["n_parameters"].values))
    # Every model fits one component; no model with a covariance per component can give 4 (or more)
    # components to 4 distinct points without a singular covariance (tied, whose one covariance pools
    # every component's scatter, can: the hierarchical start finds such fits).
    assert not failed[:, 0].any()
    per_component = [i for i, name in enumerate(sel["covariance_type"].values) if name != "tied"]
    assert failed[per_component, 3:].all()
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
        tree = select(
            simulate(truth, seed), n_components=RECOVERY_K, covariance_type=COVARIANCE_TYPES, random_state=seed
        )
        picks.append((tree.attrs["covariance_type"], int(tree.attrs["n_components"])))
    right = sum(pick == (truth, 3) for pick in picks)
    assert right >= N_RECOVERY_SEEDS - 1, f"BIC picked (model, K) = {picks}"


# ------------------------------------------------------------------ neighbour moves
def random_parameters(cov_type, seed, k=4, d=3):
    """Parameters with random weights, means and (model-shaped) covariances."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 2.0))
    means = rng.normal(size=(k, d)) * 3
    a = rng.normal(size=(k, d, d))
    full = a @ np.swapaxes(a, 1, 2) + 0.3 * np.eye(d)
    shaped = {
        "full": full,
        "tied": full[0],
        "diag": np.stack([np.diag(c) for c in full]),
        "spherical": np.array([np.trace(c) / d for c in full]),
    }[cov_type]
    return MixtureParameters.from_covariances(get_model(cov_type), weights, means, shaped)


def mixture_moments(weights, means, covariances):
    """Mean and covariance of a Gaussian mixture (law of total covariance), (K, D, D) covariances."""
    w = np.asarray(weights) / np.sum(weights)
    mean = w @ means
    centred = means - mean
    return mean, np.einsum("k,kij->ij", w, covariances) + np.einsum("k,ki,kj->ij", w, centred, centred)


@pytest.mark.parametrize("reg_covar", [0.0, 0.3])
@pytest.mark.parametrize("component", [0, 2])
def test_a_split_keeps_the_component_moments(component, reg_covar):
    """The two halves together have the mean and covariance of the component they replace."""
    params = random_parameters("full", seed=component)
    split = m_step(get_model("full"), split_statistics(params, component, reg_covar), reg_covar)
    assert split.n_components == params.n_components + 1
    halves = [component, params.n_components]
    assert split.weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(split.weights[halves], params.weights[component] / 2, rtol=1e-12)
    reg = reg_covar * np.eye(params.n_features)
    mean, cov = mixture_moments(split.weights[halves], split.means[halves], split.covariances[halves] - reg)
    np.testing.assert_allclose(mean, params.means[component], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cov, params.covariances[component] - reg, rtol=1e-10, atol=1e-12)
    others = [c for c in range(params.n_components) if c != component]
    np.testing.assert_allclose(split.means[others], params.means[others], rtol=1e-12)
    np.testing.assert_allclose(split.covariances[others], params.covariances[others], rtol=1e-12)
    # the halves sit either side of the old mean along the widest axis of the old covariance
    axis = np.linalg.eigh(params.covariances[component] - reg)[1][:, -1]
    offset = split.means[halves[1]] - params.means[component]
    assert abs(offset @ axis) == pytest.approx(np.linalg.norm(offset), rel=1e-9)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_merging_the_halves_of_a_split_gives_the_mixture_back(cov_type):
    params = random_parameters(cov_type, seed=5)
    model = get_model(cov_type)
    reg = 1e-3
    split = m_step(model, split_statistics(params, 1, reg), reg)
    merged = m_step(model, merge_statistics(split, 1, params.n_components, reg), reg)
    np.testing.assert_allclose(merged.weights, params.weights, rtol=1e-12)
    np.testing.assert_allclose(merged.means, params.means, rtol=1e-10, atol=1e-12)
    if cov_type in ("full", "diag"):  # tied and spherical pool what the split took out of one component
        np.testing.assert_allclose(merged.covariances, params.covariances, rtol=1e-10)


def test_merge_order_starts_with_the_closest_pair():
    model = get_model("spherical")
    means = np.array([[0.0, 0.0], [10.0, 0.0], [10.5, 0.0], [0.0, 30.0]])
    params = MixtureParameters.from_covariances(model, np.full(4, 0.25), means, np.ones(4))
    order = merge_order(params)
    assert len(order) == 6 and order[0] == (1, 2) and order[-1] in ((2, 3), (1, 3))


def test_merge_order_is_the_bhattacharyya_order_of_every_pair():
    """All pairs at once give the order of each pair's Bhattacharyya distance, computed pair by pair."""
    from scipy.spatial.distance import mahalanobis

    params = random_parameters("full", seed=3, k=6, d=3)
    covs = params.full_covariances()
    expected = []
    for a in range(6):
        for b in range(a + 1, 6):
            pooled = 0.5 * (covs[a] + covs[b])
            distance = mahalanobis(params.means[a], params.means[b], np.linalg.inv(pooled)) ** 2 / 8 + 0.5 * np.log(
                np.linalg.det(pooled) / np.sqrt(np.linalg.det(covs[a]) * np.linalg.det(covs[b]))
            )
            expected.append((distance, a, b))
    assert merge_order(params) == [(a, b) for _, a, b in sorted(expected)]


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_neighbour_moves_never_lower_a_cell(faithful, cov_type):
    """A sweep over K keeps, per cell, the better of its own starts and its neighbours' moves (the cells
    the sweep gave random starts, as each cell alone gets them)."""
    ks = [3, 4, 5]
    sweep, random_cells = select_recording_random_starts(faithful, n_components=ks, covariance_type=cov_type,
                                                         random_state=2)
    sweep = sweep["selection"]
    assert random_cells
    for k in ks:
        if (get_model(cov_type).name, k) not in random_cells:
            continue
        alone = select(faithful, n_components=k, covariance_type=cov_type, random_state=2)["selection"]
        a = float(alone["log_likelihood"].squeeze())
        s = float(sweep["log_likelihood"].sel(n_components=k).squeeze())
        assert s >= a - 1e-9 * abs(a), (cov_type, k)


def test_reg_covar_auto_makes_the_sweep_unit_free(iris):
    """Rescaling and shifting each feature shifts every log L by -n sum(log scale) and keeps the choice."""
    scale, shift = np.array([1e-3, 10.0, 1e4, 0.5]), np.array([5.0, -3.0, 1e6, 0.0])
    options = dict(n_components=[1, 2, 3], covariance_type=("full", "tied", "diag"), reg_covar="auto", random_state=0)
    a = select(iris, **options)
    b = select(iris * scale + shift, **options)
    expected = a["selection"]["log_likelihood"].values - len(iris) * np.log(scale).sum()
    np.testing.assert_allclose(b["selection"]["log_likelihood"].values, expected, rtol=1e-7)
    assert a["selection"].attrs == b["selection"].attrs
    assert b.attrs["reg_covar"] == "auto"
    # an absolute reg_covar of 1e-6 swamps a feature whose variance is ~1e-8
    with pytest.warns(UserWarning, match="reg_covar=1e-06 is larger than the variance"):
        tiny = select(iris * 1e-5, **{**options, "reg_covar": 1e-6})["selection"]["log_likelihood"].values
    assert not np.allclose(tiny, a["selection"]["log_likelihood"].values - len(iris) * 4 * np.log(1e-5))


@pytest.mark.parametrize("bad", ["Auto", -1.0])
def test_select_refuses_a_bad_reg_covar(faithful, bad):
    with pytest.raises((TypeError, ValueError), match="reg_covar"):
        select(faithful, n_components=[1], reg_covar=bad)


def test_remaining_gain_extrapolates_a_geometric_approach():
    """Steps shrinking by a factor r leave last * r / (1 - r) to gain."""
    limit, rate = -2.5, 0.9
    bounds = limit - 0.3 * rate ** np.arange(40)
    gain = remaining_gain(bounds)
    assert gain == pytest.approx(limit - bounds[-1], rel=1e-6)
    assert remaining_gain(bounds[:2]) == np.inf
    assert remaining_gain(np.array([0.0, 1.0, 3.0])) == np.inf  # steps growing: no estimate


def test_slow_cells_warn_only_when_they_could_change_the_choice(faithful):
    """Cells stopped at max_iter far behind the chosen one show converged=False without a warning;
    the chosen cell, unconverged, is named in the one warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = select(
            faithful, n_components=[2, 3, 4], covariance_type=("full", "spherical"), max_iter=5, random_state=0
        )
    sel = tree["selection"]
    chosen = sel.sel(covariance_type=tree.attrs["covariance_type"], n_components=tree.attrs["n_components"])
    assert not chosen["converged"] and not sel["converged"].sel(covariance_type="spherical").values.any()
    messages = [str(w.message) for w in caught if issubclass(w.category, gmm_numba.ConvergenceWarning)]
    assert len(messages) == 1
    assert f"{tree.attrs['covariance_type']} K={tree.attrs['n_components']}" in messages[0]
    # spherical is hundreds of BIC units behind full on Old Faithful
    assert np.all(sel["bic"].sel(covariance_type="spherical") > sel["bic"].sel(covariance_type="full").min() + 300)
    assert "spherical" not in messages[0]
    # the command line's table lists every unconverged cell instead
    listed, verdict = format_selection(sel.to_dataset()).splitlines()[-2:]
    assert listed.startswith("Not converged (stopped before reaching tol): ")
    assert listed.count("K=") == int((~sel["converged"].values).sum()) and "spherical K=4 (5 iterations)" in listed
    assert verdict.endswith("could change the choice: raise max_iter.")
    assert verdict.strip().split(" could")[0] == ", ".join(
        f"{m} K={k}" for m, k in sel["may_change_choice"].to_series().loc[lambda x: x].index
    )
    assert "spherical" not in verdict


DETERMINISM_SCRIPT = """
import numpy as np
from gmm_numba import select
from gmm_numba.datasets import load_faithful
import numba
X = load_faithful().to_numpy(dtype=np.float64)
sel = select(X, n_components=range(2, 6), random_state=3)["selection"]
print(numba.get_num_threads())
print(sel["log_likelihood"].values.tobytes().hex())
print(sel["n_iter"].values.tobytes().hex())
"""


def test_sweep_is_identical_on_one_and_two_threads():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outputs = []
    for threads in (1, 2):
        env = {**os.environ, "NUMBA_NUM_THREADS": str(threads)}
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        done = subprocess.run(
            [sys.executable, "-c", DETERMINISM_SCRIPT], env=env, cwd=root, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout.split())
    assert outputs[0][0] == "1" and outputs[1][0] == "2"
    assert outputs[0][1:] == outputs[1][1:]


def test_an_insertion_adds_a_component_on_the_nearest_rows():
    """The new component has the weight share, mean and covariance of the anchor's nearest rows
    (nearest in units of each feature's standard deviation); the others keep their means."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(0, 100, 60), rng.normal(0, 1, 60)])
    params = random_parameters("full", seed=1, k=2, d=2)
    inv_scale = 1 / X.std(axis=0)
    weights = rng.uniform(0.5, 2, 60)
    (stats,) = insertion_statistics(params, X, weights, [7], 5, 1e-6, inv_scale)
    new = m_step(get_model("full"), stats, 1e-6)
    distances = np.hypot((X[:, 0] - X[7, 0]) / X[:, 0].std(), (X[:, 1] - X[7, 1]) / X[:, 1].std())
    group = np.argsort(distances)[:5]
    share = weights[group].sum() / weights.sum()
    assert new.n_components == 3
    assert new.weights[2] == pytest.approx(share, rel=1e-12)
    np.testing.assert_allclose(new.weights[:2], params.weights * (1 - share), rtol=1e-12)
    np.testing.assert_allclose(new.means[:2], params.means, rtol=1e-12)
    np.testing.assert_allclose(new.means[2], np.average(X[group], axis=0, weights=weights[group]), rtol=1e-12)
    expected = np.cov(X[group].T, aweights=weights[group], bias=True) + 1e-6 * np.eye(2)
    np.testing.assert_allclose(new.covariances[2], expected, rtol=1e-10)


@pytest.mark.parametrize("block_floats", [1, 120, 1 << 20])
def test_insertions_from_anchors_in_blocks_equal_each_anchor_alone(monkeypatch, block_floats):
    """Distances to several anchors at once (in blocks of any size) are summed as for one anchor alone: the
    same groups and bit-identical statistics, rows of zero weight never chosen."""
    from gmm_numba.selection import moves

    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 3))
    X[10:14] = X[3]  # ties in distance
    params = random_parameters("full", seed=2, k=2, d=3)
    inv_scale = 1 / X.std(axis=0)
    weights = rng.uniform(0.5, 2, 60)
    weights[[4, 11]] = 0.0
    anchors = [3, 7, 20, 33, 59]
    monkeypatch.setattr(moves, "ANCHOR_BLOCK_FLOATS", block_floats)
    together = insertion_statistics(params, X, weights, anchors, 6, 1e-6, inv_scale)
    for anchor, stats in zip(anchors, together, strict=True):
        distance = np.sum((X * inv_scale - (X * inv_scale)[anchor]) ** 2, axis=1)
        distance[weights <= 0] = np.inf
        group = np.sort(np.argsort(distance, kind="stable")[:6])
        assert not np.isin([4, 11], group).any()
        (alone,) = insertion_statistics(params, X, weights, [anchor], 6, 1e-6, inv_scale)
        for field in ("nk", "s1", "s2", "shifts"):
            assert np.array_equal(getattr(stats, field), getattr(alone, field)), field
        w = weights[group]
        np.testing.assert_allclose(stats.shifts[-1], w @ X[group] / w.sum(), rtol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"covariance_type": []}, ValueError, "covariance_type is empty"),
        ({"covariance_type": None}, TypeError, "covariance_type must be a model name"),
        ({"n_components": None}, TypeError, "n_components must be an int or an iterable"),
        ({"n_components": 3.0}, TypeError, "n_components must be an int or an iterable"),
        ({"init_sample_size": 0}, ValueError, "init_sample_size"),
        ({"init_sample_size": 1.5}, TypeError, "init_sample_size must be an integer"),
        ({"init_sample_size": None}, TypeError, "init_sample_size must be an integer"),
        ({"progress": "bar"}, TypeError, "progress must be None, True, False or a callable"),
        ({"verbose": "yes"}, TypeError, "verbose must be an integer"),
        ({"allow_degenerate": "no"}, TypeError, "allow_degenerate must be True or False"),
    ],
)
def test_select_refuses_bad_arguments_before_fitting(kwargs, error, match):
    X = np.random.default_rng(0).normal(size=(20, 2))
    calls = []
    options = {"n_components": [1, 2], "n_init": 2, "random_state": 0, "progress": lambda *a: calls.append(a)}
    options.update(kwargs)
    with pytest.raises(error, match=match):
        select(X, **options)
    assert calls == []


def test_move_starts_follow_n_init(monkeypatch):
    """With a small n_init, each move screens at most MOVE_STARTS_PER_INIT * n_init starts."""
    from gmm_numba.selection import runner
    from gmm_numba.selection.starts import MOVE_STARTS_PER_INIT

    screened_counts = []
    real_search = runner.em_search

    def counting_search(data, starts, **kwargs):
        starts = list(starts)
        screened_counts.append(len(starts))
        return real_search(data, starts, **kwargs)

    monkeypatch.setattr(runner, "em_search", counting_search)
    X = np.random.default_rng(1).normal(size=(200, 2))
    select(X, n_components=range(1, 6), covariance_type="full", n_init=1, random_state=0)
    assert max(screened_counts) <= MOVE_STARTS_PER_INIT * 1
    assert len(screened_counts) > 5  # the moves ran


@pytest.mark.parametrize("kind", ["split", "merge"])
@pytest.mark.parametrize("budget", [None, 1, 3, 7, 40])
def test_a_move_builds_only_the_candidates_its_budget_keeps(kind, budget):
    """The kept candidates are those of the whole list (splits, then insertions; or merges, closest first),
    taken at evenly spread positions, first and last included."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3))
    params = random_parameters("full", seed=2, k=5, d=3)
    inv_scale = 1 / X.std(axis=0)
    anchors, sizes = [4, 9, 17, 30], [4, 8]
    every = [(size, anchor) for size in sizes for anchor in anchors]
    built = []

    def inserts(fit):
        def build(indices):
            built.extend(indices)
            return concatenate_moments([insertion_moments(fit, X, None, [every[c][1]], every[c][0], 1e-6, inv_scale)
                                        for c in indices])
        return len(every), build

    if kind == "split":
        whole = [split_statistics(params, c, 1e-6) for c in range(5)]
        whole += [stats for size in sizes for stats in insertion_statistics(params, X, None, anchors, size, 1e-6,
                                                                             inv_scale)]
    else:
        whole = [merge_statistics(params, a, b, 1e-6) for a, b in merge_order(params)]
    n = len(whole)
    positions = range(n) if budget is None or budget >= n else [round(c * (n - 1) / (budget - 1)) if budget > 1
                                                                 else 0 for c in range(budget)]
    expected = [whole[c] for c in positions]
    moments = neighbour_moments(params, kind, 1e-6, inserts if kind == "split" else None, budget)
    assert len(moments) == len(expected)
    for c, theirs in enumerate(expected):
        ours = moments.statistics(c)
        np.testing.assert_array_equal(ours.nk, theirs.nk)
        np.testing.assert_array_equal(ours.means(), theirs.means())
        np.testing.assert_array_equal(ours.scatter(), theirs.scatter())
    assert len(built) == sum(1 for c in positions if c >= 5) if kind == "split" else not built


def test_recording_resolution_is_the_smallest_gap_between_distinct_values():
    from gmm_numba.selection.collapse import recording_resolution

    X = np.array([[1.0, 0.25, 3.0], [3.0, 0.5, 3.0], [2.0, 0.5, 3.0], [7.0, 1.75, 3.0]])
    np.testing.assert_array_equal(recording_resolution(X), [1.0, 0.25, 0.0])


def test_a_component_thinner_than_the_rounding_is_degenerate():
    """Variance below h^2 / 12 along a feature recorded to precision h: the component sits on tied values."""
    from gmm_numba.selection.collapse import collapse_check

    model = get_model("full")
    check = collapse_check(0.0, np.array([4.0, 100.0]), ["x", "minutes"], resolution=np.array([0.0, 1.0]))

    def params(variance_of_minutes):
        covariances = np.stack([np.diag([1.0, 50.0]), np.diag([0.5, variance_of_minutes])])
        return MixtureParameters.from_covariances(model, np.array([0.9, 0.1]), np.zeros((2, 2)), covariances)

    assert check(params(0.2)) == ""
    message = check(params(0.05))
    assert "component 1" in message and "'minutes'" in message and "recording precision" in message
    # without a resolution only a collapse to the regularisation floor is degenerate
    assert collapse_check(0.0, np.array([4.0, 100.0]), ["x", "minutes"])(params(0.05)) == ""


@pytest.mark.parametrize("reg_covar", [0.0, 1e-3])
def test_the_collapse_check_flags_exactly_the_covariances_with_a_direction_below_the_floor(reg_covar):
    """Against the definition: some eigenvalue of a component's covariance (less the regularisation), in
    units of the floor (rounding noise h^2 / 12, at least 1e-8 of the feature variance), below 1. Covariances
    with their smallest such eigenvalue just below, at and just above 1, in random orientations."""
    from gmm_numba.selection.collapse import COLLAPSE_TOLERANCE, collapse_check

    rng = np.random.default_rng(5)
    model, variance, resolution = get_model("full"), np.array([4.0, 100.0, 9.0]), np.array([0.0, 1.0, 0.1])
    check = collapse_check(reg_covar, variance, ["a", "b", "c"], resolution)
    floor = np.maximum(COLLAPSE_TOLERANCE * np.maximum(variance, reg_covar), resolution**2 / 12)
    scale = np.sqrt(floor)
    flagged = 0
    for smallest in [0.5, 1 - 1e-6, 1 + 1e-6, 2.0, 1e6] * 4:
        orientation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
        inner = orientation @ np.diag([smallest, smallest * 3, 1e7]) @ orientation.T
        covariance = scale[:, None] * inner * scale[None, :]
        covariances = np.stack([np.diag(variance), covariance]) + reg_covar * np.eye(3)
        params = MixtureParameters.from_covariances(model, np.array([0.9, 0.1]), np.zeros((2, 3)), covariances)
        expected = np.linalg.eigvalsh(inner)[0] < 1.0
        assert bool(check(params)) == expected, smallest
        flagged += expected
    assert flagged == 8


def test_describe_prints_the_whole_table_and_where_the_winning_starts_came_from(faithful_sweep):
    with pd.option_context("display.width", 40, "display.max_columns", 3):  # a narrow terminal
        text = gmm_numba.describe(faithful_sweep)
    lines = text.splitlines()
    assert next(line for line in lines if line.startswith("K ")).split()[1:] == [str(k) for k in range(1, 10)]
    assert "..." not in text
    sel = faithful_sweep["selection"]
    best = {"covariance_type": sel.attrs["best_covariance_type"], "n_components": sel.attrs["best_n_components"]}
    origin = str(sel["origin"].sel(best).values)
    n_starts = faithful_sweep["sample_stats"].sizes["restart"]
    ended = next(line for line in lines if " iterations (best of " in line)
    if origin:  # mclust's start or a neighbour move beat the cell's random starts: the line says so
        assert f"best of {n_starts} starts made by {origin}" in ended
    else:  # a random start won: the cell's starts were mclust's hierarchical one (the first) and n_init random ones
        assert n_starts == DEFAULT_N_INIT + 1 and int(faithful_sweep["sample_stats"]["best_restart"]) != 0
        assert f"best of {n_starts} starts)" in ended
    assert set(sel["origin"].values.ravel()) - {""}, "no other start won any cell of the sweep"
    slow = ~sel["converged"].values & (sel["error"].values == "")
    if slow.any() and not sel["may_change_choice"].values.any():
        assert "None can change the choice" in text


def test_progress_bar_by_default_only_in_a_terminal_after_a_delay(monkeypatch, capsys):
    """progress=None draws nowhere that is not a terminal; True draws at once; the line ends after the sweep."""
    from gmm_numba.selection import progress as bars

    X = np.random.default_rng(0).normal(size=(60, 2))
    select(X, n_components=[1, 2], covariance_type="full", n_init=1, random_state=0)
    assert capsys.readouterr().err == ""  # pytest's captured stderr is no terminal
    select(X, n_components=[1, 2], covariance_type="full", n_init=1, random_state=0, progress=True)
    err = capsys.readouterr().err
    assert "select [" in err and "2/2" in err and err.endswith("\n")
    monkeypatch.setattr(bars, "_interactive", lambda stream: True)
    bar = bars.ProgressBar("select", stream=io.StringIO(), delay=3600.0)
    bar(1, 2, "full K=1")
    bar.finish()
    assert bar.stream.getvalue() == ""  # a quick sweep stays quiet
    assert bars.resolve_progress(False, "select") is None


def test_a_failing_sweep_still_ends_its_progress_line(capsys):
    with pytest.raises(FitError):
        select(np.zeros((5, 2)), n_components=[1], covariance_type="full", progress=True)
    assert capsys.readouterr().err.endswith("\n")


# ------------------------------------------------------------------ random starts where they can matter
def far_cells(selection):
    """Where the sweep's hierarchical start stopped early: cells that cannot change the choice, on large data."""
    return np.char.find(selection["origin"].values.astype(str), "stopped at a relative change") >= 0


def test_only_cells_far_from_the_best_stop_at_the_loose_rule(faithful_sweep, faithful, monkeypatch):
    """Where iterations are passes over large data (forced here), the hierarchical starts stop at the loose
    rule; only cells more than START_MARGIN from the sweep's best keep that fit. Small data's cells, and a
    sweep whose tol is already that loose, all run to tol."""
    assert not far_cells(faithful_sweep["selection"].to_dataset()).any()
    monkeypatch.setattr(runner.CellRunner, "_iterations_are_passes", lambda self: True)
    sel = select(faithful, random_state=0, progress=False)["selection"].to_dataset()
    far = far_cells(sel)
    assert far.any() and not far.all()
    bic = sel["bic"].values
    assert (bic[far] > np.nanmin(bic) + runner.START_MARGIN).all()
    assert sel["converged"].values[far].all()
    assert sel.attrs["best_covariance_type"] == faithful_sweep["selection"].attrs["best_covariance_type"]
    assert sel.attrs["best_n_components"] == faithful_sweep["selection"].attrs["best_n_components"]
    loose = select(faithful, random_state=0, tol=1e-5, progress=False)["selection"].to_dataset()
    assert not far_cells(loose).any()


@pytest.mark.parametrize("data", ["faithful", "iris"])
def test_random_starts_go_only_to_cells_that_could_change_the_choice(data, request, monkeypatch):
    """With mclust's hierarchical start in every cell, ``search="models"`` gives the random starts to fewer cells
    than all, and giving them to every cell (an infinite START_MARGIN) changes no model's best cell. The default
    ``search="choice"`` gives them to fewer cells still (those near the sweep's best), and chooses the same."""
    X = request.getfixturevalue(data)
    choice, choice_cells = select_recording_random_starts(X, random_state=0, progress=False)
    models, models_cells = select_recording_random_starts(X, random_state=0, progress=False, search="models")
    monkeypatch.setattr(runner, "START_MARGIN", np.inf)
    every, every_cells = select_recording_random_starts(X, random_state=0, progress=False, search="models")
    choice, models, every = choice["selection"], models["selection"], every["selection"]
    assert len(every_cells) == every["bic"].size and 0 < len(models_cells) < every["bic"].size
    assert 0 < len(choice_cells) < len(models_cells) and choice_cells <= models_cells
    for pruned in (choice, models):
        assert pruned.attrs["best_covariance_type"] == every.attrs["best_covariance_type"]
        assert pruned.attrs["best_n_components"] == every.attrs["best_n_components"]
        assert float(pruned["bic"].min()) == pytest.approx(float(every["bic"].min()), rel=1e-9)
    np.testing.assert_allclose(models["bic"].min("n_components"), every["bic"].min("n_components"), rtol=1e-9)


@pytest.mark.parametrize("search", ["choice", "models"])
def test_random_starts_go_to_the_cells_within_start_margin_of_the_best(iris, search, monkeypatch):
    """After the hierarchical starts, the cells that get random starts are those that failed or lie within
    START_MARGIN of the sweep's best cell (``search="choice"``) or of their model's (``"models"``)."""
    swept, cells = select_recording_random_starts(iris, random_state=0, progress=False, search=search)
    monkeypatch.setattr(runner.CellRunner, "neighbour_moves", lambda self, rows: None)
    hierarchical = select(iris, random_state=0, progress=False, init_params="hc")["selection"]
    bic = hierarchical["bic"].values
    best = np.nanmin(bic, axis=None if search == "choice" else 1, keepdims=True)
    near = ~np.isfinite(bic) | (bic <= best + runner.START_MARGIN)
    names = [get_model(str(name)).name for name in hierarchical["covariance_type"].values]
    ks = hierarchical["n_components"].values
    assert cells == {(names[i], int(ks[j])) for i, j in zip(*np.nonzero(near))}
    assert 0 < len(cells) < bic.size
    said = np.char.find(swept["selection"]["origin"].values.astype(str), "no random starts") >= 0
    np.testing.assert_array_equal(said, ~near)  # the table says which cells got none


def test_search_is_checked(faithful):
    with pytest.raises(ValueError, match="search"):
        select(faithful, n_components=[1, 2], search="everything")


# ------------------------------------------------------------------ more rows than a tree: several trees
@pytest.fixture(scope="module")
def beyond_the_subset():
    """2,600 rows in four elongated blobs: more than the 2,000 rows a hierarchical tree is built on."""
    rng = np.random.default_rng(7)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [4.0, 4.0]])
    return np.concatenate([rng.normal(c, [1.0, 0.6], size=(650, 2)) for c in centres])


def test_more_rows_than_a_tree_give_each_cell_one_start_per_tree(beyond_the_subset):
    """Beyond the subset size every cell gets a start from each of HIERARCHICAL_TREES trees, each on its own
    subset; the first is the single tree's of earlier sweeps (same seed). On at most that many rows: one tree."""
    from gmm_numba.data.in_memory import InMemoryData
    from gmm_numba.fitting.hierarchical import SUBSET_SIZE, partition_statistics, source_tree
    from gmm_numba.selection.starts import HIERARCHICAL_STREAM, HIERARCHICAL_TREES, _hierarchical_partitions

    X = beyond_the_subset
    assert HIERARCHICAL_TREES > 1
    models = [get_model("VVV"), get_model("EII")]
    start = _hierarchical_partitions(InMemoryData(X), "mixed", 5, 1e-6, lambda model, k: None)
    made_starts = start(3, models)
    assert [len(starts) for starts in made_starts] == [HIERARCHICAL_TREES] * 2
    tree, rows = source_tree(InMemoryData(X), np.random.default_rng([5, HIERARCHICAL_STREAM]))
    first = partition_statistics(rows, tree.labels(3), 3)
    np.testing.assert_allclose(made_starts[0][0].means, first.means(), rtol=1e-12)
    means = [np.sort(s.means[:, 0]) for s in made_starts[0]]
    assert all(not np.allclose(means[0], other, rtol=1e-6) for other in means[1:])
    one_tree = _hierarchical_partitions(InMemoryData(X[:SUBSET_SIZE]), "mixed", 5, 1e-6, lambda model, k: None)
    assert [len(starts) for starts in one_tree(3, models)] == [1, 1]


def test_each_cell_keeps_the_best_of_its_trees(beyond_the_subset, monkeypatch):
    """With the hierarchical starts alone (no random starts, no moves), each cell ends at least where the
    single tree's start takes it, and some cell higher: the other trees' starts reach better optima."""
    from gmm_numba.selection import starts as starts_module

    monkeypatch.setattr(runner.CellRunner, "neighbour_moves", lambda self, rows: None)
    kwargs = dict(n_components=range(2, 8), covariance_type=["VVV", "EEE", "VII", "EEV"], init_params="hc",
                  random_state=3, progress=False)
    several = select(beyond_the_subset, **kwargs)["selection"]["log_likelihood"].values
    monkeypatch.setattr(starts_module, "HIERARCHICAL_TREES", 1)
    one = select(beyond_the_subset, **kwargs)["selection"]["log_likelihood"].values
    assert np.all(several >= one - 1e-9 * np.abs(one))
    assert np.any(several > one + 1e-6 * np.abs(one))


def test_start_statistics_prepared_once_serve_every_model_unchanged(iris):
    """A sweep prepares a K's shared starts once (:class:`StartStatistics`) and takes all fourteen models'
    M-steps from them in one threaded call: each model gets what it gets alone from fresh statistics, bit for
    bit, and the shared arrays come out unchanged; a pending start's full matrices are the made start's."""
    from gmm_numba._kernels.constrained import MSTEP_VEI
    from gmm_numba.data.in_memory import InMemoryData
    from gmm_numba.fitting.starts import initial_statistics
    from gmm_numba.selection.starts import StartStatistics, start_m_steps

    data = InMemoryData(iris)
    drawn = [initial_statistics(data, 3, "random_from_data", np.random.default_rng(seed)) for seed in range(4)]
    shared = StartStatistics(drawn, 1e-6)
    _, nk, scatter = shared.prepared()
    before = nk.copy(), scatter.copy()
    models = [get_model(name) for name in mclust_names()]
    together = start_m_steps(models, shared, [None] * len(models))
    for model, starts in zip(models, together, strict=True):
        (alone,) = start_m_steps([model], StartStatistics(drawn, 1e-6), [None])
        assert len(starts) == len(alone) == len(drawn)
        for a, b in zip(starts, alone):
            full = a.full_covariances()  # a pending start's own matrices: those of the made start
            assert isinstance(made(a), MixtureParameters), (model.name, a)
            assert np.array_equal(full, made(a).full_covariances()), model.name
            assert np.array_equal(a.covariances, b.covariances) and np.array_equal(a.means, b.means), model.name
            assert np.array_equal(a.weights, b.weights), model.name
        if model.m_step_family < MSTEP_VEI:  # closed form: the Python M-step gives the same covariances
            for stats, start in zip(drawn, starts):
                python = m_step(model, stats, 1e-6)
                np.testing.assert_allclose(start.covariances, python.covariances, rtol=1e-9, err_msg=model.name)
                np.testing.assert_allclose(start.means, python.means, rtol=1e-12, err_msg=model.name)
    assert np.array_equal(shared.prepared()[1], before[0]) and np.array_equal(shared.prepared()[2], before[1])


def test_start_m_steps_of_each_models_own_statistics_in_one_call_equal_each_alone(iris):
    """The neighbour moves of a K hand every model its own statistics (its neighbour's fit moved), all their
    M-steps in one call: each model gets what it gets alone, bit for bit; statistics with another number of
    components than the call's go to the Python M-step and still give their starts."""
    from gmm_numba.data.in_memory import InMemoryData
    from gmm_numba.fitting.starts import initial_statistics
    from gmm_numba.selection.starts import START_INNER_TOLERANCE, StartStatistics, start_m_steps

    data = InMemoryData(iris)
    models = [get_model(name) for name in mclust_names()]
    own = [[initial_statistics(data, 3, "random_from_data", np.random.default_rng([m, seed])) for seed in range(2)]
           for m in range(len(models))]
    other_k = [initial_statistics(data, 2, "random_from_data", np.random.default_rng(99))]
    statistics = [StartStatistics(drawn, 1e-6) for drawn in own] + [StartStatistics(other_k, 1e-6)]
    together = start_m_steps(models + [models[-1]], statistics, [None] * (len(models) + 1))
    for model, drawn, starts in zip(models, own, together, strict=False):
        (alone,) = start_m_steps([model], StartStatistics(drawn, 1e-6), [None])
        assert len(starts) == len(alone) == len(drawn)
        for a, b in zip(starts, alone):
            assert isinstance(made(a), MixtureParameters), (model.name, a)
            assert np.array_equal(a.covariances, b.covariances) and np.array_equal(a.means, b.means), model.name
    (python,) = together[-1]
    expected = m_step(models[-1], other_k[0], 1e-6, inner_tolerance=START_INNER_TOLERANCE)
    assert python.n_components == 2
    assert np.array_equal(python.covariances, expected.covariances)


@pytest.mark.parametrize("form", ["statistics", "moments"])
def test_a_start_whose_compiled_m_step_is_not_positive_definite_is_the_python_m_steps_error(form):
    """The compiled start M-steps factorise their covariances: one that has no Cholesky factor (a singular
    scatter, no regularisation) is left to the Python M-step, whose error becomes the start; the other
    start of the same call is kept. Alike from a list of statistics and from the moves' stacked moments."""
    from gmm_numba.selection.moves import Moments
    from gmm_numba.selection.starts import MomentStarts, StartStatistics, start_m_steps

    means = np.array([[0.0, 0.0], [5.0, 5.0]])
    singular = np.array([[[1.0, 1.0], [1.0, 1.0]], np.eye(2)])
    regular = np.array([np.eye(2), 2.0 * np.eye(2)])
    moments = Moments(np.full((2, 2), 50.0), np.stack([means, means]), np.stack([singular, regular]))
    statistics = (MomentStarts(moments, 0.0) if form == "moments"
                  else StartStatistics([moments.statistics(c) for c in range(2)], 0.0))
    (starts,) = start_m_steps([get_model("VVV")], statistics, [None])
    assert isinstance(starts[0], FitError) and "singular" in str(starts[0])
    np.testing.assert_allclose(made(starts[1]).covariances, regular, rtol=1e-12)


@pytest.mark.parametrize("kind", ["split", "merge"])
def test_starts_from_stacked_moments_equal_those_from_their_statistics(kind):
    """The moves hand their candidates to the M-steps as stacked moments, without a statistics object each:
    every model's starts are bit-identical to those from the candidates' statistics."""
    from gmm_numba.selection.starts import MomentStarts, StartStatistics, start_m_steps

    params = random_parameters("full", seed=4, k=4, d=3)
    moments = (split_moments(params, range(4), 1e-6) if kind == "split"
               else merge_moments(params, merge_order(params), 1e-6))
    models = [get_model(name) for name in mclust_names()]
    stacked = start_m_steps(models, MomentStarts(moments, 1e-6), [None] * len(models))
    listed = start_m_steps(models, StartStatistics([moments.statistics(c) for c in range(len(moments))], 1e-6),
                           [None] * len(models))
    for model, ours, theirs in zip(models, stacked, listed, strict=True):
        assert len(ours) == len(theirs) == len(moments)
        for a, b in zip(ours, theirs):
            for field in ("weights", "means", "covariances"):
                assert np.array_equal(getattr(made(a), field), getattr(made(b), field)), (model.name, field)
