"""SQL repository of the audit ledger: an append-only hash chain with a head row."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, bindparam, select

from carnet.domain.audit import (
    GENESIS_HASH,
    HEAD_MISSING,
    AuditEvent,
    LedgerHead,
    canonical_json,
    chain_hash,
    check_key,
    key_fingerprint,
    payload_digest,
)
from carnet.errors import AuditIntegrityError, AuditKeyMismatch
from carnet.store.sql import tables as t

__all__ = ["SqlAuditRepo"]

_H = t.audit_head
_HEAD = select(_H.c.seq, _H.c.hash, _H.c.keyed, _H.c.key_check, _H.c.workspace_id).where(_H.c.id == 1)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_INSERT_EVENT = t.audit_events.insert()
_UPDATE_HEAD = _H.update().where(_H.c.id == 1).values(seq=bindparam("b_seq"), hash=bindparam("b_hash"))
_UPDATE_HEAD_AND_IDENTITY = _H.update().where(_H.c.id == 1)
_SET_WORKSPACE_ID = _H.update().where(_H.c.id == 1, _H.c.workspace_id.is_(None))


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
        state = self.state(lock=lock)
        if state is None:
            return 0, GENESIS_HASH
        return state.seq, state.hash

    def state(self, *, lock: bool = False) -> LedgerHead | None:
        """The head row (last event and the ledger's identity), or None when it was deleted."""
        row = self.conn.execute(_HEAD_FOR_UPDATE if lock else _HEAD).first()
        if row is None:
            return None
        keyed = None if row.keyed is None else bool(row.keyed)
        return LedgerHead(int(row.seq), row.hash, keyed, row.key_check, row.workspace_id)

    def ensure_workspace_id(self) -> str:
        """The workspace id recorded in the head row, created now when there is none.

        Raises:
            AuditIntegrityError: the head row is missing.
        """
        self.conn.execute(_SET_WORKSPACE_ID.values(workspace_id=uuid.uuid4().hex))
        state = self.state()
        if state is None or state.workspace_id is None:
            raise AuditIntegrityError(HEAD_MISSING)
        return state.workspace_id

    def get(self, seq: int) -> AuditEvent | None:
        """The event with this sequence number, or None."""
        row = self.conn.execute(select(t.audit_events).where(t.audit_events.c.seq == seq)).first()
        return None if row is None else _to_event(row)

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
        """Append one event chained to the current head, in the caller's transaction.

        The first event records whether the ledger is keyed and the key's fingerprint (and a
        workspace id); later appends must use the same key.

        Raises:
            AuditIntegrityError: the head row is missing (or names an event that is missing).
            AuditKeyMismatch: ``key`` is not the key (or absence of one) the ledger is written with.
        """
        head = self.state(lock=True)
        if head is None:
            raise AuditIntegrityError(HEAD_MISSING)
        seq, prev = head.seq, head.hash
        identity: dict[str, Any] = {}
        if head.keyed is None:  # first event, or a ledger from before identities were recorded
            if seq > 0:
                self._check_last_event(seq, key)
            check = key_fingerprint(key)
            identity = {"keyed": check is not None, "key_check": check}
            identity["workspace_id"] = head.workspace_id or uuid.uuid4().hex
        else:
            check_key(head, key)
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
        if identity:
            res = self.conn.execute(_UPDATE_HEAD_AND_IDENTITY.values(seq=event.seq, hash=h, **identity))
        else:
            res = self.conn.execute(_UPDATE_HEAD, {"b_seq": event.seq, "b_hash": h})
        if res.rowcount != 1:
            raise AuditIntegrityError(HEAD_MISSING)
        return AuditEvent(**{**event.__dict__, "hash": h})

    def _check_last_event(self, seq: int, key: str | None) -> None:
        """On a ledger whose key was never recorded: its last event must hash under ``key``."""
        last = self.get(seq)
        if last is None:
            raise AuditIntegrityError(
                f"audit head names event {seq}, which is missing: run carnet audit verify and restore "
                "the database from a backup"
            )
        if chain_hash(last.prev_hash, last.body(), key) != last.hash:
            setting = "set" if key else "not set"
            raise AuditKeyMismatch(
                f"the last audit event ({seq}) does not verify with this process's CARNET_AUDIT_KEY "
                f"({setting}): use the key (or no key) the ledger is written with in every process that "
                "writes to the workspace; carnet audit verify tells whether the ledger is damaged",
                field="CARNET_AUDIT_KEY",
            )

    def list(
        self,
        subject_type: str | None = None,
        subject_id: str | None = None,
        limit: int | None = None,
        action: str | None = None,
        before_seq: int | None = None,
        *,
        actor: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[AuditEvent]:
        """Events, newest first, optionally for one subject, action or actor, between the times
        ``since`` and ``until`` (inclusive), older than ``before_seq``."""
        a = t.audit_events
        q = select(a)
        if actor:
            q = q.where(a.c.actor == actor)
        if since is not None:
            q = q.where(a.c.time >= since)
        if until is not None:
            q = q.where(a.c.time <= until)
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
