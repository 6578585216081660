"""Memory-mapped and chunk-readable data: the in-memory fit, chunk by chunk."""

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, make_mixture

import gmm_numba.data.chunked as chunked
import gmm_numba.data.dispatch as data_sources
from gmm_numba import GaussianMixture
from gmm_numba.data.chunked import ChunkedData
from gmm_numba.data.dispatch import is_out_of_core, make_data_source
from gmm_numba.data.in_memory import InMemoryData

N, D, K = 3000, 3, 3
RTOL = 1e-10
CHUNK_ROWS = [1000, 701, 3000]


@pytest.fixture(scope="module")
def data():
    X, _ = make_mixture(11, N, D, K)
    w = np.random.default_rng(4).uniform(0.5, 2.0, N)
    return X, w


@pytest.fixture(scope="module")
def npy_files(data, tmp_path_factory):
    X, w = data
    folder = tmp_path_factory.mktemp("memmap")
    np.save(folder / "X.npy", X)
    np.save(folder / "w.npy", w)
    return folder / "X.npy", folder / "w.npy"


def assert_same_fit(a, b, rtol=RTOL):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.max(np.abs(y)), err_msg=name)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_memmap_fit_equals_in_memory_for_any_chunking(data, npy_files, chunk_rows, cov_type):
    X, _ = data
    g = GaussianMixture(K, covariance_type=cov_type, max_iter=2, tol=0, random_state=0).fit(X)
    settings = dict(covariance_type=cov_type, max_iter=4, tol=0, weights_init=g.weights_, means_init=g.means_)
    settings["precisions_init"] = g.precisions_
    reference = GaussianMixture(K, **settings).fit(X)
    mm = np.load(npy_files[0], mmap_mode="r")
    for rows in CHUNK_ROWS:
        chunk_rows(rows, D)
        assert isinstance(make_data_source(mm), ChunkedData)
        assert make_data_source(mm).n_chunks == -(-N // rows)
        assert_same_fit(GaussianMixture(K, **settings).fit(mm), reference)


@pytest.mark.parametrize("init_params", ["k-means++", "random", "random_from_data"])
def test_drawn_starting_points_equal_in_memory(data, npy_files, chunk_rows, init_params):
    X, w = data
    settings = dict(init_params=init_params, max_iter=3, tol=0, random_state=5, init_sample_size=400)
    reference = GaussianMixture(K, **settings).fit(X, sample_weight=w)
    mm = np.load(npy_files[0], mmap_mode="r")
    wm = np.load(npy_files[1], mmap_mode="r")
    for rows in CHUNK_ROWS[:2]:
        chunk_rows(rows, D)
        assert_same_fit(GaussianMixture(K, **settings).fit(mm, sample_weight=wm), reference)


def test_random_responsibilities_use_global_row_indices(data):
    X, w = data
    reference = InMemoryData(X, w).random_responsibility_statistics(123, K)
    for rows in CHUNK_ROWS:
        stats = ChunkedData(X, w, chunk_rows=rows).random_responsibility_statistics(123, K)
        np.testing.assert_allclose(stats.s2, reference.s2, rtol=1e-12)
        np.testing.assert_allclose(stats.nk, reference.nk, rtol=1e-12)
        np.testing.assert_allclose(stats.shifts, reference.shifts, rtol=1e-12)
        assert stats.total_weight == pytest.approx(reference.total_weight, rel=1e-14)


def test_source_methods_equal_in_memory(data, npy_files):
    X, w = data
    source = ChunkedData(npy_files[0], w, chunk_rows=512)  # a path is opened as a memmap
    reference = InMemoryData(X, w)
    np.testing.assert_allclose(source.feature_variance(), reference.feature_variance(), rtol=1e-12)
    centers = X[[0, 1000, 2000]]
    for a, b in zip(
        source.nearest_center_statistics(centers, True), reference.nearest_center_statistics(centers, True)
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    Xs, ws = source.subsample(200, np.random.default_rng(9))
    Xr, wr = reference.subsample(200, np.random.default_rng(9))
    np.testing.assert_array_equal(Xs, Xr)
    np.testing.assert_array_equal(ws, wr)
    np.testing.assert_array_equal(source.rows([2999, 0, 5, 0]), X[[2999, 0, 5, 0]])


class RowSliced:
    """An array-like that only knows its shape, dtype and (fancy) row indexing, like a zarr or h5py array."""

    def __init__(self, X):
        self._X = X
        self.shape = X.shape
        self.dtype = X.dtype
        self.reads = 0

    def __getitem__(self, key):
        self.reads += 1
        return np.array(self._X[key])


def test_any_row_sliceable_array(data):
    X, _ = data
    source = RowSliced(X)
    chunked_source = ChunkedData(source, chunk_rows=256)
    reference = InMemoryData(X)
    np.testing.assert_allclose(chunked_source.feature_variance(), reference.feature_variance(), rtol=1e-12)
    before = source.reads
    Xs, _ = chunked_source.subsample(20, np.random.default_rng(1))
    Xr, _ = reference.subsample(20, np.random.default_rng(1))
    np.testing.assert_array_equal(Xs, Xr)
    assert source.reads - before <= chunked_source.n_chunks  # only chunks holding drawn rows are read


def test_float32_memmap_is_computed_in_float32(tmp_path, data, chunk_rows):
    X, _ = data
    X32 = X.astype(np.float32)
    np.save(tmp_path / "X32.npy", X32)
    mm = np.load(tmp_path / "X32.npy", mmap_mode="r")
    chunk_rows(1000, D)
    assert make_data_source(mm).dtype == np.float32
    settings = dict(max_iter=3, tol=0, random_state=0)
    assert_same_fit(GaussianMixture(K, **settings).fit(mm), GaussianMixture(K, **settings).fit(X32), rtol=1e-5)


def test_predictions_chunk_by_chunk(data, npy_files, chunk_rows):
    X, _ = data
    g = GaussianMixture(K, random_state=0).fit(X)
    chunk_rows(700, D)
    mm = np.load(npy_files[0], mmap_mode="r")
    assert is_out_of_core(mm)
    np.testing.assert_allclose(g.score_samples(mm), g.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(g.predict(mm), g.predict(X))
    np.testing.assert_allclose(g.predict_proba(mm), g.predict_proba(X), rtol=1e-12, atol=1e-300)
    with pytest.raises(ValueError, match="has 2 features, but GaussianMixture is expecting 3"):
        g.predict(np.load(npy_files[0], mmap_mode="r")[:, :2])


def test_small_memmap_is_read_into_memory(data, npy_files):
    X, _ = data
    mm = np.load(npy_files[0], mmap_mode="r")
    assert mm.nbytes < data_sources.CHUNKED_MIN_BYTES
    assert not is_out_of_core(mm)
    assert isinstance(make_data_source(mm), InMemoryData)
    settings = dict(max_iter=3, tol=0, random_state=0)
    assert_same_fit(GaussianMixture(K, **settings).fit(mm), GaussianMixture(K, **settings).fit(X), rtol=0)


def test_lazy_validation(tmp_path, data, chunk_rows):
    X, w = data
    chunk_rows(500, D)
    bad = X.copy()
    bad[[1200, 2999]] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    mm = np.load(tmp_path / "bad.npy", mmap_mode="r")
    with pytest.raises(ValueError, match=r"X contains NaN or infinity in 2 rows \(first: row 1200\)"):
        GaussianMixture(K, random_state=0).fit(mm)
    good = np.load(tmp_path / "bad.npy", mmap_mode="r")[:1000]
    negative = w[:1000].copy()
    negative[[3, 600]] = -1.0
    with pytest.raises(ValueError, match=r"2 negative values \(first: index 3, value -1.0\)"):
        GaussianMixture(K).fit(good, sample_weight=negative)
    with pytest.raises(ValueError, match="positive for 2 sample"):
        GaussianMixture(K).fit(good, sample_weight=np.r_[1.0, 1.0, np.zeros(998)])
    with pytest.raises(ValueError, match="Expected a 2D array"):
        ChunkedData(X[:, 0])
    with pytest.raises(ValueError, match="Complex data not supported"):
        ChunkedData(X.astype(complex))
    with pytest.raises(ValueError, match="chunk_rows must be a positive integer"):
        ChunkedData(X, chunk_rows=0)


def test_zarr_array(tmp_path, data, monkeypatch):
    zarr = pytest.importorskip("zarr")
    X, _ = data
    store = zarr.open_array(str(tmp_path / "X.zarr"), mode="w", shape=X.shape, chunks=(300, D), dtype=X.dtype)
    store[:] = X
    monkeypatch.setattr(data_sources, "CHUNKED_MIN_BYTES", 0)
    monkeypatch.setattr(chunked, "DEFAULT_CHUNK_BYTES", 1000 * 8 * D)
    source = make_data_source(store)
    assert isinstance(source, ChunkedData)
    assert source.chunk_rows == 900  # a multiple of the store's own row chunks
    settings = dict(max_iter=3, tol=0, random_state=0)
    assert_same_fit(GaussianMixture(K, **settings).fit(store), GaussianMixture(K, **settings).fit(X))
