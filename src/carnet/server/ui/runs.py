"""UI pages of experiment tracking: the runs table, one run, its metric series and files, compare."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from carnet.errors import InvalidInput
from carnet.schemas import RunOut, RunSearch
from carnet.server.api import tracking
from carnet.server.ui.app import json_script, render
from carnet.server.ui.nocode import study_view
from carnet.server.ui.pages import int_param
from carnet.server.ui.pipeline_svg import GRAPH_PATH, pipeline_view
from carnet.server.ui.session import REPORT_CSP, ui_caller

__all__ = [
    "ui_compare",
    "ui_compare_series",
    "ui_run",
    "ui_run_artifact",
    "ui_run_chart",
    "ui_run_series",
    "ui_runs",
]

#: runs a grouped table reads at most
MAX_GROUPED = 10_000
#: buckets a chart gets by default, and at most
DEFAULT_POINTS, MAX_POINTS = 1500, 10_000
#: runs one compare shows at most
MAX_COMPARED = 100
_SHOWN_KEYS = 4
_INLINE = {
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".yaml": "text/plain; charset=utf-8",
    ".csv": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
}


def _columns(runs: Sequence[RunOut], chosen: str) -> list[str]:
    """The pinned columns (``metrics.x``, ``params.y``) the URL names; the first few keys otherwise."""
    if chosen:
        cols = [c.strip() for c in chosen.split(",") if c.strip()]
        bad = [c for c in cols if not c.startswith(("metrics.", "params.", "tags."))]
        if bad:
            raise InvalidInput(
                f"columns are metrics.KEY, params.KEY or tags.KEY, got {bad[0]!r}", field="cols"
            )
        return cols[:50]
    metrics = sorted({k for r in runs for k in r.metrics})
    params = sorted({k for r in runs for k in r.params})
    return [f"metrics.{k}" for k in metrics[:_SHOWN_KEYS]] + [f"params.{k}" for k in params[:_SHOWN_KEYS]]


def cell(run: RunOut, column: str) -> Any:
    """The value a run shows in ``column``."""
    kind, _, key = column.partition(".")
    values: dict[str, Any] = {"metrics": run.metrics, "params": run.params, "tags": run.tags}
    return values[kind].get(key)


def _groups(runs: Sequence[RunOut], by: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Runs grouped by the value of ``by`` with each metric column's mean, std and count."""
    grouped: dict[str, list[RunOut]] = {}
    for run in runs:
        grouped.setdefault(str(cell(run, by) if cell(run, by) is not None else "(none)"), []).append(run)
    rows = []
    for value, members in sorted(grouped.items()):
        stats: dict[str, Any] = {}
        for column in columns:
            if not column.startswith("metrics."):
                values = {str(cell(r, column)) for r in members if cell(r, column) is not None}
                stats[column] = {"text": ", ".join(sorted(values)[:3]) + (" ..." if len(values) > 3 else "")}
                continue
            nums = [
                float(v)
                for r in members
                if isinstance(v := cell(r, column), int | float) and math.isfinite(v)
            ]
            stats[column] = {
                "mean": statistics.fmean(nums) if nums else None,
                "std": statistics.stdev(nums) if len(nums) > 1 else None,
                "n": len(nums),
            }
        rows.append({"value": value, "count": len(members), "stats": stats, "ids": [r.id for r in members]})
    return rows


def ui_runs(request: Request) -> Response:
    """Runs of the readable projects: the filter grammar, sort, pages, chosen columns, grouping."""
    q = request.query_params
    projects = [p for p in q.getlist("project") if p] or None
    text = (q.get("filter") or "").strip() or None
    order = (q.get("order") or "").strip()
    size = int_param(request, "n", 50, 1, 500)
    group = (q.get("group") or "").strip()
    caller = ui_caller(request, "search_runs")
    search = RunSearch(projects=projects, filter=text, order_by=[order] if order else [], max_results=size)
    if group:
        if not group.startswith(("params.", "tags.", "metrics.")):
            raise InvalidInput(f"group by params.KEY or tags.KEY, got {group!r}", field="group")
        runs: list[RunOut] = []
        token: str | None = None
        while len(runs) < MAX_GROUPED:
            page = tracking.search_runs(
                search.model_copy(update={"max_results": 1000, "page_token": token}), caller
            )
            runs += page.runs
            token = page.next_page_token
            if token is None:
                break
        columns = [c for c in _columns(runs, q.get("cols") or "") if c != group]
        return render(
            request,
            "runs.html",
            runs=[],
            groups=_groups(runs, group, columns),
            truncated=token is not None,
            columns=columns,
            keys=_keys(runs),
            query=_query(q),
            next_token=None,
            cell=cell,
        )
    page = tracking.search_runs(search.model_copy(update={"page_token": q.get("page") or None}), caller)
    columns = _columns(page.runs, q.get("cols") or "")
    return render(
        request,
        "runs.html",
        runs=nested(page.runs),
        groups=None,
        truncated=False,
        columns=columns,
        keys=_keys(page.runs),
        query=_query(q),
        next_token=page.next_page_token,
        cell=cell,
    )


