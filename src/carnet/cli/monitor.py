"""``carnet monitor``: production monitors over the prediction log — drift, data quality, performance
with and without labels, alert rules, notifiers and automatic rollback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from carnet.cli.render import (
    console,
    emit_json,
    executor_option,
    fmt_num,
    fmt_time,
    get_client,
    given_uri,
    json_verb,
    not_none,
    out_option,
    parse_duration,
    refuse_server,
    stage_progress,
    to_jsonable,
)
from carnet.errors import InvalidInput

__all__ = ["monitor"]

_SHOWN = ("rows", "drift.share_drifted", "prediction_drift.share_drifted", "quality.schema_violations")


@click.group()
def monitor() -> None:
    """Production monitors: drift, data quality and performance per window, alerts and actions.

    \b
    Example:
      carnet monitor create churn-prod --model churn@production --reference churn-train@3 \\
          --window 1h --rule "drift.share_drifted > 0.3 for 2" --notify webhook:https://hooks.example.com/x
      carnet monitor run churn-prod
      carnet monitor show churn-prod
    """


def _notifier(text: str) -> dict[str, Any]:
    """``--notify`` as a notifier: webhook:URL, slack:URL or logfile:PATH."""
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("webhook", "slack", "logfile") or not rest:
        raise InvalidInput(f"--notify {text!r}: write webhook:URL, slack:URL or logfile:PATH", field="notify")
    return {"type": kind, "path": rest} if kind == "logfile" else {"type": kind, "url": rest}


def _rule(text: str) -> Any:
    """``--rule`` as a rule: the condition alone, or with the actions after ``->``."""
    when, sep, actions = text.partition("->")
    if not sep:
        return text.strip()
    return {"when": when.strip(), "actions": [a.strip() for a in actions.split(",") if a.strip()]}


def _load_yaml(path: Path, what: str) -> Any:
    """A YAML file's content (InvalidInput on field ``what`` when it is not valid YAML)."""
    import yaml  # type: ignore[import-untyped, unused-ignore]

    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{path}: not valid YAML ({exc})", field=what) from None


@monitor.command("create")
@click.argument("name", required=False)
@click.option("--model", help="The model to follow, NAME@alias (its alias is what a rollback moves).")
@click.option("--reference", help="The reference dataset version, NAME@VERSION.")
@click.option("--window", help="Window: a duration (1h, 30m, 1d) or a row count (10000rows).")
@click.option(
    "--checks", help="Comma-separated among drift, prediction_drift, quality, performance (default all)."
)
@click.option("--target", help="The label column of the reference (default: the model's training target).")
@click.option(
    "--rule", "rules", multiple=True, help='"METRIC OP NUMBER [for N] [-> notify,rollback,retrain]".'
)
@click.option(
    "--notify", "notify", multiple=True, help="webhook:URL, slack:URL or logfile:PATH (repeatable)."
)
@click.option(
    "--retrain", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Training spec (YAML)."
)
@click.option("--multivariate", is_flag=True, help="Also run the domain-classifier drift check.")
@click.option(
    "--since",
    help="Read the prediction log from: creation (default), all (backfill), 7d, 12h, or a time (ISO 8601).",
)
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The whole monitor as YAML.",
)
@json_verb
def create(ctx: click.Context, /, name: str | None, config: Path | None, as_json: bool, **opts: Any) -> None:
    """Create a monitor: the followed version predicts the reference once, and its profiles,
    data-quality spec and performance estimator are stored.

    \b
    Example:
      carnet monitor create churn-prod --model churn@production --reference churn-train@3 \\
          --window 10000rows --rule "drift.share_drifted > 0.3 for 2" \\
          --rule "performance.estimated.roc_auc < 0.8 -> notify,rollback" \\
          --notify webhook:https://hooks.example.com/carnet
      carnet monitor create --config monitor.yaml
    """
    spec: dict[str, Any] = dict(_load_yaml(config, "config") or {}) if config else {}
    if name:
        spec["name"] = name
    for key in ("model", "reference", "window", "target", "since"):
        if opts[key]:
            spec[key] = opts[key]
    if opts["checks"]:
        spec["checks"] = [c.strip() for c in opts["checks"].split(",") if c.strip()]
    if opts["rules"]:
        spec["rules"] = [*(spec.get("rules") or []), *(_rule(r) for r in opts["rules"])]
    if opts["notify"]:
        spec["notify"] = [*(spec.get("notify") or []), *(_notifier(n) for n in opts["notify"])]
    if opts["retrain"]:
        spec["retrain"] = _load_yaml(opts["retrain"], "retrain")
    if opts["multivariate"]:
        spec["drift"] = {**(spec.get("drift") or {}), "multivariate": True}
    with console(stderr=True).status("building the reference (profiles, estimator)"):
        created = get_client(ctx).create_monitor(spec)
    if as_json:
        emit_json(_monitor_dict(created))
        return
    click.echo(
        f"monitor {created.name}: {created.model} against {created.reference}, "
        f"windows of {created.window.label}, "
        f"{len(created.rules)} rule(s), {len(created.notify)} notifier(s)"
    )


