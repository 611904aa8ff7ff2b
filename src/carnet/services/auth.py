"""Users, API tokens and per-project roles: who the caller is and what they may do.

A token's secret (``carnet_`` + 32 random bytes, URL-safe base64) is returned once by
:meth:`AuthService.create_token` and never stored: the database keeps its SHA-256 (a fast hash is
right for 256 random bits) and its first characters, to recognise it in listings. A token
authenticates until it is revoked or its user is disabled.

Roles are ordered ``viewer`` < ``editor`` < ``approver`` < ``admin``; a role on the project ``*``
applies to every project (see :mod:`carnet.domain.auth`).

Every change (user added, disabled or enabled, token created or revoked, role granted or revoked)
is an audit event in the same transaction; no event holds a secret or its hash. Recording when a
token was last used is bookkeeping, not a change of governance: it is not audited, and written at
most once a minute per token.
"""

from __future__ import annotations

import builtins
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from carnet.domain.audit_digests import token_check
from carnet.domain.auth import (
    ANY_PROJECT,
    ROLES,
    Principal,
    TokenInfo,
    User,
    check_role,
    check_user_name,
)
from carnet.domain.datasets import check_name
from carnet.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated
from carnet.services.context import ServiceContext, record
from carnet.store.interfaces import Transaction

__all__ = ["TOKEN_PREFIX", "AuthService", "hash_token"]

#: every secret starts with this, so that leaked tokens are easy to scan for
TOKEN_PREFIX = "carnet_"
_SHOWN_CHARS = len(TOKEN_PREFIX) + 8  # stored and listed to recognise a token: 48 of its 256 bits
_TOUCH_EVERY = 60.0  # seconds between two writes of a token's last use
_MAX_LABEL = 256


