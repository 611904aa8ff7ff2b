"""UI forms that train without code: upload a table as a dataset version (with its personal-data
scan), start AutoML on a version in the background and watch its leaderboard fill in on the study's
run page, then register the study's best model.

Each form calls the API operation a client would (``upload_dataset`` through the same service and
checks, ``scan_dataset``, ``automl``'s own handler and training slots, ``register_model_version``)
with the user's identity, so the roles and the audit events are the API's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from carnet.domain.datasets import check_name
from carnet.errors import CarnetError, Conflict, InvalidInput, NotFound
from carnet.schemas import AutoMLIn, DatasetScanIn, RegisterIn, RunOut, RunSearch
from carnet.server.api import datasets, registry, tracking, training
from carnet.server.api.auth import Caller
from carnet.server.api.errors import problem_of
from carnet.server.api.streams import TABLE_SUFFIXES, add_uploaded_dataset, dataset_owner
from carnet.server.jobs import Job, JobFailed, jobs_of, new_job_id
from carnet.server.ui.app import render
from carnet.server.ui.session import check_csrf, ui_caller

__all__ = [
    "STUDY_KINDS",
    "describe_failure",
    "study_view",
    "ui_automl_job",
    "ui_automl_start",
    "ui_dataset_upload",
    "ui_register_best",
]

log = logging.getLogger("carnet.server.ui")

#: the tasks the AutoML form offers ("auto": inferred from the target column)
AUTOML_TASKS = ("auto", "binary", "multiclass", "regression")
#: the time budget the AutoML form accepts, in seconds (longer studies: ``carnet automl``)
MIN_BUDGET, MAX_BUDGET = 5, 3600
MAX_TRIALS = 1000
#: run kinds (tag ``kind``) whose page shows a study: trials, progress, best run
STUDY_KINDS = ("automl", "search")
#: how long the AutoML form waits for the study's run before showing the job's page
_WAIT_FOR_RUN = 20.0


def _text(form: dict[str, Any], key: str, limit: int = 1000) -> str:
    value = form.get(key)
    text = value.strip() if isinstance(value, str) else ""
    if len(text) > limit:
        raise InvalidInput(f"{key} is longer than {limit} characters", field=key)
    return text


def _number(form: dict[str, Any], key: str, low: float, high: float, *, whole: bool = False) -> float | None:
    """A number of the form between ``low`` and ``high`` (None when left empty)."""
    text = _text(form, key, 40)
    if not text:
        return None
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise InvalidInput(f"{key} must be {kind}, got {text!r}", field=key) from None
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidInput(f"{key} must be between {low:g} and {high:g}, got {text}", field=key)
    return value


def describe_failure(request: Request) -> Any:
    """How a job of this request describes its failure: the API's problem detail for carnet's
    errors, a generic one (the cause in the server log) for anything else."""

    def describe(exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, CarnetError):
            return problem_of(request, exc)[1]
        log.error("background job failed", exc_info=exc)
        return {
            "type": "about:blank",
            "status": 500,
            "title": "Internal Server Error",
            "detail": f"the job failed ({type(exc).__name__}); the server log has the cause",
        }

    return describe


# -- upload ---------------------------------------------------------------------------------------
def _store_upload(c: Caller, upload: UploadFile, name: str, project: str, description: str) -> Any:
    """The uploaded file stored as the next version of ``name`` (as ``upload_dataset`` stores it)."""
    filename = Path(str(upload.filename)).name
    suffix = next(s for s in TABLE_SUFFIXES if filename.lower().endswith(s))
    fd, temp = tempfile.mkstemp(prefix="carnet-upload-", suffix=suffix)
    tmp = Path(temp)
    try:
        with open(fd, "wb") as out:
            shutil.copyfileobj(upload.file, out, 1 << 20)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return add_uploaded_dataset(
        c.services, tmp, name, project, repr(filename), description=description, source=f"upload:{filename}"
    )


async def ui_dataset_upload(request: Request) -> Response:
    """Store an uploaded CSV or Parquet file as the next version of a dataset, then show the version
    and its personal-data scan (with the way to de-identify what it found)."""
    form = await check_csrf(request)
    caller = ui_caller(request, "upload_dataset")
    name = _text(form, "name", 256)
    project = _text(form, "project", 256) or "default"
    check_name(name, "name")
    check_name(project, "project")
    owner = await run_in_threadpool(dataset_owner, caller.services, name, project)
    await run_in_threadpool(caller.require, owner)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InvalidInput("choose a CSV or Parquet file to upload", field="file")
    if not str(upload.filename).lower().endswith(TABLE_SUFFIXES):
        raise InvalidInput(
            f"{Path(str(upload.filename)).name[:100]!r} is not a CSV or Parquet file: upload a "
            ".csv, .tsv (optionally .gz), .parquet or .pq file",
            field="file",
        )
    description = _text(form, "description", 2000)
    version, created = await run_in_threadpool(_store_upload, caller, upload, name, owner, description)
    scan = await run_in_threadpool(
        datasets.scan_dataset,
        version.ref,
        DatasetScanIn.model_validate({}),
        ui_caller(request, "scan_dataset"),
    )
    return render(
        request,
        "dataset_uploaded.html",
        status=201 if created else 200,
        v=version,
        created=created,
        scan=scan,
    )


# -- AutoML ---------------------------------------------------------------------------------------
async def ui_automl_start(request: Request, name: str, version: str) -> Response:
    """Start AutoML on a dataset version in the background; go to the study's run page (or the job's
    page while it waits for a training slot)."""
    form = await check_csrf(request)
    caller = ui_caller(request, "automl")
    v = await run_in_threadpool(datasets.get_dataset, f"{name}@{version}", ui_caller(request, "get_dataset"))
    await run_in_threadpool(caller.require, v.project)  # the study is a run of the version's project
    target = _text(form, "target", 256)
    columns = [f.name for f in v.schema_]
    if not target:
        raise InvalidInput("choose the target column: the one the model learns to predict", field="target")
    if target not in columns:
        raise InvalidInput(f"{target[:100]!r} is not a column of {v.ref}", field="target")
    task = _text(form, "task", 40) or "auto"
    if task not in AUTOML_TASKS:
        raise InvalidInput(f"task must be one of {', '.join(AUTOML_TASKS)}, got {task[:40]!r}", field="task")
    budget = _number(form, "time_budget", MIN_BUDGET, MAX_BUDGET)
    if budget is None:
        raise InvalidInput(f"give a time budget of {MIN_BUDGET} to {MAX_BUDGET} seconds", field="time_budget")
    trials = _number(form, "max_trials", 1, MAX_TRIALS, whole=True)
    jobs = jobs_of(request.app)
    jobs.check_room(caller.user)
    job_id = new_job_id()
    body = AutoMLIn.model_validate(
        {
            "data": v.ref,
            "target": target,
            "task": None if task == "auto" else task,
            "time_budget": budget,
            "project": v.project,
            "max_trials": int(trials) if trials is not None else None,
            "environment": {"started_from": "carnet web UI", "ui_job": job_id},
        }
    )
    stream = await run_in_threadpool(training.automl, body, request, caller)  # the API's checks
    job = jobs.submit(
        "automl",
        caller.user,
        _consume(stream),
        describe_failure(request),
        project=v.project,
        subject=v.ref,
        job_id=job_id,
    )
    deadline = time.monotonic() + _WAIT_FOR_RUN
    while time.monotonic() < deadline:
        run_id = await run_in_threadpool(_study_run, request, job)
        if run_id is not None:
            return RedirectResponse(f"/runs/{run_id}", status_code=303)
        if job.state == "failed" and job.problem is not None:
            return render(
                request, "error.html", status=int(job.problem.get("status") or 500), problem=job.problem
            )
        await asyncio.sleep(0.2)
    return RedirectResponse(f"/automl/{job.id}", status_code=303)


def _consume(stream: Any) -> Any:
    """The job's work: read the AutoML stream (the API's NDJSON events) to its end, recording the
    progress; the ``result`` event is the job's result, an ``error`` event its problem."""

    def work(job: Job) -> Any:
        async def read() -> Any:
            result: Any = None
            async for chunk in stream.body_iterator:
                text = chunk.decode() if isinstance(chunk, bytes) else str(chunk)
                for line in text.splitlines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind = event.get("event")
                    if kind == "queued":
                        job.report("waiting for a training slot", 0, 0)
                    elif kind == "started":
                        job.report("starting", 0, 0)
                    elif kind == "progress":
                        job.report(
                            str(event.get("stage")), int(event.get("done") or 0), int(event.get("total") or 0)
                        )
                    elif kind == "result":
                        result = event.get("result")
                    elif kind == "error":
                        raise JobFailed(dict(event.get("problem") or {}))
            return result

        result = asyncio.run(read())
        if isinstance(result, dict) and result.get("parent_run_id"):
            job.notes["run_id"] = str(result["parent_run_id"])
        return result

    return work


