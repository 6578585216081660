"""The partition of the data into thread blocks (``_config.block_size``) and
the kernels on a partition capped by the size of the accumulators."""

import naive
import numpy as np
import pytest

from gmm_numba._kernels import config as _config
from gmm_numba._kernels.config import ACCUMULATOR_BYTES, MAX_BLOCKS, MIN_BLOCKS, TILE, block_size, moment_floats
from gmm_numba.data import in_memory as sources
from gmm_numba.data.in_memory import InMemoryData


def n_blocks(n_samples, floats=0):
    return -(-n_samples // block_size(n_samples, floats))


@pytest.mark.parametrize("n_samples", [1, 2047, 2048, 3000, 524_288, 10**6, 10**8 + 3])
def test_blocks_are_whole_tiles_and_at_most_max_blocks(n_samples):
    assert block_size(n_samples) % TILE == 0
    assert block_size(n_samples) == block_size(n_samples, 0)
    assert n_blocks(n_samples) <= MAX_BLOCKS


@pytest.mark.parametrize(
    "n_components, n_features, shape",
    [(4, 2, (2, 2)), (8, 8, (1, 8)), (16, 32, (32, 32)), (5, 30, (30, 30)), (50, 128, (128, 128)), (9, 5, (0, 5))],
)
@pytest.mark.parametrize("n_samples", [3000, 200_000, 10**6, 10**8])
def test_accumulators_stay_within_the_budget(n_samples, n_components, n_features, shape):
    floats = moment_floats(n_components, n_features, shape)
    capped = n_blocks(n_samples, floats)
    assert block_size(n_samples, floats) % TILE == 0
    # within the budget, unless that would leave fewer than MIN_BLOCKS
    assert capped * 8 * floats <= ACCUMULATOR_BYTES or capped <= MIN_BLOCKS
    # never fewer blocks than threads could share when the data allows it
    assert capped >= min(MIN_BLOCKS - 1, n_blocks(n_samples))
    # small accumulators leave the partition as it was
    if MAX_BLOCKS * 8 * floats <= ACCUMULATOR_BYTES:
        assert capped == n_blocks(n_samples)


def test_moment_floats_counts_weights_means_and_second_moments():
    assert moment_floats(16, 32, (32, 32)) == 16 * (1 + 32 + 32 * 32)
    assert moment_floats(3, 4, (1, 1)) == 3 * (1 + 4 + 1)


def spy_blocks(monkeypatch, kernel_name, block_argument):
    """Record the number of blocks each call of ``_kernels.<kernel_name>`` is given."""
    blocks_used = []
    kernel = getattr(sources._kernels, kernel_name)

    def spy(*args):
        blocks_used.append(-(-args[0].shape[0] // args[block_argument]))
        return kernel(*args)

    monkeypatch.setattr(sources._kernels, kernel_name, spy)
    return blocks_used


@pytest.fixture
def tiny_budget(monkeypatch):
    """A budget of four blocks of full moments, so that 30,000 rows make 4 blocks instead of 15."""
    monkeypatch.setattr(_config, "MIN_BLOCKS", 2)
    monkeypatch.setattr(_config, "ACCUMULATOR_BYTES", 4 * 8 * moment_floats(3, 4, (4, 4)))
    block_arguments = {"em_statistics": 6, "nearest_center_statistics": 4, "random_responsibility_statistics": 5}
    return {name: spy_blocks(monkeypatch, name, index) for name, index in block_arguments.items()}


@pytest.mark.parametrize("cov_type", naive.COVARIANCE_TYPES)
def test_capped_partition_gives_the_same_statistics(cov_type, make_parameters, request):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30_000, 4)) * 1.5 + 0.5
    w = rng.uniform(0.0, 2.0, size=30_000)
    p = make_parameters(cov_type, 3, 4, np.random.default_rng(8), center=0.5, spread=1.5)
    uncapped = InMemoryData(X, w).em_statistics(p.params)
    blocks_used = request.getfixturevalue("tiny_budget")["em_statistics"]
    capped = InMemoryData(X, w).em_statistics(p.params)
    assert n_blocks(30_000) == 15
    # 4 blocks of 63 floats fit the budget; diagonal moments take 27 floats a block (9 blocks of 3584 rows),
    # spherical 18 (12 blocks of 2560)
    assert blocks_used == [{"full": 4, "tied": 4, "diag": 9, "spherical": 12}[cov_type]]
    ref = naive.em_statistics(X, w, p.weights, p.means, p.full)
    np.testing.assert_allclose(capped.log_likelihood, ref["LL"], rtol=1e-10)
    for name in ("total_weight", "log_likelihood", "hard_log_resp", "nk", "s1", "s2"):
        a, b = np.asarray(getattr(capped, name)), np.asarray(getattr(uncapped, name))
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(b))), err_msg=name)


def test_capped_partition_in_the_kmeans_and_random_kernels(request):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(30_000, 4))
    data = InMemoryData(X)
    centers = X[:3].copy()
    before = data.nearest_center_statistics(centers, True), data.random_responsibility_statistics(7, 3)
    blocks_used = request.getfixturevalue("tiny_budget")
    after = data.nearest_center_statistics(centers, True), data.random_responsibility_statistics(7, 3)
    # the second nearest-centre pass is the data mean of the random start (one centre, no second moments)
    assert blocks_used["nearest_center_statistics"] == [4, 15]
    assert blocks_used["random_responsibility_statistics"] == [4]
    np.testing.assert_array_equal(after[0][0], before[0][0])  # counts: whole numbers, exact in any order
    for a, b in zip(after[0][1:], before[0][1:]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(b))))
    for name in ("nk", "s1", "s2"):
        a, b = getattr(after[1], name), getattr(before[1], name)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * float(np.max(np.abs(b))), err_msg=name)
