"""SQL repository of users, their API tokens (hashes only, never secrets) and per-project roles."""

from __future__ import annotations

import builtins
from typing import Any

from sqlalchemy import Connection, select

from carnet.domain.auth import TokenInfo, User
from carnet.store.sql import tables as t
from carnet.store.sql.dialect import insert_for

__all__ = ["SqlAuthRepo"]


def _token(row: Any) -> TokenInfo:
    return TokenInfo(
        id=int(row.id),
        user=row.user_name,
        label=row.label,
        prefix=row.prefix,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def _tokens_query() -> Any:
    k, u = t.api_tokens, t.users
    return select(k, u.c.name.label("user_name")).join(u, u.c.id == k.c.user_id)


class SqlAuthRepo:
    """Authentication records on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- users ----------------------------------------------------------------------
    def add_user(self, name: str, *, actor: str, now: float) -> int:
        """Store a new, enabled user; returns its id (the store raises AlreadyExists when taken)."""
        inserted = self.conn.execute(
            t.users.insert().values(name=name, disabled=False, created_at=now, actor=actor)
        ).inserted_primary_key
        assert inserted is not None
        return int(inserted[0])

    def user_id(self, name: str) -> int | None:
        """The id of the user called ``name``, or None."""
        return self.conn.execute(select(t.users.c.id).where(t.users.c.name == name)).scalar()

    def get_user(self, name: str) -> User | None:
        """The user called ``name`` with their roles, or None."""
        u = t.users
        row = self.conn.execute(select(u).where(u.c.name == name)).first()
        if row is None:
            return None
        return User(row.name, bool(row.disabled), row.created_at, self.roles_of(int(row.id)))

    def list_users(self) -> builtins.list[User]:
        """Every user by name, with their roles."""
        u, r = t.users, t.project_roles
        roles: dict[int, dict[str, str]] = {}
        for row in self.conn.execute(select(r).order_by(r.c.project)):
            roles.setdefault(int(row.user_id), {})[row.project] = row.role
        return [
            User(row.name, bool(row.disabled), row.created_at, roles.get(int(row.id), {}))
            for row in self.conn.execute(select(u).order_by(u.c.name))
        ]

    def set_disabled(self, user_id: int, disabled: bool) -> None:
        """Disable (or enable again) a user: a disabled user's tokens no longer authenticate."""
        u = t.users
        self.conn.execute(u.update().where(u.c.id == user_id).values(disabled=disabled))

    # -- tokens ---------------------------------------------------------------------
    def add_token(self, user_id: int, *, label: str, prefix: str, token_hash: str, now: float) -> TokenInfo:
        """Store a new token by the hash of its secret; returns it with its id."""
        inserted = self.conn.execute(
            t.api_tokens.insert().values(
                user_id=user_id, label=label, prefix=prefix, token_hash=token_hash, created_at=now
            )
        ).inserted_primary_key
        assert inserted is not None
        found = self.get_token(int(inserted[0]))
        assert found is not None
        return found

    def get_token(self, token_id: int) -> TokenInfo | None:
        """One token by id, or None."""
        row = self.conn.execute(_tokens_query().where(t.api_tokens.c.id == token_id)).first()
        return None if row is None else _token(row)

    def find_token_by_hash(self, token_hash: str) -> tuple[TokenInfo, str, User] | None:
        """The token stored under ``token_hash`` with its stored hash and its user (with roles), or None."""
        u = t.users
        query = _tokens_query().add_columns(
            u.c.disabled.label("user_disabled"), u.c.created_at.label("user_created_at")
        )
        row = self.conn.execute(query.where(t.api_tokens.c.token_hash == token_hash)).first()
        if row is None:
            return None
        user = User(row.user_name, bool(row.user_disabled), row.user_created_at, self.roles_of(row.user_id))
        return _token(row), row.token_hash, user

    def list_tokens(self, user_id: int | None = None) -> builtins.list[TokenInfo]:
        """Tokens in creation order: every user's, or one user's."""
        k = t.api_tokens
        query = _tokens_query().order_by(k.c.id)
        if user_id is not None:
            query = query.where(k.c.user_id == user_id)
        return [_token(r) for r in self.conn.execute(query)]

    def revoke_token(self, token_id: int, now: float) -> None:
        """Mark a token revoked: it never authenticates again."""
        k = t.api_tokens
        self.conn.execute(k.update().where(k.c.id == token_id).values(revoked_at=now))

    def touch_token(self, token_id: int, now: float) -> None:
        """Remember when a token was last used."""
        k = t.api_tokens
        self.conn.execute(k.update().where(k.c.id == token_id).values(last_used_at=now))

    # -- roles ----------------------------------------------------------------------
    def set_role(self, user_id: int, project: str, role: str) -> None:
        """Give a user ``role`` on ``project`` (``*``: every project), replacing the role held there."""
        r = t.project_roles
        ins = insert_for(self.conn, r).values(user_id=user_id, project=project, role=role)
        self.conn.execute(
            ins.on_conflict_do_update(index_elements=["user_id", "project"], set_={"role": role})
        )

    def delete_role(self, user_id: int, project: str) -> bool:
        """Remove a user's role on ``project``; False when there was none."""
        r = t.project_roles
        result = self.conn.execute(r.delete().where(r.c.user_id == user_id, r.c.project == project))
        return bool(result.rowcount)

    def roles_of(self, user_id: int) -> dict[str, str]:
        """A user's roles, project -> role."""
        r = t.project_roles
        rows = self.conn.execute(select(r.c.project, r.c.role).where(r.c.user_id == user_id))
        return {row.project: row.role for row in rows}
