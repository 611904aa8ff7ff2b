"""Administration routes: users, their roles per project, and API tokens.

They need a server admin (``admin`` on every project, ``*``), except that any authenticated user
may list, create and revoke **their own** tokens (``/users/{name}/tokens``, ``/tokens/{id}``).
A token's secret is answered once, by its creation.
"""

from __future__ import annotations

from fastapi import Depends, Path

from carnet.schemas import RoleIn, TokenCreatedOut, TokenIn, TokenOut, UserIn, UserOut
from carnet.server.api.auth import Caller, caller

__all__ = [
    "create_user",
    "create_user_token",
    "disable_user",
    "enable_user",
    "grant_role",
    "list_tokens",
    "list_user_tokens",
    "list_users",
    "revoke_role",
    "revoke_user_token",
]


#: the database's integers are 64-bit
_TOKEN_ID = Path(..., ge=1, le=2**63 - 1, description="the token's id")


def _require_self_or_admin(c: Caller, user: str) -> None:
    """Pass for the user themself (authenticated) or a server admin."""
    if c.principal is not None and c.principal.user == user:
        return
    c.require(None)


def list_users(c: Caller = Depends(caller)) -> list[UserOut]:
    """Every user by name, with their roles."""
    c.require(None)
    return [UserOut.of(u) for u in c.services.auth.list_users()]


def create_user(body: UserIn, c: Caller = Depends(caller)) -> UserOut:
    """Create an enabled user with roles per project (audited) → 201."""
    c.require(None)
    return UserOut.of(c.services.auth.add_user(body.name, body.roles))


def disable_user(name: str, c: Caller = Depends(caller)) -> UserOut:
    """Disable a user: none of their tokens authenticates any more (audited)."""
    c.require(None)
    return UserOut.of(c.services.auth.disable_user(name))


def enable_user(name: str, c: Caller = Depends(caller)) -> UserOut:
    """Enable a disabled user again: their unrevoked tokens work again (audited)."""
    c.require(None)
    return UserOut.of(c.services.auth.enable_user(name))


def grant_role(name: str, project: str, body: RoleIn, c: Caller = Depends(caller)) -> UserOut:
    """Give the user the role on the project (``*``: every project), replacing the one held there."""
    c.require(None)
    return UserOut.of(c.services.auth.grant(name, project, body.role))


def revoke_role(name: str, project: str, c: Caller = Depends(caller)) -> UserOut:
    """Remove the user's role on the project (404 when they hold none there)."""
    c.require(None)
    return UserOut.of(c.services.auth.revoke_role(name, project))


def list_user_tokens(name: str, c: Caller = Depends(caller)) -> list[TokenOut]:
    """A user's tokens in creation order, never their secrets (yours, or anyone's for an admin)."""
    _require_self_or_admin(c, name)
    return [TokenOut.of(t) for t in c.services.auth.list_tokens(name)]


def create_user_token(name: str, body: TokenIn | None = None, c: Caller = Depends(caller)) -> TokenCreatedOut:
    """Create an API token → 201 with its secret in ``token``, shown this once (only its hash is kept)."""
    _require_self_or_admin(c, name)
    secret, info = c.services.auth.create_token(name, body.label if body is not None else "")
    return TokenCreatedOut.created(secret, info)


def list_tokens(c: Caller = Depends(caller)) -> list[TokenOut]:
    """Every user's tokens in creation order, never their secrets (server admins)."""
    c.require(None)
    return [TokenOut.of(t) for t in c.services.auth.list_tokens()]


def revoke_user_token(token_id: int = _TOKEN_ID, c: Caller = Depends(caller)) -> TokenOut:
    """Revoke a token for good (yours, or anyone's for an admin); 409 when already revoked."""
    if c.principal is not None and not c.can(None):
        own = {t.id for t in c.services.auth.list_tokens(c.principal.user)}
        if token_id not in own:
            c.require(None)
    return TokenOut.of(c.services.auth.revoke_token(token_id))
