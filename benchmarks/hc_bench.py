"""Time the hierarchical tree (init_params="hc") against mclust's hc() (for humans; not run by CI).

    python benchmarks/hc_bench.py                    # 2,000 x 5, 7 runs each side
    python benchmarks/hc_bench.py --rows 1000 --features 3 --repeats 5

Both sides build the same tree on every row (no subset): model-based
agglomeration with the VVV criterion on mclust's SVD transform of the same rows (R reads them from a
CSV written with 17 significant digits). Our side is timed in this process
after a warm-up call (no compilation in the times); R's with
``system.time`` around ``hc(X, modelName = "VVV", use = "SVD")``. Both
report CPU seconds (user + system) and wall seconds; the ratio is of the
CPU medians, which depend less on what else the machine runs (the load
averages are printed before and after). Without Rscript and mclust only
our side runs. The partitions into 1..9 groups are compared as well.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from gmm_numba.fitting.hierarchical import svd_transform, vvv_tree

R_SCRIPT = r"""
suppressPackageStartupMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1]))
repeats <- as.integer(args[2])
for (r in seq_len(repeats)) {
  t <- system.time(h <- hc(X, modelName = "VVV", use = "SVD"))
  cat(sprintf("time %.4f %.4f\n", t[["user.self"]] + t[["sys.self"]], t[["elapsed"]]))
}
cl <- hclass(h, 1:9)
write.table(cl, args[3], row.names = FALSE, col.names = FALSE)
"""


def mixture(rows, features, seed):
    """Rows from three overlapping Gaussian clusters of different shapes, seeded."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(3, features))
    labels = rng.integers(0, 3, rows)
    scales = rng.uniform(0.5, 2.0, size=(3, features))
    return centres[labels] + rng.normal(size=(rows, features)) * scales[labels]


def time_ours(X, repeats):
    """(cpu, wall) seconds of each of ``repeats`` builds, and the last tree."""
    vvv_tree(svd_transform(X[:50]))  # compile / load the cached kernel
    times = []
    for _ in range(repeats):
        cpu, wall = time.process_time(), time.perf_counter()
        tree = vvv_tree(svd_transform(X))
        times.append((time.process_time() - cpu, time.perf_counter() - wall))
    return times, tree


def time_mclust(X, repeats):
    """(cpu, wall) seconds of each of ``repeats`` hc() calls in one R process, and hclass(1:9), or None."""
    if shutil.which("Rscript") is None:
        return None, None
    with tempfile.TemporaryDirectory() as tmp:
        data, script, classes = (os.path.join(tmp, name) for name in ("x.csv", "hc.R", "classes.txt"))
        np.savetxt(data, X, delimiter=",", fmt="%.17g", header=",".join(f"x{i}" for i in range(X.shape[1])),
                   comments="")
        with open(script, "w") as handle:
            handle.write(R_SCRIPT)
        done = subprocess.run(["Rscript", script, data, str(repeats), classes], capture_output=True, text=True)
        if done.returncode != 0:
            print(f"R side skipped: {done.stderr.strip()[:300]}", file=sys.stderr)
            return None, None
        times = [tuple(map(float, line.split()[1:])) for line in done.stdout.splitlines() if line.startswith("time")]
        return times, np.loadtxt(classes, dtype=np.int64) - 1


def first_appearance(labels):
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse.ravel()]


def summary(name, times):
    cpu = statistics.median(t[0] for t in times)
    wall = statistics.median(t[1] for t in times)
    runs = ", ".join(f"{t[0]:.3f}" for t in times)
    print(f"{name:<10} median CPU {cpu:.3f} s, wall {wall:.3f} s  (CPU per run: {runs})")
    return cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--features", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    X = mixture(args.rows, args.features, args.seed)
    print(f"{args.rows} x {args.features}, {args.repeats} runs each; load averages before: {os.getloadavg()}")
    ours, tree = time_ours(X, args.repeats)
    theirs, classes = time_mclust(X, args.repeats)
    print(f"load averages after: {os.getloadavg()} on {os.cpu_count()} CPUs")
    our_cpu = summary("gmm_numba", ours)
    if theirs is None:
        print("mclust     skipped (no Rscript with mclust)")
        return
    their_cpu = summary("mclust", theirs)
    print(f"ratio mclust / gmm_numba CPU: {their_cpu / our_cpu:.2f}x")
    same = [bool(np.array_equal(tree.labels(k), first_appearance(classes[:, k - 1]))) for k in range(1, 10)]
    print("partitions K = 1..9 equal mclust's:", "all" if all(same) else same)


if __name__ == "__main__":
    main()
