"""The package imports light and loads xarray-based parts on first use."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_python(code):
    """Run ``code`` in a fresh interpreter with the checkout on the path; return its stdout."""
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()


def test_import_does_not_load_xarray_pandas_or_the_optimiser():
    out = run_python(
        """
        import sys
        import gmm_numba
        print(sorted(m for m in ("xarray", "pandas", "scipy.optimize") if m in sys.modules))
        """
    )
    assert out == "[]"


@pytest.mark.parametrize(
    "imports",
    ["import xarray as xr\nimport gmm_numba", "import gmm_numba\nimport xarray as xr"],
    ids=["xarray-first", "xarray-last"],
)
def test_accessor_is_registered_whatever_the_import_order(imports):
    out = run_python(imports + '\nprint(hasattr(xr.DataArray, "gmm"), hasattr(xr.Dataset, "gmm"))')
    assert out == "True True"


def test_lazy_names_are_the_functions_even_after_their_modules_load():
    out = run_python(
        """
        import gmm_numba
        import gmm_numba.results.summary as summary_module
        import gmm_numba.bootstrap
        from gmm_numba import select
        print(callable(gmm_numba.summary), gmm_numba.summary.__name__, gmm_numba.bootstrap.__name__)
        print(select is gmm_numba.selection.select, "load" in dir(gmm_numba))
        try:
            gmm_numba.no_such_name
        except AttributeError as error:
            print(error)
        """
    )
    assert out.splitlines() == [
        "True summary bootstrap",
        "True True",
        "module 'gmm_numba' has no attribute 'no_such_name'",
    ]


@pytest.mark.parametrize(
    "preset, expected",
    [({}, "10000"), ({"GOMP_SPINCOUNT": "5"}, "5"), ({"OMP_WAIT_POLICY": "PASSIVE"}, None)],
)
def test_importing_the_kernels_shortens_openmps_idle_spin_unless_the_user_chose(preset, expected):
    env = {key: value for key, value in os.environ.items() if key not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env.update(preset)
    code = "import os, gmm_numba._kernels.config; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(expected)
