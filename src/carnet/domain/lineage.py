"""Lineage: what an object came from and what came of it, as a graph of typed nodes and edges."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from carnet.errors import InvalidInput

__all__ = ["KINDS", "LineageEdge", "LineageGraph", "LineageNode", "parse_lineage_ref"]

#: node kinds, in the order the graph lists them
KINDS = ("dataset", "run", "model", "deployment", "monitor")
_PREFIXES = {"dataset": "dataset", "data": "dataset", "run": "run", "model": "model"}
_PREFIXES |= {"deployment": "deployment", "endpoint": "deployment", "monitor": "monitor"}


@dataclass(frozen=True)
class LineageNode:
    """One object: its kind, id (``churn@3``, a run id, ``clf/2``, an endpoint, a monitor name), a
    label for people, the project it belongs to (None when it has none) and a few attributes."""

    kind: str
    id: str
    label: str
    project: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        """``kind:id``, unique in a graph."""
        return f"{self.kind}:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "id": self.id, "label": self.label,
                "project": self.project, "attrs": self.attrs}  # fmt: skip


@dataclass(frozen=True)
class LineageEdge:
    """``source`` fed ``target`` (keys of nodes), as ``relation`` says: ``derived``, ``input``,
    ``child``, ``evaluated``, ``registered``, ``served``, ``watched``, ``reference``, ``retrained``."""

    source: str
    target: str
    relation: str

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "relation": self.relation}


@dataclass
class LineageGraph:
    """The lineage of ``root``: every node reached upstream (what it came from) and downstream (what
    came of it) within ``depth`` steps; edges point the way data flowed. ``truncated`` is True when
    the walk stopped at its node limit before reaching ``depth``."""

    root: str
    depth: int
    nodes: dict[str, LineageNode] = field(default_factory=dict)
    edges: list[LineageEdge] = field(default_factory=list)
    truncated: bool = False

    def add(self, node: LineageNode) -> None:
        self.nodes.setdefault(node.key, node)

    def link(self, source: str, target: str, relation: str) -> None:
        edge = LineageEdge(source, target, relation)
        if edge not in self.edges:
            self.edges.append(edge)

    def upstream(self, key: str) -> list[LineageEdge]:
        """Edges into ``key``."""
        return [e for e in self.edges if e.target == key]

    def downstream(self, key: str) -> list[LineageEdge]:
        """Edges out of ``key``."""
        return [e for e in self.edges if e.source == key]

    def keep(self, allowed: set[str]) -> LineageGraph:
        """The graph restricted to the nodes in ``allowed`` that are still linked to the root through
        allowed nodes (the root is always kept): what is reached only through a left-out node is
        left out too."""
        allowed = allowed | {self.root}
        edges = [e for e in self.edges if e.source in allowed and e.target in allowed]
        reached = {self.root}
        for forward in (True, False):
            ways: dict[str, list[str]] = {}
            for e in edges:
                near, far = (e.source, e.target) if forward else (e.target, e.source)
                ways.setdefault(near, []).append(far)
            frontier = [self.root]
            while frontier:
                for far in ways.get(frontier.pop(), []):
                    if far not in reached:
                        reached.add(far)
                        frontier.append(far)
        return LineageGraph(
            self.root,
            self.depth,
            {k: n for k, n in self.nodes.items() if k in reached},
            [e for e in edges if e.source in reached and e.target in reached],
            self.truncated,
        )

    def to_dict(self) -> dict[str, Any]:
        nodes = sorted(self.nodes.values(), key=lambda n: (KINDS.index(n.kind), n.id))
        return {
            "root": self.root,
            "depth": self.depth,
            "nodes": [n.to_dict() for n in nodes],
            "edges": [e.to_dict() for e in self.edges],
            "truncated": self.truncated,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LineageGraph:
        graph = cls(str(d["root"]), int(d["depth"]), truncated=bool(d.get("truncated", False)))
        for n in d.get("nodes", []):
            graph.add(
                LineageNode(n["kind"], n["id"], n["label"], n.get("project"), dict(n.get("attrs") or {}))
            )
        for e in d.get("edges", []):
            graph.link(e["source"], e["target"], e["relation"])
        return graph

    def to_dot(self) -> str:
        """The graph in Graphviz DOT (``dot -Tsvg``), left to right, one shape per kind."""
        shapes = {"dataset": "cylinder", "run": "box", "model": "component", "deployment": "cds",
                  "monitor": "diamond"}  # fmt: skip
        lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];']
        for key, node in self.nodes.items():
            style = ', style="bold,filled", fillcolor="#fff3c4"' if key == self.root else ""
            label = f"{node.kind}\\n{node.label}"
            lines.append(
                f"  {_quote(key)} [label={_quote(label)}, shape={shapes.get(node.kind, 'box')}{style}];"
            )
        for e in self.edges:
            lines.append(f"  {_quote(e.source)} -> {_quote(e.target)} [label={_quote(e.relation)}];")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def parse_lineage_ref(text: str) -> tuple[str | None, str]:
    """``(kind, rest)`` of a lineage reference: an explicit ``kind:`` prefix (``dataset:``, ``run:``,
    ``model:``, ``deployment:`` or ``endpoint:``, ``monitor:``), else ``(None, text)`` to be guessed."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(
            "name what to trace: a dataset version, run id, model version or endpoint", field="ref"
        )
    text = text.strip()
    m = re.fullmatch(r"([a-z]+):(.+)", text)
    if m and m.group(1) in _PREFIXES:
        return _PREFIXES[m.group(1)], m.group(2)
    return None, text
