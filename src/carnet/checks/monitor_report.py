"""The HTML report of a monitor: every check over time, the latest window's distributions, alerts.

Self-contained (plotly.js inline once), rendered from plain dicts the monitoring service reads:
the monitor's spec, its windows (``MonitorWindow.to_dict()``), the latest window's JSON report and
the alert history.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["render_monitor_html", "series_names"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .6rem;font-size:.9rem}
th{background:#f5f5f5;text-align:left}.bad{color:#b00020;font-weight:600}.ok{color:#1b5e20}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:.5rem}
"""


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


def render_monitor_html(
    spec: Mapping[str, Any],
    windows: Sequence[Mapping[str, Any]],
    latest_report: Mapping[str, Any] | None,
    alerts: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
) -> str:
    """The report page; ``windows`` oldest first."""
    import plotly.graph_objects as go

    name = str(spec.get("name", "monitor"))
    parts = [f"<h1>{html.escape(title or f'Monitor {name}')}</h1>", _summary(spec, windows, alerts)]
    first = True

    def chart(fig: Any) -> str:
        nonlocal first
        fig.update_layout(height=280, margin={"l": 40, "r": 10, "t": 40, "b": 30}, template="plotly_white")
        out = str(fig.to_html(full_html=False, include_plotlyjs="inline" if first else False))
        first = False
        return f"<div>{out}</div>"

    thresholds = _thresholds(spec)
    parts.append("<h2>Checks over time</h2>")
    if windows:
        x = [_time(w.get("end")) for w in windows]
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
        parts.append(f'<div class="grid">{"".join(charts)}</div>')
    else:
        parts.append("<p>No window has closed yet.</p>")
    if latest_report:
        parts.append(
            f"<h2>Latest window: distributions against the reference</h2>{_latest(latest_report, chart)}"
        )
    parts.append(f"<h2>Alerts</h2>{_alerts(alerts)}")
    body = "\n".join(parts)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title>"
        f"<style>{_CSS}</style></head><body>{body}</body></html>"
    )


def _time(ts: Any) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%d %H:%M:%S")


def _thresholds(spec: Mapping[str, Any]) -> dict[str, list[float]]:
    from carnet.domain.monitors import AlertRule

    out: dict[str, list[float]] = {}
    for i, raw in enumerate(spec.get("rules") or []):
        rule = AlertRule.parse(raw, f"rules[{i}]")
        out.setdefault(rule.metric, []).append(rule.threshold)
    return out


def _summary(
    spec: Mapping[str, Any], windows: Sequence[Mapping[str, Any]], alerts: Sequence[Mapping[str, Any]]
) -> str:
    active = [a for a in alerts if a.get("status") in ("open", "acknowledged")]
    rows = [
        ("model", spec.get("model")),
        ("reference", spec.get("reference")),
        ("window", spec.get("window")),
        ("checks", ", ".join(spec.get("checks") or [])),
        (
            "rules",
            "; ".join(str(r if isinstance(r, str) else r.get("when")) for r in spec.get("rules") or [])
            or "-",
        ),
        ("windows", len(windows)),
        ("rows monitored", int(sum(w.get("rows", 0) for w in windows))),
        ("active alerts", len(active)),
    ]
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _latest(report: Mapping[str, Any], chart: Any) -> str:
    import plotly.graph_objects as go

    out = []
    for section in ("drift", "prediction_drift"):
        block = report.get(section)
        if not block:
            continue
        cols = list(block.get("columns", [])) + list(block.get("outputs", []))
        head = "<tr><th>column</th><th>method</th><th>statistic</th><th>threshold</th><th>drifted</th></tr>"
        rows = "".join(
            f"<tr><td>{html.escape(str(c['column']))}</td><td>{html.escape(str(c.get('method')))}</td>"
            f"<td>{_num(c.get('statistic'))}</td><td>{_num(c.get('threshold'))}</td>"
            f"{_flag(bool(c.get('drifted')))}</tr>"
            for c in cols
        )
        verdict = block.get("dataset_drift")
        title = "Input drift" if section == "drift" else "Prediction drift"
        share = _num(block.get("share_drifted"))
        out.append(f"<h3>{title}: share drifted {share}{' (dataset drift)' if verdict else ''}</h3>")
        out.append(f"<table>{head}{rows}</table>")
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
        out.append(f'<div class="grid">{"".join(charts)}</div>')
    quality = report.get("quality")
    if quality:
        metrics = quality.get("metrics") or {}
        cells = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{_num(v)}</td></tr>" for k, v in sorted(metrics.items()) if v
        )
        out.append(f"<h3>Data quality</h3><table><tr><th>check</th><th>value</th></tr>{cells}</table>")
    perf = (report.get("performance") or {}).get("estimated") or []
    if perf:
        cells = "".join(
            f"<tr><td>{html.escape(str(e['metric']))}</td><td>{_num(e.get('value'))}</td>"
            f"<td>{_num(e.get('lower'))} to {_num(e.get('upper'))}</td>"
            f"<td>{_num(e.get('reference_mean'))}</td>"
            f"{_flag(bool(e.get('alert')))}</tr>"
            for e in perf
        )
        head = "<tr><th>metric</th><th>estimate</th><th>band</th><th>reference</th><th>alert</th></tr>"
        out.append(f"<h3>Estimated performance (no labels)</h3><table>{head}{cells}</table>")
    return "\n".join(out)


def _alerts(alerts: Sequence[Mapping[str, Any]]) -> str:
    if not alerts:
        return "<p>No alert.</p>"
    head = "<tr><th>#</th><th>status</th><th>rule</th><th>value</th><th>opened</th><th>actions</th></tr>"
    rows = "".join(
        f"<tr><td>{a['id']}</td><td class='{'bad' if a['status'] != 'resolved' else 'ok'}'>{a['status']}</td>"
        f"<td>{html.escape(str(a['rule']))}</td><td>{_num(a.get('value'))}</td><td>{_time(a.get('opened_at'))}</td>"
        f"<td>{html.escape(_actions(a.get('actions') or []))}</td></tr>"
        for a in alerts
    )
    return f"<table>{head}{rows}</table>"


def _actions(actions: Sequence[Mapping[str, Any]]) -> str:
    return "; ".join(
        f"{a.get('action')} {a.get('target', '')} {'ok' if a.get('ok') else 'failed'}".replace("  ", " ")
        for a in actions
    )


def _flag(bad: bool) -> str:
    return f"<td class='{'bad' if bad else 'ok'}'>{'yes' if bad else 'no'}</td>"


def _num(v: Any) -> str:
    if v is None:
        return "-"
    try:
        return f"{float(v):.4g}"
    except (TypeError, ValueError):
        return html.escape(str(v))