def hash_token(secret: str) -> str:
    """The hex SHA-256 of a token's secret: what the database stores."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check_project(project: str) -> str:
    return project if project == ANY_PROJECT else check_name(project, "project")


def _check_roles(roles: Mapping[str, str] | None) -> dict[str, str]:
    if roles is None:
        return {}
    if not isinstance(roles, Mapping):
        raise InvalidInput("roles must map a project (or '*') to a role", field="roles")
    return {_check_project(p): check_role(r) for p, r in roles.items()}


class AuthService:
    """Users, API tokens and roles; authentication of a token and the check of a role."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    # -- users ------------------------------------------------------------------------------------
    def add_user(self, name: str, roles: Mapping[str, str] | None = None) -> User:
        """Create an enabled user, with roles per project (``{"*": "viewer"}`` for every project).

        Raises:
            InvalidInput: a bad user name, project name or role (``field`` says which).
            AlreadyExists: the name is taken.
        """
        check_user_name(name)
        clean = _check_roles(roles)
        now = self.ctx.clock()
        with self.ctx.store.transaction() as tx:
            if tx.auth.user_id(name) is not None:
                raise AlreadyExists(f"user {name!r} already exists", field="user")
            user_id = tx.auth.add_user(name, actor=self.ctx.actor, now=now)
            for project, role in clean.items():
                tx.auth.set_role(user_id, project, role)
            record(self.ctx, tx, "user.create", "user", name, {"name": name, "roles": clean}, now=now)
        return User(name, False, now, clean)

    def get_user(self, name: str) -> User:
        """One user with their roles; NotFound with the way to list them."""
        with self.ctx.store.transaction(write=False) as tx:
            user = tx.auth.get_user(name)
        if user is None:
            raise _no_user(name)
        return user

    def list_users(self) -> builtins.list[User]:
        """Every user by name, with their roles."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.auth.list_users()

    def disable_user(self, name: str) -> User:
        """Disable a user: none of their tokens authenticates any more (audited; no-op when disabled)."""
        return self._set_disabled(name, True)

    def enable_user(self, name: str) -> User:
        """Enable a disabled user again: their unrevoked tokens work again (audited)."""
        return self._set_disabled(name, False)

    def _set_disabled(self, name: str, disabled: bool) -> User:
        with self.ctx.store.transaction() as tx:
            user_id = _user_id(tx, name)
            user = tx.auth.get_user(name)
            assert user is not None
            if user.disabled == disabled:
                return user
            tx.auth.set_disabled(user_id, disabled)
            action = "user.disable" if disabled else "user.enable"
            record(self.ctx, tx, action, "user", name, {"name": name})
        return User(user.name, disabled, user.created_at, user.roles)

    # -- roles ------------------------------------------------------------------------------------
    def grant(self, user: str, project: str, role: str) -> User:
        """Give ``user`` the ``role`` on ``project`` (``*``: every project), replacing the role held
        there; the project need not exist yet.

        Raises:
            InvalidInput: a bad project name or an unknown role.
            NotFound: no such user.
        """
        _check_project(project)
        check_role(role)
        with self.ctx.store.transaction() as tx:
            user_id = _user_id(tx, user)
            roles = tx.auth.roles_of(user_id)
            previous = roles.get(project)
            if previous != role:
                tx.auth.set_role(user_id, project, role)
                payload = {"project": project, "role": role, "previous": previous}
                record(self.ctx, tx, "user.role.grant", "user", user, payload)
            found = tx.auth.get_user(user)
            assert found is not None
            return found

    def revoke_role(self, user: str, project: str) -> User:
        """Remove ``user``'s role on ``project``; NotFound when they hold none there."""
        _check_project(project)
        with self.ctx.store.transaction() as tx:
            user_id = _user_id(tx, user)
            previous = tx.auth.roles_of(user_id).get(project)
            if previous is None or not tx.auth.delete_role(user_id, project):
                raise NotFound(f"user {user!r} holds no role on project {project!r}", field="project")
            record(self.ctx, tx, "user.role.revoke", "user", user, {"project": project, "previous": previous})
            found = tx.auth.get_user(user)
            assert found is not None
            return found

    # -- tokens -----------------------------------------------------------------------------------
    def create_token(self, user: str, label: str = "") -> tuple[str, TokenInfo]:
        """Create an API token for ``user``.

        Returns:
            ``(secret, info)``: the secret is shown this once; only its hash is stored.

        Raises:
            NotFound: no such user.
            Conflict: the user is disabled.
            InvalidInput: the label is longer than 256 characters.
        """
        if not isinstance(label, str) or len(label) > _MAX_LABEL:
            raise InvalidInput(f"a token label holds at most {_MAX_LABEL} characters", field="label")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.ctx.store.transaction() as tx:
            user_id = _user_id(tx, user)
            found = tx.auth.get_user(user)
            if found is not None and found.disabled:
                raise Conflict(
                    f"user {user!r} is disabled; enable it first: carnet users enable {user}", field="user"
                )
            token_hash = hash_token(secret)
            info = tx.auth.add_token(
                user_id,
                label=label,
                prefix=secret[:_SHOWN_CHARS],
                token_hash=token_hash,
                now=self.ctx.clock(),
            )
            # hash_check names the stored hash (verify --deep finds a replaced one) without holding it
            payload = {"token_id": info.id, "label": label, "hash_check": token_check(token_hash)}
            record(self.ctx, tx, "token.create", "user", user, payload)
        return secret, info

    def revoke_token(self, token_id: int) -> TokenInfo:
        """Revoke a token for good (audited).

        Raises:
            NotFound: no token with that id.
            Conflict: it is already revoked.
        """
        now = self.ctx.clock()
        with self.ctx.store.transaction() as tx:
            info = tx.auth.get_token(int(token_id))
            if info is None:
                raise NotFound(f"no API token #{token_id}; list them with: carnet tokens list", field="token")
            if info.revoked_at is not None:
                raise Conflict(f"API token #{token_id} is already revoked", field="token")
            tx.auth.revoke_token(info.id, now)
            payload = {"token_id": info.id, "label": info.label}
            record(self.ctx, tx, "token.revoke", "user", info.user, payload, now=now)
        return TokenInfo(**{**info.to_dict(), "revoked_at": now})

    def list_tokens(self, user: str | None = None) -> builtins.list[TokenInfo]:
        """Tokens (never their secrets) in creation order: every user's, or one user's."""
        with self.ctx.store.transaction(write=False) as tx:
            return tx.auth.list_tokens(None if user is None else _user_id(tx, user))

    # -- authentication and authorisation ---------------------------------------------------------
    def authenticate(self, secret: str | None) -> Principal:
        """The caller a token's secret stands for, with their roles.

        Raises:
            Unauthenticated: no token, or an unknown or revoked one, or a disabled user's.
        """
        if not secret:
            raise Unauthenticated(
                "no API token given; send 'Authorization: Bearer <token>' "
                "(an admin creates one with: carnet tokens create USER)",
                field="token",
            )
        digest = hash_token(secret)
        with self.ctx.store.transaction(write=False) as tx:
            found = tx.auth.find_token_by_hash(digest)
        if found is None or not hmac.compare_digest(found[1], digest):
            raise Unauthenticated("unknown API token; check it was copied whole", field="token")
        info, _, user = found
        if info.revoked_at is not None:
            raise Unauthenticated(
                f"API token {info.prefix}... (#{info.id}) was revoked; ask an admin for a new one",
                field="token",
            )
        if user.disabled:
            raise Unauthenticated(f"user {user.name!r} is disabled", field="token")
        now = self.ctx.clock()
        if info.last_used_at is None or now - info.last_used_at >= _TOUCH_EVERY:
            with self.ctx.store.transaction() as tx:
                tx.auth.touch_token(info.id, now)
        return Principal(user.name, dict(user.roles), info.id)

    def require(self, principal: Principal, project: str | None, role: str) -> None:
        """Check that ``principal`` holds at least ``role`` on ``project`` (None: on every project).

        Raises:
            InvalidInput: ``role`` is not one of the roles.
            PermissionDenied: the role is missing; the message names the project and the role needed.
        """
        check_role(role)
        if principal.can(project, role):
            return
        where = f"project {project!r}" if project is not None else "every project ('*')"
        have = principal.role(project)
        raise PermissionDenied(
            f"user {principal.user!r} needs the {role} role on {where} "
            f"(has {have or 'no role'}; roles: {', '.join(ROLES)})",
            field="project",
        )


def _user_id(tx: Transaction, name: str) -> int:
    user_id = tx.auth.user_id(name) if isinstance(name, str) else None
    if user_id is None:
        raise _no_user(name)
    return user_id


def _no_user(name: str) -> NotFound:
    return NotFound(f"no user named {name!r}; list them with: carnet users list", field="user")