def nested(runs: Sequence[RunOut]) -> list[dict[str, Any]]:
    """The page's runs with the children of a run on the same page (a search's trials, an AutoML
    study's candidates) right under it: ``{"run", "depth", "children"}``, in page order."""
    on_page = {r.id for r in runs}
    children: dict[str, list[RunOut]] = {}
    for r in runs:
        if r.parent_id in on_page:
            children.setdefault(str(r.parent_id), []).append(r)
    rows: list[dict[str, Any]] = []

    def add(run: RunOut, depth: int) -> None:
        kids = children.get(run.id, [])
        rows.append({"run": run, "depth": depth, "children": len(kids)})
        for kid in kids:
            add(kid, depth + 1)

    for r in runs:
        if r.parent_id not in on_page:
            add(r, 0)
    return rows


def _keys(runs: Sequence[RunOut]) -> list[str]:
    """Every column a run of the page could show (for the column chooser)."""
    keys = {f"metrics.{k}" for r in runs for k in r.metrics} | {f"params.{k}" for r in runs for k in r.params}
    return sorted(keys | {f"tags.{k}" for r in runs for k in r.tags if not k.startswith("carnet.")})


def _query(q: Any) -> dict[str, Any]:
    """The page's query (without the page token), to build the links that keep it."""
    return {k: q.getlist(k) if k == "project" else q.get(k) for k in q if k != "page" and q.get(k)}


def ui_run(request: Request, run_id: str) -> Response:
    """One run: params, latest metrics with charts, inputs, files, the training log, children."""
    caller = ui_caller(request, "get_run")
    run = tracking.get_run(run_id, caller)
    artifacts = tracking.list_artifacts(run.id, prefix=None, c=ui_caller(request, "list_artifacts"))
    inputs = tracking.list_inputs(run.id, ui_caller(request, "list_inputs"))
    children = tracking.search_runs(
        RunSearch(projects=[run.project], filter=f"parent_id = '{run.id}'", max_results=200), caller
    ).runs
    paths = {a.path for a in artifacts}
    log = next((p for p in ("logs/training.txt", "logs/training.log") if p in paths), None)
    report = "reports/evaluation.html" if "reports/evaluation.html" in paths else None
    images = [a.path for a in artifacts if a.path.endswith(".png")]
    board = next((p for p in ("search/leaderboard.json", "automl/leaderboard.json") if p in paths), None)
    if request.headers.get("hx-request") == "true" and request.query_params.get("part") == "log":
        # 286 tells htmx to stop polling: the run has ended
        status = 200 if run.status == "running" else 286
        return render(
            request, "run_log.html", status=status, run=run, log_text=_log_text(request, run.id, log)
        )
    study = study_view(request, run, children)  # a search's or AutoML study's trials and progress
    polled = request.headers.get("hx-request") == "true" and request.query_params.get("part") == "study"
    if study is not None and polled:
        status = 200 if run.status == "running" else 286
        leaderboard = _leaderboard(request, run.id, board)
        response = render(request, "study.html", status=status, run=run, study=study, leaderboard=leaderboard)
        if status == 286:  # the study ended: htmx reloads the whole page (its metrics, files, children)
            response.headers["HX-Refresh"] = "true"
        return response
    pipeline = None
    if run.tags.get("carnet.kind") == "pipeline" and GRAPH_PATH in paths:
        pipeline = pipeline_view(_artifact_bytes(request, run.id, GRAPH_PATH))
    return render(
        request,
        "run.html",
        run=run,
        artifacts=artifacts,
        inputs=inputs,
        children=children,
        report=report,
        images=images,
        log_path=log,
        log_text=_log_text(request, run.id, log),
        metric_keys=sorted(run.metrics),
        leaderboard=_leaderboard(request, run.id, board),
        study=study,
        pipeline=pipeline,
    )


def _leaderboard(request: Request, run_id: str, path: str | None, limit: int = 200) -> dict[str, Any] | None:
    """A search's or AutoML study's leaderboard (stored with its parent run, best first) as a table:
    its columns and up to ``limit`` rows; None when the run has none or it is not a list of rows."""
    import json

    if path is None:
        return None
    data = _artifact_bytes(request, run_id, path)
    if data is None:
        return None
    try:
        rows = json.loads(data)
    except ValueError:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return None
    columns = list(dict.fromkeys(k for r in rows[:limit] for k in r if k != "run_id"))
    shown = [
        {
            "run_id": str(r.get("run_id") or ""),
            "cells": [
                ", ".join(f"{k}={v}" for k, v in c.items()) if isinstance(c, dict) else c
                for c in (r.get(k) for k in columns)
            ],
        }
        for r in rows[:limit]
    ]
    return {"path": path, "columns": columns, "rows": shown, "total": len(rows)}


#: largest file a page reads to show (a log's tail, a leaderboard); larger ones are downloaded
SHOWN_MAX_BYTES = 64 * 1024 * 1024


