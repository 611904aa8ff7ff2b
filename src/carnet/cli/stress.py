"""``carnet stress``: the stress gate's scenarios on their own, with a table and an HTML report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from carnet.cli.render import console, emit_json, get_client, json_verb, out_option
from carnet.errors import InvalidInput

__all__ = ["stress"]


def _scenarios(texts: tuple[str, ...], file: Path | None) -> list[dict[str, Any]] | None:
    """Scenarios from ``--scenario`` YAML mappings and a ``--scenarios`` file (None: the defaults)."""
    import yaml  # type: ignore[import-untyped, unused-ignore]

    found: list[Any] = []
    for i, text in enumerate(texts):
        try:
            found.append(yaml.safe_load(text))
        except yaml.YAMLError as exc:
            raise InvalidInput(
                f"--scenario {i + 1}: not YAML ({str(exc).splitlines()[0]})", field="scenario"
            ) from None
    if file is not None:
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{file}: not YAML ({str(exc).splitlines()[0]})", field="scenarios") from None
        if isinstance(loaded, dict) and "scenarios" in loaded:
            loaded = loaded["scenarios"]
        if not isinstance(loaded, list):
            raise InvalidInput(f"{file}: write a list of scenarios (or scenarios: [...])", field="scenarios")
        found += loaded
    for i, item in enumerate(found):
        if not isinstance(item, dict):
            raise InvalidInput(
                f"scenario {i + 1} is not a mapping; write e.g. '{{type: gaussian_noise, scale: 0.2, "
                "max_degradation: 0.05}'",
                field="scenario",
            )
    return found or None


@click.command()
@click.argument("ref")
@click.argument("data", required=False, default="")
@click.option("--scenario", "scenario_texts", multiple=True, help="A scenario as YAML (repeatable).")
@click.option(
    "--scenarios",
    "scenario_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML file with a list of scenarios (or a stress gate: scenarios: [...]).",
)
@click.option("--metric", help="The metric to watch (default: the task's primary metric).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds every perturbation.")
@click.option("--fail", is_flag=True, help="Exit with code 1 when a scenario fails its limit.")
@out_option("Write the HTML report to this file.")
@json_verb
def stress(
    ctx: click.Context,
    ref: str,
    data: str,
    scenario_texts: tuple[str, ...],
    scenario_file: Path | None,
    metric: str | None,
    seed: int,
    fail: bool,
    out: Path | None,
    as_json: bool,
) -> None:
    """Extreme scenarios on their own: noise, missing values, out-of-range values, subpopulations.

    REF is a model version (NAME/3, NAME@alias); DATA a dataset version (name@N) or a CSV/Parquet
    file with the target column. The scenarios are the stress gate's (see docs/policies.md); with
    none given, the gate's defaults that fit the model's columns run. Nothing is changed. A
    reinforcement-learning policy takes no DATA: it plays in its environment under observation
    noise, action delay or dropout, other env kwargs or perturbed dynamics (docs/rl.md).

    \b
    Example:
      carnet stress churn@production churn@3
      carnet stress churn/4 holdout.csv --scenario '{type: missing_values, max_degradation: 0.05}'
      carnet stress churn/4 churn@3 --scenarios stress.yaml -o stress.html --fail
      carnet stress cartpole/2 --scenario '{type: action_delay, steps: 2, max_degradation: 50}'
    """
    scenarios = _scenarios(scenario_texts, scenario_file)
    result = get_client(ctx).stress(ref, data, scenarios=scenarios, metric=metric, seed=seed)
    if out is not None:
        from carnet.reports.stress import render_stress_html

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_stress_html(result), encoding="utf-8")
    if as_json:
        emit_json({**result, "report": str(out) if out else None})
    else:
        _print(result, out)
    if fail and not result["passed"]:
        sys.exit(1)


def _print(result: dict[str, Any], out: Path | None) -> None:
    """The scenarios' table, their errors, what was measured and the report written."""
    from rich.markup import escape
    from rich.table import Column, Table

    metric, base = result.get("metric"), result.get("base")
    greater = bool(result.get("greater_is_better", True))
    baseline = "" if base is None else f"{base:.4g}"
    headers = ("scenario", "metric", "baseline", "stressed", "change", "limit", "verdict")
    table = Table(
        *(Column(h, overflow="fold") for h in headers),
        title=escape(f"stress of {result['model']} on {result['data']}"),
    )
    for s in result.get("scenarios", []):
        relative, allowed = bool(s["relative"]), float(s["max_degradation"])
        # the change of the metric, and the worst change allowed, in the scenario's terms
        sign = -1 if greater else 1
        limit = f"{sign * 100 * allowed:+g}%" if relative else f"{sign * allowed:+g}"
        value = change = ""
        if s["value"] is not None and base is not None:
            value, delta = f"{s['value']:.4g}", s["value"] - base
            change = f"{delta:+.4g}"
            if relative:
                change = f"{100 * delta / abs(base):+.2f}%" if base else ""
        verdict = "[green]pass[/green]" if s["passed"] else "[red]FAIL[/red]"
        table.add_row(*(escape(v) for v in (s["name"], str(metric), baseline, value, change, limit)), verdict)
    con = console()
    con.print(table)
    for s in result.get("scenarios", []):
        if s.get("error"):
            con.print(f"[red]{escape(s['name'])}[/red]: {escape(s['error'])}")
    if result.get("error") and not result.get("scenarios"):
        con.print(f"[red]error[/red]: {escape(result['error'])}")
    con.print(escape(str(result.get("measured") or "")))
    if out is not None:
        con.print(f"wrote {out}")
