"""Time gmm_numba and its peers per EM iteration and write a report.

Usage::

    python benchmarks/run.py [--quick] [--out DIR] [-k SUBSTRING ...]

For every case (shape, covariance type, dtype) the same synthetic data and
the same starting parameters go to every peer: gmm_numba and scikit-learn
run in this process, Intel oneDAL (optional, see ``setup_onedal.sh``) in a
subprocess of its own virtual environment.  ``DIR/results.json`` and
``DIR/results.md`` are rewritten after every case.
"""

import argparse
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cases import (  # noqa: E402
    EIGENVALUE_RANGE,
    MEAN_PERTURBATION,
    SEED,
    SEPARATION,
    build_cases,
    initial_parameters,
    make_mixture,
    sample_mixture,
)
from benchmarks.contention import CpuMonitor, wait_for_idle  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.peers.registry import ALL_NAMES, REFERENCE, build_peers  # noqa: E402
from benchmarks.report import write_json, write_markdown  # noqa: E402
from benchmarks.rss import METHOD as RSS_METHOD  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
FULL_SETTINGS = {"n_short": 2, "n_long": 8, "min_repeats": 3, "max_repeats": 10, "min_seconds": 3.0, "timeout": 3600.0}
QUICK_SETTINGS = {"n_short": 1, "n_long": 4, "min_repeats": 3, "max_repeats": 5, "min_seconds": 0.3, "timeout": 600.0}
#: Pairs of timed fits during which other processes used more than this
#: share of the CPUs are discarded (see benchmarks.contention).
CONTENTION_LIMIT = 0.1


