"""Users, roles and API tokens over HTTP: part of :class:`~carnet.client.remote.RemoteClient` (the
same calls as ``local_admin`` on a workspace). They need a server admin's token (``admin`` on
``*``), except a user's own tokens, which any user may list, create and revoke."""

from __future__ import annotations

from collections.abc import Mapping

from carnet.client.remote_http import HttpTransport
from carnet.client.wire_admin import check_project, existing_user, token_from_dict, user_from_dict
from carnet.client.wire_ops import check_count
from carnet.domain.auth import TokenInfo, User, check_role, check_user_name
from carnet.errors import InvalidInput
from carnet.operations import call

__all__ = ["RemoteAdmin"]


class RemoteAdmin(HttpTransport):
    """The administration calls of the remote client."""

    # -- users and roles -----------------------------------------------------------------------------
    def list_users(self) -> list[User]:
        return [user_from_dict(u) for u in self._json(call("list_users"))]

    def add_user(self, name: str, roles: Mapping[str, str] | None = None) -> User:
        check_user_name(name)
        if roles is not None and not isinstance(roles, Mapping):  # what JSON could not carry
            raise InvalidInput("roles must map a project (or '*') to a role", field="roles")
        body = {"name": name, "roles": dict(roles or {})}
        return user_from_dict(self._json(call("create_user"), json=body))

    def disable_user(self, name: str) -> User:
        return user_from_dict(self._json(call("disable_user", name=existing_user(name))))

    def enable_user(self, name: str) -> User:
        return user_from_dict(self._json(call("enable_user", name=existing_user(name))))

    def grant_role(self, user: str, project: str, role: str) -> User:
        check_project(project)
        check_role(role)  # checked here in the service's order: project, role, then the user
        at = call("grant_role", name=existing_user(user), project=project)
        return user_from_dict(self._json(at, json={"role": role}))

    def revoke_role(self, user: str, project: str) -> User:
        check_project(project)
        return user_from_dict(self._json(call("revoke_role", name=existing_user(user), project=project)))

    # -- API tokens ----------------------------------------------------------------------------------
    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        at = call("list_tokens") if user is None else call("list_user_tokens", name=existing_user(user))
        return [token_from_dict(t) for t in self._json(at)]

    def create_token(self, user: str, label: str = "") -> tuple[str, TokenInfo]:
        created = self._json(call("create_user_token", name=existing_user(user)), json={"label": label})
        return str(created["token"]), token_from_dict(created)

    def revoke_token(self, token_id: int) -> TokenInfo:
        return token_from_dict(
            self._json(call("revoke_user_token", token_id=check_count(token_id, "token_id")))
        )
