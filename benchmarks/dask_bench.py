"""Dask and out-of-core benchmarks.

1. **Dask vs in memory.** Seconds per EM iteration at N = 10^7, D = 8,
   K = 8 (full covariances, float64, 640 MB): ``InMemoryData`` (Numba on
   every core) against ``DaskData`` on a LocalCluster on this machine (2
   worker processes x 1 thread, then 1 worker process), from the same
   starting point, on the same data (drawn block by block on the workers
   and persisted there; the in-memory copy is drawn by the same function).
2. **Out of core.** A ``GaussianMixture.fit`` (k-means++ start, a few EM
   iterations) on a 10^8 x 8 float32 ``.npy`` memmap (3.2 GB), written to
   /tmp and deleted afterwards, in a fresh process that reports its peak
   resident set size (VmHWM). The file's pages are dropped from the page
   cache first (``posix_fadvise(DONTNEED)``, this file only), so the first
   pass reads from disk.

Run:  python benchmarks/dask_bench.py [--rows N] [--memmap-rows N] [--iterations I]
      [--skip-dask] [--skip-memmap] [--fast]

``--fast`` divides both sizes by 100 (a smoke test). Results go to stdout
as text and, with ``--json PATH``, as JSON.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.rss import peak_rss_mib  # noqa: E402

D, K = 8, 8
CHUNK_ROWS = 1_000_000


def draw_block(rows, index, seed=0, dtype=np.float64):
    """Rows of block ``index`` of a K-component mixture in D dimensions (a generator per block)."""
    rng = np.random.default_rng([seed, index])
    centres = np.random.default_rng(seed).normal(scale=4.0, size=(K, D))
    labels = rng.integers(0, K, size=rows)
    return (centres[labels] + rng.standard_normal((rows, D))).astype(dtype)


def block_sizes(n_rows, chunk_rows):
    return (n_rows // chunk_rows) * (chunk_rows,) + ((n_rows % chunk_rows,) if n_rows % chunk_rows else ())


def starting_point(X):
    """Parameters of a short in-memory fit on the first 100,000 rows (a fixed start for every run)."""
    from gmm_numba import GaussianMixture

    return GaussianMixture(K, max_iter=3, tol=0, random_state=0).fit(X[:100_000])._parameters


def seconds_per_iteration(data, params, iterations):
    """Mean seconds of an EM iteration (E-step pass + M-step), after one untimed pass."""
    from gmm_numba.fitting.em import run_em

    data.em_statistics(params)  # warm-up: compilation or cache loading, on every process
    ticks = [time.perf_counter()]
    run_em(
        data, params, reg_covar=1e-6, tol=0, max_iter=iterations, callback=lambda *a: ticks.append(time.perf_counter())
    )
    return float(np.mean(np.diff(ticks)))


# ----------------------------------------------------------------- 1. Dask
def dask_benchmark(n_rows, iterations):
    import dask.array as da
    from dask.distributed import Client, LocalCluster

    from gmm_numba.data.dask_source import DaskData
    from gmm_numba.data.in_memory import InMemoryData

    sizes = block_sizes(n_rows, CHUNK_ROWS)
    offsets = np.cumsum((0,) + sizes[:-1])
    X = np.empty((n_rows, D))
    for i, (start, rows) in enumerate(zip(offsets, sizes)):
        X[start : start + rows] = draw_block(rows, i)
    params = starting_point(X)
    results = {"rows": n_rows, "features": D, "components": K, "chunk_rows": CHUNK_ROWS, "iterations": iterations}
    results["in_memory_s_per_iter"] = seconds_per_iteration(InMemoryData(X), params, iterations)
    print(f"in memory: {results['in_memory_s_per_iter']:.3f} s per iteration", flush=True)
    del X

    for workers in (2, 1):
        with (
            LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            Xd = da.map_blocks(
                lambda block_id=None: draw_block(sizes[block_id[0]], block_id[0]),
                chunks=(sizes, (D,)),
                dtype=np.float64,
                meta=np.empty((0, 0)),
            ).persist()
            client.wait_for_workers(workers)
            source = DaskData(Xd, client=client)
            seconds = seconds_per_iteration(source, params, iterations)
            results[f"dask_{workers}_workers_s_per_iter"] = seconds
            print(f"Dask, {workers} worker process(es) x 1 thread: {seconds:.3f} s per iteration", flush=True)
    return results


# --------------------------------------------------------------- 2. memmap
def write_npy(path, n_rows, dtype=np.float32):
    """Write a (n_rows, D) .npy file chunk by chunk with plain writes (no mapping, little memory)."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": (n_rows, D)}
        )
        for i, rows in enumerate(block_sizes(n_rows, CHUNK_ROWS)):
            draw_block(rows, i, dtype=dtype).tofile(f)


