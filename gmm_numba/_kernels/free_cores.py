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
seconds, so a long call follows load that comes and goes. Results never
depend on the number of threads, so the choice only changes speed. Set
``GMM_NUMBA_FREE_CORES_ONLY=0`` to use every thread whatever the load; on
systems without ``/proc`` every core counts as free.

``/proc/loadavg`` counts the runnable threads of the whole machine, so it
says how busy this process's cores are only when the process may run on
all of them. A process confined to some cores (``taskset``, a container's
cpuset, where ``/proc/loadavg`` still shows the host) counts all of its
cores as free instead: the busy threads may be on the others.
"""

import os
import time

#: Seconds a count of free cores is reused before ``/proc`` is read again (a read costs about 40 µs with
#: 3 threads). A process with many threads takes longer to count: the count is then reused for at least
#: ``CHECK_COST_SHARE`` times what it took, so that counting costs at most 2% of the time.
CHECK_INTERVAL = 0.02
CHECK_COST_SHARE = 50

#: Environment variable that turns the check off when set to ``0``.
SWITCH = "GMM_NUMBA_FREE_CORES_ONLY"

_last = (-float("inf"), None, CHECK_INTERVAL)


def usable_cores():
    """Cores this process may run on (its CPU affinity), or ``os.cpu_count()`` where that is unknown."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def runnable_threads_system_wide(path="/proc/loadavg"):
    """Threads of every process that are running or waiting for a core now, or ``None`` if unknown.

    The fourth field of ``/proc/loadavg`` reads ``runnable/total``.
    """
    try:
        with open(path, "rb") as file:
            return int(file.read().split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None


def runnable_threads_of_this_process(task_dir="/proc/self/task"):
    """This process's threads in state ``R`` (running or runnable), or ``None`` if unknown.

    The calling thread is one of them; idle OpenMP workers that still spin
    are others.
    """
    try:
        tasks = os.listdir(task_dir)
    except OSError:
        return None
    running = 0
    for task in tasks:
        try:
            with open(os.path.join(task_dir, task, "stat"), "rb") as file:
                stat = file.read()
        except OSError:  # the thread ended meanwhile
            continue
        # the state follows the command name, which is in parentheses and may hold spaces
        running += stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] == b"R"
    return running


def cores_left(usable, runnable_everywhere, runnable_here):
    """Cores not taken by other processes' runnable threads, at least 1.

    Parameters
    ----------
    usable : int
        Cores this process may run on.
    runnable_everywhere, runnable_here : int or None
        Runnable threads on the whole machine and in this process; ``None``
        (unknown) leaves every usable core free.

    Returns
    -------
    int
    """
    if runnable_everywhere is None or runnable_here is None:
        return usable
    elsewhere = max(0, runnable_everywhere - runnable_here)
    return max(1, usable - elsewhere)


def free_cores():
    """Cores that other processes leave free now, at least 1 (every usable core when the check is off or the
    process may not run on every core of the machine).

    Returns
    -------
    int
    """
    global _last
    usable = usable_cores()
    if os.environ.get(SWITCH, "1") == "0" or usable < (os.cpu_count() or usable):
        return usable
    checked_at, free, reuse_for = _last
    now = time.monotonic()
    if free is None or now - checked_at > reuse_for:
        # this process's threads first: a worker still spinning when /proc/loadavg is read is then counted in both
        here = runnable_threads_of_this_process()
        free = cores_left(usable, runnable_threads_system_wide(), here)
        took = time.monotonic() - now
        _last = (now, free, max(CHECK_INTERVAL, CHECK_COST_SHARE * took))
    return free
