"""UI pages of data and operations: datasets (versions, profile, diff), deployments, monitors with
their drift heatmap, quality, performance and alerts, and the lineage graph of any object."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from carnet.errors import CarnetError, InvalidInput, NotFound
from carnet.schemas import AlertNoteIn
from carnet.server.api import datasets, deployments, monitoring, tracking
from carnet.server.ui.app import render
from carnet.server.ui.lineage_svg import lineage_svg, node_link
from carnet.server.ui.pages import int_param
from carnet.server.ui.session import check_csrf, ui_caller

__all__ = [
    "ui_alert_acknowledge",
    "ui_alert_resolve",
    "ui_dataset",
    "ui_dataset_diff",
    "ui_dataset_version",
    "ui_datasets",
    "ui_deployment",
    "ui_deployments",
    "ui_lineage",
    "ui_monitor",
    "ui_monitors",
]

#: rows a dataset version may have for the page to read it and draw histograms
HISTOGRAM_MAX_ROWS = 1_000_000
_BINS = 20
_histograms: OrderedDict[str, dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


# -- datasets ---------------------------------------------------------------------------------------
def ui_datasets(request: Request) -> Response:
    """Datasets the user may read: the latest version of each, with its size."""
    project = request.query_params.get("project") or None
    found = datasets.list_datasets(project=project, profile=False, c=ui_caller(request, "list_datasets"))
    latest: dict[str, Any] = {}
    for v in found:
        if v.name not in latest or v.version > latest[v.name].version:
            latest[v.name] = v
    return render(request, "datasets.html", datasets=sorted(latest.values(), key=lambda v: v.name))


def ui_dataset(request: Request, name: str) -> Response:
    """Every version of a dataset, newest first, with a form to compare two of them."""
    versions = datasets.dataset_versions(name, profile=False, c=ui_caller(request, "dataset_versions"))
    return render(request, "dataset.html", name=name, versions=sorted(versions, key=lambda v: -v.version))


def ui_dataset_version(request: Request, name: str, version: str) -> Response:
    """One version: schema, per-column profile with histograms and top values, where it was used."""
    caller = ui_caller(request, "get_dataset")
    v = datasets.get_dataset(f"{name}@{version}", caller)
    histograms: dict[str, Any] = {}
    if v.num_rows <= HISTOGRAM_MAX_ROWS and v.superseded_by is None:  # an erased version is not read
        histograms = _histograms_of(caller, v.ref, v.digest)
    used = tracking.lineage(ref=v.ref, depth=1, c=ui_caller(request, "lineage"))
    return render(request, "dataset_version.html", v=v, histograms=histograms, used=_neighbours(used))


def _histograms_of(caller: Any, ref: str, digest: str) -> dict[str, Any]:
    """Histograms of the numeric columns (:meth:`DatasetService.histograms`), cached by digest."""
    with _lock:
        if digest in _histograms:
            _histograms.move_to_end(digest)
            return _histograms[digest]
    result: dict[str, Any] = caller.services.datasets.histograms(ref, bins=_BINS)
    with _lock:
        _histograms[digest] = result
        while len(_histograms) > 32:
            _histograms.popitem(last=False)
    return result


def ui_dataset_diff(request: Request, name: str) -> Response:
    """What changed between two versions: columns added, removed, retyped; profile changes; rows."""
    a, b = int_param(request, "a", 0, 1, 2**62), int_param(request, "b", 0, 1, 2**62)
    if not a or not b:
        raise InvalidInput("name two versions: ?a=1&b=2", field="a" if not a else "b")
    caller = ui_caller(request, "get_dataset")
    for number in (a, b):
        datasets.get_dataset(f"{name}@{number}", caller)  # each version's project: the caller's role
    diff = caller.services.datasets.diff(f"{name}@{a}", f"{name}@{b}")
    return render(request, "dataset_diff.html", name=name, a=a, b=b, diff=diff.to_dict())


# -- deployments ------------------------------------------------------------------------------------
def ui_deployments(request: Request) -> Response:
    """Endpoints with their routes, weights and shadows."""
    found = deployments.list_deployments(ui_caller(request, "list_deployments"))
    return render(request, "deployments.html", deployments=found)


def ui_deployment(request: Request, endpoint: str) -> Response:
    """One endpoint: the versions that serve it now, its revisions, and its recent request rates."""
    caller = ui_caller(request, "resolve_deployment")
    resolved = deployments.resolve_deployment(endpoint, caller)
    history = deployments.deployment_history(endpoint, ui_caller(request, "deployment_history"))
    ab, ab_error = None, None
    if len({r.version.ref for r in resolved.routes}) >= 2:
        try:
            found = deployments.ab_analysis(
                endpoint,
                metric=None,
                alpha=0.05,
                mde=None,
                since=None,
                power=0.8,
                c=ui_caller(request, "ab_analysis"),
            )
            ab = found.model_dump()
        except CarnetError as exc:
            ab_error = exc.message
    return render(
        request,
        "deployment.html",
        resolved=resolved,
        history=list(reversed(history)),
        rates=caller.services.deployments.request_rates(endpoint),
        ab=ab,
        ab_error=ab_error,
        ab_charts=[_sequence_chart(c["path"]) for c in ab["comparisons"]] if ab else [],
    )


def _sequence_chart(path: dict[str, Any], width: int = 480, height: int = 160) -> dict[str, Any] | None:
    """SVG polylines of the confidence sequence over samples: the difference and its bounds, and 0."""
    n: list[float] = [float(v) for v in path.get("n") or []]
    lo: list[Any] = path.get("lower") or []
    hi: list[Any] = path.get("upper") or []
    diff: list[Any] = path.get("difference") or []
    if len(n) < 2:
        return None
    values = [float(v) for v in [*lo, *hi, 0.0] if v is not None]
    top, bottom = max(values), min(values)
    span = (top - bottom) or 1.0

    def y(v: float) -> float:
        return round(4 + (top - v) / span * (height - 8), 1)

    def x(i: int) -> float:
        return round((n[i] - n[0]) / ((n[-1] - n[0]) or 1) * width, 1)

    def line(series: list[Any]) -> str:
        return " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(series) if v is not None)

    return {
        "width": width,
        "height": height,
        "lower": line(lo),
        "upper": line(hi),
        "difference": line(diff),
        "zero": y(0.0),
        "top": top,
        "bottom": bottom,
        "first": int(n[0]),
        "last": int(n[-1]),
    }


# -- monitors and alerts ----------------------------------------------------------------------------
def ui_monitors(request: Request) -> Response:
    """Monitors with their model, reference, window and open alerts."""
    found = monitoring.list_monitors(ui_caller(request, "list_monitors"))
    alerts = monitoring.list_alerts(
        monitor=None, status=["open", "acknowledged"], c=ui_caller(request, "list_alerts")
    )
    open_by: dict[str, int] = {}
    for a in alerts:
        open_by[a.monitor] = open_by.get(a.monitor, 0) + 1
    return render(request, "monitors.html", monitors=found, open_by=open_by)


def ui_monitor(request: Request, name: str) -> Response:
    """Per-feature drift over windows (a heatmap), data quality, estimated and realized performance,
    and the alert timeline with the actions each alert took."""
    monitor = monitoring.get_monitor(name, ui_caller(request, "get_monitor"))
    last = int_param(request, "last", 50, 1, 1000)
    windows = monitoring.monitor_windows(name, last=last, c=ui_caller(request, "monitor_windows"))
    alerts = monitoring.list_alerts(monitor=name, status=None, c=ui_caller(request, "list_alerts"))
    project = _monitor_project(request, monitor.model)
    return render(
        request,
        "monitor.html",
        monitor=monitor,
        windows=windows,
        heatmap=_heatmap(windows),
        series=_series(windows),
        alerts=sorted(alerts, key=lambda a: -a.opened_at),
        may_act=project is not None and ui_caller(request, "acknowledge_alert").can(project),
    )


def _monitor_project(request: Request, model: str) -> str | None:
    """The project of the monitor's model (None when it is gone)."""
    from carnet.domain import ModelRef

    services = ui_caller(request, "get_monitor").services
    try:
        return str(services.registry.get_model(ModelRef.parse(model).name).project)
    except NotFound:  # a monitor of a deleted model still shows
        return None


