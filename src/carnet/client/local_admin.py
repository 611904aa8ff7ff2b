"""Users, roles and API tokens on a local workspace: part of :class:`carnet.client.local.LocalClient`
(the remote client has the same calls in ``remote``)."""

from __future__ import annotations

from carnet.client.api import ClientAPI
from carnet.client.forward import forward
from carnet.client.wire_ops import check_count
from carnet.domain.auth import TokenInfo
from carnet.services import Services
from carnet.services.auth import AuthService

__all__ = ["LocalAdmin"]


class LocalAdmin(ClientAPI):
    """The administration calls of the local client, over the in-process auth service."""

    services: Services

    # -- users and roles -----------------------------------------------------------------------------
    list_users = forward("auth", AuthService.list_users)
    add_user = forward("auth", AuthService.add_user)
    disable_user = forward("auth", AuthService.disable_user)
    enable_user = forward("auth", AuthService.enable_user)
    grant_role = forward("auth", AuthService.grant)
    revoke_role = forward("auth", AuthService.revoke_role)

    # -- API tokens ----------------------------------------------------------------------------------
    list_tokens = forward("auth", AuthService.list_tokens)
    create_token = forward("auth", AuthService.create_token)

    def revoke_token(self, token_id: int) -> TokenInfo:
        return self.services.auth.revoke_token(check_count(token_id, "token_id"))
