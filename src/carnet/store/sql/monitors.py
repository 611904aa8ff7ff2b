"""SQL repository of monitors, their windows, alerts, label files and stored reference profiles."""

from __future__ import annotations

import builtins
import json
from typing import Any

from sqlalchemy import Connection, func, select

from carnet.domain.monitors import Alert, LabelFile, Monitor, MonitorWindow, load_monitor
from carnet.store.sql import tables as t

__all__ = ["SqlMonitorRepo"]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _monitor(row: Any) -> Monitor:
    m = load_monitor(json.loads(row.spec))
    return Monitor(
        **{**m.__dict__, "id": int(row.id), "state": json.loads(row.state)}
        | {"created_at": row.created_at, "updated_at": row.updated_at, "actor": row.actor}
    )


def _window(row: Any, name: str) -> MonitorWindow:
    versions = tuple(int(v) for v in row.versions.split(",") if v)
    return MonitorWindow(
        name, int(row.seq), row.start, row.end, int(row.rows), versions, json.loads(row.metrics),
        row.report, row.created_at,
    )  # fmt: skip


def _alert(row: Any, name: str) -> Alert:
    return Alert(
        id=int(row.id),
        monitor=name,
        rule=row.rule,
        status=row.status,
        value=row.value,
        threshold=row.threshold,
        window_seq=int(row.window_seq),
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        message=row.message,
        actions=tuple(json.loads(row.actions)),
        history=tuple(json.loads(row.history)),
    )


