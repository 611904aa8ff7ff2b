"""``RemoteClient``: the SDK over HTTP, talking to ``carnet server`` (``carnet.Client("http://...")``).

Same method names, arguments and return types as the local :class:`carnet.client.local.Client`;
responses are rebuilt into the domain dataclasses, and problem+json errors are raised as the same
:mod:`carnet.errors` classes. Metric values travel in batches (one POST per batch). Tracking,
datasets and audit are here; the registry and training calls are in ``remote_registry`` and
``remote_training``, the HTTP plumbing in ``remote_http``.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from carnet.client.api import ClientAPI
from carnet.client.remote_admin import RemoteAdmin
from carnet.client.remote_encoders import RemoteEncoders
from carnet.client.remote_http import API_PREFIX, is_server_uri
from carnet.client.remote_http import text_values as _text
from carnet.client.remote_ops import RemoteOps
from carnet.client.remote_registry import RemoteRegistry
from carnet.client.remote_training import RemoteTraining
from carnet.client.wire import (
    anchor_check_from_dict,
    artifact_from_dict,
    audit_event_from_dict,
    dataset_version_from_dict,
    metric_from_dict,
    project_from_dict,
    run_from_dict,
    run_input_from_dict,
)
from carnet.domain import (
    Artifact,
    AuditEvent,
    DatasetRef,
    DatasetVersion,
    Metric,
    Project,
    Run,
    RunInput,
    RunStatus,
)
from carnet.domain.audit import StateMismatch
from carnet.domain.dataset_diff import diff_versions
from carnet.domain.datasets import check_name
from carnet.domain.runs import MAX_METRICS_PER_BATCH, MAX_RESULTS_LIMIT, RunPage, select_artifacts
from carnet.domain.validation import artifact_path as clean_artifact_path
from carnet.domain.validation import make_metric
from carnet.domain.verification import Verification
from carnet.errors import ArtifactCorrupted, Conflict, InvalidInput, NotFound
from carnet.operations import call

__all__ = ["API_PREFIX", "RemoteClient", "is_server_uri"]

#: events one audit request returns at most (the server's limit)
_MAX_EVENTS = 10_000
#: runs asked for per search page when listing a run's children
_MAX_RUNS_PER_PAGE = 10_000


def _metric_json(m: Metric) -> dict[str, Any]:
    """A metric value as JSON: NaN as null, infinities as the strings ``Infinity`` / ``-Infinity``."""
    if not math.isfinite(m.timestamp):
        raise InvalidInput(f"metric {m.key!r} timestamp must be a finite number", field=f"metrics.{m.key}")
    number = float(m.value)
    value: float | str | None = number
    if math.isnan(number):
        value = None
    elif math.isinf(number):
        value = "Infinity" if number > 0 else "-Infinity"
    return {"key": m.key, "value": value, "step": m.step, "timestamp": m.timestamp}


class RemoteClient(RemoteRegistry, RemoteTraining, RemoteEncoders, RemoteOps, RemoteAdmin, ClientAPI):
    """Queries and changes the workspace of a ``carnet server`` at ``url`` (``http(s)://host:port``).

    Args:
        url: the server's base URL (``/api/v1`` is added).
        token: API token sent as ``Authorization: Bearer``; default ``CARNET_TOKEN``.
        timeout: seconds to wait for each request.
        transport: an httpx transport (e.g. ``httpx.ASGITransport``); default: the network.
    """

    # -- projects and runs ---------------------------------------------------------------------------
    def create_project(self, name: str, description: str = "") -> Project:
        return project_from_dict(
            self._json(call("create_project"), json={"name": name, "description": description})
        )

    def list_projects(self) -> list[tuple[Project, int]]:
        return [(project_from_dict(p), int(p.get("runs") or 0)) for p in self._json(call("list_projects"))]

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
        body = {
            "project": project,
            "name": name,
            "parent_id": parent_id,
            "params": _text(params or {}),
            "tags": _text(tags or {}),
            # stored as JSON text with str() for what JSON lacks, as a local workspace does
            "environment": json.loads(json.dumps(environment or {}, default=str)),
        }
        return run_from_dict(self._json(call("create_run"), json=body))

    def get_run(self, run_id: str) -> Run:
        run = run_from_dict(self._json(call("get_run", run_id=run_id)))
        if run.id != run_id:  # the route also resolves id prefixes: that is resolve_run_id's job
            raise NotFound(f"no run with id {run_id!r}; list runs with: carnet runs list", field="run_id")
        return run

    def end_run(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None
    ) -> Run:
        body = {"status": RunStatus(status).value, "error": error}
        return run_from_dict(self._json(call("update_run", run_id=run_id), json=body))

    def delete_run(self, run_id: str) -> None:
        self._send(call("update_run", run_id=run_id), json={"deleted": True})

    def restore_run(self, run_id: str) -> None:
        self._send(call("update_run", run_id=run_id), json={"deleted": False})

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_params(run_id, {key: value})

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self._send(call("log_params", run_id=run_id), json={"params": _text(params)})

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.set_tags(run_id, {key: value})

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self._send(call("set_tags", run_id=run_id), json={"tags": _text(tags)})

    def delete_tag(self, run_id: str, key: str) -> None:
        self._send(call("delete_tag", run_id=run_id, key=key))

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: float | None = None
    ) -> None:
        self.log_batch(run_id, [Metric(key, value, step, time.time() if timestamp is None else timestamp)])

    def log_metrics(
        self, run_id: str, metrics: dict[str, float], step: int = 0, timestamp: float | None = None
    ) -> None:
        ts = time.time() if timestamp is None else timestamp
        self.log_batch(run_id, [Metric(k, v, step, ts) for k, v in metrics.items()])

    # -- what the fluent API writes through (the same on a local client) ---------------------------
    @property
    def flush_interval(self) -> float:
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
        items, logged, extra = list(metrics), 0, dict(params or {})
        for start in range(0, max(len(items), 1), MAX_METRICS_PER_BATCH):
            chunk = items[start : start + MAX_METRICS_PER_BATCH]
            body = {"metrics": [_metric_json(m) for m in chunk], "params": extra, "allow_ended": allow_ended}
            logged += int(self._json(call("log_metrics", run_id=run_id), json=body)["logged"])
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
        self._json(call("update_run", run_id=run_id), json=body)

    def log_artifact_bytes(self, run_id: str, data: bytes, artifact_path: str) -> Artifact:
        at = call("upload_artifact", run_id=run_id, path=clean_artifact_path(artifact_path))
        headers = {"Content-Type": "application/octet-stream"}
        return artifact_from_dict(self._json(at, content=data, headers=headers))

    def log_batch(self, run_id: str, metrics: Sequence[Metric]) -> int:
        # checked here as the local client checks them: the server's schema would coerce "3" to 3
        items = [make_metric(m.key, m.value, m.step, m.timestamp) for m in metrics]
        logged = 0
        for start in range(0, max(len(items), 1), MAX_METRICS_PER_BATCH):
            chunk = items[start : start + MAX_METRICS_PER_BATCH]
            body = {"metrics": [_metric_json(m) for m in chunk]}
            logged += int(self._json(call("log_metrics", run_id=run_id), json=body)["logged"])
        return logged

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        rows = self._json(call("metric_history", run_id=run_id, key=key))
        return [metric_from_dict(m) for m in rows]

    def log_artifact(
        self,
        run_id: str,
        local_path: str | Path,
        artifact_path: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Artifact]:
        src = Path(local_path)
        if not src.exists():
            raise InvalidInput(f"artifact {str(src)!r} does not exist", field="local_path")
        # paths are checked before they become URLs (which would resolve '..' on their own)
        prefix = clean_artifact_path(artifact_path) if artifact_path else None
        if src.is_dir():
            files = sorted(p for p in src.rglob("*") if p.is_file())
            if not files:
                raise InvalidInput(f"artifact folder {str(src)!r} is empty", field="local_path")
            base = prefix or src.name
            targets = [(p, clean_artifact_path(f"{base}/{p.relative_to(src).as_posix()}")) for p in files]
        else:
            into_folder = prefix is None or str(artifact_path).endswith("/")
            target = clean_artifact_path(f"{prefix or ''}/{src.name}") if into_folder else str(prefix)
            targets = [(src, target)]
        if not src.is_dir():
            ((path, target),) = targets
            at = call("upload_artifact", run_id=run_id, path=target)
            return [artifact_from_dict(self._upload(at, path, progress))]
        with contextlib.ExitStack() as stack:
            parts = [
                ("files", (path.name, _Reader(stack.enter_context(open(path, "rb")), progress)))
                for path, _ in targets
            ]
            data = {"paths": json.dumps([target for _, target in targets])}
            found = self._json(call("upload_artifacts", run_id=run_id), data=data, files=parts)
        return [artifact_from_dict(a) for a in found]

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        return [artifact_from_dict(a) for a in self._json(call("list_artifacts", run_id=run_id))]

    def download_artifact(self, run_id: str, path: str, dest: str | Path) -> list[Path]:
        want = clean_artifact_path(path)
        # every path the server lists is checked like ours, so none may climb out of ``dest``
        listed = self.list_artifacts(run_id)
        for a in listed:
            try:
                plain = clean_artifact_path(a.path) == a.path
            except InvalidInput:
                plain = False
            if not plain:
                raise ArtifactCorrupted(
                    f"the server listed artifact path {a.path!r}, which is not a plain relative path",
                    digest=a.digest,
                )
        target_dir = Path(dest)
        out = []
        for a, under in select_artifacts(listed, want, run_id):
            if under is None:
                target = target_dir / a.path.rsplit("/", 1)[-1] if target_dir.is_dir() else target_dir
            else:
                target = target_dir.joinpath(*under)
            at = call("download_artifact", run_id=run_id, path=a.path)
            out.append(self._download(at, target, digest=a.digest))
        return out

    def log_inputs(self, run_id: str, refs: Sequence[str], context: str = "training") -> list[RunInput]:
        if not refs:  # nothing to record: the run must still exist and be running
            run = self.get_run(run_id)
            if run.status.terminal:
                raise Conflict(
                    f"run {run_id} is {run.status.value}; a finished run cannot be changed, start a new run",
                    field="run_id",
                )
            return []
        body = {"datasets": [str(r) for r in refs], "context": context}
        return [run_input_from_dict(i) for i in self._json(call("log_inputs", run_id=run_id), json=body)]

    def list_inputs(self, run_id: str) -> list[RunInput]:
        return [run_input_from_dict(i) for i in self._json(call("list_inputs", run_id=run_id))]

    def child_runs(self, run_id: str) -> list[str]:
        run = self.get_run(run_id)
        ids: list[str] = []
        token: str | None = None
        while True:
            page = self.search_runs(
                run.project,
                f"attributes.parent_id = '{run.id}'",
                ["attributes.start_time asc"],
                _MAX_RUNS_PER_PAGE,
                token,
                include_deleted=True,
            )
            ids += [r.id for r in page.runs]
            token = page.next_page_token
            if not token:
                return ids

    def search_runs(
        self,
        project: str | Sequence[str] | None = None,
        filter: str | None = None,  # noqa: A002 - public argument name
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> RunPage:
        if isinstance(max_results, bool) or not isinstance(max_results, int):  # the schema would coerce
            raise InvalidInput(f"max_results must be between 1 and {MAX_RESULTS_LIMIT}", field="max_results")
        projects = [project] if isinstance(project, str) else (list(project) if project is not None else None)
        body = {
            "projects": projects,
            "filter": filter,
            "order_by": list(order_by or []),
            "max_results": max_results,
            "page_token": page_token,
            "include_deleted": include_deleted,
        }
        page = self._json(call("search_runs"), json=body)
        return RunPage([run_from_dict(r) for r in page["runs"]], page.get("next_page_token"))

    # -- datasets --------------------------------------------------------------------------------------
    def add_dataset(self, path: str | Path, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        check_name(name, "dataset name")  # before any byte is sent, with the local client's field
        src = Path(path)
        if not src.exists():
            raise InvalidInput(f"dataset file {str(src)!r} does not exist", field="path")
        if src.is_dir():
            raise InvalidInput(f"{str(src)!r} is a folder; pass a CSV or Parquet file", field="path")
        progress = kwargs.pop("progress", None)
        known = {"project", "parent", "description", "source", "format"}
        unknown = sorted(set(kwargs) - known)
        if unknown:  # as the local client's call would
            raise TypeError(f"add_dataset() got an unexpected keyword argument {unknown[0]!r}")
        params = {k: str(v) for k, v in kwargs.items() if v is not None}
        params["filename"] = src.name
        params.setdefault("source", str(src.resolve()))
        r = self._upload(call("upload_dataset", name=name), src, progress, params=params)
        return dataset_version_from_dict(r), bool(r.get("created"))

    def log_dataframe(self, df: Any, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        from carnet.data import table_from_dataframe  # noqa: PLC0415 - pyarrow is loaded lazily

        with tempfile.TemporaryDirectory(prefix="carnet-df-") as tmp:
            path = table_from_dataframe(df, Path(tmp) / "dataframe.parquet")
            kwargs.setdefault("source", f"dataframe:{type(df).__module__}.{type(df).__name__}")
            return self.add_dataset(path, name, **kwargs)

    def get_dataset(self, ref: str) -> DatasetVersion:
        DatasetRef.parse(ref)  # a malformed reference is refused as locally, before it becomes a URL
        return dataset_version_from_dict(self._json(call("get_dataset", ref=ref)))

    def list_datasets(self) -> list[DatasetVersion]:
        rows = self._json(call("list_datasets"), params={"profile": "true"})
        return [dataset_version_from_dict(v) for v in rows]

    def dataset_versions(self, name: str) -> list[DatasetVersion]:
        check_name(name, "dataset name")
        rows = self._json(call("dataset_versions", name=name), params={"profile": "true"})
        return [dataset_version_from_dict(v) for v in rows]

    def scan_dataset(self, ref: str, **options: Any) -> dict[str, Any]:
        DatasetRef.parse(ref)
        return dict(self._json(call("scan_dataset", ref=ref), json=options))

    def dataset_risk(
        self, ref: str, quasi_identifiers: list[str], sensitive: str | None = None
    ) -> dict[str, Any]:
        DatasetRef.parse(ref)
        body = {"quasi_identifiers": list(quasi_identifiers), "sensitive": sensitive}
        return dict(self._json(call("dataset_risk", ref=ref), json=body))

    def deidentify_dataset(
        self, ref: str, config: Any, *, name: str | None = None, description: str = ""
    ) -> tuple[DatasetVersion, bool]:
        from carnet.documents import read_document

        DatasetRef.parse(ref)
        body = {"config": read_document(config, "de-identification config"), "name": name,
                "description": description}  # fmt: skip
        response = self._send(call("deidentify_dataset", ref=ref), json=body)
        return dataset_version_from_dict(response.json()), response.status_code == 201

    def erase_dataset(
        self, name: str, where: str, *, reason: str, purge: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        check_name(name, "dataset name")
        body = {"where": where, "reason": reason, "purge": purge, "dry_run": dry_run}
        return dict(self._json(call("erase_dataset", name=name), json=body))

    def purge_dataset(self, name: str, versions: list[int] | None = None, *, reason: str) -> dict[str, Any]:
        check_name(name, "dataset name")
        body = {"versions": None if versions is None else list(versions), "reason": reason}
        return dict(self._json(call("purge_dataset", name=name), json=body))

    def dataset_erasures(self, name: str) -> list[dict[str, Any]]:
        check_name(name, "dataset name")
        return list(self._json(call("dataset_erasures", name=name)))

    def dataset_usage(self, name: str | None = None) -> dict[str, Any]:
        if name is not None:
            check_name(name, "dataset name")
        return dict(self._json(call("dataset_usage"), params={} if name is None else {"name": name}))

    def collect_garbage(self, *, dry_run: bool = False, grace: float = 3600.0) -> dict[str, Any]:
        return dict(self._json(call("collect_garbage"), json={"dry_run": dry_run, "grace": grace}))

    def chunk_datasets(self, *, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
        return dict(self._json(call("chunk_datasets"), json={"dry_run": dry_run, "limit": limit}))

    def diff_datasets(self, a: str, b: str) -> Any:
        va, vb = self.get_dataset(a), self.get_dataset(b)
        return diff_versions(
            va.schema, va.profile, vb.schema, vb.profile, a_rows=va.num_rows, b_rows=vb.num_rows
        )

    def download_dataset(
        self, ref: str, out: str | Path, progress: Callable[[int], None] | None = None
    ) -> Path:
        version = self.get_dataset(ref)
        dest = Path(out)
        if dest.is_dir() or str(out).endswith(("/", "\\")):
            check_name(version.name, "dataset")  # the server's name becomes a file name here
            dest = dest / version.file_name
        at = call("download_dataset", ref=version.ref)
        return self._download(at, dest, progress, digest=version.digest)

    # -- audit -----------------------------------------------------------------------------------------
    def audit_log(
        self,
        subject_type: str | None = None,
        subject_id: str | None = None,
        *,
        action: str | None = None,
        limit: int | None = 100,
    ) -> list[AuditEvent]:
        wanted = None if limit is None or limit <= 0 else int(limit)
        params: dict[str, Any] = {}
        for key, value in (("subject_type", subject_type), ("subject_id", subject_id), ("action", action)):
            if value is not None:
                params[key] = value
        events: list[AuditEvent] = []
        while wanted is None or len(events) < wanted:
            page = _MAX_EVENTS if wanted is None else min(_MAX_EVENTS, wanted - len(events))
            if events:
                params["before_seq"] = events[-1].seq
            got = self._json(call("audit_events"), params={**params, "limit": page})
            events.extend(audit_event_from_dict(e) for e in got)
            if len(got) < page:
                break
        return events

    def verify_audit(
        self, *, anchors: bool = False, witnesses: Sequence[str] | None = None, deep: bool = False
    ) -> Verification:
        if witnesses:
            raise InvalidInput(
                "a server reads its own witnesses (CARNET_AUDIT_WITNESSES where it runs): call "
                "verify_audit(anchors=True) without witnesses, or verify the workspace locally",
                field="witnesses",
            )
        params = {k: "true" for k, on in (("anchors", anchors), ("deep", deep)) if on}
        d = self._json(call("audit_verify"), params=params or None)
        found = tuple(anchor_check_from_dict(a) for a in d.get("anchors") or ())
        state = tuple(
            StateMismatch(str(m["table"]), str(m["key"]), m.get("expected"), m.get("found"))
            for m in d.get("state") or ()
        )
        return Verification(
            bool(d["ok"]),
            int(d["count"]),
            d.get("broken_seq"),
            d.get("reason"),
            anchors=found,
            state=state,
            runs_checked=d.get("runs_checked"),
            runs_not_covered=d.get("runs_not_covered"),
        )


class _Reader:
    """A file read in chunks for a multipart upload, reporting the bytes read to ``progress``."""

    def __init__(self, f: Any, progress: Callable[[int], None] | None) -> None:
        self._f = f
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self._f.read(size)
        if chunk and self._progress is not None:
            self._progress(len(chunk))
        return chunk
