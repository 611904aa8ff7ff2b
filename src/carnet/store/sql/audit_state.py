"""Reads of the current rows that deep verification compares with the fold of the ledger.

Everything is read on the caller's connection, so inside one read transaction (one snapshot).
The per-run tables are streamed in run id order (binary: ``COLLATE "C"`` on PostgreSQL, as
SQLite compares), so the service can merge them run by run with bounded memory; the tables of
the registry, users and operations are small and read whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from carnet.domain.audit_digests import MetricsDigest, pairs_digest
from carnet.store.sql import tables as t

__all__ = ["SqlStateReader"]

_BATCH = 10_000
_RUN_SUBJECT = "run"


def _json(text: str) -> Any:
    """A JSON column's value, or the text itself when it is not JSON (a tampered row)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _int_or_text(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text


class SqlStateReader:
    """Current rows of the tables the ledger describes, read on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _bin(self, column: Any) -> Any:
        """``column`` ordered by code point, as Python compares strings, on every backend."""
        return column.collate("C") if self.conn.dialect.name == "postgresql" else column

    def _stream(self, query: Any) -> Iterator[Any]:
        yield from self.conn.execution_options(yield_per=_BATCH).execute(query)

    # -- the ledger ---------------------------------------------------------------------------
    def workspace_events(self) -> Iterator[tuple[str, str, str, str, str]]:
        """``(actor, action, subject_type, subject_id, payload)`` of every event not about a run,
        in sequence order (streamed)."""
        a = t.audit_events.c
        q = (
            select(a.actor, a.action, a.subject_type, a.subject_id, a.payload)
            .where(a.subject_type != _RUN_SUBJECT)
            .order_by(a.seq)
        )
        for r in self._stream(q):
            yield r.actor, r.action, r.subject_type, r.subject_id, r.payload

    def run_events(self) -> Iterator[tuple[str, int, str, str]]:
        """``(run id, seq, action, payload)`` of every run event, by run then sequence (streamed)."""
        a = t.audit_events.c
        q = (
            select(a.subject_id, a.seq, a.action, a.payload)
            .where(a.subject_type == _RUN_SUBJECT)
            .order_by(self._bin(a.subject_id), a.seq)
        )
        for r in self._stream(q):
            yield r.subject_id, int(r.seq), r.action, r.payload

    # -- runs, streamed by run id ---------------------------------------------------------------
    def runs(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(run id, {project, name, parent_id, status, deleted, error})`` by run id."""
        r, p = t.runs.c, t.projects.c
        q = (
            select(r.id, p.name.label("project"), r.name, r.parent_id, r.status, r.deleted, r.error)
            .select_from(t.runs.outerjoin(t.projects, p.id == r.project_id))
            .order_by(self._bin(r.id))
        )
        for row in self._stream(q):
            yield (
                row.id,
                {
                    "project": row.project,
                    "name": row.name,
                    "parent_id": row.parent_id,
                    "status": row.status,
                    "deleted": bool(row.deleted),
                    "error": row.error,
                },
            )

    def _pairs(self, table: Any) -> Iterator[tuple[str, str, str]]:
        c = table.c
        q = select(c.run_id, c.key, c.value).order_by(self._bin(c.run_id), c.key)
        for row in self._stream(q):
            yield row.run_id, row.key, row.value

    def params(self) -> Iterator[tuple[str, str, str]]:
        """``(run id, key, value)`` of every param, by run (streamed)."""
        return self._pairs(t.params)

    def tags(self) -> Iterator[tuple[str, str, str]]:
        """``(run id, key, value)`` of every tag, by run (streamed)."""
        return self._pairs(t.tags)

    def _metric_order(self) -> tuple[Any, ...]:
        m = t.metrics.c
        return self._bin(m.key), m.step, m.timestamp, m.value

    def metrics(self) -> Iterator[tuple[str, str, float | None, int, float]]:
        """``(run id, key, value, step, timestamp)`` of every metric row, by run then in the order
        of :class:`~carnet.domain.audit_digests.MetricsDigest` (streamed)."""
        m = t.metrics.c
        q = select(m.run_id, m.key, m.value, m.step, m.timestamp).order_by(
            self._bin(m.run_id), *self._metric_order()
        )
        for row in self._stream(q):
            yield row.run_id, row.key, row.value, int(row.step), float(row.timestamp)

    def latest_metrics(self) -> Iterator[tuple[str, str, float | None, int, float]]:
        """``(run id, key, value, step, timestamp)`` of ``latest_metrics``, by run (streamed)."""
        m = t.latest_metrics.c
        q = select(m.run_id, m.key, m.value, m.step, m.timestamp).order_by(self._bin(m.run_id), m.key)
        for row in self._stream(q):
            yield row.run_id, row.key, row.value, int(row.step), float(row.timestamp)

    def artifacts(self) -> Iterator[tuple[str, str, str, int]]:
        """``(run id, path, digest, size)`` of every artifact, by run (streamed)."""
        a = t.artifacts.c
        q = select(a.run_id, a.path, a.digest, a.size).order_by(self._bin(a.run_id), a.path)
        for row in self._stream(q):
            yield row.run_id, row.path, row.digest, int(row.size)

    def inputs(self) -> Iterator[tuple[str, str | None, int | None, str]]:
        """``(run id, dataset, version, context)`` of every run input, by run (streamed)."""
        ri, dv, d = t.run_inputs.c, t.dataset_versions.c, t.datasets.c
        q = (
            select(ri.run_id, d.name, dv.version, ri.context)
            .select_from(
                t.run_inputs.outerjoin(t.dataset_versions, dv.id == ri.dataset_version_id).outerjoin(
                    t.datasets, d.id == dv.dataset_id
                )
            )
            .order_by(self._bin(ri.run_id))
        )
        for row in self._stream(q):
            yield row.run_id, row.name, None if row.version is None else int(row.version), row.context

    # -- digests of one run (what run.end records) ----------------------------------------------
    def metric_digest(self, run_id: str) -> str:
        """The :class:`~carnet.domain.audit_digests.MetricsDigest` of one run's metric rows."""
        m = t.metrics.c
        q = (
            select(m.key, m.value, m.step, m.timestamp)
            .where(m.run_id == run_id)
            .order_by(*self._metric_order())
        )
        digest = MetricsDigest()
        for row in self.conn.execute(q):
            digest.update(row.key, row.value, row.step, row.timestamp)
        return digest.hexdigest()

    def run_digests(self, run_id: str) -> dict[str, str]:
        """``params_digest``, ``tags_digest`` and ``metrics_digest`` of one run: one query a table."""
        out = {}
        for name, table in (("params_digest", t.params), ("tags_digest", t.tags)):
            q = select(table.c.key, table.c.value).where(table.c.run_id == run_id)
            out[name] = pairs_digest((r.key, r.value) for r in self.conn.execute(q))
        out["metrics_digest"] = self.metric_digest(run_id)
        return out

    # -- the registry ---------------------------------------------------------------------------
    def projects(self) -> dict[str, dict[str, Any]]:
        """name -> {description}."""
        p = t.projects.c
        return {
            r.name: {"description": r.description} for r in self.conn.execute(select(p.name, p.description))
        }

    def _model_names(self) -> dict[int, str]:
        m = t.registered_models.c
        return {int(r.id): r.name for r in self.conn.execute(select(m.id, m.name))}

    def models(self) -> dict[str, dict[str, Any]]:
        """name -> {project}."""
        m, p = t.registered_models.c, t.projects.c
        q = select(m.name, p.name.label("project")).select_from(
            t.registered_models.outerjoin(t.projects, p.id == m.project_id)
        )
        return {r.name: {"project": r.project} for r in self.conn.execute(q)}

    def model_versions(self) -> dict[tuple[str, int], dict[str, Any]]:
        """(model, version) -> {digest, flavor, run_id, derived_from, allow_pickle, datasets}."""
        names = self._model_names()
        v = t.model_versions.c
        q = select(v.model_id, v.version, v.artifact_digest, v.flavor, v.run_id, v.derived_from)
        q = q.add_columns(v.allow_pickle, v.datasets)
        return {
            (names.get(int(r.model_id), f"#{r.model_id}"), int(r.version)): {
                "digest": r.artifact_digest,
                "flavor": r.flavor,
                "run_id": r.run_id,
                "derived_from": r.derived_from,
                "allow_pickle": bool(r.allow_pickle),
                "datasets": _json(r.datasets),
            }
            for r in self.conn.execute(q)
        }

    def model_tags(self) -> dict[tuple[str, str], str]:
        """(model, key) -> value."""
        names = self._model_names()
        c = t.model_tags.c
        rows = self.conn.execute(select(c.model_id, c.key, c.value))
        return {(names.get(int(r.model_id), f"#{r.model_id}"), r.key): r.value for r in rows}

    def version_tags(self) -> dict[tuple[str, int, str], str]:
        """(model, version, key) -> value."""
        names = self._model_names()
        c, v = t.model_version_tags.c, t.model_versions.c
        q = select(v.model_id, v.version, c.key, c.value).select_from(
            t.model_version_tags.join(t.model_versions, v.id == c.version_id)
        )
        return {
            (names.get(int(r.model_id), f"#{r.model_id}"), int(r.version), r.key): r.value
            for r in self.conn.execute(q)
        }

    def aliases(self) -> dict[tuple[str, str], int]:
        """(model, alias) -> version."""
        names = self._model_names()
        a = t.model_aliases.c
        rows = self.conn.execute(select(a.model_id, a.alias, a.version))
        return {(names.get(int(r.model_id), f"#{r.model_id}"), r.alias): int(r.version) for r in rows}

    def alias_history(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """(model, alias) -> every move, oldest first: {kind, version, previous, reason, actor}."""
        names = self._model_names()
        h = t.alias_history.c
        out: dict[tuple[str, str], list[dict[str, Any]]] = {}
        q = select(h.model_id, h.alias, h.kind, h.version, h.previous_version, h.reason, h.actor).order_by(
            h.id
        )
        for r in self.conn.execute(q):
            out.setdefault((names.get(int(r.model_id), f"#{r.model_id}"), r.alias), []).append(
                {
                    "kind": r.kind,
                    "version": r.version,
                    "previous": r.previous_version,
                    "reason": r.reason,
                    "actor": r.actor,
                }
            )
        return out

    def promotions(self) -> dict[int, dict[str, Any]]:
        """id -> {model, version, alias, previous, passed, applied, kind, actor, reason}."""
        names = self._model_names()
        p = t.promotions.c
        q = select(p.id, p.model_id, p.version, p.alias, p.previous_version, p.passed, p.applied)
        q = q.add_columns(p.kind, p.actor, p.reason)
        return {
            int(r.id): {
                "model": names.get(int(r.model_id), f"#{r.model_id}"),
                "version": int(r.version),
                "alias": r.alias,
                "previous": r.previous_version,
                "passed": bool(r.passed),
                "applied": bool(r.applied),
                "kind": r.kind,
                "actor": r.actor,
                "reason": r.reason,
            }
            for r in self.conn.execute(q)
        }

    def approvals(self) -> dict[tuple[str, int, str, str], dict[str, Any]]:
        """(model, version, alias, actor) -> {comment, authenticated}."""
        names = self._model_names()
        a = t.approvals.c
        q = select(a.model_id, a.version, a.alias, a.actor, a.comment, a.authenticated)
        return {
            (names.get(int(r.model_id), f"#{r.model_id}"), int(r.version), r.alias, r.actor): {
                "comment": r.comment,
                "authenticated": bool(r.authenticated),
            }
            for r in self.conn.execute(q)
        }

    def policies(self) -> dict[tuple[str, str], list[Any]]:
        """("model", name) or ("project", name) -> every stored policy, oldest first."""
        names = self._model_names()
        po, p = t.policies.c, t.projects.c
        q = (
            select(po.model_id, p.name.label("project"), po.source)
            .select_from(t.policies.outerjoin(t.projects, p.id == po.project_id))
            .order_by(po.id)
        )
        out: dict[tuple[str, str], list[Any]] = {}
        for r in self.conn.execute(q):
            if r.model_id is None:
                subject = ("project", str(r.project))
            else:
                subject = ("model", names.get(int(r.model_id), f"#{r.model_id}"))
            out.setdefault(subject, []).append(_json(r.source))
        return out

    def datasets(self) -> dict[str, dict[str, Any]]:
        """name -> {project}."""
        d, p = t.datasets.c, t.projects.c
        q = select(d.name, p.name.label("project")).select_from(
            t.datasets.outerjoin(t.projects, p.id == d.project_id)
        )
        return {r.name: {"project": r.project} for r in self.conn.execute(q)}

    def dataset_versions(self) -> dict[tuple[str, int], dict[str, Any]]:
        """(dataset, version) -> {digest, format, rows, columns, source, parent, superseded_by, purged}."""
        d, v = t.datasets.c, t.dataset_versions.c
        q = select(v.id, d.name, v.version, v.digest, v.format, v.num_rows, v.num_columns, v.source)
        q = q.add_columns(v.parent_id, v.superseded_by, v.purged_at).select_from(
            t.dataset_versions.outerjoin(t.datasets, d.id == v.dataset_id)
        )
        rows = list(self.conn.execute(q))
        refs = {int(r.id): f"{r.name}@{r.version}" for r in rows}
        return {
            (str(r.name), int(r.version)): {
                "digest": r.digest,
                "format": r.format,
                "rows": int(r.num_rows),
                "columns": int(r.num_columns),
                "source": r.source,
                "parent": None if r.parent_id is None else refs.get(int(r.parent_id), f"#{r.parent_id}"),
                "superseded_by": None
                if r.superseded_by is None
                else refs.get(int(r.superseded_by), f"#{r.superseded_by}"),
                "purged": r.purged_at is not None,
            }
            for r in rows
        }

    # -- users ----------------------------------------------------------------------------------
    def users(self) -> dict[str, dict[str, Any]]:
        """user -> {disabled}."""
        u = t.users.c
        return {r.name: {"disabled": bool(r.disabled)} for r in self.conn.execute(select(u.name, u.disabled))}

    def roles(self) -> dict[tuple[str, str], str]:
        """(user, project) -> role."""
        u, r_ = t.users.c, t.project_roles.c
        q = select(u.name, r_.project, r_.role).select_from(
            t.project_roles.outerjoin(t.users, u.id == r_.user_id)
        )
        return {(str(r.name), r.project): r.role for r in self.conn.execute(q)}

    def tokens(self) -> dict[int, dict[str, Any]]:
        """token id -> {user, label, revoked, token_hash}."""
        k, u = t.api_tokens.c, t.users.c
        q = select(k.id, u.name, k.label, k.revoked_at, k.token_hash).select_from(
            t.api_tokens.outerjoin(t.users, u.id == k.user_id)
        )
        return {
            int(r.id): {
                "user": r.name,
                "label": r.label,
                "revoked": r.revoked_at is not None,
                "token_hash": r.token_hash,
            }
            for r in self.conn.execute(q)
        }

    # -- operations -----------------------------------------------------------------------------
    def deployments(self) -> dict[tuple[str, int], dict[str, Any]]:
        """(endpoint, revision) -> {spec, deleted, actor}."""
        d = t.deployments.c
        q = select(d.endpoint, d.revision, d.spec, d.deleted, d.actor)
        return {
            (r.endpoint, int(r.revision)): {
                "spec": _json(r.spec),
                "deleted": bool(r.deleted),
                "actor": r.actor,
            }
            for r in self.conn.execute(q)
        }

    def monitors(self) -> list[dict[str, Any]]:
        """Every monitor row, oldest first: {id, name (as created), model, spec, state, deleted}."""
        m = t.monitors.c
        q = select(m.id, m.name, m.model, m.spec, m.state, m.deleted).order_by(m.id)
        return [
            {
                "id": int(r.id),
                "name": r.name.split("~deleted~")[0],
                "model": r.model,
                "spec": _json(r.spec),
                "state": _json(r.state),
                "deleted": bool(r.deleted),
            }
            for r in self.conn.execute(q)
        ]

    def monitor_windows(self) -> dict[tuple[int, int], dict[str, Any]]:
        """(monitor id, seq) -> {rows, versions, report}."""
        w = t.monitor_windows.c
        q = select(w.monitor_id, w.seq, w.rows, w.versions, w.report)
        return {
            (int(r.monitor_id), int(r.seq)): {
                "rows": int(r.rows),
                "versions": [_int_or_text(v) for v in str(r.versions).split(",") if v],
                "report": r.report,
            }
            for r in self.conn.execute(q)
        }

    def alerts(self) -> dict[int, dict[str, Any]]:
        """alert id -> {monitor, rule, status, window, value, actions}."""
        a, m = t.alerts.c, t.monitors.c
        q = select(a.id, m.name, a.rule, a.status, a.window_seq, a.value, a.actions).select_from(
            t.alerts.outerjoin(t.monitors, m.id == a.monitor_id)
        )
        return {
            int(r.id): {
                "monitor": None if r.name is None else r.name.split("~deleted~")[0],
                "rule": r.rule,
                "status": r.status,
                "window": int(r.window_seq),
                "value": r.value,
                "actions": _json(r.actions),
            }
            for r in self.conn.execute(q)
        }

    def label_files(self) -> dict[int, dict[str, Any]]:
        """label file id -> {digest, rows, model, source}."""
        lf = t.label_files.c
        q = select(lf.id, lf.digest, lf.rows, lf.model, lf.source)
        return {
            int(r.id): {"digest": r.digest, "rows": int(r.rows), "model": r.model, "source": r.source}
            for r in self.conn.execute(q)
        }
