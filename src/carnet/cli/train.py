"""``carnet train``, ``carnet automl`` and ``carnet evaluate``: tracked training and evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from carnet.cli.render import (
    console,
    emit_json,
    executor_option,
    get_client,
    json_verb,
    not_none,
    stage_progress,
)

__all__ = ["automl", "evaluate", "train"]


def _metrics_table(
    title: str, metrics: dict[str, float], intervals: dict[str, Any], cv: dict[str, Any] | None = None
) -> Any:
    """Headline metrics: with cross-validation the mean ± std over the folds, else the value with
    its bootstrap interval."""
    from rich.table import Table

    if cv:
        table = Table("metric", "mean over folds", "± std", title=f"{title} (cross-validation)")
        for name, value in metrics.items():
            std = cv.get(f"cv_{name}_std")
            table.add_row(name, _num(value), "" if std is None else f"{std:.2g}")
        return table
    table = Table("metric", "value", "95% interval", title=title)
    for name, value in metrics.items():
        ci = intervals.get(name)
        interval = f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else ""
        table.add_row(name, _num(value), interval)
    return table


def _num(value: Any) -> str:
    """A float to 4 significant digits, anything else as text."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@click.command()
@click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@executor_option
@json_verb
def train(ctx: click.Context, spec: Path, executor: str | None, as_json: bool) -> None:
    """Train a model from a YAML spec: one tracked run with metrics, plots, reports and the model.

    \b
    Example:
      carnet train spec.yaml
      # spec.yaml:
      #   dataset: churn@2
      #   task: binary
      #   target: churned
      #   split: {kind: stratified_kfold, folds: 5}
      #   model: {name: hist_gradient_boosting, params: {learning_rate: 0.05}}
      #   seed: 7
      carnet train search.yaml --executor ray:local   # a search's trials on Ray
    """
    client = get_client(ctx, create=True)
    extra = not_none(executor=executor)
    with stage_progress(not as_json) as progress:
        outcome = client.train(spec.read_text(encoding="utf-8"), progress=progress, **extra)
    if isinstance(outcome, dict):  # a spec with a search: section
        _show_search(outcome, as_json)
        return
    if as_json:
        emit_json(
            {
                "run_id": outcome.run_id,
                "metrics": outcome.metrics,
                "intervals": outcome.intervals,
                "cv": outcome.cv,
                "warnings": outcome.warnings,
            }
        )
        return
    out = console()
    out.print(_metrics_table(f"run {outcome.run_id}", outcome.metrics, outcome.intervals, outcome.cv))
    _fold_note(out, outcome.cv)
    if outcome.warnings:
        first = outcome.warnings[0]
        more = f" and {len(outcome.warnings) - 1} more" if len(outcome.warnings) > 1 else ""
        from rich.markup import escape

        out.print(
            f"[yellow]library warning[/yellow]: {escape(first)}{more}; see: carnet runs log {outcome.run_id}"
        )
    out.print(f"details: carnet runs show {outcome.run_id}")


def _fold_note(out: Any, cv: dict[str, Any]) -> None:
    """Where the per-fold values are, under a cross-validated headline."""
    if cv:
        out.print("each fold's value: carnet runs metrics RUN fold_<metric> (step = fold)")


def _show_search(result: dict[str, Any], as_json: bool) -> None:
    """A search's leaderboard, best first, then the refitted best model's run."""
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    metric, rows = result["metric"], result["leaderboard"]
    table = Table(
        "rank", "trial", metric, "params", "state", "seconds", "run",
        title=f"search leaderboard ({result['direction']} {metric}, best first)",
    )  # fmt: skip
    shown = rows[:15]
    for row in shown:
        value = row["value"]
        params = ", ".join(f"{k}={_num(v)}" for k, v in row["params"].items())
        table.add_row(
            str(row["rank"]),
            str(row["trial"]),
            "" if value is None else f"{value:.4g}",
            params,
            row["state"],
            f"{row['seconds']:.1f}",
            (row.get("run_id") or "")[:12],
            style="bold green" if row["rank"] == 1 else None,
        )
    out = console()
    out.print(table)
    if len(rows) > len(shown):
        out.print(f"... {len(rows) - len(shown)} more trials in search/leaderboard.json (or --json)")
    cv = result.get("cv") or {}
    title = f"best trial {result['best_trial']} refitted: run {result['run_id']}"
    out.print(_metrics_table(title, result.get("metrics") or {}, result.get("intervals") or {}, cv))
    _fold_note(out, cv)
    out.print(f"search run: {result['parent_run_id']} ({result['trials']} trials)")
    out.print(f"best model: carnet runs show {result['run_id']}")


