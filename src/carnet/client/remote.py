"""``RemoteClient``: the SDK over HTTP, talking to ``carnet server`` (``carnet.Client("http://...")``).

Same method names, arguments and return types as the local :class:`carnet.client.local.Client`;
responses are rebuilt into the domain dataclasses, and problem+json errors are raised as the same
:mod:`carnet.errors` classes. Metric values travel in batches (one POST per batch). Methods the
REST API has no route for raise :class:`~carnet.errors.InvalidInput` naming the local workspace
they need.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn
from urllib.parse import quote

import httpx

from carnet.client.wire import (
    approval_from_dict,
    artifact_from_dict,
    audit_event_from_dict,
    dataset_version_from_dict,
    metric_from_dict,
    model_from_dict,
    model_version_from_dict,
    project_from_dict,
    promotion_from_dict,
    run_from_dict,
    run_input_from_dict,
)
from carnet.domain import (
    Approval,
    Artifact,
    AuditEvent,
    DatasetVersion,
    Metric,
    ModelVersion,
    Project,
    Promotion,
    RegisteredModel,
    Run,
    RunInput,
    RunStatus,
)
from carnet.errors import ArtifactCorrupted, CarnetError, GateFailed, InvalidInput, NotFound, StorageError
from carnet.schemas import MAX_METRICS_PER_BATCH, error_from_problem
from carnet.services import Verification
from carnet.services.tracking import artifact_path
from carnet.store.interfaces import RunPage

__all__ = ["API_PREFIX", "RemoteClient", "is_server_uri"]

API_PREFIX = "/api/v1"
_CHUNK = 1024 * 1024
#: events one audit request returns at most (the server's limit)
_MAX_EVENTS = 10_000


def is_server_uri(uri: object) -> bool:
    """Whether ``uri`` names a carnet server (``http://`` or ``https://``)."""
    return isinstance(uri, str) and uri.strip().lower().startswith(("http://", "https://"))


def _seg(text: str) -> str:
    """One path segment, percent-encoded (slashes included)."""
    return quote(str(text), safe="")


def _metric_json(m: Metric) -> dict[str, Any]:
    value = float(m.value)
    return {
        "key": m.key,
        "value": None if math.isnan(value) else value,
        "step": m.step,
        "timestamp": m.timestamp,
    }


def _text(values: dict[str, Any]) -> dict[str, str]:
    """Params and tags as the local client stores them: text."""
    return {str(k): v if isinstance(v, str) else str(v) for k, v in values.items()}


class RemoteClient:
    """Queries and changes the workspace of a ``carnet server`` at ``url`` (``http(s)://host:port``).

    Args:
        url: the server's base URL (``/api/v1`` is added).
        token: API token sent as ``Authorization: Bearer``; default ``CARNET_TOKEN``.
        timeout: seconds to wait for each request.
        transport: an httpx transport (e.g. ``httpx.ASGITransport``); default: the network.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 120.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not is_server_uri(url):
            raise InvalidInput(f"{url!r} is not a carnet server URL: use http(s)://host:port", field="uri")
        self._url = url.strip().rstrip("/")
        if self._url.endswith(API_PREFIX):
            self._url = self._url[: -len(API_PREFIX)]
        token = token if token is not None else os.environ.get("CARNET_TOKEN") or None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self._url + API_PREFIX, headers=headers, timeout=timeout, transport=transport
        )

    @property
    def uri(self) -> str:
        """The server's URL."""
        return self._url

    @property
    def services(self) -> NoReturn:
        """Not available: the services live in the server's process."""
        self._local_only("services")

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> RemoteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP plumbing -------------------------------------------------------------------------------
    def _local_only(self, what: str) -> NoReturn:
        raise InvalidInput(
            f"{what} needs a local workspace (a folder, sqlite:/// or postgresql:// URI); "
            f"the carnet server at {self._url} has no route for it",
            field="uri",
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            r = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise StorageError(f"cannot reach the carnet server at {self._url}: {exc}") from exc
        if r.is_error:
            self._raise(r)
        return r

    def _raise(self, r: httpx.Response) -> NoReturn:
        try:
            doc = r.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or "error" not in doc:
            raise CarnetError(f"the carnet server answered {r.status_code}: {r.text[:200]}")
        exc = error_from_problem(doc)
        if isinstance(exc, GateFailed) and isinstance(doc.get("promotion"), dict):
            exc.promotion = promotion_from_dict(doc["promotion"])  # type: ignore[attr-defined]
        raise exc

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(method, path, **kwargs).json()

    def _download(
        self, path: str, dest: Path, progress: Callable[[int], None] | None = None, params: Any = None
    ) -> Path:
        """Stream a download into a temp file beside ``dest``, check its digest, then rename."""
        from carnet.store.artifacts import hash_file

        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".carnet-", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as f:
                try:
                    with self._http.stream("GET", path, params=params) as r:
                        if r.is_error:
                            r.read()
                            self._raise(r)
                        expected = r.headers.get("X-Carnet-Digest")
                        for chunk in r.iter_bytes(_CHUNK):
                            f.write(chunk)
                            if progress is not None:
                                progress(len(chunk))
                except httpx.TransportError as exc:
                    raise StorageError(
                        f"download from the carnet server at {self._url} failed: {exc}"
                    ) from exc
            if expected and hash_file(tmp).digest != expected:
                raise ArtifactCorrupted(
                    f"the bytes received for {dest.name} do not match {expected}", digest=expected
                )
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    @staticmethod
    def _chunks(path: Path, progress: Callable[[int], None] | None) -> Iterator[bytes]:
        with open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                if progress is not None:
                    progress(len(chunk))
                yield chunk

    def _upload(
        self, method: str, path: str, src: Path, progress: Callable[[int], None] | None, **kw: Any
    ) -> Any:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(src.stat().st_size)}
        return self._json(method, path, content=self._chunks(src, progress), headers=headers, **kw)

    # -- projects and runs ---------------------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> Project:
        """Create a project."""
        return project_from_dict(
            self._json("POST", "/projects", json={"name": name, "description": description})
        )

    def list_projects(self) -> list[tuple[Project, int]]:
        """Projects with their run counts."""
        return [(project_from_dict(p), int(p.get("runs") or 0)) for p in self._json("GET", "/projects")]

    def create_run(
        self,
        project: str = "default",
        name: str | None = None,
        *,
        parent_id: str | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        environment: dict[str, Any] | None = None,
    ) -> Run:
        """Start a run (status running)."""
        body = {
            "project": project,
            "name": name,
            "parent_id": parent_id,
            "params": _text(params or {}),
            "tags": _text(tags or {}),
            "environment": environment or {},
        }
        return run_from_dict(self._json("POST", "/runs", json=body))

    def resolve_run_id(self, text: str) -> str:
        """The full id of the run whose id starts with ``text`` (unique prefix of 4+ characters)."""
        return str(self._json("GET", f"/runs/{_seg(text)}")["id"])

    def get_run(self, run_id: str) -> Run:
        """A run with params, tags and the latest value of each metric."""
        return run_from_dict(self._json("GET", f"/runs/{_seg(run_id)}"))

    def end_run(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None
    ) -> Run:
        """End a run as finished, failed or killed."""
        body = {"status": RunStatus(status).value, "error": error}
        return run_from_dict(self._json("PATCH", f"/runs/{_seg(run_id)}", json=body))

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run."""
        self._send("PATCH", f"/runs/{_seg(run_id)}", json={"deleted": True})

    def restore_run(self, run_id: str) -> None:
        """Undo a soft delete."""
        self._send("PATCH", f"/runs/{_seg(run_id)}", json={"deleted": False})

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        """Record one param."""
        self.log_params(run_id, {key: value})

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        """Record params."""
        self._send("POST", f"/runs/{_seg(run_id)}/params", json={"params": _text(params)})

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        """Set one tag."""
        self.set_tags(run_id, {key: value})

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        """Set tags."""
        self._send("POST", f"/runs/{_seg(run_id)}/tags", json={"tags": _text(tags)})

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag."""
        self._send("DELETE", f"/runs/{_seg(run_id)}/tags/{quote(key, safe='/')}")

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: float | None = None
    ) -> None:
        """Record one metric value, durably (one request)."""
        self.log_batch(run_id, [Metric(key, value, step, time.time() if timestamp is None else timestamp)])

    def log_metrics(
        self, run_id: str, metrics: dict[str, float], step: int = 0, timestamp: float | None = None
    ) -> None:
        """Record several metric values at one step, in one request and one transaction."""
        ts = time.time() if timestamp is None else timestamp
        self.log_batch(run_id, [Metric(k, v, step, ts) for k, v in metrics.items()])

    # -- what the fluent API writes through (the same on a local client) ---------------------------
    @property
    def flush_interval(self) -> float:
        """Seconds between background metric flushes of the fluent API (``CARNET_FLUSH_INTERVAL``)."""
        import os

        from carnet.config import flush_interval

        return flush_interval(os.environ)

    def connect_artifacts(self) -> None:
        """Nothing to prepare: artifacts go through the server."""

    def write_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric],
        params: dict[str, Any] | None = None,
        *,
        allow_ended: bool = False,
    ) -> int:
        """Metric values and params in one POST per batch (params with the first)."""
        items, logged, extra = list(metrics), 0, dict(params or {})
        for start in range(0, max(len(items), 1), MAX_METRICS_PER_BATCH):
            chunk = items[start : start + MAX_METRICS_PER_BATCH]
            body = {"metrics": [_metric_json(m) for m in chunk], "params": extra, "allow_ended": allow_ended}
            logged += int(self._json("POST", f"/runs/{_seg(run_id)}/metrics", json=body)["logged"])
            extra = {}
        return logged

    def finish_run(
        self,
        run_id: str,
        status: RunStatus | str,
        error: str | None = None,
        *,
        metrics: Sequence[Metric] = (),
        params: dict[str, Any] | None = None,
    ) -> None:
        """End a run together with its last metric values and params (one request)."""
        items = list(metrics)
        if len(items) > MAX_METRICS_PER_BATCH:  # the end request carries one batch at most
            self.write_batch(run_id, items[:-MAX_METRICS_PER_BATCH], allow_ended=False)
            items = items[-MAX_METRICS_PER_BATCH:]
        body = {
            "status": RunStatus(status).value,
            "error": error,
            "metrics": [_metric_json(m) for m in items],
            "params": dict(params or {}),
        }
        self._json("PATCH", f"/runs/{_seg(run_id)}", json=body)

    def log_artifact_bytes(self, run_id: str, data: bytes, artifact_path: str) -> Artifact:
        """Store bytes as one artifact of the run."""
        url = f"/runs/{_seg(run_id)}/artifacts/{quote(artifact_path.strip('/'), safe='/')}"
        headers = {"Content-Type": "application/octet-stream"}
        return artifact_from_dict(self._json("PUT", url, content=data, headers=headers))

    def log_batch(self, run_id: str, metrics: Sequence[Metric]) -> int:
        """Record a batch of :class:`Metric` values: one POST (and transaction) per batch of at most
        ``MAX_METRICS_PER_BATCH`` values."""
        items = list(metrics)
        for m in items:
            if isinstance(m.value, bool) or not isinstance(m.value, int | float):
                raise InvalidInput(
                    f"metric {m.key!r} value must be a number, got {type(m.value).__name__} {m.value!r:.60}",
                    field=f"metrics.{m.key}",
                )
        logged = 0
        for start in range(0, max(len(items), 1), MAX_METRICS_PER_BATCH):
            chunk = items[start : start + MAX_METRICS_PER_BATCH]
            body = {"metrics": [_metric_json(m) for m in chunk]}
            logged += int(self._json("POST", f"/runs/{_seg(run_id)}/metrics", json=body)["logged"])
        return logged

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value of one metric of a run."""
        rows = self._json("GET", f"/runs/{_seg(run_id)}/metrics/{quote(key, safe='/')}")
        return [metric_from_dict(m) for m in rows]

    def log_artifact(
        self,
        run_id: str,
        local_path: str | Path,
        artifact_path: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Artifact]:
        """Store a file or a folder under the run (each file streamed in one PUT)."""
        src = Path(local_path)
        if not src.exists():
            raise InvalidInput(f"artifact {str(src)!r} does not exist", field="local_path")
        if src.is_dir():
            base = (artifact_path or src.name).strip("/")
            files = sorted(p for p in src.rglob("*") if p.is_file())
            if not files:
                raise InvalidInput(f"artifact folder {str(src)!r} is empty", field="local_path")
            targets = [(p, f"{base}/{p.relative_to(src).as_posix()}") for p in files]
        else:
            prefix = (artifact_path or "").strip("/")
            if artifact_path is None or artifact_path.endswith("/"):
                target = f"{prefix}/{src.name}" if prefix else src.name
            else:
                target = artifact_path
            targets = [(src, target)]
        out = []
        for path, target in targets:
            url = f"/runs/{_seg(run_id)}/artifacts/{quote(target, safe='/')}"
            out.append(artifact_from_dict(self._upload("PUT", url, path, progress)))
        return out

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        """Artifacts of a run."""
        return [artifact_from_dict(a) for a in self._json("GET", f"/runs/{_seg(run_id)}/artifacts")]

    def download_artifact(self, run_id: str, path: str, dest: str | Path) -> list[Path]:
        """Copy an artifact (or folder of artifacts) of a run to ``dest``, verified."""
        want = artifact_path(path)
        # the server's paths are checked like ours: none may climb out of ``dest``
        arts = [
            a
            for a in self.list_artifacts(run_id)
            if artifact_path(a.path) == want or a.path.startswith(want + "/")
        ]
        if not arts:
            raise NotFound(
                f"run {run_id} has no artifact {want!r}; see: carnet runs show {run_id}", field="path"
            )
        target_dir = Path(dest)
        out = []
        for a in arts:
            if a.path == want:
                target = target_dir / PurePosixPath(a.path).name if target_dir.is_dir() else target_dir
            else:
                target = target_dir.joinpath(*PurePosixPath(a.path).relative_to(want).parts)
            url = f"/runs/{_seg(run_id)}/artifacts/{quote(a.path, safe='/')}"
            out.append(self._download(url, target))
        return out

    def log_inputs(self, run_id: str, refs: Sequence[str], context: str = "training") -> list[RunInput]:
        """Record dataset versions a run read."""
        body = {"datasets": [str(r) for r in refs], "context": context}
        return [run_input_from_dict(i) for i in self._json("POST", f"/runs/{_seg(run_id)}/inputs", json=body)]

    def list_inputs(self, run_id: str) -> list[RunInput]:
        """Dataset versions a run read."""
        return [run_input_from_dict(i) for i in self._json("GET", f"/runs/{_seg(run_id)}/inputs")]

    def child_runs(self, run_id: str) -> list[str]:
        """Ids of a run's children (needs a local workspace)."""
        self._local_only("child_runs")

    def search_runs(
        self,
        project: str | Sequence[str] | None = None,
        filter: str | None = None,  # noqa: A002 - public argument name
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        """Runs matching a filter such as ``"metrics.auc > 0.9 and params.model = 'lgbm'"`` (one page)."""
        projects = [project] if isinstance(project, str) else (list(project) if project is not None else None)
        body = {
            "projects": projects,
            "filter": filter,
            "order_by": list(order_by or []),
            "max_results": max_results,
            "page_token": page_token,
            "include_deleted": include_deleted,
        }
        page = self._json("POST", "/runs/search", json=body)
        return RunPage([run_from_dict(r) for r in page["runs"]], page.get("next_page_token"))

    # -- datasets --------------------------------------------------------------------------------------
    def add_dataset(self, path: str | Path, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        """Upload a CSV or Parquet file as a dataset version (existing one if identical).

        Keyword arguments: ``project``, ``parent``, ``description``, ``source``, ``format``, ``progress``.
        """
        src = Path(path)
        if not src.is_file():
            raise InvalidInput(f"dataset file {str(src)!r} does not exist", field="path")
        progress = kwargs.pop("progress", None)
        known = {"project", "parent", "description", "source", "format"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise InvalidInput(f"add_dataset got unknown arguments {unknown}", field=unknown[0])
        params = {k: str(v) for k, v in kwargs.items() if v is not None}
        params["filename"] = src.name
        params.setdefault("source", str(src.resolve()))
        r = self._upload("POST", f"/datasets/{_seg(name)}", src, progress, params=params)
        return dataset_version_from_dict(r), bool(r.get("created"))

    def log_dataframe(self, df: Any, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        """Register a DataFrame as a dataset version (needs a local workspace; use add_dataset)."""
        self._local_only("log_dataframe")

    def get_dataset(self, ref: str) -> DatasetVersion:
        """A dataset version by ``name@N`` (or the latest)."""
        return dataset_version_from_dict(self._json("GET", f"/datasets/{_seg(ref)}"))

    def list_datasets(self) -> list[DatasetVersion]:
        """Latest version of every dataset (profiles omitted)."""
        return [dataset_version_from_dict(v) for v in self._json("GET", "/datasets")]

    def dataset_versions(self, name: str) -> list[DatasetVersion]:
        """Every version of a dataset, oldest first (profiles omitted)."""
        return [dataset_version_from_dict(v) for v in self._json("GET", f"/datasets/{_seg(name)}/versions")]

    def diff_datasets(self, a: str, b: str) -> Any:
        """Schema and profile differences between two versions (needs a local workspace)."""
        self._local_only("diff_datasets")

    def download_dataset(
        self, ref: str, out: str | Path, progress: Callable[[int], None] | None = None
    ) -> Path:
        """Write a version's file to ``out`` (a file path, or a folder), verified."""
        version = self.get_dataset(ref)
        dest = Path(out)
        if dest.is_dir() or str(out).endswith(("/", "\\")):
            suffix = "".join(Path(version.source).suffixes[-2:]) if version.source else ""
            if not suffix or suffix.lstrip(".").split(".")[0] not in ("csv", "tsv", "parquet", "pq"):
                suffix = f".{version.format}"
            dest = dest / f"{version.name}-v{version.version}{suffix}"
        return self._download(f"/datasets/{_seg(version.ref)}/file", dest, progress)

    # -- training (server-side only through a local workspace) -----------------------------------------
    def train(self, spec: Any, *, jobs: int = 1, progress: Any = None) -> Any:
        """Train from a spec (needs a local workspace)."""
        self._local_only("train")

    def automl(self, data: str, **kwargs: Any) -> dict[str, Any]:
        """AutoML (needs a local workspace)."""
        self._local_only("automl")

    def evaluate(self, run_id: str, data: str, *, progress: Any = None) -> Any:
        """Evaluate a run's model (needs a local workspace)."""
        self._local_only("evaluate")

    def reproduce(self, run_id: str, *, progress: Any = None) -> dict[str, Any]:
        """Re-run a training (needs a local workspace)."""
        self._local_only("reproduce")

    def load_model(self, ref: str, *, trusted: tuple[str, ...] = (), allow_pickle: bool = False) -> Any:
        """Load a fitted model (needs a local workspace: the server sends no model files)."""
        self._local_only("load_model")

    # -- model registry ------------------------------------------------------------------------------
    def register_model(
        self,
        run_id: str,
        name: str,
        *,
        description: str = "",
        tags: dict[str, str] | None = None,
        derived_from: int | None = None,
    ) -> ModelVersion:
        """Register the model a training run stored as the next version of ``name``."""
        body = {
            "run_id": self.resolve_run_id(run_id),
            "description": description,
            "tags": _text(tags or {}),
            "derived_from": derived_from,
        }
        return model_version_from_dict(self._json("POST", f"/models/{_seg(name)}/versions", json=body))

    def log_model(self, model: Any, name: str, sample: Any, **kwargs: Any) -> ModelVersion:
        """Register an in-memory model (needs a local workspace)."""
        self._local_only("log_model")

    def export_model(self, ref: str, out: str | Path, *, register: bool = False) -> ModelVersion | None:
        """Export to ONNX (needs a local workspace)."""
        self._local_only("export_model")

    def get_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version number."""
        if "@" in name or "/" in name:
            raise InvalidInput(f"{name!r} is a version reference; use get_model_version", field="name")
        return model_from_dict(self._json("GET", f"/models/{_seg(name)}"))

    def list_models(self, project: str | None = None) -> list[RegisteredModel]:
        """Registered models (of one project)."""
        params = {"project": project} if project is not None else None
        return [model_from_dict(m) for m in self._json("GET", "/models", params=params)]

    def model_versions(self, name: str) -> list[ModelVersion]:
        """Every version of a registered model, oldest first."""
        return [model_version_from_dict(v) for v in self._json("GET", f"/models/{_seg(name)}/versions")]

    def get_model_version(self, ref: str, version: int | None = None) -> ModelVersion:
        """The version ``NAME/3``, ``NAME@alias`` or ``NAME`` (latest) names."""
        if version is not None:
            path = f"/models/{_seg(ref)}/versions/{int(version)}"
        elif "@" in ref or "/" in ref:
            path = f"/models/{quote(ref, safe='/@')}"
        else:
            path = f"/models/{_seg(ref)}/versions/latest"
        return model_version_from_dict(self._json("GET", path))

    def set_model_alias(self, name: str, alias: str, version: int, *, reason: str = "") -> int | None:
        """Point an alias at a version without gates; returns the previous holder."""
        body = {"version": version, "reason": reason}
        previous = self._json("PUT", f"/models/{_seg(name)}/aliases/{_seg(alias)}", json=body)["previous"]
        return None if previous is None else int(previous)

    def delete_model_alias(self, name: str, alias: str) -> int:
        """Remove an alias; returns the version it pointed at."""
        return int(self._json("DELETE", f"/models/{_seg(name)}/aliases/{_seg(alias)}")["previous"])

    def set_model_tags(self, name: str, tags: dict[str, str], version: int | None = None) -> None:
        """Set model tags (needs a local workspace)."""
        self._local_only("set_model_tags")

    def delete_model_tag(self, name: str, key: str, version: int | None = None) -> None:
        """Remove a model tag (needs a local workspace)."""
        self._local_only("delete_model_tag")

    def set_policy(self, source: Any, *, model: str | None = None, project: str | None = None) -> Any:
        """Store a promotion policy (needs a local workspace)."""
        self._local_only("set_policy")

    def get_policy(self, name: str) -> Any:
        """The policy in force for a model (needs a local workspace)."""
        self._local_only("get_policy")

    def promote(
        self,
        name: str,
        version: int,
        alias: str = "production",
        *,
        dry_run: bool = False,
        policy: Any = None,
        allow_pickle: bool = False,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> Promotion:
        """Run the policy's gates on the server and move the alias when every gate passes.

        ``policy`` may be a dict, YAML text or a YAML file path. ``allow_pickle`` is refused: the server
        never loads pickled versions.

        Raises:
            GateFailed: a gate failed (not on a dry run); ``exc.promotion`` holds the results.
        """
        if allow_pickle:
            raise InvalidInput("the carnet server never loads pickled models", field="allow_pickle")
        body = {"version": version, "alias": alias, "dry_run": dry_run, "policy": _policy_dict(policy)}
        return promotion_from_dict(self._json("POST", f"/models/{_seg(name)}/promote", json=body))

    def approve(self, name: str, version: int, alias: str = "production", comment: str = "") -> Approval:
        """Record the caller's approval of a version for an alias."""
        body = {"alias": alias, "comment": comment}
        url = f"/models/{_seg(name)}/versions/{int(version)}/approvals"
        return approval_from_dict(self._json("POST", url, json=body))

    def rollback(self, name: str, alias: str = "production", *, reason: str) -> Promotion:
        """Move an alias back to its previous holder (audited, with the reason)."""
        body = {"alias": alias, "reason": reason}
        return promotion_from_dict(self._json("POST", f"/models/{_seg(name)}/rollback", json=body))

    def promotions(self, name: str, version: int | None = None) -> list[Promotion]:
        """Promotions of a model (needs a local workspace)."""
        self._local_only("promotions")

    def model_card(self, name: str, version: int | None = None, fmt: str = "markdown") -> str:
        """A model card (needs a local workspace)."""
        self._local_only("model_card")

    def model_dossier(self, name: str, version: int | None, out: str | Path) -> dict[str, Any]:
        """The auditor's dossier (needs a local workspace)."""
        self._local_only("model_dossier")

    # -- deployments (no routes) ---------------------------------------------------------------------
    def set_deployment(self, source: Any) -> Any:
        """Store a deployment (needs a local workspace)."""
        self._local_only("set_deployment")

    def get_deployment(self, endpoint: str) -> Any:
        """An endpoint's deployment (needs a local workspace)."""
        self._local_only("get_deployment")

    def list_deployments(self) -> list[Any]:
        """Every deployment (needs a local workspace)."""
        self._local_only("list_deployments")

    def deployment_history(self, endpoint: str) -> list[Any]:
        """Revisions of a deployment (needs a local workspace)."""
        self._local_only("deployment_history")

    def delete_deployment(self, endpoint: str, *, reason: str = "") -> Any:
        """Stop routing an endpoint (needs a local workspace)."""
        self._local_only("delete_deployment")

    # -- audit -----------------------------------------------------------------------------------------
    def audit_log(
        self,
        subject_type: str | None = None,
        subject_id: str | None = None,
        *,
        action: str | None = None,
        limit: int | None = 100,
    ) -> list[AuditEvent]:
        """Audit events, newest first (at most 10,000 per call; ``limit=None`` asks for that many)."""
        params: dict[str, Any] = {"limit": _MAX_EVENTS if limit is None else limit}
        for key, value in (("subject_type", subject_type), ("subject_id", subject_id), ("action", action)):
            if value is not None:
                params[key] = value
        return [audit_event_from_dict(e) for e in self._json("GET", "/audit/events", params=params)]

    def verify_audit(self) -> Verification:
        """Recompute the audit hash chain on the server."""
        d = self._json("GET", "/audit/verify")
        return Verification(bool(d["ok"]), int(d["count"]), d.get("broken_seq"), d.get("reason"))


def _policy_dict(policy: Any) -> dict[str, Any] | None:
    """A policy override as the JSON object the server takes (dict, YAML text or YAML file)."""
    if policy is None or isinstance(policy, dict):
        return policy
    if isinstance(policy, str | Path):
        import yaml  # type: ignore[import-untyped, unused-ignore]

        text = str(policy)
        path = Path(text)
        if "\n" not in text and path.is_file():
            text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
        if isinstance(data, dict):
            return data
    raise InvalidInput(
        "a policy sent to the server must be a mapping, YAML text or a YAML file", field="policy"
    )
