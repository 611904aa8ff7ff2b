"""A lineage graph drawn as SVG on the server: one column per step from the root (upstream on the
left, downstream on the right), one box per object, arrows the way data flowed."""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

__all__ = ["lineage_svg", "node_link"]

_W, _H, _GAP_X, _GAP_Y, _PAD = 190, 44, 70, 18, 20
_COLOURS = {
    "dataset": "#0a7ea4",
    "run": "#8250df",
    "model": "#1a7f37",
    "endpoint": "#9a6700",
    "monitor": "#d1242f",
    "alert": "#cf222e",
}


def node_link(node: dict[str, Any]) -> str | None:
    """The UI page of a lineage node (None for a kind without a page)."""
    kind, ident = node.get("kind"), str(node.get("id") or "")
    if kind == "run":
        return f"/runs/{quote(ident, safe='')}"
    if kind == "model" and "/" in ident:
        name, _, version = ident.rpartition("/")
        return f"/models/{quote(name, safe='')}/{quote(version, safe='')}"
    if kind == "dataset" and "@" in ident:
        name, _, version = ident.rpartition("@")
        return f"/datasets/{quote(name, safe='')}/{quote(version, safe='')}"
    if kind == "endpoint":
        return f"/deployments/{quote(ident, safe='')}"
    if kind == "monitor":
        return f"/monitors/{quote(ident, safe='')}"
    return None


def _levels(graph: dict[str, Any]) -> dict[str, int]:
    """Each node's signed distance from the root: negative upstream, positive downstream."""
    root = graph["root"]
    out: dict[str, list[str]] = {}
    into: dict[str, list[str]] = {}
    for e in graph.get("edges") or []:
        out.setdefault(e["source"], []).append(e["target"])
        into.setdefault(e["target"], []).append(e["source"])
    level = {root: 0}
    for links, sign in ((into, -1), (out, 1)):
        queue = deque([root])
        while queue:
            key = queue.popleft()
            for nxt in links.get(key, []):
                if nxt not in level:
                    level[nxt] = level[key] + sign
                    queue.append(nxt)
    for n in graph.get("nodes") or []:  # reached another way (a sibling's input): next to the root
        level.setdefault(n["key"], 1)
    return level


def lineage_svg(graph: dict[str, Any]) -> Markup:
    """The graph as an ``<svg>`` element (every text escaped; boxes link to their pages)."""
    nodes = {n["key"]: n for n in graph.get("nodes") or []}
    level = _levels(graph)
    low = min(level.values(), default=0)
    columns: dict[int, list[str]] = {}
    for key in nodes:
        columns.setdefault(level[key] - low, []).append(key)
    pos: dict[str, tuple[float, float]] = {}
    for col, keys in columns.items():
        for row, key in enumerate(sorted(keys, key=lambda k: (nodes[k]["kind"], nodes[k]["id"]))):
            pos[key] = (_PAD + col * (_W + _GAP_X), _PAD + row * (_H + _GAP_Y))
    width = _PAD * 2 + (max(columns, default=0) + 1) * (_W + _GAP_X) - _GAP_X
    height = _PAD * 2 + max((len(k) for k in columns.values()), default=1) * (_H + _GAP_Y) - _GAP_Y
    parts = [
        Markup(
            '<svg xmlns="http://www.w3.org/2000/svg" class="lineage" role="img" '
            'viewBox="0 0 {} {}" width="{}" height="{}">'
        ).format(width, height, width, height),
        Markup(
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" class="arrowhead"/></marker></defs>'
        ),
    ]
    for e in graph.get("edges") or []:
        if e["source"] not in pos or e["target"] not in pos:
            continue
        (x1, y1), (x2, y2) = pos[e["source"]], pos[e["target"]]
        sx, sy, tx, ty = x1 + _W, y1 + _H / 2, x2, y2 + _H / 2
        if x2 <= x1:  # same column or backwards: leave from the bottom
            sx, sy, tx, ty = x1 + _W / 2, y1 + _H, x2 + _W / 2, y2
        mid = (sx + tx) / 2
        parts.append(
            Markup(
                '<path class="edge" d="M{:.0f},{:.0f} C{:.0f},{:.0f} {:.0f},{:.0f} {:.0f},{:.0f}" '
                'marker-end="url(#arrow)"><title>{}</title></path>'
            ).format(sx, sy, mid, sy, mid, ty, tx, ty, e["relation"])
        )
    for key, node in nodes.items():
        x, y = pos[key]
        colour = _COLOURS.get(str(node.get("kind")), "#6e7781")
        label = str(node.get("label") or node.get("id"))
        shown = label if len(label) <= 26 else label[:25] + "…"
        box = Markup(
            '<g class="node{}"><rect x="{:.0f}" y="{:.0f}" width="{}" height="{}" rx="6" stroke="{}"/>'
            '<text x="{:.0f}" y="{:.0f}" class="kind">{}</text><text x="{:.0f}" y="{:.0f}">{}</text>'
            "<title>{}</title></g>"
        ).format(
            " root" if key == graph["root"] else "",
            x,
            y,
            _W,
            _H,
            colour,
            x + 8,
            y + 16,
            node.get("kind"),
            x + 8,
            y + 34,
            shown,
            label,
        )
        link = node_link(node)
        parts.append(Markup('<a href="{}">{}</a>').format(link, box) if link else box)
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
