"""Run Intel oneDAL's EM for GMM (``daal4py.em_gmm``) and print JSON.

This script runs in its own virtual environment (see
``benchmarks/setup_onedal.sh``), never in the one of gmm_numba, because
daal4py pins its own numpy/scikit-learn expectations.  Usage::

    python onedal_worker.py --mode probe
    python onedal_worker.py --mode time   --data X.npy --params params.json
    python onedal_worker.py --mode memory --data X.npy --params params.json

``params.json`` holds ``n_components``, ``covariance_type`` ("full" or
"diag"), the initial ``weights`` (K,), ``means`` (K, D) and ``covariances``
((K, D, D) or (K, D)), and the timing settings ``n_short``, ``n_long``,
``min_repeats``, ``max_repeats``, ``min_seconds``; optional
``contention_limit`` and ``threads``.

Notes
-----
``import daal4py`` runs the package ``__init__``, which imports
``daal4py.sklearn`` and ``daal4py.mb``; those need a scikit-learn of the
daal4py 2024.7 era and fail against current releases (or when scikit-learn
is absent).  Only the compiled core ``daal4py._daal4py`` is needed here, so
it is imported under an empty stand-in for the package, skipping the
package ``__init__``.

oneDAL's ``em_gmm`` takes initial *covariances* (a list of K tables, D x D
for ``covarianceStorage="full"``, 1 x D for ``"diagonal"``), not precisions.
It counts iterations exactly like scikit-learn: one iteration is one E-step
(which also accumulates the log-likelihood) followed by one M-step, and it
stops when ``nIterations == maxIterations`` or when the log-likelihood gain
is not above ``accuracyThreshold``.  Negative thresholds are rejected, so
``0.0`` is used.  On well-separated data EM reaches its fixed point to
machine precision within two or three iterations, the gain becomes exactly
zero (or, in float32, noise around zero) and oneDAL stops there even with
``accuracyThreshold=0``; the timing therefore uses iteration counts oneDAL
reliably runs (see :func:`native_counts`) and cross-checks them with
chained one-iteration calls.
``goalFunction`` is the *total* log-likelihood (constant term included) at
the parameters before the last M-step; divided by N it is scikit-learn's
``lower_bound_``.
"""

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import platform
import sys
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.rss import METHOD as RSS_METHOD  # noqa: E402
from benchmarks.rss import measure_peak  # noqa: E402
from benchmarks.timing import per_iteration_time  # noqa: E402

STORAGE = {"full": "full", "diag": "diagonal"}
#: Rows of the untimed warm-up fit run before a memory measurement.
WARMUP_ROWS = 4096


def load_daal4py_core():
    """Import the compiled core of daal4py without the package ``__init__``.

    Returns
    -------
    module
        ``daal4py._daal4py``, which provides ``em_gmm``, ``em_gmm_init``,
        ``daalinit`` and ``num_threads``.

    Raises
    ------
    ImportError
        If daal4py is not installed or its core cannot be loaded.
    """
    spec = importlib.util.find_spec("daal4py")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("daal4py is not installed in this environment")
    shell = types.ModuleType("daal4py")
    shell.__path__ = list(spec.submodule_search_locations)
    sys.modules["daal4py"] = shell
    return importlib.import_module("daal4py._daal4py")


def probe(core):
    """Describe the oneDAL installation.

    Parameters
    ----------
    core : module
        Output of :func:`load_daal4py_core`.

    Returns
    -------
    dict
    """
    return {
        "daal4py_version": importlib.metadata.version("daal4py"),
        "daal_version": importlib.metadata.version("daal"),
        "num_threads": int(core.num_threads()),
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "loaded_via": "daal4py._daal4py (package __init__ skipped)",
    }


def _initial_inputs(params, dtype):
    """Convert the JSON start into em_gmm's weights, means and covariances."""
    n_components = params["n_components"]
    weights = np.asarray(params["weights"], dtype=dtype).reshape(1, n_components)
    means = np.ascontiguousarray(params["means"], dtype=dtype)
    covariances = np.asarray(params["covariances"], dtype=dtype)
    if params["covariance_type"] == "diag":
        covariances = covariances.reshape(n_components, 1, -1)
    return weights, means, [np.ascontiguousarray(c) for c in covariances]


def _summary(result, n_iter, n_samples, data_dtype):
    """Summarise an ``em_gmm_result`` like scikit-learn's fitted attributes."""
    return {
        "n_iter": n_iter,
        "lower_bound": float(result.goalFunction.ravel()[0]) / n_samples,
        "means": np.asarray(result.means, dtype=np.float64).tolist(),
        "dtypes": {"means_": str(result.means.dtype), "data": str(data_dtype)},
    }


