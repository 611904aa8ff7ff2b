"""Wire models of the audit ledger."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from carnet.domain.verification import Verification
from carnet.schemas.common import RecordOut

__all__ = ["AnchorCheckOut", "AuditEventOut", "VerificationOut"]


class AuditEventOut(RecordOut):
    """One ledger entry: who did what to which subject, when, and its place in the hash chain."""

    seq: int
    time: float
    actor: str
    action: str
    subject_type: str
    subject_id: str
    payload: dict[str, Any]
    payload_digest: str
    prev_hash: str
    hash: str


class AnchorCheckOut(RecordOut):
    """One finding at one witness: ``status`` ok, truncated, rewritten, replaced, forged, stale,
    missing or unreadable; ``expected`` is the checkpoint's value and ``found`` the database's."""

    witness: str
    status: str
    message: str
    seq: int | None
    digest: str | None
    expected: str | None
    found: str | None


class VerificationOut(BaseModel):
    """The result of recomputing the chain: ok, how many events, the first broken one and why."""

    ok: bool
    count: int
    broken_seq: int | None
    reason: str | None
    anchors: list[AnchorCheckOut] = []
    state: list[dict[str, Any]] = []
    runs_checked: int | None = None
    runs_not_covered: int | None = None

    @classmethod
    def of(cls, v: Verification) -> VerificationOut:
        anchors = [AnchorCheckOut.of(a) for a in v.anchors]
        return cls(
            ok=v.ok,
            count=v.count,
            broken_seq=v.broken_seq,
            reason=v.reason,
            anchors=anchors,
            state=[m.to_dict() for m in v.state],
            runs_checked=v.runs_checked,
            runs_not_covered=v.runs_not_covered,
        )
