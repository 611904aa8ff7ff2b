"""Users, roles and API tokens on a local workspace: part of :class:`carnet.client.local.Client`
(the remote client has the same calls in ``remote_admin``)."""

from __future__ import annotations

from collections.abc import Mapping

from carnet.client.wire_ops import check_count
from carnet.domain.auth import TokenInfo, User
from carnet.services import Services

__all__ = ["LocalAdmin"]


class LocalAdmin:
    """The administration calls of the local client, over the in-process auth service."""

    services: Services

    # -- users and roles -----------------------------------------------------------------------------
    def list_users(self) -> list[User]:
        """Every user by name, with their roles."""
        return self.services.auth.list_users()

    def add_user(self, name: str, roles: Mapping[str, str] | None = None) -> User:
        """Create an enabled user, with roles per project (``{"*": "viewer"}``: every project).

        Raises:
            InvalidInput: a bad user name, project name or role (``field`` says which).
            AlreadyExists: the name is taken.
        """
        return self.services.auth.add_user(name, roles)

    def disable_user(self, name: str) -> User:
        """Disable a user: none of their tokens authenticates any more (no change when disabled)."""
        return self.services.auth.disable_user(name)

    def enable_user(self, name: str) -> User:
        """Enable a disabled user again: their tokens that were not revoked work again."""
        return self.services.auth.enable_user(name)

    def grant_role(self, user: str, project: str, role: str) -> User:
        """Give ``user`` the ``role`` on ``project`` (``*``: every project), replacing the one held
        there; the project need not exist yet."""
        return self.services.auth.grant(user, project, role)

    def revoke_role(self, user: str, project: str) -> User:
        """Remove ``user``'s role on ``project``; NotFound when they hold none there."""
        return self.services.auth.revoke_role(user, project)

    # -- API tokens ----------------------------------------------------------------------------------
    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        """API tokens (never their secrets) in creation order: every user's, or one user's."""
        return self.services.auth.list_tokens(user)

    def create_token(self, user: str, label: str = "") -> tuple[str, TokenInfo]:
        """Create an API token for ``user``; returns ``(secret, info)``: the secret is given this
        once (only its hash is stored).

        Raises:
            NotFound: no such user.
            Conflict: the user is disabled.
        """
        return self.services.auth.create_token(user, label)

    def revoke_token(self, token_id: int) -> TokenInfo:
        """Revoke an API token for good; Conflict when it already is."""
        return self.services.auth.revoke_token(check_count(token_id, "token_id"))