def _monitor_dict(m: Any) -> dict[str, Any]:
    """A monitor as JSON: its spec as shown, its state (less the rows carried to the next window), when
    and by whom it was made."""
    from carnet.services.monitoring import shown_spec

    state = {k: v for k, v in m.state.items() if not k.startswith("carry")}
    return {"spec": shown_spec(m), "state": state, "created_at": m.created_at, "actor": m.actor}


@monitor.command("list")
@json_verb
def list_monitors(ctx: click.Context, as_json: bool) -> None:
    """List monitors.

    \b
    Example:
      carnet monitor list --json
    """
    monitors = get_client(ctx).list_monitors()
    if as_json:
        emit_json([_monitor_dict(m) for m in monitors])
        return
    from rich.table import Table

    table = Table("name", "model", "reference", "window", "rules", "created")
    for m in monitors:
        table.add_row(m.name, m.model, m.reference, m.window.label, str(len(m.rules)), fmt_time(m.created_at))
    console().print(table)


@monitor.command("run")
@click.argument("names", nargs=-1)
@click.option("--all", "run_all", is_flag=True, help="Run every monitor.")
@click.option("--every", help="Scheduler mode: run again every DURATION (e.g. 5m) until interrupted.")
@click.option("--passes", type=int, help="With --every: stop after this many passes.")
@click.option("--flush", is_flag=True, help="Also close the unfinished window.")
@click.option(
    "--anchor", is_flag=True, help="After each pass, anchor the audit ledger (CARNET_AUDIT_WITNESSES)."
)
@executor_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Windows evaluated at once on the executor.")
@json_verb
def run(
    ctx: click.Context,
    names: tuple[str, ...],
    run_all: bool,
    every: str | None,
    passes: int | None,
    flush: bool,
    anchor: bool,
    executor: str | None,
    jobs: int | None,
    as_json: bool,
) -> None:
    """One pass over the prediction-log rows logged since the last pass (idempotent).

    Exit code 1 when a pass opened an alert. With --every and --json, one JSON line per pass.
    With --anchor (a local workspace, CARNET_ANCHOR_KEY set), each pass is followed by a signed
    checkpoint of the audit ledger for the witnesses, unless nothing changed since the last one;
    its outcome goes to stderr with --json.

    \b
    Example:
      carnet monitor run churn-prod
      carnet monitor run --all --every 5m
      carnet monitor run --all --every 5m --anchor
      carnet monitor run churn-prod --flush --executor dask:local --jobs 4
    """
    client = get_client(ctx)
    placement = not_none(executor=executor, jobs=jobs)
    if not names and not run_all:
        raise InvalidInput("name a monitor, or pass --all", field="names")
    interval = parse_duration(every, "every", "5m") if every else None
    if passes is not None and passes < 1:
        raise InvalidInput("--passes must be >= 1", field="passes")
    if anchor:  # checked before the first pass: a scheduler that cannot anchor does not start
        refuse_server("carnet monitor run --anchor", given_uri(ctx))
        client.services.anchors.check_config()
    done, opened = 0, False
    while True:
        targets = [m.name for m in client.list_monitors()] if run_all else list(names)
        results = []
        with stage_progress(not as_json) as progress:
            for name in targets:
                results.append(
                    client.run_monitor(
                        name, flush=flush, progress=lambda s, d, t, n=name: progress(n, d, t), **placement
                    )
                )
        opened = opened or any(t.kind == "opened" for r in results for t in r.transitions)
        if as_json and interval is not None:  # scheduler mode: one JSON line per pass
            click.echo(json.dumps(to_jsonable([r.to_dict() for r in results]), default=str))
        elif as_json:
            emit_json([r.to_dict() for r in results])
        else:
            for r in results:
                _print_pass(r)
        if anchor and not client.services.anchors.idle():
            _anchor(client, err=as_json)
        done += 1
        if interval is None or (passes is not None and done >= passes):
            break
        time.sleep(interval)
    ctx.exit(1 if opened else 0)


