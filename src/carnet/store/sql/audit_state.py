"""Reads of the current state that deep verification compares with the fold of the ledger."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from carnet.store.sql import tables as t

__all__ = ["SqlStateReader", "metrics_digest_of_rows"]

_BATCH = 10_000


def metrics_digest_of_rows(rows: Iterator[tuple[str, float | None, int, float]]) -> str:
    """SHA-256 over a run's metric rows ``(key, value, step, timestamp)`` in the order given.

    A value is written as ``repr(float)`` (``nan`` for NaN / NULL), so an edit of any one value,
    step or timestamp changes the digest.
    """
    h = hashlib.sha256()
    for key, value, step, ts in rows:
        shown = (
            "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))
        )
        h.update(f"{key}\x1f{shown}\x1f{int(step)}\x1f{float(ts)!r}\x1e".encode())
    return h.hexdigest()


class SqlStateReader:
    """Current rows of the tables the ledger describes, read on one connection (one snapshot)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def aliases(self) -> dict[tuple[str, str], int]:
        """(model, alias) -> version."""
        q = select(t.registered_models.c.name, t.model_aliases.c.alias, t.model_aliases.c.version).join(
            t.registered_models, t.registered_models.c.id == t.model_aliases.c.model_id
        )
        return {(r.name, r.alias): int(r.version) for r in self.conn.execute(q)}

    def users(self) -> dict[str, bool]:
        """user -> disabled."""
        return {
            r.name: bool(r.disabled) for r in self.conn.execute(select(t.users.c.name, t.users.c.disabled))
        }

    def roles(self) -> dict[tuple[str, str], str]:
        """(user, project) -> role."""
        q = select(t.users.c.name, t.project_roles.c.project, t.project_roles.c.role).join(
            t.users, t.users.c.id == t.project_roles.c.user_id
        )
        return {(r.name, r.project): r.role for r in self.conn.execute(q)}

    def tokens(self) -> dict[int, tuple[str, bool]]:
        """token id -> (user, revoked)."""
        q = select(t.api_tokens.c.id, t.users.c.name, t.api_tokens.c.revoked_at).join(
            t.users, t.users.c.id == t.api_tokens.c.user_id
        )
        return {int(r.id): (r.name, r.revoked_at is not None) for r in self.conn.execute(q)}

    def _pairs(self, table: Any) -> Iterator[tuple[str, str, str]]:
        q = select(table.c.run_id, table.c.key, table.c.value).order_by(table.c.run_id, table.c.key)
        for row in self.conn.execution_options(yield_per=_BATCH).execute(q):
            yield row.run_id, row.key, row.value

    def params(self) -> Iterator[tuple[str, str, str]]:
        """(run, key, value) of every param, by run then key (streamed)."""
        return self._pairs(t.params)

    def tags(self) -> Iterator[tuple[str, str, str]]:
        """(run, key, value) of every tag, by run then key (streamed)."""
        return self._pairs(t.tags)

    def metric_digests(self) -> Iterator[tuple[str, str]]:
        """(run, digest of its metric rows) for every run with metrics, by run (streamed)."""
        m = t.metrics.c
        q = select(m.run_id, m.key, m.value, m.step, m.timestamp).order_by(
            m.run_id, m.key, m.step, m.timestamp, m.value
        )
        current: str | None = None
        rows: list[tuple[str, float | None, int, float]] = []
        for r in self.conn.execution_options(yield_per=_BATCH).execute(q):
            if r.run_id != current:
                if current is not None:
                    yield current, metrics_digest_of_rows(iter(rows))
                current, rows = r.run_id, []
            rows.append((r.key, r.value, r.step, r.timestamp))
        if current is not None:
            yield current, metrics_digest_of_rows(iter(rows))

    def metric_digest(self, run_id: str) -> str:
        """The digest of one run's metric rows (what ``run.end`` records)."""
        m = t.metrics.c
        q = (
            select(m.key, m.value, m.step, m.timestamp)
            .where(m.run_id == run_id)
            .order_by(m.key, m.step, m.timestamp, m.value)
        )
        return metrics_digest_of_rows((r.key, r.value, r.step, r.timestamp) for r in self.conn.execute(q))
