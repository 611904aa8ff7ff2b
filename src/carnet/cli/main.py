"""The ``carnet`` command: a click group over the SDK; commands only parse, call and render."""

from __future__ import annotations

import click

from carnet.cli.audit import audit
from carnet.cli.data import data
from carnet.cli.quickstart import quickstart
from carnet.cli.runs import projects, runs
from carnet.cli.workspace import db, init

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--uri",
    envvar="CARNET_URI",
    metavar="URI",
    help="Workspace: a folder, sqlite:///path.db or postgresql+psycopg://... (default ./.carnet).",
)
@click.option(
    "--artifacts",
    envvar="CARNET_ARTIFACTS",
    metavar="URL",
    help="Artifact root (file:// or s3://); required with PostgreSQL.",
)
@click.version_option(package_name="carnet", prog_name="carnet")
@click.pass_context
def cli(ctx: click.Context, uri: str | None, artifacts: str | None) -> None:
    """carnet: datasets, runs, models and an audit ledger, kept on record.

    \b
    Example:
      carnet quickstart
      carnet runs list --project quickstart --filter "metrics.accuracy > 0.9"
    """
    ctx.obj = {"uri": uri, "artifacts": artifacts}


cli.add_command(init)
cli.add_command(db)
cli.add_command(projects)
cli.add_command(runs)
cli.add_command(data)
cli.add_command(audit)
cli.add_command(quickstart)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="carnet", standalone_mode=True)


if __name__ == "__main__":
    main()
