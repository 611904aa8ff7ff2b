"""Anchoring the audit ledger: signed checkpoints of its head, kept by witnesses outside the database.

``anchor`` signs ``{workspace id, seq, head hash, time, previous checkpoint digest}`` with the
Ed25519 anchor key, hands the record to every witness, then appends one ``audit.anchor`` event
(after the head it covers: the next checkpoint covers that event). ``check`` reads the latest
valid checkpoint of every witness and compares it with the database: truncation, a rewritten
tail and a replaced database are caught even when whoever did it could recompute every hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from carnet.domain.anchors import (
    ANCHOR_ACTION,
    AnchorCheck,
    Anchoring,
    Checkpoint,
    SignedCheckpoint,
    WitnessDelivery,
    iso_time,
)
from carnet.domain.audit import GENESIS_HASH, HEAD_MISSING, LedgerHead, check_key
from carnet.errors import AuditIntegrityError, ConfigurationError
from carnet.services.context import ServiceContext, record
from carnet.store.interfaces import Transaction
from carnet.witnesses import redact_url, signing, witness_for

__all__ = ["AnchorService", "write_key_pair"]

_SHORT = 12  # hex digits of a digest or hash shown in messages


def write_key_pair(path: str) -> signing.KeyPair:
    """Write a new anchor key pair: the private key at ``path`` (0600), the public one at ``path.pub``."""
    return signing.generate_key_pair(path)


@dataclass
class _Latest:
    """What one witness holds: its newest valid checkpoint and the findings met on the way."""

    checkpoint: SignedCheckpoint | None
    findings: list[AnchorCheck]


class AnchorService:
    """Signs checkpoints of the ledger's head for the witnesses, and checks the ledger against them."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- configuration ---------------------------------------------------------------------------
    def witness_urls(self, witnesses: Sequence[str] | None = None) -> list[str]:
        """``witnesses``, else the configured ones, each checked by its witness plugin.

        Raises:
            ConfigurationError: none given and none configured (``CARNET_AUDIT_WITNESSES``).
            InvalidInput: a URL no witness serves, or one its witness rejects (field ``witness``).
        """
        urls = [u.strip() for u in (witnesses or self.ctx.settings.audit_witnesses) if u and u.strip()]
        if not urls:
            raise ConfigurationError(
                "no audit witness: pass --witness URL (file:///..., s3://..., https://...) or set "
                "CARNET_AUDIT_WITNESSES (audit_witnesses in carnet.toml)",
                field="CARNET_AUDIT_WITNESSES",
            )
        for url in urls:
            witness_for(url)
        return list(dict.fromkeys(urls))

    def check_config(self, witnesses: Sequence[str] | None = None) -> list[str]:
        """Fail now, not at the first scheduled anchor, when anchoring is not set up: the key loads
        and the witnesses are valid. Returns the witness URLs."""
        signing.load_private_key(self.ctx.settings.anchor_key)
        return self.witness_urls(witnesses)

    def _public_key(self) -> Any:
        settings = self.ctx.settings
        if settings.anchor_public_key:
            return signing.load_public_key(settings.anchor_public_key)
        if settings.anchor_key:
            return signing.load_private_key(settings.anchor_key).public_key()
        return signing.load_public_key(None)

    # -- anchoring -------------------------------------------------------------------------------
    def idle(self, witnesses: Sequence[str] | None = None) -> bool:
        """Whether nothing happened since the last anchoring: the last event is an ``audit.anchor``
        whose checkpoint covers the event just before it and reached every one of ``witnesses``
        (else the configured ones). Schedules skip anchoring then."""
        wanted = {redact_url(u) for u in self.witness_urls(witnesses)}
        with self.ctx.store.transaction(write=False) as tx:
            newest = tx.audit.list(None, None, 1, None)
        if not newest or newest[0].action != ANCHOR_ACTION:
            return False
        payload = newest[0].payload
        stored = payload.get("witnesses")
        reached = set(stored) if isinstance(stored, list) else set()
        return payload.get("seq") == newest[0].seq - 1 and wanted <= reached

    def anchor(self, witnesses: Sequence[str] | None = None) -> Anchoring:
        """Sign a checkpoint of the ledger's head, give it to every witness, record ``audit.anchor``.

        The event is appended only when at least one witness stored the checkpoint; it lists the
        witnesses that did (``witnesses``) and those that failed (``failed``), without credentials.

        Raises:
            ConfigurationError: no anchor key, or no witness.
            InvalidInput: a witness URL is not usable.
            AuditIntegrityError: the ledger's head row is missing.
        """
        urls = self.witness_urls(witnesses)
        private = signing.load_private_key(self.ctx.settings.anchor_key)
        with self.ctx.store.transaction() as tx:
            workspace_id = tx.audit.ensure_workspace_id()
            head = tx.audit.state()
            if head is None:
                raise AuditIntegrityError(HEAD_MISSING)
            check_key(head, self.ctx.settings.audit_key)  # before any witness is written to
            last = tx.audit.list(None, None, 1, ANCHOR_ACTION)
        prev = last[0].payload.get("digest") if last else None
        checkpoint = Checkpoint(
            workspace_id=workspace_id,
            seq=head.seq,
            hash=head.hash,
            time=iso_time(self.ctx.clock()),
            prev=prev if isinstance(prev, str) else None,
            key_id=signing.key_id(private.public_key()),
        )
        signed = signing.sign(private, checkpoint)
        deliveries = tuple(self._publish(url, signed) for url in urls)
        event_seq = None
        if any(d.ok for d in deliveries):
            payload = {
                "seq": checkpoint.seq,
                "hash": checkpoint.hash,
                "digest": signed.digest,
                "prev": checkpoint.prev,
                "key_id": checkpoint.key_id,
                "time": checkpoint.time,
                "witnesses": [d.witness for d in deliveries if d.ok],
                "failed": [d.witness for d in deliveries if not d.ok],
            }
            with self.ctx.store.transaction() as tx:
                event_seq = record(self.ctx, tx, ANCHOR_ACTION, "workspace", workspace_id, payload).seq
        return Anchoring(signed, deliveries, event_seq)

    def _publish(self, url: str, signed: SignedCheckpoint) -> WitnessDelivery:
        shown = redact_url(url)
        try:
            location = witness_for(url).publish(url, signed.to_record(), self.ctx.settings.storage_options)
        except Exception as exc:  # noqa: BLE001 - a witness that is down is reported, never fatal
            return WitnessDelivery(shown, False, None, f"{type(exc).__name__}: {exc}")
        return WitnessDelivery(shown, True, location, None)

    # -- verification ----------------------------------------------------------------------------
    def check(self, witnesses: Sequence[str] | None = None) -> list[AnchorCheck]:
        """Compare the ledger with the latest valid checkpoint at every witness; one finding per
        problem (or one ``ok`` per witness). Records whose signature does not verify under the
        public key are reported as ``forged`` and never trusted.

        Raises:
            ConfigurationError: no public key (``CARNET_ANCHOR_PUBLIC_KEY``), or no witness.
            InvalidInput: a witness URL is not usable.
        """
        urls = self.witness_urls(witnesses)
        public = self._public_key()
        latest = {url: self._latest(url, public) for url in urls}  # witnesses first, then one snapshot
        findings: list[AnchorCheck] = []
        with self.ctx.store.transaction(write=False) as tx:
            head = tx.audit.state()
            newest = tx.audit.list(None, None, 1, None)
            last_seq = newest[0].seq if newest else 0
            recorded = self._recorded_deliveries(tx)
            for url, found in latest.items():
                findings += found.findings
                if found.checkpoint is not None:
                    shown = redact_url(url)
                    findings.append(self._compare(tx, shown, found.checkpoint, head, last_seq))
                    stale = self._stale(shown, found.checkpoint, recorded.get(shown))
                    if stale is not None:
                        findings.append(stale)
        return findings

    def _latest(self, url: str, public: Any) -> _Latest:
        """The newest record at ``url`` whose signature verifies, and the bad ones newer than it."""
        shown = redact_url(url)
        findings: list[AnchorCheck] = []
        expected_key = signing.key_id(public)
        try:
            for item in witness_for(url).read(url, self.ctx.settings.storage_options):
                try:
                    signed = SignedCheckpoint.from_record(item)
                except ValueError as exc:
                    findings.append(
                        AnchorCheck(shown, "forged", f"a record at {shown} is not a valid checkpoint: {exc}")
                    )
                    continue
                cp = signed.checkpoint
                if signing.signature_ok(public, signed):
                    return _Latest(signed, findings)
                signer = (
                    f"it names key {cp.key_id}, not the public key's {expected_key}"
                    if cp.key_id != expected_key
                    else "its signature does not verify"
                )
                findings.append(
                    AnchorCheck(
                        shown,
                        "forged",
                        f"checkpoint {signed.digest[:_SHORT]} at {shown} (event {cp.seq}, hash "
                        f"{cp.hash[:_SHORT]}) is forged: {signer}; it is not trusted",
                        cp.seq,
                        signed.digest,
                    )
                )
        except Exception as exc:  # noqa: BLE001 - an unreadable witness is a finding, not a crash
            findings.append(
                AnchorCheck(shown, "unreadable", f"cannot read {shown}: {type(exc).__name__}: {exc}")
            )
            return _Latest(None, findings)
        findings.append(
            AnchorCheck(
                shown,
                "missing",
                f"{shown} holds no valid checkpoint: anchor the ledger (carnet audit anchor), or the "
                "witness lost its checkpoints",
            )
        )
        return _Latest(None, findings)

    def _compare(
        self, tx: Transaction, shown: str, signed: SignedCheckpoint, head: LedgerHead | None, last_seq: int
    ) -> AnchorCheck:
        """The database against one valid checkpoint: same workspace, its event still there, same hash."""
        cp, digest = signed.checkpoint, signed.digest
        name = f"checkpoint {digest[:_SHORT]} at {shown} (signed {cp.time})"
        db_id = head.workspace_id if head is not None else None
        if head is not None and db_id != cp.workspace_id:  # (a missing head is the chain's finding)
            return AnchorCheck(
                shown,
                "replaced",
                f"{name} is for workspace {cp.workspace_id}, but this database is "
                f"{f'workspace {db_id}' if db_id else 'a ledger without a workspace id'}: the database "
                "was replaced (or the witness belongs to another workspace)",
                cp.seq,
                digest,
                cp.workspace_id,
                db_id,
            )
        event = tx.audit.get(cp.seq) if cp.seq > 0 else None
        found_hash = event.hash if event is not None else (GENESIS_HASH if cp.seq == 0 else None)
        if found_hash is None:
            where = (
                f"the ledger ends at event {last_seq}"
                if last_seq < cp.seq
                else f"event {cp.seq} is missing from the ledger"
            )
            return AnchorCheck(
                shown,
                "truncated",
                f"{where} but {name} covers event {cp.seq} with hash {cp.hash}: events were deleted",
                cp.seq,
                digest,
                str(cp.seq),
                str(last_seq),
            )
        if found_hash != cp.hash:
            return AnchorCheck(
                shown,
                "rewritten",
                f"event {cp.seq} has hash {found_hash} but {name} recorded {cp.hash}: the ledger was "
                "rewritten up to that event (or the database replaced)",
                cp.seq,
                digest,
                cp.hash,
                found_hash,
            )
        return AnchorCheck(shown, "ok", f"{name} covers event {cp.seq}: it matches", cp.seq, digest)

    def _recorded_deliveries(self, tx: Transaction) -> dict[str, tuple[int, str]]:
        """Per witness, the latest checkpoint (seq, digest) the ledger records as delivered to it."""
        out: dict[str, tuple[int, str]] = {}
        for ev in tx.audit.list(None, None, None, ANCHOR_ACTION):
            seq, digest = ev.payload.get("seq"), ev.payload.get("digest")
            if not isinstance(seq, int) or not isinstance(digest, str):
                continue
            for shown in ev.payload.get("witnesses") or ():
                if isinstance(shown, str) and (shown not in out or out[shown][0] < seq):
                    out[shown] = (seq, digest)
        return out

    def _stale(
        self, shown: str, signed: SignedCheckpoint, recorded: tuple[int, str] | None
    ) -> AnchorCheck | None:
        if recorded is None or recorded[0] <= signed.checkpoint.seq:
            return None
        seq, digest = recorded
        return AnchorCheck(
            shown,
            "stale",
            f"the ledger records checkpoint {digest[:_SHORT]} of event {seq} as stored at {shown}, but "
            f"the newest valid checkpoint there covers event {signed.checkpoint.seq}: checkpoints were "
            "removed from the witness",
            seq,
            digest,
            str(seq),
            str(signed.checkpoint.seq),
        )
