"""An inference server running in a thread of this process, on a free port of 127.0.0.1.

For the quickstart, notebooks and tests: the same app as ``carnet serve`` (real uvicorn, real
HTTP), started with :func:`serve_in_thread` and stopped gracefully (the prediction log flushed).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BackgroundServer", "free_port", "serve_in_thread"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class BackgroundServer:
    """A running server: its base URL, runtime and prediction log; ``stop()`` shuts it down."""

    url: str
    runtime: Any
    predlog: Any
    server: Any
    thread: threading.Thread

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting requests, finish those in flight, flush the prediction log."""
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_in_thread(
    services: Any,
    refs: Sequence[str] = (),
    *,
    endpoints: Sequence[str] | None = None,
    predlog: Any = None,
    log_predictions: bool = False,
    poll_interval: float = 1.0,
    startup_timeout: float = 60.0,
    **app_options: Any,
) -> BackgroundServer:
    """Serve ``refs`` (and deployed ``endpoints``) from a thread; returns once the server is ready.

    With ``log_predictions`` the prediction log goes to the workspace's artifact store, as with
    ``carnet serve`` (files are written at shutdown at the latest); ``predlog`` passes one instead.
    Other keyword arguments go to :func:`carnet.server.v2.create_app` or, for
    ``batching`` and ``allow_pickle``, to the runtime.

    Raises:
        RuntimeError: the server stopped or was not ready within ``startup_timeout`` seconds.
    """
    import uvicorn

    from carnet.server.runtime import ServingRuntime
    from carnet.server.v2 import create_app

    runtime_options = {k: app_options.pop(k) for k in ("batching", "allow_pickle") if k in app_options}
    runtime = ServingRuntime(
        services, list(refs), endpoints=endpoints, poll_interval=poll_interval, **runtime_options
    )
    runtime.check()
    if predlog is None and log_predictions:
        predlog = services.deployments.prediction_log()
    app = create_app(runtime, predlog=predlog, **app_options)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="carnet-background-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not (server.started and runtime.ready):
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError("the background server did not become ready")
        time.sleep(0.02)
    return BackgroundServer(f"http://127.0.0.1:{port}", runtime, predlog, server, thread)
