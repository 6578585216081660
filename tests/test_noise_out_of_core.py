"""Noise components and labelled rows on out-of-core data (issue 24 item 4), and the convex-hull volume.

Memory maps are forced through ChunkedData with small chunks (as in
tests/test_chunked.py); Dask runs on its threaded scheduler, except one
test on a two-process LocalCluster, where every function and object a
chunk needs is pickled to the workers.

Tolerances: the same fit from the same start is compared at 1e-10
relative (only the order of the per-chunk sums differs, as in
tests/test_chunked.py); volumes at 1e-12 relative against the in-memory
value and 1e-10 against the naive references (tests/naive.py).
"""

import math

import naive
import numpy as np
import pytest

import gmm_numba
from gmm_numba import GaussianMixture
from gmm_numba.data.chunked import ChunkedData
from gmm_numba.data.dask_source import DaskData
from gmm_numba.data.in_memory import InMemoryData
from gmm_numba.data.volume import MAX_HULL_FEATURES, box_volume, hull_volume
from gmm_numba.errors import NotSupportedError

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

D = 2
RTOL = 1e-10
CHUNK_ROWS = [400, 333]
PARAMETERS = ("weights_", "means_", "covariances_")


@pytest.fixture(scope="module")
def clutter():
    """Two clusters and 10% uniform clutter, the clutter rows flagged."""
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(0, 1, (600, D)), rng.normal(5, 1, (600, D)), rng.uniform(-5, 10, (130, D))])
    flags = np.zeros(len(X), dtype=bool)
    flags[-130:] = True
    weights = rng.uniform(0.5, 2.0, len(X))
    return np.ascontiguousarray(X), flags, weights


@pytest.fixture(scope="module")
def npy_file(clutter, tmp_path_factory):
    path = tmp_path_factory.mktemp("noise") / "X.npy"
    np.save(path, clutter[0])
    return path


@pytest.fixture
def threads():
    with dask.config.set(scheduler="threads"):
        yield


def assert_same_fit(a, b, rtol=RTOL):
    for name in PARAMETERS + (("noise_weight_",) if hasattr(b, "noise_weight_") else ()):
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.max(np.abs(y)), err_msg=name)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)


def noise_settings(X, flags, cov_type="VVV"):
    """A fixed start: the Gaussian part of a short in-memory noise fit."""
    g = GaussianMixture(2, covariance_type=cov_type, noise=flags, max_iter=2, tol=0, random_state=0).fit(X)
    return dict(covariance_type=cov_type, noise=flags, max_iter=30, tol=0, weights_init=g.weights_ / g.weights_.sum(),
                means_init=g.means_, precisions_init=g.precisions_)


# ------------------------------------------------------------------ volumes
def test_box_volume_passes_equal_in_memory_and_mclusts_definition(clutter, npy_file, chunk_rows, threads):
    X, _, _ = clutter
    in_memory = box_volume(InMemoryData(X))
    assert in_memory == pytest.approx(min(naive.bounding_box_volumes(X)), rel=1e-10)
    chunk_rows(333, D)
    mm = np.load(npy_file, mmap_mode="r")
    assert ChunkedData(mm).n_chunks == 4
    assert box_volume(ChunkedData(mm)) == pytest.approx(in_memory, rel=1e-12)
    assert box_volume(DaskData(da.from_array(X, chunks=(301, D)))) == pytest.approx(
        in_memory, rel=1e-12)


def test_hull_volume_of_known_shapes():
    rng = np.random.default_rng(1)
    square = np.concatenate([[[0, 0], [1, 0], [0, 1], [1, 1]], rng.uniform(0, 1, (200, 2))])
    assert hull_volume(InMemoryData(np.ascontiguousarray(square))) == pytest.approx(1.0, rel=1e-12)
    inside = rng.dirichlet([1, 1, 1], 200)[:, :2] * 3.0  # points of the triangle (0,0), (3,0), (0,3)
    triangle = np.concatenate([[[0, 0], [3, 0], [0, 3]], inside])
    assert hull_volume(InMemoryData(np.ascontiguousarray(triangle))) == pytest.approx(4.5, rel=1e-12)
    corners = np.array([[i, j, k] for i in (0, 2) for j in (0, 1) for k in (0, 1)], dtype=float)
    cube = np.concatenate([corners, rng.uniform(0, 1, (300, 3)) * [2, 1, 1]])
    assert hull_volume(InMemoryData(np.ascontiguousarray(cube))) == pytest.approx(2.0, rel=1e-12)
    line = np.ascontiguousarray(rng.uniform(-1, 4, (50, 1)))
    assert hull_volume(InMemoryData(line)) == pytest.approx(np.ptp(line), rel=1e-14)


