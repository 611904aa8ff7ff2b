"""``carnet deploy``: deployments — route an endpoint's traffic to model versions (canary weights,
shadows, sticky routing); every change is a new, audited revision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from carnet.cli.render import console, emit_json, fmt_num, fmt_time, get_client, json_verb

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
    """A deployment's routes as ``MODEL SHARE%, ...`` (``-`` for none)."""
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
@json_verb
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
@json_verb
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
@json_verb
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
@json_verb
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
@json_verb
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


def _interval(lo: Any, hi: Any) -> str:
    """``[low, high]`` to 4 significant digits; ``-`` when a bound is missing."""
    return "-" if lo is None or hi is None else f"[{lo:.4g}, {hi:.4g}]"


@deploy.command("ab")
@click.argument("endpoint")
@click.option("--metric", default=None, help="accuracy, error_rate, log_loss, brier (classifiers); mae, mse.")
@click.option(
    "--alpha", default=0.05, show_default=True, type=float, help="False-positive rate, kept under peeking."
)
@click.option("--mde", default=None, type=float, help="Smallest difference worth acting on (metric's scale).")
@click.option(
    "--since", default=None, help="Rows from: all, 7d, or a time (default: when the last arm started)."
)
@click.option("--power", default=0.8, show_default=True, type=float, help="Power of the sample sizes.")
@json_verb
def deploy_ab(
    ctx: click.Context,
    endpoint: str,
    metric: str | None,
    alpha: float,
    mde: float | None,
    since: str | None,
    power: float,
    as_json: bool,
) -> None:
    """A/B analysis of an endpoint's routes: each version's realized metric, the difference with an
    always-valid test (mSPRT: reading it as often as you like keeps the false-positive rate), the
    rows still needed, and a decision: promote_challenger, keep_control or continue.

    The first route is the control. Labels come from `carnet monitor labels add`; without them,
    label-free estimates and prediction differences are shown, marked as estimates.

    \b
    Example:
      carnet deploy ab churn --metric accuracy --mde 0.02
      carnet deploy ab churn --since 7d --json
    """
    r = get_client(ctx).ab_analysis(endpoint, metric=metric, alpha=alpha, mde=mde, since=since, power=power)
    if as_json:
        emit_json(r)
        return
    from rich.table import Table

    out = console()
    out.print(
        f"[bold]{r['endpoint']}[/bold]  revision {r['revision']}  metric {r['metric']} "
        f"({'higher' if r['greater_is_better'] else 'lower'} is better)  since {fmt_time(r['since'])}"
    )
    arms = Table("arm", "role", "share", "rows", "labelled", r["metric"], f"{1 - r['alpha']:.0%} interval")
    for a in r["arms"]:
        share = "copy" if a["role"] == "shadow" else f"{100 * a['share']:.4g}%"
        value = fmt_num(a["value"])
        arms.add_row(
            a["arm"],
            a["role"],
            share,
            str(a["rows"]),
            str(a["labeled_rows"]),
            value,
            _interval(a["lower"], a["upper"]),
        )
    out.print(arms)
    diff = Table("control - challenger", "difference", "always-valid interval", "p-value", "decision")
    for c in r["comparisons"]:
        pair = f"{c['control']} - {c['challenger']}"
        bounds = _interval(c["lower"], c["upper"])
        diff.add_row(pair, fmt_num(c["difference"]), bounds, fmt_num(c["p_value"], 3), c["decision"])
    out.print(diff)
    m = r["method"]
    out.print(f"method: {m['name']} ({m['title']}), tau={fmt_num(m['tau'])}; {m['reference']}")
    for c in r["comparisons"]:
        sizes = c["sample_size"]
        if sizes["fixed_horizon"]:
            out.print(
                f"to detect {fmt_num(c['mde'])} ({c['mde_source']}) at power {r['power']:g}: "
                f"{sizes['sequential']['total']:,} rows with this sequential test, "
                f"{sizes['fixed_horizon']['total']:,} for a fixed-horizon test read once; "
                f"still needed: {sizes['remaining']['total']:,}"
            )
    traffic = r.get("traffic")
    if traffic:
        split = ", ".join(f"{k} {v:.1%}" for k, v in traffic["observed_share"].items())
        verdict = "[red]sample ratio mismatch[/red]" if traffic["mismatch"] else "as weighted"
        out.print(f"traffic: {split} of the requests, {verdict} (p={traffic['p_value']:.2g})")
    colour = {"promote_challenger": "green", "keep_control": "yellow"}.get(r["decision"], "cyan")
    out.print(f"[bold {colour}]decision: {r['decision']}[/bold {colour}] - {r['reason']}")
    est = r.get("estimates")
    if est:
        table = Table(
            "arm (estimated)", "rows without label", "method", f"{est['metric']} (estimate)", "interval"
        )
        for e in est["arms"]:
            table.add_row(
                e["arm"],
                str(e["rows"]),
                e["method"] or "-",
                fmt_num(e["value"]),
                _interval(e["lower"], e["upper"]),
            )
        out.print(table)
    for p in r.get("prediction_differences") or []:
        table = Table(
            f"output ({p['challenger']} vs {p['control']}, estimated)", "method", "statistic", "differs"
        )
        for col in p.get("columns", []):
            table.add_row(
                col["column"], col["method"], fmt_num(col["statistic"], 3), "yes" if col["drifted"] else "no"
            )
        out.print(table)
    for note in r["notes"]:
        out.print(f"[dim]note: {note}[/dim]")
