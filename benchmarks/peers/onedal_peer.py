"""Intel oneDAL's ``em_gmm`` (via daal4py) as an optional benchmark peer.

daal4py lives in its own virtual environment (``benchmarks/setup_onedal.sh``)
and is driven through :mod:`benchmarks.peers.onedal_worker` in a subprocess
that reads the case's ``.npy`` data and ``params.json``.  When that
environment is missing the peer reports itself unavailable; the table shows
"n/a" and the suite continues.
"""

import os
from pathlib import Path

from .base import PeerError, run_json_subprocess

WORKER = Path(__file__).resolve().with_name("onedal_worker.py")
DEFAULT_VENV = "/work/benchenv-daal"
#: Environment variable naming the oneDAL virtual environment.
VENV_VARIABLE = "GMM_BENCH_ONEDAL_VENV"
PROBE_TIMEOUT = 120.0


def default_python():
    """Return the interpreter of the oneDAL venv (``$GMM_BENCH_ONEDAL_VENV``)."""
    venv = Path(os.environ.get(VENV_VARIABLE, DEFAULT_VENV))
    return venv / "bin" / "python"


class OnedalPeer:
    """Time ``daal4py.em_gmm`` in a subprocess of another interpreter.

    Parameters
    ----------
    python : str or Path, optional
        Interpreter with daal4py installed; default :func:`default_python`.
    """

    name = "onedal"
    label = "oneDAL"

    def __init__(self, python=None):
        self.python = Path(python) if python else default_python()
        self._probe = None
        self._unavailable = None

    def _command(self, mode, files=None):
        """Build the worker command line."""
        command = [str(self.python), str(WORKER), "--mode", mode]
        if files is not None:
            command += ["--data", str(files.data), "--params", str(files.params)]
        return command

    def availability(self):
        """Return ``None`` if the worker runs, else the reason it does not."""
        if self._probe is None and self._unavailable is None:
            if not self.python.exists():
                self._unavailable = f"no interpreter at {self.python} (run benchmarks/setup_onedal.sh)"
            else:
                try:
                    self._probe = run_json_subprocess(self._command("probe"), PROBE_TIMEOUT)
                except PeerError as exc:
                    self._unavailable = f"daal4py probe failed: {exc}"
        return self._unavailable

    def supports(self, case):
        """Return ``None`` for full/diag covariances, else why not."""
        if case.covariance_type in ("full", "diag"):
            return None
        return f"em_gmm has no {case.covariance_type!r} covariance"

    def info(self):
        """Return the worker's probe (versions, threads) and interpreter."""
        return dict(self._probe or {}, python_executable=str(self.python))

    def time_case(self, case, X, init, files, settings):
        """Time one iteration in the worker; see ``onedal_worker.time_fits``."""
        return run_json_subprocess(self._command("time", files), settings["timeout"])

    def memory_case(self, case, files, settings):
        """Measure one fit's peak memory in the worker (a fresh process)."""
        return run_json_subprocess(self._command("memory", files), settings["timeout"])
