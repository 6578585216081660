"""Dask input: the same fit as in memory, lazy predictions, lazy validation, and a worker lost mid-fit.

The fits that matter run on a two-process LocalCluster (one thread each)
on 127.0.0.1; checks of the source's logic use Dask's threaded scheduler,
which answers a pass in milliseconds instead of tens. Skipped when dask or
distributed is not installed.
"""

import os
import signal

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from conftest import COVARIANCE_TYPES, make_mixture  # noqa: E402

from gmm_numba import GaussianMixture  # noqa: E402
from gmm_numba.covariance import get_model  # noqa: E402
from gmm_numba.data.dask_source import DaskData  # noqa: E402
from gmm_numba.data.in_memory import InMemoryData  # noqa: E402
from gmm_numba.fitting.em import fit_em  # noqa: E402

N, D, K = 3000, 3, 3
CHUNKINGS = [(1000, D), (701, 2), (3000, D)]  # even, ragged and split features, one block
RTOL = 1e-10


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture
def threads():
    """Dask's threaded scheduler, even while the cluster's client is the default."""
    with dask.config.set(scheduler="threads"):
        yield


@pytest.fixture(scope="module")
def data():
    X, _ = make_mixture(7, N, D, K)
    w = np.random.default_rng(3).uniform(0.5, 2.0, N)
    return X, w


def start(X, cov_type):
    """A fixed starting point: weights_init, means_init, precisions_init of an in-memory fit."""
    g = GaussianMixture(K, covariance_type=cov_type, max_iter=2, tol=0, random_state=0).fit(X)
    return {"weights_init": g.weights_, "means_init": g.means_, "precisions_init": g.precisions_}


def assert_same_fit(a, b, rtol=RTOL):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        x, y = getattr(a, name), getattr(b, name)
        np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol * np.max(np.abs(y)), err_msg=name)
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=rtol)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_fit_equals_in_memory_for_any_chunking(client, data, cov_type):
    X, _ = data
    init = start(X, cov_type)
    settings = dict(covariance_type=cov_type, max_iter=3, tol=0, **init)
    reference = GaussianMixture(K, **settings).fit(X)
    for chunks in CHUNKINGS:
        fitted = GaussianMixture(K, **settings).fit(da.from_array(X, chunks=chunks))
        assert_same_fit(fitted, reference)


@pytest.mark.parametrize("init_params", ["k-means++", "random", "random_from_data"])
def test_drawn_starting_points_equal_in_memory(threads, data, init_params):
    """k-means++ seeds on the same subsample rows; random responsibilities hash global row indices."""
    X, w = data
    settings = dict(init_params=init_params, max_iter=3, tol=0, random_state=11, init_sample_size=500)
    reference = GaussianMixture(K, **settings).fit(X, sample_weight=w)
    for chunks in CHUNKINGS[:2]:
        fitted = GaussianMixture(K, **settings).fit(da.from_array(X, chunks=chunks), sample_weight=w)
        assert_same_fit(fitted, reference)


def test_dask_weights_and_reg_covar_auto(client, data):
    X, w = data
    settings = dict(max_iter=3, tol=0, random_state=2, reg_covar="auto", init_params="random_from_data")
    reference = GaussianMixture(K, **settings).fit(X, sample_weight=w)
    fitted = GaussianMixture(K, **settings).fit(
        da.from_array(X, chunks=700), sample_weight=da.from_array(w, chunks=900)
    )
    assert_same_fit(fitted, reference)


def test_statistics_equal_on_the_threaded_scheduler(threads, data):
    """On Dask's threaded scheduler the source gives the in-memory statistics."""
    X, w = data
    source = DaskData(da.from_array(X, chunks=(400, 2)), w)
    reference = InMemoryData(X, w)
    params = fit_em(reference, get_model("full"), K, rng=np.random.default_rng(0), max_iter=2, warn=False).parameters
    a, b = source.em_statistics(params), reference.em_statistics(params)
    np.testing.assert_allclose(a.s2, b.s2, rtol=1e-12)
    np.testing.assert_allclose(a.log_likelihood, b.log_likelihood, rtol=1e-12)
    np.testing.assert_allclose(source.feature_variance(), reference.feature_variance(), rtol=1e-12)
    Xs, ws = source.subsample(100, np.random.default_rng(5))
    Xr, wr = reference.subsample(100, np.random.default_rng(5))
    np.testing.assert_array_equal(Xs, Xr)
    np.testing.assert_array_equal(ws, wr)
    np.testing.assert_array_equal(source.rows([5, 2, 2999]), X[[5, 2, 2999]])


