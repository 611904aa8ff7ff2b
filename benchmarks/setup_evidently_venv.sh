#!/usr/bin/env bash
# Create .bench-evidently-venv/ with Evidently 0.7 for benchmarks/bench_drift.py (idempotent).
#
# Usage: bash benchmarks/setup_evidently_venv.sh
#
# Evidently gets its own environment: it needs pandas < 3, and its DataDriftPreset API is the
# one of the 0.7 line (`from evidently import Report, Dataset, DataDefinition`,
# `from evidently.presets import DataDriftPreset`), which changed across minor versions.
# pyarrow is there to read the benchmark's Parquet files. The venv is made with the same
# interpreter as the one running this script's `python3` (override with PYTHON=...), so every
# side of the benchmark uses the same Python.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_EVIDENTLY_VENV:-$ROOT/.bench-evidently-venv}"
PYTHON="${PYTHON:-python3}"
SPEC='evidently>=0.7,<0.8 pandas<3 pyarrow numpy'

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

check() {
    "$VENV/bin/python" - <<'PY'
import evidently, numpy, pandas, pyarrow
from evidently import DataDefinition, Dataset, Report  # noqa: F401  (the 0.7 API)
from evidently.presets import DataDriftPreset  # noqa: F401
v = evidently.__version__
assert v.split(".")[:2] == ["0", "7"], v
assert int(pandas.__version__.split(".")[0]) < 3, pandas.__version__
print(f"evidently {v} with pandas {pandas.__version__}, numpy {numpy.__version__}, "
      f"pyarrow {pyarrow.__version__} ready in the evidently venv")
PY
}

if check 2>/dev/null; then
    exit 0
fi
echo "installing $SPEC into $VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet $SPEC
check
