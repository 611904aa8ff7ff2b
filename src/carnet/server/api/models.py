"""Model-file routes: in-memory models sent by a client, verified model downloads, ONNX export,
model and version tags, promotion history, model cards and the auditor's dossier.

The server never deserialises a file a client sends; it loads a stored version only to export it
to ONNX (through the flavor's safe loader, never pickle) and to render a card's figures.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fastapi import Depends, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse

from carnet.domain import ColumnSpec, ModelRef, Signature
from carnet.errors import InvalidInput
from carnet.schemas import ComplianceIn, ModelObjectIn, ModelTagsIn, ModelVersionOut, PromotionOut
from carnet.server.api.auth import Caller, caller
from carnet.server.api.registry import path_version, project_for
from carnet.server.api.streams import download_response

__all__ = [
    "delete_model_tag",
    "download_model_file",
    "export_model_onnx",
    "log_model_object",
    "model_card",
    "model_compliance",
    "model_dossier",
    "model_dossier_with_mappings",
    "model_promotions",
    "register_model_onnx",
    "set_model_tags",
]


def _meta(text: str) -> ModelObjectIn:
    try:
        return ModelObjectIn.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "meta"
        raise InvalidInput(f"meta.{where}: {first.get('msg', 'invalid')}", field=f"meta.{where}") from None


async def log_model_object(
    name: str,
    meta: str = Form(..., description="ModelObjectIn as JSON: flavor, signature, input example, ..."),
    file: UploadFile = File(..., description="the model file as its flavor wrote it"),
    c: Caller = Depends(caller),
) -> ModelVersionOut:
    """Register a model file serialised by the client as the next version of ``name``.

    The role is checked on the model's project (``meta.project`` for a new model). The file is
    stored under its digest and never loaded here; ``meta.digest``, when given, must match it.
    """
    body = _meta(meta)
    project = await run_in_threadpool(project_for, c, name, body.project)
    await run_in_threadpool(c.require, project)
    signature = Signature(tuple(ColumnSpec(col.name, col.dtype) for col in body.signature))
    version = await run_in_threadpool(
        lambda: c.services.registry.register_upload(
            name,
            file.file,
            body.flavor,
            signature,
            body.input_example,
            digest=body.digest,
            project=project,
            task=body.task,
            description=body.description,
            tags=body.tags,
            derived_from=body.derived_from,
            allow_pickle=body.allow_pickle,
            classes=body.classes,
        )
    )
    return ModelVersionOut.of(version)


def download_model_file(name: str, version: str, c: Caller = Depends(caller)) -> Response:
    """The stored model file of a version, checked against its digest before any byte is sent.

    The bytes of a pickle-flavored version are sent too: the client refuses to load them without
    its own ``allow_pickle`` opt-in; the server never loads them.
    """
    mv = path_version(c, name, version)
    store = c.services.content
    return download_response(store, mv.artifact_digest, store.size(mv.artifact_digest), mv.file_name)


def export_model_onnx(name: str, version: str, c: Caller = Depends(caller)) -> Response:
    """The ONNX form of a scikit-learn version (422 naming the step ONNX cannot express)."""
    mv = path_version(c, name, version)
    data, _ = c.services.registry.export_onnx(ModelRef.parse(mv.name, mv.version))
    headers = {"Content-Disposition": f'attachment; filename="{mv.name}-v{mv.version}.onnx"'}
    return Response(data, media_type="application/octet-stream", headers=headers)


def register_model_onnx(name: str, version: str, c: Caller = Depends(caller)) -> ModelVersionOut:
    """Register the ONNX form of a version as the model's next version (flavor ``onnx``)."""
    mv = path_version(c, name, version)
    _, registered = c.services.registry.export_onnx(ModelRef.parse(mv.name, mv.version), register=True)
    assert registered is not None  # register=True always registers
    return ModelVersionOut.of(registered)


def set_model_tags(name: str, body: ModelTagsIn, c: Caller = Depends(caller)) -> Response:
    """Set tags on a registered model, or on one version (``version``); audited."""
    c.require_model(name)
    c.services.registry.set_tags(name, body.tags, body.version)
    return Response(status_code=204)


def delete_model_tag(
    name: str,
    key: str,
    version: int | None = Query(None, description="the version whose tag to remove"),
    c: Caller = Depends(caller),
) -> Response:
    """Remove a tag from a model or a version (404 when it is not set); audited."""
    c.require_model(name)
    c.services.registry.delete_tag(name, key, version)
    return Response(status_code=204)


def model_promotions(
    name: str,
    version: int | None = Query(None, description="only this version's promotions"),
    c: Caller = Depends(caller),
) -> list[PromotionOut]:
    """Promotions and rollbacks of a model (one version), oldest first, with their gate results."""
    c.require_model(name)
    return [PromotionOut.of(p) for p in c.services.promotion.promotions(name, version)]


def model_card(
    name: str,
    version: str,
    format: str = Query("markdown", pattern="^(markdown|html|json)$"),  # noqa: A002 - query name
    c: Caller = Depends(caller),
) -> Response:
    """The model card of a version (``latest`` for the newest)."""
    mv = path_version(c, name, version)
    if format == "json":
        data = c.services.dossier.card_data(name, mv.version)
        return Response(json.dumps(data, default=str), media_type="application/json")
    text = c.services.dossier.card(name, mv.version, format)
    if format == "html":
        return HTMLResponse(text)
    return PlainTextResponse(text, media_type="text/markdown")


def model_dossier(name: str, version: str, c: Caller = Depends(caller)) -> Response:
    """The auditor's dossier of a version: a zip with the card, lineage, gate results, reports,
    the audit events with their hash-chain verification and the compliance checklist of the
    built-in maps (``manifest.json`` lists every file)."""
    return _dossier(c, name, version, [])


def model_dossier_with_mappings(
    name: str, version: str, body: ComplianceIn, c: Caller = Depends(caller)
) -> Response:
    """The auditor's dossier of a version, its compliance checklist adding the mappings sent."""
    return _dossier(c, name, version, body.mappings)


def model_compliance(
    name: str, version: str, body: ComplianceIn | None = None, c: Caller = Depends(caller)
) -> dict[str, Any]:
    """The compliance checklist of a version's dossier: the built-in maps and the mappings sent,
    each item with its status and the dossier files that evidence it."""
    mv = path_version(c, name, version)
    return c.services.dossier.compliance(name, mv.version, mappings=body.mappings if body else [])


def _dossier(c: Caller, name: str, version: str, mappings: list[dict[str, Any]]) -> Response:
    mv = path_version(c, name, version)
    folder = Path(tempfile.mkdtemp(prefix="carnet-dossier-"))
    try:
        target = folder / f"{mv.name}-v{mv.version}-dossier.zip"
        c.services.dossier.dossier(name, mv.version, target, mappings=mappings)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return FileResponse(
        target,
        media_type="application/zip",
        filename=target.name,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )
