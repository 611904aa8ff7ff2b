#!/usr/bin/env bash
# Create .bench-dvc/ with a pinned DVC release for benchmarks/bench_chunks.py (idempotent).
#
# Usage: bash benchmarks/setup_dvc_venv.sh
#
# DVC gets its own environment: it is a peer the benchmark measures, not a dependency of carnet,
# and it brings a large tree of its own (dvc-data, scmrepo, pygit2, ...). Only the `dvc` CLI of
# this venv is used (`dvc init`, `dvc add`, `dvc config`). The venv is made with the same
# interpreter as the one running this script's `python3` (override with PYTHON=...), so both
# sides of the benchmark use the same Python.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_DVC_VENV:-$ROOT/.bench-dvc}"
PYTHON="${PYTHON:-python3}"
DVC_VERSION='3.67.1'
SPEC="dvc==$DVC_VERSION"

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

check() {
    DVC_VERSION="$DVC_VERSION" "$VENV/bin/python" - <<'PY'
import os
from importlib.metadata import version

v = version("dvc")
assert v == os.environ["DVC_VERSION"], v
print(f"dvc {v} (dvc-data {version('dvc-data')}) ready in the dvc venv")
PY
    DVC_NO_ANALYTICS=1 "$VENV/bin/dvc" --version >/dev/null  # not `dvc version`: it checks for updates
}

if check 2>/dev/null; then
    exit 0
fi
echo "installing $SPEC into $VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "$SPEC"
check
