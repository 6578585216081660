#!/usr/bin/env bash
# Create the optional virtual environment of the Intel oneDAL peer.
#
# Usage: bash benchmarks/setup_onedal.sh [VENV_DIR]
#
# VENV_DIR defaults to $GMM_BENCH_ONEDAL_VENV, else /work/benchenv-daal, the
# place benchmarks/run.py looks in (override there with --onedal-python or
# the same variable).  daal4py gets its own environment because it pins its
# own numpy and its scikit-learn patching module does not import against
# current scikit-learn; the benchmark only uses its compiled core
# (daal4py._daal4py.em_gmm) through benchmarks/peers/onedal_worker.py.
# Nothing else needs this script: without the environment the oneDAL column
# of the report reads "n/a".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-${GMM_BENCH_ONEDAL_VENV:-/work/benchenv-daal}}"
python="${PYTHON:-python3}"
daal4py_spec="${DAAL4PY_SPEC:-daal4py==2024.7.0}"

"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
# daal4py pulls in daal, tbb and a numpy wheel it is compatible with.
"$venv/bin/python" -m pip install --quiet "$daal4py_spec"
# Prove the worker can load em_gmm; prints versions and thread count as JSON.
"$venv/bin/python" "$here/peers/onedal_worker.py" --mode probe
echo "oneDAL peer ready: $venv/bin/python"
