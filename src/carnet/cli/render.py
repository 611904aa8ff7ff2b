"""Shared CLI plumbing: the workspace client, JSON/table output, progress bars, error exits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from carnet.errors import (
    ArtifactCorrupted,
    AuditChainBroken,
    CarnetError,
    GateFailed,
    HookRefused,
    InvalidInput,
)

__all__ = [
    "PROGRESS_THRESHOLD",
    "console",
    "emit_json",
    "fmt_num",
    "fmt_time",
    "fmt_value",
    "get_client",
    "given_uri",
    "handle_errors",
    "has_display",
    "json_option",
    "json_verb",
    "not_none",
    "parse_duration",
    "progress_bar",
    "rich_progress",
    "spinner",
    "stage_progress",
    "to_jsonable",
]

F = TypeVar("F", bound=Callable[..., Any])
PROGRESS_THRESHOLD = 64 * 1024 * 1024  # files above this size get a progress bar


def console(stderr: bool = False) -> Any:
    """A rich console (created on demand: rich is only loaded by the CLI).

    Text lines are not wrapped by rich (``soft_wrap``): a printed command stays on one line to copy;
    tables still fit the terminal's width.
    """
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def to_jsonable(obj: Any) -> Any:
    """Domain objects, enums, paths and NaN -> plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return to_jsonable(obj.to_dict())
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    return obj


def emit_json(obj: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(to_jsonable(obj), indent=2, sort_keys=False, default=str))


