"""``carnet projects`` and ``carnet runs``: list, show, compare and delete tracked runs."""

from __future__ import annotations

from typing import Any

import click

from carnet.cli.render import (
    console,
    emit_json,
    fmt_num,
    fmt_time,
    fmt_value,
    get_client,
    json_verb,
    stage_progress,
)

__all__ = ["projects", "runs"]


@click.group()
def projects() -> None:
    """Projects group runs, datasets and models.

    \b
    Example:
      carnet projects list
    """


@projects.command("list")
@json_verb
def projects_list(ctx: click.Context, as_json: bool) -> None:
    """List projects with their number of runs.

    \b
    Example:
      carnet projects list --json
    """
    items = get_client(ctx).list_projects()
    if as_json:
        emit_json(
            [
                {"name": p.name, "description": p.description, "created_at": p.created_at, "runs": n}
                for p, n in items
            ]
        )
        return
    from rich.table import Table

    table = Table("project", "runs", "created", "description", title="Projects")
    for p, n in items:
        table.add_row(p.name, str(n), fmt_time(p.created_at), p.description)
    console().print(table)


@click.group()
def runs() -> None:
    """Tracked runs: list, show, compare, artifacts, logs, metrics, reports.

    \b
    Example:
      carnet runs list --project demo --filter "metrics.auc > 0.9" --order-by "metrics.auc desc"
    """


def _run_dict(run: Any) -> dict[str, Any]:
    """A run as the JSON of ``carnet runs``."""
    return {
        "id": run.id,
        "project": run.project,
        "name": run.name,
        "status": run.status.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "duration": run.duration,
        "parent_id": run.parent_id,
        "params": run.params,
        "metrics": run.metrics,
        "tags": run.tags,
        "error": run.error,
        "deleted": run.deleted,
    }


@runs.command("list")
@click.option("--project", "-p", multiple=True, help="Project name (repeatable; default: all projects).")
@click.option(
    "--filter", "-f", "filter_", help="Filter, e.g. \"metrics.auc > 0.9 and params.model = 'lgbm'\"."
)
@click.option("--order-by", "-o", multiple=True, help="Sort key, e.g. 'metrics.auc desc' (repeatable).")
@click.option("--max-results", "-n", type=int, default=50, show_default=True, help="Page size.")
@click.option("--page-token", help="Token printed by the previous page.")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted runs.")
@json_verb
def runs_list(
    ctx: click.Context,
    project: tuple[str, ...],
    filter_: str | None,
    order_by: tuple[str, ...],
    max_results: int,
    page_token: str | None,
    include_deleted: bool,
    as_json: bool,
) -> None:
    """List runs matching a filter, newest first unless --order-by says otherwise.

    \b
    Example:
      carnet runs list -p demo -f "params.model = 'lgbm' and metrics.auc >= 0.9" -o "metrics.auc desc"
    """
    client = get_client(ctx)
    page = client.search_runs(
        list(project) or None, filter_, list(order_by), max_results, page_token, include_deleted
    )
    if as_json:
        emit_json({"runs": [_run_dict(r) for r in page.runs], "next_page_token": page.next_page_token})
        return
    from rich.table import Table

    metric_keys = sorted({k for r in page.runs for k in r.metrics})[:6]
    param_keys = sorted({k for r in page.runs for k in r.params})[:4]
    table = Table("run", "name", "project", "status", "started", *param_keys, *metric_keys, title="Runs")
    for r in page.runs:
        table.add_row(
            r.id[:12],
            r.name,
            r.project,
            r.status.value,
            fmt_time(r.start_time),
            *[r.params.get(k, "") for k in param_keys],
            *[fmt_num(r.metrics.get(k), 6) for k in metric_keys],
        )
    out = console()
    out.print(table)
    if page.next_page_token:
        import shlex

        args = [a for p in project for a in ("-p", p)]
        args += ["-f", filter_] if filter_ else []
        args += [a for o in order_by for a in ("-o", o)]
        args += ["-n", str(max_results)] + (["--all"] if include_deleted else [])
        out.print(
            f"more: carnet runs list {shlex.join(args)} --page-token {page.next_page_token}", markup=False
        )


