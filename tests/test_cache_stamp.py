"""A cached kernel is reloaded only while every kernel module is as it was when it was compiled."""

import os
import subprocess
import sys
import textwrap

from gmm_numba._kernels import cache_stamp, linalg
from gmm_numba._kernels.cache_stamp import KERNELS_DIR, kernel_sources_digest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CALLER = """
from numba import njit
from callee import value

@njit(cache=True)
def caller():
    return value()
"""

CALLEE = """
from numba import njit

@njit(cache=True)
def value():
    return {}
"""

RUN = """
import sys
sys.path.insert(0, {folder!r})
if {stamped}:
    from gmm_numba._kernels import cache_stamp
    cache_stamp.KERNELS_DIR = {folder!r}
    cache_stamp._KernelsStamp._digest = None
    cache_stamp.stamp_with_every_kernel_source()
from caller import caller
print(caller())
"""


def test_the_digest_follows_every_source_file_of_the_folder(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    (tmp_path / "notes.txt").write_text("not a source\n")
    first = kernel_sources_digest(str(tmp_path))
    (tmp_path / "notes.txt").write_text("changed\n")
    assert kernel_sources_digest(str(tmp_path)) == first
    (tmp_path / "b.py").write_text("y = 3\n")
    assert kernel_sources_digest(str(tmp_path)) != first


def test_the_package_kernels_carry_the_folder_digest():
    stamp = linalg.precision_cholesky._cache._impl.locator.get_source_stamp()
    assert stamp[1] == kernel_sources_digest(KERNELS_DIR)
    assert any(issubclass(c, cache_stamp._KernelsStamp) for c in cache_stamp.caching.CacheImpl._locator_classes)


def run(folder, cache, stamped):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    done = subprocess.run([sys.executable, "-c", RUN.format(folder=str(folder), stamped=stamped)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()[-1]


def test_an_edited_callee_in_another_file_recompiles_its_cached_callers(tmp_path):
    """Numba's own stamp (the caller's file) reloads the caller with the old callee inside; ours recompiles."""
    for stamped in (False, True):
        folder, cache = tmp_path / f"kernels{stamped}", tmp_path / f"cache{stamped}"
        folder.mkdir()
        (folder / "caller.py").write_text(textwrap.dedent(CALLER))
        (folder / "callee.py").write_text(CALLEE.format(1))
        assert run(folder, cache, stamped) == "1"
        (folder / "callee.py").write_text(CALLEE.format(2))
        assert run(folder, cache, stamped) == ("2" if stamped else "1")
