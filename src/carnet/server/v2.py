"""The inference app of ``carnet serve``: Open Inference Protocol v2, MLflow-compatible
``/invocations``, Prometheus ``/metrics``.

Handlers are thin and take the raw body (no pydantic on the hot path): the codecs parse it
straight into a DataFrame checked against the model's signature, the model's micro-batcher
predicts, and the response is encoded with orjson. Bad input is a 4xx in the protocol's error
form naming the field; a model that raises is a 500 carrying the request id; an overloaded
model answers 503 with ``Retry-After`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from carnet.errors import CarnetError, InvalidInput, NotFound, Overloaded
from carnet.inference.codecs import (
    encode_mlflow_response,
    encode_v2_binary_response,
    parse_v2_request,
)
from carnet.inference.mlflow import parse_mlflow_request
from carnet.inference.outputs import v2_datatype
from carnet.server.metrics import ServingMetrics
from carnet.server.runtime import Endpoint, LoadedModel, ServingRuntime
from carnet.server.v2_explain import add_explain_routes

__all__ = ["DEFAULT_MAX_BODY_BYTES", "UNKNOWN_ENDPOINT", "create_app"]

log = logging.getLogger("carnet.serve")

#: the ``endpoint`` (and ``model``) label of requests to a name that is not served
UNKNOWN_ENDPOINT = "__unknown__"

#: requests with a larger body get 413
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_JSON = "application/json"


class PayloadTooLarge(Exception):
    """The request body is over the configured limit."""


class Unencodable(Exception):
    """The model answered, but its answer has no form in the response (e.g. values JSON cannot hold)."""


def create_app(
    runtime: ServingRuntime,
    *,
    predlog: Any = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    metrics: ServingMetrics | None = None,
    on_started: Any = None,
) -> FastAPI:
    """The FastAPI app serving ``runtime``'s endpoints.

    Args:
        runtime: endpoints and their loaded models (started and stopped with the app).
        predlog: a :class:`carnet.inference.predlog.PredictionLog` receiving every prediction,
            closed (flushed) at shutdown; None logs nothing.
        max_body_bytes: larger request bodies get 413.
        metrics: where Prometheus metrics go (a fresh registry by default).
        on_started: called once every endpoint is loaded, before requests are accepted.
    """
    metrics = metrics or ServingMetrics()
    if runtime.on_batch is None:
        runtime.on_batch = metrics.observe_batch
    if runtime.on_monitors is None:
        runtime.on_monitors = metrics.set_monitors

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        if on_started is not None:
            on_started()
        try:
            yield
        finally:
            await runtime.stop()
            if predlog is not None:
                await asyncio.to_thread(predlog.close)

    app = FastAPI(title="carnet serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    _json_errors(app)
    app.state.runtime = runtime
    app.state.metrics = metrics
    background: set[asyncio.Task[None]] = set()  # shadow calls in flight (kept referenced)

    # -- health -------------------------------------------------------------------
    @app.get("/v2/health/live")
    async def live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        return _json({"ready": runtime.ready}, 200 if runtime.ready else 503)

    @app.get("/ping")
    async def ping() -> Response:
        return Response(b"\n", 200 if runtime.ready else 503, media_type="application/json")

    @app.get("/v2")
    async def server_metadata() -> Response:
        from importlib.metadata import version

        return _json({"name": "carnet", "version": version("carnet"), "extensions": ["binary_tensor_data"]})

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> Response:
        return _guard(lambda: _json(_metadata(runtime.endpoint(name))), "v2")

    @app.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: int) -> Response:
        return _guard(lambda: _json(_metadata(runtime.endpoint(name), version)), "v2")

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> Response:
        return _guard(lambda: _ready(runtime.endpoint(name)), "v2")

    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: int) -> Response:
        return _guard(lambda: _ready(runtime.endpoint(name), version), "v2")

    @app.get("/metrics")
    async def prometheus() -> Response:
        body, content_type = metrics.render(runtime, predlog)
        return Response(body, media_type=content_type)

    # -- inference ----------------------------------------------------------------
    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        return await _infer(request, "v2", name, None)

    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def infer_version(name: str, version: int, request: Request) -> Response:
        return await _infer(request, "v2", name, version)

    add_explain_routes(
        app, runtime, metrics, lambda r: _read_body(r, max_body_bytes), _failure, UNKNOWN_ENDPOINT
    )

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        return await _infer(request, "mlflow", None, None)

    @app.post("/endpoints/{name}/invocations")
    async def endpoint_invocations(name: str, request: Request) -> Response:
        return await _infer(request, "mlflow", name, None)

    async def _infer(request: Request, protocol: str, name: str | None, version: int | None) -> Response:
        started = time.perf_counter()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        # a name that is not served shares one label value: request paths never create series
        endpoint_name = (name if name in runtime.endpoints else UNKNOWN_ENDPOINT) if name is not None else "-"
        loaded = None
        try:
            body = await _read_body(request, max_body_bytes)
            endpoint = runtime.endpoint(name) if name is not None else runtime.default_endpoint()
            endpoint_name = endpoint.name
            if version is not None:
                loaded = endpoint.version(version)
            else:
                key = request.headers.get(endpoint.sticky_header) if endpoint.sticky_header else None
                loaded = endpoint.choose(key)
            signature = loaded.version.signature
            if protocol == "v2":
                parsed = parse_v2_request(
                    body, signature, header_length=request.headers.get("inference-header-content-length")
                )
                frame, request_id, requested = parsed.frame, parsed.id or rid, parsed.outputs
            else:
                frame = parse_mlflow_request(body, request.headers.get("content-type", _JSON), signature)
                request_id, requested = rid, None
            if requested is not None:  # an unknown output is refused before the model runs
                _check_requested(requested, loaded)
            outputs = await loaded.batcher.submit(frame)
            ref = loaded.version
            header_length = None
            try:
                if protocol == "v2":
                    content, header_length = encode_v2_binary_response(
                        ref.name, str(ref.version), request_id, outputs, requested, parsed.binary
                    )
                else:
                    content = encode_mlflow_response(outputs)
            except CarnetError:
                raise
            except Exception as exc:  # noqa: BLE001 - named as carnet's failure, not the model's
                raise Unencodable(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - every failure becomes the protocol's error form
            return _failure(exc, protocol, rid, endpoint_name, loaded, started, metrics)
        latency = time.perf_counter() - started
        metrics.observe_request(endpoint_name, ref.name, ref.version, protocol, 200, latency)
        if predlog is not None:
            _log_prediction(predlog, request_id, endpoint_name, loaded, frame, outputs, latency, shadow=False)
        for shadow in endpoint.shadows:
            task = asyncio.create_task(_shadow(shadow, frame, request_id, endpoint_name))
            background.add(task)
            task.add_done_callback(background.discard)
        headers, media_type = {"x-request-id": request_id}, _JSON
        if header_length is not None:  # the JSON header, then the binary tensor data
            headers["Inference-Header-Content-Length"] = str(header_length)
            media_type = "application/octet-stream"
        return Response(content, 200, media_type=media_type, headers=headers)

    async def _shadow(shadow: LoadedModel, frame: Any, request_id: str, endpoint_name: str) -> None:
        started = time.perf_counter()
        ref = shadow.version
        try:
            columns = shadow.version.signature.input_names()
            outputs = await shadow.batcher.submit(frame[columns] if columns else frame)
        except Exception as exc:  # noqa: BLE001 - a shadow never affects the caller
            metrics.observe_error(endpoint_name, ref.name, ref.version, "shadow", type(exc).__name__)
            return
        latency = time.perf_counter() - started
        metrics.observe_request(endpoint_name, ref.name, ref.version, "shadow", 200, latency)
        if predlog is not None:
            _log_prediction(predlog, request_id, endpoint_name, shadow, frame, outputs, latency, shadow=True)

    return app


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _failure(
    exc: Exception,
    protocol: str,
    rid: str,
    endpoint: str,
    loaded: LoadedModel | None,
    started: float,
    metrics: ServingMetrics,
) -> Response:
    model = loaded.version.name if loaded is not None else endpoint
    version = loaded.version.version if loaded is not None else 0
    headers = {"x-request-id": rid}
    if isinstance(exc, PayloadTooLarge):
        status, message, kind = 413, str(exc), "too_large"
    elif isinstance(exc, Overloaded):
        status, message, kind = 503, f"{model} is overloaded; retry later", "overloaded"
        headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, NotFound):
        status, message, kind = 404, exc.message, "not_found"
    elif isinstance(exc, InvalidInput) and exc.field == "content_type":
        status, message, kind = 415, exc.message, "bad_request"
    elif isinstance(exc, InvalidInput | CarnetError):
        status, message, kind = 400, exc.message, "bad_request"
    elif isinstance(exc, Unencodable):
        status, kind = 500, "encode_error"
        message = f"the model's answer could not be encoded ({exc}); request id {rid}"
        log.error("request %s: the answer of %s/%s could not be encoded: %s", rid, model, version, exc)
    else:
        status, kind = 500, "model_error"
        message = f"the model failed on this request ({type(exc).__name__}: {exc}); request id {rid}"
        log.error("request %s: model %s/%s raised %s: %s", rid, model, version, type(exc).__name__, exc)
    metrics.observe_request(endpoint, model, version, protocol, status, time.perf_counter() - started)
    metrics.observe_error(endpoint, model, version, protocol, kind)
    payload = _error(protocol, status, message)
    payload["request_id"] = rid
    field = getattr(exc, "field", None)
    if field and status in (400, 404, 415):
        payload["field"] = field
    return Response(orjson.dumps(payload), status, media_type=_JSON, headers=headers)


def _check_requested(requested: list[str], loaded: LoadedModel) -> None:
    """Refuse output names the model does not return, naming the ones it does (its v2 metadata)."""
    valid = [o["name"] for o in loaded.outputs]
    unknown = [n for n in requested if n not in valid]
    if unknown and valid:
        raise InvalidInput(
            f"unknown output(s) {', '.join(map(repr, unknown))}; {loaded.version.ref} returns "
            f"{', '.join(map(repr, valid))}",
            field="outputs",
        )


#: the MLflow ``error_code`` of each status (others are INTERNAL_ERROR)
_MLFLOW_CODES = {
    400: "BAD_REQUEST",
    404: "RESOURCE_DOES_NOT_EXIST",
    405: "BAD_REQUEST",
    413: "BAD_REQUEST",
    415: "BAD_REQUEST",
    503: "TEMPORARILY_UNAVAILABLE",
}


def _error(protocol: str, status: int, message: str) -> dict[str, Any]:
    """An error body in the protocol's form: ``{"error"}`` for v2, ``{"error_code", "message"}``
    for MLflow."""
    if protocol == "v2":
        return {"error": message}
    return {"error_code": _MLFLOW_CODES.get(status, "INTERNAL_ERROR"), "message": message}


def _protocol_of(path: str) -> str:
    """The protocol whose error form a request path gets (MLflow for its invocation routes)."""
    return "mlflow" if path == "/invocations" or path.startswith("/endpoints/") else "v2"


def _json_errors(app: FastAPI) -> None:
    """Every error of the app is JSON in the protocol's form (MLflow under ``/invocations`` and
    ``/endpoints/``, v2 elsewhere): a bad path parameter is 400, an unknown route 404, a wrong
    method 405, anything unexpected 500 with a request id (logged), never a plain-text page."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def invalid(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        where = ".".join(str(p) for p in errors[0].get("loc", ())[1:]) if errors else "request"
        reason = errors[0].get("msg", "invalid") if errors else str(exc)
        body = _error(_protocol_of(request.url.path), 400, f"{where}: {reason}")
        return _json({**body, "field": where}, 400)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "error"
        message = f"{detail}: {request.method} {request.url.path}"
        return _json(_error(_protocol_of(request.url.path), status, message), status)

    async def unexpected(request: Request, exc: Exception) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        log.error(
            "request %s %s %s failed: %s: %s", rid, request.method, request.url.path, type(exc).__name__, exc
        )
        message = f"internal error ({type(exc).__name__}); request id {rid}"
        return _json({**_error(_protocol_of(request.url.path), 500, message), "request_id": rid}, 500)

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _guard(make: Callable[[], Response], protocol: str) -> Response:
    try:
        return make()
    except NotFound as exc:
        return _json({"error": exc.message}, 404)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status, media_type=_JSON)


