"""Users, roles and API tokens on a local workspace: part of :class:`carnet.client.local.LocalClient`
(the remote client has the same calls in ``remote_admin``)."""

from __future__ import annotations

from collections.abc import Mapping

from carnet.client.api import ClientAPI
from carnet.client.wire_ops import check_count
from carnet.domain.auth import TokenInfo, User
from carnet.services import Services

__all__ = ["LocalAdmin"]


class LocalAdmin(ClientAPI):
    """The administration calls of the local client, over the in-process auth service."""

    services: Services

    # -- users and roles -----------------------------------------------------------------------------
    def list_users(self) -> list[User]:
        return self.services.auth.list_users()

    def add_user(self, name: str, roles: Mapping[str, str] | None = None) -> User:
        return self.services.auth.add_user(name, roles)

    def disable_user(self, name: str) -> User:
        return self.services.auth.disable_user(name)

    def enable_user(self, name: str) -> User:
        return self.services.auth.enable_user(name)

    def grant_role(self, user: str, project: str, role: str) -> User:
        return self.services.auth.grant(user, project, role)

    def revoke_role(self, user: str, project: str) -> User:
        return self.services.auth.revoke_role(user, project)

    # -- API tokens ----------------------------------------------------------------------------------
    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        return self.services.auth.list_tokens(user)

    def create_token(self, user: str, label: str = "") -> tuple[str, TokenInfo]:
        return self.services.auth.create_token(user, label)

    def revoke_token(self, token_id: int) -> TokenInfo:
        return self.services.auth.revoke_token(check_count(token_id, "token_id"))
