"""The ``carnet`` command: a click group over the SDK; commands only parse, call and render.

Subcommands are imported when they run, not when ``carnet`` starts: ``carnet init`` does not pay for
the modules (and libraries) of every other command. ``carnet --help`` lists them from the table below,
whose one-line descriptions a test keeps equal to the commands' own.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import click

__all__ = ["LazyGroup", "cli", "main"]

# name -> ("module:attribute", first paragraph of the command's help)
COMMANDS: dict[str, tuple[str, str]] = {
    "init": (
        "carnet.cli.workspace:init",
        "Create a workspace (folder, sqlite:/// or postgresql URI) and say what was made.",
    ),
    "db": ("carnet.cli.workspace:db", "Manage the workspace's metadata database."),
    "projects": ("carnet.cli.runs:projects", "Projects group runs, datasets and models."),
    "runs": ("carnet.cli.runs:runs", "Tracked runs: list, show, compare, artifacts, logs, metrics, reports."),
    "data": (
        "carnet.cli.data:data",
        "Versioned datasets: content stored once by digest, each version profiled.",
    ),
    "lineage": (
        "carnet.cli.lineage:lineage",
        "Where a dataset, run, model or endpoint came from, and what came of it.",
    ),
    "audit": ("carnet.cli.audit:audit", "The tamper-evident audit ledger of every change."),
    "train": (
        "carnet.cli.train:train",
        "Train a model from a YAML spec: one tracked run with metrics, plots, reports and the model.",
    ),
    "automl": (
        "carnet.cli.train:automl",
        "Try model families and preprocessing within a time budget; keep the best model.",
    ),
    "pipeline": (
        "carnet.cli.pipeline:pipeline",
        "Pipelines: named steps (data, train, evaluate, register, promote, deploy, monitor) in one file.",
    ),
    "evaluate": (
        "carnet.cli.train:evaluate",
        "Evaluate a trained run's model on a dataset version; stores a report run.",
    ),
    "predict": (
        "carnet.cli.predict:predict",
        "Score a dataset version or a file of any size with a model version: batch inference, streamed.",
    ),
    "explain": (
        "carnet.cli.explain:explain",
        "Why a model predicts what it does: per-row attributions and a global summary.",
    ),
    "stress": (
        "carnet.cli.stress:stress",
        "Extreme scenarios on their own: noise, missing values, out-of-range values, subpopulations.",
    ),
    "ci": (
        "carnet.cli.ci:ci",
        "CI/CD: the report of a pipeline or training run as a PR comment, JUnit XML or JSON.",
    ),
    "models": (
        "carnet.cli.models:models",
        "The model registry: versions, aliases, gated promotion, rollback, model cards.",
    ),
    "deploy": (
        "carnet.cli.deploy:deploy",
        "Deployments: route an endpoint's traffic to model versions, with canary weights and shadows.",
    ),
    "drift": (
        "carnet.cli.drift:drift",
        "Compare two tables now: per-column drift and the dataset verdict, with an HTML report.",
    ),
    "monitor": (
        "carnet.cli.monitor:monitor",
        "Production monitors: drift, data quality and performance per window, alerts and actions.",
    ),
    "users": (
        "carnet.cli.users:users",
        "Users of a carnet server and their role per project: viewer, editor, approver, admin.",
    ),
    "tokens": (
        "carnet.cli.users:tokens",
        "API tokens of users: created once and shown once, stored hashed, revocable.",
    ),
    "serve": (
        "carnet.cli.serve:serve",
        "Serve models for inference; the REST API is carnet server.",
    ),
    "server": (
        "carnet.cli.server:server",
        "Run the REST API and web UI; for inference use carnet serve.",
    ),
    "ui": (
        "carnet.cli.server:ui",
        "Open the web UI of this workspace on 127.0.0.1 (no sign-in on loopback, as the API).",
    ),
    "ops": (
        "carnet.cli.ops:ops",
        "Grafana dashboards and Prometheus alerting rules over the metrics carnet exports.",
    ),
    "encoders": (
        "carnet.cli.encoders:encoders",
        "Text encoders registered in the workspace: versioned, audited, reusable by any spec.",
    ),
    "embed": (
        "carnet.cli.encoders:embed",
        "Turn DATA's text column into vectors with ENCODER (registered or installed), as Parquet.",
    ),
    "import": ("carnet.cli.interop:import_group", "Bring runs and models in from another tool (MLflow)."),
    "export": ("carnet.cli.interop:export_group", "Write runs and models out to another tool (MLflow)."),
    "plugins": (
        "carnet.cli.plugins:plugins",
        "Plugins: tasks, flavors, gates, notifiers, witnesses, encoders and hooks, built in or installed.",
    ),
    "quickstart": (
        "carnet.cli.quickstart:quickstart",
        "Version a dataset, train three models, promote the best, serve it, monitor it, check the ledger.",
    ),
}


class _LazyCommands(MutableMapping[str, click.Command]):
    """``Group.commands`` whose entries are imported on first access (iterating gives names only)."""

    def __init__(self, specs: Mapping[str, tuple[str, str]]) -> None:
        self.specs = dict(specs)
        self.loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self.loaded:
            if name not in self.specs:
                raise KeyError(name)
            module, _, attr = self.specs[name][0].partition(":")
            cmd = getattr(importlib.import_module(module), attr)
            if not isinstance(cmd, click.Command):
                raise TypeError(f"{self.specs[name][0]} is not a click command")
            self.loaded[name] = cmd
        return self.loaded[name]

    def __setitem__(self, name: str, cmd: click.Command) -> None:
        self.loaded[name] = cmd

    def __delitem__(self, name: str) -> None:
        found = self.specs.pop(name, None) is not None
        if self.loaded.pop(name, None) is None and not found:
            raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self.specs
        yield from (name for name in self.loaded if name not in self.specs)

    def __len__(self) -> int:
        return len(self.specs.keys() | self.loaded.keys())


class LazyGroup(click.Group):
    """A click group whose subcommands are named in a table and imported only when used.

    Args:
        lazy_commands: name -> ("module:attribute", one-line help shown by ``--help``).
    """

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        eager, self.commands = self.commands, _LazyCommands(lazy_commands or {})
        self.commands.update(eager)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the subcommands with their one-line help, as click does, without importing them."""
        commands = self.commands
        assert isinstance(commands, _LazyCommands)
        entries: list[tuple[str, str | click.Command]] = []
        for name in self.list_commands(ctx):
            if name in commands.specs and name not in commands.loaded:
                entries.append((name, commands.specs[name][1]))
            elif (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden:
                entries.append((name, cmd))
        if not entries:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in entries)
        rows = [
            (name, (click.Command(name, help=h) if isinstance(h, str) else h).get_short_help_str(limit))
            for name, h in entries
        ]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="carnet", standalone_mode=True)


if __name__ == "__main__":
    main()
