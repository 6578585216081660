"""Shared plumbing of the peers: in-process timing and JSON subprocesses."""

import json
import subprocess
import sys
from pathlib import Path

from ..timing import per_iteration_time

BENCHMARKS_DIR = Path(__file__).resolve().parents[1]
MEMORY_PROBE = BENCHMARKS_DIR / "memory_probe.py"


class PeerError(RuntimeError):
    """A peer could not produce a measurement for one case."""


def run_json_subprocess(command, timeout, env=None):
    """Run a command that prints one JSON object on its last stdout line.

    Parameters
    ----------
    command : list of str
    timeout : float
        Seconds before the subprocess is killed.
    env : dict, optional
        Environment of the subprocess (default: this process's).

    Returns
    -------
    dict

    Raises
    ------
    PeerError
        If the command fails, times out or prints no JSON.
    """
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, env=env)
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"timed out after {timeout:.0f} s") from exc
    except OSError as exc:
        raise PeerError(f"could not start {command[0]}: {exc}") from exc
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        raise PeerError(f"exit code {done.returncode}: {tail}")
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise PeerError(f"no JSON on stdout: {done.stdout[-200:]!r}") from exc


class InProcessPeer:
    """Base class of peers timed inside the benchmark process.

    Subclasses define ``name``, ``label``, ``availability()``,
    ``supports(case)``, ``info()`` and ``make_runner(X, init, case)``.
    """

    name = "abstract"

    def time_case(self, case, X, init, files, settings):
        """Time one iteration on ``X`` in this process.

        Parameters
        ----------
        case : benchmarks.cases.Case
        X : ndarray of shape (N, D)
        init : dict of ndarray
            Common initial parameters.
        files : benchmarks.run.CaseFiles
            Unused here (the data is already in memory).
        settings : dict
            ``n_short``, ``n_long``, ``min_repeats``, ``max_repeats``,
            ``min_seconds`` and optionally ``contention_limit``.

        Returns
        -------
        dict
            See :func:`benchmarks.timing.per_iteration_time`.
        """
        run = self.make_runner(X, init, case)
        return per_iteration_time(
            run,
            settings["n_short"],
            settings["n_long"],
            min_repeats=settings["min_repeats"],
            max_repeats=settings["max_repeats"],
            min_seconds=settings["min_seconds"],
            contention_limit=settings.get("contention_limit"),
        )

    def memory_case(self, case, files, settings):
        """Measure the peak memory of one fit in a fresh Python process.

        Parameters
        ----------
        case : benchmarks.cases.Case
        files : benchmarks.run.CaseFiles
            ``data`` (.npy) and ``params`` (.json) paths.
        settings : dict
            Needs ``timeout``.

        Returns
        -------
        dict
            See :func:`benchmarks.rss.measure_peak`.
        """
        command = [
            sys.executable,
            str(MEMORY_PROBE),
            "--peer",
            self.name,
            "--data",
            str(files.data),
            "--params",
            str(files.params),
        ]
        return run_json_subprocess(command, settings["timeout"])
