"""SQL repository of runs: rows, params, tags, metrics, artifacts, inputs.

Statements on the hot write path are built once at import and executed with
parameters, so SQLAlchemy reuses their compiled form instead of rebuilding
expressions on every call.
"""

from __future__ import annotations

import builtins
import json
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union_all,
)

from carnet.domain import Artifact, Expr, Metric, Run, RunInput, RunStatus
from carnet.domain.runs import RunPage, check_params_unchanged
from carnet.errors import NotFound
from carnet.store.sql import tables as t
from carnet.store.sql.dialect import insert_for
from carnet.store.sql.search import search_runs

__all__ = ["SqlRunRepo"]

_r, _p, _tg, _m, _lm, _a = t.runs, t.params, t.tags, t.metrics, t.latest_metrics, t.artifacts

_INSERT_RUN: Any = _r.insert()
_INSERT_ENV: Any = t.run_environments.insert()
_INSERT_PARAM: Any = _p.insert()
_INSERT_TAG: Any = _tg.insert()
_INSERT_METRIC: Any = _m.insert()
_RUN_ROW: Any = (
    select(_r, t.projects.c.name.label("project_name"))
    .join(t.projects, t.projects.c.id == _r.c.project_id)
    .where(_r.c.id == bindparam("rid"))
)
_ENVIRONMENT: Any = select(t.run_environments.c.environment).where(
    t.run_environments.c.run_id == bindparam("rid")
)
_STATUS: Any = select(_r.c.status).where(_r.c.id == bindparam("rid"))
_SET_STATUS: Any = (
    _r.update()
    .where(_r.c.id == bindparam("rid"))
    .values(status=bindparam("b_status"), end_time=bindparam("b_end"), error=bindparam("b_error"))
)
_FINISH: Any = (
    _r.update()
    .where(_r.c.id == bindparam("rid"), _r.c.status == RunStatus.RUNNING.value)
    .values(status=bindparam("b_status"), end_time=bindparam("b_end"), error=bindparam("b_error"))
)
_PARAMS_OF_RUN: Any = select(_p.c.key, _p.c.value).where(_p.c.run_id == bindparam("rid"))
_DELETE_TAGS: Any = _tg.delete().where(
    _tg.c.run_id == bindparam("rid"), _tg.c.key.in_(bindparam("keys", expanding=True))
)
_IDS: Any = bindparam("ids", expanding=True)
#: the most values bound in one ``IN (...)`` of a caller-sized list
_IN_CHUNK = 1000
# params, tags and latest metric values of a page of runs, in one round trip
_DETAILS_OF: Any = union_all(
    select(
        literal("p").label("kind"), _p.c.run_id, _p.c.key, _p.c.value, cast(null(), Float).label("num")
    ).where(_p.c.run_id.in_(_IDS)),
    select(literal("t"), _tg.c.run_id, _tg.c.key, _tg.c.value, cast(null(), Float)).where(
        _tg.c.run_id.in_(_IDS)
    ),
    select(literal("m"), _lm.c.run_id, _lm.c.key, cast(null(), Text), _lm.c.value).where(
        _lm.c.run_id.in_(_IDS)
    ),
)
_UPSERT_LATEST: dict[str, Any] = {}


def _upsert_latest(conn: Connection) -> Any:
    """``latest_metrics`` upsert keeping the value with the highest (step, timestamp), per dialect."""
    name = conn.dialect.name
    if name not in _UPSERT_LATEST:
        ins = insert_for(conn, _lm)
        ex = ins.excluded
        _UPSERT_LATEST[name] = ins.on_conflict_do_update(
            index_elements=[_lm.c.run_id, _lm.c.key],
            set_={"value": ex.value, "step": ex.step, "timestamp": ex.timestamp},
            where=or_(ex.step > _lm.c.step, and_(ex.step == _lm.c.step, ex.timestamp >= _lm.c.timestamp)),
        )
    return _UPSERT_LATEST[name]


_INSERT_PARAMS_IGNORING: dict[str, Any] = {}


def _insert_params_ignoring(conn: Connection) -> Any:
    """``INSERT .. ON CONFLICT DO NOTHING`` into params, per dialect."""
    name = conn.dialect.name
    if name not in _INSERT_PARAMS_IGNORING:
        _INSERT_PARAMS_IGNORING[name] = insert_for(conn, _p).on_conflict_do_nothing(
            index_elements=[_p.c.run_id, _p.c.key]
        )
    return _INSERT_PARAMS_IGNORING[name]


_UPSERT_TAGS: dict[str, Any] = {}


def _upsert_tags(conn: Connection) -> Any:
    """``INSERT .. ON CONFLICT DO UPDATE`` of tag values, per dialect."""
    name = conn.dialect.name
    if name not in _UPSERT_TAGS:
        ins = insert_for(conn, _tg)
        _UPSERT_TAGS[name] = ins.on_conflict_do_update(
            index_elements=[_tg.c.run_id, _tg.c.key], set_={"value": ins.excluded.value}
        )
    return _UPSERT_TAGS[name]


