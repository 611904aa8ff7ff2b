"""Users and API tokens rebuilt from the REST API's JSON, and the checks both SDK clients make
before an administration call (so that a name that cannot travel in a URL fails as it would on a
workspace)."""

from __future__ import annotations

from typing import Any

from carnet.domain.auth import ANY_PROJECT, TokenInfo, User, check_user_name
from carnet.domain.datasets import check_name
from carnet.errors import InvalidInput, NotFound

__all__ = ["check_project", "existing_user", "token_from_dict", "user_from_dict"]


def _opt_time(value: Any) -> float | None:
    return None if value is None else float(value)


def user_from_dict(d: dict[str, Any]) -> User:
    """A :class:`User` from its JSON (``UserOut``)."""
    roles = {str(p): str(r) for p, r in (d.get("roles") or {}).items()}
    return User(str(d["name"]), bool(d["disabled"]), float(d["created_at"]), roles)


def token_from_dict(d: dict[str, Any]) -> TokenInfo:
    """A :class:`TokenInfo` from its JSON (``TokenOut``; a secret in it is ignored)."""
    return TokenInfo(
        id=int(d["id"]),
        user=str(d["user"]),
        label=str(d.get("label") or ""),
        prefix=str(d["prefix"]),
        created_at=float(d["created_at"]),
        revoked_at=_opt_time(d.get("revoked_at")),
        last_used_at=_opt_time(d.get("last_used_at")),
    )


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