def make_runner(core, X, params, chained=False):
    """Build ``run(n_iter)`` fitting ``X`` with oneDAL from the JSON start.

    Parameters
    ----------
    core : module
        Output of :func:`load_daal4py_core`.
    X : ndarray of shape (N, D), float32 or float64
        float32 data is fitted with ``fptype="float"``.
    params : dict
        Parsed ``params.json``.
    chained : bool, default=False
        If False, one ``em_gmm`` call with ``maxIterations=n_iter`` (oneDAL's
        own loop, which may stop early, see the module notes).  If True,
        ``n_iter`` calls with ``maxIterations=1``, each starting from the
        previous call's weights, means and covariances: exactly ``n_iter``
        iterations, plus the per-call overhead.

    Returns
    -------
    callable
        ``run(n_iter) -> dict`` with ``n_iter`` (iterations oneDAL reports),
        ``lower_bound`` (``goalFunction / N``), ``means`` and ``dtypes``.
    """
    storage = STORAGE[params["covariance_type"]]
    fptype = "float" if X.dtype == np.float32 else "double"
    start = _initial_inputs(params, X.dtype)

    def em(max_iterations, weights, means, covariances):
        algorithm = core.em_gmm(
            nComponents=params["n_components"],
            fptype=fptype,
            maxIterations=max_iterations,
            accuracyThreshold=0.0,
            covarianceStorage=storage,
        )
        return algorithm.compute(X, weights, means, covariances)

    def run_native(n_iter):
        result = em(n_iter, *start)
        return _summary(result, int(result.nIterations.ravel()[0]), X.shape[0], X.dtype)

    def run_chained(n_iter):
        weights, means, covariances = start
        done = 0
        for _ in range(n_iter):
            result = em(1, weights, means, covariances)
            done += int(result.nIterations.ravel()[0])
            weights, means, covariances = result.weights, result.means, result.covariances
        return _summary(result, done, X.shape[0], X.dtype)

    return run_chained if chained else run_native


def _time(run, n_short, n_long, params):
    """Call :func:`per_iteration_time` with the repeat settings of ``params``."""
    return per_iteration_time(
        run,
        n_short,
        n_long,
        min_repeats=params["min_repeats"],
        max_repeats=params["max_repeats"],
        min_seconds=params["min_seconds"],
        contention_limit=params.get("contention_limit"),
    )


def native_counts(run, params):
    """Choose iteration counts that oneDAL's own loop runs every time.

    oneDAL always runs two iterations (its first convergence test follows
    the second), a third one if the second raised the log-likelihood, and
    further ones while the gain stays positive.  From a perturbed start the
    second iteration's gain is large, but on well-separated data EM then
    sits at its fixed point and later gains are rounding noise, so whether
    the fourth and later iterations run can change from call to call (it
    does with float32 and threaded reductions).  One probe fit asking for
    ``n_long`` iterations shows where the loop stops (``natural_stop``); if
    that is short of ``n_long`` the counts become ``(1, min(natural_stop, 3))``.

    Returns
    -------
    n_short, n_long, natural_stop : int
    """
    natural_stop = run(params["n_long"])["n_iter"]
    if natural_stop >= params["n_long"]:
        return params["n_short"], params["n_long"], natural_stop
    return 1, min(natural_stop, 3), natural_stop


def time_fits(core, X, params):
    """Time one iteration of oneDAL's own loop and of chained 1-iteration calls.

    Returns
    -------
    dict
        Output of :func:`benchmarks.timing.per_iteration_time` for oneDAL's
        own loop (``per_iter_s`` etc.; ``n_short``/``n_long`` may be lowered,
        see :func:`native_counts`, and drop to ``(1, 2)`` if a timed fit
        still stopped early), plus ``natural_stop``, ``chained`` (the same
        timing for chained calls at the requested counts, whose ``result``
        ran exactly ``n_long`` iterations) and ``num_threads``.
    """
    native = make_runner(core, X, params)
    chained = _time(make_runner(core, X, params, chained=True), params["n_short"], params["n_long"], params)
    n_short, n_long, natural_stop = native_counts(native, params)
    timing = _time(native, n_short, n_long, params)
    if not timing["iterations_ok"] and (n_short, n_long) != (1, 2):
        timing = _time(native, 1, 2, params)
    timing.update(natural_stop=natural_stop, chained=chained, num_threads=int(core.num_threads()))
    return timing


def memory_of_fit(core, X, params):
    """Peak-RSS increase of one ``n_short`` fit after a small warm-up fit.

    Returns
    -------
    dict
        Output of :func:`benchmarks.rss.measure_peak` plus ``method``.
    """
    make_runner(core, np.ascontiguousarray(X[:WARMUP_ROWS]), params)(1)
    run = make_runner(core, X, params)
    memory = measure_peak(lambda: run(params["n_short"]))
    memory["method"] = RSS_METHOD
    return memory


def parse_args(argv=None):
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("probe", "time", "memory"), required=True)
    parser.add_argument("--data", type=Path, help="C-contiguous .npy array (N, D)")
    parser.add_argument("--params", type=Path, help="JSON start and settings")
    args = parser.parse_args(argv)
    if args.mode != "probe" and (args.data is None or args.params is None):
        parser.error("--data and --params are required for --mode time/memory")
    return args


def main(argv=None):
    """Entry point: print one JSON object on stdout."""
    args = parse_args(argv)
    core = load_daal4py_core()
    if args.mode == "probe":
        output = probe(core)
    else:
        params = json.loads(args.params.read_text())
        if params.get("threads"):
            core.daalinit(int(params["threads"]))
        X = np.load(args.data)
        task = time_fits if args.mode == "time" else memory_of_fit
        output = task(core, X, params)
    json.dump(output, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