def _anchor(client: Any, *, err: bool) -> None:
    """Anchor the ledger after a pass; a witness that is down is reported, the schedule goes on."""
    from carnet.cli.audit_anchors import echo_anchoring

    echo_anchoring(client.services.anchors.anchor(), err=err)


def _print_pass(r: Any) -> None:
    """One pass of a monitor: a line for the pass, then one per new window."""
    alerts = ", ".join(f"#{t.alert.id} {t.kind} ({t.alert.rule})" for t in r.transitions) or "none"
    click.echo(
        f"{r.monitor}: {len(r.windows)} new window(s) from {r.files} file(s), "
        f"{r.pending_rows} row(s) pending; "
        f"alerts: {alerts}"
    )
    for w in r.windows:
        shown = "  ".join(f"{k}={w.metrics[k]:.4g}" for k in _SHOWN if k in w.metrics)
        click.echo(
            f"  window {w.seq} [{fmt_time(w.start)} .. {fmt_time(w.end)}] "
            f"versions {list(w.versions)}  {shown}"
        )


@monitor.command("show")
@click.argument("name")
@click.option("--last", type=int, default=20, show_default=True, help="How many windows to show.")
@click.option("--rollup", metavar="PERIOD", help="Also merge the windows' profiles per period (1d, 6h).")
@json_verb
def show(ctx: click.Context, name: str, last: int, rollup: str | None, as_json: bool) -> None:
    """A monitor: its spec, the time series of every check and its active alerts.

    \b
    Example:
      carnet monitor show churn-prod --last 48
      carnet monitor show churn-prod --rollup 1d
    """
    client = get_client(ctx)
    m = client.get_monitor(name)
    if rollup:
        periods = client.monitor_rollup(name, rollup, last=last)
        if as_json:
            emit_json({"monitor": name, "period": rollup, "periods": periods})
            return
        for p in periods:
            click.echo(
                f"{fmt_time(p['start'])} .. {fmt_time(p['end'])}: windows {p['windows']}, {p['rows']} rows, "
                f"share drifted {p['share_drifted']:.2f}{' (drift)' if p['dataset_drift'] else ''}"
                f"{', ' + ', '.join(p['drifted_columns']) if p['drifted_columns'] else ''}"
            )
        return
    windows = client.monitor_windows(name, last=last)
    alerts = client.list_alerts(name)
    if as_json:
        emit_json(
            {
                **_monitor_dict(m),
                "windows": [w.to_dict() for w in windows],
                "alerts": [a.to_dict() for a in alerts],
            }
        )
        return
    from rich.table import Table

    click.echo(f"monitor {m.name}: {m.model} against {m.reference}, windows of {m.window.label}")
    for r in m.rules:
        click.echo(f"  rule: {r.text}  -> {', '.join(r.actions)}")
    keys = list(_SHOWN) + sorted(
        {k for w in windows for k in w.metrics if k.count(".") == 2 and k.startswith("performance.")}
    )
    keys = [k for k in keys if any(k in w.metrics for w in windows)]
    table = Table("#", "end", "versions", *keys)
    for w in windows:
        table.add_row(
            str(w.seq), fmt_time(w.end), ",".join(map(str, w.versions)),
            *(f"{w.metrics[k]:.4g}" if k in w.metrics else "-" for k in keys),
        )  # fmt: skip
    console().print(table)
    active = [a for a in alerts if a.status != "resolved"]
    click.echo(
        f"{len(active)} active alert(s)" + "".join(f"\n  #{a.id} {a.status}: {a.message}" for a in active)
    )


@monitor.command("report")
@click.argument("name")
@out_option("The HTML file to write.", required=True, legacy=("--output",))
@click.option("--last", type=int, help="Only the last N windows.")
@json_verb
def report(ctx: click.Context, name: str, out: Path, last: int | None, as_json: bool) -> None:
    """Write the monitor's HTML report: checks over time, latest distributions, alert history.

    \b
    Example:
      carnet monitor report churn-prod -o churn-prod.html
    """
    from carnet.reports.monitor import render_monitor_html
    from carnet.services.monitoring import shown_spec

    client = get_client(ctx)
    m = client.get_monitor(name)
    windows = client.monitor_windows(name, last=last)
    latest = client.monitor_window_report(name, windows[-1].seq) if windows else None
    alerts = [a.to_dict() for a in client.list_alerts(name)]
    page = render_monitor_html(shown_spec(m), [w.to_dict() for w in windows], latest, alerts)
    out.write_text(page, encoding="utf-8")
    if as_json:
        emit_json({"report": str(out), "windows": len(windows), "alerts": len(alerts)})
        return
    click.echo(f"wrote {out} ({len(windows)} windows, {len(alerts)} alerts)")


