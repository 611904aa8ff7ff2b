"""The REST API app of ``carnet server``: the service layer under ``/api/v1``, OpenAPI, ``/healthz``,
Prometheus ``/metrics`` (:mod:`carnet.server.api_metrics`).

Handlers are thin: parse (pydantic wire models), check the caller's role, call one service, render.
Errors are ``application/problem+json`` (:mod:`carnet.server.api.errors`); request bodies are
limited (413), uploads more generously than JSON bodies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carnet.config import ServerPolicy
from carnet.errors import InvalidInput
from carnet.operations import API_PREFIX, OPERATIONS
from carnet.schemas import PROBLEM_MEDIA_TYPE, Problem
from carnet.server.api import training
from carnet.server.api.auth import ApiState
from carnet.server.api.errors import PayloadTooLarge, install_error_handlers
from carnet.server.api.routes import add_operations
from carnet.server.api_metrics import install_metrics
from carnet.server.background import ThreadServer, start_server
from carnet.services import Services

__all__ = [
    "API_PREFIX",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_JSON_BYTES",
    "UPLOAD_ROUTES",
    "ApiServer",
    "create_api_app",
    "iter_routes",
    "serve_api_in_thread",
]

#: largest upload (artifact, dataset file) by default
DEFAULT_MAX_BODY_BYTES = 1024 * 1024 * 1024
#: largest JSON request body by default
DEFAULT_MAX_JSON_BYTES = 16 * 1024 * 1024
#: routes whose body is a streamed file: they get ``max_body_bytes``, every other ``max_json_bytes``
#: (the web UI's dataset upload form streams a file too)
UPLOAD_ROUTES = frozenset(op.name for op in OPERATIONS if op.upload) | {"ui_dataset_upload"}

_PROBLEM = {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {**_PROBLEM, "description": text}
    for status, text in (
        (401, "Authentication required"),
        (403, "Permission denied"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Request body too large"),
        (422, "Invalid input (the field is named)"),
    )
}


class BodyLimit:
    """ASGI middleware: 413 problem+json for a request body over the limit of its route.

    The limit is chosen when the body is first read, once routing has named the route: uploads get
    ``max_body_bytes``, every other body ``max_json_bytes``. A declared ``Content-Length`` over it is
    refused before anything is read; a body sent without one is counted as it arrives.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        limit: int | None = None

        async def limited() -> Message:
            nonlocal received, limit
            if limit is None:
                upload = getattr(scope.get("route"), "name", None) in UPLOAD_ROUTES
                limit = self.max_body_bytes if upload else self.max_json_bytes
                declared = dict(scope.get("headers") or []).get(b"content-length", b"")
                if declared.isdigit() and int(declared) > limit:
                    raise PayloadTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        await self.app(scope, limited, send)


def iter_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route of an app, descending into included routers however FastAPI keeps them."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from iter_routes(inner.routes)
        else:
            yield route


def create_api_app(
    services: Services,
    *,
    require_auth: bool,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_json_bytes: int | None = None,
    training_slots: int = 1,
    policy: ServerPolicy | None = None,
    ui: bool = True,
) -> FastAPI:
    """The FastAPI app of the REST API over ``services`` (and the web UI under ``/``).

    Args:
        services: the workspace's services (the server's own actor is used when auth is off).
        require_auth: every route but ``/healthz`` and the OpenAPI document needs
            ``Authorization: Bearer <token>``, checked by ``services.auth``.
        max_body_bytes: largest upload (artifact or dataset file); larger bodies get 413.
        max_json_bytes: largest JSON body (default: 16 MiB, at most ``max_body_bytes``).
        training_slots: trainings (train, AutoML, evaluate, reproduce) run at once; others queue.
        policy: what callers may make the server's machine do (notifier folder, hosts allowed
            beside public ones); default: from ``CARNET_NOTIFIER_*`` and ``carnet.toml``.
        ui: also serve the web UI (:mod:`carnet.server.ui`) under ``/``.

    Raises:
        InvalidInput: a limit is not positive, no training slot, or auth is required without an
            auth service.
    """
    json_limit = min(DEFAULT_MAX_JSON_BYTES, max_body_bytes) if max_json_bytes is None else max_json_bytes
    if max_body_bytes < 1 or json_limit < 1:
        raise InvalidInput("request size limits must be positive numbers of bytes", field="max_body_bytes")
    app = FastAPI(
        title="carnet",
        version=version("carnet"),
        summary="Datasets, runs, models and the audit ledger of a carnet workspace.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,
    )
    _problem_media_types(app)
    app.state.carnet = ApiState(
        services,
        require_auth=require_auth,
        max_body_bytes=max_body_bytes,
        max_json_bytes=json_limit,
        policy=policy,
    )
    install_error_handlers(app)
    training.configure(app, slots=training_slots)
    app.add_middleware(BodyLimit, max_body_bytes=max_body_bytes, max_json_bytes=json_limit)
    install_metrics(app, app.state.carnet.services)  # GET /metrics; counts every request
    add_operations(app, _RESPONSES)
    if ui:
        from carnet.server.ui import add_ui

        add_ui(app)
    return app


def _problem_media_types(app: FastAPI) -> None:
    """Document error responses as ``application/problem+json`` (FastAPI puts a model's schema under
    the route's JSON media type)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            for item in doc.get("paths", {}).values():
                for operation in item.values():
                    for status, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if str(status)[:1] in "45" and PROBLEM_MEDIA_TYPE in content:
                            content[PROBLEM_MEDIA_TYPE] = content.pop("application/json", {})
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


@dataclass
class ApiServer(ThreadServer):
    """A REST API server running in a thread; ``stop()`` shuts it down."""

    app: Any = None


def serve_api_in_thread(app: FastAPI, *, host: str = "127.0.0.1", startup_timeout: float = 30.0) -> ApiServer:
    """Run ``app`` on uvicorn on a free port of ``host``, in a daemon thread; returns once it listens.

    Raises:
        RuntimeError: the server did not start within ``startup_timeout`` seconds.
    """
    url, server, thread = start_server(
        app, host=host, lifespan="off", startup_timeout=startup_timeout, name="carnet-api-server"
    )
    return ApiServer(url, server, thread, app=app)
