"""The README's set-up commands are the ones CI runs, and carnet's own imports stay quiet."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", setup, flags=re.S)]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_them_verbatim() -> None:
    commands = _readme_commands()
    assert len(commands) == 2, commands
    install, tests = commands
    assert "carnet quickstart" in install and "pip install" in install
    assert "python -m pytest" in tests and "-c constraints.txt" in tests
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert install in ci_lines and tests in ci_lines
    assert ci_lines.index(install) < ci_lines.index(tests)


def test_ci_builds_a_new_venv_outside_the_clone() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"python3? -m venv \"\$WORK/venv\"", script)
    assert 'mktemp -d "${TMPDIR:-/tmp}' in script
    assert "--system-site-packages" not in script.replace("without --system-site-packages", "")


def test_constraints_pin_every_package_of_the_test_extra() -> None:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    for needed in (
        "pandas",
        "numpy",
        "scikit-learn",
        "s3fs",
        "fsspec",
        "botocore",
        "python-dateutil",
        "pytest",
    ):
        assert needed in pins, needed
    assert int(pins["python-dateutil"].split(".")[0]) < 3  # botocore's bound, chosen on purpose
    assert pins["s3fs"] == pins["fsspec"]  # s3fs releases pin the same fsspec


def test_importing_every_carnet_module_emits_no_warning() -> None:
    code = (
        "import importlib, pkgutil, warnings\n"
        "warnings.simplefilter('error')\n"
        "import carnet\n"
        "for m in pkgutil.walk_packages(carnet.__path__, 'carnet.'):\n"
        "    if '.migrations' not in m.name:  # Alembic's scripts run only under Alembic\n"
        "        importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_cli_help_writes_nothing_to_stderr_with_every_warning_shown() -> None:
    for args in (["--help"], ["runs", "--help"], ["audit", "verify", "--help"]):
        out = subprocess.run(
            [sys.executable, "-W", "default", "-m", "carnet.cli.main", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert out.returncode == 0, out.stderr
        assert out.stderr == "", out.stderr
