"""``carnet data du|gc|chunk``: what dataset versions cost in the store, and keeping it tidy."""

from __future__ import annotations

from typing import Any

import click

from carnet.cli.render import console, emit_json, get_client, json_verb

__all__ = ["data_chunk", "data_du", "data_gc"]


def _bytes(n: int | None) -> str:
    """``n`` bytes for people (binary units)."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@click.command("du")
@click.argument("name", required=False)
@json_verb
def data_du(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Logical vs stored bytes per dataset, and the dedup ratio.

    Logical bytes add up every version's file; stored bytes count each chunk a dataset reads once
    (versions that share chunks cost them once). Without NAME, the store's totals too, with the
    bytes garbage collection could reclaim.

    \b
    Example:
      carnet data du
      carnet data du churn --json
    """
    result = get_client(ctx).dataset_usage(name)
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    table = Table("dataset", "versions", "chunked", "logical", "stored", "dedup", box=None)
    for row in result["datasets"]:
        ratio = row["dedup_ratio"]
        table.add_row(row["dataset"], str(row["versions"]), str(row["chunked_versions"]),
                      _bytes(row["logical_bytes"]), _bytes(row["stored_bytes"]),
                      "-" if ratio is None else f"{ratio:.2f}x")  # fmt: skip
    console().print(table)
    totals: dict[str, Any] = result["totals"]
    line = f"total: {_bytes(totals['logical_bytes'])} logical, {_bytes(totals['stored_bytes'])} stored"
    if totals.get("dedup_ratio") is not None:
        line += f" ({totals['dedup_ratio']:.2f}x)"
    if "reclaimable_bytes" in totals:
        reclaimable = _bytes(totals["reclaimable_bytes"])
        line += f"; {totals['packs']} pack(s), {reclaimable} reclaimable by carnet data gc"
    click.echo(line)


@click.command("gc")
@click.option("--dry-run", is_flag=True, help="Report what would be freed; change nothing.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=3600.0,
    show_default=True,
    help="Seconds an object no record names yet is left alone (a write may be committing it).",
)
@json_verb
def data_gc(ctx: click.Context, dry_run: bool, grace: float, as_json: bool) -> None:
    """Remove stored chunks no dataset version reads any more.

    Packs nobody reads are deleted; packs mostly garbage are rewritten with their live chunks;
    manifests of purged content go. What was freed is recorded in the audit ledger
    (dataset.gc). Run it with --dry-run first.

    \b
    Example:
      carnet data gc --dry-run
      carnet data gc --json
    """
    result = get_client(ctx).collect_garbage(dry_run=dry_run, grace=grace)
    if as_json:
        emit_json(result)
        return
    verb = "would free" if dry_run else "freed"
    click.echo(
        f"{verb} {_bytes(result['bytes_freed'])}: {result['packs_removed']} pack(s) removed, "
        f"{result['packs_rewritten']} rewritten, {result['manifests_removed']} manifest(s) removed, "
        f"{result['orphan_packs'] + result['orphan_manifests']} leftover object(s)"
    )


@click.command("chunk")
@click.option("--dry-run", is_flag=True, help="List the contents that would be chunked; change nothing.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most this many contents this time."
)
@json_verb
def data_chunk(ctx: click.Context, dry_run: bool, limit: int | None, as_json: bool) -> None:
    """Store dataset versions kept as whole files (older workspaces) as chunks.

    Online and resumable: each content is chunked, indexed and recorded (dataset.chunk) before
    its whole-file copy is deleted, and readers find it throughout; run it again to continue.

    \b
    Example:
      carnet data chunk --dry-run
      carnet data chunk --limit 10
    """
    result = get_client(ctx).chunk_datasets(dry_run=dry_run, limit=limit)
    if as_json:
        emit_json(result)
        return
    for entry in result["migrated"]:
        what = ", ".join(entry["versions"])
        if dry_run:
            click.echo(f"would chunk {what}")
        else:
            click.echo(
                f"chunked {what} ({entry.get('chunks', 0)} chunk(s), {_bytes(entry.get('new_bytes', 0))} new)"
            )
    if not result["migrated"]:
        click.echo("every dataset version is stored as chunks")
    if result["remaining"]:
        click.echo(f"{result['remaining']} more to go: run carnet data chunk again")
