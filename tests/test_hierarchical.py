"""mclust's hierarchical start (init_params="hc").

* the tree against a naive agglomeration that recomputes every pair's cost
  from its rows at every step (tests/naive.py), including exact ties;
* the cuts K = 1..9 against the partitions R's mclust 6.0.0 used for faithful
  and iris (tests/fixtures/mclust/*_mclust.json);
* EM from our start against mclust's me() from its start (*_me.json);
* the subset for large data, and what "hc" refuses (n_init > 1, unequal weights).
"""

import json
import os

import naive
import numpy as np
import pytest

from gmm_numba import GaussianMixture
from gmm_numba._kernels import hierarchical as hierarchical_kernels
from gmm_numba.data.in_memory import InMemoryData
from gmm_numba.fitting.hierarchical import (
    SUBSET_SIZE,
    check_unweighted,
    hierarchical_tree,
    partition_statistics,
    svd_transform,
    vvv_tree,
)
from gmm_numba.fitting.settings import FitSettings
from gmm_numba.fitting.starts import initial_statistics

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "mclust")

#: mclust's names for the four models of this package.
MODELS = ("VVV", "EEE", "VVI", "VII")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


def first_appearance(labels):
    """Labels renumbered 0, 1, ... in order of first appearance."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse.ravel()]


def mclust_alpha(Z):
    """mclust's alpha: traceW(Z / sqrt(n p))."""
    centred = Z - Z.mean(axis=0)
    return float(np.sum(centred**2)) / Z.size


# ------------------------------------------------------------------ the tree
@pytest.mark.parametrize(("n", "d", "seed"), [(30, 1, 0), (45, 1, 1), (40, 2, 2), (60, 2, 3), (35, 3, 4), (50, 3, 5)])
def test_tree_matches_naive_agglomeration(n, d, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, d))
    Z = centres[rng.integers(0, 3, n)] + rng.normal(size=(n, d)) * rng.uniform(0.3, 2.0, size=d)
    alpha = mclust_alpha(Z)
    np.testing.assert_array_equal(vvv_tree(Z, mclust_storage=False).merges, naive.vvv_agglomeration(Z, alpha))
    np.testing.assert_array_equal(vvv_tree(Z).merges, naive.mclust_vvv_agglomeration(Z, alpha))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_heavy_tails_match_naive_agglomeration(d):
    # outliers pair with the same growing cluster: the kernel's rows with a merged partner keep a bound
    Z = np.random.default_rng(20 + d).standard_t(1, size=(60, d))
    alpha = mclust_alpha(Z)
    np.testing.assert_array_equal(vvv_tree(Z, mclust_storage=False).merges, naive.vvv_agglomeration(Z, alpha))
    np.testing.assert_array_equal(vvv_tree(Z).merges, naive.mclust_vvv_agglomeration(Z, alpha))


@pytest.mark.parametrize("d", [1, 2, 3])
def test_ties_between_duplicate_rows_are_broken_as_mclust_does(d):
    # exact ties: several duplicated rows (one of them three times) whose pairs all cost the same
    rng = np.random.default_rng(10 + d)
    Z = rng.normal(size=(32, d))
    Z[[5, 9, 20, 31]] = Z[[1, 2, 1, 3]]
    Z[17] = Z[2]
    alpha = mclust_alpha(Z)
    np.testing.assert_array_equal(vvv_tree(Z, mclust_storage=False).merges, naive.vvv_agglomeration(Z, alpha))
    np.testing.assert_array_equal(vvv_tree(Z).merges, naive.mclust_vvv_agglomeration(Z, alpha))


def test_cuts_are_nested_partitions():
    rng = np.random.default_rng(7)
    tree = hierarchical_tree(rng.normal(size=(80, 3)))
    assert np.all(tree.labels(1) == 0)
    np.testing.assert_array_equal(tree.labels(80), np.arange(80))
    previous = tree.labels(1)
    for k in range(2, 81):
        labels = tree.labels(k)
        assert set(labels) == set(range(k))
        np.testing.assert_array_equal(labels, first_appearance(labels))
        # every group of the cut at k lies inside one group of the cut at k - 1
        pairs = np.unique(np.stack([labels, previous]), axis=1)
        assert pairs.shape[1] == k
        previous = labels
    with pytest.raises(ValueError, match="1 to 80 groups"):
        tree.labels(81)


