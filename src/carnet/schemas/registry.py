"""Wire models of the model registry: models, versions, aliases, approvals, promotions."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from carnet.domain import ModelVersion, Promotion
from carnet.schemas.common import RecordOut, RequestBody, WireFloat, wire_floats

__all__ = [
    "AliasIn",
    "AliasOut",
    "ApprovalIn",
    "ApprovalOut",
    "GateResultOut",
    "ModelOut",
    "ModelVersionOut",
    "PromoteIn",
    "PromotionOut",
    "PromotionRequestIn",
    "RegisterIn",
    "RollbackIn",
]


class ModelOut(RecordOut):
    """A registered model: its project, tags, aliases and latest version number."""

    name: str
    project: str
    description: str
    created_at: float
    tags: dict[str, str]
    aliases: dict[str, int]
    latest_version: int


class ModelVersionOut(BaseModel):
    """One immutable version: flavor, model file digest, signature, metrics, lineage, aliases."""

    name: str
    version: int
    ref: str
    flavor: str
    artifact_digest: str
    file_name: str
    run_id: str | None
    signature: dict[str, Any]
    created_at: float
    created_by: str
    task: str | None
    description: str
    input_example: list[dict[str, Any]]
    metrics: dict[str, WireFloat]
    datasets: list[str]
    reports: dict[str, str]
    derived_from: int | None
    allow_pickle: bool
    tags: dict[str, str]
    aliases: list[str]
    extra: dict[str, Any]

    @classmethod
    def of(cls, v: ModelVersion) -> ModelVersionOut:
        return cls.model_validate(
            {
                **v.__dict__,
                "ref": v.ref,
                "signature": v.signature.to_dict(),
                "metrics": wire_floats(v.metrics),
            }
        )


class RegisterIn(RequestBody):
    """Register the model a training run stored as the next version."""

    run_id: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    derived_from: int | None = None


class AliasIn(RequestBody):
    """Point an alias at a version, without gates (promotion runs them)."""

    version: int
    reason: str = ""


class AliasOut(BaseModel):
    """An alias move: the version it points at now (null once deleted) and the one before."""

    name: str
    alias: str
    version: int | None
    previous: int | None


class ApprovalIn(RequestBody):
    """The caller's approval of a version for an alias."""

    alias: str = "production"
    comment: str = ""


class ApprovalOut(RecordOut):
    """One person's approval of a version for an alias."""

    name: str
    version: int
    alias: str
    actor: str
    comment: str
    created_at: float
    authenticated: bool


class PromoteIn(RequestBody):
    """Run the policy's gates on a version for an alias; the alias moves when every gate passes.

    ``policy`` replaces the stored policy for this promotion; ``dry_run`` stores nothing.
    """

    version: int
    alias: str = "production"
    dry_run: bool = False
    policy: dict[str, Any] | None = None


class PromotionRequestIn(RequestBody):
    """A promotion asked for (the verdict stored) or checked (a dry run): the alias does not move.

    A request refused only for want of approvals joins the approvals queue; an admin promotes.
    """

    version: int
    alias: str = "production"
    policy: dict[str, Any] | None = None


class GateResultOut(RecordOut):
    """The verdict of one gate."""

    gate: str
    type: str
    passed: bool
    measured: str
    threshold: str
    value: float | None
    details: dict[str, Any]
    error: str | None


class PromotionOut(BaseModel):
    """A promotion or rollback with the gate results it was judged on."""

    id: int
    name: str
    version: int
    alias: str
    previous_version: int | None
    passed: bool
    applied: bool
    results: list[GateResultOut]
    policy: dict[str, Any]
    actor: str
    created_at: float
    kind: str
    reason: str

    @classmethod
    def of(cls, p: Promotion) -> PromotionOut:
        return cls.model_validate({**p.__dict__, "results": [r.to_dict() for r in p.results]})


class RollbackIn(RequestBody):
    """Move an alias back to the version that held it before (a reason is required)."""

    alias: str = "production"
    reason: str
