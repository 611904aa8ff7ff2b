"""Run search: the filter expression tree compiled to SQL, ordered and paged.

When the first sort key is a metric, the query is driven from the
``latest_metrics (key, value)`` index: the database reads runs in sort order and
stops at the page size instead of sorting every match. Runs that lack that
metric (or whose latest value is NaN, stored as NULL) come after, from a second
query, so results are the same as with an outer join and ``NULLS LAST``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Select, and_, exists, func, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from carnet.domain import Comparison, Expr, Logical
from carnet.domain.search import encode_page_token
from carnet.errors import InvalidInput
from carnet.store.sql import tables as t

__all__ = ["compile_filter", "search_runs"]

_ATTR_COLUMNS = {
    "run_id": "id",
    "name": "name",
    "status": "status",
    "parent_id": "parent_id",
    "start_time": "start_time",
    "end_time": "end_time",
}
_KIND_TABLES = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}


def _apply(col: Any, op: str, value: Any) -> ColumnElement[bool]:
    ops: dict[str, Callable[[], Any]] = {
        "=": lambda: col == value,
        "!=": lambda: col != value,
        "<": lambda: col < value,
        "<=": lambda: col <= value,
        ">": lambda: col > value,
        ">=": lambda: col >= value,
        "like": lambda: col.like(value),
        "ilike": lambda: func.lower(col).like(func.lower(value)),
        "in": lambda: col.in_(list(value)),
        "not in": lambda: col.not_in(list(value)),
    }
    if op not in ops:
        raise InvalidInput(f"unsupported operator {op!r}", field="filter")
    return cast("ColumnElement[bool]", ops[op]())


def compile_filter(expr: Expr) -> ColumnElement[bool]:
    """SQL condition on ``runs`` for a parsed filter."""
    if isinstance(expr, Logical):
        parts = [compile_filter(e) for e in expr.items]
        return and_(*parts) if expr.op == "and" else or_(*parts)
    assert isinstance(expr, Comparison)
    if expr.kind == "attribute":
        col = t.runs.c[_ATTR_COLUMNS[expr.key]]
        value = expr.value
        if expr.key == "status":
            value = tuple(str(v).lower() for v in value) if isinstance(value, tuple) else str(value).lower()
        cond = _apply(col, expr.op, value)
        if expr.op in ("!=", "not in") and expr.key in ("parent_id", "end_time"):
            cond = or_(cond, col.is_(None))
        return cond
    table = _KIND_TABLES[expr.kind]
    return exists().where(
        table.c.run_id == t.runs.c.id,
        table.c.key == expr.key,
        _apply(table.c.value, expr.op, expr.value),
    )


def _sort(col: Any, ascending: bool, text: bool, dialect: str) -> Any:
    if text and dialect == "postgresql":
        col = col.collate("C")  # byte order, as on SQLite, whatever the database locale
    return col.asc().nulls_last() if ascending else col.desc().nulls_last()


def _ordered(
    query: Select[Any], order_by: Sequence[tuple[str, str, bool]], dialect: str, start: int = 0
) -> Select[Any]:
    """Outer-join each sort key and order by it (missing values last), then newest first."""
    r = t.runs
    for i, (kind, key, ascending) in enumerate(order_by, start=start):
        if kind == "attribute":
            col = r.c[_ATTR_COLUMNS[key]]
            text = key not in ("start_time", "end_time")
        else:
            alias = _KIND_TABLES[kind].alias(f"o{i}")
            query = query.outerjoin(alias, and_(alias.c.run_id == r.c.id, alias.c.key == key))
            col, text = alias.c.value, kind != "metric"
        query = query.order_by(_sort(col, ascending, text, dialect))
    return query.order_by(r.c.start_time.desc(), r.c.id)


def search_runs(
    conn: Connection,
    project_ids: Sequence[int],
    where: Expr | None,
    order_by: Sequence[tuple[str, str, bool]],
    max_results: int,
    offset: int,
    include_deleted: bool,
    *,
    after: tuple[float, str] | None = None,
) -> tuple[list[Any], str | None]:
    """One page of ``runs`` rows (with ``project_name``) and the next page token.

    In the default order (newest first) pages are read by key: the token holds the start time and
    id of the last run shown and the next page starts after it, whatever its depth. Other orders
    page by offset."""
    r, dialect = t.runs, conn.dialect.name
    conds: list[ColumnElement[bool]] = []
    if not include_deleted:
        conds.append(r.c.deleted == False)  # noqa: E712 - SQL expression
    if where is not None:
        conds.append(compile_filter(where))
    limit = max_results + 1
    keyset = not order_by
    if keyset and after is not None:
        start, last = after
        conds.append(or_(r.c.start_time < start, and_(r.c.start_time == start, r.c.id > last)))
        offset = 0
    if not order_by or order_by[0][0] != "metric":
        query = (
            select(r, t.projects.c.name.label("project_name"))
            .join(t.projects, t.projects.c.id == r.c.project_id)
            .where(r.c.project_id.in_(list(project_ids)), *conds)
        )
        rows = conn.execute(_ordered(query, order_by, dialect).limit(limit).offset(offset)).all()
    else:
        rows = _metric_first(
            conn, project_ids, conds, order_by, limit, offset, _requires_metric(where, order_by[0][1])
        )
    more = len(rows) > max_results
    if not more:
        return list(rows), None
    page = list(rows[:max_results])
    position = (float(page[-1].start_time), str(page[-1].id)) if keyset else None
    return page, encode_page_token(offset + max_results, position)


def _requires_metric(where: Expr | None, key: str) -> bool:
    """True when every run matching ``where`` has a (non-NaN) value for metric ``key``.

    Any comparison on a metric is false for a run lacking it, so a comparison on
    ``key`` at the top of the filter, or in its top-level ``and``, implies it.
    """
    if isinstance(where, Comparison):
        return where.kind == "metric" and where.key == key
    if isinstance(where, Logical) and where.op == "and":
        return any(_requires_metric(item, key) for item in where.items)
    return False


def _metric_first(
    conn: Connection,
    project_ids: Sequence[int],
    conds: list[ColumnElement[bool]],
    order_by: Sequence[tuple[str, str, bool]],
    limit: int,
    offset: int,
    only_having: bool = False,
) -> list[Any]:
    """Runs having the first sort metric, read in index order; then those lacking it (or NaN)."""
    r, lm, dialect = t.runs, t.latest_metrics, conn.dialect.name
    _, key, ascending = order_by[0]
    # "+ 0" keeps SQLite from driving the query from the runs index instead of the metric index
    in_projects = (r.c.project_id + 0).in_(list(project_ids))
    driver = lm.alias("o0")
    having = (
        select(r, t.projects.c.name.label("project_name"))
        .select_from(driver)
        .join(r, r.c.id == driver.c.run_id)
        .join(t.projects, t.projects.c.id == r.c.project_id)
        .where(driver.c.key == key, driver.c.value.is_not(None), in_projects, *conds)
        .order_by(_sort(driver.c.value, ascending, False, dialect))
    )
    rows = list(
        conn.execute(_ordered(having, order_by[1:], dialect, start=1).limit(limit).offset(offset)).all()
    )
    if len(rows) >= limit or only_having:
        return rows
    if rows:
        skip = 0
    else:  # the page starts past every run having the metric: how many were there?
        total = conn.execute(
            select(func.count())
            .select_from(driver)
            .join(r, r.c.id == driver.c.run_id)
            .where(driver.c.key == key, driver.c.value.is_not(None), in_projects, *conds)
        ).scalar()
        skip = offset - int(total or 0)
    lacking = (
        select(r, t.projects.c.name.label("project_name"))
        .join(t.projects, t.projects.c.id == r.c.project_id)
        .where(
            r.c.project_id.in_(list(project_ids)),
            not_(exists().where(lm.c.run_id == r.c.id, lm.c.key == key, lm.c.value.is_not(None))),
            *conds,
        )
    )
    rest = conn.execute(
        _ordered(lacking, order_by[1:], dialect, start=1).limit(limit - len(rows)).offset(skip)
    )
    return rows + list(rest.all())