@click.command()
@click.argument("data")
@click.option("--target", "-t", help="Target column (omit for unsupervised tasks).")
@click.option("--task", help="Task (default: inferred from the target: binary, multiclass or regression).")
@click.option("--time-budget", type=click.FloatRange(min=1), default=120, show_default=True, help="Seconds.")
@click.option("--project", "-p", default="default", show_default=True, help="Project of the runs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Trials run at once (worker processes, or tasks on the executor).",
)
@click.option("--max-trials", type=click.IntRange(min=1), help="Stop after this many candidates.")
@executor_option
@json_verb
def automl(
    ctx: click.Context,
    data: str,
    target: str | None,
    task: str | None,
    time_budget: float,
    project: str,
    seed: int,
    jobs: int,
    max_trials: int | None,
    executor: str | None,
    as_json: bool,
) -> None:
    """Try model families and preprocessing within a time budget; keep the best model.

    DATA is a dataset version (name@N) or a CSV/Parquet file (registered first).

    \b
    Example:
      carnet automl churn@2 --target churned --time-budget 120
      carnet automl churn@2 --target churned --executor dask://scheduler:8786 --jobs 16
    """
    client = get_client(ctx, create=True)
    extra = not_none(executor=executor, max_trials=max_trials)
    with stage_progress(not as_json) as progress:
        result = client.automl(
            data,
            target=target,
            task=task,
            time_budget=time_budget,
            project=project,
            seed=seed,
            jobs=jobs,
            progress=progress,
            **extra,
        )
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    table = Table(
        "rank",
        "model",
        "preprocessing",
        result["metric"],
        "seconds",
        "run",
        title=f"AutoML leaderboard ({result['direction']} {result['metric']})",
    )
    shown = result["leaderboard"][:15]
    for row in shown:
        style = "bold green" if row["rank"] == 1 else None
        value = row["value"]
        table.add_row(
            str(row["rank"]),
            row["model"],
            row["preprocess"],
            "failed" if value is None else f"{value:.4g}",
            f"{row['seconds']:.1f}",
            (row.get("run_id") or "")[:12],
            style=style,
        )
    out = console()
    out.print(table)
    if len(result["leaderboard"]) > len(shown):
        more = len(result["leaderboard"]) - len(shown)
        out.print(
            f"... {more} more trials in automl/leaderboard.json of run {result['parent_run_id']} (or --json)"
        )
    out.print(
        f"baseline ({result['baseline']['model']}): {result['baseline']['value']:.4g}; "
        f"best: {result['best']['value']:.4g}; {len(result['leaderboard'])} trials in "
        f"{result['elapsed']:.0f}s"
    )
    out.print(f"best model: carnet runs show {result['run_id']}")


@click.command()
@click.argument("run_id")
@click.argument("data")
@json_verb
def evaluate(ctx: click.Context, run_id: str, data: str, as_json: bool) -> None:
    """Evaluate a trained run's model on a dataset version; stores a report run.

    \b
    Example:
      carnet evaluate 3f2a9c0d churn@3
    """
    client = get_client(ctx)
    with stage_progress(not as_json) as progress:
        outcome = client.evaluate(client.resolve_run_id(run_id), data, progress=progress)
    if as_json:
        emit_json({"run_id": outcome.run_id, "metrics": outcome.metrics, "intervals": outcome.intervals})
        return
    out = console()
    out.print(_metrics_table(f"evaluation run {outcome.run_id}", outcome.metrics, outcome.intervals))
    out.print(f"report: carnet runs show {outcome.run_id}")
