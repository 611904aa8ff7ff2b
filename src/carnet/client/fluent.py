"""The fluent tracking API: ``with carnet.start_run(...) as run: run.log_metric(...)``.

Metric values are buffered and written in batches (see ``carnet.client.buffer``
for the durability contract); everything else is written when called.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from carnet.client.api import ClientAPI
from carnet.client.buffer import MetricBuffer, Param, split
from carnet.client.connect import connect
from carnet.client.environment import capture_environment
from carnet.domain import Artifact, DatasetVersion, Run, RunInput, RunStatus
from carnet.domain.runs import check_params_unchanged
from carnet.domain.validation import check_key, param_value
from carnet.errors import Conflict, InvalidInput
from carnet.services.tracking import TrackingService

__all__ = [
    "ActiveRun",
    "active_run",
    "end_run",
    "flush",
    "log_artifact",
    "log_dataset",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_seed",
    "set_tag",
    "start_run",
]

_STACK: list[ActiveRun] = []
_STACK_LOCK = threading.RLock()
_CLIENTS: dict[tuple[str | None, str | None], tuple[ClientAPI, MetricBuffer]] = {}


def _client_for(uri: str | None, artifacts: str | None) -> tuple[ClientAPI, MetricBuffer]:
    key = (uri or os.environ.get("CARNET_URI"), artifacts or os.environ.get("CARNET_ARTIFACTS"))
    with _STACK_LOCK:
        if key not in _CLIENTS:
            client = connect(uri, artifacts=artifacts)
            buf = MetricBuffer(
                lambda rid, ms, ps: client.write_batch(rid, ms, ps, allow_ended=True),
                interval=client.flush_interval,
            )
            _CLIENTS[key] = (client, buf)
        return _CLIENTS[key]


class _Tee(io.TextIOBase):
    """Writes to the original stream and to the run's log file."""

    def __init__(self, original: TextIO, log: TextIO) -> None:
        self.original = original
        self.log = log

    def write(self, s: str) -> int:
        self.original.write(s)
        try:
            self.log.write(s)
        except ValueError:  # log already closed by the run end
            pass
        return len(s)

    def flush(self) -> None:
        self.original.flush()

    def isatty(self) -> bool:
        return self.original.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")


