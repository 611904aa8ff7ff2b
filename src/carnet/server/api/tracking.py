"""Tracking routes: projects, runs, params, metric batches, tags, inputs and streamed artifacts."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import Depends, File, Form, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from carnet.domain import Metric, RunStatus
from carnet.errors import Conflict, InvalidInput, NotFound
from carnet.schemas import (
    ArtifactOut,
    InputsIn,
    LoggedOut,
    MetricIn,
    MetricOut,
    MetricsBatchIn,
    ParamsIn,
    ProjectIn,
    ProjectOut,
    RunCreate,
    RunInputOut,
    RunOut,
    RunPageOut,
    RunPatch,
    RunSearch,
    TagsIn,
)
from carnet.server.api.auth import Caller, caller
from carnet.server.api.streams import check_artifact_path, download_response, receive_to_temp
from carnet.services import TrackingService

__all__ = [
    "ci_report",
    "create_project",
    "create_run",
    "delete_tag",
    "download_artifact",
    "get_run",
    "lineage",
    "list_artifacts",
    "list_inputs",
    "list_projects",
    "log_inputs",
    "log_metrics",
    "log_params",
    "metric_history",
    "search_runs",
    "set_tags",
    "update_run",
    "upload_artifact",
    "upload_artifacts",
]


def _metrics(tracking: TrackingService, items: Sequence[MetricIn]) -> list[Metric]:
    now = time.time()
    return [
        tracking.make_metric(
            m.key,
            math.nan if m.value is None else m.value,
            m.step,
            now if m.timestamp is None else m.timestamp,
        )
        for m in items
    ]


# -- projects ---------------------------------------------------------------------------------------
def list_projects(c: Caller = Depends(caller)) -> list[ProjectOut]:
    """Projects the caller may read, with their run counts."""
    return [ProjectOut.of(p, n) for p, n in c.services.tracking.list_projects() if c.can(p.name)]


def create_project(body: ProjectIn, c: Caller = Depends(caller)) -> ProjectOut:
    """Create a project (409 when the name is taken)."""
    c.require(body.name)
    return ProjectOut.of(c.services.tracking.create_project(body.name, body.description), 0)


# -- runs -------------------------------------------------------------------------------------------
def create_run(body: RunCreate, c: Caller = Depends(caller)) -> RunOut:
    """Start a run; its project is created when missing."""
    c.require(body.project)
    c.require_refs(runs=[body.parent_id])  # the parent must be of the same project (checked after)
    run = c.services.tracking.create_run(
        body.project,
        body.name,
        parent_id=body.parent_id,
        params=dict(body.params),
        tags=dict(body.tags),
        environment=body.environment,
    )
    return RunOut.of(run)


def search_runs(body: RunSearch, c: Caller = Depends(caller)) -> RunPageOut:
    """Runs matching a filter (``metrics.auc > 0.9 and params.model = 'lgbm'``), ordered, one page."""
    projects = body.projects
    if projects is not None:
        for project in projects:
            c.require(project)
    elif c.principal is not None and not c.can(None):
        projects = [p.name for p, _ in c.services.tracking.list_projects() if c.can(p.name)]
    page = c.services.tracking.search_runs(
        projects, body.filter, body.order_by, body.max_results, body.page_token, body.include_deleted
    )
    return RunPageOut.of(page)


def get_run(run_id: str, c: Caller = Depends(caller)) -> RunOut:
    """A run (by id, or a unique prefix of 4+ characters) with params, tags and latest metrics."""
    run_id = c.services.tracking.resolve_run_id(run_id)
    c.require_run(run_id)
    return RunOut.of(c.services.tracking.get_run(run_id))


def update_run(run_id: str, body: RunPatch, c: Caller = Depends(caller)) -> RunOut:
    """End a run (``status``, with its last metric values and params), or delete/restore it."""
    c.require_run(run_id)
    tracking = c.services.tracking
    if body.status is None and (body.metrics or body.params or body.error is not None):
        raise InvalidInput(
            "metrics, params and error given here are written as the run ends: give status", field="status"
        )
    if body.status is None and body.deleted is None:
        raise InvalidInput(
            "give status (finished, failed, killed) to end the run, or deleted", field="status"
        )
    if body.status is not None:
        tracking.end_run(
            run_id,
            RunStatus(body.status),
            body.error,
            metrics=_metrics(tracking, body.metrics),
            params=dict(body.params),
        )
    if body.deleted is not None:
        tracking.delete_run(run_id, restore=not body.deleted)
    return RunOut.of(tracking.get_run(run_id))


def _logged(
    c: Caller, run_id: str, write: Callable[[str, dict[str, Any]], None], values: dict[str, Any]
) -> LoggedOut:
    """Write ``values`` (params or tags) to a run, after the role check on its project; counts them."""
    c.require_run(run_id)
    write(run_id, dict(values))
    return LoggedOut(logged=len(values))


def log_params(run_id: str, body: ParamsIn, c: Caller = Depends(caller)) -> LoggedOut:
    """Record params (immutable: another value for a logged key is 409)."""
    return _logged(c, run_id, c.services.tracking.log_params, body.params)


def log_metrics(run_id: str, body: MetricsBatchIn, c: Caller = Depends(caller)) -> LoggedOut:
    """Write a batch of metric values (and params) in one transaction and one audit event."""
    c.require_run(run_id)
    tracking = c.services.tracking
    count = tracking.log_batch(
        run_id, _metrics(tracking, body.metrics), dict(body.params), allow_ended=body.allow_ended
    )
    return LoggedOut(logged=count)


def metric_history(run_id: str, key: str, c: Caller = Depends(caller)) -> list[MetricOut]:
    """Every value of one metric of a run (NaN as null)."""
    c.require_run(run_id)
    return [MetricOut.of(m) for m in c.services.tracking.metric_history(run_id, key)]


def set_tags(run_id: str, body: TagsIn, c: Caller = Depends(caller)) -> LoggedOut:
    """Set tags (allowed after the run ended)."""
    return _logged(c, run_id, c.services.tracking.set_tags, body.tags)


def delete_tag(run_id: str, key: str, c: Caller = Depends(caller)) -> Response:
    """Remove one tag."""
    c.require_run(run_id)
    c.services.tracking.delete_tag(run_id, key)
    return Response(status_code=204)


def log_inputs(run_id: str, body: InputsIn, c: Caller = Depends(caller)) -> list[RunInputOut]:
    """Record dataset versions the run read (``name@N``; ``name``: the latest)."""
    c.require_run(run_id)
    c.require_refs(datasets=body.datasets)  # a dataset of another project: read access there
    return [RunInputOut.of(i) for i in c.services.tracking.log_inputs(run_id, body.datasets, body.context)]


def list_inputs(run_id: str, c: Caller = Depends(caller)) -> list[RunInputOut]:
    """Dataset versions the run read."""
    c.require_run(run_id)
    return [RunInputOut.of(i) for i in c.services.tracking.list_inputs(run_id)]


# -- lineage ----------------------------------------------------------------------------------------
def lineage(
    ref: str = Query(..., description="a dataset version, run id, model version, endpoint or monitor"),
    depth: int = Query(6, ge=1, le=20, description="steps to follow upstream and downstream"),
    c: Caller = Depends(caller),
) -> dict[str, Any]:
    """What ``ref`` came from and what came of it (nodes and edges); the caller needs viewer on the
    project of ``ref``, and objects they may not read are left out with what is reached only through
    them (endpoints, which belong to no project, need viewer on every project, as their routes do)."""
    graph = c.services.lineage.lineage(ref, depth=depth)
    c.require(graph.nodes[graph.root].project, "viewer")
    projects = {n.project for n in graph.nodes.values()}
    allowed = {project for project in projects if c.can(project, "viewer")}
    return graph.keep({k for k, n in graph.nodes.items() if n.project in allowed}).to_dict()


# -- artifacts --------------------------------------------------------------------------------------
def list_artifacts(
    run_id: str,
    prefix: str | None = Query(None, description="only paths under this folder"),
    c: Caller = Depends(caller),
) -> list[ArtifactOut]:
    """Artifacts of a run, by path."""
    c.require_run(run_id)
    arts = c.services.tracking.list_artifacts(run_id)
    if prefix:
        folder = prefix.rstrip("/") + "/"
        arts = [a for a in arts if a.path.startswith(folder)]
    return [ArtifactOut.of(a) for a in arts]


async def upload_artifact(
    run_id: str, path: str, request: Request, c: Caller = Depends(caller)
) -> ArtifactOut:
    """Store the request body (streamed, size-limited) as the artifact ``path`` of a running run.

    ``path`` is a name inside the run, never a file path: ``..``, absolute paths, backslashes,
    control characters and leftover percent-escapes are refused (422 naming ``path``).
    """
    clean = check_artifact_path(path)
    run = await run_in_threadpool(c.services.tracking.get_run, run_id)
    await run_in_threadpool(c.require, run.project)
    if run.status.terminal:
        raise Conflict(f"run {run_id} is {run.status.value}; artifacts go to a running run", field="run_id")
    tmp = await receive_to_temp(request)
    try:
        items = await run_in_threadpool(c.services.tracking.log_artifact, run_id, tmp, clean)
    finally:
        tmp.unlink(missing_ok=True)
    return ArtifactOut.of(items[0])


async def upload_artifacts(
    run_id: str,
    paths: str = Form(..., description="JSON list: the artifact path of each file part, in order"),
    files: list[UploadFile] = File(..., description="the files, one part each"),
    c: Caller = Depends(caller),
) -> list[ArtifactOut]:
    """Store several files (a folder) under a running run as one change: one transaction, one
    audit event. Every path is checked as in ``PUT /runs/{run_id}/artifacts/{path}``."""
    try:
        names = json.loads(paths)
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInput("paths must be a JSON list of artifact paths", field="paths")
    if len(names) != len(files):
        raise InvalidInput(f"{len(names)} paths for {len(files)} files", field="paths")
    clean = [check_artifact_path(n) for n in names]
    await run_in_threadpool(c.require_run, run_id)
    streams = [(path, upload.file) for path, upload in zip(clean, files, strict=True)]
    recorded = await run_in_threadpool(c.services.tracking.log_artifact_streams, run_id, streams)
    return [ArtifactOut.of(a) for a in recorded]


def download_artifact(run_id: str, path: str, c: Caller = Depends(caller)) -> Response:
    """The bytes of one artifact, checked against their digest before any is sent."""
    clean = check_artifact_path(path)
    c.require_run(run_id)
    found = next((a for a in c.services.tracking.list_artifacts(run_id) if a.path == clean), None)
    if found is None:
        raise NotFound(f"run {run_id} has no artifact {clean!r}", field="path")
    return download_response(c.services.content, found.digest, found.size, found.path)


def ci_report(
    run_id: str,
    pipeline: str | None = Query(None, description="the latest run of this pipeline (with run_id latest)"),
    model: str | None = Query(None, description="a training run's model: the version registered from it"),
    policy: str | None = Query(None, description="a policy as a JSON object (default: the model's own)"),
    alias: str = Query("production", description="the alias the candidate is judged for"),
    base_url: str | None = Query(None, description="the web UI's URL, for links"),
    c: Caller = Depends(caller),
) -> dict[str, Any]:
    """The CI report of a pipeline run (``latest`` with ``pipeline``) or a training run: gates, metrics
    against the incumbent with intervals, drift of the training data, links. Stores nothing."""
    reports = c.services.ci_report
    if run_id == "latest" and pipeline is not None:
        readable = [p.name for p, _ in c.services.tracking.list_projects() if c.can(p.name)]
        run_id = reports.latest_pipeline_run(pipeline, readable)  # only runs the caller may read
    run = c.services.tracking.resolve_run_id(run_id)
    c.require_run(run)
    if model is not None:
        c.require_model(model)
    chosen: dict[str, Any] | None = None
    if policy is not None:
        try:
            chosen = json.loads(policy)
        except ValueError:
            chosen = None
        if not isinstance(chosen, dict):
            raise InvalidInput("policy must be a JSON object (name, gates, ...)", field="policy")
        c.require_policy_data(chosen)
    return reports.report(run, model=model, policy=chosen, alias=alias, base_url=base_url)
