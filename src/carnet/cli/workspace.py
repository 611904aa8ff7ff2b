"""``carnet init`` and ``carnet db upgrade``: create and migrate a workspace."""

from __future__ import annotations

import time
from typing import Any

import click

from carnet.cli.render import emit_json, json_verb, refuse_server

__all__ = ["db", "init"]


def _local_settings(ctx: click.Context, command: str, path: str | None = None) -> Any:
    """The settings of the workspace at ``path`` (default: carnet's --uri, CARNET_URI ...) with
    carnet's --artifacts; a server URI is refused, naming ``command``."""
    from carnet.config import resolve_settings

    obj = ctx.find_root().obj or {}
    uri = path or obj.get("uri")
    refuse_server(command, uri)
    return resolve_settings(uri, artifacts=obj.get("artifacts"))


@click.command()
@click.argument("path", required=False, metavar="[PATH]")
@json_verb
def init(ctx: click.Context, path: str | None, as_json: bool) -> None:
    """Create a workspace (folder, sqlite:/// or postgresql URI) and say what was made.

    \b
    Example:
      carnet init                 # ./.carnet
      carnet init runs/team-a
      carnet --artifacts s3://bucket/carnet init postgresql+psycopg://me@db/carnet
    """
    from carnet.bootstrap import init_workspace

    start = time.perf_counter()
    settings = _local_settings(ctx, "carnet init", path)
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
@json_verb
def upgrade(ctx: click.Context, as_json: bool) -> None:
    """Apply pending schema migrations (also done automatically on first use).

    \b
    Example:
      carnet --uri postgresql+psycopg://me@db/carnet --artifacts s3://b/c db upgrade
    """
    from carnet.bootstrap import upgrade_workspace

    settings = _local_settings(ctx, "carnet db upgrade")
    rev = upgrade_workspace(settings)
    if as_json:
        emit_json({"uri": settings.uri, "revision": rev})
    else:
        click.echo(f"{settings.uri}: schema at revision {rev}")