def _metadata(endpoint: Endpoint, version: int | None = None) -> dict[str, Any]:
    loaded = endpoint.version(version) if version is not None else next(iter(endpoint.routes.values()))
    mv = loaded.version
    return {
        "name": endpoint.name,
        "versions": sorted({str(m.version.version) for m in endpoint.models()}),
        "platform": f"carnet_{mv.flavor}",
        "inputs": [
            {"name": c.name, "datatype": v2_datatype(c.dtype), "shape": [-1]} for c in mv.signature.inputs
        ],
        "outputs": loaded.outputs,
        "parameters": {"model": mv.ref, "task": mv.task, "routes": sorted(endpoint.routes)},
    }


def _ready(endpoint: Endpoint, version: int | None = None) -> Response:
    loaded = endpoint.version(version) if version is not None else None
    ok = (
        loaded.batcher.ready if loaded is not None else all(m.batcher.ready for m in endpoint.routes.values())
    )
    return _json({"name": endpoint.name, "ready": ok}, 200 if ok else 503)


def _log_prediction(
    predlog: Any,
    request_id: str,
    endpoint: str,
    loaded: LoadedModel,
    frame: Any,
    outputs: dict[str, Any],
    latency: float,
    *,
    shadow: bool,
) -> None:
    from carnet.inference.predlog import PredictionRecord

    predlog.append(
        PredictionRecord(
            request_id=request_id,
            time=time.time(),
            endpoint=endpoint,
            model=loaded.version.name,
            version=loaded.version.version,
            latency_ms=latency * 1000.0,
            inputs=frame,
            outputs=outputs,
            shadow=shadow,
            layout=loaded.key,  # validated against this version's signature: one layout per version
        )
    )
