"""``carnet serve``: serve registered models over HTTP (Open Inference Protocol v2, MLflow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from carnet.cli.render import get_client, given_uri, json_verb, refuse_server

__all__ = ["OneLetterApart", "serve"]

#: what ``carnet serve`` and ``carnet server`` are, in their usage errors
_WHAT = {"serve": "model inference", "server": "the REST API"}


class _Confused(click.ClickException):
    """A usage meant for the other command: one line ``error: ...``, exit 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.message}", err=True)


class OneLetterApart(click.Command):
    """``carnet serve`` or ``carnet server``: an option only the other one has, or arguments given to
    ``server`` (which takes none, e.g. a model reference), is one line naming the other command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        this = "serve" if self.name == "serve" else "server"
        other = "server" if this == "serve" else "serve"
        ctx.allow_extra_args = True  # extra arguments are answered below, naming the other command
        try:
            rest = super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            root = ctx.find_root().command
            if root is not self and exc.option_name in _options(ctx, root):  # e.g. --uri of carnet itself
                raise _Confused(
                    f"{exc.option_name} goes before the command: carnet {exc.option_name} ... {this}"
                ) from None
            if exc.option_name in _options(ctx, other):
                raise _Confused(
                    f"{exc.option_name} is an option of carnet {other} ({_WHAT[other]}), "
                    f"not of carnet {this} ({_WHAT[this]})"
                ) from None
            raise
        if rest:
            given = " ".join(rest)
            raise _Confused(
                f"carnet {this} ({_WHAT[this]}) takes no arguments, got {given!r}; "
                f"to serve models for inference use: carnet {other} {given}"
            )
        return rest


def _options(ctx: click.Context, command: str | click.Command) -> set[str]:
    """The option spellings of a command: a click command, or a sibling's name under carnet's root."""
    if isinstance(command, str):
        root = ctx.find_root()
        found = root.command.get_command(root, command) if isinstance(root.command, click.Group) else None
        if found is None:
            return set()
        command = found
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


@click.command(cls=OneLetterApart)
@click.argument("refs", nargs=-1)
@click.option(
    "--deployment",
    "deployments",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A deployment YAML to store (audited) and serve (repeatable).",
)
@click.option("--endpoint", "endpoints", multiple=True, help="A stored deployment to serve (repeatable).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--max-batch-rows", default=64, show_default=True, type=int, help="Rows per predict call at most."
)
@click.option(
    "--max-wait-ms", default=2.0, show_default=True, type=float, help="How long a batch waits to fill."
)
@click.option(
    "--max-queue-rows", default=4096, show_default=True, type=int, help="Queued rows per model before 503."
)
@click.option("--max-body-mb", default=32.0, show_default=True, type=float, help="Larger requests get 413.")
@click.option("--poll", default=1.0, show_default=True, type=float, help="Seconds between route checks.")
@click.option(
    "--log-pii",
    type=click.Choice(["keep", "drop", "pseudonymize"]),
    default="keep",
    show_default=True,
    help="What the prediction log does with inputs flagged as personal data in the training data.",
)
@click.option(
    "--log-pii-key",
    help="The key of --log-pii pseudonymize: env:VARIABLE or file:PATH (as in data deidentify).",
)
@click.option("--no-prediction-log", is_flag=True, help="Do not record predictions.")
@click.option("--allow-pickle", is_flag=True, help="Also serve versions stored with pickle (they run code).")
@click.option("--log-rows", default=50_000, show_default=True, type=int, help="Rows per prediction-log file.")
@click.option(
    "--log-seconds", default=60.0, show_default=True, type=float, help="Seconds per prediction-log file."
)
@json_verb
def serve(
    ctx: click.Context,
    refs: tuple[str, ...],
    deployments: tuple[Path, ...],
    endpoints: tuple[str, ...],
    host: str,
    port: int,
    max_batch_rows: int,
    max_wait_ms: float,
    max_queue_rows: int,
    max_body_mb: float,
    poll: float,
    no_prediction_log: bool,
    log_pii: str,
    log_pii_key: str | None,
    allow_pickle: bool,
    log_rows: int,
    log_seconds: float,
    as_json: bool,
) -> None:
    """Serve models for inference; the REST API is carnet server.

    Open Inference Protocol v2, MLflow /invocations and Prometheus /metrics.

    Each reference (NAME@alias, NAME/3) becomes the endpoint NAME. Deployments add weighted
    canaries, shadows and sticky routing. Alias moves (promotion, rollback) and deployment
    changes take effect within seconds, without a restart. Without references or
    deployments, every stored deployment is served.

    \b
    Example:
      carnet serve churn@production --port 8080
      carnet serve --deployment canary.yaml
    """
    import sys

    import uvicorn

    from carnet.errors import InvalidInput
    from carnet.server.runtime import BatchingConfig, ServingRuntime
    from carnet.server.v2 import create_app

    for name, value in (("max-batch-rows", max_batch_rows), ("max-queue-rows", max_queue_rows)):
        if value < 1:
            raise InvalidInput(f"--{name} must be at least 1", field=name)
    if max_wait_ms < 0 or max_body_mb <= 0 or poll <= 0:
        raise InvalidInput("--max-wait-ms must be >= 0, --max-body-mb and --poll > 0", field="options")
    refuse_server("carnet serve", given_uri(ctx))
    client = get_client(ctx)
    services = client.services
    names = list(endpoints)
    for file in deployments:
        names.append(services.deployments.set(file).endpoint)
    runtime = ServingRuntime(
        services,
        refs,
        endpoints=names if (names or refs) else None,
        batching=BatchingConfig(max_batch_rows, max_wait_ms, max_queue_rows),
        poll_interval=poll,
        allow_pickle=allow_pickle,
    )
    runtime.check()  # a wrong reference or an unloadable model: one line, exit 2, before listening
    predlog = None
    if not no_prediction_log:
        predlog = services.deployments.prediction_log(
            max_rows_per_file=log_rows, max_seconds_per_file=log_seconds, pii=log_pii, key=log_pii_key
        )

    def started() -> None:
        runtime.announce(host, port)
        url = f"http://{host}:{port}"
        info = {name: sorted(e.routes) for name, e in runtime.endpoints.items()}
        if as_json:
            click.echo(json.dumps({"url": url, "endpoints": info}))
        else:
            for name, routes in info.items():
                click.echo(f"serving {name} -> {', '.join(routes)}  at {url}/v2/models/{name}/infer")
            click.echo(f"MLflow-compatible: {url}/invocations  metrics: {url}/metrics  (Ctrl-C stops)")

    app = create_app(
        runtime, predlog=predlog, max_body_bytes=int(max_body_mb * 1024 * 1024), on_started=started
    )
    # hand the interpreter lock back to the event loop sooner when the predict thread or the
    # prediction-log writer is busy: shorter tail latency for a small cost in throughput
    sys.setswitchinterval(0.0005)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
