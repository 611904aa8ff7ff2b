"""Wire models that let the SDK rebuild operations objects over HTTP: a monitor with its state, a
monitoring pass with its alert transitions, a resolved deployment, and ad hoc drift between two
dataset versions.

Values that are not finite (NaN, infinities) travel as ``null``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from carnet.domain import Monitor, ResolvedDeployment, ResolvedRoute
from carnet.schemas.common import RequestBody
from carnet.schemas.deployments import DeploymentOut
from carnet.schemas.monitoring import AlertOut, FiniteOut, MonitorOut, PassOut, finite
from carnet.schemas.registry import ModelVersionOut

__all__ = [
    "ColumnDriftOut",
    "DriftIn",
    "DriftReportOut",
    "MonitorStateOut",
    "MultivariateOut",
    "PassDetailOut",
    "ResolvedDeploymentOut",
    "ResolvedRouteOut",
    "TransitionOut",
]


class MonitorStateOut(MonitorOut):
    """A monitor with the state its passes keep (reference digests, cursor), internals left out."""

    state: dict[str, Any]

    @classmethod
    def with_state(cls, m: Monitor, spec: dict[str, Any]) -> MonitorStateOut:
        """The monitor, its shown ``spec`` and its public state."""
        base = MonitorOut.of(m, spec).model_dump()
        state = {k: v for k, v in m.state.items() if not str(k).startswith("carry")}
        return cls(**base, state=finite(state))


class TransitionOut(BaseModel):
    """An alert that changed state in a pass: ``opened`` or ``resolved``, with the rule as written."""

    kind: str
    alert: AlertOut
    rule: Any = Field(None, description="the rule as stored: its text, or {when, actions}")


class PassDetailOut(PassOut):
    """A monitoring pass with its alert transitions in full (``alerts`` keeps the short form)."""

    transitions: list[TransitionOut]

    @classmethod
    def of_pass(cls, result: Any) -> PassDetailOut:
        """From a :class:`carnet.services.monitoring.PassResult`."""
        out = PassOut.of(result).model_dump()
        out["transitions"] = [
            TransitionOut(
                kind=t.kind, alert=AlertOut.of(t.alert), rule=None if t.rule is None else t.rule.to_spec()
            )
            for t in result.transitions
        ]
        return cls.model_validate(out)


class ResolvedRouteOut(BaseModel):
    """A reference of a deployment, the version it names now, and its weight (0 for a shadow)."""

    model: str
    version: ModelVersionOut
    weight: float

    @classmethod
    def of(cls, r: ResolvedRoute) -> ResolvedRouteOut:
        return cls(model=r.ref, version=ModelVersionOut.of(r.version), weight=r.weight)


class ResolvedDeploymentOut(BaseModel):
    """An endpoint's current deployment with every reference resolved, and the change token read
    before resolving (it moves when anything that can change the routing changes)."""

    deployment: DeploymentOut
    routes: list[ResolvedRouteOut]
    shadows: list[ResolvedRouteOut]
    token: list[int]

    @classmethod
    def of(cls, r: ResolvedDeployment) -> ResolvedDeploymentOut:
        return cls(
            deployment=DeploymentOut.of(r.deployment),
            routes=[ResolvedRouteOut.of(x) for x in r.routes],
            shadows=[ResolvedRouteOut.of(x) for x in r.shadows],
            token=list(r.token),
        )


class DriftIn(RequestBody):
    """Compare two dataset versions now (each ``NAME@VERSION``, or ``NAME`` for the latest)."""

    reference: str = Field(..., description="the reference dataset version, read through its stored profile")
    current: str = Field(..., description="the current dataset version")
    options: dict[str, Any] | None = Field(
        None, description="drift options: column_methods, methods, thresholds, drift_share, multivariate, ..."
    )


class ColumnDriftOut(BaseModel):
    """The drift verdict of one column, with its bins' shares for plots."""

    column: str
    kind: str
    method: str
    statistic: float | None
    p_value: float | None
    threshold: float | None
    adaptive: bool
    drifted: bool
    output: bool
    labels: list[Any]
    reference_shares: list[float | None]
    current_shares: list[float | None]
    reference_missing: float | None
    current_missing: float | None
    note: str | None
    statistic_threshold: float | None = None
    p_threshold: float | None = None
    decided_by: str = "note"


class MultivariateOut(BaseModel):
    """The domain classifier's verdict."""

    method: str
    auc: float | None
    threshold: float | None
    p_value: float | None
    drifted: bool
    reference_rows: int
    current_rows: int
    columns: list[str]


class DriftReportOut(FiniteOut):
    """Drift of a dataset: feature columns, output columns, the dataset verdict and the options used."""

    columns: list[ColumnDriftOut]
    outputs: list[ColumnDriftOut]
    share_drifted: float | None
    drifted_columns: list[str]
    dataset_drift: bool
    drift_share: float | None
    multivariate: MultivariateOut | None
    reference_rows: int
    current_rows: int
    options: dict[str, Any]
