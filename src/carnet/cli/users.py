"""``carnet users`` and ``carnet tokens``: users of a carnet server, their roles per project and
their API tokens (a token's secret is shown once; only its hash is stored).

They work on a local workspace and, with ``CARNET_URI=http(s)://...`` and an admin's
``CARNET_TOKEN``, on a ``carnet server`` (any user may manage their own tokens there)."""

from __future__ import annotations

import click

from carnet.cli.render import console, emit_json, fmt_time, get_client, json_verb
from carnet.domain.auth import User
from carnet.errors import InvalidInput

__all__ = ["tokens", "users"]


def _roles_text(roles: dict[str, str]) -> str:
    """Roles as ``PROJECT=ROLE, ...`` (``-`` for none)."""
    return ", ".join(f"{p}={r}" for p, r in sorted(roles.items())) or "-"


def _parse_roles(values: tuple[str, ...]) -> dict[str, str]:
    """``--role PROJECT=ROLE`` options as roles (InvalidInput on a bad or repeated project)."""
    roles: dict[str, str] = {}
    for text in values:
        project, sep, role = text.partition("=")
        if not sep or not project.strip() or not role.strip():
            raise InvalidInput(f"--role {text!r}: write PROJECT=ROLE, e.g. churn=editor or '*=viewer'")
        if project.strip() in roles:
            raise InvalidInput(f"--role: project {project.strip()!r} is given twice", field="role")
        roles[project.strip()] = role.strip()
    return roles


def _show_user(user: User, as_json: bool, verb: str = "") -> None:
    """A user as JSON, or one line: name, state and roles (after ``verb``)."""
    if as_json:
        emit_json(user.to_dict())
        return
    state = "disabled" if user.disabled else "enabled"
    click.echo(f"{verb}user {user.name} ({state})  roles {_roles_text(user.roles)}")


# -- users ----------------------------------------------------------------------------------------


@click.group()
def users() -> None:
    """Users of a carnet server and their role per project: viewer, editor, approver, admin.

    On a carnet server, set CARNET_URI to its URL and CARNET_TOKEN to a server admin's token.

    \b
    Example:
      carnet users add alice --role churn=approver --role '*=viewer'
      carnet tokens create alice --label laptop
      CARNET_URI=http://127.0.0.1:5000 CARNET_TOKEN=carnet_... carnet users list
    """


@users.command("add")
@click.argument("name")
@click.option(
    "--role", "roles", multiple=True, metavar="PROJECT=ROLE", help="A role on a project ('*': every project)."
)
@json_verb
def users_add(ctx: click.Context, name: str, roles: tuple[str, ...], as_json: bool) -> None:
    """Create a user, optionally with roles (repeat --role).

    Roles: viewer (read), editor (log runs, datasets, register models), approver (approve
    promotions), admin (users, policies, aliases, rollback). Each includes the ones before it.

    \b
    Example:
      carnet users add alice --role churn=approver --role '*=viewer'
    """
    _show_user(get_client(ctx).add_user(name, _parse_roles(roles)), as_json, "created ")


@users.command("list")
@json_verb
def users_list(ctx: click.Context, as_json: bool) -> None:
    """List users with their state and roles.

    \b
    Example:
      carnet users list --json
    """
    found = get_client(ctx).list_users()
    if as_json:
        emit_json([u.to_dict() for u in found])
        return
    from rich.table import Table

    table = Table("user", "state", "roles", "created")
    for u in found:
        table.add_row(
            u.name, "disabled" if u.disabled else "enabled", _roles_text(u.roles), fmt_time(u.created_at)
        )
    console().print(table)


@users.command("disable")
@click.argument("name")
@json_verb
def users_disable(ctx: click.Context, name: str, as_json: bool) -> None:
    """Disable a user: none of their tokens authenticates any more.

    \b
    Example:
      carnet users disable alice
    """
    _show_user(get_client(ctx).disable_user(name), as_json)


@users.command("enable")
@click.argument("name")
@json_verb
def users_enable(ctx: click.Context, name: str, as_json: bool) -> None:
    """Enable a disabled user again: their tokens that were not revoked work again.

    \b
    Example:
      carnet users enable alice
    """
    _show_user(get_client(ctx).enable_user(name), as_json)


@users.command("grant")
@click.argument("name")
@click.argument("project")
@click.argument("role")
@json_verb
def users_grant(ctx: click.Context, name: str, project: str, role: str, as_json: bool) -> None:
    """Give a user a role on a project ('*': every project), replacing the role held there.

    \b
    Example:
      carnet users grant alice churn approver
      carnet users grant bob '*' admin
    """
    _show_user(get_client(ctx).grant_role(name, project, role), as_json)


@users.command("revoke")
@click.argument("name")
@click.argument("project")
@json_verb
def users_revoke(ctx: click.Context, name: str, project: str, as_json: bool) -> None:
    """Remove a user's role on a project.

    \b
    Example:
      carnet users revoke alice churn
    """
    _show_user(get_client(ctx).revoke_role(name, project), as_json)


# -- tokens ---------------------------------------------------------------------------------------


@click.group()
def tokens() -> None:
    """API tokens of users: created once and shown once, stored hashed, revocable.

    On a carnet server (CARNET_URI and CARNET_TOKEN set), a server admin manages every token and
    any user their own.

    \b
    Example:
      carnet tokens create alice --label ci
      carnet tokens list alice
      carnet tokens revoke 3
    """


@tokens.command("create")
@click.argument("user")
@click.option("--label", default="", help="What the token is for (shown in listings).")
@json_verb
def tokens_create(ctx: click.Context, user: str, label: str, as_json: bool) -> None:
    """Create an API token for a user and print its secret, this once.

    The secret goes to standard output alone (the notes go to standard error), so it can be
    captured; carnet keeps only its hash and cannot show it again.

    \b
    Example:
      carnet tokens create alice --label laptop
      TOKEN=$(carnet tokens create ci-bot --label github)
    """
    secret, info = get_client(ctx).create_token(user, label)
    if as_json:
        emit_json({"token": secret, "id": info.id, "user": info.user, "label": info.label})
        return
    click.echo(
        f"API token #{info.id} for {info.user}" + (f" ({info.label})" if info.label else "") + ":", err=True
    )
    click.echo(secret)
    click.echo("Copy it now: it cannot be shown again (only its hash is stored).", err=True)


@tokens.command("list")
@click.argument("user", required=False)
@json_verb
def tokens_list(ctx: click.Context, user: str | None, as_json: bool) -> None:
    """List API tokens (never their secrets): every user's, or one user's (on a server, any user
    may list their own).

    \b
    Example:
      carnet tokens list alice --json
    """
    found = get_client(ctx).list_tokens(user)
    if as_json:
        emit_json([t.to_dict() for t in found])
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("id", "user", "label", "starts with", "created", "last used", "state")
    for t in found:
        state = "active" if t.revoked_at is None else f"revoked {fmt_time(t.revoked_at)}"
        table.add_row(
            str(t.id), t.user, escape(t.label) or "-", f"{t.prefix}...", fmt_time(t.created_at),
            fmt_time(t.last_used_at), state,
        )  # fmt: skip
    console().print(table)


@tokens.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@json_verb
def tokens_revoke(ctx: click.Context, token_id: int, as_json: bool) -> None:
    """Revoke an API token for good (see the ids with: carnet tokens list).

    \b
    Example:
      carnet tokens revoke 3
    """
    info = get_client(ctx).revoke_token(token_id)
    if as_json:
        emit_json(info.to_dict())
        return
    click.echo(f"revoked API token #{info.id} of {info.user}")
