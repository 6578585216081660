"""Peers timed by the benchmark suite.

Every in-process peer exposes ``name``, ``label``, ``availability()``,
``supports(case)``, ``info()`` and ``make_runner(X, init, case)``; the
oneDAL peer offers the same methods but runs its EM in a subprocess.
"""
