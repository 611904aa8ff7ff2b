"""Capture of the environment a run executes in: Python, platform, packages, git, command."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["capture_environment", "git_state", "installed_packages"]


@lru_cache(maxsize=1)
def installed_packages() -> dict[str, str]:
    """Installed distributions and their versions (read once per process).

    Names and versions come from the ``NAME-VERSION.dist-info`` folder names on
    ``sys.path`` (what pip writes), which is much faster than parsing every
    METADATA file; other layouts fall back to :mod:`importlib.metadata`.
    """
    out: dict[str, str] = {}
    slow: list[str] = []
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                dist, sep, version = name[: -len(".dist-info")].partition("-")
                if sep and version:
                    out.setdefault(dist.replace("_", "-").lower(), version)
                    continue
            if name.endswith((".dist-info", ".egg-info")):
                slow.append(os.path.join(entry, name))
    if slow:
        from importlib.metadata import PathDistribution  # noqa: PLC0415

        for path in slow:
            found = PathDistribution(Path(path))
            if found.name:
                out.setdefault(found.name.replace("_", "-").lower(), found.version)
    return dict(sorted(out.items()))


@lru_cache(maxsize=16)
def _git_state(cwd: str) -> dict[str, Any] | None:
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(
                ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "dirty": bool(status),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "root": git("rev-parse", "--show-toplevel"),
    }


def git_state(cwd: str | Path | None = None) -> dict[str, Any] | None:
    """Commit, dirty flag and branch of the git work tree at ``cwd`` (None outside a repository).

    Read once per process and folder: a run records the state its process started from.
    """
    return _git_state(str(Path(cwd or os.getcwd()).resolve()))


@lru_cache(maxsize=1)
def _process_facts() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "executable": sys.executable,
    }


def capture_environment(seed: int | None = None) -> dict[str, Any]:
    """Everything needed to say where a run ran and to reproduce it."""
    env: dict[str, Any] = {
        **_process_facts(),
        "command": [sys.executable, *sys.argv],
        "cwd": os.getcwd(),
        "packages": installed_packages(),
    }
    git = git_state()
    if git is not None:
        env["git"] = git
    if seed is not None:
        env["seed"] = seed
    return env