def _metric_value(v: float | None) -> float:
    return math.nan if v is None else float(v)


_FLOAT_MAX = 1.7976931348623157e308


def _finite(v: Any) -> float | None:
    """A stored value as JSON can carry it: NaN (stored as NULL) and the infinities are None."""
    return None if v is None or not math.isfinite(float(v)) else float(v)


def _store_value(v: float) -> float | None:
    return None if math.isnan(v) else v


def _not_found(run_id: str) -> NotFound:
    return NotFound(f"no run with id {run_id!r}; list runs with: carnet runs list", field="run_id")


class SqlRunRepo:
    """Runs on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- rows -------------------------------------------------------------
    def insert(self, run: Run, project_id: int) -> None:
        """Insert a new run with its environment, initial params and tags."""
        self.conn.execute(
            _INSERT_RUN,
            {
                "id": run.id,
                "project_id": project_id,
                "name": run.name,
                "status": run.status.value,
                "start_time": run.start_time,
                "end_time": run.end_time,
                "parent_id": run.parent_id,
                "error": run.error,
                "deleted": False,
            },
        )
        self.conn.execute(
            _INSERT_ENV, {"run_id": run.id, "environment": json.dumps(run.environment, default=str)}
        )
        if run.params:  # a new run has no params yet: no conflict check needed
            self.conn.execute(
                _INSERT_PARAM, [{"run_id": run.id, "key": k, "value": v} for k, v in run.params.items()]
            )
        if run.tags:
            self.conn.execute(
                _INSERT_TAG, [{"run_id": run.id, "key": k, "value": v} for k, v in run.tags.items()]
            )

    def status(self, run_id: str) -> RunStatus:
        """The status of a run (cheap existence and state check); NotFound when unknown."""
        value = self.conn.execute(_STATUS, {"rid": run_id}).scalar()
        if value is None:
            raise _not_found(run_id)
        return RunStatus(value)

    def count(self, project_id: int) -> int:
        """Number of non-deleted runs of a project."""
        q = select(func.count()).select_from(_r).where(_r.c.project_id == project_id, _r.c.deleted == False)  # noqa: E712
        return int(self.conn.execute(q).scalar() or 0)

    def ids_with_prefix(self, prefix: str, limit: int = 2) -> builtins.list[str]:
        """Run ids starting with ``prefix`` (at most ``limit``)."""
        q: Any = select(_r.c.id).where(_r.c.id.like(prefix + "%")).order_by(_r.c.id).limit(limit)
        return list(map(str, self.conn.execute(q).scalars()))

    def exists(self, run_id: str) -> bool:
        """True when a run with that id exists."""
        return self.conn.execute(_STATUS, {"rid": run_id}).first() is not None

    def get(self, run_id: str) -> Run:
        """The run with its environment, params, tags and latest metric values."""
        row = self.conn.execute(_RUN_ROW, {"rid": run_id}).first()
        if row is None:
            raise _not_found(run_id)
        run = self.hydrate([row])[0]
        env = self.conn.execute(_ENVIRONMENT, {"rid": run_id}).scalar()
        run.environment = json.loads(env) if env else {}
        return run

    def hydrate(self, rows: Sequence[Any]) -> builtins.list[Run]:
        """Runs from ``runs`` rows (with ``project_name``), with params, tags and latest metrics."""
        runs = {
            r.id: Run(
                id=r.id,
                project=r.project_name,
                name=r.name,
                status=RunStatus(r.status),
                start_time=r.start_time,
                end_time=r.end_time,
                parent_id=r.parent_id,
                error=r.error,
                deleted=bool(r.deleted),
            )
            for r in rows
        }
        ids = list(runs)
        for i in range(0, len(ids), 500):
            chunk = {"ids": ids[i : i + 500]}
            kind: Any
            rid: Any
            key: Any
            text: Any
            num: Any
            for kind, rid, key, text, num in self.conn.execute(_DETAILS_OF, chunk).all():
                run = runs[rid]
                if kind == "p":
                    run.params[key] = text
                elif kind == "t":
                    run.tags[key] = text
                else:
                    run.metrics[key] = _metric_value(num)
        return [runs[i] for i in ids]

    def set_status(self, run_id: str, status: RunStatus, end_time: float | None, error: str | None) -> None:
        """Move a run to a new status (with its end time and error when terminal)."""
        self.conn.execute(
            _SET_STATUS, {"rid": run_id, "b_status": status.value, "b_end": end_time, "b_error": error}
        )

    def finish(self, run_id: str, status: RunStatus, end_time: float, error: str | None) -> bool:
        """Move a *running* run to a terminal status; False when it is not running (or missing)."""
        res = self.conn.execute(
            _FINISH, {"rid": run_id, "b_status": status.value, "b_end": end_time, "b_error": error}
        )
        return res.rowcount == 1

    def set_deleted(self, run_id: str, deleted: bool) -> None:
        """Soft-delete (or restore) a run."""
        self.conn.execute(_r.update().where(_r.c.id == run_id).values(deleted=deleted))

    # -- params and tags --------------------------------------------------
    def add_params(self, run_id: str, params: dict[str, str]) -> None:
        """Record params; a key already logged with a different value is a Conflict."""
        if not params:
            return
        rows = [{"run_id": run_id, "key": k, "value": v} for k, v in params.items()]
        inserted = self.conn.execute(_insert_params_ignoring(self.conn), rows).rowcount
        if inserted == len(rows):
            return  # every key was new: nothing to compare
        existing = dict(self.conn.execute(_PARAMS_OF_RUN, {"rid": run_id}).all())
        check_params_unchanged(run_id, existing, params)

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set tags, replacing previous values of the same keys."""
        if not tags:
            return
        rows = [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
        self.conn.execute(_upsert_tags(self.conn), rows)  # no IN list: any number of tags at once

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; NotFound when the run has no such tag."""
        res = self.conn.execute(_DELETE_TAGS, {"rid": run_id, "keys": [key]})
        if res.rowcount == 0:
            raise NotFound(f"run {run_id} has no tag {key!r}", field="key")

    # -- metrics ----------------------------------------------------------
    def add_metrics(self, run_id: str, metrics: Sequence[Metric]) -> None:
        """Append metric values and keep ``latest_metrics`` at the highest (step, timestamp)."""
        if not metrics:
            return
        rows: list[dict[str, Any]] = [
            {
                "run_id": run_id,
                "key": m.key,
                "value": _store_value(m.value),
                "step": m.step,
                "timestamp": m.timestamp,
            }
            for m in metrics
        ]
        self.conn.execute(_INSERT_METRIC, rows)
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:
            cur = latest.get(row["key"])
            if cur is None or (row["step"], row["timestamp"]) >= (cur["step"], cur["timestamp"]):
                latest[row["key"]] = row
        self.conn.execute(_upsert_latest(self.conn), list(latest.values()))

    def metric_history(self, run_id: str, key: str) -> builtins.list[Metric]:
        """Every value logged for one metric key, in step then time order."""
        rows: Any = self.conn.execute(
            select(_m.c.key, _m.c.value, _m.c.step, _m.c.timestamp)
            .where(_m.c.run_id == run_id, _m.c.key == key)
            .order_by(_m.c.step, _m.c.timestamp, _m.c.id)
        ).all()
        return [Metric(k, _metric_value(v), int(s), float(ts)) for k, v, s, ts in rows]

    def metric_buckets(
        self, run_id: str, key: str, points: int, start: float | None = None, end: float | None = None
    ) -> dict[str, Any]:
        """One metric's history between steps ``start`` and ``end`` in at most ``points`` buckets of
        equal step width, computed by the database: each bucket's mean step, and the mean, minimum and
        maximum of its finite values (None where it has none). With ``points`` steps or fewer the
        values come back as they are (``raw``)."""
        where = [_m.c.run_id == run_id, _m.c.key == key]
        if start is not None:
            where.append(_m.c.step >= math.ceil(start))
        if end is not None:
            where.append(_m.c.step <= math.floor(end))
        counted: Any = self.conn.execute(
            select(func.count(), func.min(_m.c.step), func.max(_m.c.step)).where(*where)
        ).one()
        total, low, high = int(counted[0]), counted[1], counted[2]
        if total <= points:
            rows: Any = self.conn.execute(
                select(_m.c.step, _m.c.value).where(*where).order_by(_m.c.step, _m.c.timestamp, _m.c.id)
            ).all()
            values = [_finite(v) for _, v in rows]
            steps = [float(st) for st, _ in rows]
            return {"step": steps, "value": values, "min": values, "max": values, "raw": True, "total": total}
        span = int(high) - int(low) + 1
        bucket = (((_m.c.step - int(low)) * points) // span).label("bucket")  # 0..points-1
        finite = case((_m.c.value.between(-_FLOAT_MAX, _FLOAT_MAX), _m.c.value), else_=null())
        rows = self.conn.execute(
            select(bucket, func.avg(_m.c.step), func.avg(finite), func.min(finite), func.max(finite))
            .where(*where)
            .group_by(bucket)
            .order_by(bucket)
        ).all()
        return {
            "step": [float(round(float(st))) for _, st, _, _, _ in rows],
            "value": [_finite(v) for _, _, v, _, _ in rows],
            "min": [_finite(v) for _, _, _, v, _ in rows],
            "max": [_finite(v) for _, _, _, _, v in rows],
            "raw": False,
            "total": total,
        }

    # -- artifacts and inputs ---------------------------------------------
    def add_artifacts(self, run_id: str, artifacts: Sequence[Artifact]) -> None:
        """Record artifact paths; re-logging a path replaces its digest."""
        if not artifacts:
            return
        paths = [x.path for x in artifacts]
        for i in range(0, len(paths), _IN_CHUNK):  # bound parameters per statement (PostgreSQL: 65,535)
            chunk = paths[i : i + _IN_CHUNK]
            self.conn.execute(_a.delete().where(_a.c.run_id == run_id, _a.c.path.in_(chunk)))
        self.conn.execute(
            _a.insert(),
            [{"run_id": run_id, "path": x.path, "digest": x.digest, "size": x.size} for x in artifacts],
        )

    def list_artifacts(self, run_id: str) -> builtins.list[Artifact]:
        """Artifacts of a run, sorted by path."""
        rows: Any = self.conn.execute(
            select(_a.c.path, _a.c.digest, _a.c.size).where(_a.c.run_id == run_id).order_by(_a.c.path)
        ).all()
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

    def list_inputs(self, run_id: str) -> builtins.list[RunInput]:
        """Dataset versions the run read."""
        ri, dv, ds = t.run_inputs, t.dataset_versions, t.datasets
        rows: Any = self.conn.execute(
            select(ds.c.name, dv.c.version, dv.c.digest, ri.c.context)
            .join(dv, dv.c.id == ri.c.dataset_version_id)
            .join(ds, ds.c.id == dv.c.dataset_id)
            .where(ri.c.run_id == run_id)
            .order_by(ds.c.name, dv.c.version)
        ).all()
        return [RunInput(n, int(v), d, c) for n, v, d, c in rows]

    def readers(self, name: str, version: int) -> builtins.list[tuple[str, str]]:
        """``(run id, context)`` of every run that read dataset version ``name@version``."""
        ri, dv, ds = t.run_inputs, t.dataset_versions, t.datasets
        rows: Any = self.conn.execute(
            select(ri.c.run_id, ri.c.context)
            .join(dv, dv.c.id == ri.c.dataset_version_id)
            .join(ds, ds.c.id == dv.c.dataset_id)
            .join(_r, _r.c.id == ri.c.run_id)
            .where(ds.c.name == name, dv.c.version == version)
            .order_by(_r.c.start_time, ri.c.run_id)
        ).all()
        return [(str(r), str(c)) for r, c in rows]

    # -- the Optuna journal of a search ------------------------------------------------------------
    def append_journal(self, study: str, entries: Sequence[str], now: float) -> None:
        """Append JSON ``entries`` to the journal of ``study`` after its last one."""
        j = t.search_journal
        last = self.conn.execute(select(func.max(j.c.seq)).where(j.c.study == study)).scalar()
        start = -1 if last is None else int(last)
        if entries:
            self.conn.execute(
                j.insert(),
                [
                    {"study": study, "seq": start + 1 + i, "entry": entry, "created_at": now}
                    for i, entry in enumerate(entries)
                ],
            )

    def read_journal(self, study: str, start: int) -> builtins.list[str]:
        """The journal entries of ``study`` from number ``start`` on, in order."""
        j = t.search_journal
        q = select(j.c.entry).where(j.c.study == study, j.c.seq >= start).order_by(j.c.seq)
        return list(self.conn.execute(q).scalars())

    def children(self, run_id: str) -> builtins.list[str]:
        """Ids of the direct child runs."""
        q = select(_r.c.id).where(_r.c.parent_id == run_id).order_by(_r.c.start_time)
        return list(self.conn.execute(q).scalars())

    def evaluations(self, run_id: str) -> builtins.list[str]:
        """Ids of the evaluation runs of ``run_id`` (tagged ``evaluates``), oldest first."""
        q = (
            select(_r.c.id)
            .join(_tg, _tg.c.run_id == _r.c.id)
            .where(_tg.c.key == "evaluates", _tg.c.value == run_id)
            .order_by(_r.c.start_time, _r.c.id)
        )
        return list(self.conn.execute(q).scalars())

    # -- search -----------------------------------------------------------
    def search(
        self,
        project_ids: Sequence[int],
        where: Expr | None,
        order_by: Sequence[tuple[str, str, bool]],
        max_results: int,
        offset: int,
        include_deleted: bool,
        *,
        after: tuple[float, str] | None = None,
    ) -> RunPage:
        """Runs of the projects matching ``where``, ordered, one page at a time (see ``search.py``)."""
        rows, next_token = search_runs(
            self.conn, project_ids, where, order_by, max_results, offset, include_deleted, after=after
        )
        return RunPage(self.hydrate(rows), next_token)
