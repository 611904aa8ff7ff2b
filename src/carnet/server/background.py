"""An inference server running in a thread of this process, on a free port of 127.0.0.1.

For the quickstart, notebooks and tests: the same app as ``carnet serve`` (real uvicorn, real
HTTP), started with :func:`serve_in_thread` and stopped gracefully (the prediction log flushed).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

__all__ = ["BackgroundServer", "ThreadServer", "free_port", "serve_in_thread", "start_server"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ThreadServer:
    """A uvicorn server running in a daemon thread of this process; ``stop()`` shuts it down."""

    url: str
    server: Any
    thread: threading.Thread

    def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting requests and finish those in flight (then the app's shutdown runs)."""
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    app: Any,
    *,
    host: str = "127.0.0.1",
    lifespan: Literal["on", "off"] = "on",
    ready: Callable[[], bool] = lambda: True,
    startup_timeout: float = 60.0,
    name: str = "carnet-background-server",
) -> tuple[str, Any, threading.Thread]:
    """Run ``app`` on uvicorn on a free port of ``host`` in a daemon thread; returns ``(url, server,
    thread)`` once the server listens and ``ready()`` holds.

    Raises:
        RuntimeError: the server stopped or was not ready within ``startup_timeout`` seconds.
    """
    import uvicorn

    port = free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not (server.started and ready()):
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"{name} did not become ready")
        time.sleep(0.02)
    return f"http://{host}:{port}", server, thread


@dataclass
class BackgroundServer(ThreadServer):
    """A running inference server: its base URL, runtime and prediction log (flushed by ``stop()``)."""

    runtime: Any = None
    predlog: Any = None


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
    url, server, thread = start_server(app, ready=lambda: runtime.ready, startup_timeout=startup_timeout)
    return BackgroundServer(url, server, thread, runtime=runtime, predlog=predlog)
