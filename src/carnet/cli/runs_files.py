"""``carnet runs artifacts | log | metrics | open``: what a run stored, from the command line."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

import click

from carnet.cli.render import console, emit_json, fmt_time, get_client, has_display, json_verb, out_option
from carnet.errors import InvalidInput, NotFound

__all__ = ["download_artifacts", "runs_artifacts", "runs_log", "runs_metrics", "runs_open"]

#: where a training keeps its log, and an evaluation or training its report
LOG_PATH = "logs/training.txt"
REPORT_PATH = "reports/evaluation.html"


def _under(path: str, prefix: str | None) -> bool:
    """Whether an artifact ``path`` is ``prefix`` or under it (every path when there is no prefix)."""
    if not prefix:
        return True
    prefix = prefix.strip("/")
    return path == prefix or path.startswith(prefix + "/")


@click.command("artifacts")
@click.argument("run_id")
@click.argument("path", required=False)
@out_option("Download to this folder, each file checked against its digest.", dir_okay=True)
@json_verb
def runs_artifacts(
    ctx: click.Context, run_id: str, path: str | None, out: Path | None, as_json: bool
) -> None:
    """List a run's artifacts (under PATH), or download them with -o DIR, verified.

    RUN_ID may be a unique prefix. PATH is a file or a folder of the run (all when omitted).

    \b
    Example:
      carnet runs artifacts 3f2a9c0d
      carnet runs artifacts 3f2a9c0d reports -o report/
    """
    client = get_client(ctx)
    rid = client.resolve_run_id(run_id)
    arts = [a for a in client.list_artifacts(rid) if _under(a.path, path)]
    if not arts:
        where = f" under {path!r}" if path else ""
        raise NotFound(
            f"run {rid} has no artifact{where}; list them with: carnet runs artifacts {rid[:12]}",
            field="path",
        )
    rows = [{"path": a.path, "size": a.size, "digest": a.digest} for a in arts]
    if out is None:
        if as_json:
            emit_json({"run_id": rid, "artifacts": rows})
            return
        cells = [[a.path, f"{a.size:,}", a.digest[:23]] for a in arts]
        console().print(_whole_cells(f"artifacts of run {rid}", ["path", "size", "digest"], cells))
        return
    written = download_artifacts(client, rid, [a.path for a in arts], out)
    if as_json:
        emit_json({"run_id": rid, "out": str(out), "files": [str(p) for p in written], "artifacts": rows})
        return
    click.echo(f"wrote {len(written)} file(s) to {out} (each checked against its digest)")


def download_artifacts(client: Any, run_id: str, paths: list[str], out: Path, *, strip: int = 0) -> list[Any]:
    """Download a run's artifacts into the folder ``out`` (made when missing), each checked against
    its digest, at their paths less the first ``strip`` folders; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:  # one file at a time: each is read back against its digest
        target = out.joinpath(*PurePosixPath(path).parts[strip:])
        target.parent.mkdir(parents=True, exist_ok=True)
        written += client.download_artifact(run_id, path, target)
    return written


def _artifact_text(client: Any, rid: str, path: str) -> str | None:
    """The text of one artifact (None when the run has none at ``path``)."""
    if not any(a.path == path for a in client.list_artifacts(rid)):
        return None
    with tempfile.TemporaryDirectory(prefix="carnet-") as tmp:
        target = Path(tmp) / PurePosixPath(path).name
        client.download_artifact(rid, path, target)
        return target.read_text(encoding="utf-8", errors="replace")


@click.command("log")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="While the run is running, print what is new in its log.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between checks.",
)
@json_verb
def runs_log(ctx: click.Context, run_id: str, follow: bool, interval: float, as_json: bool) -> None:
    """Print a run's training log (RUN_ID may be a unique prefix).

    A training writes its log when it ends; --follow waits for a running run and prints what
    is new each time the log changes (with --json: the whole log once the run has ended).

    \b
    Example:
      carnet runs log 3f2a9c0d
      carnet runs log 3f2a9c0d --follow
    """
    client = get_client(ctx)
    rid = client.resolve_run_id(run_id)
    shown = ""
    while True:
        run = client.get_run(rid)
        text = _artifact_text(client, rid, LOG_PATH)
        if text is not None and len(text) > len(shown):
            if not as_json:
                click.echo(text[len(shown) :], nl=False)
            shown = text
        if not follow or run.status.terminal:
            break
        time.sleep(interval)
    if not shown:
        if not run.status.terminal:
            raise NotFound(
                f"run {rid} is running and has no log yet; a training stores its log when it ends, "
                f"wait for it with: carnet runs log {rid[:12]} --follow",
                field="run_id",
            )
        raise NotFound(
            f"run {rid} has no training log; only training runs write one (see: carnet runs "
            f"artifacts {rid[:12]})",
            field="run_id",
        )
    if as_json:
        emit_json({"run_id": rid, "status": run.status.value, "log": shown})


