"""Time on a shared machine: idle against one competing busy process, 1 thread against all of them.

    python benchmarks/under_load.py                 # both workloads, about five minutes on 2 cores
    python benchmarks/under_load.py --workloads select

Issue 20 asks that, with one other busy process on the machine, the multi-threaded call is never slower
than our own 1-thread call and stays within 1.3x of its idle time. Each measurement runs in a fresh
process (``OMP_WAIT_POLICY`` is read once, when the OpenMP runtime loads), after a warm-up call that
compiles; the competing load is a Python process spinning on one core. Workloads:

* ``fit``: ``GaussianMixture(4, covariance_type="full", max_iter=30, tol=0)`` on 10^5 x 5 rows (one run,
  its iterations shared by the threads);
* ``select``: ``select(X, n_components=range(1, 7), covariance_type="full")`` on 10^4 x 5 rows (the
  issue's example: runs shared out to the threads);
* ``faithful``: ``select(faithful)`` at its defaults (14 models, K = 1..9: many short runs).

Each is timed with the library's default (idle threads spin 10,000 rounds, then sleep: see
``gmm_numba/_kernels/openmp.py``; no more threads than other processes leave cores free: see
``gmm_numba/_kernels/free_cores.py``), with that check off (``GMM_NUMBA_FREE_CORES_ONLY=0``), with
OpenMP's own default spin (``GOMP_SPINCOUNT=300000``) and with ``OMP_WAIT_POLICY=PASSIVE`` (they sleep
at once). Medians of ``--repeats`` calls.
"""

import argparse
import os
import subprocess
import sys
import time

import pandas as pd

WORKLOADS = {
    "fit": (
        "X = blobs(100_000, 5, 4, 3).to_numpy()\n"
        "model = gmm_numba.GaussianMixture(4, covariance_type='full', max_iter=30, tol=0, random_state=0)\n"
        "call = lambda: model.fit(X)\n"
    ),
    "select": (
        "X = blobs(10_000, 5, 4, 2)\n"
        "call = lambda: gmm_numba.select(X, n_components=range(1, 7), covariance_type='full', random_state=0)\n"
    ),
    "faithful": (
        "from gmm_numba.datasets import load_faithful\n"
        "X = load_faithful()\n"
        "call = lambda: gmm_numba.select(X, random_state=0, progress=False)\n"
    ),
}

TIMER = """
import os, sys, time, statistics, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {here!r})
import gmm_numba
from select_speed import blobs
{setup}
call()
times = []
for _ in range({repeats}):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""


#: Wait policies and thread choices compared: (key, description).
POLICIES = {
    "default": "spin 10,000, free cores only (default)",
    "every-thread": "spin 10,000, every thread (GMM_NUMBA_FREE_CORES_ONLY=0)",
    "300000": "spin 300,000 (OpenMP's)",
    "PASSIVE": "sleep (PASSIVE)",
}


def timed(workload, threads, policy, repeats):
    """Median seconds of ``workload`` in a fresh process with ``threads`` threads and the wait ``policy``."""
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    env.pop("OMP_WAIT_POLICY", None)
    env.pop("GOMP_SPINCOUNT", None)
    env.pop("GMM_NUMBA_FREE_CORES_ONLY", None)
    if policy == "every-thread":
        env["GMM_NUMBA_FREE_CORES_ONLY"] = "0"
    elif policy == "PASSIVE":
        env["OMP_WAIT_POLICY"] = policy
    elif policy != "default":
        env["GOMP_SPINCOUNT"] = policy
    code = TIMER.format(here=os.path.dirname(os.path.abspath(__file__)), setup=WORKLOADS[workload], repeats=repeats)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def busy_process():
    """A process spinning on one core until killed."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=list(POLICIES))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    threads = os.cpu_count() or 2
    rows = []
    for workload in args.workloads:
        for policy in args.policies:
            row = {"workload": workload, "wait policy": POLICIES[policy]}
            for loaded in (False, True):
                competitor = busy_process() if loaded else None
                try:
                    time.sleep(0.5 if loaded else 0.0)
                    for n_threads in (1, threads):
                        key = f"{'loaded' if loaded else 'idle'}, {n_threads} thr s"
                        row[key] = round(timed(workload, n_threads, policy, args.repeats), 3)
                finally:
                    if competitor is not None:
                        competitor.kill()
                        competitor.wait()
            row[f"loaded {threads} thr / idle {threads} thr"] = round(
                row[f"loaded, {threads} thr s"] / row[f"idle, {threads} thr s"], 2
            )
            loaded_all = row[f"loaded, {threads} thr s"]
            row[f"loaded {threads} thr / loaded 1 thr"] = round(loaded_all / row["loaded, 1 thr s"], 2)
            row["load average (1 min) after"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            print(pd.DataFrame([row]).to_string(index=False), flush=True)
    print()
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
