"""``import carnet`` is cheap: no I/O, no heavy library, no settings read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = [
    "sqlalchemy",
    "alembic",
    "pandas",
    "numpy",
    "sklearn",
    "pyarrow",
    "fsspec",
    "click",
    "rich",
    "blake3",
]


def test_import_loads_nothing_heavy_and_writes_nothing(tmp_path: Path) -> None:
    code = f"import sys, json, carnet; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    env = {"PATH": "/usr/bin:/bin", "CARNET_URI": str(tmp_path / "should-not-exist")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(out.stdout) == []
    assert list(tmp_path.iterdir()) == []


def test_public_names_resolve_lazily() -> None:
    import carnet

    for name in carnet.__all__:
        assert getattr(carnet, name) is not None, name
    assert callable(carnet.start_run)
    assert carnet.errors.CarnetError.__name__ == "CarnetError"
