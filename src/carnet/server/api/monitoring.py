"""Monitoring routes: monitors, their passes, windows and rollups, alerts, ground-truth labels, and
drift between two dataset versions.

A monitor belongs to the project of the model it follows: reading needs ``viewer`` there, creating,
running and deleting ``editor``, acknowledging and resolving its alerts ``approver``. Labels for a
model need ``editor`` on its project; labels for no model in particular ``editor`` on every project.
Drift needs ``viewer`` on the project of each dataset. Creating a monitor also needs ``viewer`` on
the project of its reference and of its retraining spec's dataset, and ``editor`` on the project
its retraining writes to.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Any

from fastapi import Body, Depends, File, Form, Path, Query, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from carnet.domain import ModelRef, Monitor
from carnet.domain.monitors import Alert, load_monitor
from carnet.errors import CarnetError, InvalidInput, NotFound
from carnet.schemas import (
    AlertNoteIn,
    AlertOut,
    DriftIn,
    DriftReportOut,
    LabelFileOut,
    MonitorRunIn,
    MonitorStateOut,
    PassDetailOut,
    RollupOut,
    WindowOut,
)
from carnet.server.api.auth import Caller, caller
from carnet.server.api.registry import project_for
from carnet.server.api.streams import name_upload, receive_to_temp, upload_suffix
from carnet.services.monitoring import shown_spec

__all__ = [
    "acknowledge_alert",
    "create_monitor",
    "delete_monitor",
    "detect_drift",
    "detect_drift_files",
    "get_monitor",
    "list_alerts",
    "list_monitors",
    "monitor_rollup",
    "monitor_window_report",
    "monitor_windows",
    "resolve_alert",
    "run_monitor",
    "upload_labels",
]


#: the largest id or count a query accepts (the database's integers are 64-bit)
_MAX_INT = 2**63 - 1
_ALERT_ID = Path(..., ge=1, le=_MAX_INT, description="the alert's id")


def _project_of_model(c: Caller, model: str) -> str | None:
    """The project of a registered model (its name, or a reference such as ``churn@production``);
    None (every project) when the model is gone from the registry."""
    return project_for(c, ModelRef.parse(model).name, None)


def _monitor(c: Caller, name: str) -> Monitor:
    """A monitor, once the caller holds the route's role on its model's project."""
    monitor = c.services.monitoring.get(name)
    if c.principal is not None:
        c.require(_project_of_model(c, monitor.model))
    return monitor


def list_monitors(c: Caller = Depends(caller)) -> list[MonitorStateOut]:
    """The monitors the caller may read, by name."""
    return [
        MonitorStateOut.with_state(m, shown_spec(m))
        for m in c.services.monitoring.list()
        if c.principal is None or c.can(_project_of_model(c, m.model))
    ]


def create_monitor(
    spec: dict[str, Any] = Body(..., description="the monitor spec: {name, model, reference, window, ...}"),
    c: Caller = Depends(caller),
) -> MonitorStateOut:
    """Validate a monitor, build its reference from the dataset and store it (audited) → 201."""
    if c.principal is not None:
        monitor = load_monitor(spec)
        c.require_model(monitor.model_ref.name)
        # the reference is read into the monitor's state; a retraining spec reads its dataset and
        # writes its runs in its project when an alert fires
        c.require_refs(datasets=[monitor.reference])
        if monitor.retrain is not None:
            from carnet.training import load_spec

            try:
                retrain = load_spec(dict(monitor.retrain))
                c.require(retrain.project)
                c.require_refs(datasets=[retrain.dataset or None])
            except (InvalidInput, NotFound) as exc:
                exc.message, exc.field = f"retrain: {exc.message}", f"retrain.{exc.field or 'spec'}"
                raise
    created = c.services.monitoring.create(spec)
    return MonitorStateOut.with_state(created, shown_spec(created))


def get_monitor(name: str, c: Caller = Depends(caller)) -> MonitorStateOut:
    """One monitor, its notifier secrets redacted."""
    monitor = _monitor(c, name)
    return MonitorStateOut.with_state(monitor, shown_spec(monitor))


def run_monitor(name: str, body: MonitorRunIn | None = None, c: Caller = Depends(caller)) -> PassDetailOut:
    """One pass over the prediction-log rows logged since the last one; ``flush`` closes the
    unfinished window too. Alert actions run after the pass is stored."""
    _monitor(c, name)
    flush = body.flush if body is not None else False
    return PassDetailOut.of_pass(c.services.monitoring.run(name, flush=flush))


def monitor_windows(
    name: str,
    last: int | None = Query(None, ge=1, le=_MAX_INT, description="only the last N windows"),
    c: Caller = Depends(caller),
) -> list[WindowOut]:
    """The windows of a monitor, oldest first."""
    _monitor(c, name)
    return [WindowOut.of(w) for w in c.services.monitoring.windows(name, last=last)]


def monitor_window_report(
    name: str,
    seq: int = Path(..., ge=1, le=_MAX_INT, description="the window's number"),
    c: Caller = Depends(caller),
) -> dict[str, Any]:
    """The full JSON report of one window: per-column drift, data quality, performance estimates."""
    _monitor(c, name)
    return c.services.monitoring.window_report(c.services.monitoring.window(name, seq))


def monitor_rollup(
    name: str,
    period: str = Query("1d", description="a duration such as 1d or 6h"),
    last: int | None = Query(None, ge=1, le=_MAX_INT, description="from the last N windows only"),
    c: Caller = Depends(caller),
) -> list[RollupOut]:
    """Input drift per period, from the merged profiles of the windows that ended in it."""
    _monitor(c, name)
    return [RollupOut.of(r) for r in c.services.monitoring.rollup(name, period, last=last)]


def delete_monitor(name: str, c: Caller = Depends(caller)) -> Response:
    """Delete a monitor (audited); its windows and alerts stay on record."""
    _monitor(c, name)
    c.services.monitoring.delete(name)
    return Response(status_code=204)


# -- alerts -----------------------------------------------------------------------------------------
def _alert_monitor(c: Caller, alert_id: int) -> Monitor | None:
    """The monitor of an alert (None once deleted), checking the caller's role on its project."""
    alert = c.services.alerts.get(alert_id)
    try:
        monitor = c.services.monitoring.get(alert.monitor)
    except NotFound:
        c.require(None)
        return None
    c.require(_project_of_model(c, monitor.model))
    return monitor


