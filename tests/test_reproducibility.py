"""Reproducible to the last bit: the same fit whatever the array's memory, the thread count or the process's history.

The fits compare with ``rtol=0``. The history test runs a kernel in fresh
processes that share a fresh Numba cache: compiled there, loaded from the
cache, and loaded after one of its callees' own libraries.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest
from conftest import make_mixture

from gmm_numba import GaussianMixture, _kernels
from gmm_numba._kernels import em_run, estep, linkage, parfor_wrappers
from gmm_numba._kernels.config import COMPILED_RUN_MAX_WORK
from gmm_numba.data.in_memory import InMemoryData

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bounds_")

#: Byte offsets from a 64-byte boundary at which the data are placed.
OFFSETS = (0, 8, 16, 24, 32, 48)


def at_offset(X, offset):
    """A C-contiguous copy of ``X`` whose data start ``offset`` bytes after a 64-byte boundary."""
    raw = np.zeros(X.nbytes + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + offset
    view = raw[start : start + X.nbytes].view(X.dtype).reshape(X.shape)
    view[...] = X
    assert view.ctypes.data % 64 == offset and view.flags.c_contiguous
    return view


def assert_bit_identical(fit, reference, what):
    for name in ATTRIBUTES:
        np.testing.assert_array_equal(getattr(fit, name), getattr(reference, name), err_msg=f"{what}: {name}")
    assert fit.n_iter_ == reference.n_iter_


def placements(X, tmp_path):
    """The same values at several alignments, and as a read-only memmap of a ``.npy`` file."""
    for offset in OFFSETS:
        yield f"offset {offset}", at_offset(X, offset)
    np.save(tmp_path / "X.npy", X)
    yield "memmap", np.load(tmp_path / "X.npy", mmap_mode="r")


@pytest.fixture(params=[1, 2], ids=["1 thread", "2 threads"])
def threads(request):
    before = numba.get_num_threads()
    numba.set_num_threads(min(request.param, numba.config.NUMBA_NUM_THREADS))
    try:
        yield request.param
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize(
    "shape, settings",
    [
        # a whole EM run in one compiled call
        ((3000, 3, 3), dict(max_iter=3)),
        ((3000, 3, 3), dict(max_iter=3, covariance_type="diag")),
        # the threaded block kernels, iteration by iteration
        ((40_000, 6, 4), dict(max_iter=2)),
        ((40_000, 6, 4), dict(max_iter=2, covariance_type="spherical")),
    ],
    ids=["compiled run full", "compiled run diag", "parallel full", "parallel spherical"],
)
def test_fit_is_bit_identical_whatever_the_memory(tmp_path, threads, shape, settings):
    n, d, k = shape
    X, _ = make_mixture(3, n, d, k)
    compiled = InMemoryData(X).compiled_run_fits(k)
    assert compiled == (n * k * d * d <= COMPILED_RUN_MAX_WORK)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, n)
    for sample_weight in (None, weights):
        make = lambda: GaussianMixture(k, tol=0, random_state=0, **settings)  # noqa: E731
        reference = make().fit(X, sample_weight=sample_weight)
        for what, data in placements(X, tmp_path):
            assert_bit_identical(make().fit(data, sample_weight=sample_weight), reference, what)


def test_float32_fit_is_bit_identical_whatever_the_memory(tmp_path, threads):
    X = make_mixture(5, 20_000, 4, 3)[0].astype(np.float32)
    make = lambda: GaussianMixture(3, covariance_type="diag", max_iter=3, tol=0, random_state=0)  # noqa: E731
    reference = make().fit(X)
    for what, data in placements(X, tmp_path):
        assert_bit_identical(make().fit(data), reference, what)


def _block_statistics(X, sample_weight, setup, n_components, buffers):
    """Every output of one :func:`estep.block_statistics` call over all of ``X``, in one flat array."""
    k, n_padded = n_components, setup[0].shape[1]
    scalars, nk, s1, s2 = np.zeros(3), np.zeros(k), np.zeros((k, n_padded)), np.zeros((k, n_padded, n_padded))
    estep.block_statistics(X, sample_weight, sample_weight.size > 0, 0, len(X), setup, buffers, scalars, nk, s1, s2)
    return np.concatenate([scalars, nk, s1.ravel(), s2.ravel()])


@pytest.mark.parametrize("weighted", [True, False], ids=["weighted", "unweighted"])
def test_e_step_sums_do_not_depend_on_where_the_buffers_lie(weighted):
    """The E-step's sums are the same bits wherever its scratch buffers lie relative to the data.

    LLVM vectorises a loop that stores behind a run-time check that its arrays do not overlap, and
    runs the scalar loop when the check fails; fast-math sums in the two loops differ in their last
    bits. The check compared the weights buffer with an address past the end of ``sample_weight``
    (for a negative index, never used), so whenever the heap put that buffer just after the sample
    weights, the log-likelihood changed by an ulp: ``test_fit_is_bit_identical_whatever_the_memory``
    failed so, once, in CI. Each scratch buffer is placed here at every 8-byte step within 256 bytes
    past the data's and the weights' ends, and one tile (4,096 bytes) further.
    """
    n, d, k = 1100, 3, 3
    X, _ = make_mixture(3, n, d, k)
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.5, 2.0, n) if weighted else np.empty(0)
    like = np.empty(0)
    covariances = np.broadcast_to(np.cov(X.T), (k, d, d)).copy()
    factors = np.linalg.cholesky(np.linalg.inv(covariances))
    log_det = np.log(np.diagonal(factors, axis1=1, axis2=2)).sum(axis=1)
    setup = estep.statistics_setup(X[[0, 500, 1000]], factors, np.log(np.full(k, 1 / k)), log_det, d, like)
    fresh = lambda: list(estep.statistics_buffers(d, k, False, setup[3], like))  # noqa: E731
    reference = _block_statistics(X, weights, setup, k, tuple(fresh()))
    for which, buffer in enumerate(fresh()):
        if buffer.size == 0:
            continue
        for after in ("X", "sample_weight"):
            for offset in [*range(0, 256, 8), *range(4096, 4096 + 256, 8)]:
                ahead = X.size if after == "X" else weights.size
                memory = np.empty(ahead + offset // 8 + buffer.size)
                data, placed = memory[:ahead], memory[ahead + offset // 8 :]
                data[:] = X.ravel() if after == "X" else weights
                placed[:] = buffer.ravel()
                buffers = fresh()
                buffers[which] = placed.reshape(buffer.shape)
                here_X, here_weights = (data.reshape(X.shape), weights) if after == "X" else (X, data)
                np.testing.assert_array_equal(
                    _block_statistics(here_X, here_weights, setup, k, tuple(buffers)), reference,
                    err_msg=f"scratch buffer {which} {offset} bytes past the end of {after}",
                )


_PROBE = textwrap.dedent(
    """
    import sys
    import numpy as np
    from gmm_numba._kernels import estep
    saved = np.load(sys.argv[2])
    X, w, means, prec, log_weights, log_det, like = (saved[name] for name in saved.files if name != "block")
    args = (X, w, means, prec, log_weights, log_det, int(saved["block"]), like)
    if sys.argv[1] == "callee first":
        d, k = X.shape[1], len(means)
        setup = estep.statistics_setup(means, prec, log_weights, log_det, d, like)
        buffers = estep.statistics_buffers(d, k, prec.shape[2] == 1, setup[3], like)
        n_padded = setup[0].shape[1]
        estep.block_statistics(X, w, w.size > 0, 0, X.shape[0], setup, buffers, np.zeros(3), np.zeros(k),
                               np.zeros((k, n_padded)), np.zeros((k, n_padded, n_padded)))
    result = estep.em_statistics(*args)
    print(" ".join(v.hex() for x in result for v in np.ravel(np.asarray(x, dtype=float))))
    """
)


def test_private_callee_copies_are_in_force():
    assert linkage.status == "linked-in copies internal to each kernel's library"
    assert linkage.private_callee_copies() == linkage.status  # once per process


def test_kernel_results_do_not_depend_on_the_process_history(tmp_path, monkeypatch):
    """The same kernel call gives the same bits in the process that compiled it, in one that loaded it
    from the cache, and in one that had first loaded one of its callees' own libraries.

    Before each kernel's library kept private copies of its callees (``_kernels/linkage.py``), the
    JIT bound the calls to whichever copy the process had seen first, and fast-math lets the copies
    round differently: ``nk`` of this call (the last E-step of the fit of
    ``tests/test_chunked.py::test_small_memmap_is_read_into_memory``) differed by 2 ulp between them.
    """
    calls = []
    kernel = _kernels.em_statistics
    monkeypatch.setattr(_kernels, "em_statistics", lambda *args: calls.append(args) or kernel(*args))
    GaussianMixture(3, max_iter=3, tol=0, random_state=0).fit(make_mixture(11, 3000, 3, 3)[0])
    X, w, means, prec, log_weights, log_det, block, like = calls[-1]
    np.savez(tmp_path / "args.npz", X=X, w=w, means=means, prec=prec, log_weights=log_weights, log_det=log_det,
             like=like, block=block)
    script = tmp_path / "probe.py"
    script.write_text(_PROBE)
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_NUM_THREADS="1")
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1])] + environment.get("PYTHONPATH", "").split(os.pathsep)
    )

    def run(mode):
        done = subprocess.run(
            [sys.executable, str(script), mode, str(tmp_path / "args.npz")], env=environment, capture_output=True,
            text=True, timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    compiled_here = run("plain")
    assert run("plain") == compiled_here, "loaded from the cache"
    assert run("callee first") == compiled_here, "after a callee's own library"


_BATCH_PROBE = textwrap.dedent(
    """
    import sys
    import numpy as np
    from gmm_numba._kernels import em_run
    saved = np.load(sys.argv[1])
    X, families = saved["X"], saved["families"]
    r, k, d = len(families), 3, X.shape[1]
    rng = np.random.default_rng(1)
    weights = np.full((r, k), 1.0 / k)
    means = np.ascontiguousarray(X[rng.choice(len(X), size=(r, k))])
    covariances = np.ascontiguousarray(np.broadcast_to(np.cov(X.T), (r, k, d, d)))
    ks, max_iters = np.full(r, k), np.full(r, 20)
    lower_bounds, outcomes = np.zeros((r, 20)), np.zeros((r, 4), dtype=np.int64)
    em_run.em_runs(X, np.empty(0), weights, means, covariances, families, ks, np.full(d, 1e-6), 1e-10, max_iters,
                   lower_bounds, outcomes, np.full(r, -np.inf), True)
    values = (v.hex() for x in (weights, means, covariances, lower_bounds) for v in np.ravel(x))
    print(" ".join(values), *outcomes.ravel())
    """
)


def test_parallel_loop_bodies_are_linked_only():
    assert parfor_wrappers.status == "parallel-loop bodies and wrappers linked only"
    assert parfor_wrappers.link_only_parfor_wrappers() == parfor_wrappers.status  # once per process


def test_batched_runs_are_bit_identical_compiled_or_cached(tmp_path):
    """The compiled EM runs of ``em_runs``, whose parallel loop body is compiled to machine code only within
    the kernel's library (``_kernels/parfor_wrappers.py``) and whose M-steps are inlined into the loop and
    their callees' copies frozen (``_kernels/linkage.py``), give the same bits in the process that compiled
    them, in one that loaded them from the cache, and on one or two threads."""
    X = make_mixture(5, 600, 3, 3)[0]
    families = np.array([em_run.MSTEP_VVV, em_run.MSTEP_EEV, em_run.MSTEP_VEV, em_run.MSTEP_EVI], dtype=np.int64)
    np.savez(tmp_path / "args.npz", X=X, families=families)
    script = tmp_path / "probe.py"
    script.write_text(_BATCH_PROBE)
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1])] + environment.get("PYTHONPATH", "").split(os.pathsep)
    )

    def run(threads):
        done = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "args.npz")], env=dict(environment, NUMBA_NUM_THREADS=threads),
            capture_output=True, text=True, timeout=900,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    compiled_here = run("1")
    assert len(compiled_here) > 4 * 20 and all(status in ("0", "1") for status in compiled_here[-16:][2::4])
    assert run("1") == compiled_here, "loaded from the cache"
    assert run("2") == compiled_here, "on two threads"
