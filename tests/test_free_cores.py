"""The threaded kernels use no more threads than other processes leave cores free."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest

from gmm_numba._kernels import config, free_cores


@pytest.mark.parametrize(
    "cores, everywhere, here, expected",
    [
        (2, 1, 1, 2),  # only the caller runs
        (2, 2, 1, 1),  # one busy process elsewhere
        (2, 3, 2, 1),  # ... while one of our workers still spins
        (2, 5, 1, 1),  # more busy processes than cores: still one thread
        (8, 4, 1, 5),
        (4, None, 1, free_cores.NO_LIMIT),  # unknown: no limit
        (4, 3, None, free_cores.NO_LIMIT),
        (2, 1, 3, 2),  # our own threads are never counted against us
    ],
)
def test_cores_left_subtracts_other_processes_runnable_threads(cores, everywhere, here, expected):
    assert free_cores.cores_left(cores, everywhere, here) == expected


def test_the_system_wide_count_is_the_runnable_field_of_loadavg(tmp_path):
    good = tmp_path / "loadavg"
    good.write_text("0.40 0.88 0.96 3/110 22462\n")
    assert free_cores.runnable_threads_system_wide(str(good)) == 3
    bad = tmp_path / "bad"
    bad.write_text("0.40 0.88\n")
    assert free_cores.runnable_threads_system_wide(str(bad)) is None
    assert free_cores.runnable_threads_system_wide(str(tmp_path / "missing")) is None


def test_this_process_count_reads_each_threads_state_after_its_name(tmp_path):
    states = {"1": "R", "2": "S", "3": "R", "4": "D"}
    for task, state in states.items():
        (tmp_path / task).mkdir()
        # a command name may hold spaces and parentheses; the state follows the last ")"
        (tmp_path / task / "stat").write_text(f"{task} (a) R b) {state} 1 2 3\n")
    (tmp_path / "5").mkdir()  # a thread that ended between listing and reading
    assert free_cores.runnable_threads_of_this_process(str(tmp_path)) == 2
    assert free_cores.runnable_threads_of_this_process(str(tmp_path / "missing")) is None
    (tmp_path / "6").mkdir()
    (tmp_path / "6" / "stat").write_text("")  # unreadable as a stat line: unknown, not an error
    assert free_cores.runnable_threads_of_this_process(str(tmp_path)) is None


@pytest.fixture
def fresh_count(monkeypatch):
    monkeypatch.setattr(free_cores, "_last", (-float("inf"), None, free_cores.CHECK_INTERVAL))
    monkeypatch.delenv(free_cores.SWITCH, raising=False)


@pytest.fixture
def on_every_core(fresh_count, monkeypatch):
    """As if the process may run on every core of the machine, where the check applies."""
    monkeypatch.setattr(free_cores, "_HAS_PROC", True)
    monkeypatch.setattr(free_cores, "machine_cores", lambda: 2)
    monkeypatch.setattr(free_cores, "process_cores", lambda: 2)


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="needs Linux's /proc")
def test_a_busy_process_elsewhere_is_seen(fresh_count):
    if free_cores.process_cores() < free_cores.machine_cores():
        pytest.skip("this process may not run on every core (see test_a_process_confined_to_some_cores...)")
    spinner = subprocess.Popen(
        [sys.executable, "-c", "import sys; print('ready', flush=True)\nwhile True: pass"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert spinner.stdout.readline().strip() == "ready"
        everywhere = free_cores.runnable_threads_system_wide()
        here = free_cores.runnable_threads_of_this_process()
        assert here >= 1
        # the spinner is running or waiting for a core, never asleep
        assert everywhere - here >= 1
        assert free_cores.free_cores() <= max(1, free_cores.machine_cores() - 1)
    finally:
        spinner.kill()
        spinner.wait()


def test_the_count_is_reused_for_the_check_interval(on_every_core, monkeypatch):
    reads = []
    monkeypatch.setattr(free_cores, "runnable_threads_system_wide", lambda: reads.append(1) or 1)
    monkeypatch.setattr(free_cores, "runnable_threads_of_this_process", lambda: 1)
    monkeypatch.setattr(free_cores, "CHECK_INTERVAL", 3600.0)
    free_cores.free_cores()
    free_cores.free_cores()
    assert len(reads) == 1
    monkeypatch.setattr(free_cores, "CHECK_INTERVAL", -1.0)
    monkeypatch.setattr(free_cores, "_last", free_cores._last[:2] + (-1.0,))
    free_cores.free_cores()
    assert len(reads) == 2


def test_a_slow_count_is_reused_for_fifty_times_what_it_took(on_every_core, monkeypatch):
    """In a process with many threads, reading each one's state takes longer; counting stays a small share."""
    clock = iter([100.0, 100.01, 100.2, 100.4, 100.52, 100.53])
    monkeypatch.setattr(free_cores, "_clock", lambda: next(clock))
    reads = []
    monkeypatch.setattr(free_cores, "runnable_threads_system_wide", lambda: reads.append(1) or 1)
    monkeypatch.setattr(free_cores, "runnable_threads_of_this_process", lambda: 1)
    free_cores.free_cores()  # at 100.0, took 0.01 s: reused until 100.5
    free_cores.free_cores()  # 100.2
    free_cores.free_cores()  # 100.4
    assert len(reads) == 1
    free_cores.free_cores()  # 100.52: counted again
    assert len(reads) == 2


