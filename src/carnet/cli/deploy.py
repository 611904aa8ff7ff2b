"""``carnet deploy``: deployments — route an endpoint's traffic to model versions (canary weights,
shadows, sticky routing); every change is a new, audited revision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from carnet.cli.render import console, emit_json, fmt_time, get_client, handle_errors, json_option

__all__ = ["deploy"]


def _resolved(client: Any, endpoint: str) -> dict[str, Any]:
    """What each reference of the endpoint names now (or why it does not resolve)."""
    from carnet.errors import NotFound

    try:
        r = client.resolve_deployment(endpoint)
    except NotFound as exc:
        return {"error": exc.message}
    total = r.deployment.total_weight
    return {
        "routes": [
            {"model": x.ref, "version": x.version.ref, "weight": x.weight, "share": x.weight / total}
            for x in r.routes
        ],
        "shadows": [{"model": x.ref, "version": x.version.ref} for x in r.shadows],
    }


def _routes_text(dep: Any) -> str:
    total = dep.total_weight
    return ", ".join(f"{r.model} {100 * r.weight / total:.4g}%" for r in dep.routes) or "-"


@click.group()
def deploy() -> None:
    """Deployments: route an endpoint's traffic to model versions, with canary weights and shadows.

    \b
    Example:
      carnet deploy set churn.yaml
      carnet deploy show churn
    """


@deploy.command("set")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@click.pass_context
@handle_errors
def deploy_set(ctx: click.Context, file: Path, as_json: bool) -> None:
    """Validate a deployment (YAML) and store it as the endpoint's next revision.

    Every model reference must resolve in the registry now. A running server picks the
    change up within seconds.

    \b
    Example:
      carnet deploy set churn.yaml

    \b
    churn.yaml:
      endpoint: churn
      routes:
        - {model: churn@production, weight: 95}
        - {model: churn/4, weight: 5}
      shadows: [churn@staging]
      sticky_header: X-User-Id
    """
    dep = get_client(ctx).set_deployment(file)
    if as_json:
        emit_json(dep.to_dict())
        return
    click.echo(f"endpoint {dep.endpoint}: revision {dep.revision}  routes {_routes_text(dep)}")


@deploy.command("show")
@click.argument("endpoint")
@json_option
@click.pass_context
@handle_errors
def deploy_show(ctx: click.Context, endpoint: str, as_json: bool) -> None:
    """Show an endpoint's current deployment and the versions its references name now.

    \b
    Example:
      carnet deploy show churn --json
    """
    client = get_client(ctx)
    dep = client.get_deployment(endpoint)
    resolved = _resolved(client, endpoint)
    if as_json:
        emit_json({**dep.to_dict(), "resolved": resolved})
        return
    out = console()
    out.print(
        f"[bold]{dep.endpoint}[/bold]  revision {dep.revision} by {dep.actor} at {fmt_time(dep.created_at)}"
    )
    if "error" in resolved:
        out.print(f"[red]does not resolve:[/red] {resolved['error']}")
        versions: dict[str, str] = {}
    else:
        versions = {x["model"]: x["version"] for x in [*resolved["routes"], *resolved["shadows"]]}
    from rich.table import Table

    table = Table("route", "version now", "weight", "share")
    for r in dep.routes:
        share = f"{100 * r.weight / dep.total_weight:.4g}%"
        table.add_row(r.model, versions.get(r.model, "-"), f"{r.weight:g}", share)
    for s in dep.shadows:
        table.add_row(s, versions.get(s, "-"), "shadow", "copy")
    out.print(table)
    if dep.sticky_header:
        out.print(f"sticky routing by header {dep.sticky_header}")
    if dep.batching:
        out.print("batching: " + ", ".join(f"{k}={v:g}" for k, v in dep.batching.items()))


@deploy.command("list")
@json_option
@click.pass_context
@handle_errors
def deploy_list(ctx: click.Context, as_json: bool) -> None:
    """List deployed endpoints with their current revision and routes.

    \b
    Example:
      carnet deploy list --json
    """
    items = get_client(ctx).list_deployments()
    if as_json:
        emit_json([d.to_dict() for d in items])
        return
    from rich.table import Table

    table = Table("endpoint", "revision", "routes", "shadows", "updated", "by")
    for d in items:
        table.add_row(
            d.endpoint,
            str(d.revision),
            _routes_text(d),
            ", ".join(d.shadows) or "-",
            fmt_time(d.created_at),
            d.actor,
        )
    console().print(table)


@deploy.command("history")
@click.argument("endpoint")
@json_option
@click.pass_context
@handle_errors
def deploy_history(ctx: click.Context, endpoint: str, as_json: bool) -> None:
    """List every revision of an endpoint's deployment, oldest first (deletions included).

    \b
    Example:
      carnet deploy history churn
    """
    items = get_client(ctx).deployment_history(endpoint)
    if as_json:
        emit_json([d.to_dict() for d in items])
        return
    from rich.table import Table

    table = Table("revision", "time", "by", "routes", "shadows")
    for d in items:
        routes = "[red]deleted[/red]" if d.deleted else _routes_text(d)
        table.add_row(str(d.revision), fmt_time(d.created_at), d.actor, routes, ", ".join(d.shadows) or "-")
    console().print(table)


@deploy.command("delete")
@click.argument("endpoint")
@click.option("--reason", default="", help="Why (recorded in the audit log).")
@json_option
@click.pass_context
@handle_errors
def deploy_delete(ctx: click.Context, endpoint: str, reason: str, as_json: bool) -> None:
    """Stop routing an endpoint (a new revision marks it deleted; its history is kept).

    \b
    Example:
      carnet deploy delete churn --reason "replaced by churn-v2"
    """
    dep = get_client(ctx).delete_deployment(endpoint, reason=reason)
    if as_json:
        emit_json(dep.to_dict())
        return
    click.echo(f"deleted endpoint {dep.endpoint} (revision {dep.revision})")
