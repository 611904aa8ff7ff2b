"""Encoders and embeddings over HTTP: part of :class:`~carnet.client.remote.RemoteClient`.

A local CSV/Parquet file named as ``data`` is uploaded first (as the local client registers it);
the server embeds and sends the Parquet file back, checked against its digest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from carnet.client.remote_http import HttpTransport
from carnet.client.wire import model_version_from_dict
from carnet.domain import ModelVersion
from carnet.operations import call

__all__ = ["RemoteEncoders"]


class RemoteEncoders(HttpTransport):
    """The encoder calls of the remote client."""

    def add_encoder(
        self,
        name: str,
        encoder: str,
        *,
        params: dict[str, Any] | None = None,
        data: str | None = None,
        column: str | None = None,
        project: str = "default",
        description: str = "",
    ) -> ModelVersion:
        client: Any = self
        body = {
            "name": name,
            "encoder": encoder,
            "params": dict(params or {}),
            "data": None if data is None else client._server_data(data, project),
            "column": column,
            "project": project,
            "description": description,
        }
        return model_version_from_dict(self._json(call("add_encoder"), json=body))

    def list_encoders(self) -> list[ModelVersion]:
        return [model_version_from_dict(v) for v in self._json(call("list_encoders"))]

    def get_encoder(self, ref: str) -> ModelVersion:
        return model_version_from_dict(self._json(call("get_encoder", ref=ref)))

    def embed(
        self,
        encoder: str,
        data: str,
        column: str,
        out: str | Path,
        *,
        keep: Sequence[str] = (),
        batch_rows: int = 1024,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        client: Any = self
        body = {
            "encoder": encoder,
            "data": client._server_data(data, "default"),
            "column": column,
            "keep": list(keep),
            "batch_rows": batch_rows,
        }
        headers: dict[str, str] = {}
        if progress is not None:
            progress("embed", 0, 1)
        target = self._download(call("embed"), Path(out), json=body, headers_out=headers)
        summary = dict(json.loads(headers.get("x-carnet-embed") or "{}"))
        if progress is not None:
            progress("embed", 1, 1)
        return {**summary, "out": str(target)}
