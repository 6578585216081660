"""Benchmarks beyond the per-iteration table: selection, prediction, start-up, threads, memory.

Usage::

    python benchmarks/extras.py SUBCOMMAND [--quick] [--out DIR]

Subcommands (``all`` runs them in this order):

* ``sweep``: ``gmm_numba.select`` over K = 1..9 x (full, tied, diag,
  spherical) with n_init = 3 on 100,000 x 5 rows against the same sweep of
  scikit-learn ``GaussianMixture`` fits; wall time and the chosen (model, K).
* ``predict``: rows per second of ``predict``, ``score_samples`` and
  ``predict_proba`` on 10^6 x 8 rows, K = 8, full and diag.
* ``startup``: import time, first fit with an empty Numba cache (cold JIT) and
  first fit in a fresh process with a warm cache, each in fresh subprocesses;
  the same for the kernels ``gmm-numba demo`` prepares before its sweep.
* ``threads``: ms per EM iteration with NUMBA_NUM_THREADS=1 and 2 in fresh
  subprocesses, N = 10^6.
* ``memory``: peak RSS of a fit on 10^7 x 8 float64 rows, K = 8.
* ``large``: a few EM iterations on 5 x 10^7 x 8 float32 rows, K = 16.

Each subcommand writes ``DIR/extras-NAME.json`` and ``DIR/extras-NAME.md``
(default ``benchmarks/results/``). ``--quick`` shrinks every size for a
smoke run of a minute or two.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
#: Directory holding an exported ``gmm_numba`` package (``--git-ref``) to use instead of the working tree's.
PACKAGE_ENV = "GMM_BENCH_PACKAGE_DIR"
if os.environ.get(PACKAGE_ENV):
    sys.path.insert(0, os.environ[PACKAGE_ENV])

from benchmarks.cases import (  # noqa: E402
    Case,
    fill_mixture,
    initial_parameters,
    make_mixture,
    sample_mixture,
)
from benchmarks.contention import CpuMonitor  # noqa: E402
from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.peers.base import run_json_subprocess  # noqa: E402
from benchmarks.reference_loop import reference_rows, reference_seconds  # noqa: E402
from benchmarks.report import format_ms, machine_lines, write_json  # noqa: E402
from benchmarks.rss import METHOD as RSS_METHOD  # noqa: E402
from benchmarks.rss import measure_peak, peak_rss_mib, reset_peak_rss  # noqa: E402
from benchmarks.timing import per_iteration_time  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
MIB = 2**20


# ------------------------------------------------------------------ helpers
def current_rss_mib(path="/proc/self/status"):
    """Current resident set size (``VmRSS``) in MiB, or ``None``."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_available_mib(path="/proc/meminfo"):
    """``MemAvailable`` of /proc/meminfo in MiB, or ``None``."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def git_state(ref=None):
    """Which gmm_numba is measured: the commit of ``ref`` or of the working tree, and whether it is modified.

    Returns
    -------
    dict
        ``commit`` (short hash), ``ref`` (``None``: the working tree) and
        ``gmm_numba_dirty`` (uncommitted changes under ``gmm_numba/``, always
        False for an exported ``ref``).
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", ref or "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "gmm_numba"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "ref": ref, "gmm_numba_dirty": None}
    return {"commit": commit, "ref": ref, "gmm_numba_dirty": bool(dirty) and ref is None}


