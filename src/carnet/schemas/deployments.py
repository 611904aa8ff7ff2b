"""Wire models of deployments (an endpoint's routing to model versions) and promotion policies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from carnet.domain import Deployment

__all__ = ["DeploymentOut", "DeploymentRouteOut", "PolicyOut"]


class DeploymentRouteOut(BaseModel):
    """One route: a model reference and its relative weight."""

    model: str
    weight: float


class DeploymentOut(BaseModel):
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

    @classmethod
    def of(cls, d: Deployment) -> DeploymentOut:
        return cls.model_validate(d.to_dict())


class PolicyOut(BaseModel):
    """A promotion policy in canonical form, for a model (its own or its project's default) or a project."""

    subject: str
    name: str
    policy: dict[str, Any]
