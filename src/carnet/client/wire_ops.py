"""Operations objects rebuilt from the REST API's JSON, for the remote client: deployments, monitors,
windows, passes, alerts, label files and drift reports.

Values the server sent as ``null`` because they were not finite come back as NaN where the domain
object holds a float (metrics, shares), and stay None where it holds an optional value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, cast

from carnet.client.wire import model_version_from_dict
from carnet.domain import (
    Deployment,
    DeploymentRoute,
    Monitor,
    MonitorWindow,
    ResolvedDeployment,
    ResolvedRoute,
    load_monitor,
)
from carnet.domain.monitors import Alert, AlertRule, LabelFile
from carnet.errors import InvalidInput

__all__ = [
    "alert_from_dict",
    "check_count",
    "deployment_from_dict",
    "drift_report_from_dict",
    "label_file_from_dict",
    "monitor_from_dict",
    "pass_from_dict",
    "resolved_deployment_from_dict",
    "rollup_from_dict",
    "statuses",
    "window_from_dict",
]


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def check_count(value: Any, field: str) -> int:
    """``value`` when it is a whole number >= 1 (an id, a window number, a count); InvalidInput
    naming ``field`` otherwise (as the server's 422)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise InvalidInput(f"{field} must be a whole number >= 1, got {value!r}", field=field)
    return cast("int", value)


def statuses(status: str | Sequence[str] | None) -> list[str] | None:
    """Alert statuses as a list (one status may be given as text); None for every status."""
    if status is None:
        return None
    return [status] if isinstance(status, str) else list(status) or None


# -- deployments ------------------------------------------------------------------------------------
def deployment_from_dict(d: dict[str, Any]) -> Deployment:
    """A :class:`Deployment` revision from ``DeploymentOut``."""
    return Deployment(
        endpoint=d["endpoint"],
        routes=tuple(DeploymentRoute(r["model"], float(r["weight"])) for r in d.get("routes") or []),
        shadows=tuple(d.get("shadows") or ()),
        sticky_header=d.get("sticky_header"),
        batching=dict(d.get("batching") or {}),
        revision=int(d["revision"]),
        created_at=float(d["created_at"]),
        actor=d.get("actor", ""),
        deleted=bool(d.get("deleted", False)),
    )


def resolved_deployment_from_dict(d: dict[str, Any]) -> ResolvedDeployment:
    """A :class:`ResolvedDeployment` from ``ResolvedDeploymentOut``."""

    def route(r: dict[str, Any]) -> ResolvedRoute:
        return ResolvedRoute(r["model"], model_version_from_dict(r["version"]), float(r["weight"]))

    token = [int(t) for t in d.get("token") or (0, 0)]
    return ResolvedDeployment(
        deployment_from_dict(d["deployment"]),
        tuple(route(r) for r in d.get("routes") or []),
        tuple(route(r) for r in d.get("shadows") or []),
        (token[0], token[1]),
    )


# -- monitors ---------------------------------------------------------------------------------------
def monitor_from_dict(d: dict[str, Any]) -> Monitor:
    """A :class:`Monitor` from ``MonitorStateOut``: its shown spec (notifier secrets are ``***``),
    state and record; the server's row id is not sent (None)."""
    monitor = load_monitor(d["spec"])
    return replace(
        monitor,
        state=dict(d.get("state") or {}),
        created_at=float(d["created_at"]),
        updated_at=float(d["updated_at"]),
        actor=d.get("actor", ""),
    )


def window_from_dict(d: dict[str, Any]) -> MonitorWindow:
    """A :class:`MonitorWindow` from ``WindowOut`` (null metric values are NaN)."""
    return MonitorWindow(
        monitor=d["monitor"],
        seq=int(d["seq"]),
        start=float(d["start"]),
        end=float(d["end"]),
        rows=int(d["rows"]),
        versions=tuple(int(v) for v in d.get("versions") or ()),
        metrics={k: _num(v) for k, v in (d.get("metrics") or {}).items()},
        report=d.get("report"),
        created_at=float(d.get("created_at") or 0.0),
    )


def rollup_from_dict(d: dict[str, Any]) -> dict[str, Any]:
    """One period of a rollup from ``RollupOut`` (a null share drifted is NaN)."""
    return {
        "start": float(d["start"]),
        "end": float(d["end"]),
        "windows": [int(w) for w in d.get("windows") or []],
        "rows": int(d["rows"]),
        "share_drifted": _num(d.get("share_drifted")),
        "dataset_drift": d.get("dataset_drift"),
        "drifted_columns": list(d.get("drifted_columns") or []),
    }


def alert_from_dict(d: dict[str, Any]) -> Alert:
    """An :class:`Alert` from ``AlertOut``."""
    value = d.get("value")
    return Alert(
        id=int(d["id"]),
        monitor=d["monitor"],
        rule=d["rule"],
        status=d["status"],
        value=None if value is None else float(value),
        threshold=_num(d.get("threshold")),
        window_seq=int(d["window_seq"]),
        opened_at=float(d["opened_at"]),
        updated_at=float(d["updated_at"]),
        message=d.get("message", ""),
        actions=tuple(dict(a) for a in d.get("actions") or ()),
        history=tuple(dict(h) for h in d.get("history") or ()),
    )


def label_file_from_dict(d: dict[str, Any]) -> LabelFile:
    """A :class:`LabelFile` from ``LabelFileOut``."""
    return LabelFile(
        int(d["id"]), d["digest"], int(d["rows"]), d.get("model"), d.get("source", ""), float(d["created_at"])
    )


def pass_from_dict(d: dict[str, Any]) -> Any:
    """A :class:`carnet.services.monitoring.PassResult` from ``PassDetailOut``."""
    from carnet.domain.monitors import PassResult, Transition

    transitions = [
        Transition(
            t["kind"],
            alert_from_dict(t["alert"]),
            None if t.get("rule") is None else AlertRule.parse(t["rule"]),
        )
        for t in d.get("transitions") or []
    ]
    return PassResult(
        monitor=d["monitor"],
        windows=[window_from_dict(w) for w in d.get("windows") or []],
        relabeled=[int(s) for s in d.get("relabeled_windows") or []],
        pending_rows=int(d.get("pending_rows") or 0),
        files=int(d.get("files") or 0),
        transitions=transitions,
    )


# -- drift ------------------------------------------------------------------------------------------
def drift_report_from_dict(d: dict[str, Any]) -> Any:
    """A :class:`carnet.monitoring.drift.DriftReport` from ``DriftReportOut``."""
    from carnet.domain.drift import ColumnDrift, DriftOptions, DriftReport, MultivariateResult

    def column(c: dict[str, Any]) -> ColumnDrift:
        return ColumnDrift(
            column=c["column"],
            kind=c["kind"],
            method=c["method"],
            statistic=c.get("statistic"),
            p_value=c.get("p_value"),
            threshold=_num(c.get("threshold")),
            drifted=bool(c["drifted"]),
            adaptive=bool(c.get("adaptive", False)),
            output=bool(c.get("output", False)),
            labels=tuple(c.get("labels") or ()),
            reference_shares=tuple(_num(x) for x in c.get("reference_shares") or ()),
            current_shares=tuple(_num(x) for x in c.get("current_shares") or ()),
            reference_missing=_num(c.get("reference_missing")),
            current_missing=_num(c.get("current_missing")),
            note=c.get("note"),
            significance=c.get("p_threshold") if c["method"] not in ("chi2", "ks") else None,
            decided_by=str(c.get("decided_by") or "note"),
        )

    mv = d.get("multivariate")
    multivariate = None
    if mv is not None:
        multivariate = MultivariateResult(
            method=mv["method"],
            auc=_num(mv.get("auc")),
            threshold=_num(mv.get("threshold")),
            p_value=_num(mv.get("p_value")),
            drifted=bool(mv["drifted"]),
            reference_rows=int(mv["reference_rows"]),
            current_rows=int(mv["current_rows"]),
            columns=tuple(mv.get("columns") or ()),
        )
    return DriftReport(
        columns=tuple(column(c) for c in d.get("columns") or []),
        outputs=tuple(column(c) for c in d.get("outputs") or []),
        share_drifted=_num(d.get("share_drifted")),
        dataset_drift=bool(d["dataset_drift"]),
        drift_share=_num(d.get("drift_share")),
        multivariate=multivariate,
        reference_rows=int(d["reference_rows"]),
        current_rows=int(d["current_rows"]),
        options=DriftOptions.from_dict(d.get("options") or {}),
    )
