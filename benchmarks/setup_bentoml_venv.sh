#!/usr/bin/env bash
# Create .bench-bento-venv/ with BentoML 1.x, scikit-learn and pandas for
# benchmarks/bench_serving.py (idempotent).
#
# Usage: bash benchmarks/setup_bentoml_venv.sh
#
# scikit-learn is pinned to the version of the interpreter running this script's `python`
# (override with PYTHON=...), when it has one, so that the BentoML service fits the same
# pipeline as the other servers of the benchmark. The venv is made with that same interpreter.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BENCH_BENTO_VENV:-$ROOT/.bench-bento-venv}"
PYTHON="${PYTHON:-python3}"
SKLEARN="$("$PYTHON" -c 'import sklearn; print(sklearn.__version__)' 2>/dev/null || true)"
SPEC="bentoml>=1.4,<2 pandas scikit-learn${SKLEARN:+==$SKLEARN}"

if [[ ! -x "$VENV/bin/python" ]]; then
    echo "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi

check() {
    SKLEARN="$SKLEARN" "$VENV/bin/python" - <<'PY'
import os
import bentoml, pandas, sklearn
want = os.environ.get("SKLEARN")
assert bentoml.__version__.split(".")[0] == "1", bentoml.__version__
assert not want or sklearn.__version__ == want, (sklearn.__version__, want)
print(f"bentoml {bentoml.__version__} with scikit-learn {sklearn.__version__}, "
      f"pandas {pandas.__version__} ready in the bento venv")
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
