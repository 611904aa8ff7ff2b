"""Audit events and the hash chain that makes the ledger tamper-evident.

``hash = H(prev_hash || canonical(event))`` where H is SHA-256, or HMAC-SHA-256
under a workspace secret when one is configured.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from carnet.errors import AuditKeyMismatch

__all__ = [
    "GENESIS_HASH",
    "HEAD_MISSING",
    "AuditEvent",
    "LedgerHead",
    "StateMismatch",
    "canonical_json",
    "chain_hash",
    "check_key",
    "key_fingerprint",
    "payload_digest",
    "plain_json",
]

GENESIS_HASH = "0" * 64
#: why nothing can be appended to (and why verification fails on) a ledger without its head row
HEAD_MISSING = (
    "audit head missing: the ledger's head row (table audit_head) was deleted, so no change can be "
    "recorded; run carnet audit verify and restore the database from a backup"
)


def canonical_json(obj: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def payload_digest(payload: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of a payload."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the ledger: who did what to which subject, and when."""

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

    def body(self) -> dict[str, Any]:
        """The fields covered by the hash (everything except the hash itself)."""
        return {
            "seq": self.seq,
            "time": repr(float(self.time)),
            "actor": self.actor,
            "action": self.action,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "payload_digest": self.payload_digest,
        }


@dataclass(frozen=True)
class LedgerHead:
    """The ledger's head row: the last event (``seq``, ``hash``) and the ledger's identity.

    ``keyed`` and ``key_check`` (see :func:`key_fingerprint`) are recorded with the first event
    written (None before, and on a ledger from before carnet recorded them until its next event);
    ``workspace_id`` names the workspace in signed checkpoints.
    """

    seq: int
    hash: str
    keyed: bool | None = None
    key_check: str | None = None
    workspace_id: str | None = None


def chain_hash(prev_hash: str, body: dict[str, Any], key: str | None = None) -> str:
    """Hash of an event body chained to the previous event's hash."""
    data = prev_hash.encode() + b"|" + canonical_json(body)
    if key:
        return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def key_fingerprint(key: str | None) -> str | None:
    """What the ledger records of its key: ``HMAC-SHA-256(key, "carnet-audit-key-check")`` in hex
    (it identifies the key without revealing it), or None for a ledger without a key."""
    if not key:
        return None
    return hmac.new(key.encode(), b"carnet-audit-key-check", hashlib.sha256).hexdigest()


def check_key(head: LedgerHead, key: str | None) -> None:
    """Refuse ``key`` (``CARNET_AUDIT_KEY``, None when unset) on a ledger recorded as written with
    another key, or with(out) one; a ledger whose key was never recorded (``keyed`` None) passes.

    Raises:
        AuditKeyMismatch: naming ``CARNET_AUDIT_KEY`` and the fix.
    """
    if head.keyed is None:
        return
    check = key_fingerprint(key)
    if head.keyed and check is None:
        raise AuditKeyMismatch(
            "this workspace's audit ledger is keyed but CARNET_AUDIT_KEY is not set: set it to the key "
            "the ledger is written with, in every process that writes to the workspace",
            field="CARNET_AUDIT_KEY",
        )
    if not head.keyed and check is not None:
        raise AuditKeyMismatch(
            "this workspace's audit ledger is written without a key but CARNET_AUDIT_KEY is set: unset "
            "it for this workspace (a ledger cannot be re-keyed; start a new workspace to adopt a key)",
            field="CARNET_AUDIT_KEY",
        )
    if check is not None and not hmac.compare_digest(check, head.key_check or ""):
        raise AuditKeyMismatch(
            "CARNET_AUDIT_KEY is not the key this workspace's audit ledger is written with: set the "
            "ledger's key in every process that writes to the workspace",
            field="CARNET_AUDIT_KEY",
        )


@dataclass(frozen=True)
class StateMismatch:
    """One difference between the ledger's fold and the database: table, key, both values
    (``None``: no such row)."""

    table: str
    key: str
    expected: Any
    found: Any

    @property
    def message(self) -> str:
        """One line: ``table key: the ledger says X, the database has Y``."""
        said, has = _shown(self.expected), _shown(self.found)
        return f"{self.table} {self.key}: the ledger says {said}, the database has {has}"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"table": self.table, "key": self.key, "expected": self.expected, "found": self.found}


def _shown(value: Any) -> str:
    return "(nothing)" if value is None else json.dumps(plain_json(value), default=str)


def plain_json(value: Any) -> Any:
    """JSON-like data with NaN as None (SQLite stores NaN as NULL) and tuples as lists."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return value
