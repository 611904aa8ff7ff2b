"""``carnet drift``: compare two tables now — dataset versions or CSV/Parquet files."""

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
    out_option,
)
from carnet.errors import InvalidInput

__all__ = ["drift"]


@click.command()
@click.argument("reference")
@click.argument("current")
@out_option("Also write an HTML report to this file.", legacy=("--report",))
@click.option("--method", "methods", multiple=True, help="COLUMN=METHOD (psi, js, wasserstein, chi2, ks).")
@click.option("--multivariate", is_flag=True, help="Also run the domain-classifier check.")
@click.option("--fail-on-drift", is_flag=True, help="Exit with code 1 when the dataset drifted.")
@executor_option
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Workers at once on the executor.")
@click.option(
    "--batch-rows",
    type=click.IntRange(min=1),
    help="Stream both sides in batches of this many rows (bounded memory; implied by --executor).",
)
@json_verb
def drift(
    ctx: click.Context,
    reference: str,
    current: str,
    out: Path | None,
    methods: tuple[str, ...],
    multivariate: bool,
    fail_on_drift: bool,
    executor: str | None,
    jobs: int | None,
    batch_rows: int | None,
    as_json: bool,
) -> None:
    """Compare two tables now: per-column drift and the dataset verdict, with an HTML report.

    Each side is a dataset version (NAME@VERSION) or a CSV/Parquet file. A dataset version as
    reference is read through its stored profile, built once.

    \b
    Example:
      carnet drift churn-train@3 churn-march@1 -o drift.html
      carnet drift reference.parquet today.csv --method age=ks --json
      carnet drift big-train@1 big-today@1 --executor dask:local --batch-rows 500000
    """
    report = out
    options: dict[str, Any] = {}
    for m in methods:
        col, sep, method = m.partition("=")
        if not sep or not col or not method:
            raise InvalidInput(f"--method {m!r}: write COLUMN=METHOD, e.g. age=ks", field="method")
        options.setdefault("column_methods", {})[col] = method
    if multivariate:
        options["multivariate"] = True
    stream = not_none(executor=executor, jobs=jobs, batch_rows=batch_rows)
    result = get_client(ctx).drift(reference, current, options or None, **stream)
    if report is not None:
        from carnet.reports.drift import render_drift_html

        report.write_text(render_drift_html(result, title=f"Drift: {current} against {reference}"), "utf-8")
    if as_json:
        emit_json({**result.to_dict(), "report": str(report) if report else None})
    else:
        _print(result, report)
    ctx.exit(1 if fail_on_drift and result.dataset_drift else 0)


def _print(result: Any, report: Path | None) -> None:
    """The per-column table, how a column is judged, the verdict and the report written."""
    from rich.table import Table

    table = Table("column", "kind", "method", "statistic", "p-value", "decided by", "drifted")
    for c in [*result.columns, *result.outputs]:
        stat = "-" if c.statistic is None else f"{c.statistic:.4g}"
        if c.statistic is not None and c.statistic_threshold is not None:
            stat += f" {'>=' if c.statistic >= c.statistic_threshold else '<'} {c.statistic_threshold:.4g}"
        p = "-" if c.p_value is None else f"{c.p_value:.3g}"
        if c.p_value is not None and c.p_threshold is not None:
            p += f" {'<' if c.p_value < c.p_threshold else '>='} {c.p_threshold:.3g}"
        flag = "[red]yes[/red]" if c.drifted else "no"
        decided = c.note if c.decided_by == "note" and c.note else c.decided_by
        table.add_row(c.column, c.kind, c.method, stat, p, decided, flag)
    console().print(table)
    click.echo(
        "a distance drifts when it reaches its threshold and, with a significance check, its p-value "
        "is below the level; a test (chi2, ks) drifts when its p-value is below the level"
    )
    verdict = "DRIFT" if result.dataset_drift else "no drift"
    click.echo(
        f"{verdict}: {len(result.drifted_columns)} of {len(result.columns)} column(s) drifted "
        f"(share {result.share_drifted:.2f}, dataset threshold {result.drift_share:.2f}); "
        f"{result.reference_rows} reference rows, {result.current_rows} current rows"
    )
    if result.multivariate is not None:
        click.echo(f"multivariate: {result.multivariate.to_dict()}")
    if report is not None:
        click.echo(f"wrote {report}")
