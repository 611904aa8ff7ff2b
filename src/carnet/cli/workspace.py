"""``carnet init`` and ``carnet db upgrade``: create and migrate a workspace."""

from __future__ import annotations

import time

import click

from carnet.cli.render import emit_json, handle_errors, json_option, refuse_server

__all__ = ["db", "init"]


@click.command()
@click.argument("path", required=False, metavar="[PATH]")
@json_option
@click.pass_context
@handle_errors
def init(ctx: click.Context, path: str | None, as_json: bool) -> None:
    """Create a workspace (folder, sqlite:/// or postgresql URI) and say what was made.

    \b
    Example:
      carnet init                 # ./.carnet
      carnet init runs/team-a
      carnet --artifacts s3://bucket/carnet init postgresql+psycopg://me@db/carnet
    """
    from carnet.bootstrap import init_workspace
    from carnet.config import resolve_settings

    obj = ctx.find_root().obj or {}
    start = time.perf_counter()
    refuse_server("carnet init", path or obj.get("uri"))
    settings = resolve_settings(path or obj.get("uri"), artifacts=obj.get("artifacts"))
    info = init_workspace(settings)  # a new SQLite workspace is made without loading SQLAlchemy
    elapsed = time.perf_counter() - start
    info["seconds"] = round(elapsed, 4)
    if as_json:
        emit_json(info)
        return
    verb = "Created" if info["created"] else "Opened existing"
    click.echo(f"{verb} carnet workspace {settings.uri}")
    click.echo(f"  metadata   {settings.metadata_url} (schema {info['schema_revision']})")
    click.echo(f"  artifacts  {settings.artifact_root}")
    click.echo(f"  in {elapsed:.3f}s. Next: carnet --uri {settings.uri} quickstart")


@click.group()
def db() -> None:
    """Manage the workspace's metadata database.

    \b
    Example:
      carnet db upgrade
    """


@db.command("upgrade")
@json_option
@click.pass_context
@handle_errors
def upgrade(ctx: click.Context, as_json: bool) -> None:
    """Apply pending schema migrations (also done automatically on first use).

    \b
    Example:
      carnet --uri postgresql+psycopg://me@db/carnet --artifacts s3://b/c db upgrade
    """
    from carnet.bootstrap import upgrade_workspace
    from carnet.config import resolve_settings

    obj = ctx.find_root().obj or {}
    refuse_server("carnet db upgrade", obj.get("uri"))
    settings = resolve_settings(obj.get("uri"), artifacts=obj.get("artifacts"))
    rev = upgrade_workspace(settings)
    if as_json:
        emit_json({"uri": settings.uri, "revision": rev})
    else:
        click.echo(f"{settings.uri}: schema at revision {rev}")