def test_hull_volume_out_of_core_equals_naive_reference(clutter, npy_file, chunk_rows, threads):
    X, _, _ = clutter
    reference = naive.convex_hull_area_2d(X)
    assert hull_volume(InMemoryData(X)) == pytest.approx(reference, rel=1e-10)
    for rows in CHUNK_ROWS:
        chunk_rows(rows, D)
        assert hull_volume(ChunkedData(np.load(npy_file, mmap_mode="r"))) == pytest.approx(reference, rel=1e-10)
    dask_data = DaskData(da.from_array(X, chunks=(97, D)))
    assert hull_volume(dask_data) == pytest.approx(reference, rel=1e-10)


def test_hull_volume_refusals():
    rng = np.random.default_rng(2)
    wide = np.ascontiguousarray(rng.normal(size=(100, MAX_HULL_FEATURES + 1)))
    with pytest.raises(ValueError, match=f"at most {MAX_HULL_FEATURES} features"):
        hull_volume(InMemoryData(wide))
    t = rng.uniform(size=(40, 1))
    flat = np.ascontiguousarray(np.hstack([t, 2 * t + 1]))  # every row on one line
    with pytest.raises(ValueError, match="span no 2-dimensional volume"):
        hull_volume(InMemoryData(flat))
    with pytest.raises(ValueError, match="span no 2-dimensional volume"):
        GaussianMixture(2, noise=True, noise_volume="hull").fit(flat)
    with pytest.raises(ValueError, match="noise_volume must be None"):
        GaussianMixture(2, noise=True, noise_volume="convex").fit(flat)


def test_fit_with_hull_volume(clutter):
    X, flags, _ = clutter
    gm = GaussianMixture(2, noise=flags, noise_volume="hull", random_state=0).fit(X)
    assert gm.noise_volume_ == pytest.approx(naive.convex_hull_area_2d(X), rel=1e-10)
    assert gm.noise_volume_ < GaussianMixture(2, noise=flags, random_state=0).fit(X).noise_volume_


# ------------------------------------------------------------------ noise
@pytest.mark.parametrize("cov_type", ["VVV", "EEI", "VII"])
def test_memmap_noise_fit_equals_in_memory(clutter, npy_file, chunk_rows, cov_type):
    X, flags, _ = clutter
    settings = noise_settings(X, flags, cov_type)
    reference = GaussianMixture(2, **settings).fit(X)
    mm = np.load(npy_file, mmap_mode="r")
    for rows in CHUNK_ROWS:
        chunk_rows(rows, D)
        gm = GaussianMixture(2, **settings).fit(mm)
        assert gm.noise_volume_ == pytest.approx(reference.noise_volume_, rel=1e-12)
        assert_same_fit(gm, reference)


def test_dask_noise_fit_with_weights_equals_in_memory(clutter, threads):
    X, flags, w = clutter
    settings = noise_settings(X, flags)
    reference = GaussianMixture(2, **settings).fit(X, sample_weight=w)
    gm = GaussianMixture(2, **settings).fit(da.from_array(X, chunks=(301, D)), sample_weight=da.from_array(w, 400))
    assert_same_fit(gm, reference)


def test_noise_true_reads_every_row_when_they_fit_in_the_start_sample(clutter, npy_file, chunk_rows):
    """n <= init_sample_size: the clutter criterion and the k-means++ start see what they see in memory."""
    X, _, _ = clutter
    settings = dict(noise=True, random_state=3, tol=1e-8, max_iter=500)
    reference = GaussianMixture(2, **settings).fit(X)
    chunk_rows(333, D)
    assert_same_fit(GaussianMixture(2, **settings).fit(np.load(npy_file, mmap_mode="r")), reference)


