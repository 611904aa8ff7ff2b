"""``carnet import mlflow`` and ``carnet export mlflow``: move runs and models in and out of MLflow."""

from __future__ import annotations

from typing import Any

import click

from carnet.cli.render import emit_json, get_client, given_uri, json_verb, refuse_server, stage_progress

__all__ = ["export_group", "import_group"]


def _services(ctx: click.Context, command: str) -> Any:
    """The services of the local workspace (an import or export reads and writes it directly)."""
    refuse_server(command, given_uri(ctx))
    return get_client(ctx, create=True).services


_MODELS_OPTION = click.option(
    "--models", "models", multiple=True, metavar="NAME", help="Only this registered model (repeatable)."
)
_MLFLOW_PYTHON_OPTION = click.option(
    "--mlflow-python",
    envvar="CARNET_MLFLOW_PYTHON",
    metavar="PATH",
    help="A Python with MLflow 3 to run MLflow's client (default: this one, with carnet[mlflow]).",
)


@click.group("import")
def import_group() -> None:
    """Bring runs and models in from another tool (MLflow).

    \b
    Example:
      carnet import mlflow sqlite:///mlflow.db
    """


@click.group("export")
def export_group() -> None:
    """Write runs and models out to another tool (MLflow).

    \b
    Example:
      carnet export mlflow sqlite:///mlflow-copy.db
    """


@import_group.command("mlflow")
@click.argument("source", metavar="SOURCE")
@click.option(
    "--experiments", "experiments", multiple=True, metavar="NAME", help="Only this experiment (repeatable)."
)
@_MODELS_OPTION
@click.option(
    "--allow-pickle",
    is_flag=True,
    help="Read pickled scikit-learn models (runs code from the source; audited) to store them with skops.",
)
@_MLFLOW_PYTHON_OPTION
@click.option("--dry-run", is_flag=True, help="Count what would be imported; write nothing.")
@json_verb
def import_mlflow(
    ctx: click.Context,
    source: str,
    experiments: tuple[str, ...],
    models: tuple[str, ...],
    allow_pickle: bool,
    mlflow_python: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Import experiments, runs and registered models from an MLflow tracking store.

    SOURCE is an MLflow tracking URI: sqlite:///mlflow.db, postgresql://..., an mlruns folder or
    an `mlflow server` URL. Experiments become projects; runs keep their ids, params, tags, every
    metric value, artifacts and parents; model versions in a format carnet loads safely become
    versions with their aliases. Running it again imports only what is new.

    \b
    Example:
      carnet import mlflow sqlite:///mlflow.db --dry-run
      carnet import mlflow ./mlruns --experiments churn --models churn-model
      carnet import mlflow http://127.0.0.1:5000 --allow-pickle --json
    """
    from carnet.services.mlflow_import import MlflowImporter

    services = _services(ctx, "carnet import mlflow")
    with (
        MlflowImporter(
            services.ctx,
            services.tracking,
            services.registry,
            source,
            allow_pickle=allow_pickle,
            python=mlflow_python,
        ) as importer,
        stage_progress(not as_json) as tick,
    ):
        summary = importer.run(experiments, models, dry_run=dry_run, progress=tick)
    if as_json:
        emit_json(summary.to_dict())
        return
    verb = "Would import" if dry_run else "Imported"
    click.echo(
        f"{verb} from {summary.source}: {summary.runs_imported} runs "
        f"({summary.metric_values} metric values, {summary.artifacts} files) "
        f"in {summary.experiments} experiments, {summary.versions_imported} model versions "
        f"of {summary.models} models, {summary.aliases_set} aliases."
    )
    click.echo(
        f"Already here: {summary.runs_present} runs, {summary.versions_present} model versions."
        + (
            f" Still running in MLflow (left for later): {summary.runs_active}."
            if summary.runs_active
            else ""
        )
    )
    for item in summary.versions_not_imported:
        click.echo(f"  not imported as a model: {item['model']} v{item['version']}: {item['reason']}")
    for item in summary.aliases_not_set:
        click.echo(f"  alias not set: {item['model']}@{item['alias']}: {item['reason']}")


@export_group.command("mlflow")
@click.argument("dest", metavar="DEST")
@click.option("--projects", "projects", multiple=True, metavar="NAME", help="Only this project (repeatable).")
@_MODELS_OPTION
@_MLFLOW_PYTHON_OPTION
@click.option("--dry-run", is_flag=True, help="Count what would be exported; write nothing.")
@json_verb
def export_mlflow(
    ctx: click.Context,
    dest: str,
    projects: tuple[str, ...],
    models: tuple[str, ...],
    mlflow_python: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Export runs and registered models to an MLflow tracking store.

    DEST is an MLflow tracking URI (sqlite:///..., postgresql://..., a folder or a server URL).
    Projects become experiments; finished runs are written with their params, tags, metric
    histories and artifacts; model versions with their files, tags and aliases. Running it again
    writes only what is new.

    \b
    Example:
      carnet export mlflow sqlite:///mlflow.db
      carnet export mlflow http://127.0.0.1:5000 --projects churn --json
    """
    from carnet.services.mlflow_export import MlflowExporter

    services = _services(ctx, "carnet export mlflow")
    with (
        MlflowExporter(
            services.ctx, services.tracking, services.registry, dest, python=mlflow_python
        ) as exporter,
        stage_progress(not as_json) as tick,
    ):
        summary = exporter.run(projects, models, dry_run=dry_run, progress=tick)
    if as_json:
        emit_json(summary.to_dict())
        return
    verb = "Would export" if dry_run else "Exported"
    click.echo(
        f"{verb} to {summary.dest}: {summary.runs_exported} runs ({summary.metric_values} metric values, "
        f"{summary.artifacts} files) of {len(summary.experiments)} projects, "
        f"{summary.versions_exported} model versions of {summary.models} models, "
        f"{summary.aliases_set} aliases. Already there: {summary.runs_present} runs, "
        f"{summary.versions_present} versions."
        + (f" Not finished (left for later): {summary.runs_active} runs." if summary.runs_active else "")
    )
