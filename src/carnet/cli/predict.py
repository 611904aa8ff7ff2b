"""``carnet predict``: batch inference over a dataset version or a file of any size."""

from __future__ import annotations

import re
import sys
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
    rich_progress,
)
from carnet.errors import InvalidInput

__all__ = ["parse_bytes", "predict"]

_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2, "mib": 1024**2}
_UNITS |= {"g": 1024**3, "gb": 1024**3, "gib": 1024**3}


def parse_bytes(text: str, option: str) -> int:
    """``64MB``, ``512k``, ``2GiB`` or a plain number of bytes (InvalidInput naming ``option``)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = found.group(2).lower() if found else ""
    if found is None or unit not in _UNITS:
        raise InvalidInput(
            f"{option} {text!r}: write a size such as 512MB, 64k or 2GiB", field=option.lstrip("-")
        )
    return int(float(found.group(1)) * _UNITS[unit])


@click.command()
@click.argument("ref")
@click.argument("data")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Parquet file to write.",
)
@executor_option
@click.option("--jobs", "-j", type=int, help="Workers at once (local: processes; default 1 = this process).")
@click.option(
    "--batch-rows", type=click.IntRange(min=1), default=65_536, show_default=True, help="Rows per batch."
)
@click.option("--with-proba", is_flag=True, help="Add proba_<class> columns (classifiers).")
@click.option(
    "--explain",
    type=click.Choice(["shap", "lime"]),
    help="Add per-row attributions contrib.<feature> (slow: use on modest tables).",
)
@click.option("--id-column", help="Input column holding the request ids (default: RUN-ROW numbers).")
@click.option(
    "--log", "log_", is_flag=True, help="Append the predictions to the prediction log (endpoint 'batch')."
)
@click.option(
    "--max-driver-memory", metavar="SIZE", help="Most of the stream this process holds at once, e.g. 256MB."
)
@click.option("--allow-pickle", is_flag=True, help="Load a model stored with pickle (trust its source).")
@json_verb
def predict(
    ctx: click.Context,
    ref: str,
    data: str,
    out: Path,
    executor: str | None,
    jobs: int | None,
    batch_rows: int,
    with_proba: bool,
    explain: str | None,
    id_column: str | None,
    log_: bool,
    max_driver_memory: str | None,
    allow_pickle: bool,
    as_json: bool,
) -> None:
    """Score a dataset version or a file of any size with a model version: batch inference, streamed.

    DATA is a dataset version (NAME@V) or a CSV/Parquet file; REF a model version (NAME/3,
    NAME@alias); the predictions go to the Parquet file -o.

    The input streams in batches through the executor, so any size fits in bounded memory; the
    output keeps the input's order with a request id per row, and a batch_prediction run records
    the model version, the input and output digests, the row count and the throughput.

    \b
    Example:
      carnet predict churn@production customers@4 -o scores.parquet --with-proba
      carnet predict churn/3 big.parquet -o out.parquet --executor ray:local --batch-rows 200000
    """
    limit = parse_bytes(max_driver_memory, "--max-driver-memory") if max_driver_memory else None
    client = get_client(ctx)
    options: dict[str, Any] = {
        "batch_rows": batch_rows,
        "with_proba": with_proba,
        "explain": explain,
        "id_column": id_column,
        "log": log_,
        **not_none(executor=executor, jobs=jobs, max_driver_memory=limit),
    }
    if allow_pickle:
        options["allow_pickle"] = True
    with _rows_progress(not as_json) as progress:
        result = client.predict_batch(ref, data, out, progress=progress, **options)
    if as_json:
        emit_json(result)
        return
    console().print(
        f"[green]wrote[/green] {result['rows']:,} predictions of {result['model']} to {result['output']} "
        f"in {result['seconds']:.1f}s ({result['rows_per_second']:,.0f} rows/s, {result['executor']}); "
        f"run {result['run_id']}"
    )


class _rows_progress:
    """A rich progress bar of rows scored (known total or not); silent without a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Any:
        if not self.enabled:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn

        self._progress = rich_progress(BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self._progress.start()
        self._task = self._progress.add_task("rows", total=None)

        def update(done: int, total: int | None) -> None:
            self._progress.update(self._task, completed=done, total=total)

        return update

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