def parse_args(argv=None):
    """Parse the command line.

    Parameters
    ----------
    argv : list of str, optional

    Returns
    -------
    argparse.Namespace
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N/20 and fewer iterations (about a minute)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument(
        "-k",
        "--filter",
        action="append",
        default=[],
        metavar="SUBSTRING",
        help="run only cases whose id (e.g. N1000000-D2-K4-full-float64) contains SUBSTRING; repeatable (OR)",
    )
    parser.add_argument("--peers", default=",".join(ALL_NAMES), help="comma-separated subset of %(default)s")
    parser.add_argument("--onedal-python", help="interpreter with daal4py (default $GMM_BENCH_ONEDAL_VENV/bin/python)")
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure peak memory in fresh subprocesses (default: on, off with --quick)",
    )
    parser.add_argument(
        "--iters", nargs=2, type=int, metavar=("N_SHORT", "N_LONG"), help="iteration counts to difference"
    )
    parser.add_argument("--min-repeats", type=int, help="minimum number of timed (short, long) pairs")
    parser.add_argument(
        "--contention-limit",
        type=float,
        default=CONTENTION_LIMIT,
        metavar="SHARE",
        help="discard timed pairs during which other processes used more than SHARE of the CPUs "
        "(default %(default)s; 1 keeps every pair)",
    )
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each case wait up to SECONDS for other processes to leave the CPUs idle",
    )
    return parser.parse_args(argv)


def make_settings(args):
    """Combine the mode defaults with command-line overrides.

    Returns
    -------
    dict
        ``n_short``, ``n_long``, ``min_repeats``, ``max_repeats``,
        ``min_seconds``, ``timeout`` and ``memory``.
    """
    settings = dict(QUICK_SETTINGS if args.quick else FULL_SETTINGS)
    if args.iters:
        settings["n_short"], settings["n_long"] = args.iters
    if args.min_repeats:
        settings["min_repeats"] = args.min_repeats
        settings["max_repeats"] = max(settings["max_repeats"], args.min_repeats)
    settings["memory"] = (not args.quick) if args.memory is None else args.memory
    settings["contention_limit"] = args.contention_limit
    return settings


def select_cases(cases, substrings):
    """Keep the cases whose id contains any of ``substrings`` (all if none)."""
    if not substrings:
        return list(cases)
    return [case for case in cases if any(s in case.case_id for s in substrings)]


def method_notes(settings):
    """Describe how the numbers were obtained, for the report header."""
    memory = (
        "peak extra MiB = rise of the peak RSS during one n_short-iteration fit over the peak before it, "
        f"in a fresh subprocess per case and peer after loading the data and a small warm-up fit ({RSS_METHOD}; "
        "not ru_maxrss, which children inherit from their parent; psutil is not used; tracemalloc would miss "
        "Numba/BLAS/oneDAL allocations); X MiB is the data itself"
        if settings["memory"]
        else "peak memory not measured (enable with --memory)"
    )
    return [
        f"ms/iter = (median t(max_iter={settings['n_long']}) - median t(max_iter={settings['n_short']})) / "
        f"{settings['n_long'] - settings['n_short']}, over >= {settings['min_repeats']} alternating timed pairs "
        f"(more while under {settings['min_seconds']:g} s, at most {settings['max_repeats']}), after one untimed "
        "warm-up fit that also compiles gmm_numba's JIT kernels; input checks, initialisation and final E-steps "
        f"cancel; pairs during which other processes used over {100 * settings['contention_limit']:g}% of the CPUs "
        "are discarded and repeated (within the repeat limit)",
        f"data: one deterministic mixture per (N, D, K) (seed {SEED}), Dirichlet(10) weights, means >= "
        f"{SEPARATION:g} sd apart, covariance eigenvalues in {list(EIGENVALUE_RANGE)}; float32 rows fit the same "
        "samples cast to float32",
        f"start (all peers): true means + N(0, {MEAN_PERTURBATION:g}^2) noise, uniform weights, precisions (oneDAL: "
        "covariances) from the true covariances reduced to the type (tied: their mean; spherical: mean variance); "
        "tol=0 / accuracyThreshold=0, and every fit's iteration count is checked",
        "scikit-learn: init_params='random_from_data' (its initialiser still runs before the given start overrides "
        "it), default reg_covar=1e-6, ConvergenceWarning suppressed",
        "oneDAL: daal4py em_gmm in a separate venv, as a subprocess reading the same data from .npy; float32 rows use "
        "fptype='float'; it has no tied/spherical storage; it regularises covariances only when a Cholesky fails; "
        "it stops once the log-likelihood gain is not positive (negative thresholds are rejected), which on this "
        "data happens after 3-4 iterations whatever maxIterations says (natural_stop in the JSON), so its ms/iter "
        "differences 1 and 3 iterations, which its own loop reliably runs; chained one-iteration calls at the "
        "common counts are timed too (chained in the JSON, includes per-call overhead) and give the fit compared "
        "with scikit-learn",
        "ratio columns: peer ms/iter ÷ gmm_numba ms/iter (above 1: gmm_numba is faster)",
        f"max abs Δmeans: largest |difference| of the fitted means after {settings['n_long']} iterations versus "
        "scikit-learn from the same start",
        memory,
        "other CPU %: share of the machine's CPU time used by other processes while the case ran "
        "(/proc/stat busy time minus this process's and its subprocesses' CPU time); above a few % the timings "
        "of that row may be inflated (less so for a peer that leaves a core idle part of the time, such as "
        "scikit-learn in its single-threaded numpy steps)",
    ]


def describe_peers(peers):
    """Check each peer's availability and collect its version information."""
    table = {}
    for peer in peers:
        reason = peer.availability()
        info = {}
        if reason is None:
            try:
                info = peer.info()
            except Exception as exc:  # information only; never fatal
                info = {"error": f"{type(exc).__name__}: {exc}"}
        table[peer.name] = {"label": peer.label, "available": reason is None, "reason": reason, "info": info}
    return table


class CaseFiles:
    """Paths of one case's data (.npy) and parameters (.json) on disk.

    Parameters
    ----------
    data, params : Path
    """

    def __init__(self, data, params):
        self.data = data
        self.params = params


def write_case_files(directory, case, X, init, settings):
    """Store the data (once per shape and dtype) and the case's parameters.

    Returns
    -------
    CaseFiles
    """
    directory = Path(directory)
    data = directory / f"N{case.n_samples}-D{case.n_features}-K{case.n_components}-{case.dtype}.npy"
    if not data.exists():
        np.save(data, X)
    params = directory / f"{case.case_id}.json"
    payload = dict(case.as_dict(), **{key: value.tolist() for key, value in init.items()}, **settings)
    params.write_text(json.dumps(payload))
    return CaseFiles(data, params)


