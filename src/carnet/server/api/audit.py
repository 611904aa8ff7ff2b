"""Audit routes: the ledger's events (filtered) and the verification of its hash chain."""

from __future__ import annotations

from fastapi import Depends, Query

from carnet.errors import ConfigurationError, InvalidInput
from carnet.schemas import AuditEventOut, VerificationOut
from carnet.server.api.auth import Caller, caller

__all__ = [
    "MAX_EVENTS",
    "audit_events",
    "audit_verify",
]


#: events one request returns at most
MAX_EVENTS = 10_000


def audit_events(
    subject_type: str | None = Query(None, description="run, dataset, model, project ..."),
    subject_id: str | None = Query(None, description="one subject (with subject_type)"),
    action: str | None = Query(None, description="e.g. model.promote"),
    limit: int = Query(100, ge=1, le=MAX_EVENTS),
    before_seq: int | None = Query(None, ge=1, description="only events older than this sequence number"),
    actor: str | None = Query(None, description="only events of this actor"),
    since: float | None = Query(
        None, description="only events at or after this time (seconds since the epoch)"
    ),
    until: float | None = Query(
        None, description="only events at or before this time (seconds since the epoch)"
    ),
    c: Caller = Depends(caller),
) -> list[AuditEventOut]:
    """Events, newest first (the ledger spans every project: the role is needed on ``*``). Page
    through a longer ledger with ``before_seq`` = the ``seq`` of the last event received."""
    c.require(None)
    events = c.services.audit.log(
        subject_type,
        subject_id,
        action=action,
        limit=limit,
        before_seq=before_seq,
        actor=actor,
        since=since,
        until=until,
    )
    return [AuditEventOut.of(e) for e in events]


def audit_verify(
    anchors: bool = Query(False, description="also compare with the server's witnesses' signed checkpoints"),
    deep: bool = Query(False, description="also compare the state tables with the fold of the ledger"),
    c: Caller = Depends(caller),
) -> VerificationOut:
    """Recompute the hash chain: ``ok`` false names the first broken event and why (still 200). With
    ``anchors``, the ledger is also compared with the latest valid checkpoint at each of the
    server's witnesses (``anchors`` lists the findings); a server without witnesses or public key
    answers 422 naming the setting its operator must set."""
    c.require(None)
    try:
        return VerificationOut.of(c.services.audit.verify(anchors=anchors, deep=deep))
    except ConfigurationError as exc:  # the request asks for what this server is not set up to do
        raise InvalidInput(f"this server cannot verify anchors: {exc.message}", field="anchors") from None
