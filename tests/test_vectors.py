"""The vector-width choice made when gmm_numba is imported (gmm_numba._kernels.vectors),
checked in fresh interpreters because Numba fixes it once per process."""

import json
import os
import subprocess
import sys

import llvmlite.binding as llvm
import pytest

PROBE = """
import json, sys
{before}
import gmm_numba
from gmm_numba._kernels import vectors as _vectors
from numba.core import config
print(json.dumps({{"status": _vectors.status, "features": config.CPU_FEATURES}}))
"""

HAS_AVX512 = bool(llvm.get_host_cpu_features().get("avx512f", False))


def probe(before="", **env):
    environment = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")}
    environment.pop("GMM_NUMBA_WIDE_VECTORS", None)
    environment.update(env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(before=before)],
        env=environment, capture_output=True, text=True, timeout=120, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_default_turns_off_the_256_bit_preference_on_avx512_cpus():
    result = probe()
    if HAS_AVX512:
        assert result["status"] == "512-bit (AVX-512)"
        assert result["features"].endswith(",-prefer-256-bit")
        # the rest is exactly the host's feature string, which Numba would use anyway
        assert result["features"][: -len(",-prefer-256-bit")] == llvm.get_host_cpu_features().flatten()
    else:
        assert result["status"] == "LLVM default: no AVX-512"
        assert result["features"] is None


def test_environment_variable_opts_out():
    result = probe(GMM_NUMBA_WIDE_VECTORS="0")
    assert result["features"] is None
    assert "GMM_NUMBA_WIDE_VECTORS=0" in result["status"]


def test_users_numba_cpu_features_stand():
    result = probe(NUMBA_CPU_FEATURES="+avx2")
    assert result["features"] == "+avx2"
    assert "NUMBA_CPU_FEATURES" in result["status"]


@pytest.mark.skipif(not HAS_AVX512, reason="the choice is only made on AVX-512 CPUs")
def test_too_late_when_numba_was_used_first():
    before = "import numba\n@numba.njit\ndef f(x):\n    return x\n"
    result = probe(before=before)
    assert result["features"] is None
    assert "before gmm_numba was imported" in result["status"]
