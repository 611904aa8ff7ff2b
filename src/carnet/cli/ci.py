"""``carnet ci``: what a CI job needs: the report of a pipeline or training run, with exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from carnet.cli.render import emit_json, get_client, json_verb, out_option
from carnet.errors import InvalidInput

__all__ = ["ci"]


@click.group()
def ci() -> None:
    """CI/CD: the report of a pipeline or training run as a PR comment, JUnit XML or JSON.

    \b
    Example:
      carnet ci report --pipeline churn --format junit -o carnet-report.xml
    """


@ci.command("report")
@click.argument("run", required=False)
@click.option(
    "--pipeline", metavar="NAME", help="Report on the latest run of this pipeline (instead of RUN)."
)
@click.option("--model", metavar="NAME", help="For a training RUN: the model registered from it.")
@click.option(
    "--policy",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="For a training RUN: the policy to dry-run (default: the model's stored policy).",
)
@click.option(
    "--alias", default="production", show_default=True, help="The alias the candidate is judged for."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "junit", "json"]),
    default="markdown",
    show_default=True,
    help="markdown: a pull-request comment; junit: JUnit XML, one test case per gate; json: the report.",
)
@out_option("Write the report to this file (default: print it).")
@click.option(
    "--base-url", metavar="URL", help="The web UI's URL, for links (default: the server's, if any)."
)
@json_verb
def report(
    ctx: click.Context,
    run: str | None,
    pipeline: str | None,
    model: str | None,
    policy: Path | None,
    alias: str,
    fmt: str,
    out: Path | None,
    base_url: str | None,
    as_json: bool,
) -> None:
    """The CI report of a pipeline run or a training run: gates, metrics against the incumbent with
    intervals, drift of the training data against the incumbent's, links to the web UI.

    RUN is a pipeline run (its promote step's gates) or a training run with --model (the version
    registered from it, judged by a dry run of --policy, which stores nothing). --pipeline NAME
    takes the latest run of that pipeline instead. The report is written whatever the verdict.

    Exit codes: 0 every gate passed; 1 a gate failed or the pipeline failed; 2 bad usage or input.
    With --json (and no -o) the report is printed as JSON; with -o, --json prints a summary.

    \b
    Example:
      carnet ci report --pipeline churn --format junit -o carnet-report.xml
      carnet ci report --pipeline churn --format markdown -o carnet-report.md
      carnet ci report 3f2a9c1e --model churn --policy policy.yaml --format json
    """
    from carnet.reports.ci import headline, render

    if run is not None and pipeline is not None:
        raise InvalidInput("give RUN or --pipeline NAME, not both", field="run")
    if run is None and pipeline is None:
        raise InvalidInput("give a RUN id or --pipeline NAME", field="run")
    result = get_client(ctx).ci_report(
        run, pipeline=pipeline, model=model, policy=policy, alias=alias, base_url=base_url
    )
    if out is None:
        click.echo(render(result, "json" if as_json else fmt), nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(result, fmt), encoding="utf-8")
        if as_json:
            emit_json(
                {
                    "report": str(out),
                    "format": fmt,
                    "passed": result["passed"],
                    "exit_code": result["exit_code"],
                    "summary": result["summary"],
                    "run_id": result["subject"]["run_id"],
                }
            )
        else:
            click.echo(f"{headline(result)} (report: {out})")
    if result["exit_code"]:
        sys.exit(int(result["exit_code"]))