class ActiveRun:
    """A run in progress. Use as a context manager: an exception marks it failed."""

    def __init__(self, client: ClientAPI, buffer: MetricBuffer, run: Run, capture_output: bool) -> None:
        self.client = client
        self._buffer = buffer
        self.id = run.id
        self.project = run.project
        self.name = run.name
        self._steps: dict[str, int] = {}
        self._params: dict[str, str] = dict(run.params)
        self._ended = False
        self._log_path: Path | None = None
        self._log_file: TextIO | None = None
        self._saved: tuple[TextIO, TextIO] | None = None
        # the artifact store must be usable at interpreter exit, when imports can fail
        client.connect_artifacts()
        if capture_output:
            self._start_capture()

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, project={self.project!r}, name={self.name!r})"

    # -- output capture ------------------------------------------------------
    def _start_capture(self) -> None:
        fd, path = tempfile.mkstemp(prefix="carnet-log-", suffix=".txt")
        self._log_path = Path(path)
        self._log_file = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout = _Tee(sys.stdout, self._log_file)
        sys.stderr = _Tee(sys.stderr, self._log_file)

    def _stop_capture(self) -> None:
        if self._saved is not None:
            sys.stdout, sys.stderr = self._saved
            self._saved = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._log_path is not None:
            try:
                if self._log_path.stat().st_size > 0:
                    data = self._log_path.read_bytes()
                    self.client.log_artifact_bytes(self.id, data, "logs/output.txt")
            finally:
                self._log_path.unlink(missing_ok=True)
                self._log_path = None

    # -- logging -------------------------------------------------------------
    @property
    def info(self) -> Run:
        """The run as stored (flushes buffered metrics first)."""
        self.flush()
        return self.client.get_run(self.id)

    def log_param(self, key: str, value: Any) -> None:
        """Record one param (queued and written with the metrics; see ``log_params``)."""
        self.log_params({key: value})

    def log_params(self, params: dict[str, Any]) -> None:
        """Record params. They are checked now and written in the background like metric values.

        Raises:
            Conflict: a key this run already has with a different value (params are immutable),
                or the run has ended.
        """
        if self._ended:
            raise Conflict(f"run {self.id} has ended; start a new run to log more params", field="run_id")
        clean = {check_key(k, "param"): param_value(v, k) for k, v in params.items()}
        check_params_unchanged(self.id, self._params, clean)
        new = [Param(k, v) for k, v in clean.items() if k not in self._params]
        self._params.update(clean)
        if new:
            self._buffer.add_many(self.id, new)

    def set_tag(self, key: str, value: Any) -> None:
        """Set a tag."""
        self.client.set_tags(self.id, {key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set tags."""
        self.client.set_tags(self.id, tags)

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Queue one metric value; ``step`` defaults to one more than the key's previous step (0 first)."""
        if self._ended:
            raise Conflict(f"run {self.id} has ended; start a new run to log more metrics", field="run_id")
        if step is None:
            step = self._steps.get(key, -1) + 1
        self._steps[key] = step
        m = TrackingService.make_metric(key, value, step, time.time() if timestamp is None else timestamp)
        self._buffer.add(self.id, m)

    def log_metrics(
        self, metrics: dict[str, float], step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Queue several metric values at one step."""
        ts = time.time() if timestamp is None else timestamp
        for k, v in metrics.items():
            self.log_metric(k, v, step, ts)

    def log_artifact(self, local_path: str | Path, artifact_path: str | None = None) -> list[Artifact]:
        """Store a file or folder under the run."""
        return self.client.log_artifact(self.id, local_path, artifact_path)

    log_artifacts = log_artifact

    def log_text(self, text: str, artifact_path: str) -> Artifact:
        """Store a string as a text artifact."""
        return self.client.log_artifact_bytes(self.id, text.encode(), artifact_path)

    def log_bytes(self, data: bytes, artifact_path: str) -> Artifact:
        """Store in-memory bytes (an image, a serialized report) as an artifact."""
        return self.client.log_artifact_bytes(self.id, data, artifact_path)

    def log_dict(self, obj: Any, artifact_path: str) -> Artifact:
        """Store a JSON-serialisable object as a JSON artifact."""
        data = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
        return self.client.log_artifact_bytes(self.id, data, artifact_path)

    def log_input(self, ref: str, context: str = "training") -> list[RunInput]:
        """Record that the run read dataset version ``ref`` (``name@N``)."""
        return self.client.log_inputs(self.id, [ref], context)

    def log_dataset(
        self, data: Any, name: str, *, context: str = "training", **kwargs: Any
    ) -> DatasetVersion:
        """Register a DataFrame or a CSV/Parquet path as a dataset version and record it as an input."""
        kwargs.setdefault("project", self.project)
        if isinstance(data, str | Path):
            version, _ = self.client.add_dataset(data, name, **kwargs)
        else:
            version, _ = self.client.log_dataframe(data, name, **kwargs)
        self.client.log_inputs(self.id, [version.ref], context)
        return version

    def flush(self) -> None:
        """Write every queued metric value now (durable when this returns)."""
        self._buffer.flush()

    def end(self, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None) -> None:
        """Flush, store the captured output and move the run to a terminal status."""
        if self._ended:
            return
        self._ended = True
        with _STACK_LOCK:
            if self in _STACK:
                _STACK.remove(self)
        try:
            self._stop_capture()
        finally:
            # the run's last metric values are written in the same transaction that ends it
            pending = self._buffer.take(self.id)
            metrics, params = split(pending)
            try:
                self.client.finish_run(self.id, status, error, metrics=metrics, params=params)
            except BaseException:
                self._buffer.add_many(self.id, pending)  # keep them for a later flush
                raise

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.end(RunStatus.FINISHED)
            return
        status = RunStatus.KILLED if issubclass(exc_type, KeyboardInterrupt) else RunStatus.FAILED
        detail = "".join(traceback.format_exception(exc_type, exc, tb))
        try:
            self.log_text(detail, "logs/error.txt")
        except Exception:  # noqa: BLE001 - recording the failure must not hide the original error
            pass
        self.end(status, f"{exc_type.__name__}: {exc}"[:2000])


def start_run(
    project: str = "default",
    name: str | None = None,
    *,
    params: dict[str, Any] | None = None,
    tags: dict[str, Any] | None = None,
    nested: bool = False,
    parent_id: str | None = None,
    uri: str | None = None,
    artifacts: str | None = None,
    capture_output: bool | None = None,
    log_environment: bool = True,
    seed: int | None = None,
) -> ActiveRun:
    """Start a tracked run and make it the active run.

    Args:
        project: project name (created when missing).
        name: run name (generated when omitted).
        params: params to record at start.
        tags: tags to set at start.
        nested: make the run a child of the currently active run.
        parent_id: explicit parent run id.
        uri: workspace URI (default: CARNET_URI, carnet.toml or ./.carnet).
        artifacts: artifact root for PostgreSQL workspaces.
        capture_output: tee stdout/stderr into ``logs/output.txt`` (default: for top-level runs).
        log_environment: record Python, platform, packages, git state and command line.
        seed: seed Python, NumPy (and torch when loaded) and record it.
    """
    parent: ActiveRun | None = None
    with _STACK_LOCK:
        if parent_id is None and nested:
            if not _STACK:
                raise InvalidInput("nested=True needs an active run to be the parent", field="nested")
            parent = _STACK[-1]
            parent_id = parent.id
        elif _STACK and not nested and parent_id is None:
            raise InvalidInput(
                f"run {_STACK[-1].id} is already active; end it first or pass nested=True", field="nested"
            )
    if parent is not None and uri is None and artifacts is None:
        client, buf = parent.client, parent._buffer  # a child lives in its parent's workspace
    else:
        client, buf = _client_for(uri, artifacts)
    _register_exit_hook()
    if seed is not None:
        _seed_libraries(seed)
        params = {**(params or {}), "seed": seed}
    env = capture_environment(seed) if log_environment else {}
    run = client.create_run(project, name, parent_id=parent_id, params=params, tags=tags, environment=env)
    active = ActiveRun(client, buf, run, capture_output if capture_output is not None else parent_id is None)
    with _STACK_LOCK:
        _STACK.append(active)
    return active


_EXIT_HOOK = False


def _end_active_runs_at_exit() -> None:
    """End runs still active when the interpreter exits: failed after an uncaught exception."""
    last_type = getattr(sys, "last_type", None)
    status = RunStatus.FAILED if last_type is not None else RunStatus.FINISHED
    error = None
    if last_type is not None:
        error = f"{last_type.__name__}: {getattr(sys, 'last_value', '')}"[:2000]
    while True:
        run = active_run()
        if run is None:
            return
        try:
            run.end(status, error)
        except Exception:  # noqa: BLE001 - the interpreter is exiting; keep ending the others
            with _STACK_LOCK:
                if run in _STACK:
                    _STACK.remove(run)


def _register_exit_hook() -> None:
    """Registered after the metric buffers' hook, so it runs first (atexit is last-in first-out)."""
    global _EXIT_HOOK
    if not _EXIT_HOOK:
        import atexit

        atexit.register(_end_active_runs_at_exit)
        _EXIT_HOOK = True


def _seed_libraries(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidInput(f"seed must be an integer, got {seed!r}", field="seed")
    random.seed(seed)
    try:
        import numpy as np  # noqa: PLC0415

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def set_seed(seed: int) -> None:
    """Seed random, NumPy and (when imported) torch; record it on the active run."""
    _seed_libraries(seed)
    run = active_run()
    if run is not None:
        run.log_param("seed", seed)


def active_run() -> ActiveRun | None:
    """The innermost active run, or None."""
    with _STACK_LOCK:
        return _STACK[-1] if _STACK else None


def _need_run() -> ActiveRun:
    run = active_run()
    if run is None:
        raise InvalidInput("no active run: call carnet.start_run() first", field="run")
    return run


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the active run."""
    _need_run().end(status)


def flush() -> None:
    """Write every queued metric value of every workspace now."""
    for _client, buf in list(_CLIENTS.values()):
        buf.flush()


def log_param(key: str, value: Any) -> None:
    """Record a param on the active run."""
    _need_run().log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    """Record params on the active run."""
    _need_run().log_params(params)


def log_metric(key: str, value: float, step: int | None = None) -> None:
    """Queue a metric value on the active run."""
    _need_run().log_metric(key, value, step)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Queue metric values on the active run."""
    _need_run().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run."""
    _need_run().set_tag(key, value)


def log_artifact(local_path: str | Path, artifact_path: str | None = None) -> list[Artifact]:
    """Store a file or folder under the active run."""
    return _need_run().log_artifact(local_path, artifact_path)


def log_dataset(data: Any, name: str, **kwargs: Any) -> DatasetVersion:
    """Register a dataset version; recorded as an input of the active run when there is one."""
    run = active_run()
    if run is not None:
        return run.log_dataset(data, name, **kwargs)
    client, _ = _client_for(kwargs.pop("uri", None), kwargs.pop("artifacts", None))
    if isinstance(data, str | Path):
        return client.add_dataset(data, name, **kwargs)[0]
    return client.log_dataframe(data, name, **kwargs)[0]
