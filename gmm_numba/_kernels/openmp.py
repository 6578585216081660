"""How long OpenMP's idle threads spin before they sleep.

Between two parallel loops, GNU OpenMP's threads wait for work by spinning
(by default 300,000 rounds) before they sleep. On a machine where another
busy process shares the cores, a spinning thread holds a core that the
thread still computing, or the other process, needs: on 2 cores beside one
busy process a model-selection sweep on 2 threads took 0.72-0.92 s against
0.72 s on one thread, and a Python-driven fit's E-step (10^4 x 5, K = 9)
3.2-4.2 ms against 0.59 ms. Sleeping at once (``OMP_WAIT_POLICY=PASSIVE``)
costs the wake-up every time on an idle machine (that E-step 0.86 ms against
0.42 ms). A short spin keeps most of both: 10,000 rounds gave the sweep
0.64-0.73 s loaded, 0.49-0.57 s idle (0.47-0.56 s by default) and the E-step
1.4-1.5 ms loaded, 0.43-0.45 ms idle (docs/benchmarks.md, eleventh session).
"""

import os

#: Spin rounds of an idle OpenMP thread before it sleeps (``GOMP_SPINCOUNT``).
SPIN_COUNT = 10_000


def limit_idle_spinning():
    """Set ``GOMP_SPINCOUNT`` to :data:`SPIN_COUNT` unless the user chose a spin count or wait policy.

    OpenMP reads it once, when its runtime loads (Numba loads it at the
    first parallel kernel call), so this must run before that; a process that
    already ran OpenMP code keeps its setting.
    """
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
