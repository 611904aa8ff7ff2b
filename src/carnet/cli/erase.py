"""``carnet data erase|purge|erasures``: erasure of a person's rows on request, on record."""

from __future__ import annotations

from typing import Any

import click

from carnet.cli.render import console, emit_json, fmt_time, get_client, json_verb, spinner

__all__ = ["data_erase", "data_erasures", "data_purge"]


def _show_models(models: list[dict[str, Any]]) -> None:
    """The models trained on the erased versions, listed for review."""
    if models:
        click.echo("models trained on these versions, to review:")
        for m in models:
            click.echo(
                f"  {m['model']}/{m['version']}  run {m['run_id'][:12]}  on {', '.join(m['datasets'])}"
            )


@click.command("erase")
@click.argument("name")
@click.option(
    "--where", "where", required=True, help='The rows to erase, e.g. "customer_id in (1001, 1002)".'
)
@click.option("--reason", required=True, help="Why: the request's reference (kept in the ledger).")
@click.option("--purge", is_flag=True, help="Also remove the superseded versions' content from the store.")
@click.option("--dry-run", is_flag=True, help="Report what would be erased; change nothing.")
@json_verb
def data_erase(
    ctx: click.Context, name: str, where: str, reason: str, purge: bool, dry_run: bool, as_json: bool
) -> None:
    """Erase rows from every current version of a dataset (right to erasure).

    Each version holding matching rows gets a successor without them and is marked superseded:
    carnet then refuses to read it. --purge removes its content from the artifact store too
    (metadata and the ledger keep digests only). Models trained on it are listed for review.
    The condition compares columns with values (== != < <= > >= in, not in; and, or, not) and is
    recorded only as a digest.

    \b
    Example:
      carnet data erase customers --where "customer_id in (1001, 1002)" --reason "DSR-2026-114" --dry-run
      carnet data erase customers --where "email == 'ann@example.org'" --reason "DSR-2026-115" --purge
    """
    with spinner(f"reading every current version of {name}", not as_json):
        result = get_client(ctx).erase_dataset(name, where, reason=reason, purge=purge, dry_run=dry_run)
    if as_json:
        emit_json(result)
        return
    if not result["versions"]:
        click.echo(f"no row of {name} matches: nothing to erase")
    for v in result["versions"]:
        after = f" -> {name}@{v['superseded_by']}" if v.get("superseded_by") else ""
        click.echo(f"{name}@{v['version']}: {v['rows_removed']} row(s){after}")
    for s in result["skipped"]:
        click.echo(f"{name}@{s['version']}: not checked ({s['reason']})")
    if dry_run:
        click.echo(
            f"dry run: {result['rows_removed']} row(s) in {len(result['versions'])} version(s) "
            "would be erased"
        )
    elif result["erasure"] is not None:
        purged = f"; content of {len(result['purged'])} version(s) purged" if result["purged"] else ""
        click.echo(f"erasure #{result['erasure']}: {result['rows_removed']} row(s) removed{purged}")
    _show_models(result["models"])


@click.command("purge")
@click.argument("name")
@click.option(
    "--version", "versions", type=int, multiple=True, help="A superseded version (repeatable; default: all)."
)
@click.option("--reason", required=True, help="Why (kept in the ledger).")
@json_verb
def data_purge(ctx: click.Context, name: str, versions: tuple[int, ...], reason: str, as_json: bool) -> None:
    """Remove the content of versions an erasure superseded from the artifact store.

    Current versions are never purged. Content still used by a current version or a run artifact
    stays; the version's drift profiles go. Running it again finishes a purge cut short.

    \b
    Example:
      carnet data purge customers --version 2 --reason "DSR-2026-114"
    """
    result = get_client(ctx).purge_dataset(name, list(versions) or None, reason=reason)
    if as_json:
        emit_json(result)
        return
    if not result["purged"]:
        click.echo(f"{name}: no superseded version left to purge")
    for v in result["purged"]:
        kept = "" if v["content_deleted"] else " (content kept: still used elsewhere)"
        click.echo(f"purged {name}@{v['version']}{kept}")


@click.command("erasures")
@click.argument("name")
@json_verb
def data_erasures(ctx: click.Context, name: str, as_json: bool) -> None:
    """The erasures of a dataset: when, by whom, why, rows removed, versions superseded.

    \b
    Example:
      carnet data erasures customers
    """
    rows = get_client(ctx).dataset_erasures(name)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo(f"{name}: no erasure")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table("#", "when", "by", "reason", "rows", "versions", title=f"{name} erasures")
    for e in rows:
        versions = ", ".join(
            f"v{v['version']}->v{v['superseded_by']}" + (" purged" if v["purged"] else "")
            for v in e["versions"]
        )
        table.add_row(str(e["id"]), fmt_time(e["created_at"]), escape(e["actor"]), escape(e["reason"]),
                      str(e["rows_removed"]), versions)  # fmt: skip
    console().print(table)