def test_noise_true_on_a_subsample_finds_the_in_memory_optimum(clutter, threads):
    """n > init_sample_size: the start comes from a subsample; EM still reaches the same mixture."""
    X, _, _ = clutter
    reference = GaussianMixture(2, noise=True, random_state=3, tol=1e-10, max_iter=1000).fit(X)
    gm = GaussianMixture(2, noise=True, random_state=3, tol=1e-10, max_iter=1000, init_sample_size=500)
    gm.fit(da.from_array(X, chunks=(400, D)))
    np.testing.assert_allclose(gm.means_, reference.means_, atol=1e-5)
    assert gm.noise_weight_ == pytest.approx(reference.noise_weight_, abs=1e-6)
    assert gm.lower_bound_ == pytest.approx(reference.lower_bound_, rel=1e-9)


def test_noise_predictions_out_of_core_equal_in_memory(clutter, npy_file, chunk_rows, threads):
    X, flags, _ = clutter
    gm = GaussianMixture(2, noise=flags, random_state=0).fit(X)
    expected = gm.predict(X), gm.predict_proba(X), gm.score_samples(X), gm.score(X)
    assert np.count_nonzero(expected[0] == -1) > 50
    assert expected[1].shape == (len(X), 3)
    chunk_rows(333, D)
    mm = np.load(npy_file, mmap_mode="r")
    lazy = da.from_array(X, chunks=(301, D))
    for source, done in ((mm, np.asarray), (lazy, lambda a: a.compute())):
        np.testing.assert_array_equal(done(gm.predict(source)), expected[0])
        np.testing.assert_allclose(done(gm.predict_proba(source)), expected[1], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(done(gm.score_samples(source)), expected[2], rtol=1e-12)
        assert float(gm.score(source)) == pytest.approx(expected[3], rel=1e-12)


def test_bad_noise_flags_out_of_core(clutter, npy_file, chunk_rows):
    X, flags, _ = clutter
    chunk_rows(333, D)
    mm = np.load(npy_file, mmap_mode="r")
    with pytest.raises(ValueError, match="row flags but X has"):
        GaussianMixture(2, noise=flags[:-1]).fit(mm)
    with pytest.raises(ValueError, match="flags no row"):
        GaussianMixture(2, noise=np.zeros(len(X), dtype=bool)).fit(mm)


def test_bad_values_out_of_core_are_named_before_em(clutter, tmp_path, chunk_rows, threads):
    X, flags, _ = clutter
    bad = X.copy()
    bad[700, 1] = np.nan
    path = tmp_path / "bad.npy"
    np.save(path, bad)
    chunk_rows(333, D)
    y = labels_of(len(X), np.random.default_rng(9))
    for source in (np.load(path, mmap_mode="r"), da.from_array(bad, chunks=(301, D))):
        with pytest.raises(ValueError, match=r"NaN or infinity in 1 row \(first: row 700\)"):
            GaussianMixture(2, noise=flags).fit(source)
        with pytest.raises(ValueError, match=r"NaN or infinity in 1 row \(first: row 700\)"):
            GaussianMixture(2, noise=flags, noise_volume="hull").fit(source)
        with pytest.raises(ValueError, match=r"NaN or infinity in 1 row \(first: row 700\)"):
            GaussianMixture(2, semi_supervised=True).fit(source, y)


# ------------------------------------------------------------------ labels
def labels_of(n, rng):
    y = np.full(n, -1, dtype=np.int64)
    y[rng.choice(600, 30, replace=False)] = 0
    y[600 + rng.choice(600, 30, replace=False)] = 1
    return y


@pytest.mark.parametrize("cov_type", ["VVV", "EEE", "VVI"])
def test_memmap_semi_supervised_fit_equals_in_memory(clutter, npy_file, chunk_rows, cov_type):
    X, _, _ = clutter
    y = labels_of(len(X), np.random.default_rng(4))
    settings = dict(covariance_type=cov_type, semi_supervised=True, tol=0, max_iter=25)
    reference = GaussianMixture(2, **settings).fit(X, y)
    mm = np.load(npy_file, mmap_mode="r")
    for rows in CHUNK_ROWS:
        chunk_rows(rows, D)
        assert_same_fit(GaussianMixture(2, **settings).fit(mm, y), reference)


def test_dask_semi_supervised_with_weights_and_fully_labelled_chunks(clutter, threads):
    X, _, w = clutter
    y = labels_of(len(X), np.random.default_rng(5))
    y[:200] = 0  # the first chunk is labelled throughout: no unlabelled row there
    settings = dict(semi_supervised=True, tol=0, max_iter=25)
    reference = GaussianMixture(2, **settings).fit(X, y, sample_weight=w)
    gm = GaussianMixture(2, **settings).fit(da.from_array(X, chunks=(200, D)), da.from_array(y, 300),
                                            sample_weight=w)
    assert_same_fit(gm, reference)


def test_dask_ships_a_labels_array_once_while_passes_use_it(clutter, threads):
    X, _, _ = clutter
    data = DaskData(da.from_array(X, chunks=(400, D)))
    y = labels_of(len(X), np.random.default_rng(10))

    def count(X, sample_weight, rows):
        return int(np.count_nonzero(rows[0] >= 0))

    assert data.map_rows(count, rows=(y,)) == 60
    first = data._row_block_cache
    assert data.map_rows(count, rows=(y.copy(),)) == 60  # equal contents: the blocks on the cluster are reused
    assert len(data._row_block_cache) == 1
    assert next(iter(data._row_block_cache.values()))[0] is next(iter(first.values()))[0]
    data.map_rows(count, rows=(np.where(y == 1, 0, y),))  # other labels replace them
    assert len(data._row_block_cache) == 1
    assert next(iter(data._row_block_cache.values()))[0] is not next(iter(first.values()))[0]


def test_bad_labels_and_noise_with_labels_are_refused_out_of_core(clutter, threads):
    X, flags, _ = clutter
    y = labels_of(len(X), np.random.default_rng(6))
    lazy = da.from_array(X, chunks=(400, D))
    with pytest.raises(NotSupportedError, match="MclustSSC"):
        GaussianMixture(2, noise=flags, semi_supervised=True).fit(lazy, y)
    with pytest.raises(NotSupportedError, match="MclustSSC"):
        gmm_numba.select(lazy, n_components=2, covariance_type="EEI", noise=flags, y=y)
    with pytest.raises(ValueError, match="y has 1299 labels but X has 1330 rows"):
        GaussianMixture(2, semi_supervised=True).fit(lazy, y[:-31])
    with pytest.raises(ValueError, match=r"y\[\d+\] = 2 is not a component index 0..1"):
        GaussianMixture(2, semi_supervised=True).fit(lazy, np.where(y == 1, 2, y))


# ------------------------------------------------------------------ select, save and load
def test_select_with_noise_and_with_labels_out_of_core(clutter, npy_file, chunk_rows, threads, tmp_path):
    X, flags, _ = clutter
    y = labels_of(len(X), np.random.default_rng(7))
    options = dict(n_components=[2, 3], covariance_type=["EEI", "VVV"], random_state=0, n_init=2)
    chunk_rows(333, D)
    mm = np.load(npy_file, mmap_mode="r")
    lazy = da.from_array(X, chunks=(301, D))
    for extra in (dict(noise=flags), dict(noise=flags, noise_volume="hull"), dict(y=y)):
        expected = gmm_numba.select(X, **options, **extra)
        for source in (mm, lazy):
            got = gmm_numba.select(source, **options, **extra)
            table, reference = got["selection"].to_dataset(), expected["selection"].to_dataset()
            np.testing.assert_allclose(table["bic"].values, reference["bic"].values, rtol=1e-9)
            assert got.attrs["covariance_type"] == expected.attrs["covariance_type"]
    path = tmp_path / "noise.nc"
    got.to_netcdf(path)  # the last one: labels on Dask
    back = GaussianMixture.from_xarray(gmm_numba.load(path))
    np.testing.assert_array_equal(back.predict(lazy).compute(), GaussianMixture.from_xarray(expected).predict(X))


def test_select_with_noise_true_on_a_subsample_finds_the_in_memory_table(clutter, threads):
    """n > init_sample_size: the starts come from a subsample; each cell (K <= 2 on two clusters) reaches
    the in-memory optimum (with K = 3 the two can stop at different local optima)."""
    X, _, _ = clutter
    options = dict(n_components=[1, 2], covariance_type=["EEI", "VVV"], random_state=0, n_init=2, noise=True)
    expected = gmm_numba.select(X, **options)
    got = gmm_numba.select(da.from_array(X, chunks=(301, D)), init_sample_size=600, **options)
    np.testing.assert_allclose(got["selection"]["bic"].values, expected["selection"]["bic"].values, rtol=1e-7)
    assert got["selection"].attrs["best_n_components"] == expected["selection"].attrs["best_n_components"]


def test_xarray_on_dask_with_noise_and_labels(clutter, threads):
    xr = pytest.importorskip("xarray")
    X, flags, _ = clutter
    y = labels_of(len(X), np.random.default_rng(11))
    dataset = xr.Dataset({f"f{i}": ("time", X[:, i]) for i in range(D)}).chunk({"time": 400})
    array = xr.DataArray(X, dims=("sample", "feature")).chunk({"sample": 333})
    settings = noise_settings(X, flags)
    reference = GaussianMixture(2, **settings).fit(X)
    semi = dict(semi_supervised=True, tol=0, max_iter=10)
    semi_reference = GaussianMixture(2, **semi).fit(X, y)
    for source in (dataset, array.T):  # features first: "sample" is found by name
        gm = GaussianMixture(2, **settings).fit(source)
        assert_same_fit(gm, reference)
        assert isinstance(gm.predict(source), da.Array)
        np.testing.assert_array_equal(gm.predict(source).compute(), reference.predict(X))
        assert_same_fit(GaussianMixture(2, **semi).fit(source, y), semi_reference)
    table = gmm_numba.select(dataset, n_components=2, covariance_type="EEI", noise=flags)
    assert list(table["posterior"]["feature"].values) == ["f0", "f1"]
    assert float(table["criteria"]["bic"]) == pytest.approx(
        float(gmm_numba.select(X, n_components=2, covariance_type="EEI", noise=flags)["criteria"]["bic"]), rel=1e-9)


def test_noise_fit_on_dask_round_trips_through_netcdf(clutter, threads, tmp_path):
    X, flags, _ = clutter
    lazy = da.from_array(X, chunks=(301, D))
    gm = GaussianMixture(2, noise=flags, noise_volume="hull", random_state=0).fit(lazy)
    path = tmp_path / "noise.nc"
    gm.to_xarray().to_netcdf(path)
    loaded = gmm_numba.load(path)
    back = GaussianMixture.from_xarray(loaded)
    assert back.noise_volume_ == gm.noise_volume_
    assert back.noise_weight_ == gm.noise_weight_
    assert back.noise_volume == "hull"  # a refit from the loaded settings takes the hull again
    assert "(convex hull; label -1)" in gmm_numba.describe(loaded)
    assert GaussianMixture.from_xarray(GaussianMixture(2, noise=flags, noise_volume=50.0).fit(X).to_xarray()
                                       ).noise_volume == 50.0
    assert GaussianMixture.from_xarray(GaussianMixture(2, noise=flags).fit(X).to_xarray()).noise_volume is None
    np.testing.assert_array_equal(back.predict(lazy).compute(), gm.predict(X))
    np.testing.assert_allclose(back.predict_proba(lazy).compute(), gm.predict_proba(X), rtol=1e-14)


def test_on_a_local_cluster(clutter):
    """Worker processes: the chunk functions, the noise scorer and the labels' blocks are shipped by pickle."""
    distributed = pytest.importorskip("distributed")
    X, flags, _ = clutter
    y = labels_of(len(X), np.random.default_rng(8))
    settings = noise_settings(X, flags)
    reference = GaussianMixture(2, **settings).fit(X)
    semi = dict(semi_supervised=True, tol=0, max_iter=10)
    semi_reference = GaussianMixture(2, **semi).fit(X, y)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        lazy = da.from_array(X, chunks=(400, D))
        gm = GaussianMixture(2, **settings).fit(lazy)
        labels = gm.predict(lazy).compute()
        assert_same_fit(GaussianMixture(2, **semi).fit(lazy, y), semi_reference)
    assert_same_fit(gm, reference)
    np.testing.assert_array_equal(labels, reference.predict(X))
    assert math.isfinite(gm.noise_volume_)
