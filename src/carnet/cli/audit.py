"""``carnet audit``: list ledger events and verify the hash chain."""

from __future__ import annotations

import sys

import click

from carnet.cli.audit_anchors import anchor, echo_findings, keygen, witness_option
from carnet.cli.render import console, emit_json, fmt_time, get_client, json_verb

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """The tamper-evident audit ledger of every change.

    \b
    Example:
      carnet audit verify
    """


@audit.command("log")
@click.option("--subject", "-s", help="TYPE or TYPE:ID, e.g. run or run:3f2a9c0d...")
@click.option("--action", "-a", help="Only this action, e.g. run.create.")
@click.option(
    "--limit", "-n", type=click.IntRange(1), default=50, show_default=True, help="Most recent N events."
)
@json_verb
def audit_log(ctx: click.Context, subject: str | None, action: str | None, limit: int, as_json: bool) -> None:
    """List audit events, newest first.

    \b
    Example:
      carnet audit log --subject dataset:churn --json
    """
    stype, _, sid = (subject or "").partition(":")
    events = get_client(ctx).audit_log(stype or None, sid or None, action=action, limit=limit)
    if as_json:
        emit_json(events)
        return
    from rich.table import Table

    table = Table("seq", "time", "actor", "action", "subject", "payload digest", title="Audit log")
    for e in events:
        table.add_row(
            str(e.seq),
            fmt_time(e.time),
            e.actor,
            e.action,
            f"{e.subject_type}:{e.subject_id}",
            e.payload_digest[:16],
        )
    console().print(table)


@audit.command("verify")
@click.option("--anchors", is_flag=True, help="Also compare with the signed checkpoints of the witnesses.")
@witness_option("With --anchors: witness URL to read (repeatable). Default: CARNET_AUDIT_WITNESSES.")
@click.option(
    "--deep",
    is_flag=True,
    help="Also compare aliases, users, roles, tokens, params, tags, metrics with the ledger.",
)
@json_verb
def audit_verify(
    ctx: click.Context, anchors: bool, witnesses: tuple[str, ...], deep: bool, as_json: bool
) -> None:
    """Recompute the hash chain: OK with the count, or exit 1 naming the first broken event.

    With --anchors, also compare the ledger with the latest valid signed checkpoint at every
    witness (needs CARNET_ANCHOR_PUBLIC_KEY): truncation, a rewritten tail and a replaced
    database fail, naming the checkpoint, the witness and both values.

    \b
    Example:
      carnet audit verify && echo ledger intact
      carnet audit verify --anchors --witness file:///var/lib/carnet/anchors.jsonl
      carnet audit verify --deep      # one line per row that differs from the ledger

    With --deep, the ledger is replayed and the current model aliases, users, roles, token
    revocations, run params, tags and metric values are compared with it; every difference is
    printed with the table, the key and both values.
    """
    result = get_client(ctx).verify_audit(anchors=anchors, witnesses=list(witnesses) or None, deep=deep)
    if as_json:
        emit_json(result)
    elif result.ok:
        click.echo(f"OK: {result.count} events verified")
    elif result.broken_seq is None or any(f.message == result.reason for f in result.anchors):
        at = f" at event {result.broken_seq}" if result.broken_seq is not None else ""
        click.echo(f"BROKEN{at}: {result.reason} ({result.count} events verified in the chain)")
    else:
        click.echo(
            f"BROKEN at event {result.broken_seq}: {result.reason} ({result.count} events verified before it)"
        )
    if anchors and not as_json:
        echo_findings(result.anchors)
    if deep and not as_json:
        for m in result.state:
            click.echo(f"STATE {m.message}")
        if result.runs_not_covered:
            click.echo(f"note: {result.runs_not_covered} ended runs predate the metric digest (not covered)")
    if not result.ok:
        sys.exit(1)


audit.add_command(anchor)
audit.add_command(keygen)