class SqlMonitorRepo:
    """Monitoring records on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- monitors -------------------------------------------------------------------
    def insert(self, monitor: Monitor) -> Monitor:
        """Store a new monitor (the store raises AlreadyExists when the name is taken)."""
        inserted = self.conn.execute(
            t.monitors.insert().values(
                name=monitor.name,
                model=monitor.model,
                spec=_dumps(monitor.to_spec()),
                state=_dumps(monitor.state),
                deleted=False,
                actor=monitor.actor,
                created_at=monitor.created_at,
                updated_at=monitor.updated_at,
            )
        ).inserted_primary_key
        assert inserted is not None
        return Monitor(**{**monitor.__dict__, "id": int(inserted[0])})

    def get(self, name: str) -> Monitor | None:
        """The monitor called ``name`` (deleted ones are not found)."""
        m = t.monitors
        row = self.conn.execute(select(m).where(m.c.name == name, m.c.deleted.is_(False))).first()
        return None if row is None else _monitor(row)

    def list(self) -> builtins.list[Monitor]:
        """Every monitor, by name."""
        m = t.monitors
        return [
            _monitor(r) for r in self.conn.execute(select(m).where(m.c.deleted.is_(False)).order_by(m.c.name))
        ]

    def update_state(self, monitor_id: int, state: dict[str, Any], now: float) -> None:
        """Replace a monitor's state (cursor, stored reference digests)."""
        m = t.monitors
        self.conn.execute(m.update().where(m.c.id == monitor_id).values(state=_dumps(state), updated_at=now))

    def delete(self, monitor_id: int, now: float) -> None:
        """Delete a monitor: its name is freed (renamed aside), its windows and alerts stay for the record."""
        m = t.monitors
        row = self.conn.execute(select(m.c.name).where(m.c.id == monitor_id)).first()
        assert row is not None
        self.conn.execute(
            m.update()
            .where(m.c.id == monitor_id)
            .values(deleted=True, updated_at=now, name=f"{row.name}~deleted~{monitor_id}"[:128])
        )

    # -- windows --------------------------------------------------------------------
    def add_window(self, monitor_id: int, window: MonitorWindow) -> None:
        """Record a closed window (unique per monitor and sequence number)."""
        self.conn.execute(
            t.monitor_windows.insert().values(
                monitor_id=monitor_id,
                seq=window.seq,
                start=window.start,
                end=window.end,
                rows=window.rows,
                versions=",".join(str(v) for v in window.versions),
                metrics=_dumps(window.metrics),
                report=window.report,
                created_at=window.created_at,
            )
        )

    def windows(self, monitor_id: int, name: str, *, last: int | None = None) -> builtins.list[MonitorWindow]:
        """The monitor's windows in order (only the ``last`` ones when given)."""
        w = t.monitor_windows
        query = select(w).where(w.c.monitor_id == monitor_id).order_by(w.c.seq.desc())
        if last is not None:
            query = query.limit(last)
        return [_window(r, name) for r in reversed(list(self.conn.execute(query)))]

    def update_window_metrics(self, monitor_id: int, seq: int, metrics: dict[str, float]) -> None:
        """Replace a window's metrics (realized performance once its labels arrive)."""
        w = t.monitor_windows
        self.conn.execute(
            w.update().where(w.c.monitor_id == monitor_id, w.c.seq == seq).values(metrics=_dumps(metrics))
        )

    def window_count(self, monitor_id: int) -> int:
        """How many windows the monitor has recorded."""
        w = t.monitor_windows
        return int(self.conn.execute(select(func.count()).where(w.c.monitor_id == monitor_id)).scalar() or 0)

    def change_token(self) -> tuple[int, int, float]:
        """``(newest window row id, newest alert id, latest alert change)``: moves whenever results do."""
        w, a = t.monitor_windows, t.alerts
        window = self.conn.execute(select(func.max(w.c.id))).scalar()
        alert = self.conn.execute(select(func.max(a.c.id), func.max(a.c.updated_at))).first()
        return int(window or 0), int((alert[0] if alert else 0) or 0), float((alert[1] if alert else 0) or 0)

    # -- alerts ---------------------------------------------------------------------
    def add_alert(self, monitor_id: int, alert: Alert) -> Alert:
        """Store an opened alert; returns it with its id."""
        inserted = self.conn.execute(
            t.alerts.insert().values(
                monitor_id=monitor_id,
                rule=alert.rule,
                status=alert.status,
                value=alert.value,
                threshold=alert.threshold,
                window_seq=alert.window_seq,
                opened_at=alert.opened_at,
                updated_at=alert.updated_at,
                message=alert.message,
                actions=_dumps(list(alert.actions)),
                history=_dumps(list(alert.history)),
            )
        ).inserted_primary_key
        assert inserted is not None
        return Alert(**{**alert.__dict__, "id": int(inserted[0])})

    def update_alert(self, alert: Alert) -> None:
        """Store an alert's new status, actions and history."""
        a = t.alerts
        self.conn.execute(
            a.update()
            .where(a.c.id == alert.id)
            .values(
                status=alert.status,
                updated_at=alert.updated_at,
                actions=_dumps(list(alert.actions)),
                history=_dumps(list(alert.history)),
            )
        )

    def alerts(
        self, monitor_id: int | None = None, status: builtins.list[str] | None = None
    ) -> builtins.list[Alert]:
        """Alerts, newest first, of one monitor or all, optionally only those in ``status``."""
        a, m = t.alerts, t.monitors
        query = (
            select(a, m.c.name.label("monitor_name"))
            .join(m, m.c.id == a.c.monitor_id)
            .order_by(a.c.id.desc())
        )
        if monitor_id is not None:
            query = query.where(a.c.monitor_id == monitor_id)
        if status:
            query = query.where(a.c.status.in_(status))
        return [_alert(r, r.monitor_name.split("~deleted~")[0]) for r in self.conn.execute(query)]

    def get_alert(self, alert_id: int) -> Alert | None:
        """One alert by id."""
        a, m = t.alerts, t.monitors
        row = self.conn.execute(
            select(a, m.c.name.label("monitor_name"))
            .join(m, m.c.id == a.c.monitor_id)
            .where(a.c.id == alert_id)
        ).first()
        return None if row is None else _alert(row, row.monitor_name.split("~deleted~")[0])

    # -- labels ---------------------------------------------------------------------
    def add_label_file(
        self, *, digest: str, rows: int, model: str | None, source: str, actor: str, now: float
    ) -> LabelFile:
        """Index a Parquet file of ground-truth labels."""
        inserted = self.conn.execute(
            t.label_files.insert().values(
                digest=digest, rows=rows, model=model, source=source, actor=actor, created_at=now
            )
        ).inserted_primary_key
        assert inserted is not None
        return LabelFile(int(inserted[0]), digest, rows, model, source, now)

    def label_files(self, model: str | None = None) -> builtins.list[LabelFile]:
        """Label files, oldest first: those of ``model`` and those not tied to a model."""
        lf = t.label_files
        query = select(lf).order_by(lf.c.id)
        if model is not None:
            query = query.where((lf.c.model == model) | lf.c.model.is_(None))
        return [
            LabelFile(int(r.id), r.digest, int(r.rows), r.model, r.source, r.created_at)
            for r in self.conn.execute(query)
        ]

    # -- reference profiles -------------------------------------------------------------
    def get_reference_profile(self, dataset_digest: str, options: str) -> str | None:
        """The digest of the stored profile of a dataset version under ``options``, or None."""
        p = t.reference_profiles
        return self.conn.execute(
            select(p.c.digest).where(p.c.dataset_digest == dataset_digest, p.c.options == options)
        ).scalar()

    def drop_reference_profiles(self, dataset_digest: str) -> builtins.list[str]:
        """Forget every stored profile of a dataset version's content; the profiles' digests."""
        p = t.reference_profiles
        digests = [
            str(d) for d in self.conn.execute(select(p.c.digest).where(p.c.dataset_digest == dataset_digest))
        ]
        self.conn.execute(p.delete().where(p.c.dataset_digest == dataset_digest))
        return digests

    def set_reference_profile(self, dataset_digest: str, options: str, digest: str, now: float) -> None:
        """Remember the stored profile of a dataset version (first writer wins)."""
        if self.get_reference_profile(dataset_digest, options) is None:
            self.conn.execute(
                t.reference_profiles.insert().values(
                    dataset_digest=dataset_digest, options=options, digest=digest, created_at=now
                )
            )