def export_package(ref):
    """Extract ``gmm_numba/`` as of git ``ref`` and use it here and in every child.

    The copy goes to a directory named after the commit under the system's
    temporary directory and is kept, so that its Numba cache (in its
    ``__pycache__``) survives from one run to the next.
    """
    commit = subprocess.run(
        ["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    directory = Path(tempfile.gettempdir()) / f"gmm_numba_bench_{commit}"
    if not (directory / "gmm_numba" / "__init__.py").exists():
        partial = directory.with_name(directory.name + f".part{os.getpid()}")
        partial.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", ref, "gmm_numba"], cwd=REPO, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive.stdout, check=True)
        partial.rename(directory)
    os.environ[PACKAGE_ENV] = str(directory)
    sys.path.insert(0, str(directory))


def median_seconds(call, repeats):
    """Median wall time of ``repeats`` calls, with each call's time and the other-CPU share."""
    times = []
    monitor = CpuMonitor()
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "times_s": times, "foreign_share": monitor.foreign_share()}


def child_command(kind, **params):
    """Command line re-running this script as a fresh child that prints one JSON line."""
    return [sys.executable, str(Path(__file__).resolve()), "_child", kind, json.dumps(params)]


def run_child(kind, env=None, timeout=3600.0, **params):
    """Run a child measurement in a fresh process (``env`` added to this one's) and return its JSON result."""
    environment = dict(os.environ, **(env or {}))
    return run_json_subprocess(child_command(kind, **params), timeout, env=environment)


def median_share(shares):
    """Median of the known shares of a list (``None`` where none is known)."""
    known = [share for share in shares if share is not None]
    return statistics.median(known) if known else None


def pct(share):
    """Format a CPU share as a percentage, or ``n/a``."""
    return "n/a" if share is None else f"{100 * share:.0f}"


def load_snapshot():
    """1-minute load average and the other-CPU share over the next second."""
    monitor = CpuMonitor()
    time.sleep(1.0)
    return {"loadavg_1min": os.getloadavg()[0], "foreign_share_1s": monitor.foreign_share()}


def _gmm_numba_file():
    """Path of the gmm_numba package this process imports."""
    import gmm_numba

    return gmm_numba.__file__


class Bench:
    """Collect one subcommand's results and write them as JSON and Markdown."""

    def __init__(self, name, title, args):
        self.name, self.title, self.args = name, title, args
        self.results = {
            "benchmark": name,
            "quick": args.quick,
            "machine": describe_machine(),
            "git": git_state(args.git_ref),
            "gmm_numba_file": _gmm_numba_file(),
            "load_before": load_snapshot(),
            "rows": [],
            "notes": [],
        }
        self.monitor = CpuMonitor()
        self.started = time.perf_counter()

    def finish(self, table, notes):
        """Record the load, render ``table`` (Markdown lines) and ``notes``, write both files."""
        self.results["wall_s"] = time.perf_counter() - self.started
        self.results["foreign_share"] = self.monitor.foreign_share()
        self.results["load_after"] = load_snapshot()
        self.results["notes"] = notes
        out = self.args.out
        out.mkdir(parents=True, exist_ok=True)
        write_json(self.results, out / f"extras-{self.name}.json")
        git, before, after = self.results["git"], self.results["load_before"], self.results["load_after"]
        lines = [f"# {self.title}" + (" (--quick)" if self.args.quick else ""), ""]
        lines += [f"- {line}" for line in machine_lines(self.results["machine"])]
        where = f"exported from git ref {git['ref']}" if git["ref"] else "the working tree"
        lines += [
            f"- gmm_numba at commit {git['commit']} ({where})"
            + (" with uncommitted changes" if git["gmm_numba_dirty"] else ""),
            f"- Load: other processes used {pct(self.results['foreign_share'])}% of the CPUs during the "
            f"{self.results['wall_s']:.0f} s run; 1-min load average {before['loadavg_1min']:.2f} before, "
            f"{after['loadavg_1min']:.2f} after",
            f"- Command: `python benchmarks/extras.py {self.name}"
            + (" --quick" if self.args.quick else "")
            + (f" --git-ref {git['ref']}" if git["ref"] else "")
            + "`",
            "",
        ]
        lines += table + [""] + [f"- {note}" for note in notes]
        (out / f"extras-{self.name}.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
        print(f"wrote {out / f'extras-{self.name}.json'} and .md", file=sys.stderr)


def md_table(header, rows):
    """Markdown table lines from a header and rows of strings."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(cell) for cell in row) + " |" for row in rows
    ]


# ------------------------------------------------------ 1. selection sweep
def sklearn_sweep(X, ks, covs, n_init, tol, max_iter, seed):
    """The sweep a scikit-learn user writes: one GaussianMixture per cell, BIC of each."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    cells = {}
    for k in ks:
        for cov in covs:
            start = time.perf_counter()
            model = GaussianMixture(
                k, covariance_type=cov, n_init=n_init, tol=tol, max_iter=max_iter, random_state=seed
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(X)
            bic = float(model.bic(X))
            cells[f"{cov}-{k}"] = {
                "bic": bic,
                "n_iter": int(model.n_iter_),
                "converged": bool(model.converged_),
                "seconds": time.perf_counter() - start,
            }
    return cells


def gmm_numba_sweep(X, ks, covs, n_init, tol, max_iter, seed):
    """``gmm_numba.select`` over the same cells; return the cells and the warnings it raised."""
    import gmm_numba

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tree = gmm_numba.select(
            X, n_components=ks, covariance_type=covs, n_init=n_init, tol=tol, max_iter=max_iter, random_state=seed
        )
    table = tree["selection"].to_dataset()
    cells = {}
    for cov in table.covariance_type.values:
        for k in table.n_components.values:
            cell = table.sel(covariance_type=cov, n_components=k)
            cells[f"{cov}-{int(k)}"] = {
                "bic": float(cell.bic),
                "n_iter": int(cell.n_iter),
                "converged": bool(cell.converged),
                "error": str(cell.error.values),
            }
    return cells, sorted({str(w.message)[:200] for w in caught})


def best_cell(cells):
    """Cell name (``cov-K``) of the lowest finite BIC."""
    finite = {name: cell["bic"] for name, cell in cells.items() if np.isfinite(cell["bic"])}
    return min(finite, key=finite.get)


def bench_sweep(args):
    n = 20_000 if args.quick else args.n_samples
    ks = list(range(1, 5 if args.quick else 10))
    covs = COVARIANCE_TYPES
    repeats = args.repeats or 1
    bench = Bench("sweep", "Model-selection sweep: gmm_numba.select vs scikit-learn", args)
    X = sample_mixture(make_mixture(args.n_features, args.true_k), n)
    settings = {
        "n_samples": n,
        "n_features": args.n_features,
        "true_k": args.true_k,
        "ks": ks,
        "covariance_types": list(covs),
        "n_init": args.n_init,
        "tol": args.tol,
        "max_iter": args.max_iter,
        "random_state": 0,
        "repeats": repeats,
    }
    bench.results["settings"] = settings
    import gmm_numba

    # untimed: compiles (or loads from the cache) the kernels of every covariance model and initialiser
    gmm_numba.select(X[:4000], n_components=[1, 2], covariance_type=covs, n_init=2, max_iter=5, random_state=0)
    common = (X, ks, covs, args.n_init, args.tol, args.max_iter, 0)
    runs = {"gmm_numba": [], "sklearn": []}
    for _ in range(repeats):
        for name, sweep in (("gmm_numba", gmm_numba_sweep), ("sklearn", sklearn_sweep)):
            monitor = CpuMonitor()
            start = time.perf_counter()
            result = sweep(*common)
            seconds = time.perf_counter() - start
            cells, caught = result if name == "gmm_numba" else (result, [])
            runs[name].append(
                {"seconds": seconds, "cells": cells, "warnings": caught, "foreign_share": monitor.foreign_share()}
            )
            print(f"{name}: {seconds:.1f} s, best {best_cell(cells)}", file=sys.stderr, flush=True)
    bench.results["runs"] = runs
    summary = {}
    for name, items in runs.items():
        last = items[-1]["cells"]
        best = best_cell(last)
        summary[name] = {
            "median_s": statistics.median(item["seconds"] for item in items),
            "best": best,
            "best_bic": last[best]["bic"],
            "max_n_iter": max(cell["n_iter"] for cell in last.values()),
            "unconverged": sorted(name for name, cell in last.items() if not cell["converged"]),
            "foreign_share": statistics.median(item["foreign_share"] or 0 for item in items),
        }
    bench.results["summary"] = summary
    g, s = summary["gmm_numba"], summary["sklearn"]
    same = g["best"] == s["best"]
    table = md_table(
        [
            "N",
            "D",
            "cells",
            "n_init",
            "tol",
            "max_iter",
            "gmm_numba s",
            "scikit-learn s",
            "scikit-learn ÷ gmm_numba",
            "gmm_numba choice",
            "scikit-learn choice",
            "same",
            "other CPU % (gmm_numba / sklearn)",
        ],
        [
            [
                f"{n:,}",
                args.n_features,
                f"{len(ks)} K x {len(covs)}",
                args.n_init,
                f"{args.tol:g}",
                args.max_iter,
                f"{g['median_s']:.1f}",
                f"{s['median_s']:.1f}",
                f"{s['median_s'] / g['median_s']:.1f}x",
                g["best"],
                s["best"],
                "yes" if same else "**no**",
                f"{pct(g['foreign_share'])} / {pct(s['foreign_share'])}",
            ]
        ],
    )
    bic_rows = []
    gl, sl = runs["gmm_numba"][-1]["cells"], runs["sklearn"][-1]["cells"]
    for cov in covs:
        bic_rows.append([cov] + [f"{gl[f'{cov}-{k}']['bic']:.0f} / {sl[f'{cov}-{k}']['bic']:.0f}" for k in ks])
    table += ["", "BIC per cell, gmm_numba / scikit-learn (lower is better):", ""]
    table += md_table(["cov"] + [f"K={k}" for k in ks], bic_rows)
    notes = [
        f"data: one well-separated {args.true_k}-component mixture in D = {args.n_features} "
        "(benchmarks/cases.py: means >= 8 sd apart, rotated covariances), float64",
        f"both: n_init={args.n_init}, tol={args.tol:g} on the change of the mean log-likelihood per sample, "
        f"max_iter={args.max_iter}, reg_covar=1e-6, random_state=0, BIC (lower is better); wall time of the whole "
        f"sweep, median of {repeats} run(s)",
        "gmm_numba: one `select` call (its starts: one k-means++ on a subsample plus random rows, shared by the "
        "four models of each K; 20-iteration screening, all 3 starts continue); kernels compiled beforehand by "
        "an untimed small sweep",
        "scikit-learn: one `GaussianMixture(K, covariance_type, n_init, tol, max_iter).fit(X)` per cell with its "
        "default k-means initialisation (a full KMeans per start), then `bic(X)`",
        f"largest n_iter of a cell: gmm_numba {g['max_n_iter']}, scikit-learn {s['max_n_iter']}; cells at "
        f"max_iter without converging: gmm_numba {g['unconverged'] or 'none'}, scikit-learn "
        f"{s['unconverged'] or 'none'}",
        f"best BIC: gmm_numba {g['best_bic']:.1f}, scikit-learn {s['best_bic']:.1f}",
    ]
    for message in runs["gmm_numba"][-1]["warnings"]:
        notes.append(f"gmm_numba warned: {message}")
    bench.finish(table, notes)


# ------------------------------------------------------- 2. predict speed
def bench_predict(args):
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    from gmm_numba import GaussianMixture

    n, d, k = (50_000 if args.quick else 1_000_000), 8, 8
    repeats = 3 if args.quick else (args.repeats or 5)
    bench = Bench("predict", "Prediction throughput: gmm_numba vs scikit-learn", args)
    mixture = make_mixture(d, k)
    X = sample_mixture(mixture, n)
    rows = []
    for cov in ("full", "diag"):
        init = initial_parameters(mixture, cov)
        fit_rows = X[: min(n, 100_000)]
        common = dict(
            covariance_type=cov,
            tol=0.0,
            max_iter=10,
            weights_init=init["weights"],
            means_init=init["means"],
            precisions_init=init["precisions"],
        )
        ours = GaussianMixture(k, **common).fit(fit_rows)
        theirs = SkGaussianMixture(k, init_params="random_from_data", random_state=0, **common).fit(fit_rows)
        entry = {"covariance_type": cov, "n_samples": n, "n_features": d, "n_components": k}
        outputs = {}
        for method in ("predict", "score_samples", "predict_proba"):
            for label, model in (("gmm_numba", ours), ("sklearn", theirs)):
                call = getattr(model, method)
                call(X[:2000])  # untimed: compiles or loads the kernels
                timing = median_seconds(lambda call=call: call(X), repeats)
                outputs[label, method] = call(X[:200_000])
                entry[f"{label}_{method}"] = dict(timing, rows_per_s=n / timing["median_s"])
        entry["labels_agree"] = float(np.mean(outputs["gmm_numba", "predict"] == outputs["sklearn", "predict"]))
        entry["max_abs_score_diff"] = float(
            np.max(np.abs(outputs["gmm_numba", "score_samples"] - outputs["sklearn", "score_samples"]))
        )
        entry["max_abs_proba_diff"] = float(
            np.max(np.abs(outputs["gmm_numba", "predict_proba"] - outputs["sklearn", "predict_proba"]))
        )
        bench.results["rows"].append(entry)
        for method in ("predict", "score_samples", "predict_proba"):
            ours_t, theirs_t = entry[f"gmm_numba_{method}"], entry[f"sklearn_{method}"]
            rows.append(
                [
                    f"{n:,}",
                    d,
                    k,
                    cov,
                    method,
                    f"{ours_t['rows_per_s'] / 1e6:.2f}",
                    f"{theirs_t['rows_per_s'] / 1e6:.2f}",
                    f"{ours_t['rows_per_s'] / theirs_t['rows_per_s']:.1f}x",
                    format_ms(1e3 * ours_t["median_s"]),
                    format_ms(1e3 * theirs_t["median_s"]),
                    f"{pct(ours_t['foreign_share'])} / {pct(theirs_t['foreign_share'])}",
                ]
            )
        print(f"predict {cov} done", file=sys.stderr, flush=True)
    agree = [
        f"{e['covariance_type']}: labels agree on {100 * e['labels_agree']:.4g}% of {min(n, 200_000):,} rows, "
        f"max |Δ score_samples| {e['max_abs_score_diff']:.1e}, max |Δ predict_proba| {e['max_abs_proba_diff']:.1e}"
        for e in bench.results["rows"]
    ]
    table = md_table(
        [
            "N",
            "D",
            "K",
            "cov",
            "method",
            "gmm_numba M rows/s",
            "scikit-learn M rows/s",
            "gmm_numba ÷ scikit-learn",
            "gmm_numba ms",
            "scikit-learn ms",
            "other CPU % (gmm_numba / sklearn)",
        ],
        rows,
    )
    notes = [
        "float64 data from benchmarks/cases.py; both models fitted from the same start for 10 EM iterations on the "
        "first 100,000 rows, so they hold (nearly) the same parameters",
        f"time of one call on all N rows, median of {repeats} after an untimed call on 2,000 rows; rows/s = N / median",
        "scikit-learn uses its BLAS threads, gmm_numba its Numba threads (both all cores)",
    ] + agree
    bench.finish(table, notes)


# --------------------------------------------------------- 3. start-up
def child_import(params):
    start = time.perf_counter()
    import gmm_numba  # noqa: F401

    return {"import_s": time.perf_counter() - start}


def child_first_fit(params):
    start = time.perf_counter()
    from gmm_numba import GaussianMixture

    imported = time.perf_counter() - start
    X = sample_mixture(make_mixture(params["d"], params["k"]), params["n"])
    times = []
    for _ in range(2):
        start = time.perf_counter()
        GaussianMixture(params["k"], covariance_type=params["cov"], random_state=0).fit(X)
        times.append(time.perf_counter() - start)
    return {"import_s": imported, "first_fit_s": times[0], "second_fit_s": times[1]}


def child_demo_warm_up(params):
    """The kernels ``gmm-numba demo`` prepares: what it prints as "Kernels ready in ... s"."""
    from gmm_numba.cli.commands import select_default
    from gmm_numba.cli.progress import warm_up
    from gmm_numba.datasets import load_faithful

    return {"warm_up_s": warm_up(load_faithful(), list(select_default("covariance_type")))}


def bench_startup(args):
    repeats = 2 if args.quick else (args.repeats or 5)
    cold_repeats = 1 if args.quick else (args.repeats or 3)
    bench = Bench("startup", "Start-up: import, cold JIT compilation, first fit with a warm cache", args)
    params = {"n": 20_000, "d": 2, "k": 4, "cov": "full"}
    bench.results["settings"] = dict(params, repeats=repeats, cold_repeats=cold_repeats)
    records = {"import": [], "cold": [], "warm": [], "demo_cold": [], "demo_warm": []}
    with tempfile.TemporaryDirectory(prefix="gmm-numba-cache-") as tmp:
        warm_dir = os.path.join(tmp, "warm")
        demo_dir = os.path.join(tmp, "demo")
        os.makedirs(warm_dir)
        for i in range(cold_repeats):
            for kind, child, keep in (("cold", "first_fit", warm_dir), ("demo_cold", "demo_warm_up", demo_dir)):
                cold_dir = os.path.join(tmp, f"{kind}{i}")
                os.makedirs(cold_dir)
                monitor = CpuMonitor()
                result = run_child(child, env={"NUMBA_CACHE_DIR": cold_dir}, **params)
                records[kind].append(dict(result, foreign_share=monitor.foreign_share()))
                print(f"{kind}: {result}", file=sys.stderr, flush=True)
                if i == 0:  # the first cold run's cache becomes the warm cache
                    shutil.copytree(cold_dir, keep, dirs_exist_ok=True)
                shutil.rmtree(cold_dir)
        for _ in range(repeats):
            monitor = CpuMonitor()
            result = run_child("demo_warm_up", env={"NUMBA_CACHE_DIR": demo_dir})
            records["demo_warm"].append(dict(result, foreign_share=monitor.foreign_share()))
        bench.results["cache_files"] = sum(len(files) for _, _, files in os.walk(warm_dir))
        for _ in range(repeats):
            monitor = CpuMonitor()
            result = run_child("first_fit", env={"NUMBA_CACHE_DIR": warm_dir}, **params)
            records["warm"].append(dict(result, foreign_share=monitor.foreign_share()))
            monitor = CpuMonitor()
            result = run_child("import", env={"NUMBA_CACHE_DIR": warm_dir})
            records["import"].append(dict(result, foreign_share=monitor.foreign_share()))
            print(f"warm: {records['warm'][-1]}; import {result}", file=sys.stderr, flush=True)
    bench.results["runs"] = records

    def med(kind, key):
        return statistics.median(r[key] for r in records[kind])

    def share(kind):
        return pct(statistics.median(r["foreign_share"] or 0 for r in records[kind]))

    warm_first = med("warm", "first_fit_s")
    rows = [
        ["`import gmm_numba`", f"{med('import', 'import_s'):.2f}", len(records["import"]), "", share("import")],
        [
            "first fit, empty Numba cache (cold JIT)",
            f"{med('cold', 'first_fit_s'):.1f}",
            cold_repeats,
            f"second fit in that process {med('cold', 'second_fit_s'):.3f} s; import {med('cold', 'import_s'):.2f} s",
            share("cold"),
        ],
        [
            "first fit, fresh process, warm cache",
            f"{warm_first:.2f}",
            repeats,
            f"second fit {med('warm', 'second_fit_s'):.3f} s; import {med('warm', 'import_s'):.2f} s; "
            f"import + first fit {med('warm', 'import_s') + warm_first:.2f} s",
            share("warm"),
        ],
    ]
    demo_cold = med("demo_cold", "warm_up_s")
    rows += [
        [
            "`gmm-numba demo` kernels, empty Numba cache (cold JIT)",
            f"{demo_cold:.1f}",
            cold_repeats,
            'what the demo prints as "Kernels ready in"',
            share("demo_cold"),
        ],
        [
            "`gmm-numba demo` kernels, fresh process, warm cache",
            f"{med('demo_warm', 'warm_up_s'):.2f}",
            repeats,
            "",
            share("demo_warm"),
        ],
    ]
    table = md_table(["what", "median s", "runs", "details", "other CPU %"], rows)
    notes = [
        "each figure from a fresh Python process (`python benchmarks/extras.py _child ...`), time measured inside it "
        "(interpreter start-up excluded)",
        f"fit: `GaussianMixture({params['k']}, covariance_type='{params['cov']}', random_state=0).fit(X)` with default "
        f"k-means++ start and tol, X = {params['n']:,} x {params['d']} float64 (benchmarks/cases.py mixture); the "
        "first fit compiles (cold) or loads (warm) only the kernels this fit uses",
        "cold: NUMBA_CACHE_DIR set to a new empty directory per run; warm: NUMBA_CACHE_DIR holding the cache written "
        f"by the first cold run ({bench.results['cache_files']} files)",
        f"target first fit with a warm cache < 2 s: {'met' if warm_first < 2 else '**not met**'} ({warm_first:.2f} s)",
        "demo kernels: `gmm_numba.cli.progress.warm_up` on Old Faithful for select's default models, in a fresh "
        "process; target with an empty cache <= 20 s: " + ("met" if demo_cold <= 20 else "**not met**"),
    ]
    bench.finish(table, notes)


# ------------------------------------------------------ 4. thread scaling
def child_threads(params):
    """Per-iteration time of one case in this process; with ``alternate``, on 1 and 2
    threads in turn (``numba.set_num_threads``)."""
    import numba

    from benchmarks.peers.gmm_numba_peer import GmmNumbaPeer

    case = Case(params["n"], params["d"], params["k"], params["cov"], "float64")
    mixture = make_mixture(case.n_features, case.n_components)
    X = sample_mixture(mixture, case.n_samples)
    run = GmmNumbaPeer().make_runner(X, initial_parameters(mixture, case.covariance_type), case)
    if not params.get("alternate"):
        timing = per_iteration_time(
            run, params["n_short"], params["n_long"], min_repeats=3, max_repeats=8, min_seconds=3.0
        )
        timing.pop("result")
        return dict(timing, numba_threads=numba.get_num_threads())
    return alternate_thread_counts(run, params["n_short"], params["n_long"], params["rounds"] * PAIRS_PER_ROUND)


#: Timed (short, long) pairs per thread count and round in the same-process measurement.
PAIRS_PER_ROUND = 4


def alternate_thread_counts(run, n_short, n_long, n_pairs):
    """Per-iteration times on 1 and 2 threads from ``n_pairs`` timed (short, long)
    pairs each, the thread count switched before every pair in a random order.

    Switching at every pair (a few seconds) keeps the drifts of speed that these
    shared machines show over seconds to minutes out of the ratio. Before each
    pair the reference loop (:mod:`benchmarks.reference_loop`) runs on the same
    thread count: its speed-up is what the machine allowed at the time.
    """
    import random

    import numba

    rows = reference_rows()
    for threads in (1, 2):
        numba.set_num_threads(threads)
        run(n_short)  # warm-up: compile, touch the data, start the thread pool
        reference_seconds(rows)
    pairs = {1: [], 2: []}
    reference = {1: [], 2: []}
    order = random.Random(0)
    monitor = CpuMonitor()
    shares, steals = [], []
    for _ in range(n_pairs):
        monitor.reset()
        for threads in order.sample((1, 2), 2):
            numba.set_num_threads(threads)
            reference[threads].append(reference_seconds(rows))
            started = time.perf_counter()
            run(n_short)
            middle = time.perf_counter()
            run(n_long)
            pairs[threads].append((middle - started, time.perf_counter() - middle))
        shares.append(monitor.foreign_share())
        steals.append(monitor.steal_share())
    span = n_long - n_short

    def per_iteration(threads):
        short, long_ = zip(*pairs[threads])
        return (statistics.median(long_) - statistics.median(short)) / span

    return {
        "per_iter_s": {1: per_iteration(1), 2: per_iteration(2)},
        "pairs": pairs,
        "reference_s": reference,
        "reference_speedup": statistics.median(reference[1]) / statistics.median(reference[2]),
        "foreign_share": shares,
        "steal_share": steals,
    }


THREAD_CASES = ((2, 4, "full"), (8, 8, "full"), (8, 8, "diag"))


def bench_threads(args):
    n = 50_000 if args.quick else 1_000_000
    n_short, n_long = (1, 4) if args.quick else (2, 8)
    bench = Bench("threads", "Thread scaling: NUMBA_NUM_THREADS=1 vs 2", args)
    bench.results["top_before"] = top_snapshot()
    rows = []
    for d, k, cov in THREAD_CASES:
        runs = {1: [], 2: []}
        for _ in range(args.rounds):
            for threads in (1, 2):
                env = {name: str(threads) for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
                result = run_child("threads", env=env, n=n, d=d, k=k, cov=cov, n_short=n_short, n_long=n_long)
                runs[threads].append(result)
                print(
                    f"D{d} K{k} {cov} {threads} thread(s): {1e3 * result['per_iter_s']:.1f} ms/iter "
                    f"(other CPU {pct(statistics.median(result['foreign_share']))}%)",
                    file=sys.stderr,
                    flush=True,
                )
        ms = {t: 1e3 * statistics.median(r["per_iter_s"] for r in runs[t]) for t in runs}
        share = {t: median_share([s for r in runs[t] for s in r["foreign_share"]]) for t in runs}
        # the same in one process, switching the thread count between fits: the process-to-process
        # differences of speed on these VMs (up to 30%) then do not enter the ratio
        pool = {name: "2" for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        together = run_child(
            "threads", env=pool, n=n, d=d, k=k, cov=cov, n_short=n_short, n_long=n_long,
            alternate=True, rounds=args.rounds,
        )
        same = {int(t): 1e3 * seconds for t, seconds in together["per_iter_s"].items()}
        same_load = {key: median_share(together[key]) for key in ("foreign_share", "steal_share")}
        print(
            f"D{d} K{k} {cov} same process: {same[1]:.1f} / {same[2]:.1f} ms/iter (other CPU "
            f"{pct(same_load['foreign_share'])}%, stolen by the hypervisor {pct(same_load['steal_share'])}%; "
            f"reference loop {together['reference_speedup']:.2f}x)",
            file=sys.stderr,
            flush=True,
        )
        entry = {
            "n_samples": n,
            "n_features": d,
            "n_components": k,
            "covariance_type": cov,
            "runs": runs,
            "ms_per_iter": ms,
            "speedup": ms[1] / ms[2],
            "foreign_share": share,
            "same_process_runs": together,
            "same_process_ms_per_iter": same,
            "same_process_speedup": same[1] / same[2],
            "same_process_load": same_load,
        }
        bench.results["rows"].append(entry)
        rows.append(
            [
                f"{n:,}",
                d,
                k,
                cov,
                format_ms(ms[1]),
                format_ms(ms[2]),
                f"{ms[1] / ms[2]:.2f}x",
                f"{format_ms(same[1])} / {format_ms(same[2])}",
                f"{same[1] / same[2]:.2f}x",
                f"{together['reference_speedup']:.2f}x",
                ("met" if min(ms[1] / ms[2], same[1] / same[2]) >= 1.8 else "not met")
                + (" (under load)" if max(share.values()) > 0.05 else ""),
                f"{pct(share[1])} / {pct(share[2])}",
                f"{pct(same_load['foreign_share'])} / {pct(same_load['steal_share'])}",
            ]
        )
    bench.results["top_after"] = top_snapshot()
    table = md_table(
        [
            "N",
            "D",
            "K",
            "cov",
            "1 thread ms/iter",
            "2 threads ms/iter",
            "speed-up",
            "same process: 1 / 2 threads ms/iter",
            "same process: speed-up",
            "same process: reference loop speed-up",
            "target >= 1.8x (both)",
            "other CPU % (1 / 2 threads)",
            "same process: other CPU % / steal %",
        ],
        rows,
    )
    busy = max(max(e["foreign_share"].values()) for e in bench.results["rows"])
    notes = [
        "ms/iter as in benchmarks/run.py (difference of the median times of max_iter="
        f"{n_long} and {n_short} fits from the common start, tol=0), in a fresh process per thread count with "
        "NUMBA_NUM_THREADS (and OMP/OpenBLAS threads) set; float64; median over "
        f"{args.rounds} round(s) of (1 thread, 2 threads); 'same process': one process with a pool of two "
        f"threads and {args.rounds * PAIRS_PER_ROUND} timed (short, long) pairs per thread count, "
        "numba.set_num_threads(1) or (2) set before every pair in a random order, so that the ratio is free "
        "of process-to-process speed differences and of drifts over seconds",
        "reference loop: before every pair, a loop with no shared data and nothing to wait for (512-bit "
        "polynomial arithmetic over per-thread rows in the level-1 cache, benchmarks/reference_loop.py) on "
        "the same thread count; its speed-up is what the two virtual CPUs allowed during the measurement "
        "(on this VM it has ranged from 1.2x to 2.0x from one minute to the next)",
        "the load figures are medians of the other-CPU share over the timed pairs (steal: time the "
        "hypervisor gave the virtual CPUs to other guests, from /proc/stat; it counts as busy time, so it is "
        "part of the other-CPU share, but the medians are taken separately); "
        + (
            "**measured under load**: other processes held part of the two cores, so these figures say nothing "
            "about the scaling on an idle machine; rerun there"
            if busy > 0.05
            else "the machine was quiet"
        ),
        f"load averages before / after: {bench.results['top_before']['loadavg']} / "
        f"{bench.results['top_after']['loadavg']}",
    ]
    bench.finish(table, notes)


def top_snapshot():
    """Load averages and the busiest processes from ``top -bn1`` (text), for the record."""
    try:
        text = subprocess.run(["top", "-bn1"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        text = ""
    lines = text.splitlines()
    return {"loadavg": " ".join(f"{x:.2f}" for x in os.getloadavg()), "top": lines[:14]}


# ----------------------------------------------------- 5./6. peak memory
def child_memory(params):
    from gmm_numba import GaussianMixture

    dtype = np.dtype(params["dtype"])
    mixture = make_mixture(params["d"], params["k"])
    # untimed warm-up on a small array: compiles or loads this dtype's kernels
    small = fill_mixture(np.empty((20_000, params["d"]), dtype=dtype), mixture, seed=1)
    GaussianMixture(params["k"], max_iter=2, tol=0, random_state=0).fit(small)
    del small
    after_import = current_rss_mib()
    available = memory_available_mib()
    start = time.perf_counter()
    X = fill_mixture(np.empty((params["n"], params["d"]), dtype=dtype), mixture)
    generated = time.perf_counter() - start
    after_data = current_rss_mib()
    peak_before_reset = peak_rss_mib()
    reset = reset_peak_rss()
    ticks = []
    model = GaussianMixture(
        params["k"],
        max_iter=params["max_iter"],
        tol=0,
        random_state=0,
        callback=lambda *a: ticks.append(time.perf_counter()),
    )
    start = time.perf_counter()
    memory = measure_peak(lambda: model.fit(X))
    total = time.perf_counter() - start
    return dict(
        memory,
        input_mib=X.nbytes / MIB,
        rss_after_import_mib=after_import,
        rss_after_data_mib=after_data,
        peak_before_reset_mib=peak_before_reset,
        peak_reset=reset,
        fit_rise_over_rss_mib=memory["peak_mib"] - after_data,
        mem_available_before_mib=available,
        generation_s=generated,
        fit_s=total,
        init_and_first_iteration_s=ticks[0] - start if ticks else None,
        s_per_iter=float(np.mean(np.diff(ticks))) if len(ticks) > 1 else None,
        n_iter=int(model.n_iter_),
        weights=[round(float(w), 4) for w in np.sort(model.weights_)],
    )


def bench_memory(args):
    n = 500_000 if args.quick else 10_000_000
    params = {"n": n, "d": 8, "k": 8, "dtype": "float64", "max_iter": 3}
    bench = Bench("memory", "Peak memory of a fit on 10^7 x 8 float64", args)
    result = run_child("memory", **params)
    bench.results["rows"].append(dict(params, **result))
    allowed = 0.1 * result["input_mib"] + 100e6 / MIB
    rise = result["fit_rise_over_rss_mib"]
    margin = allowed - rise
    table = md_table(
        ["N", "D", "K", "dtype", "input MiB", "RSS after import and warm-up MiB", "RSS with data MiB",
         "peak RSS during fit MiB", "fit's rise MiB", "allowed rise MiB", "margin MiB", "target"],
        [[f"{n:,}", 8, 8, "float64", f"{result['input_mib']:.0f}", f"{result['rss_after_import_mib']:.0f}",
          f"{result['rss_after_data_mib']:.0f}", f"{result['peak_mib']:.0f}", f"{rise:.1f}",
          f"{allowed:.0f}", f"{margin:.0f}", "met" if margin >= 0 else "**not met**"]],
    )  # fmt: skip
    notes = [
        f"one fresh process: import, untimed warm-up fit on 20,000 rows, then the data generated chunk by chunk "
        f"into a preallocated array (benchmarks/cases.py fill_mixture), then `GaussianMixture(8, max_iter="
        f"{params['max_iter']}, tol=0, random_state=0).fit(X)` (k-means++ start on the default 100,000-row sample)",
        f"peak RSS: {RSS_METHOD}; the peak was reset to the current RSS (/proc/self/clear_refs) after generating "
        f"the data ({'done' if result['peak_reset'] else 'not possible here'}); fit's rise = peak during the fit "
        "minus the RSS with the data loaded",
        "target: peak within input + 10% + 100 MB of the process without the data, i.e. the fit may add at most "
        "0.1 x input + 100 MB (= 95.4 MiB) to what the process held with the data loaded ('allowed rise')",
        f"fit {result['fit_s']:.1f} s, {result['n_iter']} iterations"
        + (f", {result['s_per_iter']:.2f} s per iteration after the first" if result["s_per_iter"] else ""),
    ]
    bench.finish(table, notes)


def bench_large(args):
    n = 500_000 if args.quick else 50_000_000
    d, k = 8, 16
    params = {"n": n, "d": d, "k": k, "dtype": "float32", "max_iter": args.max_iter_large}
    bench = Bench("large", "A fit on 5 x 10^7 x 8 float32 (1.6 GB), K = 16", args)
    result = run_child("memory", timeout=7200.0, **params)
    bench.results["rows"].append(dict(params, **result))
    nk_f64_gb = n * k * 8 / 1e9
    table = md_table(
        [
            "N",
            "D",
            "K",
            "dtype",
            "input MiB",
            "RSS with data MiB",
            "peak RSS during fit MiB",
            "fit's rise MiB",
            "iterations",
            "fit s",
            "init + 1st iteration s",
            "s/iter (later iterations)",
        ],
        [
            [
                f"{n:,}",
                d,
                k,
                "float32",
                f"{result['input_mib']:.0f}",
                f"{result['rss_after_data_mib']:.0f}",
                f"{result['peak_mib']:.0f}",
                f"{result['fit_rise_over_rss_mib']:.1f}",
                result["n_iter"],
                f"{result['fit_s']:.1f}",
                f"{result['init_and_first_iteration_s']:.1f}",
                "n/a" if result["s_per_iter"] is None else f"{result['s_per_iter']:.2f}",
            ]
        ],
    )
    notes = [
        "completed" + f" ({result['n_iter']} EM iterations, fitted weights {result['weights']})",
        "fresh process; data generated chunk by chunk into a preallocated float32 array in "
        f"{result['generation_s']:.0f} s; `GaussianMixture({k}, max_iter={params['max_iter']}, tol=0, "
        "random_state=0).fit(X)`, k-means++ start on the default 100,000-row sample, full covariances; "
        "s/iter = mean gap between the callbacks of iterations "
        "2.. (the first includes initialisation)",
        f"memory available before: {result['mem_available_before_mib'] / 1024:.1f} GiB; {RSS_METHOD}, reset to "
        "the current RSS after generating the data; fit's rise = peak during the fit minus the RSS with the data",
        f"scikit-learn's EM holds N x K arrays (weighted log-probabilities, log-responsibilities and "
        f"responsibilities, plus logsumexp temporaries): {nk_f64_gb:.1f} GB each in float64, "
        f"{nk_f64_gb / 2:.1f} GB each in float32 (it keeps float32 input in float32), so at least "
        f"{3 * nk_f64_gb / 2:.1f}-{3 * nk_f64_gb:.1f} GB for three of them, on top of the data and its "
        "k-means initialisation on all rows; not run here",
    ]
    bench.finish(table, notes)


# ------------------------------------------------------------------- main
CHILDREN = {
    "import": child_import,
    "first_fit": child_first_fit,
    "demo_warm_up": child_demo_warm_up,
    "threads": child_threads,
    "memory": child_memory,
}
BENCHMARKS = {
    "sweep": bench_sweep,
    "predict": bench_predict,
    "startup": bench_startup,
    "memory": bench_memory,
    "large": bench_large,
    "threads": bench_threads,
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("benchmark", choices=[*BENCHMARKS, "all"])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument(
        "--repeats", type=int, help="timed repeats (default: sweep 1, predict 5, startup 5 warm and 3 cold)"
    )
    parser.add_argument("--n-samples", type=int, default=100_000, help="sweep: rows (default %(default)s)")
    parser.add_argument("--n-features", type=int, default=5, help="sweep: features (default %(default)s)")
    parser.add_argument("--true-k", type=int, default=5, help="sweep: components of the data (default %(default)s)")
    parser.add_argument("--n-init", type=int, default=3, help="sweep: starts per cell (default %(default)s)")
    parser.add_argument("--tol", type=float, default=1e-3, help="sweep: tol of both libraries (default %(default)s)")
    parser.add_argument("--max-iter", type=int, default=100, help="sweep: max_iter of both (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="threads: rounds of (1, 2) threads (default %(default)s)")
    parser.add_argument(
        "--git-ref",
        metavar="REF",
        help="measure gmm_numba as committed at REF (exported to a temporary directory) instead of the working tree",
    )
    parser.add_argument("--max-iter-large", type=int, default=3, help="large: EM iterations (default %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_child":
        result = CHILDREN[argv[1]](json.loads(argv[2]) if len(argv) > 2 else {})
        print(json.dumps(result))
        return 0
    args = parse_args(argv)
    names = list(BENCHMARKS) if args.benchmark == "all" else [args.benchmark]
    if args.git_ref:
        export_package(args.git_ref)
    for name in names:
        BENCHMARKS[name](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