def test_the_switch_turns_the_check_off(on_every_core, monkeypatch):
    monkeypatch.setattr(free_cores, "runnable_threads_system_wide", lambda: 1000)
    monkeypatch.setattr(free_cores, "runnable_threads_of_this_process", lambda: 1)
    assert free_cores.free_cores() == 1
    monkeypatch.setenv(free_cores.SWITCH, "0")
    assert free_cores.free_cores() == free_cores.NO_LIMIT


def test_a_process_confined_to_some_cores_is_not_limited(on_every_core, monkeypatch):
    """``/proc/loadavg`` counts the whole machine's runnable threads, which may run on the other cores."""
    monkeypatch.setattr(free_cores, "CHECK_INTERVAL", -1.0)
    monkeypatch.setattr(free_cores, "runnable_threads_system_wide", lambda: 1000)
    monkeypatch.setattr(free_cores, "runnable_threads_of_this_process", lambda: 1)
    monkeypatch.setattr(free_cores, "machine_cores", lambda: 64)
    monkeypatch.setattr(free_cores, "process_cores", lambda: 4)
    assert free_cores.free_cores() == free_cores.NO_LIMIT
    monkeypatch.setattr(free_cores, "_last", free_cores._last[:2] + (-1.0,))
    monkeypatch.setattr(free_cores, "process_cores", lambda: 64)
    assert free_cores.free_cores() == 1


def test_the_process_cores_are_those_any_of_its_threads_may_use():
    """An OpenMP runtime may bind the calling thread to one core; the others still count."""
    import threading

    if not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores and Linux's affinity calls")
    everything = os.sched_getaffinity(0)
    bound, release = threading.Event(), threading.Event()

    def pinned():
        os.sched_setaffinity(0, {min(everything)})
        bound.set()
        release.wait(10)

    worker = threading.Thread(target=pinned)
    worker.start()
    try:
        assert bound.wait(10)
        assert free_cores.process_cores() == len(everything)
    finally:
        release.set()
        worker.join()


@pytest.mark.skipif(not os.path.exists("/proc/loadavg"), reason="needs Linux's /proc")
def test_without_proc_nothing_is_limited(fresh_count, monkeypatch):
    monkeypatch.setattr(free_cores, "_HAS_PROC", False)
    assert free_cores.free_cores() == free_cores.NO_LIMIT


@pytest.mark.parametrize("free", [1, 2, 64, free_cores.NO_LIMIT])
def test_kernels_run_on_no_more_threads_than_are_free_and_never_more_than_before(monkeypatch, free):
    monkeypatch.setattr(config, "free_cores", lambda: free)
    before = numba.get_num_threads()
    with config.at_most_threads(1000):
        inside = numba.get_num_threads()
    assert inside == max(1, min(before, free))
    assert numba.get_num_threads() == before


def test_one_task_needs_no_count(monkeypatch):
    monkeypatch.setattr(config, "free_cores", lambda: pytest.fail("counted for a single task"))
    with config.at_most_threads(1):
        assert numba.get_num_threads() == 1


def test_a_fit_on_fewer_free_cores_is_the_same_fit(monkeypatch):
    if numba.get_num_threads() < 2:
        pytest.skip("needs two threads")
    rng = np.random.default_rng(3)
    # above config.COMPILED_RUN_MAX_WORK, so that each iteration is a threaded pass
    X = np.concatenate([rng.normal(size=(15000, 5)), rng.normal(4.0, size=(15000, 5))])
    import gmm_numba

    def fitted():
        model = gmm_numba.GaussianMixture(4, covariance_type="full", random_state=0, max_iter=20).fit(X)
        return model.means_, model.covariances_, model.lower_bound_

    monkeypatch.setattr(config, "free_cores", lambda: 64)
    all_cores = fitted()
    monkeypatch.setattr(config, "free_cores", lambda: 1)
    one_core = fitted()
    for a, b in zip(all_cores, one_core):
        assert np.array_equal(a, b)