def _study_run(request: Request, job: Job) -> str | None:
    """The id of the run the AutoML job made (found by the job id it recorded in its environment),
    None while it has none."""
    if job.notes.get("run_id"):
        return str(job.notes["run_id"])
    since = f"{job.created - 60:.3f}"  # a search leaves out environments: the candidates are read whole
    search = RunSearch(
        projects=[job.project],
        filter=f"tags.kind = 'automl' and attributes.start_time >= {since}",
        order_by=["start_time DESC"],
        max_results=20,
    )
    with contextlib.suppress(NotFound):
        for found in tracking.search_runs(search, ui_caller(request, "search_runs")).runs:
            run = tracking.get_run(found.id, ui_caller(request, "get_run"))
            if run.environment.get("ui_job") == job.id:
                job.notes["run_id"] = run.id
                return run.id
    return None


def ui_automl_job(request: Request, job_id: str) -> Response:
    """An AutoML job of the user before its study's run exists (waiting for a training slot, or
    failed first): polled until the run page can be shown."""
    caller = ui_caller(request, "get_run")
    job = jobs_of(request.app).get(job_id, owner=caller.user)
    if job.kind != "automl":
        raise NotFound(f"no AutoML job {job_id[:40]!r}", field="job")
    caller.require(job.project)
    run_id = _study_run(request, job)
    polled = request.headers.get("hx-request") == "true"
    if run_id is not None:
        target = f"/runs/{quote(run_id, safe='')}"
        if polled:  # htmx follows this header with a full page load
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)
    snapshot = job.snapshot()
    template = "automl_job_status.html" if polled else "automl_job.html"
    return render(request, template, status=286 if polled and job.finished else 200, job=snapshot)


