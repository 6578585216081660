"""Description of the machine and software the benchmark ran on."""

import datetime
import importlib.metadata
import os
import platform
from pathlib import Path

#: CPU flags worth knowing when comparing vectorised kernels.
INTERESTING_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512dq", "avx512vl")
PACKAGES = ("numpy", "scipy", "scikit-learn", "numba", "llvmlite", "threadpoolctl")


def _cpuinfo_blocks(path="/proc/cpuinfo"):
    """Parse /proc/cpuinfo into one dict per logical CPU (empty if unreadable)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return []
    blocks = []
    for chunk in text.strip().split("\n\n"):
        entry = {}
        for line in chunk.splitlines():
            key, _, value = line.partition(":")
            entry[key.strip()] = value.strip()
        blocks.append(entry)
    return blocks


def cpu_description():
    """Summarise the CPU.

    Returns
    -------
    dict
        ``model`` (``model name`` of /proc/cpuinfo), ``logical_cpus``,
        ``usable_cpus`` (CPU affinity of this process), ``physical_cores``
        (distinct physical id/core id pairs, if listed) and ``flags`` (the
        :data:`INTERESTING_FLAGS` present).
    """
    blocks = _cpuinfo_blocks()
    first = blocks[0] if blocks else {}
    cores = {(b.get("physical id"), b.get("core id")) for b in blocks if "core id" in b}
    flags = set(first.get("flags", "").split())
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "model": first.get("model name", platform.processor() or "unknown"),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "physical_cores": len(cores) or None,
        "flags": [flag for flag in INTERESTING_FLAGS if flag in flags],
    }


def memory_total_gib(path="/proc/meminfo"):
    """Return total RAM in GiB from /proc/meminfo, or ``None``."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def scheduling_priority(path="/proc/self/autogroup"):
    """Describe the benchmark's CPU scheduling priority.

    Returns
    -------
    str
        The process niceness and, where Linux autogroups are in use (nice
        values then only rank processes of the same session), the session's
        autogroup line, e.g. ``nice 0; /autogroup-3 nice -20``.
    """
    text = f"nice {os.nice(0)}"
    try:
        return f"{text}; {Path(path).read_text().strip()}"
    except OSError:
        return text


def package_versions(names=PACKAGES):
    """Return ``{name: version}`` of installed distributions (``None`` if absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def describe_machine():
    """Collect everything the report header shows.

    Returns
    -------
    dict
        ``cpu``, ``memory_gib``, ``platform``, ``python``, ``packages``,
        ``priority`` (see :func:`scheduling_priority`) and ``date`` (UTC,
        ISO 8601).
    """
    return {
        "priority": scheduling_priority(),
        "cpu": cpu_description(),
        "memory_gib": memory_total_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
