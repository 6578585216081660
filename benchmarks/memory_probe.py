"""Measure the peak memory of one in-process peer's fit in a fresh process.

Usage::

    python benchmarks/memory_probe.py --peer sklearn --data X.npy --params params.json

The process imports the peer, loads the data, runs an untimed fit on the
first rows (which compiles any JIT kernels), then reads the peak resident
set size before and after one ``n_short``-iteration fit of the whole data
and prints the result as JSON (see :func:`benchmarks.rss.measure_peak`).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.cases import Case  # noqa: E402
from benchmarks.peers.registry import in_process_peer  # noqa: E402
from benchmarks.rss import METHOD, measure_peak  # noqa: E402

#: Rows of the untimed warm-up fit.
WARMUP_ROWS = 4096


def load_inputs(params_path, data_path):
    """Read the case, its initial parameters and settings, and the data.

    Returns
    -------
    case : Case
    init : dict of ndarray
    settings : dict
    X : ndarray
    """
    params = json.loads(Path(params_path).read_text())
    case = Case(
        params["n_samples"],
        params["n_features"],
        params["n_components"],
        params["covariance_type"],
        params["dtype"],
    )
    init = {key: np.asarray(params[key]) for key in ("weights", "means", "covariances", "precisions")}
    return case, init, params, np.load(data_path)


def main(argv=None):
    """Entry point: print the memory measurement as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--params", type=Path, required=True)
    args = parser.parse_args(argv)

    case, init, settings, X = load_inputs(args.params, args.data)
    peer = in_process_peer(args.peer)
    peer.make_runner(np.ascontiguousarray(X[:WARMUP_ROWS]), init, case)(1)
    run = peer.make_runner(X, init, case)
    memory = measure_peak(lambda: run(settings["n_short"]))
    memory["method"] = METHOD
    json.dump(memory, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