def measure_peer(peer, case, X, init, files, settings):
    """Time (and optionally measure the memory of) one peer on one case.

    Returns
    -------
    dict
        ``status`` ("ok", "n/a" or "error"), ``reason`` when not ok,
        otherwise ``ms_per_iter``, ``timing`` and possibly ``memory``.
    """
    reason = peer.availability() or peer.supports(case)
    if reason:
        return {"status": "n/a", "reason": reason}
    try:
        timing = peer.time_case(case, X, init, files, settings)
    except Exception as exc:  # a peer failing must not stop the suite
        return {"status": "error", "reason": f"{type(exc).__name__}: {exc}"}
    entry = {"status": "ok", "ms_per_iter": 1e3 * timing["per_iter_s"], "timing": timing}
    if settings["memory"]:
        try:
            entry["memory"] = peer.memory_case(case, files, settings)
        except Exception as exc:
            entry["memory"] = {"error": f"{type(exc).__name__}: {exc}"}
    return entry


def comparable_result(timing, n_long):
    """Return the summary of a fit that ran exactly ``n_long`` iterations, if any.

    Parameters
    ----------
    timing : dict
        A peer's timing; oneDAL's also holds ``chained`` (fits that run
        exactly the requested iterations).
    n_long : int

    Returns
    -------
    dict or None
    """
    for candidate in (timing, timing.get("chained") or {}):
        result = candidate.get("result")
        if result and result["n_iter"] == n_long:
            return result
    return None


def add_agreement(entries, n_long):
    """Check every ok entry's iteration counts and fit against the reference.

    Adds ``agreement`` to each ok entry: ``n_iter`` and ``n_iter_ok`` (every
    timed fit ran the iterations its timing assumes) and,
    comparing fits of exactly ``n_long`` iterations with :data:`REFERENCE`,
    ``max_abs_mean_diff`` and ``lower_bound_diff`` (mean log-likelihood per
    sample, peer minus reference).
    """
    reference = entries.get(REFERENCE, {})
    ref_result = comparable_result(reference["timing"], n_long) if reference.get("status") == "ok" else None
    for name, entry in entries.items():
        if entry.get("status") != "ok":
            continue
        timing = entry["timing"]
        n_iter = timing["result"]["n_iter"]
        agreement = {"n_iter": n_iter, "n_iter_ok": n_iter == timing["n_long"] and timing["iterations_ok"]}
        result = comparable_result(timing, n_long)
        if ref_result is not None and result is not None and name != REFERENCE:
            diff = np.abs(np.asarray(result["means"]) - np.asarray(ref_result["means"]))
            agreement["max_abs_mean_diff"] = float(diff.max())
            agreement["lower_bound_diff"] = result["lower_bound"] - ref_result["lower_bound"]
        entry["agreement"] = agreement


def run_case(case, X, init, files, peers, settings):
    """Measure every peer on one case; return the case's result row."""
    entries = {peer.name: measure_peer(peer, case, X, init, files, settings) for peer in peers}
    add_agreement(entries, settings["n_long"])
    return {"case": case.as_dict(), "data_mib": X.nbytes / 2**20, "peers": entries}


def progress_line(index, total, row, seconds):
    """One line of progress for stderr."""
    parts = []
    for name, entry in row["peers"].items():
        if entry["status"] == "ok":
            parts.append(f"{name} {entry['ms_per_iter']:.2f} ms/it")
        else:
            parts.append(f"{name} {entry['status']}")
    share = row.get("foreign_cpu_share")
    other = "" if share is None else f", other processes {100 * share:.0f}% CPU"
    return f"[{index}/{total}] {row['case']['case_id']}: " + ", ".join(parts) + f" ({seconds:.0f} s{other})"


