"""The checks both SDK clients make on arguments before a call, so that a value that cannot travel
in a URL or a query fails as it would on a workspace (or as the server's 422 says)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from carnet.domain.auth import ANY_PROJECT, check_user_name
from carnet.domain.datasets import check_name
from carnet.errors import InvalidInput, NotFound

__all__ = ["check_count", "check_project", "existing_user", "statuses"]


def check_count(value: Any, field: str) -> int:
    """``value`` when it is a whole number >= 1 (an id, a window number, a count); InvalidInput
    naming ``field`` otherwise (as the server's 422)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**63:
        raise InvalidInput(f"{field} must be a whole number >= 1, got {value!r}", field=field)
    return cast("int", value)


def statuses(status: str | Sequence[str] | None) -> list[str] | None:
    """Alert statuses as a list (one status may be given as text); None for every status."""
    if status is None:
        return None
    return [status] if isinstance(status, str) else list(status) or None


def check_project(project: Any) -> str:
    """``project`` when it is a project name or ``*`` (every project); InvalidInput naming
    ``project`` otherwise, as the auth service says."""
    return ANY_PROJECT if project == ANY_PROJECT else check_name(project, "project")


def existing_user(name: Any) -> str:
    """``name`` when it could name a user; otherwise the NotFound the auth service gives for a user
    it does not know (an invalid name is never a user's)."""
    try:
        return check_user_name(name)
    except InvalidInput:
        raise NotFound(f"no user named {name!r}; list them with: carnet users list", field="user") from None
