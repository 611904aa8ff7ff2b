"""Evaluation reports: a JSON document and ONE self-contained HTML file.

The HTML has inline CSS, PNGs embedded as base64 ``data:`` URIs, and no external reference
(no script, font or stylesheet URL). Every user-supplied string (context values, labels,
feature names, notes) goes through :func:`html.escape`.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from typing import Any

from carnet.evaluation.result import EvaluationResult, jsonable

__all__ = ["FORMAT", "render_html", "to_json"]

FORMAT = "carnet.evaluation/v1"
MAX_ROWS = 100
MAX_DEPTH = 3

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
main{max-width:1100px;margin:0 auto;padding:24px}
header{background:#1d2330;color:#fff;padding:20px 24px}
header h1{margin:0 0 4px;font-size:22px}header p{margin:0;opacity:.8}
section{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:16px 20px;margin:16px 0}
h2{font-size:17px;margin:0 0 12px}h3{font-size:15px;margin:18px 0 8px}h4{font-size:13px;margin:12px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:4px 0 8px}
th,td{border-bottom:1px solid #e8eaee;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:16px}
figure{margin:0;border:1px solid #e8eaee;border-radius:6px;padding:8px;background:#fff}
figure img{max-width:100%;height:auto;display:block}figcaption{font-size:12px;color:#555;margin-top:4px}
.muted{color:#777;font-size:12px}ul.notes li{margin:2px 0}.scroll{overflow-x:auto}
"""


