"""SQL repository of runs: rows, params, tags, metrics, artifacts, inputs, search."""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from carnet.domain import Artifact, Comparison, Expr, Logical, Metric, Run, RunInput, RunStatus
from carnet.domain.search import encode_page_token
from carnet.errors import Conflict, InvalidInput, NotFound
from carnet.store.interfaces import RunPage
from carnet.store.sql import tables as t

__all__ = ["SqlRunRepo"]


def _metric_value(v: float | None) -> float:
    return math.nan if v is None else float(v)


def _store_value(v: float) -> float | None:
    return None if math.isnan(v) else v


class SqlRunRepo:
    """Runs on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- rows -------------------------------------------------------------
    def insert(self, run: Run, project_id: int) -> None:
        """Insert a new run row with its initial params and tags."""
        self.conn.execute(
            t.runs.insert().values(
                id=run.id,
                project_id=project_id,
                name=run.name,
                status=run.status.value,
                start_time=run.start_time,
                end_time=run.end_time,
                parent_id=run.parent_id,
                environment=json.dumps(run.environment, default=str),
                error=run.error,
                deleted=False,
            )
        )
        if run.params:
            self.add_params(run.id, run.params)
        if run.tags:
            self.set_tags(run.id, run.tags)

    def _row(self, run_id: str) -> Any:
        row = self.conn.execute(
            select(t.runs, t.projects.c.name.label("project_name"))
            .join(t.projects, t.projects.c.id == t.runs.c.project_id)
            .where(t.runs.c.id == run_id)
        ).first()
        if row is None:
            raise NotFound(f"no run with id {run_id!r}; list runs with: carnet runs list", field="run_id")
        return row

    def count(self, project_id: int) -> int:
        """Number of non-deleted runs of a project."""
        r = t.runs
        q = select(func.count()).select_from(r).where(r.c.project_id == project_id, r.c.deleted == False)  # noqa: E712
        return int(self.conn.execute(q).scalar() or 0)

    def ids_with_prefix(self, prefix: str, limit: int = 2) -> builtins.list[str]:
        """Run ids starting with ``prefix`` (at most ``limit``)."""
        r = t.runs
        q = select(r.c.id).where(r.c.id.like(prefix + "%")).order_by(r.c.id).limit(limit)
        return [str(x) for x in self.conn.execute(q).scalars()]

    def exists(self, run_id: str) -> bool:
        """True when a run with that id exists."""
        return self.conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is not None

    def get(self, run_id: str) -> Run:
        """The run with its params, tags and latest metric values."""
        row = self._row(run_id)
        return self._hydrate([row])[0]

    def _hydrate(self, rows: Sequence[Any]) -> list[Run]:
        ids = [r.id for r in rows]
        runs = {
            r.id: Run(
                id=r.id,
                project=r.project_name,
                name=r.name,
                status=RunStatus(r.status),
                start_time=r.start_time,
                end_time=r.end_time,
                parent_id=r.parent_id,
                environment=json.loads(r.environment or "{}"),
                error=r.error,
                deleted=bool(r.deleted),
            )
            for r in rows
        }
        if not ids:
            return []
        for chunk in _chunks(ids, 500):
            for rid, key, value in self.conn.execute(
                select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(
                    t.params.c.run_id.in_(chunk)
                )
            ):
                runs[rid].params[key] = value
            for rid, key, value in self.conn.execute(
                select(t.tags.c.run_id, t.tags.c.key, t.tags.c.value).where(t.tags.c.run_id.in_(chunk))
            ):
                runs[rid].tags[key] = value
            lm = t.latest_metrics
            for rid, key, value in self.conn.execute(
                select(lm.c.run_id, lm.c.key, lm.c.value).where(lm.c.run_id.in_(chunk))
            ):
                runs[rid].metrics[key] = _metric_value(value)
        return [runs[i] for i in ids]

    def set_status(self, run_id: str, status: RunStatus, end_time: float | None, error: str | None) -> None:
        """Move a run to a new status (with its end time and error when terminal)."""
        self.conn.execute(
            t.runs.update()
            .where(t.runs.c.id == run_id)
            .values(status=status.value, end_time=end_time, error=error)
        )

    def set_deleted(self, run_id: str, deleted: bool) -> None:
        """Soft-delete (or restore) a run."""
        self.conn.execute(t.runs.update().where(t.runs.c.id == run_id).values(deleted=deleted))

    # -- params and tags --------------------------------------------------
    def add_params(self, run_id: str, params: dict[str, str]) -> None:
        """Record params; a key already logged with a different value is a Conflict."""
        if not params:
            return
        existing = dict(
            self.conn.execute(
                select(t.params.c.key, t.params.c.value).where(
                    t.params.c.run_id == run_id, t.params.c.key.in_(list(params))
                )
            ).all()
        )
        for key, old in existing.items():
            if old != params[key]:
                raise Conflict(
                    f"param {key!r} of run {run_id} is already {old!r}; params are immutable, "
                    f"log a new run to try {params[key]!r}",
                    field=f"params.{key}",
                )
        new = [{"run_id": run_id, "key": k, "value": v} for k, v in params.items() if k not in existing]
        if new:
            self.conn.execute(t.params.insert(), new)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags, replacing previous values of the same keys."""
        if not tags:
            return
        self.conn.execute(t.tags.delete().where(t.tags.c.run_id == run_id, t.tags.c.key.in_(list(tags))))
        self.conn.execute(
            t.tags.insert(), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
        )

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; NotFound when the run has no such tag."""
        res = self.conn.execute(t.tags.delete().where(t.tags.c.run_id == run_id, t.tags.c.key == key))
        if res.rowcount == 0:
            raise NotFound(f"run {run_id} has no tag {key!r}", field="key")

    # -- metrics ----------------------------------------------------------
    def add_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Append metric values and keep ``latest_metrics`` at the highest (step, timestamp)."""
        if not metrics:
            return
        self.conn.execute(
            t.metrics.insert(),
            [
                {
                    "run_id": run_id,
                    "key": m.key,
                    "value": _store_value(m.value),
                    "step": m.step,
                    "timestamp": m.timestamp,
                }
                for m in metrics
            ],
        )
        latest: dict[str, Metric] = {}
        for m in metrics:
            cur = latest.get(m.key)
            if cur is None or (m.step, m.timestamp) >= (cur.step, cur.timestamp):
                latest[m.key] = m
        rows = [
            {
                "run_id": run_id,
                "key": m.key,
                "value": _store_value(m.value),
                "step": m.step,
                "timestamp": m.timestamp,
            }
            for m in latest.values()
        ]
        lm = t.latest_metrics
        insert = (postgresql.insert if self.conn.dialect.name == "postgresql" else sqlite.insert)(lm)
        excluded = insert.excluded
        stmt = insert.on_conflict_do_update(
            index_elements=[lm.c.run_id, lm.c.key],
            set_={"value": excluded.value, "step": excluded.step, "timestamp": excluded.timestamp},
            where=or_(
                excluded.step > lm.c.step,
                and_(excluded.step == lm.c.step, excluded.timestamp >= lm.c.timestamp),
            ),
        )
        self.conn.execute(stmt, rows)

    def metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every value logged for one metric key, in step then time order."""
        m = t.metrics
        rows = self.conn.execute(
            select(m.c.key, m.c.value, m.c.step, m.c.timestamp)
            .where(m.c.run_id == run_id, m.c.key == key)
            .order_by(m.c.step, m.c.timestamp, m.c.id)
        )
        return [Metric(k, _metric_value(v), int(s), float(ts)) for k, v, s, ts in rows]

    def metric_keys(self, run_id: str) -> list[str]:
        """Keys of the metrics a run has logged."""
        lm = t.latest_metrics
        return list(
            self.conn.execute(select(lm.c.key).where(lm.c.run_id == run_id).order_by(lm.c.key)).scalars()
        )

    # -- artifacts and inputs ---------------------------------------------
    def add_artifacts(self, run_id: str, artifacts: Sequence[Artifact]) -> None:
        """Record artifact paths; re-logging a path replaces its digest."""
        if not artifacts:
            return
        a = t.artifacts
        self.conn.execute(a.delete().where(a.c.run_id == run_id, a.c.path.in_([x.path for x in artifacts])))
        self.conn.execute(
            a.insert(),
            [{"run_id": run_id, "path": x.path, "digest": x.digest, "size": x.size} for x in artifacts],
        )

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        """Artifacts of a run, sorted by path."""
        a = t.artifacts
        rows = self.conn.execute(
            select(a.c.path, a.c.digest, a.c.size).where(a.c.run_id == run_id).order_by(a.c.path)
        )
        return [Artifact(p, d, int(s)) for p, d, s in rows]

    def add_inputs(self, run_id: str, inputs: Sequence[tuple[int, str]]) -> None:
        """Record dataset versions (by row id) read by the run, ignoring repeats."""
        ri = t.run_inputs
        for version_id, context in inputs:
            seen = self.conn.execute(
                select(ri.c.run_id).where(
                    ri.c.run_id == run_id, ri.c.dataset_version_id == version_id, ri.c.context == context
                )
            ).first()
            if seen is None:
                self.conn.execute(
                    ri.insert().values(run_id=run_id, dataset_version_id=version_id, context=context)
                )

    def list_inputs(self, run_id: str) -> list[RunInput]:
        """Dataset versions the run read."""
        ri, dv, ds = t.run_inputs, t.dataset_versions, t.datasets
        rows = self.conn.execute(
            select(ds.c.name, dv.c.version, dv.c.digest, ri.c.context)
            .join(dv, dv.c.id == ri.c.dataset_version_id)
            .join(ds, ds.c.id == dv.c.dataset_id)
            .where(ri.c.run_id == run_id)
            .order_by(ds.c.name, dv.c.version)
        )
        return [RunInput(n, int(v), d, c) for n, v, d, c in rows]

    def children(self, run_id: str) -> list[str]:
        """Ids of the direct child runs."""
        r = t.runs
        return list(
            self.conn.execute(
                select(r.c.id).where(r.c.parent_id == run_id).order_by(r.c.start_time)
            ).scalars()
        )

    # -- search -----------------------------------------------------------
    def search(
        self,
        project_ids: Sequence[int],
        where: Expr | None,
        order_by: Sequence[tuple[str, str, bool]],
        max_results: int,
        offset: int,
        include_deleted: bool,
    ) -> RunPage:
        """Runs of the projects matching ``where``, ordered, one page at a time."""
        r = t.runs
        query = (
            select(r, t.projects.c.name.label("project_name"))
            .join(t.projects, t.projects.c.id == r.c.project_id)
            .where(r.c.project_id.in_(list(project_ids)))
        )
        if not include_deleted:
            query = query.where(r.c.deleted == False)  # noqa: E712 - SQL expression
        if where is not None:
            query = query.where(_compile(where))
        for i, (kind, key, ascending) in enumerate(order_by):
            col = self._order_column(kind, key, i)
            if isinstance(col, tuple):
                alias, col = col
                query = query.outerjoin(alias, and_(alias.c.run_id == r.c.id, alias.c.key == key))
            if self.conn.dialect.name == "postgresql" and not (
                kind == "metric" or (kind == "attribute" and key in ("start_time", "end_time"))
            ):
                col = col.collate("C")  # byte order, as on SQLite, whatever the database locale
            query = query.order_by(col.asc().nulls_last() if ascending else col.desc().nulls_last())
        query = query.order_by(r.c.start_time.desc(), r.c.id).limit(max_results + 1).offset(offset)
        rows = self.conn.execute(query).all()
        more = len(rows) > max_results
        rows = rows[:max_results]
        return RunPage(self._hydrate(rows), encode_page_token(offset + max_results) if more else None)

    @staticmethod
    def _order_column(kind: str, key: str, i: int) -> Any:
        if kind == "attribute":
            return t.runs.c[_ATTR_COLUMNS[key]]
        table = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}[kind]
        alias = table.alias(f"o{i}")
        return alias, alias.c.value


_ATTR_COLUMNS = {
    "run_id": "id",
    "name": "name",
    "status": "status",
    "parent_id": "parent_id",
    "start_time": "start_time",
    "end_time": "end_time",
}


def _chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _apply(col: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return col == value
    if op == "!=":
        return col != value
    if op == "<":
        return col < value
    if op == "<=":
        return col <= value
    if op == ">":
        return col > value
    if op == ">=":
        return col >= value
    if op == "like":
        return col.like(value)
    if op == "ilike":
        return func.lower(col).like(func.lower(value))
    if op == "in":
        return col.in_(list(value))
    if op == "not in":
        return col.not_in(list(value))
    raise InvalidInput(f"unsupported operator {op!r}", field="filter")


def _compile(expr: Expr) -> ColumnElement[bool]:
    if isinstance(expr, Logical):
        parts = [_compile(e) for e in expr.items]
        return and_(*parts) if expr.op == "and" else or_(*parts)
    assert isinstance(expr, Comparison)
    if expr.kind == "attribute":
        col = t.runs.c[_ATTR_COLUMNS[expr.key]]
        value = expr.value
        if expr.key == "status":
            value = tuple(str(v).lower() for v in value) if isinstance(value, tuple) else str(value).lower()
        cond = _apply(col, expr.op, value)
        if expr.op in ("!=", "not in"):
            cond = or_(cond, col.is_(None)) if expr.key in ("parent_id", "end_time") else cond
        return cond
    table = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}[expr.kind]
    return exists().where(
        table.c.run_id == t.runs.c.id, table.c.key == expr.key, _apply(table.c.value, expr.op, expr.value)
    )