def test_predictions_are_lazy_and_equal_in_memory(client, data):
    X, _ = data
    g = GaussianMixture(K, random_state=0).fit(X)
    Xd = da.from_array(X, chunks=(800, 2))
    scores, labels, proba = g.score_samples(Xd), g.predict(Xd), g.predict_proba(Xd)
    for out in (scores, labels, proba):
        assert isinstance(out, da.Array)
        assert out.chunks[0] == Xd.chunks[0]
    assert proba.chunks[1] == (K,)
    np.testing.assert_allclose(scores.compute(), g.score_samples(X), rtol=1e-12)
    np.testing.assert_array_equal(labels.compute(), g.predict(X))
    np.testing.assert_allclose(proba.compute(), g.predict_proba(X), rtol=1e-12, atol=1e-300)
    assert g.score(Xd) == pytest.approx(g.score(X), rel=1e-12)
    assert g.bic(Xd) == pytest.approx(g.bic(X), rel=1e-12)
    with pytest.raises(ValueError, match="has 2 features, but GaussianMixture is expecting 3"):
        g.predict(Xd[:, :2])


def test_xarray_on_dask(threads, data):
    xr = pytest.importorskip("xarray")
    X, _ = data
    settings = dict(max_iter=3, tol=0, random_state=4)
    reference = GaussianMixture(K, **settings).fit(X)
    array = xr.DataArray(X, dims=("sample", "feature")).chunk({"sample": 1000})
    assert_same_fit(GaussianMixture(K, **settings).fit(array), reference)
    # a DataArray stored features-first: the "sample" dimension is found by name
    assert_same_fit(GaussianMixture(K, **settings).fit(array.T), reference)
    dataset = xr.Dataset({f"f{i}": ("time", X[:, i]) for i in range(D)}).chunk({"time": 900})
    fitted = GaussianMixture(K, **settings).fit(dataset)
    assert_same_fit(fitted, reference)
    assert isinstance(fitted.predict(dataset), da.Array)


def test_validation_is_lazy_and_names_bad_rows(threads, data):
    X, w = data
    bad = X.copy()
    bad[[10, 2500]] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or infinity in 2 rows \(first: row 10\)"):
        GaussianMixture(K, random_state=0).fit(da.from_array(bad, chunks=1000))
    with pytest.raises(ValueError, match="Expected a 2D array"):
        GaussianMixture(K).fit(da.from_array(X[:, 0], chunks=1000))
    with pytest.raises(ValueError, match="Complex data not supported"):
        GaussianMixture(K).fit(da.from_array(X.astype(complex), chunks=1000))
    negative = w.copy()
    negative[7] = -1
    with pytest.raises(ValueError, match="1 negative value"):
        GaussianMixture(K).fit(da.from_array(X, chunks=1000), sample_weight=da.from_array(negative, chunks=1000))
    with pytest.raises(ValueError, match="3000 samples"):
        GaussianMixture(K).fit(da.from_array(X, chunks=1000), sample_weight=da.from_array(w[:10], chunks=5))


def test_fit_survives_a_killed_worker(client, data):
    """One worker process is killed after iteration 2; Dask recomputes its tasks elsewhere."""
    X, _ = data
    init = start(X, "full")
    settings = dict(max_iter=5, tol=0, **init)
    reference = GaussianMixture(K, **settings).fit(X)
    Xd = da.from_array(X, chunks=500).persist()  # its blocks on the workers: one worker's share is lost
    killed = []

    def kill_one_worker(iteration, lower_bound, params):
        if iteration == 2:
            pids = client.run(os.getpid)
            address, pid = sorted(pids.items())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(address)

    fitted = GaussianMixture(K, callback=kill_one_worker, **settings).fit(Xd)
    assert killed
    assert_same_fit(fitted, reference)
    client.wait_for_workers(2, timeout=60)


def test_parameters_that_differ_in_the_last_bits_get_different_keys(data):
    """Dask caches results by key: near-identical parameters (late EM iterations) must not share one."""
    from dask.base import tokenize

    from gmm_numba.data.chunked import KernelArguments

    X, _ = data
    params = GaussianMixture(K, max_iter=2, tol=0, random_state=0).fit(X)._parameters
    nudged = type(params)(
        params.model, params.weights, params.means * (1 + 1e-15), params.covariances, params.precisions_cholesky
    )
    assert tokenize(KernelArguments(params)) == tokenize(KernelArguments(params))
    assert tokenize(KernelArguments(params)) != tokenize(KernelArguments(nudged))


def test_example_runs_in_fast_mode():
    """examples/large_data_dask.py --fast: its own LocalCluster, a fit, lazy predictions."""
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")])))
    done = subprocess.run(
        [sys.executable, os.path.join(repo, "examples", "large_data_dask.py"), "--fast"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=repo,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "fit: converged" in done.stdout
    assert "predict returns dask.array" in done.stdout
