"""``POST /v2/models/{name}/explain`` of ``carnet serve``: attributions per row of a v2 request.

The body is an ``infer`` body (same inputs, parsed and checked against the signature the same
way); ``parameters.method`` picks ``shap`` or ``lime`` (default: SHAP when installed, else LIME).
Each row is explained against the version's registered input example (or, without one, the
request's own rows). Errors take the v2 form of the inference app.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from carnet.errors import InvalidInput
from carnet.inference.codecs import parse_v2_request
from carnet.server.metrics import ServingMetrics
from carnet.server.runtime import LoadedModel, ServingRuntime, example_frame
from carnet.tasks import version_family

__all__ = ["MAX_EXPLAIN_ROWS", "add_explain_routes"]

#: rows one explain request may hold (each costs a few hundred model calls)
MAX_EXPLAIN_ROWS = 100

#: the inference app's error answer: (exception, protocol, request id, endpoint label, loaded model
#: or None, start time, metrics) -> response
Failure = Callable[[Exception, str, str, str, LoadedModel | None, float, ServingMetrics], Response]


def add_explain_routes(
    app: FastAPI,
    runtime: ServingRuntime,
    metrics: ServingMetrics,
    read_body: Callable[[Request], Awaitable[bytes]],
    failure: Failure,
    unknown: str,
) -> None:
    """Add the explain routes to the inference ``app`` (``unknown``: the endpoint label of names
    that are not served, so request paths never create metric series)."""

    @app.post("/v2/models/{name}/explain")
    async def explain(name: str, request: Request) -> Response:
        return await _explain(request, name, None)

    @app.post("/v2/models/{name}/versions/{version}/explain")
    async def explain_version(name: str, version: int, request: Request) -> Response:
        return await _explain(request, name, version)

    async def _explain(request: Request, name: str, version: int | None) -> Response:
        started = time.perf_counter()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        endpoint_name = name if name in runtime.endpoints else unknown
        loaded = None
        try:
            body = await read_body(request)
            endpoint = runtime.endpoint(name)
            loaded = endpoint.version(version) if version is not None else endpoint.choose(None)
            parsed = parse_v2_request(
                body,
                loaded.version.signature,
                header_length=request.headers.get("inference-header-content-length"),
            )
            content = await asyncio.to_thread(explanation, loaded, parsed, rid)
        except Exception as exc:  # noqa: BLE001 - every failure becomes the protocol's error form
            return failure(exc, "v2", rid, endpoint_name, loaded, started, metrics)
        ref = loaded.version
        metrics.observe_request(
            endpoint_name, ref.name, ref.version, "explain", 200, time.perf_counter() - started
        )
        return Response(content, 200, media_type="application/json", headers={"x-request-id": rid})


def explanation(loaded: LoadedModel, parsed: Any, rid: str) -> bytes:
    """The JSON answer of an explain request: SHAP (or LIME) attributions of each row, against the
    version's registered input example (or the request's own rows when it has none).

    Raises:
        InvalidInput: too many rows, an unknown method, or the method's library is not installed.
    """
    from carnet.evaluation.explain_local import INSTALL_HINT, choose_method, explain_rows

    frame = parsed.frame
    if len(frame) > MAX_EXPLAIN_ROWS:
        raise InvalidInput(
            f"explain at most {MAX_EXPLAIN_ROWS} rows per request, got {len(frame)}", field="inputs"
        )
    requested = (parsed.parameters or {}).get("method")
    if requested is not None and requested not in ("shap", "lime"):
        raise InvalidInput(f"parameters.method must be shap or lime, got {requested!r}", field="parameters")
    try:
        method, note = choose_method(requested)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="parameters") from None
    if method == "permutation":
        raise InvalidInput(
            f"explanations need SHAP or LIME on the server, neither is installed: {INSTALL_HINT}",
            field="parameters",
        )
    background = example_frame(loaded.version)
    if background is None or not len(background):
        background = frame
    family = version_family(loaded.version) or "classification"
    result = explain_rows(loaded.model, frame, background[frame.columns], method=method, family=family)
    ref = loaded.version
    doc = {
        "model_name": ref.name,
        "model_version": str(ref.version),
        "id": parsed.id or rid,
        **result.to_dict(),
    }
    if note:
        doc["note"] = note
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
