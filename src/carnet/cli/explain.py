"""``carnet explain``: why a model predicts what it does, per row (SHAP, LIME) and overall."""

from __future__ import annotations

from pathlib import Path

import click

from carnet.cli.render import console, emit_json, get_client, json_verb, out_option
from carnet.cli.runs_files import download_artifacts

__all__ = ["explain"]


@click.command()
@click.argument("ref")
@click.argument("data")
@click.option("--rows", help="Row positions to explain: 0,5,10-20 (default: the first 5; at most 200).")
@click.option(
    "--method",
    type=click.Choice(["shap", "lime", "permutation"]),
    help="SHAP (exact additivity), LIME (local linear fit) or permutation importance (global only). "
    "Default: SHAP when installed, else LIME, else permutation (the console says which ran).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the explainers.")
@out_option("Write the report, plots and explanation.json to this folder.", dir_okay=True)
@json_verb
def explain(
    ctx: click.Context,
    ref: str,
    data: str,
    rows: str | None,
    method: str | None,
    seed: int,
    out: Path | None,
    as_json: bool,
) -> None:
    """Why a model predicts what it does: per-row attributions and a global summary.

    REF is a model version (NAME/3, NAME@alias) or a training run id; DATA a dataset version
    (name@N) or a CSV/Parquet file. Each explained row gets the contribution of every input
    column to the prediction (for a classifier, the probability of the positive or predicted
    class), from a base value. The explanation is kept as a run with its plots and an HTML
    report. SHAP and LIME come with: pip install "carnet[explain]". Without --method, the
    console says which method ran when SHAP is missing; a --method whose library is missing is
    an error (exit 2) naming the install command.

    \b
    Example:
      carnet explain churn@production churn@3 --rows 0-4 -o explain/
      carnet explain churn/2 new_customers.csv --method lime --json
    """
    client = get_client(ctx)
    result = client.explain(ref, data, rows=rows, method=method, seed=seed)
    files: list[str] = []
    if out is not None and result.get("run_id"):
        paths = [a.path for a in client.list_artifacts(result["run_id"]) if a.path.startswith("explain/")]
        files = [str(p) for p in download_artifacts(client, result["run_id"], paths, out, strip=1)]
    if as_json:
        emit_json({**result, "files": files})
        return
    from rich.markup import escape
    from rich.table import Table

    con = console()
    what = f"explained {result['output']} of {result['model']} on {result['data']}"
    con.print(f"{escape(what)} with [bold]{result['method']}[/bold]")
    if result.get("note"):
        con.print(f"[yellow]note[/yellow]: {escape(result['note'])}")
    table = Table("feature", "mean |attribution|", title="global summary (largest first)")
    for row in result["global"][:15]:
        table.add_row(row["feature"], f"{row['mean_abs']:.4g}")
    con.print(table)
    if result["rows"]:
        per_row = Table("row", "prediction", "base value", "largest contributions", title="rows")
        for row in result["rows"]:
            top = sorted(row["attributions"].items(), key=lambda kv: -abs(kv[1]))[:3]
            per_row.add_row(
                str(row["row"]),
                f"{row['prediction']:.4g}",
                f"{row['base_value']:.4g}",
                ", ".join(f"{k} {v:+.3g}" for k, v in top),
            )
        con.print(per_row)
    run = result.get("run_id")
    if files:
        con.print(f"wrote {len(files)} file(s) to {out} (report.html, plots, explanation.json)")
    if run:
        con.print(f"report: carnet runs open {run[:12]}")
