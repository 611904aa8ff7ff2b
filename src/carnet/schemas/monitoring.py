"""Wire models of production monitoring: monitors, windows, passes, alerts and ground-truth labels.

Metric values that are not finite (NaN, infinities) travel as ``null``.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from carnet.domain import Monitor, MonitorWindow
from carnet.domain.monitors import Alert, LabelFile
from carnet.schemas.common import RequestBody

__all__ = [
    "AlertNoteIn",
    "AlertOut",
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


class WindowOut(BaseModel):
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

    @classmethod
    def of(cls, w: MonitorWindow) -> WindowOut:
        return cls.model_validate(finite(w.to_dict()))


class PassOut(BaseModel):
    """What one monitoring pass did: new windows, relabeled windows, rows left, alert changes."""

    monitor: str
    windows: list[WindowOut]
    relabeled_windows: list[int]
    pending_rows: int
    files: int
    alerts: list[dict[str, Any]]

    @classmethod
    def of(cls, result: dict[str, Any]) -> PassOut:
        return cls.model_validate(finite(result))


class RollupOut(BaseModel):
    """Input drift over one period, from the windows that ended in it."""

    start: float
    end: float
    windows: list[int]
    rows: int
    share_drifted: float | None
    dataset_drift: bool | None
    drifted_columns: list[str]

    @classmethod
    def of(cls, item: dict[str, Any]) -> RollupOut:
        return cls.model_validate(finite(item))


class AlertOut(BaseModel):
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

    @classmethod
    def of(cls, a: Alert) -> AlertOut:
        return cls.model_validate(finite(a.to_dict()))


class AlertNoteIn(RequestBody):
    """Acknowledge or resolve an alert, with a comment (recorded)."""

    comment: str = ""


class LabelFileOut(BaseModel):
    """A stored file of ground-truth labels."""

    id: int
    digest: str
    rows: int
    model: str | None
    source: str
    created_at: float

    @classmethod
    def of(cls, f: LabelFile) -> LabelFileOut:
        return cls.model_validate(f.__dict__)