def observations(results):
    """Summarise checks worth reading next to the table.

    Returns
    -------
    list of str
    """
    notes = []
    rows = results["cases"]
    wrong = [
        f"{row['case']['case_id']}/{name} ran {entry['agreement']['n_iter']}"
        for row in rows
        for name, entry in row["peers"].items()
        if entry.get("status") == "ok" and not entry["agreement"]["n_iter_ok"]
    ]
    notes.append(
        "every fit ran the requested iterations" if not wrong else "iteration count mismatch: " + "; ".join(wrong)
    )
    for name, peer in results["peers"].items():
        diffs = [
            (
                row["peers"][name]["agreement"].get("max_abs_mean_diff"),
                row["peers"][name]["agreement"].get("lower_bound_diff"),
            )
            for row in rows
            if row["peers"].get(name, {}).get("status") == "ok"
        ]
        diffs = [d for d in diffs if d[0] is not None]
        if diffs:
            notes.append(
                f"{peer['label']} vs scikit-learn after the same iterations: max |Δmeans| "
                f"{max(d[0] for d in diffs):.1e}, max |Δ mean log-likelihood| {max(abs(d[1]) for d in diffs):.1e}"
            )
    onedal = [
        (row["peers"]["onedal"]["timing"], row["case"]["case_id"])
        for row in rows
        if row["peers"].get("onedal", {}).get("status") == "ok"
    ]
    if onedal:
        stops = sorted({timing["natural_stop"] for timing, _ in onedal})
        ratios = [timing["chained"]["per_iter_s"] / timing["per_iter_s"] for timing, _ in onedal]
        notes.append(
            f"oneDAL's own loop, asked for {results['suite']['settings']['n_long']} iterations with "
            f"accuracyThreshold=0, stopped after {'/'.join(map(str, stops))} (zero log-likelihood gain at the "
            f"fixed point); chained one-iteration calls cost {min(ratios):.2f}-{max(ratios):.2f}x its own loop's "
            "ms/iter"
        )
    busy = [
        f"{row['case']['case_id']} ({100 * row['foreign_cpu_share']:.0f}%)"
        for row in rows
        if (row.get("foreign_cpu_share") or 0) > 0.05
    ]
    if busy:
        notes.append("other processes used over 5% of the CPUs during: " + ", ".join(busy) + "; rerun those rows")
    float32 = {}
    for row in rows:
        entry = row["peers"].get(REFERENCE, {})
        if row["case"]["dtype"] == "float32" and entry.get("status") == "ok":
            dtypes = entry["timing"]["result"].get("dtypes", {})
            float32[row["case"]["covariance_type"]] = ", ".join(f"{k}={v}" for k, v in dtypes.items())
    if float32:
        notes.append(
            "scikit-learn keeps float32 X as float32 (it does not upcast the data) but mixes precisions; fitted "
            "dtypes on float32 data: " + "; ".join(f"{cov}: {text}" for cov, text in float32.items())
        )
    return notes


def new_results(args, settings, peer_table):
    """Start the results structure (filled in case by case)."""
    return {
        "suite": {
            "quick": args.quick,
            "settings": settings,
            "reference": REFERENCE,
            "memory_method": RSS_METHOD if settings["memory"] else None,
            "notes": method_notes(settings),
        },
        "machine": describe_machine(),
        "peers": peer_table,
        "cases": [],
        "observations": [],
    }


def save(results, out):
    """Write results.json and results.md into ``out``."""
    write_json(results, out / "results.json")
    write_markdown(results, out / "results.md")


def main(argv=None):
    """Run the suite; return the process exit code."""
    args = parse_args(argv)
    settings = make_settings(args)
    cases = select_cases(build_cases(args.quick), args.filter)
    peers = build_peers([name.strip() for name in args.peers.split(",")], args.onedal_python)
    results = new_results(args, settings, describe_peers(peers))
    args.out.mkdir(parents=True, exist_ok=True)
    for name, peer in results["peers"].items():
        if not peer["available"]:
            print(f"{name}: n/a ({peer['reason']})", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="gmm-bench-") as tmp:
        index = 0
        for shape, group in itertools.groupby(cases, key=lambda case: case.shape):
            n_samples, n_features, n_components = shape
            mixture = make_mixture(n_features, n_components)
            data = {"float64": sample_mixture(mixture, n_samples)}
            for case in group:
                index += 1
                if case.dtype not in data:
                    data[case.dtype] = data["float64"].astype(case.dtype)
                X = data[case.dtype]
                init = initial_parameters(mixture, case.covariance_type)
                files = write_case_files(tmp, case, X, init, settings)
                waited = wait_for_idle(args.wait_idle)
                monitor = CpuMonitor()
                started = time.perf_counter()
                row = run_case(case, X, init, files, peers, settings)
                row.update(foreign_cpu_share=monitor.foreign_share(), waited_for_idle_s=waited)
                results["cases"].append(row)
                print(progress_line(index, len(cases), row, time.perf_counter() - started), file=sys.stderr, flush=True)
                save(results, args.out)

    results["peers"] = describe_peers(peers)  # Numba's threading layer is known only now
    results["observations"] = observations(results)
    save(results, args.out)
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