def list_alerts(
    monitor: str | None = Query(None, description="only this monitor's alerts"),
    status: list[str] | None = Query(None, description="open, acknowledged or resolved (repeatable)"),
    c: Caller = Depends(caller),
) -> list[AlertOut]:
    """Alerts the caller may read, newest first."""
    found = None if monitor is None else _monitor(c, monitor)
    alerts = c.services.alerts.list(found, status)
    if c.principal is None or found is not None:
        return [AlertOut.of(a) for a in alerts]
    projects = {m.name: _project_of_model(c, m.model) for m in c.services.monitoring.list()}
    return [AlertOut.of(a) for a in alerts if c.can(projects.get(a.monitor))]


def acknowledge_alert(
    alert_id: int = _ALERT_ID, body: AlertNoteIn | None = None, c: Caller = Depends(caller)
) -> AlertOut:
    """Mark an open alert as seen (it stays active until resolved); audited."""
    return _note_alert(c, alert_id, body, c.services.alerts.acknowledge)


def resolve_alert(
    alert_id: int = _ALERT_ID, body: AlertNoteIn | None = None, c: Caller = Depends(caller)
) -> AlertOut:
    """Close an open or acknowledged alert by hand; audited and notified."""
    return _note_alert(c, alert_id, body, c.services.alerts.resolve)


def _note_alert(
    c: Caller, alert_id: int, body: AlertNoteIn | None, change: Callable[[int, str, Monitor | None], Alert]
) -> AlertOut:
    """Apply ``change`` (acknowledge or resolve) to an alert with the body's comment, after the role
    check on its monitor's project."""
    monitor = _alert_monitor(c, alert_id)
    comment = body.comment if body is not None else ""
    return AlertOut.of(change(alert_id, comment, monitor))


# -- ad hoc drift -----------------------------------------------------------------------------------
def detect_drift(body: DriftIn, c: Caller = Depends(caller)) -> DriftReportOut:
    """Compare two dataset versions now: per-column drift and the dataset verdict. The reference is
    read through its stored profile (built once); neither side is ever read as a server file."""
    datasets = c.services.datasets
    reference, current = datasets.get(body.reference), datasets.get(body.current)
    c.require(reference.project)
    c.require(current.project)
    report = c.services.monitoring.drift(reference.ref, current.ref, body.options, datasets_only=True)
    return DriftReportOut.of(report)


