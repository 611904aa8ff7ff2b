"""The API's routes, built from the operation table (:data:`carnet.operations.OPERATIONS`).

Each operation's handler is the function of its name in ``carnet.server.api.<area>``: it parses
(its signature), checks the caller's role, calls the services and renders. Method, path, status,
answer model and OpenAPI documentation come from the table; a handler whose request body does not
match the table's is refused when the app is built.
"""

from __future__ import annotations

import inspect
import types
from functools import cache
from importlib import import_module
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response, StreamingResponse

from carnet import schemas
from carnet.operations import API_PREFIX, OPERATIONS, Operation

__all__ = ["add_operations", "handler"]

_BINARY_SCHEMA = {"schema": {"type": "string", "format": "binary"}}
_TEXT_SCHEMA = {"schema": {"type": "string"}}
#: OpenAPI request bodies of the operations whose body is not a JSON model
_RAW_BODIES: dict[str, dict[str, Any]] = {
    "binary": {"application/octet-stream": _BINARY_SCHEMA},
    "binary|csv": {"application/octet-stream": _BINARY_SCHEMA, "text/csv": _TEXT_SCHEMA},
    "policy": {
        "application/json": {"schema": {"type": "object"}},
        "application/yaml": _TEXT_SCHEMA,
        "text/plain": _TEXT_SCHEMA,
    },
}
#: OpenAPI 200 answers of the operations that do not answer with a JSON model
_ANSWERS: dict[str, tuple[dict[str, Any], str]] = {
    "file": ({"application/octet-stream": {}}, "The file's bytes"),
    "card": (
        {"text/markdown": {}, "text/html": {}, "application/json": {}},
        "The card as Markdown, self-contained HTML, or its data as JSON",
    ),
    "zip": ({"application/zip": {}}, "The dossier zip"),
}


def handler(op: Operation) -> Any:
    """The function that answers ``op``."""
    return getattr(import_module(f"carnet.server.api.{op.area}"), op.name)


def _model(name: str) -> Any:
    """A model of :mod:`carnet.schemas` by the table's name (``list[X]``, ``A | B``, ``dict``)."""
    if name == "dict":
        return dict[str, Any]
    if name.startswith("list[") and name.endswith("]"):
        return list[_model(name[5:-1])]  # type: ignore[misc]
    if "|" in name:
        left, right = (_model(part.strip()) for part in name.split("|", 1))
        return left | right
    return getattr(schemas, name)


def _check_body(op: Operation, endpoint: Any) -> None:
    """Refuse a handler whose JSON body is not the table's model."""
    params = inspect.signature(endpoint, eval_str=True).parameters
    body = params.get("body")
    if op.body is None or op.body in _RAW_BODIES or op.body in ("object", "form"):
        if body is not None:
            raise TypeError(f"{op.name}: the table names no JSON model, the handler takes one")
        return
    expected = _model(op.body.rstrip("?"))
    if op.body.endswith("?"):
        expected = expected | None
    if body is None or body.annotation != expected:
        found = None if body is None else body.annotation
        raise TypeError(f"{op.name}: the table says body {op.body}, the handler takes {found}")


@cache
def _stream_schema() -> dict[str, Any]:
    return schemas.TrainingEventOut.model_json_schema()


def _route_options(op: Operation) -> dict[str, Any]:
    """What FastAPI needs beyond the path and the handler for ``op``."""
    options: dict[str, Any] = {"status_code": op.status, "tags": list(op.tags)}
    responses: dict[int | str, dict[str, Any]] = {}
    if op.returns == "json":
        options["response_model"] = _model(op.out) if op.out else None
    elif op.returns == "empty":
        options["response_class"] = Response
    elif op.returns == "stream":
        options["response_class"] = StreamingResponse
        responses[200] = {
            "description": "The training's events, one JSON object per line, ending with `result` or `error`",
            "content": {schemas.NDJSON_MEDIA_TYPE: {"schema": _stream_schema()}},
        }
    else:
        content, text = _ANSWERS[op.returns]
        options["response_class"] = Response
        responses[200] = {"content": content, "description": text}
    if op.creates:
        responses[201] = {"model": _model(op.out or "dict"), "description": "A new version was stored"}
    if op.body in _RAW_BODIES:
        options["openapi_extra"] = {"requestBody": {"required": True, "content": _RAW_BODIES[op.body]}}
    options["responses"] = responses
    return options


def add_operations(app: FastAPI, problems: dict[int | str, dict[str, Any]]) -> None:
    """Add a route for every operation of the table, in its order; ``problems`` documents the
    error answers of the API's routes."""
    for op in OPERATIONS:
        endpoint = handler(op)
        if not isinstance(endpoint, types.FunctionType):
            raise TypeError(f"carnet.server.api.{op.area}.{op.name} is not a function")
        _check_body(op, endpoint)
        options = _route_options(op)
        if op.api:
            options["responses"] = {**problems, **options["responses"]}
        app.add_api_route(
            (API_PREFIX if op.api else "") + op.path,
            endpoint,
            methods=[op.method],
            name=op.name,
            **options,
        )
