"""Wire models of deployments (an endpoint's routing to model versions) and promotion policies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from carnet.schemas.common import RecordOut

__all__ = ["ABAnalysisOut", "ABArmOut", "ABComparisonOut", "DeploymentOut", "DeploymentRouteOut", "PolicyOut"]


class DeploymentRouteOut(BaseModel):
    """One route: a model reference and its relative weight."""

    model: str
    weight: float


class DeploymentOut(RecordOut):
    """One revision of an endpoint's deployment (a deletion is a revision with ``deleted`` true)."""

    endpoint: str
    routes: list[DeploymentRouteOut]
    shadows: list[str]
    sticky_header: str | None
    batching: dict[str, Any]
    revision: int
    created_at: float
    actor: str
    deleted: bool


class PolicyOut(BaseModel):
    """A promotion policy in canonical form, for a model (its own or its project's default) or a project."""

    subject: str
    name: str
    policy: dict[str, Any]


class ABArmOut(BaseModel):
    """One arm of an A/B analysis: its version, traffic share, rows and realized metric (1-alpha interval)."""

    arm: str
    ref: str
    model: str
    version: int
    role: str
    weight: float
    share: float
    rows: int
    labeled_rows: int
    n: int
    value: float | None
    lower: float | None
    upper: float | None
    interval: str
    estimated: bool


class ABComparisonOut(BaseModel):
    """Control against one challenger: the difference ``control - challenger`` with its always-valid
    interval and p-value, the sample sizes, the decision, and the confidence sequence over samples."""

    control: str
    challenger: str
    n_control: int
    n_challenger: int
    difference: float | None
    lower: float | None
    upper: float | None
    p_value: float
    alpha: float
    tau: float | None
    mde: float | None
    mde_source: str
    greater_is_better: bool
    decision: str
    reason: str
    favours: str | None
    sample_size: dict[str, dict[str, int] | None]
    path: dict[str, list[float | None]]
    estimated: bool


class ABAnalysisOut(BaseModel):
    """The A/B analysis of an endpoint: arms, comparisons, decision; label-free parts marked ``estimated``."""

    endpoint: str
    revision: int
    sticky_header: str | None
    family: str | None
    metric: str
    metric_description: str
    greater_is_better: bool
    kind: str
    alpha: float
    power: float
    since: float | None
    method: dict[str, Any]
    arms: list[ABArmOut]
    comparisons: list[ABComparisonOut]
    decision: str
    reason: str
    estimates: dict[str, Any] | None
    prediction_differences: list[dict[str, Any]]
    traffic: dict[str, Any] | None
    notes: list[str]