def to_json(result: EvaluationResult, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict: ``format``, ``context``, the result fields and ``metric_table``.

    ``context`` describes what was evaluated (run id, model, dataset reference, spec summary...).
    Plots appear by name, title and data; PNG bytes are not included.
    """
    doc = {"format": FORMAT, "context": jsonable(dict(context or {}))}
    doc.update(result.to_dict())
    doc["metric_table"] = result.metric_table()
    return doc


def _fmt(value: Any) -> str:
    """A cell value as escaped text: floats with 4 significant digits, missing as an em dash."""
    value = jsonable(value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        return html.escape(text if len(text) <= 200 else text[:199] + "…")
    return html.escape(str(value))


def _cell(value: Any) -> str:
    cls = ' class="num"' if isinstance(jsonable(value), int | float) and not isinstance(value, bool) else ""
    return f"<td{cls}>{_fmt(value)}</td>"


def _is_scalar(value: Any) -> bool:
    return not isinstance(jsonable(value), dict | list)


def _records(rows: list[Any]) -> str:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c)) for c in columns) + "</tr>" for row in rows[:MAX_ROWS])
    more = f'<p class="muted">first {MAX_ROWS} of {len(rows)} rows</p>' if len(rows) > MAX_ROWS else ""
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>{more}'


def _matrix(value: Mapping[str, Any]) -> str:
    labels = list(value["labels"])[:MAX_ROWS]
    head = "<th>truth \\ predicted</th>" + "".join(f"<th>{_fmt(v)}</th>" for v in labels)
    body = "".join(
        f"<tr><th>{_fmt(labels[i])}</th>" + "".join(_cell(v) for v in row[: len(labels)]) + "</tr>"
        for i, row in enumerate(value["matrix"][: len(labels)])
    )
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


def _block(value: Any, depth: int = 0) -> str:
    """Render a details value: key/value table, records table, matrix, list or nested blocks."""
    if isinstance(value, Mapping) and set(value) == {"labels", "matrix"}:
        return _matrix(value)
    if isinstance(value, Mapping):
        scalars = {k: v for k, v in value.items() if _is_scalar(v)}
        nested = {k: v for k, v in value.items() if k not in scalars}
        out = ""
        if scalars:
            rows = "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v)}</tr>" for k, v in scalars.items())
            out += f"<table>{rows}</table>"
        for key, sub in nested.items():
            if depth >= MAX_DEPTH:
                out += f"<h4>{html.escape(str(key))}</h4><p>{_fmt(sub)}</p>"
            else:
                out += f"<h4>{html.escape(str(key))}</h4>{_block(sub, depth + 1)}"
        return out
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, Mapping) and all(_is_scalar(x) for x in v.values()) for v in value)
    ):
        return _records(list(value))
    if isinstance(value, list | tuple):
        shown = ", ".join(_fmt(v) for v in value[:MAX_ROWS])
        more = f" … ({len(value)} values)" if len(value) > MAX_ROWS else ""
        return f"<p>{shown}{more}</p>"
    return f"<p>{_fmt(value)}</p>"


def _flat(value: Any) -> bool:
    plain = jsonable(value)
    return not isinstance(plain, dict) and not (
        isinstance(plain, list) and any(_is_list_or_dict(v) for v in plain)
    )


def _is_list_or_dict(value: Any) -> bool:
    return isinstance(value, dict | list)


def _details(details: Mapping[str, Any]) -> str:
    """Top-level scalars (and flat lists) in one summary table, then one block per structured entry."""
    flat = {k: v for k, v in details.items() if _flat(v)}
    out = ""
    if flat:
        rows = "".join(
            f"<tr><th>{html.escape(str(k).replace('_', ' '))}</th>"
            + (
                f"<td>{', '.join(_fmt(x) for x in v[:MAX_ROWS])}</td>"
                if isinstance(v, list | tuple)
                else _cell(v)
            )
            + "</tr>"
            for k, v in flat.items()
        )
        out += f"<table>{rows}</table>"
    for key, value in details.items():
        if key not in flat:
            out += f"<h3>{html.escape(str(key).replace('_', ' '))}</h3>{_block(value)}"
    return out


def _metrics_table(result: EvaluationResult) -> str:
    level = f"{round(result.confidence * 100)}%"
    rows = []
    for row in result.metric_table():
        interval = "—" if row["lower"] is None else f"{_fmt(row['lower'])} &ndash; {_fmt(row['upper'])}"
        direction = {True: "higher is better", False: "lower is better"}.get(row["greater_is_better"], "")
        rows.append(
            f"<tr><th>{html.escape(row['metric'])}</th>{_cell(row['value'])}"
            f'<td class="num">{interval}</td><td class="muted">{direction}</td></tr>'
        )
    head = f"<tr><th>metric</th><th>value</th><th>{level} CI</th><th></th></tr>"
    boot = f"{result.bootstrap} bootstrap resamples" if result.bootstrap else "no bootstrap intervals"
    return f'<table>{head}{"".join(rows)}</table><p class="muted">{boot}; n = {result.n}</p>'


def render_html(result: EvaluationResult, context: Mapping[str, Any] | None = None) -> str:
    """One self-contained HTML page: context header, metrics with CIs, notes, plots, detail tables."""
    ctx = dict(context or {})
    subject = ctx.get("title") or ctx.get("model") or ctx.get("run_id") or "model"
    title = f"Evaluation report: {subject}"
    ctx_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_fmt(v)}</td></tr>" for k, v in ctx.items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(str(title))}</title><style>{_CSS}</style></head><body>",
        f"<header><h1>{html.escape(str(title))}</h1>",
        f"<p>{html.escape(result.family)} · n = {result.n}</p></header><main>",
    ]
    if ctx_rows:
        parts.append(f"<section><h2>Context</h2><table>{ctx_rows}</table></section>")
    parts.append(f"<section><h2>Metrics</h2>{_metrics_table(result)}</section>")
    if result.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
        parts.append(f'<section><h2>Notes</h2><ul class="notes">{items}</ul></section>')
    if result.plots:
        figures = "".join(
            f'<figure id="plot-{html.escape(p.name)}"><img src="{p.data_uri()}" alt="{html.escape(p.title)}">'
            f"<figcaption>{html.escape(p.title)}</figcaption></figure>"
            for p in result.plots
        )
        parts.append(f'<section><h2>Plots</h2><div class="grid">{figures}</div></section>')
    if result.details:
        parts.append(f"<section><h2>Details</h2>{_details(result.details)}</section>")
    parts.append("</main></body></html>")
    return "\n".join(parts)
