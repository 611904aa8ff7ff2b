"""The HTML page of a monitor (template ``monitor.html``): every check over time, the latest
window's distributions, alerts.

Self-contained (plotly.js inline once), rendered from plain dicts the monitoring service reads:
the monitor's spec, its windows (``MonitorWindow.to_dict()``), the latest window's JSON report and
the alert history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from carnet.domain.monitors import AlertRule
from carnet.reports import render, safe

__all__ = ["render_monitor_html", "series_names"]


def series_names(windows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The metrics worth a chart: shares, dataset verdicts, estimates, realized metrics, quality totals."""
    names: dict[str, None] = {}
    for w in windows:
        for k in w.get("metrics", {}):
            if (
                k
                in ("rows", "drift.share_drifted", "prediction_drift.share_drifted", "drift.multivariate_auc")
                or (k.startswith("performance.estimated.") and k.count(".") == 2)
                or k.startswith("performance.realized.")
                or k in ("quality.schema_violations", "performance.labeled_rows")
            ):
                names[k] = None
    return list(names)


def _thresholds(spec: Mapping[str, Any]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for i, raw in enumerate(spec.get("rules") or []):
        rule = AlertRule.parse(raw, f"rules[{i}]")
        out.setdefault(rule.metric, []).append(rule.threshold)
    return out


def _summary(
    spec: Mapping[str, Any], windows: Sequence[Mapping[str, Any]], alerts: Sequence[Mapping[str, Any]]
) -> list[tuple[str, Any]]:
    active = [a for a in alerts if a.get("status") in ("open", "acknowledged")]
    rules = "; ".join(str(r if isinstance(r, str) else r.get("when")) for r in spec.get("rules") or [])
    return [
        ("model", spec.get("model")),
        ("reference", spec.get("reference")),
        ("window", spec.get("window")),
        ("checks", ", ".join(spec.get("checks") or [])),
        ("rules", rules or "-"),
        ("windows", len(windows)),
        ("rows monitored", int(sum(w.get("rows", 0) for w in windows))),
        ("active alerts", len(active)),
    ]


def _history(
    windows: Sequence[Mapping[str, Any]], spec: Mapping[str, Any], chart: Callable[[Any], Any]
) -> list[Any]:
    import plotly.graph_objects as go

    from carnet.reports import utc_time

    thresholds = _thresholds(spec)
    x = [utc_time(w.get("end")) for w in windows]
    charts = []
    for metric in series_names(windows):
        fig = go.Figure()
        y = [w.get("metrics", {}).get(metric) for w in windows]
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=metric))
        lower = [w.get("metrics", {}).get(f"{metric}.lower") for w in windows]
        upper = [w.get("metrics", {}).get(f"{metric}.upper") for w in windows]
        if any(v is not None for v in lower):
            fig.add_trace(go.Scatter(x=x, y=upper, mode="lines", line={"width": 0}, showlegend=False))
            fig.add_trace(
                go.Scatter(x=x, y=lower, mode="lines", line={"width": 0}, fill="tonexty", name="band")
            )
        for t in thresholds.get(metric, []):
            fig.add_hline(y=t, line_dash="dash", line_color="#b00020")
        fig.update_layout(title=metric, showlegend=False)
        charts.append(chart(fig))
    return charts


def _latest(report: Mapping[str, Any], chart: Callable[[Any], Any]) -> dict[str, Any]:
    import plotly.graph_objects as go

    sections = []
    for section in ("drift", "prediction_drift"):
        block = report.get(section)
        if not block:
            continue
        cols = list(block.get("columns", [])) + list(block.get("outputs", []))
        charts = []
        for c in cols:
            labels = list(c.get("labels") or [])
            if not labels:
                continue
            fig = go.Figure()
            fig.add_trace(go.Bar(x=labels, y=c.get("reference_shares"), name="reference"))
            fig.add_trace(go.Bar(x=labels, y=c.get("current_shares"), name="window"))
            fig.update_layout(title=str(c["column"]), barmode="group", showlegend=True)
            charts.append(chart(fig))
        sections.append(
            {
                "title": "Input drift" if section == "drift" else "Prediction drift",
                "share": block.get("share_drifted"),
                "dataset_drift": bool(block.get("dataset_drift")),
                "columns": cols,
                "charts": charts,
            }
        )
    quality = sorted(((k, v) for k, v in ((report.get("quality") or {}).get("metrics") or {}).items() if v))
    return {
        "sections": sections,
        "quality": quality if report.get("quality") else None,
        "estimated": (report.get("performance") or {}).get("estimated") or [],
    }


def _actions(actions: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(
        f"{a.get('action')} {a.get('target', '')} {'ok' if a.get('ok') else 'failed'}".replace("  ", " ")
        for a in actions
    )


def render_monitor_html(
    spec: Mapping[str, Any],
    windows: Sequence[Mapping[str, Any]],
    latest_report: Mapping[str, Any] | None,
    alerts: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
) -> str:
    """The report page; ``windows`` oldest first."""
    first = True

    def chart(fig: Any) -> Any:
        nonlocal first
        fig.update_layout(height=280, margin={"l": 40, "r": 10, "t": 40, "b": 30}, template="plotly_white")
        out = str(fig.to_html(full_html=False, include_plotlyjs="inline" if first else False))
        first = False
        return safe(out)

    name = str(spec.get("name", "monitor"))
    history = _history(windows, spec, chart) if windows else []
    return render(
        "monitor.html",
        name=name,
        title=title or f"Monitor {name}",
        summary=_summary(spec, windows, alerts),
        windows=windows,
        history=history,
        latest=_latest(latest_report, chart) if latest_report else None,
        alerts=[dict(a, actions_text=_actions(a.get("actions") or [])) for a in alerts],
    )
