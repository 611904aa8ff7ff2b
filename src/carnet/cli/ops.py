"""``carnet ops``: ready-made Grafana dashboards and Prometheus alerting rules for carnet's metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import click

from carnet.cli.render import console, emit_json, handle_errors, json_option, out_option
from carnet.errors import InvalidInput

__all__ = ["ops"]


@click.group()
def ops() -> None:
    """Grafana dashboards and Prometheus alerting rules over the metrics carnet exports.

    \b
    Example:
      carnet ops grafana -o dashboards/
      carnet ops prometheus-rules -o /etc/prometheus/rules/carnet.yml
      carnet ops metrics
    """


@ops.command()
@out_option(
    "Folder to write the dashboards' JSON files into (made when missing).", required=True, dir_okay=True
)
@json_option
@handle_errors
def grafana(out: Path, as_json: bool) -> None:
    """Write Grafana dashboards: serving, monitoring and the REST server.

    carnet-serving.json (traffic, errors, latency percentiles, batch sizes, queue depth per
    endpoint, model and version), carnet-monitoring.json (drift share, per-feature drift,
    estimated and realized performance, open alerts) and carnet-server.json (REST API routes,
    database timings, background jobs). Import them in Grafana and choose the Prometheus data
    source that scrapes carnet serve and carnet server.

    \b
    Example:
      carnet ops grafana -o dashboards/
      carnet ops grafana -o /var/lib/grafana/dashboards/carnet --json
    """
    from carnet.reports.grafana import dashboards

    if out.exists() and not out.is_dir():
        raise InvalidInput(f"-o {out} is a file; give a folder for the dashboards", field="out")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, board in dashboards().items():
        path = out / name
        path.write_text(json.dumps(board, indent=2) + "\n", encoding="utf-8")
        panels = sum(1 for p in board["panels"] if p["type"] != "row")
        written.append({"file": str(path), "uid": board["uid"], "title": board["title"], "panels": panels})
    if as_json:
        emit_json({"dashboards": written})
        return
    for w in written:
        click.echo(f"{w['file']}: {w['title']} ({w['panels']} panels)")


@ops.command("prometheus-rules")
@out_option("File to write the rules into (YAML, for Prometheus's rule_files).", required=True, dir_okay=True)
@click.option(
    "--error-ratio",
    default="0.05",
    show_default=True,
    metavar="RATIO",
    help="Share of 5xx answers above which an endpoint or the server alerts.",
)
@click.option(
    "--p99-seconds",
    default="1",
    show_default=True,
    metavar="SECONDS",
    help="p99 inference latency above which an endpoint alerts.",
)
@click.option(
    "--overload-ratio",
    default="0.01",
    show_default=True,
    metavar="RATIO",
    help="Share of overload 503s above which an endpoint alerts.",
)
@json_option
@handle_errors
def prometheus_rules(
    out: Path, error_ratio: str, p99_seconds: str, overload_ratio: str, as_json: bool
) -> None:
    """Write Prometheus alerting rules: error rate, p99 latency, overload, open monitor alerts.

    Rules: serving error rate, p99 latency and overload 503s per endpoint, predictions the log
    dropped, alerts open on a monitor, an estimated metric outside its band, REST API errors, a
    slow database and failing background jobs. Check them with promtool check rules FILE.

    \b
    Example:
      carnet ops prometheus-rules -o carnet-rules.yml
      carnet ops prometheus-rules -o carnet-rules.yml --error-ratio 0.02 --p99-seconds 0.25
    """
    from carnet.reports.prometheus_rules import RuleOptions, alerting_rules, rules_yaml

    try:
        options = RuleOptions(
            error_ratio=_number(error_ratio, "error-ratio"),
            p99_seconds=_number(p99_seconds, "p99-seconds"),
            overload_ratio=_number(overload_ratio, "overload-ratio"),
        )
    except InvalidInput as exc:  # named as the option the user typed
        flag = "--" + str(exc.field).replace("_", "-")
        raise InvalidInput(exc.message.replace(str(exc.field), flag, 1), field=flag[2:]) from None
    if out.is_dir():
        raise InvalidInput(f"-o {out} is a folder; give the rule file's path", field="out")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(rules_yaml(options), encoding="utf-8")
    groups = [
        {"name": g["name"], "alerts": [r["alert"] for r in g["rules"]]}
        for g in alerting_rules(options)["groups"]
    ]
    if as_json:
        emit_json({"file": str(out), "groups": groups})
        return
    count = sum(len(g["alerts"]) for g in groups)
    click.echo(f"{out}: {count} alerting rules in {len(groups)} groups (check: promtool check rules {out})")


@ops.command()
@json_option
@handle_errors
def metrics(as_json: bool) -> None:
    """List the Prometheus metrics carnet serve and carnet server export.

    \b
    Example:
      carnet ops metrics
      carnet ops metrics --json
    """
    from carnet.reports.metric_catalogue import METRICS

    if as_json:
        emit_json(
            [
                {
                    "name": m.name,
                    "type": m.kind,
                    "labels": list(m.labels),
                    "help": m.help,
                    "exporters": list(m.exporters),
                }
                for m in METRICS
            ]
        )
        return
    from rich.table import Table

    table = Table()
    table.add_column("metric", no_wrap=True)  # names are copied into queries: never cut
    for column in ("type", "labels", "exported by", "meaning"):
        table.add_column(column, overflow="fold")
    for m in METRICS:
        table.add_row(m.name, m.kind, ", ".join(m.labels), " and ".join(m.exporters), m.help)
    console().print(table)


def _number(text: str, option: str) -> float:
    """A float option, named in a one-line error when it is not a number."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidInput(f"--{option} must be a number, got {text!r}", field=option)
    return value
