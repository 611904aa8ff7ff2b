"""Users, API tokens and per-project roles: who may do what (pure types, no I/O).

Roles are ordered: ``viewer`` (read) < ``editor`` (log runs, datasets, register models) <
``approver`` (approve promotions) < ``admin`` (users, policies, aliases, rollback). A role on
the project ``*`` applies to every project; a user with ``admin`` on ``*`` is a server admin.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from carnet.errors import InvalidInput

__all__ = [
    "ANY_PROJECT",
    "ROLES",
    "Principal",
    "TokenInfo",
    "User",
    "check_role",
    "check_user_name",
    "role_at_least",
]

#: roles from least to most privileged
ROLES = ("viewer", "editor", "approver", "admin")
ANY_PROJECT = "*"
_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@\-]{0,127}$")


def role_at_least(have: str | None, need: str) -> bool:
    """Whether role ``have`` includes the rights of ``need``."""
    return have is not None and have in ROLES and ROLES.index(have) >= ROLES.index(need)


def check_user_name(name: Any) -> str:
    """``name`` when it is a valid user name; InvalidInput otherwise."""
    if not isinstance(name, str) or not _USER_NAME.match(name):
        raise InvalidInput(
            f"user name {name!r} must be 1-128 letters, digits, '_', '.', '-' or '@', starting with a "
            "letter or digit, e.g. alice or alice@example.com",
            field="user",
        )
    return name


def check_role(role: Any) -> str:
    """``role`` when it is one of :data:`ROLES`; InvalidInput listing them otherwise."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; choose among {', '.join(ROLES)}", field="role")
    return str(role)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the user and their role per project (``*``: every project)."""

    user: str
    roles: dict[str, str] = field(default_factory=dict)
    token_id: int | None = None

    def role(self, project: str | None) -> str | None:
        """The caller's role on ``project`` (the higher of the project's and ``*``'s)."""
        found = [
            r for p, r in self.roles.items() if p == ANY_PROJECT or (project is not None and p == project)
        ]
        return max(found, key=ROLES.index) if found else None

    def can(self, project: str | None, need: str) -> bool:
        """Whether the caller holds at least ``need`` on ``project``."""
        return role_at_least(self.role(project), need)

    @property
    def is_admin(self) -> bool:
        """A server admin: ``admin`` on every project."""
        return self.roles.get(ANY_PROJECT) == "admin"


@dataclass(frozen=True)
class User:
    """A user of a carnet server."""

    name: str
    disabled: bool
    created_at: float
    roles: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "disabled": self.disabled,
            "created_at": self.created_at,
            "roles": self.roles,
        }


@dataclass(frozen=True)
class TokenInfo:
    """An API token as stored: never the secret, only its id, owner, label and state."""

    id: int
    user: str
    label: str
    prefix: str  # the first characters of the secret, to recognise it
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)