async def detect_drift_files(
    reference: str | None = Form(None, description="the reference dataset version (or send reference_file)"),
    current: str | None = Form(None, description="the current dataset version (or send current_file)"),
    options: str | None = Form(None, description="drift options as a JSON object"),
    reference_file: UploadFile | None = File(None, description="the reference table: CSV, TSV or Parquet"),
    current_file: UploadFile | None = File(None, description="the current table: CSV, TSV or Parquet"),
    c: Caller = Depends(caller),
) -> DriftReportOut:
    """Compare two tables now, either side a dataset version or an uploaded CSV/Parquet file (the
    SDK's drift on a file or a DataFrame of the caller's machine). Uploaded files are read once and
    not kept; a dataset version as reference is read through its stored profile."""
    try:
        opts = json.loads(options) if options else None
    except ValueError:
        raise InvalidInput("options must be a JSON object of drift options", field="options") from None
    if opts is not None and not isinstance(opts, dict):
        raise InvalidInput("options must be a JSON object of drift options", field="options")
    if (
        reference is None
        and current is None
        and not any(c.can(p.name) for p, _ in await run_in_threadpool(c.services.tracking.list_projects))
    ):  # two uploads touch no project, but the route is for callers holding its role somewhere
        c.require(None)
    sides: list[Any] = []
    temps: list[Any] = []
    try:
        for what, ref, upload in (
            ("reference", reference, reference_file),
            ("current", current, current_file),
        ):
            if (ref is None) == (upload is None):
                raise InvalidInput(f"give {what} (a dataset version) or {what}_file, not both", field=what)
            if ref is not None:
                version = await run_in_threadpool(c.require_dataset, ref)
                sides.append(version.ref)
                continue
            assert upload is not None
            suffix = upload_suffix(upload.filename, None)
            if not suffix:
                raise InvalidInput(
                    f"{what}_file must be a .csv, .tsv or .parquet file, got {upload.filename!r}",
                    field=f"{what}_file",
                )
            temp = await run_in_threadpool(_spool, upload, suffix)
            temps.append(temp)
            sides.append(temp)
        report = await run_in_threadpool(
            c.services.monitoring.drift, sides[0], sides[1], opts, datasets_only=True
        )
    finally:
        for temp in temps:
            temp.unlink(missing_ok=True)
    return DriftReportOut.of(report)


def _spool(upload: UploadFile, suffix: str) -> FilePath:
    """An uploaded file copied to a private temp file named with its suffix (the reader goes by it)."""
    fd, name = tempfile.mkstemp(prefix="carnet-drift-", suffix=suffix)
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(upload.file, out)
    return FilePath(name)


# -- labels -----------------------------------------------------------------------------------------
async def upload_labels(
    request: Request,
    id_column: str = Query("request_id", description="the column of the prediction's request id"),
    label_column: str = Query("label", description="the column of the true label"),
    row_column: str | None = Query(None, description="the row within the request (default: row 0)"),
    model: str | None = Query(None, description="the model the labels are for"),
    format: str | None = Query(None, description="csv or parquet (default: from filename and content)"),  # noqa: A002
    filename: str | None = Query(None, description="the file's name, for its format"),
    c: Caller = Depends(caller),
) -> LabelFileOut:
    """Store ground-truth labels (the request body: a CSV or Parquet file, streamed) → 201.

    The next monitoring pass joins them to the prediction log on ``(request id, row)``.
    """
    if format is not None and format not in ("csv", "parquet"):
        raise InvalidInput(f"unknown format {format!r}; use csv or parquet", field="format")
    if model is not None:
        owner = await run_in_threadpool(_labels_project, c, model)
        await run_in_threadpool(c.require, owner)
    else:
        await run_in_threadpool(c.require, None)
    tmp = await receive_to_temp(request, upload_suffix(filename, format))
    label = filename or "the uploaded file"
    try:
        stored = await run_in_threadpool(
            _add_labels, c, tmp, format, id_column, label_column, row_column, model, filename
        )
    except CarnetError as exc:
        name_upload(exc, tmp, label, "DataFrame")
        if exc.field == "path":  # the temp file's format could not be told: the client names it
            exc.field = "format"
            exc.message += " (query parameter format=csv|parquet, or filename=NAME.csv)"
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return LabelFileOut.of(stored)


def _labels_project(c: Caller, model: str) -> str:
    """The project of the model labels are for (NotFound naming the ``model`` query parameter)."""
    try:
        return str(c.services.registry.get_model(model).project)
    except NotFound as exc:
        raise NotFound(exc.message, field="model") from None


def _add_labels(
    c: Caller,
    path: Any,
    fmt: str | None,
    id_column: str,
    label_column: str,
    row_column: str | None,
    model: str | None,
    filename: str | None = None,
) -> Any:
    from carnet.data import read_table

    try:
        frame = read_table(path, fmt).to_pandas()  # type: ignore[arg-type]
    except CarnetError:
        raise
    except Exception as exc:  # a file the readers cannot parse is the user's input, not a crash
        raise InvalidInput(
            f"the labels file could not be read as CSV or Parquet: {exc}", field="body"
        ) from None
    try:
        return c.services.monitoring.add_labels(
            frame,
            id_column=id_column,
            label_column=label_column,
            row_column=row_column,
            model=model,
            source_name=f"upload:{filename}" if filename else "upload",
        )
    except (ValueError, TypeError) as exc:  # e.g. a row column that is not whole numbers
        field = "row_column" if row_column is not None else "labels"
        raise InvalidInput(f"the labels file could not be used: {exc}", field=field) from None
