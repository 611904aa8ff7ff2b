"""A pipeline run's graph drawn as SVG on the server: one column per depth (a step after every step it
needs), one box per step with its name, kind, status (colour and text) and duration, linking to the
step's run; arrows from each step to those that need it.

The graph is the run's artifact ``pipeline/graph.json``: ``{"name", "params", "status", "steps":
[{"name", "kind", "needs", "status", "run_id", "started", "ended", "outputs", "error"}]}``.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from carnet.domain.pipelines import GRAPH_PATH
from carnet.server.ui.app import duration

__all__ = ["GRAPH_PATH", "STATUS_COLOURS", "pipeline_svg", "pipeline_view"]

#: a step's status -> the colour of its box
STATUS_COLOURS = {
    "done": "#1a7f37",
    "reused": "#0a7ea4",
    "skipped": "#8c959f",
    "failed": "#cf222e",
    "pending": "#6e7781",
    "running": "#9a6700",
}
_W, _H, _GAP_X, _GAP_Y, _PAD = 200, 58, 60, 16, 20
_MAX_STEPS = 500


def _duration(step: dict[str, Any]) -> str:
    start, end = step.get("started"), step.get("ended")
    numbers = all(isinstance(t, int | float) and math.isfinite(t) for t in (start, end))
    return duration(start, end) if numbers else ""


def _clean(raw: Any) -> dict[str, Any] | None:
    """The graph with each step's fields checked (text as text, needs as names); None when the
    document is not a pipeline graph."""
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), list):
        return None
    steps: list[dict[str, Any]] = []
    seen: set[str] = set()
    for s in raw["steps"][:_MAX_STEPS]:
        if not isinstance(s, dict) or not isinstance(s.get("name"), str) or s["name"] in seen:
            return None
        seen.add(s["name"])
        needs: list[Any] = s["needs"] if isinstance(s.get("needs"), list) else []
        outputs: dict[Any, Any] = s["outputs"] if isinstance(s.get("outputs"), dict) else {}
        run_id = s.get("run_id")
        steps.append(
            {
                "name": s["name"],
                "kind": str(s.get("kind") or ""),
                "needs": [str(n) for n in needs],
                "status": str(s.get("status") or "pending"),
                "run_id": str(run_id) if isinstance(run_id, str) and run_id else None,
                "duration": _duration(s),
                "outputs": {str(k): v for k, v in outputs.items()},
                "error": str(s["error"]) if s.get("error") else None,
            }
        )
    params: dict[Any, Any] = raw["params"] if isinstance(raw.get("params"), dict) else {}
    return {
        "name": str(raw.get("name") or ""),
        "status": str(raw.get("status") or ""),
        "params": {str(k): v for k, v in params.items()},
        "steps": steps,
    }


def _depths(steps: list[dict[str, Any]]) -> dict[str, int]:
    """Each step's column: 0 without needs, else one more than its deepest need (cycles cut)."""
    by_name = {s["name"]: s for s in steps}
    depth: dict[str, int] = {}

    def visit(name: str, path: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        needs = [n for n in by_name[name]["needs"] if n in by_name and n not in path]
        depth[name] = 1 + max((visit(n, path | {name}) for n in needs), default=-1)
        return depth[name]

    for s in steps:
        visit(s["name"], frozenset())
    return depth


def pipeline_svg(graph: dict[str, Any]) -> Markup:
    """The steps of a checked graph (:func:`pipeline_view`) as an ``<svg>`` element (every text
    escaped; a box links to its step's run)."""
    steps = graph["steps"]
    depth = _depths(steps)
    columns: dict[int, list[dict[str, Any]]] = {}
    for s in steps:
        columns.setdefault(depth[s["name"]], []).append(s)
    pos: dict[str, tuple[float, float]] = {}
    for col, members in columns.items():
        for row, s in enumerate(members):
            pos[s["name"]] = (_PAD + col * (_W + _GAP_X), _PAD + row * (_H + _GAP_Y))
    width = _PAD * 2 + (max(columns, default=0) + 1) * (_W + _GAP_X) - _GAP_X
    height = _PAD * 2 + max((len(m) for m in columns.values()), default=1) * (_H + _GAP_Y) - _GAP_Y
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="lineage pipeline" role="img" '
            'viewBox="0 0 {} {}" width="{}" height="{}" aria-label="pipeline {}">'
        ).format(width, height, width, height, graph["name"]),
        Markup(
            '<defs><marker id="step-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" class="arrowhead"/></marker></defs>'
        ),
    ]
    for s in steps:
        for need in s["needs"]:
            if need not in pos:
                continue
            (x1, y1), (x2, y2) = pos[need], pos[s["name"]]
            sx, sy, tx, ty = x1 + _W, y1 + _H / 2, x2, y2 + _H / 2
            mid = (sx + tx) / 2
            parts.append(
                Markup(
                    '<path class="edge" d="M{:.0f},{:.0f} C{:.0f},{:.0f} {:.0f},{:.0f} {:.0f},{:.0f}" '
                    'marker-end="url(#step-arrow)"><title>{} → {}</title></path>'
                ).format(sx, sy, mid, sy, mid, ty, tx, ty, need, s["name"])
            )
    for s in steps:
        x, y = pos[s["name"]]
        colour = STATUS_COLOURS.get(s["status"], "#6e7781")
        name = s["name"] if len(s["name"]) <= 26 else s["name"][:25] + "…"
        status = s["status"] + (f" · {s['duration']}" if s["duration"] else "")
        box = Markup(
            '<g class="node step" data-step="{}" data-status="{}">'
            '<rect x="{:.0f}" y="{:.0f}" width="{}" height="{}" rx="6" stroke="{}" stroke-width="2.5"/>'
            '<text x="{:.0f}" y="{:.0f}" class="kind">{}</text>'
            '<text x="{:.0f}" y="{:.0f}">{}</text>'
            '<text x="{:.0f}" y="{:.0f}" class="kind">{}</text>'
            "<title>{} ({}): {}{}</title></g>"
        ).format(
            s["name"],
            s["status"],
            x,
            y,
            _W,
            _H,
            colour,
            x + 8,
            y + 15,
            s["kind"],
            x + 8,
            y + 32,
            name,
            x + 8,
            y + 49,
            status,
            s["name"],
            s["kind"],
            status,
            f" · {s['error']}" if s["error"] else "",
        )
        link = f"/runs/{quote(s['run_id'], safe='')}" if s["run_id"] else None
        parts.append(Markup('<a href="{}">{}</a>').format(link, box) if link else box)
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def pipeline_view(data: bytes | None) -> dict[str, Any] | None:
    """What a pipeline run's page shows from its ``pipeline/graph.json``: name, status, params, the
    steps (each with its outputs) and the graph as SVG; None when the file is missing or is not a
    pipeline graph."""
    if data is None:
        return None
    try:
        graph = _clean(json.loads(data))
    except (ValueError, RecursionError):
        return None
    if graph is None:
        return None
    return {**graph, "svg": pipeline_svg(graph)}
