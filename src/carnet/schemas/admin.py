"""Wire models of server administration: users, their roles per project, and API tokens."""

from __future__ import annotations

from pydantic import Field

from carnet.domain.auth import TokenInfo
from carnet.schemas.common import RecordOut, RequestBody

__all__ = ["RoleIn", "TokenCreatedOut", "TokenIn", "TokenOut", "UserIn", "UserOut"]


class UserIn(RequestBody):
    """A new user with roles per project (``{"*": "viewer"}``: every project)."""

    name: str
    roles: dict[str, str] = Field(default_factory=dict)


class UserOut(RecordOut):
    """A user with their roles per project."""

    name: str
    disabled: bool
    created_at: float
    roles: dict[str, str]


class RoleIn(RequestBody):
    """The role to give on a project (viewer, editor, approver or admin)."""

    role: str


class TokenIn(RequestBody):
    """A new API token's label (to recognise it in listings)."""

    label: str = ""


class TokenOut(RecordOut):
    """An API token as stored: never its secret, only its first characters (``prefix``)."""

    id: int
    user: str
    label: str
    prefix: str
    created_at: float
    revoked_at: float | None
    last_used_at: float | None


class TokenCreatedOut(TokenOut):
    """A new API token with its secret, shown this once (only its hash is stored)."""

    token: str

    @classmethod
    def created(cls, secret: str, t: TokenInfo) -> TokenCreatedOut:
        return cls.model_validate({**t.to_dict(), "token": secret})
