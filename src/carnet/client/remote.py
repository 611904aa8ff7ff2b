"""``RemoteClient``: the SDK over HTTP, talking to ``carnet server`` (``carnet.Client("http://...")``).

Same method names, arguments and return types as the local :class:`carnet.client.local.Client`;
responses are rebuilt into the domain dataclasses, and problem+json errors are raised as the same
:mod:`carnet.errors` classes. Metric values travel in batches (one POST per batch). Tracking,
datasets, audit, users and tokens are here; the registry, training and operations calls are in
``remote_registry``, ``remote_training`` and ``remote_ops``, the HTTP plumbing in ``remote_http``.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from carnet.client.api import ClientAPI
from carnet.client.remote_http import API_PREFIX, is_server_uri, remote
from carnet.client.remote_http import text_values as _text
from carnet.client.remote_ops import RemoteOps
from carnet.client.remote_registry import RemoteRegistry
from carnet.client.remote_training import RemoteTraining
from carnet.client.wire import decode
from carnet.client.wire_ops import check_count, check_project, existing_user
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
from carnet.domain.auth import TokenInfo, User, check_role, check_user_name
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


class RemoteClient(RemoteRegistry, RemoteTraining, RemoteOps, ClientAPI):
    """Queries and changes the workspace of a ``carnet server`` at ``url`` (``http(s)://host:port``).

    Args:
        url: the server's base URL (``/api/v1`` is added).
        token: API token sent as ``Authorization: Bearer``; default ``CARNET_TOKEN``.
        timeout: seconds to wait for each request.
        transport: an httpx transport (e.g. ``httpx.ASGITransport``); default: the network.
    """

    # -- projects and runs ---------------------------------------------------------------------------
    create_project = remote("create_project", ClientAPI.create_project, Project)

    def list_projects(self) -> list[tuple[Project, int]]:
        found = self._op("list_projects", list[dict[str, Any]])
        return [(decode(Project, p), int(p.get("runs") or 0)) for p in found]

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
        return self._op(
            "create_run",
            Run,
            project=project,
            name=name,
            parent_id=parent_id,
            params=_text(params or {}),
            tags=_text(tags or {}),
            # stored as JSON text with str() for what JSON lacks, as a local workspace does
            environment=json.loads(json.dumps(environment or {}, default=str)),
        )

    def get_run(self, run_id: str) -> Run:
        run = self._op("get_run", Run, run_id=run_id)
        if run.id != run_id:  # the route also resolves id prefixes: that is resolve_run_id's job
            raise NotFound(f"no run with id {run_id!r}; list runs with: carnet runs list", field="run_id")
        return run

    def end_run(
        self, run_id: str, status: RunStatus | str = RunStatus.FINISHED, error: str | None = None
    ) -> Run:
        return self._op("update_run", Run, run_id=run_id, status=RunStatus(status).value, error=error)

    def delete_run(self, run_id: str) -> None:
        self._op("update_run", run_id=run_id, deleted=True)

    def restore_run(self, run_id: str) -> None:
        self._op("update_run", run_id=run_id, deleted=False)

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        self.log_params(run_id, {key: value})

    log_params = remote("log_params", ClientAPI.log_params, params=_text)

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        self.set_tags(run_id, {key: value})

    set_tags = remote("set_tags", ClientAPI.set_tags, tags=_text)
    delete_tag = remote("delete_tag", ClientAPI.delete_tag)

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
            chunk = [_metric_json(m) for m in items[start : start + MAX_METRICS_PER_BATCH]]
            answer = self._op(
                "log_metrics",
                dict[str, int],
                run_id=run_id,
                metrics=chunk,
                params=extra,
                allow_ended=allow_ended,
            )
            logged += answer["logged"]
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
        self._op(
            "update_run",
            run_id=run_id,
            status=RunStatus(status).value,
            error=error,
            metrics=[_metric_json(m) for m in items],
            params=dict(params or {}),
        )

    def log_artifact_bytes(self, run_id: str, data: bytes, artifact_path: str) -> Artifact:
        at = call("upload_artifact", run_id=run_id, path=clean_artifact_path(artifact_path))
        headers = {"Content-Type": "application/octet-stream"}
        return decode(Artifact, self._json(at, content=data, headers=headers))

    def log_batch(self, run_id: str, metrics: Sequence[Metric]) -> int:
        # checked here as the local client checks them: the server's schema would coerce "3" to 3
        items = [make_metric(m.key, m.value, m.step, m.timestamp) for m in metrics]
        logged = 0
        for start in range(0, max(len(items), 1), MAX_METRICS_PER_BATCH):
            chunk = [_metric_json(m) for m in items[start : start + MAX_METRICS_PER_BATCH]]
            logged += self._op("log_metrics", dict[str, int], run_id=run_id, metrics=chunk)["logged"]
        return logged

    get_metric_history = remote("metric_history", ClientAPI.get_metric_history, list[Metric])

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
            return [decode(Artifact, self._upload(at, path, progress))]
        with contextlib.ExitStack() as stack:
            parts = [
                ("files", (path.name, _Reader(stack.enter_context(open(path, "rb")), progress)))
                for path, _ in targets
            ]
            data = {"paths": json.dumps([target for _, target in targets])}
            found = self._json(call("upload_artifacts", run_id=run_id), data=data, files=parts)
        return decode(list[Artifact], found)

    list_artifacts = remote("list_artifacts", ClientAPI.list_artifacts, list[Artifact])

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
        datasets = [str(r) for r in refs]
        return self._op("log_inputs", list[RunInput], run_id=run_id, datasets=datasets, context=context)

    list_inputs = remote("list_inputs", ClientAPI.list_inputs, list[RunInput])

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
        return self._op(
            "search_runs",
            RunPage,
            projects=projects,
            filter=filter,
            order_by=list(order_by or []),
            max_results=max_results,
            page_token=page_token,
            include_deleted=include_deleted,
        )

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
        return decode(DatasetVersion, r), bool(r.get("created"))

    def log_dataframe(self, df: Any, name: str, **kwargs: Any) -> tuple[DatasetVersion, bool]:
        from carnet.data import table_from_dataframe  # noqa: PLC0415 - pyarrow is loaded lazily

        with tempfile.TemporaryDirectory(prefix="carnet-df-") as tmp:
            path = table_from_dataframe(df, Path(tmp) / "dataframe.parquet")
            kwargs.setdefault("source", f"dataframe:{type(df).__module__}.{type(df).__name__}")
            return self.add_dataset(path, name, **kwargs)

    def get_dataset(self, ref: str) -> DatasetVersion:
        DatasetRef.parse(ref)  # a malformed reference is refused as locally, before it becomes a URL
        return self._op("get_dataset", DatasetVersion, ref=ref)

    def list_datasets(self) -> list[DatasetVersion]:
        return self._op("list_datasets", list[DatasetVersion], profile="true")

    def dataset_versions(self, name: str) -> list[DatasetVersion]:
        check_name(name, "dataset name")
        return self._op("dataset_versions", list[DatasetVersion], name=name, profile="true")

    def scan_dataset(self, ref: str, **options: Any) -> dict[str, Any]:
        DatasetRef.parse(ref)
        return self._op("scan_dataset", dict[str, Any], ref=ref, body=options)

    def dataset_risk(
        self, ref: str, quasi_identifiers: list[str], sensitive: str | None = None
    ) -> dict[str, Any]:
        DatasetRef.parse(ref)
        quasi = list(quasi_identifiers)
        return self._op("dataset_risk", dict[str, Any], ref=ref, quasi_identifiers=quasi, sensitive=sensitive)

    def deidentify_dataset(
        self, ref: str, config: Any, *, name: str | None = None, description: str = ""
    ) -> tuple[DatasetVersion, bool]:
        from carnet.documents import read_document

        DatasetRef.parse(ref)
        body = {"config": read_document(config, "de-identification config"), "name": name,
                "description": description}  # fmt: skip
        response = self._send(call("deidentify_dataset", ref=ref), json=body)
        return decode(DatasetVersion, response.json()), response.status_code == 201

    def erase_dataset(
        self, name: str, where: str, *, reason: str, purge: bool = False, dry_run: bool = False
    ) -> dict[str, Any]:
        check_name(name, "dataset name")
        return self._op(
            "erase_dataset",
            dict[str, Any],
            name=name,
            where=where,
            reason=reason,
            purge=purge,
            dry_run=dry_run,
        )

    def purge_dataset(self, name: str, versions: list[int] | None = None, *, reason: str) -> dict[str, Any]:
        check_name(name, "dataset name")
        chosen = None if versions is None else list(versions)
        return self._op("purge_dataset", dict[str, Any], name=name, versions=chosen, reason=reason)

    def dataset_erasures(self, name: str) -> list[dict[str, Any]]:
        check_name(name, "dataset name")
        return self._op("dataset_erasures", list[dict[str, Any]], name=name)

    def dataset_usage(self, name: str | None = None) -> dict[str, Any]:
        if name is not None:
            check_name(name, "dataset name")
        return self._op("dataset_usage", dict[str, Any], name=name)

    collect_garbage = remote("collect_garbage", ClientAPI.collect_garbage, dict[str, Any])
    chunk_datasets = remote("chunk_datasets", ClientAPI.chunk_datasets, dict[str, Any])

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
            got = self._op("audit_events", list[AuditEvent], query={**params, "limit": page})
            events.extend(got)
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
        return self._op("audit_verify", Verification, query=params)

    # -- users and roles (a server admin's token: ``admin`` on ``*``) -------------------------------
    list_users = remote("list_users", ClientAPI.list_users, list[User])

    def add_user(self, name: str, roles: Mapping[str, str] | None = None) -> User:
        check_user_name(name)
        if roles is not None and not isinstance(roles, Mapping):  # what JSON could not carry
            raise InvalidInput("roles must map a project (or '*') to a role", field="roles")
        return self._op("create_user", User, name=name, roles=dict(roles or {}))

    disable_user = remote("disable_user", ClientAPI.disable_user, User, name=existing_user)
    enable_user = remote("enable_user", ClientAPI.enable_user, User, name=existing_user)

    def grant_role(self, user: str, project: str, role: str) -> User:
        check_project(project)
        check_role(role)  # checked here in the service's order: project, role, then the user
        return self._op("grant_role", User, name=existing_user(user), project=project, role=role)

    def revoke_role(self, user: str, project: str) -> User:
        check_project(project)
        return self._op("revoke_role", User, name=existing_user(user), project=project)

    # -- API tokens (any user may list, create and revoke their own) ---------------------------------
    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        if user is None:
            return self._op("list_tokens", list[TokenInfo])
        return self._op("list_user_tokens", list[TokenInfo], name=existing_user(user))

    def create_token(self, user: str, label: str = "") -> tuple[str, TokenInfo]:
        created = self._op("create_user_token", dict[str, Any], name=existing_user(user), label=label)
        return str(created["token"]), decode(TokenInfo, created)

    def revoke_token(self, token_id: int) -> TokenInfo:
        return self._op("revoke_user_token", TokenInfo, token_id=check_count(token_id, "token_id"))


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