def _artifact_bytes(request: Request, run_id: str, path: str) -> bytes | None:
    """A file of a run, read whole and checked against its digest (as every download), for a page
    to show; None when it is larger than :data:`SHOWN_MAX_BYTES`."""
    caller = ui_caller(request, "download_artifact")
    caller.require_run(run_id)
    found = next((a for a in caller.services.tracking.list_artifacts(run_id) if a.path == path), None)
    if found is None or found.size > SHOWN_MAX_BYTES:
        return None
    return bytes(caller.services.content.get_bytes(found.digest))


def _log_text(request: Request, run_id: str, path: str | None, limit: int = 200_000) -> str:
    """The end of the run's training log (verified like every download), or a note when it is too
    large to show here."""
    if path is None:
        return ""
    data = _artifact_bytes(request, run_id, path)
    if data is None:
        return f"(the log is larger than {SHOWN_MAX_BYTES // 2**20} MB: download {path} below)"
    return data[-limit:].decode("utf-8", errors="replace")


def _series(request: Request, run_id: str, key: str, points: int) -> dict[str, Any]:
    """One run's metric history, bucketed (the run's project needs the caller's role)."""
    start, end = _float(request, "start"), _float(request, "end")
    caller = ui_caller(request, "metric_history")
    run_id = caller.services.tracking.resolve_run_id(run_id)
    caller.require_run(run_id)
    series = caller.services.tracking.metric_series(run_id, key, points=points, start=start, end=end)
    return {"run": run_id, "key": key, **series}


def _key(request: Request) -> str:
    key = request.query_params.get("key") or ""
    if not key:
        raise InvalidInput("name the metric: ?key=NAME", field="key")
    return key


def ui_run_series(request: Request, run_id: str) -> Response:
    """A metric's history, downsampled to ``points`` buckets with min/max envelopes (JSON); a
    ``start``/``end`` step range is bucketed on its own (a zoom)."""
    points = int_param(request, "points", DEFAULT_POINTS, 2, MAX_POINTS)
    return JSONResponse(_series(request, run_id, _key(request), points))


def ui_compare_series(request: Request) -> Response:
    """One metric of up to 100 runs in one answer (``?key=K&run=ID&run=ID``), each bucketed to
    ``points`` (default 500): what a compare chart draws."""
    key = _key(request)
    ids = _run_ids(request)
    points = int_param(request, "points", 500, 2, MAX_POINTS)
    return JSONResponse({"key": key, "series": [_series(request, i, key, points) for i in ids]})


def ui_run_chart(request: Request, run_id: str) -> Response:
    """One metric of a run on a page of its own, large (``?key=K``)."""
    key = _key(request)
    run = tracking.get_run(run_id, ui_caller(request, "get_run"))
    return render(request, "chart.html", run=run, key=key)


def _float(request: Request, name: str) -> float | None:
    text = request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, got {text[:40]!r}", field=name) from None
    if not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number", field=name)
    return value


def ui_run_artifact(request: Request, run_id: str, path: str) -> Response:
    """A file of a run, verified against its digest; shown in the browser when it is text, an image
    or an HTML report (sandboxed: no script, no network), downloaded otherwise."""
    response = tracking.download_artifact(run_id, path, ui_caller(request, "download_artifact"))
    suffix = PurePosixPath(path).suffix.lower()
    if request.query_params.get("download") or suffix not in _INLINE:
        return response
    response.headers["content-type"] = _INLINE[suffix]
    response.headers["content-disposition"] = "inline"
    if suffix in (".html", ".svg"):
        response.headers["content-security-policy"] = REPORT_CSP
    return response


def ui_compare(request: Request) -> Response:
    """2 to 100 runs side by side: params (differences first), metrics, overlaid charts, parallel
    coordinates and a scatter of any two columns."""
    caller = ui_caller(request, "get_run")
    runs = [tracking.get_run(i, caller) for i in _run_ids(request)]
    params = sorted({k for r in runs for k in r.params})
    metrics = sorted({k for r in runs for k in r.metrics})
    differing = [k for k in params if len({r.params.get(k) for r in runs}) > 1]
    table = {
        "runs": [{"id": r.id, "name": r.name} for r in runs],
        "columns": [f"params.{k}" for k in differing] + [f"metrics.{k}" for k in metrics],
        "rows": [
            [
                _plain(cell(r, c))
                for c in [f"params.{k}" for k in differing] + [f"metrics.{k}" for k in metrics]
            ]
            for r in runs
        ],
    }
    return render(
        request,
        "compare.html",
        runs=runs,
        params=sorted(params, key=lambda k: (k not in differing, k)),
        differing=set(differing),
        metrics=metrics,
        table_json=json_script(table),
    )


def _run_ids(request: Request) -> list[str]:
    """The runs a compare names (``?run=ID&run=ID`` or ``?run=ID,ID``), each once, 1 to 100."""
    ids = [i.strip() for raw in request.query_params.getlist("run") for i in raw.split(",") if i.strip()]
    ids = list(dict.fromkeys(ids))
    if not 1 <= len(ids) <= MAX_COMPARED:
        raise InvalidInput(f"compare 2 to {MAX_COMPARED} runs: ?run=ID&run=ID", field="run")
    return ids


def _plain(value: Any) -> Any:
    """A cell as JSON: numbers as numbers (non-finite as null), other values as text."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else str(value)
