"""The REST API of ``carnet server``: the service layer under ``/api/v1`` (FastAPI on uvicorn)."""

from carnet.server.api.app import (
    API_PREFIX,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_JSON_BYTES,
    ApiServer,
    create_api_app,
    serve_api_in_thread,
)
from carnet.server.api.auth import PUBLIC, ROUTE_ROLES
from carnet.server.api.errors import ERROR_STATUS, status_for

__all__ = [
    "API_PREFIX",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_JSON_BYTES",
    "ERROR_STATUS",
    "PUBLIC",
    "ROUTE_ROLES",
    "ApiServer",
    "create_api_app",
    "serve_api_in_thread",
    "status_for",
]
