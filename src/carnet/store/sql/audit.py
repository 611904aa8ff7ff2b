"""SQL repository of the audit ledger: an append-only hash chain with a head row."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, bindparam, select

from carnet.domain.audit import GENESIS_HASH, AuditEvent, canonical_json, chain_hash, payload_digest
from carnet.errors import StorageError
from carnet.store.sql import tables as t
from carnet.store.sql.dialect import insert_for

__all__ = ["SqlAuditRepo"]

_HEAD_FOR_UPDATE = (
    select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1).with_for_update()
)
_INSERT_EVENT = t.audit_events.insert()
_UPDATE_HEAD = (
    t.audit_head.update()
    .where(t.audit_head.c.id == 1)
    .values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
)


def _to_event(row: Any) -> AuditEvent:
    return AuditEvent(
        seq=int(row.seq),
        time=float(row.time),
        actor=row.actor,
        action=row.action,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        payload=json.loads(row.payload),
        payload_digest=row.payload_digest,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class SqlAuditRepo:
    """The ledger on one connection; appends serialise on the head row."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def head(self, *, lock: bool = False) -> tuple[int, str]:
        """Sequence number and hash of the last event ((0, genesis) for an empty ledger)."""
        q = select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1)
        row = self.conn.execute(q.with_for_update() if lock else q).first()
        if row is None:
            return 0, GENESIS_HASH
        return int(row.seq), row.hash

    def append(
        self,
        *,
        actor: str,
        action: str,
        subject_type: str,
        subject_id: str,
        payload: dict[str, Any],
        time: float,
        key: str | None,
    ) -> AuditEvent:
        """Append one event chained to the current head, in the caller's transaction."""
        row = self.conn.execute(_HEAD_FOR_UPDATE).first()
        if row is None:  # created with the schema; recreated here only if it was removed
            ins = insert_for(self.conn, t.audit_head)
            self.conn.execute(ins.values(id=1, seq=0, hash=GENESIS_HASH).on_conflict_do_nothing())
            row = self.conn.execute(_HEAD_FOR_UPDATE).first()
            assert row is not None
        seq, prev = int(row.seq), row.hash
        text = canonical_json(payload).decode()
        digest = payload_digest(payload)
        event = AuditEvent(
            seq=seq + 1,
            time=float(time),
            actor=actor,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            payload=payload,
            payload_digest=digest,
            prev_hash=prev,
            hash="",
        )
        h = chain_hash(prev, event.body(), key)
        self.conn.execute(
            _INSERT_EVENT,
            {
                "seq": event.seq,
                "time": event.time,
                "actor": actor,
                "action": action,
                "subject_type": subject_type,
                "subject_id": event.subject_id,
                "payload": text,
                "payload_digest": digest,
                "prev_hash": prev,
                "hash": h,
            },
        )
        res = self.conn.execute(_UPDATE_HEAD, {"b_seq": event.seq, "b_hash": h})
        if res.rowcount != 1:
            raise StorageError("audit head row missing; the ledger cannot be appended to")
        return AuditEvent(**{**event.__dict__, "hash": h})

    def list(
        self,
        subject_type: str | None = None,
        subject_id: str | None = None,
        limit: int | None = None,
        action: str | None = None,
        before_seq: int | None = None,
    ) -> list[AuditEvent]:
        """Events, newest first, optionally for one subject or action, older than ``before_seq``."""
        a = t.audit_events
        q = select(a)
        if before_seq is not None:
            q = q.where(a.c.seq < before_seq)
        if subject_type:
            q = q.where(a.c.subject_type == subject_type)
        if subject_id:
            q = q.where(a.c.subject_id == subject_id)
        if action:
            q = q.where(a.c.action == action)
        q = q.order_by(a.c.seq.desc())
        if limit:
            q = q.limit(limit)
        return [_to_event(r) for r in self.conn.execute(q)]

    def iter_all(self) -> Iterator[AuditEvent]:
        """Every event in sequence order, streamed."""
        a = t.audit_events
        result = self.conn.execution_options(yield_per=2000).execute(select(a).order_by(a.c.seq))
        for row in result:
            yield _to_event(row)
