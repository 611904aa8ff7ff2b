#!/usr/bin/env bash
# Create .bench-venv/ with MLflow 3 for the benchmarks and the MLflow interop tests (idempotent).
#
# Usage: bash benchmarks/setup_mlflow_venv.sh [--skinny]
#
# By default the full `mlflow` distribution is installed: it is what `pip install mlflow`
# gives a user, and it brings SQLAlchemy and Alembic, which the SQLite tracking backend
# needs. With --skinny, `mlflow-skinny` plus SQLAlchemy and Alembic are installed instead
# (mlflow-skinny does not depend on them, and without them sqlite:/// URIs fail).
# Either way psycopg 3 (pinned) is added: SQLAlchemy 2.1's driver for postgresql:// tracking
# URIs, which MLflow does not install itself.
# The venv is made with the same interpreter as the one running this script's `python`
# (override with PYTHON=...), so both sides of the benchmark use the same Python.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_VENV:-$ROOT/.bench-venv}"
PYTHON="${PYTHON:-python3}"
PG_DRIVER='psycopg[binary]==3.3.9'
SPEC="mlflow>=3,<4 $PG_DRIVER"
if [[ "${1:-}" == "--skinny" ]]; then
    SPEC="mlflow-skinny>=3,<4 sqlalchemy>=2 alembic $PG_DRIVER"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

check() {
    "$VENV/bin/python" - <<'PY'
import mlflow, sqlalchemy, alembic  # noqa: F401  (the SQLite backend needs both)
sqlalchemy.create_engine("postgresql://mlflow@127.0.0.1/mlflow")  # its driver (no connection)
v = mlflow.__version__
assert v.split(".")[0] == "3", v
print(f"mlflow {v} with sqlalchemy {sqlalchemy.__version__} ready in the bench venv")
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
