"""``carnet server``: the REST API of a workspace over HTTP (FastAPI on uvicorn)."""

from __future__ import annotations

import ipaddress
import json
import sys
from typing import Any

import click

from carnet.cli.render import has_display, json_verb, parse_duration, refuse_server
from carnet.cli.serve import OneLetterApart

__all__ = ["is_loopback", "server", "ui"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback interface (``127.0.0.0/8``, ``::1``, ``localhost``)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@click.command(cls=OneLetterApart)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--require-auth/--no-auth",
    "require_auth",
    default=None,
    help="Require an API token on every route but /healthz (default: on unless the host is loopback).",
)
@click.option("--uri", metavar="URI", help="Workspace to serve (default: carnet's --uri, CARNET_URI ...).")
@click.option(
    "--artifacts", metavar="URL", help="Artifact root (file:// or s3://); required with PostgreSQL."
)
@click.option(
    "--max-body-mb", default=1024.0, show_default=True, type=float, help="Largest upload; larger get 413."
)
@click.option(
    "--max-json-mb", default=16.0, show_default=True, type=float, help="Largest JSON body; larger get 413."
)
@click.option(
    "--training-slots",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Trainings (train, automl, evaluate, reproduce) run at once; more wait in a queue.",
)
@click.option(
    "--anchor-every",
    metavar="DURATION",
    help="Anchor the audit ledger at start and every DURATION (e.g. 10m) to CARNET_AUDIT_WITNESSES.",
)
@json_verb
def server(
    ctx: click.Context,
    host: str,
    port: int,
    require_auth: bool | None,
    uri: str | None,
    artifacts: str | None,
    max_body_mb: float,
    max_json_mb: float,
    training_slots: int,
    anchor_every: str | None,
    as_json: bool,
    open_browser: bool = False,
) -> None:
    """Run the REST API and web UI; for inference use carnet serve.

    The REST API is under /api/v1, the web UI under / (see carnet ui). Errors are
    application/problem+json naming the field; the OpenAPI document is at
    /api/v1/openapi.json and liveness at /healthz. Authentication is required whenever the
    server listens on anything but loopback (--no-auth is refused there) and can be required
    on loopback with --require-auth.

    \b
    Example:
      carnet server --port 5000
      carnet server --host 0.0.0.0 --port 5000 --uri postgresql+psycopg://db/carnet --artifacts s3://b/p
      carnet server --anchor-every 10m   # with CARNET_ANCHOR_KEY and CARNET_AUDIT_WITNESSES set
    """
    import uvicorn

    from carnet.client import Client
    from carnet.errors import InvalidInput
    from carnet.server.api import create_api_app

    loopback = is_loopback(host)
    if require_auth is False and not loopback:
        click.echo(
            f"error: --no-auth is refused on {host}: a server reachable from other machines requires "
            "authentication (listen on 127.0.0.1 to run without it)",
            err=True,
        )
        sys.exit(2)
    if max_body_mb <= 0 or max_json_mb <= 0:
        raise InvalidInput("--max-body-mb and --max-json-mb must be > 0", field="max-body-mb")
    auth = (not loopback) if require_auth is None else require_auth
    anchor_interval = parse_duration(anchor_every, "anchor-every", "10m or 1h") if anchor_every else None
    root = ctx.find_root().obj or {}
    refuse_server("carnet server", uri or root.get("uri"))
    client = Client(uri or root.get("uri"), artifacts=artifacts or root.get("artifacts"), create=False)
    ctx.call_on_close(client.close)
    app = create_api_app(
        client.services,
        require_auth=auth,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        max_json_bytes=int(max_json_mb * 1024 * 1024),
        training_slots=training_slots,
    )
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[Any] | None = None) -> None:
            await super().startup(sockets)
            if not self.started:
                return
            if as_json:
                info = {"url": url, "api": f"{url}/api/v1", "ui": f"{url}/", "auth": auth}
                click.echo(json.dumps({**info, "workspace": client.uri}))
            else:
                click.echo(
                    f"carnet server at {url}/api/v1 (authentication {'required' if auth else 'off'}), "
                    f"workspace {client.uri}; OpenAPI: {url}/api/v1/openapi.json; web UI: {url}/ "
                    " (Ctrl-C stops)"
                )
            if open_browser:
                _open_browser(f"{url}/")

    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=10
    )
    srv = _Server(config)
    anchoring = None
    if anchor_interval is not None:
        from carnet.server.scheduler import start_anchoring

        anchoring = start_anchoring(client.services, anchor_interval)
    try:
        srv.run()
    finally:
        if anchoring is not None:
            anchoring.stop()
    if not srv.started:
        click.echo(f"error: cannot listen on {host}:{port} (see the message above)", err=True)
        sys.exit(2)


def _open_browser(url: str) -> None:
    """Open ``url`` in a browser where one can show (a display, or BROWSER set); say so otherwise."""
    import webbrowser

    if has_display():
        webbrowser.open(url)
    else:
        click.echo(f"no browser can be opened here: open {url}", err=True)


@click.command()
@click.option("--port", default=5000, show_default=True, type=int, help="Port on 127.0.0.1.")
@click.option("--open", "open_browser", is_flag=True, help="Open the UI in a browser once it listens.")
@click.option("--uri", metavar="URI", help="Workspace to show (default: carnet's --uri, CARNET_URI ...).")
@click.option("--require-auth", is_flag=True, help="Ask for an API token even on 127.0.0.1.")
@json_verb
def ui(
    ctx: click.Context, port: int, open_browser: bool, uri: str | None, require_auth: bool, as_json: bool
) -> None:
    """Open the web UI of this workspace on 127.0.0.1 (no sign-in on loopback, as the API).

    The same server as carnet server: the UI at /, the REST API at /api/v1. Ctrl-C stops it.

    \b
    Example:
      carnet ui --open
      carnet ui --port 8000 --uri ./my-workspace
    """
    ctx.invoke(
        server,
        host="127.0.0.1",
        port=port,
        require_auth=True if require_auth else None,
        uri=uri,
        artifacts=None,
        max_body_mb=1024.0,
        max_json_mb=16.0,
        training_slots=1,
        anchor_every=None,
        as_json=as_json,
        open_browser=open_browser,
    )
