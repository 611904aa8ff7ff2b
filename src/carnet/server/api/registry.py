"""Registry routes: models, versions, references, aliases, approvals, gated promotion, rollback."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Depends, Query

from carnet.domain import ModelRef, ModelVersion
from carnet.errors import NotFound
from carnet.schemas import (
    AliasIn,
    AliasOut,
    ApprovalIn,
    ApprovalOut,
    ModelOut,
    ModelVersionOut,
    PromoteIn,
    PromotionOut,
    PromotionRequestIn,
    RegisterIn,
    RollbackIn,
)
from carnet.server.api.auth import Caller, caller

__all__ = [
    "approve_model_version",
    "check_promotion",
    "delete_model_alias",
    "get_model",
    "get_model_version",
    "list_models",
    "model_versions",
    "promote_model",
    "register_model_version",
    "request_promotion",
    "rollback_model",
    "set_model_alias",
]


#: what :func:`project_for` answers for a model not registered yet
_Wanted = TypeVar("_Wanted")


def project_for(c: Caller, name: str, wanted: _Wanted) -> str | _Wanted:
    """The project of the registered model ``name``, or ``wanted`` when there is none (a new
    model's project)."""
    try:
        return c.services.registry.get_model(name).project
    except NotFound:
        return wanted


def path_version(c: Caller, name: str, version: str) -> ModelVersion:
    """The version a path names (a number or ``latest``), after the role check on its model's project."""
    c.require_model(name)
    ref = name if version == "latest" else ModelRef.parse(name, version)
    return c.services.registry.resolve(ref)


def list_models(
    project: str | None = Query(None, description="only models of this project"), c: Caller = Depends(caller)
) -> list[ModelOut]:
    """Registered models the caller may read, by name."""
    return [ModelOut.of(m) for m in c.services.registry.list_models(project) if c.can(m.project)]


def model_versions(name: str, c: Caller = Depends(caller)) -> list[ModelVersionOut]:
    """Every version of a model, oldest first."""
    c.require_model(name)
    return [ModelVersionOut.of(v) for v in c.services.registry.versions(name)]


def get_model_version(name: str, version: str, c: Caller = Depends(caller)) -> ModelVersionOut:
    """One version by number, or ``latest``."""
    return ModelVersionOut.of(path_version(c, name, version))


def register_model_version(name: str, body: RegisterIn, c: Caller = Depends(caller)) -> ModelVersionOut:
    """Register the model a training run stored as the next version of ``name`` (created when new)."""
    run_project = c.state.run_project(body.run_id) if c.principal is not None else None
    c.require(project_for(c, name, run_project))  # a new model: the run's project
    c.require_refs(runs=[body.run_id])  # a run of another project: read access there
    version = c.services.registry.register(
        body.run_id, name, description=body.description, tags=body.tags, derived_from=body.derived_from
    )
    return ModelVersionOut.of(version)


def approve_model_version(
    name: str, version: int, body: ApprovalIn, c: Caller = Depends(caller)
) -> ApprovalOut:
    """Record the caller's approval of a version for an alias (once per person)."""
    c.require_model(name)
    return ApprovalOut.of(c.services.registry.approve(name, version, body.alias, body.comment))


def set_model_alias(name: str, alias: str, body: AliasIn, c: Caller = Depends(caller)) -> AliasOut:
    """Point an alias at a version, without gates (audited with the reason)."""
    c.require_model(name)
    previous = c.services.registry.set_alias(name, alias, body.version, reason=body.reason)
    return AliasOut(name=name, alias=alias, version=body.version, previous=previous)


def delete_model_alias(
    name: str, alias: str, reason: str = Query("", description="why (recorded)"), c: Caller = Depends(caller)
) -> AliasOut:
    """Remove an alias (404 when it is not set)."""
    c.require_model(name)
    previous = c.services.registry.delete_alias(name, alias, reason=reason)
    return AliasOut(name=name, alias=alias, version=None, previous=previous)


def promote_model(name: str, body: PromoteIn, c: Caller = Depends(caller)) -> PromotionOut:
    """Run the policy's gates on a version; move the alias when all pass.

    A refused promotion is stored and audited, and answered 422 (``GateFailed``) with the gate table
    in ``gates``; a dry run stores nothing and answers 200 either way. Versions stored with pickle
    are never loaded by the server.
    """
    c.require_model(name)
    c.require_policy_data(body.policy)  # an inline policy's evaluation data: read access to its project
    promotion = c.services.promotion.promote(
        name, body.version, body.alias, dry_run=body.dry_run, policy=body.policy
    )  # a refusal raises GateFailed with the promotion: the error handler answers 422 with its gates
    return PromotionOut.of(promotion)


def check_promotion(name: str, body: PromotionRequestIn, c: Caller = Depends(caller)) -> PromotionOut:
    """A dry run of a promotion (editors): every gate's verdict; nothing is stored, the alias stays."""
    c.require_model(name)
    c.require_policy_data(body.policy)
    return PromotionOut.of(
        c.services.promotion.promote(name, body.version, body.alias, policy=body.policy, dry_run=True)
    )


def request_promotion(name: str, body: PromotionRequestIn, c: Caller = Depends(caller)) -> PromotionOut:
    """Ask for a promotion (editors): the gates run and their verdict is stored; the alias never moves.

    Answered 201 with the verdict whether the gates passed or not; one refused only for want of
    approvals appears in the approvals queue.
    """
    c.require_model(name)
    c.require_policy_data(body.policy)
    return PromotionOut.of(
        c.services.promotion.promote(name, body.version, body.alias, policy=body.policy, request=True)
    )


def rollback_model(name: str, body: RollbackIn, c: Caller = Depends(caller)) -> PromotionOut:
    """Move an alias back to the version that held it before (audited with the reason)."""
    c.require_model(name)
    return PromotionOut.of(c.services.promotion.rollback(name, body.alias, reason=body.reason))


def get_model(ref: str, c: Caller = Depends(caller)) -> ModelOut | ModelVersionOut:
    """``NAME``: the registered model. ``NAME@alias`` or ``NAME/3``: the version it names."""
    if "@" not in ref and "/" not in ref:
        model = c.services.registry.get_model(ref)
        c.require(model.project)
        return ModelOut.of(model)
    parsed = ModelRef.parse(ref)
    c.require_model(parsed.name)
    return ModelVersionOut.of(c.services.registry.resolve(parsed))
