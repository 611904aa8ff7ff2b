"""Signed checkpoints of the audit ledger, kept by witnesses outside the metadata database.

A checkpoint says "in workspace W, event ``seq`` had hash ``hash``" at a time, and links to the
previous checkpoint's digest. Its canonical bytes (sorted-key compact JSON of :meth:`Checkpoint.body`)
are signed with Ed25519; a witness stores the record ``{"checkpoint", "digest", "signature"}``.
Because every event's hash chains all the events before it, a checkpoint pins the whole ledger up
to ``seq``: deleting, rewriting or replacing any of it changes (or removes) that hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from carnet.domain.audit import canonical_json

__all__ = [
    "ANCHOR_ACTION",
    "CHECKPOINT_FORMAT",
    "AnchorCheck",
    "Anchoring",
    "Checkpoint",
    "SignedCheckpoint",
    "WitnessDelivery",
    "iso_time",
]

CHECKPOINT_FORMAT = "carnet.checkpoint/v1"
#: the audit action of an anchoring (subject ``workspace:<id>``)
ANCHOR_ACTION = "audit.anchor"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[0-9a-f]{32}")
_KEY_ID = re.compile(r"[0-9a-f]{16,64}")


def iso_time(seconds: float) -> str:
    """``seconds`` since the epoch as UTC ISO 8601 with microseconds (``2026-12-20T10:00:00.000000Z``)."""
    return (
        dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


@dataclass(frozen=True)
class Checkpoint:
    """What is signed: the ledger of ``workspace_id`` had event ``seq`` with hash ``hash``.

    ``prev`` is the digest of the previous checkpoint (None for the first), ``key_id`` names the
    signing key (:func:`carnet.witnesses.signing.key_id`), ``time`` is UTC ISO 8601.
    """

    workspace_id: str
    seq: int
    hash: str
    time: str
    prev: str | None
    key_id: str

    def body(self) -> dict[str, Any]:
        """The signed fields, ``format`` included."""
        return {
            "format": CHECKPOINT_FORMAT,
            "workspace_id": self.workspace_id,
            "seq": self.seq,
            "hash": self.hash,
            "time": self.time,
            "prev": self.prev,
            "key_id": self.key_id,
        }

    def signing_bytes(self) -> bytes:
        """The canonical bytes the signature covers."""
        return canonical_json(self.body())

    @property
    def digest(self) -> str:
        """SHA-256 hex of :meth:`signing_bytes`: the checkpoint's name, and the next one's ``prev``."""
        return hashlib.sha256(self.signing_bytes()).hexdigest()

    @classmethod
    def from_body(cls, body: Any) -> Checkpoint:
        """Parse a signed body; ValueError says what is wrong with it."""
        if not isinstance(body, dict):
            raise ValueError("checkpoint is not a JSON object")
        if body.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"unknown checkpoint format {body.get('format')!r}")
        extra = set(body) - {"format", "workspace_id", "seq", "hash", "time", "prev", "key_id"}
        if extra:
            raise ValueError(f"unexpected checkpoint fields {sorted(extra)}")
        seq, prev = body.get("seq"), body.get("prev")
        checks = (
            (
                isinstance(body.get("workspace_id"), str) and _ID.fullmatch(body["workspace_id"]),
                "workspace_id",
            ),
            (isinstance(seq, int) and not isinstance(seq, bool) and seq >= 0, "seq"),
            (isinstance(body.get("hash"), str) and _HEX64.fullmatch(body["hash"]), "hash"),
            (isinstance(body.get("time"), str) and bool(body["time"]), "time"),
            (prev is None or (isinstance(prev, str) and _HEX64.fullmatch(prev)), "prev"),
            (isinstance(body.get("key_id"), str) and _KEY_ID.fullmatch(body["key_id"]), "key_id"),
        )
        for ok, name in checks:
            if not ok:
                raise ValueError(f"checkpoint field {name} is missing or malformed")
        return cls(body["workspace_id"], seq, body["hash"], body["time"], prev, body["key_id"])  # type: ignore[arg-type]


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint and its Ed25519 signature (base64 of the 64 signature bytes)."""

    checkpoint: Checkpoint
    signature: str

    @property
    def digest(self) -> str:
        """The checkpoint's digest."""
        return self.checkpoint.digest

    def to_record(self) -> dict[str, Any]:
        """The JSON object a witness stores."""
        return {"checkpoint": self.checkpoint.body(), "digest": self.digest, "signature": self.signature}

    @classmethod
    def from_record(cls, record: Any) -> SignedCheckpoint:
        """Parse a stored record (its signature is not checked here); ValueError says what is wrong."""
        if not isinstance(record, dict):
            raise ValueError("record is not a JSON object")
        checkpoint = Checkpoint.from_body(record.get("checkpoint"))
        signature = record.get("signature")
        if not isinstance(signature, str) or not signature:
            raise ValueError("record has no signature")
        if record.get("digest") not in (None, checkpoint.digest):
            raise ValueError("record digest does not match its checkpoint")
        return cls(checkpoint, signature)


@dataclass(frozen=True)
class WitnessDelivery:
    """What became of one checkpoint at one witness: ``location`` where it went, or ``error``."""

    witness: str
    ok: bool
    location: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Anchoring:
    """The result of ``carnet audit anchor``: the signed checkpoint, its deliveries and the
    ``audit.anchor`` event that records them (None when no witness took the checkpoint)."""

    checkpoint: SignedCheckpoint
    deliveries: tuple[WitnessDelivery, ...]
    event_seq: int | None

    @property
    def ok(self) -> bool:
        """Whether every witness stored the checkpoint."""
        return bool(self.deliveries) and all(d.ok for d in self.deliveries)


@dataclass(frozen=True)
class AnchorCheck:
    """One finding of ``verify --anchors`` at one witness.

    ``status`` is ``ok``, or what is wrong: ``truncated`` (the ledger ends before the checkpoint's
    event), ``rewritten`` (that event's hash differs), ``replaced`` (another workspace's database),
    ``forged`` (a record whose signature does not verify: reported, never trusted), ``stale`` (the
    ledger records a later checkpoint delivered to this witness than the witness holds),
    ``missing`` (no valid checkpoint at the witness) or ``unreadable``. ``expected`` is the
    checkpoint's value and ``found`` the database's, when they differ.
    """

    witness: str
    status: str
    message: str
    seq: int | None = None
    digest: str | None = None
    expected: str | None = None
    found: str | None = None

    @property
    def ok(self) -> bool:
        """Whether this finding is a match."""
        return self.status == "ok"