@monitor.command("delete")
@click.argument("name")
@json_verb
def delete(ctx: click.Context, name: str, as_json: bool) -> None:
    """Delete a monitor (its windows and alerts stay on record).

    \b
    Example:
      carnet monitor delete churn-prod
    """
    get_client(ctx).delete_monitor(name)
    if as_json:
        emit_json({"deleted": name})
        return
    click.echo(f"deleted monitor {name}")


@monitor.command("alerts")
@click.argument("name", required=False)
@click.option("--status", "statuses", multiple=True, help="open, acknowledged or resolved (repeatable).")
@json_verb
def alerts(ctx: click.Context, name: str | None, statuses: tuple[str, ...], as_json: bool) -> None:
    """List alerts, newest first (of one monitor, in some statuses).

    \b
    Example:
      carnet monitor alerts churn-prod --status open
    """
    found = get_client(ctx).list_alerts(name or None, list(statuses) or None)
    if as_json:
        emit_json([a.to_dict() for a in found])
        return
    from rich.table import Table

    table = Table("#", "monitor", "status", "rule", "value", "opened", "actions")
    for a in found:
        acts = ", ".join(f"{x.get('action')}:{'ok' if x.get('ok') else 'failed'}" for x in a.actions)
        table.add_row(
            str(a.id), a.monitor, a.status, a.rule, fmt_num(a.value), fmt_time(a.opened_at), acts or "-"
        )
    console().print(table)


def _alert_change(ctx: click.Context, alert_id: int, comment: str, as_json: bool, action: str) -> None:
    """Acknowledge or resolve (``action``) an alert, and show it."""
    client = get_client(ctx)
    changed = getattr(client, f"{action}_alert")(alert_id, comment)
    if as_json:
        emit_json(changed.to_dict())
        return
    click.echo(f"alert #{changed.id} is now {changed.status}")


@monitor.command("ack")
@click.argument("alert_id", type=int)
@click.option("--comment", default="", help="Why, for the record.")
@json_verb
def ack(ctx: click.Context, alert_id: int, comment: str, as_json: bool) -> None:
    """Acknowledge an open alert (it stays active until resolved).

    \b
    Example:
      carnet monitor ack 3 --comment "looking into the new traffic source"
    """
    _alert_change(ctx, alert_id, comment, as_json, "acknowledge")


@monitor.command("resolve")
@click.argument("alert_id", type=int)
@click.option("--comment", default="", help="Why, for the record.")
@json_verb
def resolve(ctx: click.Context, alert_id: int, comment: str, as_json: bool) -> None:
    """Resolve an alert by hand (notified like an automatic resolution).

    \b
    Example:
      carnet monitor resolve 3 --comment "upstream fix deployed"
    """
    _alert_change(ctx, alert_id, comment, as_json, "resolve")


@monitor.group("labels")
def labels() -> None:
    """Ground-truth labels, joined to the prediction log on the request id.

    \b
    Example:
      carnet monitor labels add outcomes.csv --id-column request_id --label-column churned
    """


@labels.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--id-column", default="request_id", show_default=True, help="The request id column.")
@click.option("--label-column", default="label", show_default=True, help="The ground-truth column.")
@click.option("--row-column", help="The row within the request (default: every label is for row 0).")
@click.option("--model", help="Tie the labels to one model (default: any model's log).")
@json_verb
def labels_add(
    ctx: click.Context,
    file: Path,
    id_column: str,
    label_column: str,
    row_column: str | None,
    model: str | None,
    as_json: bool,
) -> None:
    """Store ground-truth labels (CSV or Parquet); the next monitoring pass joins them.

    \b
    Example:
      carnet monitor labels add outcomes.csv --id-column request_id --label-column churned
    """
    stored = get_client(ctx).add_labels(
        file, id_column=id_column, label_column=label_column, row_column=row_column, model=model
    )
    if as_json:
        emit_json({"id": stored.id, "rows": stored.rows, "digest": stored.digest, "model": stored.model})
        return
    click.echo(f"stored {stored.rows} label(s) from {file} (label file #{stored.id})")
