"""``carnet audit anchor`` and ``carnet audit keygen``: signed checkpoints of the ledger for witnesses."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from carnet.cli.render import (
    emit_json,
    get_client,
    given_uri,
    handle_errors,
    json_option,
    json_verb,
    refuse_server,
)

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["anchor", "anchoring_dict", "echo_anchoring", "echo_findings", "keygen", "witness_option"]


def witness_option(help_text: str) -> Callable[[F], F]:
    """``--witness URL`` (repeatable)."""
    option: Callable[[F], F] = click.option(
        "--witness", "-w", "witnesses", multiple=True, metavar="URL", help=help_text
    )
    return option


def anchoring_dict(a: Any) -> dict[str, Any]:
    """An :class:`~carnet.domain.anchors.Anchoring` as the JSON ``carnet audit anchor`` prints."""
    cp = a.checkpoint.checkpoint
    return {
        "ok": a.ok,
        "workspace_id": cp.workspace_id,
        "seq": cp.seq,
        "hash": cp.hash,
        "time": cp.time,
        "prev": cp.prev,
        "key_id": cp.key_id,
        "digest": a.checkpoint.digest,
        "signature": a.checkpoint.signature,
        "event_seq": a.event_seq,
        "deliveries": [
            {"witness": d.witness, "ok": d.ok, "location": d.location, "error": d.error} for d in a.deliveries
        ],
    }


def echo_anchoring(a: Any, *, err: bool = False) -> None:
    """One line per witness, then what the ledger recorded."""
    cp = a.checkpoint.checkpoint
    for d in a.deliveries:
        state = f"stored at {d.location}" if d.ok else f"FAILED: {d.error}"
        click.echo(f"{d.witness}: {state}", err=err)
    recorded = f"recorded as event {a.event_seq}" if a.event_seq is not None else "not recorded (no witness)"
    click.echo(
        f"checkpoint {a.checkpoint.digest[:12]} covers event {cp.seq} (hash {cp.hash[:12]}) of workspace "
        f"{cp.workspace_id}; {recorded}",
        err=err,
    )


def echo_findings(findings: Any) -> None:
    """One line per anchor finding: ``anchor <witness>: <STATUS> <message>``."""
    for f in findings:
        click.echo(f"anchor {f.witness}: {'OK' if f.ok else f.status.upper()}: {f.message}")


@click.command("anchor")
@witness_option(
    "Witness URL (file:///..., s3://..., https://...); repeatable. Default: CARNET_AUDIT_WITNESSES."
)
@json_verb
def anchor(ctx: click.Context, witnesses: tuple[str, ...], as_json: bool) -> None:
    """Sign a checkpoint of the ledger's head and give it to every witness.

    The checkpoint (workspace id, last event and its hash, time, previous checkpoint) is signed
    with the Ed25519 key of CARNET_ANCHOR_KEY; an audit.anchor event records it afterwards.
    Exit 1 when a witness did not store it.

    \b
    Example:
      carnet audit anchor --witness file:///var/lib/carnet/anchors.jsonl
    """
    refuse_server("carnet audit anchor", given_uri(ctx))
    result = get_client(ctx).services.anchors.anchor(list(witnesses) or None)
    if as_json:
        emit_json(anchoring_dict(result))
    else:
        echo_anchoring(result)
    if not result.ok:
        sys.exit(1)


@click.command("keygen")
@click.argument("path", type=click.Path(dir_okay=False))
@json_option
@handle_errors
def keygen(path: str, as_json: bool) -> None:
    """Write a new Ed25519 anchor key pair: PATH (private, mode 0600) and PATH.pub (public).

    Give PATH to the anchoring processes only (CARNET_ANCHOR_KEY) and PATH.pub to verifiers
    (CARNET_ANCHOR_PUBLIC_KEY). The public key is printed.

    \b
    Example:
      carnet audit keygen /etc/carnet/anchor.pem
    """
    from carnet.services.anchors import write_key_pair

    pair = write_key_pair(path)
    if as_json:
        emit_json(pair)
        return
    click.echo(f"private key: {pair.private_path} (keep it secret: CARNET_ANCHOR_KEY)")
    click.echo(
        f"public key:  {pair.public_path} (for verification: CARNET_ANCHOR_PUBLIC_KEY), id {pair.key_id}"
    )
    click.echo(pair.public_pem.rstrip())
