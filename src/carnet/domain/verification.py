"""What verifying the audit ledger found: the chain, the witnesses' checkpoints, the deep fold."""

from __future__ import annotations

from dataclasses import dataclass

from carnet.domain.anchors import AnchorCheck
from carnet.domain.audit import StateMismatch

__all__ = ["Verification"]


@dataclass(frozen=True)
class Verification:
    """Result of recomputing the chain: ok, how many events, and the first broken one."""

    ok: bool
    count: int
    broken_seq: int | None = None
    reason: str | None = None
    #: with ``verify(anchors=True)``: the findings at each witness (see AnchorService.check)
    anchors: tuple[AnchorCheck, ...] = ()
    #: with ``verify(deep=True)``: every row that differs from the fold of the ledger
    state: tuple[StateMismatch, ...] = ()
    #: with ``verify(deep=True)``: ended runs whose metric values were checked / predate the digest
    runs_checked: int | None = None
    runs_not_covered: int | None = None
