"""Encoder routes: register, list and show encoders; embed a text column of a dataset version.

Roles: ``editor`` on the encoder's project (the one named, for a new encoder) and ``viewer`` on
the dataset it is fitted on; ``viewer`` on an encoder's project to see it, and on a dataset's
project to embed it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from fastapi import Depends
from fastapi.responses import Response

from carnet.domain import ModelRef
from carnet.schemas import EmbedIn, EncoderIn, ModelVersionOut
from carnet.server.api.auth import Caller, caller
from carnet.server.api.registry import project_for
from carnet.server.api.training import _dataset_ref

__all__ = ["add_encoder", "embed", "get_encoder", "list_encoders"]


def add_encoder(body: EncoderIn, c: Caller = Depends(caller)) -> ModelVersionOut:
    """Register an encoder (fitted on a dataset column when it learns from texts) as the next
    version of ``name``; the role is checked on its project (``project`` for a new encoder)."""
    c.require(project_for(c, body.name, body.project))
    data = _dataset_ref(c, body.data, "data") if body.data is not None else None
    mv = c.services.encoders.add(
        body.name,
        body.encoder,
        params=body.params,
        data=data,
        column=body.column,
        project=body.project,
        description=body.description,
    )
    return ModelVersionOut.of(mv)


def list_encoders(c: Caller = Depends(caller)) -> list[ModelVersionOut]:
    """The latest version of every encoder the caller may read."""
    readable = {m.name for m in c.services.registry.list_models() if c.can(m.project)}
    return [ModelVersionOut.of(v) for v in c.services.encoders.list() if v.name in readable]


def get_encoder(ref: str, c: Caller = Depends(caller)) -> ModelVersionOut:
    """One encoder version: ``NAME``, ``NAME/2`` or ``NAME@alias``."""
    c.require_read(c.model_project(ref))
    return ModelVersionOut.of(c.services.encoders.get(ref))


def embed(body: EmbedIn, c: Caller = Depends(caller)) -> Response:
    """The text column as vectors: a Parquet file with the ``keep`` columns and ``embedding``; the
    summary (rows, dimension, what the encoder is built on) in the ``X-Carnet-Embed`` header."""
    from carnet.digests import hash_bytes

    data = _dataset_ref(c, body.data, "data")
    # a registered encoder: read access to its project (an installed plugin needs none)
    owner = project_for(c, ModelRef.parse(body.encoder).name, None)
    if owner is not None:
        c.require_read(owner)
    with tempfile.TemporaryDirectory(prefix="carnet-embed-") as tmp:
        out = Path(tmp) / "embeddings.parquet"
        summary = c.services.encoders.embed(
            body.encoder, data, body.column, out, keep=body.keep, batch_rows=body.batch_rows
        )
        payload = out.read_bytes()
    summary.pop("out", None)
    headers = {
        "X-Carnet-Digest": hash_bytes(payload),
        "X-Carnet-Embed": json.dumps(summary, default=str),
        "Content-Disposition": 'attachment; filename="embeddings.parquet"',
    }
    return Response(payload, media_type="application/vnd.apache.parquet", headers=headers)
