"""Audit ledger use cases: list events and verify the hash chain."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from carnet.domain.audit import GENESIS_HASH, HEAD_MISSING, AuditEvent, chain_hash, payload_digest
from carnet.domain.verification import Verification
from carnet.errors import InvalidInput
from carnet.services.audit_runs import deep_check
from carnet.services.context import ServiceContext

__all__ = ["AuditService", "Verification"]


class AuditService:
    """Reads and verifies the ledger (appends happen inside every other service)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def log(
        self,
        subject_type: str | None = None,
        subject_id: str | None = None,
        *,
        action: str | None = None,
        limit: int | None = 100,
        before_seq: int | None = None,
        actor: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[AuditEvent]:
        """Events, newest first, optionally for one subject (``run``, ``run:ID``), action or actor,
        between ``since`` and ``until`` (seconds since the epoch), and older than ``before_seq`` (to
        page through the ledger)."""
        for name, bound in (("since", since), ("until", until)):
            if bound is not None and (isinstance(bound, bool) or not math.isfinite(bound)):
                raise InvalidInput(f"{name} must be a finite time in seconds since the epoch", field=name)
        with self.ctx.store.transaction(write=False) as tx:
            return tx.audit.list(
                subject_type, subject_id, limit, action, before_seq, actor=actor, since=since, until=until
            )

    def verify(
        self, *, anchors: bool = False, witnesses: Sequence[str] | None = None, deep: bool = False
    ) -> Verification:
        """Recompute every hash in order; report the first event that does not check out.

        With ``anchors``, also compare the ledger with the latest signed checkpoint at every witness
        (``witnesses``, else the configured ones): ``ok`` is false on any finding that is not a match,
        and when the chain itself verified, ``broken_seq``/``reason`` name the first such finding.
        """
        if witnesses and not anchors:
            raise InvalidInput("witnesses are only read with anchors=True (--anchors)", field="witnesses")
        result = self._verify_chain()
        if deep:
            result = self._deep(result)
        if not anchors:
            return result
        from carnet.services.anchors import AnchorService

        findings = tuple(AnchorService(self.ctx).check(witnesses))
        bad = [f for f in findings if not f.ok]
        if not bad:
            return replace(result, anchors=findings)
        if not result.ok:
            return replace(result, ok=False, anchors=findings)
        first = bad[0]
        seq = first.seq if first.status in ("truncated", "rewritten") else None
        if first.status == "truncated" and first.found is not None and int(first.found) < (first.seq or 0):
            seq = int(first.found) + 1
        return replace(result, ok=False, broken_seq=seq, reason=first.message, anchors=findings)

    def _deep(self, result: Verification) -> Verification:
        """``result`` with the rows that differ from the fold of the ledger (``ok`` false on any)."""
        with self.ctx.store.transaction(write=False) as tx:
            report = deep_check(tx, self.ctx.settings.audit_key)
        found = replace(
            result,
            ok=result.ok and not report.mismatches,
            state=report.mismatches,
            runs_checked=report.runs_checked,
            runs_not_covered=report.runs_not_covered,
        )
        if not report.mismatches or not result.ok:
            return found
        first = report.mismatches[0]
        return replace(
            found, reason=f"{first.message} ({len(report.mismatches)} rows differ from the ledger)"
        )

    def _verify_chain(self) -> Verification:
        """The chain alone: every event in order, then the head row."""
        key = self.ctx.settings.audit_key
        count = 0
        prev_hash, expected_seq = GENESIS_HASH, 1
        with self.ctx.store.transaction(write=False) as tx:
            for ev in tx.audit.iter_all():
                if ev.seq != expected_seq:
                    return Verification(
                        False, count, expected_seq, f"event {expected_seq} is missing (found {ev.seq})"
                    )
                if ev.prev_hash != prev_hash:
                    return Verification(
                        False, count, ev.seq, f"event {ev.seq} does not link to event {ev.seq - 1}"
                    )
                if payload_digest(ev.payload) != ev.payload_digest:
                    return Verification(False, count, ev.seq, f"event {ev.seq} payload was altered")
                if chain_hash(prev_hash, ev.body(), key) != ev.hash:
                    return Verification(
                        False, count, ev.seq, f"event {ev.seq} hash does not match its content"
                    )
                prev_hash, expected_seq = ev.hash, expected_seq + 1
                count += 1
            head = tx.audit.state()
        if head is None:
            return Verification(False, count, None, HEAD_MISSING)
        head_seq, head_hash = head.seq, head.hash
        if head_seq != count or head_hash != prev_hash:
            if head_seq > count:
                return Verification(
                    False,
                    count,
                    count + 1,
                    f"ledger ends at event {count} but its head records {head_seq} events",
                )
            return Verification(
                False,
                count,
                head_seq + 1,
                f"event {head_seq + 1} was appended outside carnet (head is at {head_seq})",
            )
        return Verification(True, count)
