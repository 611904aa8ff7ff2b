"""A self-contained HTML page for a drift report: verdict, per-column table, distribution charts."""

from __future__ import annotations

import html
from collections.abc import Sequence

from carnet.checks.drift.detect import ColumnDrift, DriftReport

__all__ = ["render_drift_html"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933}
h1{margin-bottom:.2rem} .verdict{padding:.8rem 1rem;border-radius:6px;margin:1rem 0;font-weight:600}
.drift{background:#fde8e8;color:#9b1c1c} .stable{background:#e3f9e5;color:#05603a}
table{border-collapse:collapse;margin:1rem 0} th,td{padding:.35rem .7rem;border-bottom:1px solid #d9e2ec;
text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums} tr.drifted td{background:#fff5f5}
.chart{margin:1.5rem 0} .note{color:#627d98;font-size:.9em}
"""
_REF, _CUR = "#486581", "#e12d39"


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3g}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}"


def _table(rows: Sequence[ColumnDrift], caption: str) -> str:
    heads = (
        "Column", "Kind", "Method", "Statistic", "Statistic threshold", "p-value", "p-value level",
        "Decided by", "Drifted", "Missing ref/cur",
    )  # fmt: skip
    head = "".join(f"<th>{h}</th>" for h in heads)
    body = []
    for c in rows:
        stat_thr = "-" if c.statistic_threshold is None else _fmt(c.statistic_threshold)
        stat_thr += " (adaptive)" if c.adaptive and c.statistic_threshold is not None else ""
        p_thr = "-" if c.p_threshold is None else _fmt(c.p_threshold)
        verdict = "yes" if c.drifted else ("not judged" if c.statistic is None else "no")
        note = f' <span class="note">{html.escape(c.note)}</span>' if c.note else ""
        body.append(
            f'<tr class="{"drifted" if c.drifted else ""}"><td><a href="#col-{html.escape(c.column)}">'
            f"{html.escape(c.column)}</a></td><td>{c.kind}</td><td>{c.method}</td>"
            f'<td class="num">{_fmt(c.statistic)}</td><td class="num">{stat_thr}</td>'
            f'<td class="num">{_fmt(c.p_value)}</td><td class="num">{p_thr}</td>'
            f"<td>{html.escape(c.decided_by)}</td><td>{verdict}{note}</td>"
            f'<td class="num">{c.reference_missing:.1%} / {c.current_missing:.1%}</td></tr>'
        )
    return f"<h2>{caption}</h2><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _svg_chart(c: ColumnDrift) -> str:
    """Grouped bars of reference and current shares as inline SVG (no JavaScript)."""
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
    n_feat = len(report.columns)
    drifted = len(report.drifted_columns)
    verdict = "Dataset drift detected" if report.dataset_drift else "No dataset drift"
    lines = [
        f"{drifted} of {n_feat} feature columns drifted ({report.share_drifted:.0%}; the dataset drifts "
        f"at {report.drift_share:.0%}).",
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
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
        f'<div class="verdict {"drift" if report.dataset_drift else "stable"}">{verdict}</div>',
        "".join(f"<p>{html.escape(line)}</p>" for line in lines),
        _table(report.columns, "Feature columns"),
    ]
    if report.outputs:
        parts.append(_table(report.outputs, "Output columns"))
    parts.append("<h2>Distributions</h2>")
    for i, c in enumerate((*report.columns, *report.outputs)):
        chart = _plotly_chart(c, i, include_js=(i == 0)) if use_plotly else _svg_chart(c)
        status = "drifted" if c.drifted else "stable"
        parts.append(
            f'<div class="chart" id="col-{html.escape(c.column)}"><h3>{html.escape(c.column)} '
            f'<span class="note">({c.method}, {status})</span></h3>{chart}</div>'
        )
    parts.append("</body></html>")
    return "\n".join(parts)
