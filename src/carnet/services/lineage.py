"""Lineage use case: from a dataset version, run, model version, endpoint or monitor, everything it
came from (upstream) and everything that came of it (downstream), read in one transaction."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from carnet.domain import DatasetRef
from carnet.domain.lineage import LineageGraph, LineageNode, parse_lineage_ref
from carnet.domain.models import ModelRef
from carnet.errors import CarnetError, InvalidInput, NotFound
from carnet.services.context import ServiceContext
from carnet.services.tracking import TrackingService
from carnet.store.interfaces import Transaction

__all__ = ["LineageService"]

MAX_DEPTH = 20
MAX_NODES = 2000
Step = tuple[LineageNode, str, str]  # (the other node, relation, "up" | "down")


class LineageService:
    """Builds :class:`~carnet.domain.lineage.LineageGraph` s over runs, datasets, the registry,
    deployments and monitors."""

    def __init__(self, ctx: ServiceContext, tracking: TrackingService) -> None:
        self.ctx = ctx
        self.tracking = tracking

    def lineage(self, ref: str, *, depth: int = 6) -> LineageGraph:
        """The lineage of ``ref`` within ``depth`` steps each way.

        ``ref`` is ``name@3`` (a dataset version), a run id or unique prefix, ``clf/2`` or
        ``clf@production`` (a model version), an endpoint or a monitor name; ``dataset:``,
        ``run:``, ``model:``, ``deployment:`` (or ``endpoint:``) and ``monitor:`` say which when a
        name could be several.

        Raises:
            NotFound: nothing by that reference.
            InvalidInput: a bad depth, or a reference that names several kinds of object.
        """
        if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
            raise InvalidInput(f"depth must be an integer from 1 to {MAX_DEPTH}", field="depth")
        with self.ctx.store.transaction(write=False) as tx:
            walker = _Walker(tx, self.tracking)
            root = walker.resolve(ref)
            graph = LineageGraph(root.key, depth)
            graph.add(root)
            for direction in ("up", "down"):
                seen = {root.key}
                queue: deque[tuple[LineageNode, int]] = deque([(root, 0)])
                while queue:
                    if len(graph.nodes) >= MAX_NODES:
                        graph.truncated = True
                        break
                    node, level = queue.popleft()
                    if level >= depth:
                        continue
                    for other, relation, way in walker.steps(node):
                        if way != direction:
                            continue
                        graph.add(other)
                        if way == "down":
                            graph.link(node.key, other.key, relation)
                        else:
                            graph.link(other.key, node.key, relation)
                        if other.key not in seen:
                            seen.add(other.key)
                            queue.append((other, level + 1))
            return graph


class _Walker:
    """Nodes and their neighbours, read through one transaction (small caches per call)."""

    def __init__(self, tx: Transaction, tracking: TrackingService) -> None:
        self.tx = tx
        self.tracking = tracking
        self._deployments: list[Any] | None = None
        self._monitors: list[Any] | None = None
        self._aliases: dict[str, dict[str, int]] = {}
        self._versions: dict[str, tuple[str, int] | None] = {}
        self._datasets: dict[str, tuple[str, int] | None] = {}

    # -- nodes ------------------------------------------------------------------------------------
    def dataset(self, name: str, version: int | None) -> LineageNode:
        dv = self.tx.datasets.get(name, version)
        attrs = {"rows": dv.num_rows, "columns": dv.num_columns, "digest": dv.digest}
        return LineageNode("dataset", dv.ref, dv.ref, dv.project, attrs)

    def run(self, run_id: str) -> LineageNode:
        run = self.tx.runs.get(run_id)
        attrs = {"name": run.name, "status": run.status.value, "kind": run.tags.get("kind", ""),
                 "deleted": run.deleted}  # fmt: skip
        label = f"{run.name} ({run.id[:12]})" + (" (deleted)" if run.deleted else "")
        return LineageNode("run", run.id, label, run.project, attrs)

    def model(self, name: str, version: int) -> LineageNode:
        mv = self.tx.models.get_version(name, version)
        aliases = sorted(a for a, v in self.aliases(name).items() if v == version)
        project = self.tx.models.get_model(name).project
        attrs = {"flavor": mv.flavor, "aliases": aliases, "run_id": mv.run_id}
        label = f"{mv.ref}" + (f" @{', @'.join(aliases)}" if aliases else "")
        return LineageNode("model", mv.ref, label, project, attrs)

    def deployment(self, dep: Any) -> LineageNode:
        attrs = {
            "revision": dep.revision,
            "routes": [r.to_dict() for r in dep.routes],
            "shadows": list(dep.shadows),
        }
        return LineageNode("deployment", dep.endpoint, f"{dep.endpoint} (rev {dep.revision})", None, attrs)

    def monitor(self, mon: Any) -> LineageNode:
        project = None
        try:
            project = self.tx.models.get_model(ModelRef.parse(mon.model).name).project
        except CarnetError:
            pass
        attrs = {"model": mon.model, "reference": mon.reference}
        return LineageNode("monitor", mon.name, mon.name, project, attrs)

    # -- lookups ----------------------------------------------------------------------------------
    def aliases(self, name: str) -> dict[str, int]:
        if name not in self._aliases:
            self._aliases[name] = dict(self.tx.models.get_model(name).aliases)
        return self._aliases[name]

    def deployments(self) -> list[Any]:
        if self._deployments is None:
            self._deployments = [d for d in self.tx.deployments.list_latest() if not d.deleted]
        return self._deployments

    def monitors(self) -> list[Any]:
        if self._monitors is None:
            self._monitors = list(self.tx.monitors.list())
        return self._monitors

    def model_version_of(self, ref: str) -> tuple[str, int] | None:
        """``(name, version)`` a model reference points at now (None when it points nowhere)."""
        if ref not in self._versions:
            self._versions[ref] = self._model_version_of(ref)
        return self._versions[ref]

    def _model_version_of(self, ref: str) -> tuple[str, int] | None:
        try:
            r = ModelRef.parse(ref)
            if r.alias is not None:
                number = self.aliases(r.name).get(r.alias)
            elif r.version is not None:
                number = r.version
            else:
                number = self.tx.models.next_version(self.tx.models.model_id(r.name)) - 1
            return (r.name, number) if number else None
        except CarnetError:
            return None

    def dataset_of(self, ref: str) -> tuple[str, int] | None:
        """``(name, version)`` a dataset reference points at now (None when it points nowhere)."""
        if ref not in self._datasets:
            try:
                dv = self.tx.datasets.get(*_dataset_parts(ref))
                self._datasets[ref] = (dv.name, dv.version)
            except CarnetError:
                self._datasets[ref] = None
        return self._datasets[ref]

    # -- the root ---------------------------------------------------------------------------------
    def resolve(self, text: str) -> LineageNode:
        kind, rest = parse_lineage_ref(text)
        if kind is not None:
            found = self._as(kind, rest)
            if found is None:
                raise NotFound(f"no {kind} {rest!r}", field="ref")
            return found
        found_all = [
            (k, n) for k in ("dataset", "model", "run", "deployment", "monitor") if (n := self._as(k, rest))
        ]
        if not found_all:
            raise NotFound(
                f"nothing named {rest!r}: give a dataset version (name@3), a run id, a model version "
                "(name/3, name@alias), an endpoint or a monitor",
                field="ref",
            )
        if len(found_all) > 1:
            kinds = ", ".join(f"{k}:{rest}" for k, _ in found_all)
            raise InvalidInput(f"{rest!r} names several objects; say which: {kinds}", field="ref")
        return found_all[0][1]

    def _as(self, kind: str, text: str) -> LineageNode | None:
        try:
            if kind == "dataset":
                return self.dataset(*_dataset_parts(text))
            if kind == "run":
                return self.run(self.tracking.resolve_run_id(text))
            if kind == "model":
                found = self.model_version_of(text)
                return self.model(*found) if found else None
            if kind == "deployment":
                dep = self.tx.deployments.latest(text)
                return self.deployment(dep) if dep is not None and not dep.deleted else None
            mon = self.tx.monitors.get(text)
            return self.monitor(mon) if mon is not None else None
        except CarnetError:
            return None

    # -- neighbours -------------------------------------------------------------------------------
    def steps(self, node: LineageNode) -> list[Step]:
        handler: Callable[[LineageNode], list[Step]] = getattr(self, f"_{node.kind}_steps")
        return handler(node)

    def _dataset_steps(self, node: LineageNode) -> list[Step]:
        name, version = _dataset_parts(node.id)
        assert version is not None
        out: list[Step] = []
        dv = self.tx.datasets.get(name, version)
        if dv.parent is not None:
            out.append((self.dataset(dv.parent.name, dv.parent.version), "derived", "up"))
        out += [(self.dataset(n, v), "derived", "down") for n, v in self.tx.datasets.derived(name, version)]
        out += [
            (self.run(rid), f"input ({context})", "down")
            for rid, context in self.tx.runs.readers(name, version)
        ]
        for mon in self.monitors():
            if self.dataset_of(mon.reference) == (name, version):
                out.append((self.monitor(mon), "reference", "down"))
        return out

    def _run_steps(self, node: LineageNode) -> list[Step]:
        run = self.tx.runs.get(node.id)
        out: list[Step] = [(self.dataset(i.dataset, i.version), f"input ({i.context})", "up")
                           for i in self.tx.runs.list_inputs(run.id)]  # fmt: skip
        if run.parent_id:
            out.append((self.run(run.parent_id), "child", "up"))
        evaluated = run.tags.get("evaluates")
        if evaluated and self.tx.runs.exists(evaluated):
            out.append((self.run(evaluated), "evaluated", "up"))
        alert_id = run.tags.get("carnet.alert", "")
        alert = self.tx.monitors.get_alert(int(alert_id)) if alert_id.isdigit() else None
        mon = self.tx.monitors.get(alert.monitor) if alert is not None else None
        if mon is not None:
            out.append((self.monitor(mon), "retrained", "up"))
        out += [(self.run(child), "child", "down") for child in self.tx.runs.children(run.id)]
        out += [(self.run(e), "evaluated", "down") for e in self.tx.runs.evaluations(run.id)]
        out += [(self.model(n, v), "registered", "down") for n, v in self.tx.models.versions_of_run(run.id)]
        return out

    def _model_steps(self, node: LineageNode) -> list[Step]:
        name, _, number = node.id.rpartition("/")
        version = int(number)
        mv = self.tx.models.get_version(name, version)
        out: list[Step] = []
        if mv.run_id and self.tx.runs.exists(mv.run_id):
            out.append((self.run(mv.run_id), "registered", "up"))
        found = mv.extra.get("reuse")
        reuse: dict[str, Any] = found if isinstance(found, dict) else {}
        parent = (str(reuse.get("model") or ""), reuse.get("version"))
        if mv.derived_from:
            out.append((self.model(name, mv.derived_from), "derived", "up"))
        elif parent[0] and isinstance(parent[1], int) and parent[0] != name:  # from another model
            out.append((self.model(parent[0], parent[1]), "derived", "up"))
        out += [(self.model(name, v.version), "derived", "down")
                for v in self.tx.models.versions(name) if v.derived_from == version]  # fmt: skip
        for dep in self.deployments():
            refs = [r.model for r in dep.routes] + list(dep.shadows)
            if any(self.model_version_of(ref) == (name, version) for ref in refs):
                out.append((self.deployment(dep), "served", "down"))
        for mon in self.monitors():
            if self.model_version_of(mon.model) == (name, version):
                out.append((self.monitor(mon), "watched", "down"))
        return out

    def _deployment_steps(self, node: LineageNode) -> list[Step]:
        dep = self.tx.deployments.latest(node.id)
        assert dep is not None
        out: list[Step] = []
        for ref in [r.model for r in dep.routes] + list(dep.shadows):
            found = self.model_version_of(ref)
            if found:
                out.append((self.model(*found), "served", "up"))
        return out

    def _monitor_steps(self, node: LineageNode) -> list[Step]:
        mon = self.tx.monitors.get(node.id)
        assert mon is not None
        out: list[Step] = []
        found = self.model_version_of(mon.model)
        if found:
            out.append((self.model(*found), "watched", "up"))
        data = self.dataset_of(mon.reference)
        if data:
            out.append((self.dataset(*data), "reference", "up"))
        alerts = self.tx.monitors.alerts(mon.id) if mon.id is not None else []
        retrained = {str(a["run"]) for alert in alerts for a in alert.actions
                     if a.get("action") == "retrain" and a.get("ok") and a.get("run")}  # fmt: skip
        out += [(self.run(rid), "retrained", "down") for rid in sorted(retrained) if self.tx.runs.exists(rid)]
        return out


def _dataset_parts(text: str) -> tuple[str, int | None]:
    r = DatasetRef.parse(text)
    return r.name, r.version