@click.command("metrics")
@click.argument("run_id")
@click.argument("keys", nargs=-1)
@click.option("--all", "show_all", is_flag=True, help="Every recorded value, not a summary per metric.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG of the histories.")
@json_verb
def runs_metrics(
    ctx: click.Context, run_id: str, keys: tuple[str, ...], show_all: bool, plot: Path | None, as_json: bool
) -> None:
    """The history of a run's metrics (all, or KEY...): a summary per metric, or every value.

    The summary gives the number of values, the first and last steps, the last value and the
    minimum and maximum. --json gives every value with its step and time.

    \b
    Example:
      carnet runs metrics 3f2a9c0d
      carnet runs metrics 3f2a9c0d fold_accuracy --all
      carnet runs metrics 3f2a9c0d loss val_loss --plot loss.png
    """
    client = get_client(ctx)
    rid = client.resolve_run_id(run_id)
    run = client.get_run(rid)
    names = list(keys) or sorted(run.metrics)
    unknown = [k for k in names if k not in run.metrics]
    if unknown:
        raise NotFound(
            f"run {rid} has no metric {unknown[0]!r}; it has: "
            f"{', '.join(sorted(run.metrics)[:20]) or 'none'}",
            field="keys",
        )
    history = {
        k: sorted(client.get_metric_history(rid, k), key=lambda m: (m.step, m.timestamp)) for k in names
    }
    if plot is not None:
        _plot(history, plot, f"run {rid[:12]}")
    if as_json:
        emit_json(
            {
                "run_id": rid,
                "metrics": {
                    k: [{"step": m.step, "value": m.value, "timestamp": m.timestamp} for m in ms]
                    for k, ms in history.items()
                },
                "plot": str(plot) if plot else None,
            }
        )
        return
    if show_all:
        headers = ["metric", "step", "value", "time"]
        rows = [
            [k, str(m.step), f"{m.value:.6g}", fmt_time(m.timestamp)] for k, ms in history.items() for m in ms
        ]
    else:
        headers = ["metric", "n", "steps", "last", "min", "max"]
        rows = []
        for k, ms in history.items():
            values = [m.value for m in ms]
            steps = f"{ms[0].step}-{ms[-1].step}" if len(ms) > 1 else str(ms[0].step) if ms else "-"
            shown = [f"{v:.6g}" for v in (values[-1], min(values), max(values))] if values else ["-"] * 3
            rows.append([k, str(len(ms)), steps, *shown])
    table = _whole_cells(f"metrics of run {rid}", headers, rows)
    console().print(table)
    if plot is not None:
        click.echo(f"wrote {plot}")


def _whole_cells(title: str, headers: list[str], rows: list[list[str]]) -> Any:
    """A table whose cells are never cut short (names up to 48 characters)."""
    from rich.table import Column, Table

    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    columns = [Column(h, min_width=min(w, 48), no_wrap=True) for h, w in zip(headers, widths, strict=True)]
    table = Table(*columns, title=title)
    for row in rows:
        table.add_row(*row)
    return table


def _plot(history: dict[str, list[Any]], path: Path, title: str) -> None:
    """One line per metric over its steps (a point for a single value)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    try:
        for key, ms in history.items():
            ax.plot(
                [m.step for m in ms], [m.value for m in ms], marker="o" if len(ms) < 30 else None, label=key
            )
        ax.set_xlabel("step")
        ax.set_ylabel("value")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(history) <= 12:
            ax.legend(fontsize="small")
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)


@click.command("open")
@click.argument("run_id")
@out_option("Write the report to this file (default: a temporary file).")
@click.option("--no-browser", is_flag=True, help="Only write the file and print its path.")
@json_verb
def runs_open(ctx: click.Context, run_id: str, out: Path | None, no_browser: bool, as_json: bool) -> None:
    """Write a run's HTML report (its evaluation report) and open it in a browser.

    The file's path is printed either way; no browser is started with --no-browser, with
    --json, or where none can show (no display, and no BROWSER set).

    \b
    Example:
      carnet runs open 3f2a9c0d
      carnet runs open 3f2a9c0d -o report.html --no-browser
    """
    client = get_client(ctx)
    rid = client.resolve_run_id(run_id)
    pages = [a.path for a in client.list_artifacts(rid) if a.path.endswith(".html")]
    if not pages:
        raise NotFound(
            f"run {rid} has no HTML report; training and evaluation runs have one (see: carnet runs "
            f"artifacts {rid[:12]})",
            field="run_id",
        )
    page = REPORT_PATH if REPORT_PATH in pages else sorted(pages)[0]
    if out is None:
        out = Path(tempfile.mkdtemp(prefix="carnet-report-")) / f"{rid[:12]}-{PurePosixPath(page).name}"
    if out.exists() and out.is_dir():
        raise InvalidInput(f"-o {out} is a folder; name the HTML file to write", field="out")
    out.parent.mkdir(parents=True, exist_ok=True)
    client.download_artifact(rid, page, out)
    opened = False
    if not no_browser and not as_json and has_display():
        import webbrowser

        opened = webbrowser.open(out.resolve().as_uri())
    if as_json:
        emit_json({"run_id": rid, "artifact": page, "path": str(out), "opened": opened})
        return
    click.echo(f"wrote {out}" + ("" if opened or no_browser else " (no browser to open it here)"), err=False)
    if len(pages) > 1:
        others = ", ".join(p for p in sorted(pages) if p != page)
        click.echo(f"other reports: {others} (carnet runs artifacts {rid[:12]} PATH -o DIR)", file=sys.stdout)
