"""Cores that other processes leave free right now, so that a call starts no more threads than that.

On a machine shared with other busy processes, a parallel loop on as many
threads as there are cores waits at every join for the thread the scheduler
has set aside: beside one spinning process on 2 cores, a 10^5-row fit on 2
threads took 1.49x as long as on 1 (docs/benchmarks.md, seventeenth session).
So before the threaded kernels run, :func:`free_cores` counts the threads
of other processes that are running or waiting for a core (Linux's
``/proc/loadavg`` less this process's own runnable threads) and
``config.at_most_threads`` uses no more threads than the cores left over.

The count is a snapshot, refreshed at most every :data:`CHECK_INTERVAL`
seconds, so that each threaded pass of a long call follows load that comes
and goes. Results never depend on the number of threads, so the choice only
changes speed. Set ``GMM_NUMBA_FREE_CORES_ONLY=0`` to use every thread
whatever the load; on systems without ``/proc`` nothing is counted.

``/proc/loadavg`` counts the runnable threads of the whole machine, so it
says how busy this process's cores are only when the process may run on
all of them. A process confined to some cores (``taskset``, a container's
cpuset, where ``/proc/loadavg`` still shows the host) is not limited: the
busy threads may be on the other cores.
"""

import os
import sys
import time

#: Seconds a count of free cores is reused before ``/proc`` is read again (a read costs about 40 µs with
#: 3 threads). A process with many threads takes longer to count: the count is then reused for at least
#: ``CHECK_COST_SHARE`` times what it took, so that counting costs at most 2% of the time.
CHECK_INTERVAL = 0.02
CHECK_COST_SHARE = 50

#: Environment variable that turns the check off when set to ``0``.
SWITCH = "GMM_NUMBA_FREE_CORES_ONLY"

#: What :func:`free_cores` returns when it sets no limit.
NO_LIMIT = sys.maxsize

LOADAVG = "/proc/loadavg"

_HAS_PROC = os.path.exists(LOADAVG)
_clock = time.monotonic
_last = (-float("inf"), None, CHECK_INTERVAL)


def machine_cores():
    """Cores of the machine that are online (``os.cpu_count()`` where the system does not say).

    Returns
    -------
    int
    """
    try:
        return int(os.sysconf("SC_NPROCESSORS_ONLN"))
    except (AttributeError, ValueError, OSError):
        return os.cpu_count() or 1


def process_cores():
    """Cores this process may run on: the CPU affinity of any of its threads (the machine's where unknown).

    Any thread's, not only the caller's: an OpenMP runtime or a library may bind one thread to one core.

    Returns
    -------
    int
    """
    try:
        allowed = set()
        for task in os.listdir("/proc/self/task"):
            allowed |= os.sched_getaffinity(int(task))
        return len(allowed) or machine_cores()
    except (AttributeError, OSError, ValueError):
        return machine_cores()


def read_small_file(path):
    """The first 4 KiB of the file at ``path``: all of a ``/proc`` status file.

    ``os.open`` and ``os.read`` rather than ``open``: the refresh of :func:`free_cores` reads one file per thread,
    and a buffered file object cost several times the read itself.

    Raises
    ------
    OSError
        When the file cannot be read (a thread that ended meanwhile, no ``/proc``).
    """
    descriptor = os.open(path, os.O_RDONLY)
    try:
        return os.read(descriptor, 4096)
    finally:
        os.close(descriptor)


def runnable_threads_system_wide(path=LOADAVG):
    """Threads of every process that are running or waiting for a core now.

    Parameters
    ----------
    path : str
        The fourth field of this file (``/proc/loadavg``) reads ``runnable/total``.

    Returns
    -------
    int or None
        None when unknown.
    """
    try:
        return int(read_small_file(path).split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None


def runnable_threads_of_this_process(task_dir="/proc/self/task"):
    """This process's threads in state ``R`` (running or runnable): the caller, and OpenMP workers still spinning.

    Parameters
    ----------
    task_dir : str
        One folder per thread, each with a ``stat`` file.

    Returns
    -------
    int or None
        None when unknown.
    """
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        return None
    running = 0
    for task in tasks:
        try:
            stat = read_small_file(f"{task_dir}/{task}/stat")
        except OSError:  # the thread ended meanwhile
            continue
        # the state follows the command name, which is in parentheses and may hold spaces
        end_of_name = stat.rfind(b")")
        if end_of_name < 0:
            return None
        running += stat[end_of_name + 2 : end_of_name + 3] == b"R"
    return running


def cores_left(cores, runnable_everywhere, runnable_here):
    """Cores not taken by other processes' runnable threads, at least 1.

    Parameters
    ----------
    cores : int
        The machine's cores.
    runnable_everywhere, runnable_here : int or None
        Runnable threads on the whole machine and in this process; ``None``
        (unknown) sets no limit.

    Returns
    -------
    int
        :data:`NO_LIMIT` when a count is unknown.
    """
    if runnable_everywhere is None or runnable_here is None:
        return NO_LIMIT
    elsewhere = max(0, runnable_everywhere - runnable_here)
    return max(1, cores - elsewhere)


def free_cores():
    """Cores that other processes leave free now, at least 1.

    Returns
    -------
    int
        :data:`NO_LIMIT` when the check is off, the system has no
        ``/proc/loadavg``, or the process may not run on every core of the
        machine.
    """
    global _last
    if not _HAS_PROC or os.environ.get(SWITCH, "1") == "0":
        return NO_LIMIT
    checked_at, free, reuse_for = _last
    now = _clock()
    if free is None or now - checked_at > reuse_for:
        cores = machine_cores()
        if process_cores() < cores:
            free = NO_LIMIT
        else:
            # this process's threads first: a worker still spinning when /proc/loadavg is read is then counted
            # in both
            here = runnable_threads_of_this_process()
            free = cores_left(cores, runnable_threads_system_wide(), here)
        _last = (now, free, max(CHECK_INTERVAL, CHECK_COST_SHARE * (_clock() - now)))
    return free
