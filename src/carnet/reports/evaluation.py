"""The evaluation report: a JSON document and ONE self-contained HTML page (template
``evaluation.html``): context, metrics with intervals, notes, plots and the detail tables."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from carnet.domain.evaluation import EvaluationResult, jsonable
from carnet.reports import render

__all__ = ["FORMAT", "render_html", "to_json"]

FORMAT = "carnet.evaluation/v1"
MAX_ROWS = 100
MAX_DEPTH = 3


def to_json(result: EvaluationResult, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict: ``format``, ``context``, the result fields and ``metric_table``.

    ``context`` describes what was evaluated (run id, model, dataset reference, spec summary...).
    Plots appear by name, title and data; PNG bytes are not included.
    """
    doc = {"format": FORMAT, "context": jsonable(dict(context or {}))}
    doc.update(result.to_dict())
    doc["metric_table"] = result.metric_table()
    return doc


def _text(value: Any) -> str:
    """A cell's text: floats with 4 significant digits, missing as an em dash, structures as JSON."""
    value = jsonable(value)
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.4g}"
    if isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 200 else text[:199] + "…"
    return str(value)


def _cell(value: Any) -> dict[str, Any]:
    plain = jsonable(value)
    return {"text": _text(value), "num": isinstance(plain, int | float) and not isinstance(value, bool)}


def _is_scalar(value: Any) -> bool:
    return not isinstance(jsonable(value), dict | list)


def _node(value: Any, depth: int = 0) -> dict[str, Any]:
    """A details value as a node the template draws: matrix, pairs (+ children), records, list, text."""
    if isinstance(value, Mapping) and set(value) == {"labels", "matrix"}:
        labels = list(value["labels"])[:MAX_ROWS]
        rows = [
            {"label": _text(labels[i]), "cells": [_cell(v) for v in row[: len(labels)]]}
            for i, row in enumerate(value["matrix"][: len(labels)])
        ]
        return {"kind": "matrix", "labels": [_text(v) for v in labels], "rows": rows}
    if isinstance(value, Mapping):
        scalars = [(str(k), _cell(v)) for k, v in value.items() if _is_scalar(v)]
        children = [
            (str(k), _node(v, depth + 1) if depth < MAX_DEPTH else {"kind": "text", "text": _text(v)})
            for k, v in value.items()
            if not _is_scalar(v)
        ]
        return {"kind": "pairs", "rows": scalars, "children": children}
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, Mapping) and all(_is_scalar(x) for x in v.values()) for v in value)
    ):
        columns: list[str] = []
        for row in value:
            columns += [str(k) for k in row if str(k) not in columns]
        cells = [[_cell(row.get(c)) for c in columns] for row in value[:MAX_ROWS]]
        return {"kind": "records", "columns": columns, "rows": cells, "total": len(value), "shown": MAX_ROWS}
    if isinstance(value, list | tuple):
        return {"kind": "list", "values": [_text(v) for v in value[:MAX_ROWS]], "total": len(value)}
    return {"kind": "text", "text": _text(value)}


def _flat(value: Any) -> bool:
    plain = jsonable(value)
    return not isinstance(plain, dict) and not (
        isinstance(plain, list) and any(isinstance(v, dict | list) for v in plain)
    )


def _details(details: Mapping[str, Any]) -> dict[str, Any]:
    """Top-level scalars (and flat lists) in one summary table, then one block per structured entry."""
    summary = []
    for key, value in details.items():
        if _flat(value):
            text = (
                {"text": ", ".join(_text(x) for x in value[:MAX_ROWS]), "num": False}
                if isinstance(value, list | tuple)
                else _cell(value)
            )
            summary.append((str(key).replace("_", " "), text))
    blocks = [(str(k).replace("_", " "), _node(v)) for k, v in details.items() if not _flat(v)]
    return {"summary": summary, "blocks": blocks}


def render_html(result: EvaluationResult, context: Mapping[str, Any] | None = None) -> str:
    """One self-contained HTML page: context header, metrics with CIs, notes, plots, detail tables."""
    ctx = dict(context or {})
    subject = ctx.get("title") or ctx.get("model") or ctx.get("run_id") or "model"
    metrics = [
        {
            "metric": row["metric"],
            "value": _cell(row["value"]),
            "interval": None if row["lower"] is None else (_text(row["lower"]), _text(row["upper"])),
            "direction": {True: "higher is better", False: "lower is better"}.get(
                row["greater_is_better"], ""
            ),
        }
        for row in result.metric_table()
    ]
    return render(
        "evaluation.html",
        title=f"Evaluation report: {subject}",
        result=result,
        context=[(str(k), _text(v)) for k, v in ctx.items()],
        metrics=metrics,
        level=f"{round(result.confidence * 100)}%",
        plots=[{"name": p.name, "title": p.title, "src": p.data_uri()} for p in result.plots],
        details=_details(result.details) if result.details else None,
    )