@runs.command("show")
@click.argument("run_id")
@json_verb
def runs_show(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run: params, metrics, tags, artifacts, inputs, environment, children.

    \b
    Example:
      carnet runs show 3f2a9c0d4e5b4c7d8e9f0a1b2c3d4e5f
    """
    client = get_client(ctx)
    run_id = client.resolve_run_id(run_id)
    run = client.get_run(run_id)
    artifacts = client.list_artifacts(run_id)
    inputs = client.list_inputs(run_id)
    children = client.child_runs(run_id)
    if as_json:
        d = _run_dict(run)
        d.update(
            artifacts=[{"path": a.path, "digest": a.digest, "size": a.size} for a in artifacts],
            inputs=[
                {"dataset": i.dataset, "version": i.version, "digest": i.digest, "context": i.context}
                for i in inputs
            ],
            children=children,
            environment=run.environment,
        )
        emit_json(d)
        return
    from rich.table import Table

    out = console()
    out.print(f"[bold]{run.name}[/bold]  {run.id}  project={run.project}  status={run.status.value}")
    out.print(
        f"started {fmt_time(run.start_time)}  ended {fmt_time(run.end_time)}  parent={run.parent_id or '-'}"
    )
    if run.error:
        out.print(f"[red]error:[/red] {run.error}")
    for title, values in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if values:
            t = Table("key", "value", title=title)
            for k in sorted(values):
                v = values[k]
                t.add_row(k, fmt_num(v, 6) if isinstance(v, float) else str(v))
            out.print(t)
    if artifacts:
        t = Table("path", "size", "digest", title="artifacts")
        for a in artifacts:
            t.add_row(a.path, str(a.size), a.digest[:23])
        out.print(t)
    if inputs:
        out.print("inputs: " + ", ".join(f"{i.dataset}@{i.version} ({i.context})" for i in inputs))
    env = run.environment
    if env:
        git = env.get("git") or {}
        git_txt = f"  git {git.get('commit', '')[:10]}{' (dirty)' if git.get('dirty') else ''}" if git else ""
        out.print(
            f"environment: python {env.get('python')} on {env.get('platform')}, "
            f"{len(env.get('packages', {}))} packages{git_txt}"
        )
    if children:
        out.print("children: " + ", ".join(children))


@runs.command("compare")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--only-diff", is_flag=True, help="Show only keys whose values differ.")
@json_verb
def runs_compare(ctx: click.Context, run_ids: tuple[str, ...], only_diff: bool, as_json: bool) -> None:
    """Compare params and metrics of runs side by side (differences highlighted).

    \b
    Example:
      carnet runs compare 3f2a9c0d... 8b1e7f2a... --only-diff
    """
    if len(run_ids) < 2:
        raise click.UsageError("give at least two run ids to compare")
    client = get_client(ctx)
    items = [client.get_run(client.resolve_run_id(r)) for r in run_ids]
    rows: list[tuple[str, str, list[Any]]] = []
    for kind in ("params", "metrics"):
        keys = sorted({k for r in items for k in getattr(r, kind)})
        for k in keys:
            vals = [getattr(r, kind).get(k) for r in items]
            if only_diff and len({repr(v) for v in vals}) == 1:
                continue
            rows.append((kind, k, vals))
    if as_json:
        emit_json(
            {
                "runs": [_run_dict(r) for r in items],
                "rows": [{"kind": a, "key": b, "values": c} for a, b, c in rows],
            }
        )
        return
    from rich.table import Table

    table = Table("", "key", *[f"{r.name}\n{r.id[:8]}" for r in items], title="Compare runs")
    for kind, key, vals in rows:
        differ = len({repr(v) for v in vals}) > 1
        cells = [fmt_value(v, 6) for v in vals]
        style = "yellow" if differ else None
        table.add_row(kind, key, *cells, style=style)
    console().print(table)


@runs.command("delete")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--restore", is_flag=True, help="Undo a previous delete.")
@json_verb
def runs_delete(ctx: click.Context, run_ids: tuple[str, ...], restore: bool, as_json: bool) -> None:
    """Soft-delete runs: hidden from lists and searches, kept for the audit trail.

    \b
    Example:
      carnet runs delete 3f2a9c0d4e5b4c7d8e9f0a1b2c3d4e5f
      carnet runs delete 3f2a9c0d4e5b4c7d8e9f0a1b2c3d4e5f --restore
    """
    client = get_client(ctx)
    ids = [client.resolve_run_id(r) for r in run_ids]  # all ids must exist before anything changes
    for rid in ids:
        if restore:
            client.restore_run(rid)
        else:
            client.delete_run(rid)
    if as_json:
        emit_json({"restored" if restore else "deleted": ids})
    else:
        click.echo(f"{'restored' if restore else 'deleted'} {len(run_ids)} run(s)")


@runs.command("reproduce")
@click.argument("run_id")
@json_verb
def runs_reproduce(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Re-run a training (or every step of a pipeline run) from what it recorded; exit 1 when results differ.

    \b
    Example:
      carnet runs reproduce 3f2a9c0d
    """
    import sys

    client = get_client(ctx)
    run_id = client.resolve_run_id(run_id)
    pipeline = client.get_run(run_id).tags.get("carnet.kind") == "pipeline"
    with stage_progress(not as_json) as progress:
        if pipeline:  # every computing step again, compared
            from carnet.pipelines.runner import reproduce_pipeline

            result = reproduce_pipeline(client, run_id, progress=progress)
        else:
            result = client.reproduce(run_id, progress=progress)
    if as_json:
        emit_json(result)
    else:
        out = console()
        for warning in result["warnings"]:
            out.print(f"[yellow]warning:[/yellow] {warning}")
        if pipeline:
            _print_reproduced_steps(out, result)
        else:
            _print_reproduced_metrics(out, run_id, result)
    if result["differing"]:
        sys.exit(1)


def _print_reproduced_metrics(out: Any, run_id: str, result: dict[str, Any]) -> None:
    """A training reproduced: each metric, original and new, then whether they all match."""
    from rich.table import Table

    table = Table("metric", "original", "reproduced", title=f"{run_id} -> {result['new_run_id']}")
    for name, (old, new) in result["metrics"].items():
        table.add_row(
            name, fmt_num(old, 6), fmt_num(new, 6), style="red" if name in result["differing"] else None
        )
    out.print(table)
    out.print(
        "identical metrics" if not result["differing"] else f"{len(result['differing'])} metric(s) differ"
    )


def _print_reproduced_steps(out: Any, result: dict[str, Any]) -> None:
    """A pipeline run reproduced: each step, its original and new runs and result, then the steps that
    differ."""
    from rich.table import Table

    table = Table("step", "kind", "original run", "new run", "result", title=f"pipeline {result['pipeline']}")
    for row in result["steps"]:
        table.add_row(row["name"], row["kind"], str(row.get("original_run") or "-")[:8],
                      str(row.get("new_run") or "-")[:8], row["result"],
                      style="red" if row["differing"] else None)  # fmt: skip
    out.print(table)
    out.print(
        "every step reproduced" if not result["differing"] else f"differ: {', '.join(result['differing'])}"
    )


def _add_file_commands() -> None:
    """``runs artifacts | log | metrics | open`` live in their own module."""
    from carnet.cli.runs_files import runs_artifacts, runs_log, runs_metrics, runs_open

    for command in (runs_artifacts, runs_log, runs_metrics, runs_open):
        runs.add_command(command)


_add_file_commands()
