"""Let LLVM vectorise the kernels with 512-bit registers where the CPU has them.

On CPUs with AVX-512, LLVM's cost model prefers 256-bit vectors: a tuning
flag, ``prefer-256-bit``, set against the clock penalty of early AVX-512
server chips. On the machines these kernels were measured on, turning it
off made one EM pass 10-40% faster (most of all where the exponentials
dominate; see docs/benchmarks.md).

Numba reads its CPU feature string once, when the first Numba function of
the process is defined, and compiles every function with it. So
:func:`prefer_wide_vectors` runs when ``gmm_numba._kernels.config`` is imported,
before any kernel is defined, and its choice holds for the whole process,
other packages' Numba functions included. It changes nothing:

* when the environment variable ``GMM_NUMBA_WIDE_VECTORS`` is ``0``;
* when ``NUMBA_CPU_NAME`` or ``NUMBA_CPU_FEATURES`` is set (the user's choice stands);
* on CPUs without AVX-512;
* when Numba's CPU target is already in use (a Numba function was defined
  before ``gmm_numba`` was imported): then it could no longer take effect.

Cached kernels are keyed by the feature string, so either choice finds its
own cache entries.
"""

import os

#: Set to ``0`` to keep LLVM's default vector width.
ENVIRONMENT_VARIABLE = "GMM_NUMBA_WIDE_VECTORS"

#: What :func:`prefer_wide_vectors` did, in words (shown in benchmark reports).
status = "not decided yet"


def prefer_wide_vectors():
    """Turn off LLVM's preference for 256-bit vectors, when that is safe to do.

    Returns
    -------
    str
        What was done and why; also stored in :data:`status`.
    """
    global status
    status = _decide()
    return status


def _decide():
    if os.environ.get(ENVIRONMENT_VARIABLE, "1").strip() == "0":
        return f"256-bit (LLVM default): {ENVIRONMENT_VARIABLE}=0"
    from numba.core import config

    if config.CPU_NAME is not None or config.CPU_FEATURES is not None:
        return "as set by NUMBA_CPU_NAME / NUMBA_CPU_FEATURES"
    if _numba_target_in_use():
        return "LLVM default: Numba was in use before gmm_numba was imported"
    import llvmlite.binding as llvm

    try:
        features = llvm.get_host_cpu_features()
    except RuntimeError:  # LLVM cannot tell on this platform
        return "LLVM default: the CPU features are unknown"
    if not features.get("avx512f", False):
        return "LLVM default: no AVX-512"
    config.CPU_FEATURES = features.flatten() + ",-prefer-256-bit"
    return "512-bit (AVX-512)"


def _numba_target_in_use():
    """Whether Numba has created its CPU target context (and so fixed its features)."""
    from numba.core.registry import cpu_target

    return "_toplevel_target_context" in vars(cpu_target)