def test_svd_transform_is_mclusts_formula():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 3)) + [1.0, -2.0, 5.0]
    X[7] = X[2]
    S = (X - X.mean(axis=0)) / X.std(axis=0, ddof=1)
    _, s, vt = np.linalg.svd(S, full_matrices=False)
    Z = svd_transform(X)
    # the same up to the sign of each axis
    np.testing.assert_allclose(np.abs(Z), np.abs(S @ vt.T / np.sqrt(s)), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(Z[7], Z[2])
    # a constant feature is dropped, as R's scale() and mclust drop it
    assert svd_transform(np.column_stack([X, np.full(40, 3.0)])).shape == (40, 3)


# ------------------------------------------------------------------ against R's mclust
@pytest.mark.parametrize("name", ["faithful", "iris"])
def test_cuts_equal_mclusts_partitions(name, request):
    X = request.getfixturevalue(name)
    tree = hierarchical_tree(X)
    partitions = fixture(f"{name}_mclust.json")["hc"]["partitions"]
    assert sorted(map(int, partitions)) == list(range(1, 10))
    for k, partition in partitions.items():
        expected = first_appearance(np.asarray(partition) - 1)
        np.testing.assert_array_equal(tree.labels(int(k)), expected, err_msg=f"{name}, K = {k}")


def mclust_pairs(tree):
    """The tree's merges as mclust's hc() reports them: 1-based, the union keeps the smaller label."""
    n = tree.n_leaves
    label = list(range(1, n + 1)) + [0] * (n - 1)
    pairs = []
    for step, (a, b) in enumerate(tree.merges):
        low, high = sorted((label[a], label[b]))
        label[n + step] = low
        pairs.append((low, high))
    return np.array(pairs)


@pytest.mark.parametrize("index", [0, 1])
def test_tree_is_mclusts_on_sets_where_its_stored_factors_matter(index):
    case = fixture("hc_random.json")["sets"][index]
    X = np.array([[float(v) for v in row] for row in case["X"]])
    tree = hierarchical_tree(X)
    np.testing.assert_array_equal(mclust_pairs(tree), np.array(case["pairs"]))
    np.testing.assert_allclose(tree.costs, np.array(case["change"], dtype=float), rtol=1e-10, atol=1e-12)
    for k, partition in case["partitions"].items():
        np.testing.assert_array_equal(tree.labels(int(k)), first_appearance(np.asarray(partition) - 1))
    # the true criterion's tree cuts differently at some K: that is what the fixture is for
    true = hierarchical_tree(X, mclust_storage=False)
    assert any(not np.array_equal(true.labels(k), tree.labels(k)) for k in range(1, 10))


def test_full_merge_sequence_is_mclusts(faithful, iris):
    # every merge of hc(X, "VVV", use = "SVD"), checked by hand against R: here the 1..9 cuts agree,
    # and the first merges of faithful (duplicated rows) are ties broken by mclust's slot order
    assert mclust_pairs(hierarchical_tree(faithful))[:6].tolist() == [
        [183, 264], [132, 183], [132, 222], [132, 268], [132, 175], [105, 132]
    ]
    assert mclust_pairs(hierarchical_tree(iris))[:6].tolist() == [
        [102, 143], [128, 139], [18, 41], [1, 18], [1, 28], [1, 40]
    ]


def me_cases():
    for name in ("faithful", "iris"):
        for fit in fixture(f"{name}_me.json")["fits"]:
            if fit["model"] in MODELS and not fit["failed"]:
                yield pytest.param(name, fit["model"], fit["K"], fit["loglik"], id=f"{name}-{fit['model']}-{fit['K']}")


@pytest.mark.parametrize(("name", "model", "k", "loglik"), list(me_cases()))
def test_em_from_hc_reaches_mclusts_me_loglik(name, model, k, loglik, request):
    X = request.getfixturevalue(name)
    gm = GaussianMixture(k, covariance_type=model, init_params="hc", reg_covar=0.0, tol=1e-12, max_iter=100_000)
    gm.fit(X)
    assert gm.converged_
    assert gm.score(X) * X.shape[0] == pytest.approx(loglik, rel=1e-6)


def test_hc_start_is_the_m_step_of_the_partition(iris):
    # mclust's me(z = unmap(cl)) starts with the M-step of the hard partition
    k = 3
    labels = hierarchical_tree(iris).labels(k)
    stats = initial_statistics(InMemoryData(iris), k, "hc", np.random.default_rng(0))
    np.testing.assert_array_equal(stats.nk, np.bincount(labels))
    for g in range(k):
        members = iris[labels == g]
        np.testing.assert_allclose(stats.means()[g], members.mean(axis=0), rtol=1e-13)
        np.testing.assert_allclose(stats.scatter()[g], np.cov(members.T, bias=True) * len(members), rtol=1e-10)


# ------------------------------------------------------------------ large data: a subset
def test_large_data_builds_the_tree_on_a_seeded_subset():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(SUBSET_SIZE + 300, 2))
    first = hierarchical_tree(X, rng=np.random.default_rng(42))
    again = hierarchical_tree(X, rng=np.random.default_rng(42))
    assert first.rows.shape == (SUBSET_SIZE,)
    assert np.all(np.diff(first.rows) > 0)
    np.testing.assert_array_equal(first.rows, again.rows)
    np.testing.assert_array_equal(first.merges, again.merges)
    assert first.labels(4).shape == (SUBSET_SIZE,)
    other = hierarchical_tree(X, rng=np.random.default_rng(43))
    assert not np.array_equal(first.rows, other.rows)
    # the start: statistics of the subset's partition only (EM's first E-step reaches every row)
    stats = initial_statistics(InMemoryData(X), 4, "hc", np.random.default_rng(42))
    expected = partition_statistics(X[first.rows], first.labels(4), 4)
    np.testing.assert_array_equal(stats.nk, expected.nk)
    assert stats.total_weight == SUBSET_SIZE
    gm = GaussianMixture(4, init_params="hc", random_state=42).fit(X)
    assert gm.weights_.sum() == pytest.approx(1.0)


