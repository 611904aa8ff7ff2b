"""``carnet plugins``: every extension found through the plugin registry, and the hook plugins in force."""

from __future__ import annotations

import click

from carnet.cli.render import console, emit_json, get_client, given_uri, json_verb

__all__ = ["plugins"]


@click.group()
def plugins() -> None:
    """Plugins: tasks, flavors, gates, notifiers, witnesses, encoders and hooks, built in or installed.

    \b
    Example:
      carnet plugins list
      carnet plugins list --kind hook --json
    """


@plugins.command("list")
@click.option(
    "--kind",
    type=click.Choice(["task", "flavor", "gate", "notifier", "witness", "encoder", "hook"]),
    help="Only plugins of this kind.",
)
@json_verb
def list_plugins(ctx: click.Context, kind: str | None, as_json: bool) -> None:
    """List every plugin with its kind, package and version (nothing is imported to list them).

    Hook plugins named by the workspace's ``hooks`` setting (carnet.toml or CARNET_HOOKS) are
    listed too, with the hooks they implement.

    \b
    Example:
      carnet plugins list --kind gate
    """
    from carnet.services.hooks import list_plugins as listed

    hooks = get_client(ctx).services.ctx.settings.hooks if _local(ctx) else ()
    rows = listed(kind, tuple(hooks))
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("kind", "name", "package", "version", "from")
    for row in rows:
        table.add_row(row["kind"], row["name"], row["package"], row["version"] or "-", row["value"] or "-")
    console().print(table)


def _local(ctx: click.Context) -> bool:
    """Whether the workspace is a local one (a server's hook settings are its own)."""
    from carnet.config import chosen_uri

    return not chosen_uri(given_uri(ctx)).startswith(("http://", "https://"))
