"""Wire models of production monitoring: monitors, windows, passes, alerts and ground-truth labels.

Metric values that are not finite (NaN, infinities) travel as ``null``.
"""

from __future__ import annotations

import math
from typing import Any, Self

from pydantic import BaseModel

from carnet.domain import Monitor
from carnet.schemas.common import RecordOut, RequestBody, fields_of

__all__ = [
    "AlertNoteIn",
    "AlertOut",
    "FiniteOut",
    "LabelFileOut",
    "MonitorOut",
    "MonitorRunIn",
    "PassOut",
    "RollupOut",
    "WindowOut",
    "finite",
]


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by None, tuples as lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


class FiniteOut(RecordOut):
    """Base of an answer that shows a record with every non-finite float (at any depth) as null."""

    @classmethod
    def of(cls, record: object) -> Self:
        """The answer showing ``record``."""
        return cls.model_validate(finite(fields_of(record)))


class MonitorOut(BaseModel):
    """A monitor: its spec (notifier secrets redacted) and its record."""

    name: str
    model: str
    reference: str
    window: str
    spec: dict[str, Any]
    created_at: float
    updated_at: float
    actor: str

    @classmethod
    def of(cls, m: Monitor, spec: dict[str, Any]) -> MonitorOut:
        return cls(
            name=m.name,
            model=m.model,
            reference=m.reference,
            window=m.window.label,
            spec=finite(spec),
            created_at=m.created_at,
            updated_at=m.updated_at,
            actor=m.actor,
        )


class MonitorRunIn(RequestBody):
    """Run a monitoring pass; ``flush`` closes the unfinished window too."""

    flush: bool = False


class WindowOut(FiniteOut):
    """One closed window: bounds, rows, versions seen, flat metrics and its report's digest."""

    monitor: str
    seq: int
    start: float
    end: float
    rows: int
    versions: list[int]
    metrics: dict[str, float | None]
    report: str | None
    created_at: float


class PassOut(FiniteOut):
    """What one monitoring pass did: new windows, relabeled windows, rows left, alert changes."""

    monitor: str
    windows: list[WindowOut]
    relabeled_windows: list[int]
    pending_rows: int
    files: int
    alerts: list[dict[str, Any]]


class RollupOut(FiniteOut):
    """Input drift over one period, from the windows that ended in it."""

    start: float
    end: float
    windows: list[int]
    rows: int
    share_drifted: float | None
    dataset_drift: bool | None
    drifted_columns: list[str]


class AlertOut(FiniteOut):
    """An alert with its history and the outcomes of its actions."""

    id: int
    monitor: str
    rule: str
    status: str
    value: float | None
    threshold: float | None
    window_seq: int
    opened_at: float
    updated_at: float
    message: str
    actions: list[dict[str, Any]]
    history: list[dict[str, Any]]


class AlertNoteIn(RequestBody):
    """Acknowledge or resolve an alert, with a comment (recorded)."""

    comment: str = ""


class LabelFileOut(RecordOut):
    """A stored file of ground-truth labels."""

    id: int
    digest: str
    rows: int
    model: str | None
    source: str
    created_at: float
