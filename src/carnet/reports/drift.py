"""The HTML page of a drift report (template ``drift.html``): verdict, per-column table,
distribution charts (plotly, or inline SVG without JavaScript)."""

from __future__ import annotations

import html
from typing import Any

from carnet.domain.drift import ColumnDrift, DriftReport
from carnet.reports import render, safe

__all__ = ["render_drift_html"]

_REF, _CUR = "#486581", "#e12d39"


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}"


def _row(c: ColumnDrift) -> dict[str, Any]:
    stat_thr = "-" if c.statistic_threshold is None else _fmt(c.statistic_threshold)
    stat_thr += " (adaptive)" if c.adaptive and c.statistic_threshold is not None else ""
    return {
        "c": c,
        "statistic": _fmt(c.statistic),
        "statistic_threshold": stat_thr,
        "p_value": _fmt(c.p_value),
        "p_threshold": "-" if c.p_threshold is None else _fmt(c.p_threshold),
        "verdict": "yes" if c.drifted else ("not judged" if c.statistic is None else "no"),
        "missing": f"{c.reference_missing:.1%} / {c.current_missing:.1%}",
    }


def _svg_chart(c: ColumnDrift) -> str:
    """Grouped bars of reference and current shares as inline SVG (no JavaScript); every label escaped."""
    n = max(len(c.labels), 1)
    width, height, pad = max(640, 48 * n + 120), 240, 40
    left = 100  # room for the rotated labels
    top = max([*c.reference_shares, *c.current_shares, 1e-9])
    slot = (width - left - pad) / n
    bar = slot * 0.38
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 60}" role="img">']
    for i, label in enumerate(c.labels):
        x0 = left + i * slot
        for j, (share, color) in enumerate(((c.reference_shares[i], _REF), (c.current_shares[i], _CUR))):
            h = (height - pad) * share / top
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{height - h:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{html.escape(label)}: {share:.2%}</title></rect>'
            )
        parts.append(
            f'<text x="{x0 + bar:.1f}" y="{height + 14}" font-size="10" text-anchor="end" '
            f'transform="rotate(-35 {x0 + bar:.1f} {height + 14})">{html.escape(label[:24])}</text>'
        )
    parts.append(
        f'<text x="{left}" y="16" font-size="12" fill="{_REF}">&#9632; reference</text>'
        f'<text x="{left + 100}" y="16" font-size="12" fill="{_CUR}">&#9632; current</text></svg>'
    )
    return "".join(parts)


def _plotly_chart(c: ColumnDrift, index: int, include_js: bool) -> str:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_bar(name="reference", x=list(c.labels), y=list(c.reference_shares), marker_color=_REF)
    fig.add_bar(name="current", x=list(c.labels), y=list(c.current_shares), marker_color=_CUR)
    fig.update_layout(
        barmode="group", height=320, margin={"l": 40, "r": 10, "t": 30, "b": 80}, yaxis_tickformat=".0%"
    )
    return str(fig.to_html(full_html=False, include_plotlyjs=include_js, div_id=f"drift-chart-{index}"))


def _plotly_available() -> bool:
    try:
        import plotly.graph_objects  # noqa: F401
    except ImportError:
        return False
    return True


def render_drift_html(report: DriftReport, *, title: str, interactive: bool | None = None) -> str:
    """The report as one self-contained HTML page.

    Args:
        report: the drift report.
        title: the page title.
        interactive: plotly charts (plotly.js inlined once) when True, inline SVG when False;
            default plotly when it is installed.
    """
    use_plotly = _plotly_available() if interactive is None else interactive
    lines = [
        f"{len(report.drifted_columns)} of {len(report.columns)} feature columns drifted "
        f"({report.share_drifted:.0%}; the dataset drifts at {report.drift_share:.0%}).",
        f"Reference: {report.reference_rows:,} rows; current: {report.current_rows:,} rows.",
    ]
    if report.outputs:
        lines.append(f"Outputs drifted: {len(report.drifted_outputs)} of {len(report.outputs)}.")
    m = report.multivariate
    if m is not None:
        lines.append(
            f"Domain classifier: ROC AUC {m.auc:.3f} (threshold {m.threshold:.2f}, p {_fmt(m.p_value)}) - "
            f"{'drift' if m.drifted else 'no drift'}."
        )
    charts = [
        {
            "c": c,
            "chart": safe(_plotly_chart(c, i, include_js=(i == 0)) if use_plotly else _svg_chart(c)),
        }
        for i, c in enumerate((*report.columns, *report.outputs))
    ]
    return render(
        "drift.html",
        title=title,
        report=report,
        lines=lines,
        tables=[("Feature columns", [_row(c) for c in report.columns])]
        + ([("Output columns", [_row(c) for c in report.outputs])] if report.outputs else []),
        charts=charts,
    )
