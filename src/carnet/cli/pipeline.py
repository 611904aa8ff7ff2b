"""``carnet pipeline run|show``: a file of steps run as one pipeline run, each step cached by content."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from carnet.cli.render import (
    console,
    emit_json,
    fmt_time,
    get_client,
    json_verb,
    stage_progress,
)

__all__ = ["pipeline"]

_STYLE = {
    "done": "green",
    "reused": "cyan",
    "skipped": "dim",
    "failed": "red",
    "not run": "red",
    "running": "yellow",
}


@click.group("pipeline")
def pipeline() -> None:
    """Pipelines: named steps (data, train, evaluate, register, promote, deploy, monitor) in one file.

    \b
    Example:
      carnet pipeline run carnet.pipeline.yaml --param alias=staging
      carnet pipeline show 3f2a9c0d
    """


def _duration(step: dict[str, Any]) -> str:
    """A step's run time (``-`` until it ended)."""
    if step.get("started") and step.get("ended"):
        return f"{step['ended'] - step['started']:.1f}s"
    return "-"


def _outputs(step: dict[str, Any]) -> str:
    """A step's outputs on one line (gates as passed/total, metrics left out), cut at 90 characters."""
    outs = step.get("outputs") or {}
    shown = []
    for key, value in outs.items():
        if key in ("gates", "metrics"):
            if key == "gates":
                shown.append(f"gates {sum(1 for g in value if g.get('passed'))}/{len(value)} passed")
            continue
        shown.append(f"{key}={value}")
    text = ", ".join(shown)
    return text if len(text) <= 90 else text[:87] + "..."


def _table(steps: list[dict[str, Any]], title: str) -> Any:
    """The steps of a pipeline run: kind, status, time, and outputs or error."""
    from rich.table import Table

    table = Table("step", "kind", "status", "time", "outputs / error", title=title, box=None)
    for s in steps:
        status = s["status"] + (f" (from {str(s['reused_from'])[:8]})" if s.get("reused_from") else "")
        detail = s.get("error") or s.get("reason") or _outputs(s)
        table.add_row(
            s["name"], s["kind"], f"[{_STYLE.get(s['status'], 'white')}]{status}[/]", _duration(s), detail
        )
    return table


@pipeline.command("run")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--param", "params", multiple=True, metavar="NAME=VALUE", help="Override a parameter (repeatable)."
)
@click.option(
    "--from",
    "from_step",
    metavar="STEP",
    help="Run STEP and what follows it; earlier steps keep the last run's outputs.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan (what would run, what would be reused); run nothing."
)
@click.option("--no-cache", is_flag=True, help="Run every step even when its inputs are unchanged.")
@click.option(
    "--executor",
    help="Where training work runs: local, ray:local, ray://HOST:PORT, dask:local, dask://HOST:PORT.",
)
@json_verb
def pipeline_run(
    ctx: click.Context,
    file: Path,
    params: tuple[str, ...],
    from_step: str | None,
    dry_run: bool,
    no_cache: bool,
    executor: str | None,
    as_json: bool,
) -> None:
    """Run a pipeline file; exit 1 when a step fails or a promotion's gates fail.

    Each step is a child run of one pipeline run. A step whose inputs (documents, data digests,
    parameters, its deps files, carnet's version) match a finished step reuses its outputs and
    says so. The file is checked completely before anything runs.

    \b
    Example:
      carnet pipeline run carnet.pipeline.yaml
      carnet pipeline run carnet.pipeline.yaml --param dry_run=false --from promote
      carnet pipeline run carnet.pipeline.yaml --dry-run
    """
    from carnet.pipelines.runner import parse_params, plan_pipeline, run_pipeline

    if not file.is_file():
        raise click.BadParameter(f"no file {file}", param_hint="FILE")
    client = get_client(ctx)
    values = parse_params(params)
    if dry_run:
        plan = plan_pipeline(client, file, params=values, from_step=from_step)
        if as_json:
            emit_json(plan)
            return
        from rich.table import Table

        table = Table(
            "step", "kind", "would", "why", title=f"pipeline {plan['pipeline']} (dry run)", box=None
        )
        for row in plan["steps"]:
            would = row["action"] + (f" {str(row['reused_from'])[:8]}" if row.get("reused_from") else "")
            table.add_row(row["name"], row["kind"], would, row["why"])
        console().print(table)
        return
    out = console()

    def on_event(step: dict[str, Any]) -> None:
        if as_json or step["status"] == "running":
            if not as_json:
                out.print(f"[yellow]▶[/] {step['name']} ({step['kind']}) running")
            return
        note = step.get("error") or step.get("reason") or _outputs(step)
        out.print(f"[{_STYLE.get(step['status'], 'white')}]{step['status']}[/] {step['name']}: {note}")

    with stage_progress(not as_json) as progress:
        graph = run_pipeline(
            client,
            file,
            params=values,
            from_step=from_step,
            executor=executor,
            progress=progress,
            on_event=on_event,
            use_cache=not no_cache,
        )
    if as_json:
        emit_json(graph)
    else:
        out.print(_table(graph["steps"], f"pipeline {graph['name']}: run {graph['run_id']}"))
        verdict = "passed" if graph["passed"] else "did not pass"
        reasons = [f"step {n} failed" for n in graph["failed"]] + [
            f"gates refused {n}" for n in graph["refused"]
        ]
        out.print(f"{graph['status'].lower()}, {verdict}" + (f": {'; '.join(reasons)}" if reasons else ""))
    if not graph["passed"]:
        sys.exit(1)


@pipeline.command("show")
@click.argument("run_id")
@json_verb
def pipeline_show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """A pipeline run's graph: each step's status, time, outputs and run.

    \b
    Example:
      carnet pipeline show 3f2a9c0d
    """
    from carnet.pipelines.runner import show_pipeline

    graph = show_pipeline(get_client(ctx), run_id)
    if as_json:
        emit_json(graph)
        return
    out = console()
    started = fmt_time(graph["started"]) if graph.get("started") else "-"
    out.print(
        _table(
            graph["steps"],
            f"pipeline {graph['name']}: run {graph['run_id']} ({graph['status'].lower()}, started {started})",
        )
    )
    for a, b in graph.get("edges", []):
        out.print(f"  {a} → {b}", style="dim")
    for s in graph["steps"]:
        if s.get("run_id"):
            out.print(f"  {s['name']}: carnet runs show {s['run_id']}", style="dim")
