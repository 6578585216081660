"""Fitting a Gaussian mixture to a Dask array on a (local) Dask cluster.

The data, a few million rows drawn from a known three-component mixture, is
generated block by block on the workers and kept there (``persist``): the
client never holds it. ``GaussianMixture.fit`` seeds k-means++ on a
uniform subsample of ``init_sample_size`` rows (the only rows that travel
to the client), then every EM iteration runs the fused E-step kernel on each
block where it lives and sends back only the per-block sums (K x D x D
numbers). Predictions on a Dask array are lazy Dask arrays.

Run:  python examples/large_data_dask.py [--rows N] [--workers W] [--fast]

On a real cluster, replace the LocalCluster by ``Client("scheduler-address")``
and the generated array by your data, for example
``xr.open_zarr(path, chunks={"sample": 1_000_000})["X"]``.
"""

import argparse
import time

import numpy as np

from gmm_numba import GaussianMixture

#: The mixture the data is drawn from.
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0, 0.0, 0.0], [5.0, 5.0, 0.0, 0.0], [0.0, 6.0, 6.0, -3.0]])
SCALES = np.array([1.0, 0.7, 1.4])


def draw_block(rows, block_id=None, seed=0):
    """Rows of one block, from a generator seeded by the block's index (the same data on any cluster)."""
    rng = np.random.default_rng([seed, block_id[0]])
    labels = rng.choice(len(TRUE_WEIGHTS), size=rows, p=TRUE_WEIGHTS)
    return TRUE_MEANS[labels] + SCALES[labels, None] * rng.standard_normal((rows, TRUE_MEANS.shape[1]))


def generated_array(n_rows, chunk_rows, seed=0):
    """A lazy (n_rows, 4) Dask array whose blocks are drawn on the workers."""
    import dask.array as da

    chunks = (n_rows // chunk_rows) * (chunk_rows,) + ((n_rows % chunk_rows,) if n_rows % chunk_rows else ())
    return da.map_blocks(
        lambda block_id=None: draw_block(chunks[block_id[0]], block_id, seed),
        chunks=(chunks, (TRUE_MEANS.shape[1],)),
        dtype=np.float64,
        meta=np.empty((0, 0)),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000, help="rows of data (default 4,000,000)")
    parser.add_argument("--chunk-rows", type=int, default=500_000, help="rows per Dask block (default 500,000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of the LocalCluster (default 2)")
    parser.add_argument("--fast", action="store_true", help="200,000 rows in 50,000-row blocks (for the tests)")
    args = parser.parse_args(argv)
    if args.fast:
        args.rows, args.chunk_rows = 200_000, 50_000

    import dask.array as da
    from dask.distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        X = generated_array(args.rows, args.chunk_rows).persist()  # drawn and kept on the workers
        print(f"X: {X.shape[0]:,} x {X.shape[1]} float64 in {X.numblocks[0]} blocks on {args.workers} workers")

        ticks = []
        gm = GaussianMixture(
            3,
            covariance_type="full",
            random_state=0,
            init_sample_size=20_000,
            tol=1e-4,
            callback=lambda iteration, lower_bound, params: ticks.append(time.perf_counter()),
        )
        start = time.perf_counter()
        gm.fit(X)
        seconds = time.perf_counter() - start
        state = "converged" if gm.converged_ else "did not converge"
        per_iteration = np.diff(ticks).mean() if len(ticks) > 1 else float("nan")
        print(f"fit: {state} after {gm.n_iter_} iterations in {seconds:.1f} s ({per_iteration:.2f} s per EM iteration)")
        order = np.argsort(gm.weights_)[::-1]
        print("weights:", np.round(gm.weights_[order], 3), " true:", TRUE_WEIGHTS)
        print("means:\n", np.round(gm.means_[order], 2))

        labels = gm.predict(X)  # lazy: nothing computed yet
        print("predict returns", repr(labels))
        counts = da.bincount(labels, minlength=3).compute()
        print("points per component:", counts[order])
        print(f"mean log-likelihood per point: {gm.score(X):.4f}")
        client.run(lambda: None)  # all workers still answer


if __name__ == "__main__":
    main()