def memmap_child(path, iterations):
    """Run in a fresh process: fit the memmap, print JSON with times and the peak RSS."""
    from gmm_numba import GaussianMixture

    # compile (or load) the kernels on a small in-memory array first: not part of the measurement
    GaussianMixture(K, max_iter=2, tol=0, random_state=0).fit(draw_block(20_000, 0, dtype=np.float32))
    with open(path, "rb") as f:
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    baseline = peak_rss_mib()
    mm = np.load(path, mmap_mode="r")
    ticks = []
    start = time.perf_counter()
    gm = GaussianMixture(
        K, max_iter=iterations, tol=0, random_state=0, callback=lambda *a: ticks.append(time.perf_counter())
    ).fit(mm)
    total = time.perf_counter() - start
    result = {
        "rows": int(mm.shape[0]),
        "features": D,
        "dtype": str(mm.dtype),
        "file_gb": os.path.getsize(path) / 1e9,
        "iterations": iterations,
        "fit_s": total,
        "init_and_first_iteration_s": ticks[0] - start,
        "s_per_iter": float(np.mean(np.diff(ticks))) if len(ticks) > 1 else float("nan"),
        "baseline_rss_mib": baseline,
        "peak_rss_mib": peak_rss_mib(),
        "converged_weights": [round(float(w), 4) for w in np.sort(gm.weights_)],
    }
    print(json.dumps(result))


def memmap_benchmark(n_rows, iterations, folder):
    path = os.path.join(folder, f"gmm_numba_bench_{os.getpid()}.npy")
    try:
        start = time.perf_counter()
        write_npy(path, n_rows)
        print(f"wrote {path}: {os.path.getsize(path) / 1e9:.2f} GB in {time.perf_counter() - start:.0f} s", flush=True)
        child = subprocess.run(
            [sys.executable, __file__, "--memmap-child", path, "--iterations", str(iterations)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        if os.path.exists(path):
            os.remove(path)
    print(
        f"memmap {result['rows']:,} x {D} {result['dtype']} ({result['file_gb']:.1f} GB): fit {result['fit_s']:.0f} s, "
        f"{result['s_per_iter']:.2f} s per EM iteration, peak RSS {result['peak_rss_mib']:.0f} MiB "
        f"(baseline {result['baseline_rss_mib']:.0f} MiB)",
        flush=True,
    )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--memmap-rows", type=int, default=100_000_000)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-memmap", action="store_true")
    parser.add_argument("--fast", action="store_true", help="sizes / 100")
    parser.add_argument("--folder", default=tempfile.gettempdir(), help="where the memmap file goes (default /tmp)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--memmap-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memmap_child:
        memmap_child(args.memmap_child, args.iterations)
        return
    if args.fast:
        args.rows //= 100
        args.memmap_rows //= 100
    results = {}
    if not args.skip_dask:
        results["dask"] = dask_benchmark(args.rows, args.iterations)
    if not args.skip_memmap:
        results["memmap"] = memmap_benchmark(args.memmap_rows, args.iterations, args.folder)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
