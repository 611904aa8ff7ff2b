"""MLflow's client in a process of its own (:mod:`carnet.services.mlflow_worker`), over one
tracking URI: what ``carnet import mlflow`` and ``carnet export mlflow`` talk to. carnet never
imports MLflow, so MLflow can live in another environment (``CARNET_MLFLOW_PYTHON``)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from carnet.errors import InvalidInput

__all__ = ["MlflowError", "MlflowGateway", "mlflow_client", "mlflow_python", "normalise_uri", "shown_uri"]


def normalise_uri(uri: str, *, must_exist: bool = True) -> str:
    """An MLflow tracking URI from what a user typed: ``http(s)://``, ``sqlite:///``, a database
    URL, ``file://`` or a folder / ``.db`` file path. A source must exist (MLflow would create an
    empty one); with ``must_exist=False`` (a destination) a new ``.db`` path or folder is accepted.

    Raises:
        InvalidInput: an empty URI, an unknown scheme or a path where nothing is.
    """
    text = (uri or "").strip()
    if not text:
        raise InvalidInput(
            "the MLflow source is empty: give a tracking URI or an mlruns folder", field="source"
        )
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("http", "https", "postgresql", "mysql", "mssql") or scheme.startswith(
        ("postgresql+", "mysql+", "mssql+")
    ):
        return text
    if scheme == "sqlite":
        db = text.split(":///", 1)[1] if ":///" in text else ""
        if must_exist and db and db != ":memory:" and not Path(db).is_file():
            raise InvalidInput(f"no MLflow database at {db!r}", field="source")
        return text
    if scheme == "file":
        folder = urlsplit(text).path
        if must_exist and not Path(folder).is_dir():
            raise InvalidInput(f"no MLflow folder at {folder!r}", field="source")
        return text
    if scheme and len(scheme) > 1:
        raise InvalidInput(
            f"unknown MLflow source scheme {scheme!r}: use http(s)://, sqlite:///, postgresql://, "
            "file:// or a folder",
            field="source",
        )
    path = Path(text).expanduser()
    if path.is_dir():
        return path.resolve().as_uri()
    if path.is_file() or (not must_exist and path.suffix in (".db", ".sqlite")):
        return f"sqlite:///{path.resolve()}"
    if not must_exist:
        return path.resolve().as_uri()
    raise InvalidInput(f"no MLflow store at {text!r} (a folder, a .db file or a URI)", field="source")


def shown_uri(uri: str) -> str:
    """``uri`` without a password (what is recorded in tags and audit events)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class _Obj(dict[str, Any]):
    """A JSON object from the MLflow worker: a dict whose keys are also attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return _Obj({k: _wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class MlflowError(InvalidInput):
    """MLflow refused or failed a request (its message, one line)."""


def mlflow_python() -> str:
    """The Python that runs MLflow's client: ``CARNET_MLFLOW_PYTHON``, else this one when MLflow
    is installed here.

    Raises:
        InvalidInput: neither (the message names the extra to install).
    """
    chosen = os.environ.get("CARNET_MLFLOW_PYTHON", "").strip()
    if chosen:
        if not Path(chosen).is_file():
            raise InvalidInput(f"CARNET_MLFLOW_PYTHON={chosen!r} is not a file", field="source")
        return chosen
    try:
        found = importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InvalidInput(
            "MLflow interoperability needs MLflow's client: pip install 'carnet[mlflow]' (or set "
            "CARNET_MLFLOW_PYTHON to a Python that has MLflow 3)",
            field="source",
        )
    return sys.executable


class MlflowGateway:
    """MLflow's public client over one tracking URI, run in its own process
    (:mod:`carnet.services.mlflow_worker`): carnet never imports MLflow, so MLflow can live in
    another environment. Calls are answered in order (thread-safe)."""

    def __init__(self, uri: str, python: str | None = None) -> None:
        self.uri = uri
        self._lock = threading.Lock()
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the worker's stderr, closed by close()
        worker = Path(__file__).with_name("mlflow_worker.py")
        env = dict(os.environ)
        if uri.startswith("file:"):  # MLflow 3.7+ opens an mlruns folder only when asked to
            env["MLFLOW_ALLOW_FILE_STORE"] = "true"
        self._proc = subprocess.Popen(
            [python or mlflow_python(), str(worker), uri],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            encoding="utf-8",
        )
        self.version = str(self.call("ping")["mlflow"])

    def call(self, op: str, **args: Any) -> Any:
        """Run one operation of the worker; its answer, attributes readable as fields."""
        return _wrap(self.call_plain(op, **args))

    def call_plain(self, op: str, **args: Any) -> Any:
        """Run one operation of the worker; its answer as plain JSON values (large answers)."""
        with self._lock:
            stdin, stdout = self._proc.stdin, self._proc.stdout
            assert stdin is not None and stdout is not None
            try:
                stdin.write(json.dumps({"op": op, "args": args}) + "\n")
                stdin.flush()
            except (BrokenPipeError, OSError):
                pass
            line = stdout.readline()
        if not line:
            self._log.seek(0)
            tail = self._log.read().decode("utf-8", "replace").strip().splitlines()
            raise MlflowError(
                f"the MLflow client stopped: {tail[-1] if tail else 'no message'}", field="source"
            )
        answer = json.loads(line)
        if "error" in answer:
            first = str(answer["error"]).strip().splitlines() or [str(answer.get("kind"))]
            raise MlflowError(f"MLflow ({shown_uri(self.uri)}): {first[0]}", field="source")
        return answer["ok"]

    def close(self) -> None:
        """Stop the worker."""
        if self._proc.poll() is None:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()


def mlflow_client(uri: str, *, must_exist: bool = True, python: str | None = None) -> MlflowGateway:
    """A gateway to MLflow's client over ``uri`` (tracking and registry), checked to answer.

    Raises:
        InvalidInput: no MLflow to run, or the source does not answer.
    """
    executable = python or mlflow_python()
    target = normalise_uri(uri, must_exist=must_exist)
    if target.lower().startswith(("http://", "https://")):
        import httpx

        try:
            httpx.get(target.rstrip("/") + "/health", timeout=5.0)
        except httpx.HTTPError as exc:
            raise InvalidInput(f"cannot reach the MLflow server at {target}: {exc}", field="source") from None
    try:
        return MlflowGateway(target, executable)
    except MlflowError as exc:
        raise InvalidInput(
            f"cannot read MLflow source {shown_uri(target)}: {exc.message}", field="source"
        ) from None