def fmt_time(ts: float | None) -> str:
    """Seconds since the epoch -> local ``YYYY-MM-DD HH:MM:SS``."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def fmt_num(value: Any, digits: int = 4) -> str:
    """A number to ``digits`` significant digits; ``-`` for None."""
    return "-" if value is None else f"{float(value):.{digits}g}"


def fmt_value(value: Any, digits: int = 4) -> str:
    """A table cell: a float to ``digits`` significant digits, ``-`` for None, anything else as text."""
    return fmt_num(value, digits) if value is None or isinstance(value, float) else str(value)


def executor_option(f: F) -> F:
    """``--executor``: where the work runs (default: CARNET_EXECUTOR / carnet.toml / local)."""
    return click.option(
        "--executor",
        metavar="BACKEND",
        help="local, ray:local, ray://HOST:PORT, dask:local or dask://HOST:PORT "
        "(default: CARNET_EXECUTOR, carnet.toml, else local).",
    )(f)


def not_none(**values: Any) -> dict[str, Any]:
    """The keyword arguments whose value is not None: the options given, for the SDK call (the others
    keep the SDK's defaults)."""
    return {key: value for key, value in values.items() if value is not None}


def json_option(f: F) -> F:
    """Add ``--json`` (machine-readable output) to a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")(f)


def out_option(
    help: str,
    *,
    required: bool = False,
    dir_okay: bool = False,
    legacy: tuple[str, ...] = (),
) -> Callable[[F], F]:
    """``-o/--out PATH``, the one spelling of an output file (or folder) in every command.

    ``legacy`` names older spellings (``--output``, ``--report``) still accepted, hidden from help.
    """

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def inner(*args: Any, **kwargs: Any) -> Any:
            old = kwargs.pop("legacy_out", None)
            if kwargs.get("out") is None:
                kwargs["out"] = old
            if required and kwargs["out"] is None:
                raise click.UsageError("Missing option '-o' / '--out'.")
            return f(*args, **kwargs)

        path = click.Path(dir_okay=dir_okay, path_type=Path)
        text = f"{help} (required)" if required else help
        wrapped: Any = click.option("-o", "--out", "out", type=path, help=text)(inner)
        if legacy:
            wrapped = click.option(*legacy, "legacy_out", type=path, hidden=True)(wrapped)
        return cast("F", wrapped)

    return decorate


def given_uri(ctx: click.Context) -> str | None:
    """The workspace given to ``carnet`` itself (``--uri`` or CARNET_URI); None when not given."""
    uri: str | None = (ctx.find_root().obj or {}).get("uri")
    return uri


def get_client(ctx: click.Context, *, create: bool = False) -> Any:
    """The workspace client for this invocation (``--uri`` / CARNET_URI / carnet.toml / ./.carnet)."""
    from carnet.client import Client

    obj = ctx.find_root().obj or {}
    client = Client(obj.get("uri"), artifacts=obj.get("artifacts"), create=create)
    ctx.call_on_close(client.close)
    return client


def refuse_server(command: str, uri: str | None) -> None:
    """A command that works on the workspace's own files and database (or serves it) refuses a server
    URI with one line naming the command (InvalidInput, field ``uri``)."""
    from carnet.config import chosen_uri

    target = chosen_uri(uri)
    if target.lower().startswith(("http://", "https://")):
        raise InvalidInput(
            f"{command} needs a local workspace, and {target} is a carnet server: run it where the "
            "server runs, on the server's workspace (a folder, sqlite:/// or postgresql URI)",
            field="uri",
        )


def parse_duration(text: str, option: str, example: str) -> float:
    """Seconds of a duration such as ``10m`` or ``1h`` (InvalidInput naming ``--option``, with
    ``example``, otherwise)."""
    from carnet.domain.monitors import WindowSpec

    spec = WindowSpec.parse(text, f"--{option}")
    if spec.kind != "time":
        raise InvalidInput(f"--{option} takes a duration such as {example}", field=option)
    return float(spec.size)


def exit_code_for(exc: CarnetError) -> int:
    """1 for a failed check (corruption, broken ledger, failed gate, a hook's refusal), 2 for a user
    mistake."""
    return 1 if isinstance(exc, ArtifactCorrupted | AuditChainBroken | GateFailed | HookRefused) else 2


def handle_errors(f: F) -> F:
    """Turn carnet errors into one line on stderr and the right exit code (never a traceback)."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except CarnetError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exit_code_for(exc))
        except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
            click.echo(f"error: {exc.strerror}: {exc.filename}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


def has_display() -> bool:
    """Whether a graphical browser can be shown here (a terminal browser is never started unasked)."""
    if sys.platform in ("darwin", "win32") or os.environ.get("BROWSER"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def json_verb(f: Callable[..., Any]) -> Callable[..., Any]:
    """What every verb shares below its own options: ``--json`` (listed last in its help), the click
    context as first argument, and carnet errors as one line on stderr with their exit code."""
    return json_option(click.pass_context(handle_errors(f)))


def rich_progress(*columns: Any) -> Any:
    """A rich progress display on stderr that is gone once done: each task's description, then
    ``columns``."""
    from rich.progress import Progress

    return Progress(
        "[progress.description]{task.description}",
        *columns,
        console=console(stderr=True),
        transient=True,
    )


@contextmanager
def spinner(text: str, enabled: bool = True) -> Iterator[Any]:
    """A spinner on stderr (a terminal only) while the work runs; yields its rich status, to update
    the text, or None when nothing is shown."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    with console(stderr=True).status(text) as status:
        yield status


@contextmanager
def progress_bar(
    description: str, total: int, *, threshold: int | None = None
) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr fed with byte counts, for work on files past 64 MiB.

    ``threshold`` is the file size compared with the limit (default ``total``); without a
    terminal the callback does nothing.
    """
    if (total if threshold is None else threshold) < PROGRESS_THRESHOLD or not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.progress import BarColumn, DownloadColumn, TimeRemainingColumn, TransferSpeedColumn

    with rich_progress(BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n: prog.advance(task, n)


@contextmanager
def stage_progress(enabled: bool) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar fed with (stage, done, total); silent when disabled."""
    if not enabled:
        yield lambda _stage, _done, _total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn

    with rich_progress(BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as prog:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = prog.add_task(stage, total=max(total, 1))
            prog.update(tasks[stage], completed=done, total=max(total, 1))

        yield update