def _heatmap(windows: list[Any]) -> dict[str, Any]:
    """Feature x window drift scores (``drift.<column>``) and whether each drifted."""
    columns: list[str] = []
    for w in windows:
        for key in w.metrics:
            if key.startswith("drift.") and not key.endswith(".drifted"):
                column = key[len("drift.") :]
                if column not in ("share_drifted", "dataset_drift") and column not in columns:
                    columns.append(column)
    rows = []
    top = (
        max(
            (
                abs(v)
                for w in windows
                for c in columns
                if isinstance(v := w.metrics.get(f"drift.{c}"), int | float) and math.isfinite(v)
            ),
            default=1.0,
        )
        or 1.0
    )
    for column in columns:
        cells = []
        for w in windows:
            value = w.metrics.get(f"drift.{column}")
            drifted = w.metrics.get(f"drift.{column}.drifted")
            finite = isinstance(value, int | float) and math.isfinite(value)
            cells.append(
                {
                    "value": value if finite else None,
                    "share": abs(value) / top if finite else 0.0,
                    "drifted": bool(drifted),
                }
            )
        rows.append({"column": column, "cells": cells})
    return {"windows": [w.seq for w in windows], "rows": rows}


_SERIES = (
    ("drift.share_drifted", "share of drifted columns"),
    ("prediction_drift.share_drifted", "prediction drift share"),
    ("quality.schema_violations", "schema violations"),
    ("quality.missing_columns", "missing columns"),
    ("rows", "rows"),
)


