"""What the templates may ask about the user: whether a button is theirs to use, the projects they may
change, the policy a promotion would run. Each answer comes from the same role checks and API
operations as the page's own (the server refuses the form anyway when it is not allowed)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from carnet.errors import NotFound, PermissionDenied
from carnet.server.api import deployments, tracking
from carnet.server.ui.session import LoginRequired, ui_caller

__all__ = ["editable_projects", "may", "policy_in_force"]


def may(request: Request, operation: str, project: str | None) -> bool:
    """Whether the user holds the role ``operation`` needs on ``project`` (None: every project)."""
    try:
        return ui_caller(request, operation).can(project)
    except LoginRequired:
        return False


def editable_projects(request: Request, operation: str) -> list[str]:
    """The readable projects on which the user holds the role ``operation`` needs, by name."""
    try:
        projects = tracking.list_projects(ui_caller(request, "list_projects"))
        caller = ui_caller(request, operation)
    except LoginRequired:
        return []
    return sorted(p.name for p in projects if caller.can(p.name))


def policy_in_force(request: Request, name: str) -> dict[str, Any] | None:
    """The promotion policy in force for model ``name`` (its own or its project's), None when none."""
    try:
        return dict(deployments.get_model_policy(name, ui_caller(request, "get_model_policy")).policy)
    except (NotFound, PermissionDenied, LoginRequired):
        return None
