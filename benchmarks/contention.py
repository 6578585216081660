"""Detect other processes competing for the CPU during a measurement.

Timings on a shared machine are only meaningful when nothing else runs.
:class:`CpuMonitor` compares the CPU time the whole machine spent busy
(``/proc/stat``) with the CPU time this process and its waited-for children
used (``os.times``); the difference, as a share of ``wall time x CPUs``, is
the load that came from elsewhere.
"""

import os
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_ticks(path):
    """Clock ticks of the aggregate ``cpu`` line of /proc/stat, or ``None``."""
    try:
        fields = Path(path).read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    return [int(value) for value in fields[1:]]


def machine_busy_seconds(path="/proc/stat"):
    """Return CPU seconds all CPUs spent busy since boot, or ``None``.

    Busy is everything but ``idle`` and ``iowait`` on the aggregate ``cpu``
    line of /proc/stat (so it includes the time stolen by a hypervisor).
    """
    ticks = _cpu_ticks(path)
    if ticks is None:
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    guest = sum(ticks[8:10]) if len(ticks) > 9 else 0  # already counted in user/nice
    return (sum(ticks) - guest - idle) / CLOCK_TICKS


def machine_steal_seconds(path="/proc/stat"):
    """Return CPU seconds a hypervisor gave to other guests since boot, or ``None``.

    This is the ``steal`` column: time this virtual machine's CPUs were
    ready to run but the host ran something else.
    """
    ticks = _cpu_ticks(path)
    if ticks is None or len(ticks) < 8:
        return None
    return ticks[7] / CLOCK_TICKS


def own_cpu_seconds():
    """Return CPU seconds used by this process and its reaped children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class CpuMonitor:
    """Measure the CPU share used by other processes over an interval.

    Examples
    --------
    >>> monitor = CpuMonitor()
    >>> share = monitor.foreign_share()  # since construction
    """

    def __init__(self):
        self.cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        self.reset()

    def reset(self):
        """Start a new interval."""
        self._wall = time.perf_counter()
        self._busy = machine_busy_seconds()
        self._steal = machine_steal_seconds()
        self._own = own_cpu_seconds()

    def foreign_share(self):
        """Share of the machine's CPU capacity used by others since :meth:`reset`.

        Returns
        -------
        float or None
            Between 0 (nothing else ran) and about 1 (all CPUs busy with
            other work); ``None`` where /proc/stat is unreadable.
        """
        busy = machine_busy_seconds()
        if busy is None or self._busy is None:
            return None
        wall = time.perf_counter() - self._wall
        foreign = (busy - self._busy) - (own_cpu_seconds() - self._own)
        return max(0.0, foreign / max(wall * self.cpus, 1e-9))

    def steal_share(self):
        """Share of the machine's CPU capacity stolen by the hypervisor since :meth:`reset`.

        Part of :meth:`foreign_share`; on a virtual machine it is the load of
        other guests on the same host, which no process list shows.

        Returns
        -------
        float or None
            Between 0 and about 1; ``None`` where /proc/stat is unreadable.
        """
        steal = machine_steal_seconds()
        if steal is None or self._steal is None:
            return None
        wall = time.perf_counter() - self._wall
        return max(0.0, (steal - self._steal) / max(wall * self.cpus, 1e-9))


def wait_for_idle(max_wait, threshold=0.1, window=2.0):
    """Wait until other processes use less than ``threshold`` of the CPUs.

    Parameters
    ----------
    max_wait : float
        Give up after this many seconds (0 disables waiting).
    threshold : float, default=0.1
        Acceptable foreign CPU share.
    window : float, default=2.0
        Length of each sampling window, in seconds.

    Returns
    -------
    float
        Seconds waited.
    """
    started = time.perf_counter()
    monitor = CpuMonitor()
    while time.perf_counter() - started < max_wait:
        monitor.reset()
        time.sleep(window)
        share = monitor.foreign_share()
        if share is None or share < threshold:
            break
    return time.perf_counter() - started