# -- the study on its run page --------------------------------------------------------------------
def _trial_number(run: RunOut) -> int:
    digits = run.name.rpartition("-")[2]
    return int(digits) if digits.isdigit() else 1 << 30


def study_view(request: Request, run: RunOut, children: list[RunOut]) -> dict[str, Any] | None:
    """What a study's run page shows: its trials so far (a live leaderboard while it runs), its
    progress against the time budget, its best run, and whether the user may register it."""
    kind = run.tags.get("kind")
    if kind not in STUDY_KINDS:
        return None
    trials = sorted((c for c in children if c.tags.get("kind") == "trial"), key=_trial_number)
    metrics = sorted({k for t in trials for k in t.metrics if k != "trial_seconds"})[:6]
    rows = [
        {
            "run_id": t.id,
            "name": t.name,
            "model": t.params.get("model.name", ""),
            "preprocess": t.params.get("preprocess", ""),
            "metrics": [t.metrics.get(k) for k in metrics],
            "seconds": t.metrics.get("trial_seconds"),
            "state": t.tags.get("trial_state") or t.status,
        }
        for t in trials
    ]
    try:
        budget: float | None = float(run.params.get("time_budget", ""))
    except ValueError:
        budget = None
    elapsed = max(0.0, (run.end_time or time.time()) - run.start_time)
    best = run.tags.get("best_run") or None
    dataset = run.params.get("dataset", "")
    problem = None
    if run.status != "running":
        job = jobs_of(request.app).find(ui_caller(request, "get_run").user, "automl", run_id=run.id)
        problem = job.problem if job is not None and job.state == "failed" else None
    return {
        "kind": kind,
        "columns": metrics,
        "rows": rows,
        "trials": len(rows),
        "budget": budget,
        "elapsed": min(elapsed, budget) if budget is not None and run.status == "running" else elapsed,
        "best_run": best,
        "best_model": run.tags.get("best_model", ""),
        "model_name": dataset.partition("@")[0] if "@" in dataset else "",
        "may_register": bool(best)
        and run.status == "finished"
        and ui_caller(request, "register_model_version").can(run.project),
        "problem": problem,
    }


# -- register the study's best model --------------------------------------------------------------
def _register_best(request: Request, caller: Caller, run_id: str, name: str) -> Any:
    """Register the best run of study ``run_id`` as the next version of model ``name``."""
    run = tracking.get_run(run_id, ui_caller(request, "get_run"))
    try:  # the role register_model_version needs: on the model's project, or the run's for a new one
        project = caller.services.registry.get_model(name).project
    except NotFound:
        project = run.project
    caller.require(project)
    if not name:
        raise InvalidInput("name the model to register the best run under", field="name")
    best = run.tags.get("best_run")
    if run.tags.get("kind") not in STUDY_KINDS or not best:
        raise Conflict(
            f"run {run.id} is not a finished AutoML study or search with a best run; register a run's "
            "model from its own page with carnet models register RUN_ID --name NAME",
            field="run_id",
        )
    body = RegisterIn(run_id=best, description=f"the best model of study {run.id}")
    return registry.register_model_version(name, body, caller)


async def ui_register_best(request: Request, run_id: str) -> Response:
    """Register the best model of a finished study (AutoML or search); on to the new version's page."""
    form = await check_csrf(request)
    caller = ui_caller(request, "register_model_version")
    name = _text(form, "name", 256)
    mv = await run_in_threadpool(_register_best, request, caller, run_id, name)
    return RedirectResponse(f"/models/{quote(mv.name, safe='')}/{mv.version}", status_code=303)