# ------------------------------------------------------------------ what hc refuses
def test_hc_refuses_several_starts():
    with pytest.raises(ValueError, match="init_params='hc' gives one deterministic start"):
        FitSettings.validated(n_components=2, init_params="hc", n_init=3)
    with pytest.raises(ValueError, match="n_init=1"):
        GaussianMixture(2, init_params="hc", n_init=2).fit(np.random.default_rng(0).normal(size=(30, 2)))


def test_hc_refuses_unequal_sample_weights(faithful):
    w = np.ones(len(faithful))
    w[0] = 2.0
    with pytest.raises(ValueError, match="does not support sample_weight"):
        GaussianMixture(2, init_params="hc").fit(faithful, sample_weight=w)
    with pytest.raises(ValueError, match="does not support sample_weight"):
        hierarchical_tree(faithful, sample_weight=w)


def test_hc_with_equal_sample_weights_is_unweighted(faithful):
    settings = dict(init_params="hc", tol=1e-8, max_iter=1000)
    plain = GaussianMixture(3, **settings).fit(faithful)
    weighted = GaussianMixture(3, **settings).fit(faithful, sample_weight=np.full(len(faithful), 2.5))
    np.testing.assert_allclose(weighted.means_, plain.means_, rtol=1e-10)
    np.testing.assert_allclose(weighted.covariances_, plain.covariances_, rtol=1e-8)


def test_hc_refuses_unequal_weights_out_of_core(tmp_path):
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 2))
    w = np.ones(300)
    w[5] = 3.0
    with pytest.raises(ValueError, match="does not support sample_weight"):
        GaussianMixture(2, init_params="hc").fit(da.from_array(X, chunks=100), sample_weight=da.from_array(w, 100))
    # weights too many to hold in memory stay a Dask array
    with pytest.raises(ValueError, match="does not support sample_weight"):
        check_unweighted(da.from_array(w, chunks=100))
    check_unweighted(da.from_array(np.full(300, 2.0), chunks=100))
    plain = GaussianMixture(2, init_params="hc", tol=1e-8, max_iter=1000).fit(X)
    dask = GaussianMixture(2, init_params="hc", tol=1e-8, max_iter=1000).fit(da.from_array(X, chunks=100))
    np.testing.assert_allclose(dask.means_, plain.means_, rtol=1e-8)


def test_merge_cost_does_not_depend_on_where_its_scratch_lies():
    """The cost of a merge is the same bits wherever the scratch vector ``diff`` lies in memory.

    Its squared distance between means was summed in the loop that also filled ``diff``. LLVM ran that
    loop vectorised only after a run-time check that ``diff`` did not start just past a row of the means,
    and scalar otherwise, with fast-math sums that differ in their last bits: from 8 features on, the
    merges of the last slots changed with the heap's layout. See also
    ``test_reproducibility.py::test_e_step_sums_do_not_depend_on_where_the_buffers_lie``.
    """
    rng = np.random.default_rng(4)
    n, p = 5, 12
    count = rng.integers(3, 9, n).astype(np.float64)
    means = rng.normal(size=(n, p)) * 3
    scatter = np.stack([a @ a.T + p * np.eye(p) for a in rng.normal(size=(n, p, p))])
    trace = np.trace(scatter, axis1=1, axis2=2).copy()
    work = np.empty((p, p))

    def cost(mean, diff):
        return [hierarchical_kernels._merged_term(a, n - 1, count, mean, scatter, scatter, trace, 0.1, 1.0, diff, work)
                for a in range(n - 1)]

    reference = cost(means, np.empty(p))
    for offset in range(0, 256 + 8, 8):
        memory = np.empty(means.size + offset // 8 + p)
        memory[: means.size] = means.ravel()
        placed = cost(memory[: means.size].reshape(n, p), memory[means.size + offset // 8 :])
        assert placed == reference, f"diff {offset} bytes past the end of the means"