def _series(windows: list[Any]) -> list[dict[str, Any]]:
    """The monitor's headline numbers per window: drift share, quality, estimated (with its
    interval) and realized performance."""
    keys = [(k, label) for k, label in _SERIES if any(k in w.metrics for w in windows)]
    for w in windows:
        for key in w.metrics:
            if (
                key.startswith(("performance.estimated.", "performance.realized.", "performance."))
                and key.count(".") == 2
                and (key, key) not in keys
            ):
                keys.append((key, key))
    out = []
    for key, label in keys:
        values = [w.metrics.get(key) for w in windows]
        lower = [w.metrics.get(f"{key}.lower") for w in windows]
        upper = [w.metrics.get(f"{key}.upper") for w in windows]
        out.append(
            {
                "key": key,
                "label": label,
                "points": [
                    {"window": w.seq, "value": v, "lower": lo, "upper": hi}
                    for w, v, lo, hi in zip(windows, values, lower, upper, strict=True)
                ],
            }
        )
    return out


async def _alert_action(request: Request, alert_id: str, operation: str) -> Response:
    form = await check_csrf(request)
    if not alert_id.isdigit() or not 1 <= int(alert_id) < 2**63:
        raise InvalidInput(f"alert id must be a whole number >= 1, got {alert_id[:40]!r}", field="alert_id")
    body = AlertNoteIn(comment=str(form.get("comment") or ""))
    handler = getattr(monitoring, operation)
    alert = await run_in_threadpool(handler, int(alert_id), body, ui_caller(request, operation))
    return RedirectResponse(f"/monitors/{quote(alert.monitor, safe='')}#alerts", status_code=303)


async def ui_alert_acknowledge(request: Request, alert_id: str) -> Response:
    """Acknowledge an alert (approvers), with a comment."""
    return await _alert_action(request, alert_id, "acknowledge_alert")


async def ui_alert_resolve(request: Request, alert_id: str) -> Response:
    """Resolve an alert (approvers), with a comment."""
    return await _alert_action(request, alert_id, "resolve_alert")


# -- lineage ----------------------------------------------------------------------------------------
def _neighbours(graph: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The nodes one step upstream and downstream of the graph's root."""
    nodes: dict[str, dict[str, Any]] = {n["key"]: n for n in graph.get("nodes") or []}
    root = graph.get("root")
    up = [
        nodes[e["source"]] | {"relation": e["relation"], "link": node_link(nodes[e["source"]])}
        for e in graph.get("edges") or []
        if e["target"] == root and e["source"] in nodes
    ]
    down = [
        nodes[e["target"]] | {"relation": e["relation"], "link": node_link(nodes[e["target"]])}
        for e in graph.get("edges") or []
        if e["source"] == root and e["target"] in nodes
    ]
    return {"upstream": up, "downstream": down}


def ui_lineage(request: Request) -> Response:
    """The lineage graph of a dataset version, run, model version, endpoint or monitor, drawn as SVG."""
    ref = (request.query_params.get("ref") or "").strip()
    if not ref:
        return render(request, "lineage.html", ref="", svg=None, graph=None)
    depth = int_param(request, "depth", 6, 1, 20)
    graph = tracking.lineage(ref=ref, depth=depth, c=ui_caller(request, "lineage"))
    return render(request, "lineage.html", ref=ref, svg=lineage_svg(graph), graph=graph)
