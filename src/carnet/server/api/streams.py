"""Streaming file transfer of the API: uploads to a temp file, downloads verified before a byte is sent.

A download is first copied from the content-addressed store to a private temp file while its digest
is checked (small ones are read into memory, also checked), then streamed: content that does not
match its digest (e.g. an object replaced by a symbolic link to a file outside the store) is refused
with 500 and none of it reaches the client.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from carnet.errors import CarnetError, InvalidInput, NotFound
from carnet.services import Services, artifact_path
from carnet.services.context import ContentReader

__all__ = [
    "TABLE_SUFFIXES",
    "add_uploaded_dataset",
    "check_artifact_path",
    "dataset_owner",
    "download_response",
    "name_upload",
    "receive_to_temp",
    "upload_suffix",
]

#: the file suffixes of the tables an upload may be (the readers go by the suffix)
TABLE_SUFFIXES = (".csv.gz", ".tsv.gz", ".csv", ".tsv", ".parquet", ".pq")

#: downloads up to this size are verified in memory, larger ones through a temp file
_IN_MEMORY = 4 * 1024 * 1024
_CHUNK = 1024 * 1024
_MAX_PATH = 1024
_ENCODED = re.compile(r"%[0-9A-Fa-f]{2}")
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_artifact_path(raw: str) -> str:
    """An artifact path from a URL, refused unless it is a plain relative POSIX path.

    Refused (InvalidInput naming ``path``): empty, absolute (``/x``, ``C:``), ``..`` or ``.``
    segments, empty segments, backslashes, NUL and control characters, and percent-escapes left
    after the URL was decoded once (a double-encoded ``%252e%252e`` arrives as ``%2e%2e``).
    """

    def refuse(why: str) -> InvalidInput:
        return InvalidInput(f"artifact path {raw[:200]!r} is refused: {why}", field="path")

    if not raw:
        raise refuse("it is empty")
    if len(raw) > _MAX_PATH:
        raise refuse(f"it is longer than {_MAX_PATH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise refuse("it contains a NUL or control character")
    if "\\" in raw:
        raise refuse("it contains a backslash; separate folders with '/'")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise refuse("it must be relative to the run")
    if _ENCODED.search(raw):
        raise refuse("it contains a percent-escape (encode the path once, not twice)")
    if any(part in ("", ".", "..") for part in raw.split("/")):
        raise refuse("it must not contain '..', '.' or empty segments, nor end with '/'")
    return artifact_path(raw)


def upload_suffix(filename: str | None, fmt: str | None) -> str:
    """The temp file's suffix: a known one of the uploaded name, else the format's (never user text)."""
    name = (filename or "").lower()
    known = next((s for s in TABLE_SUFFIXES if name.endswith(s)), None)
    return known or (f".{fmt}" if fmt else "")


async def receive_to_temp(request: Request, suffix: str = "") -> Path:
    """Stream the request body into a new private temp file; the caller deletes it.

    The size limit is enforced as the bytes arrive (413); on any failure the file is removed.
    """
    fd, name = tempfile.mkstemp(prefix="carnet-upload-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                if chunk:
                    out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _disposition(filename: str) -> str:
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download_response(store: ContentReader, digest: str, size: int, filename: str) -> Response:
    """The verified content of ``digest`` as an ``application/octet-stream`` attachment.

    Raises:
        ArtifactCorrupted: the stored bytes do not match the digest (nothing is sent).
        NotFound: the content is not in the store.
    """
    headers = {
        "Content-Disposition": _disposition(PurePosixPath(filename).name or "download"),
        "ETag": f'"{digest}"',
        "X-Carnet-Digest": digest,
        "X-Content-Type-Options": "nosniff",
    }
    if size <= _IN_MEMORY:
        return Response(store.get_bytes(digest), media_type="application/octet-stream", headers=headers)
    folder = tempfile.mkdtemp(prefix="carnet-download-")
    try:
        path = store.get_file(digest, Path(folder) / "content")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise

    def chunks() -> Iterator[bytes]:
        try:
            with open(path, "rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    headers["Content-Length"] = str(path.stat().st_size)
    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers=headers,
        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True),
    )


def dataset_owner(services: Services, name: str, project: str) -> str:
    """The project of an existing dataset (a dataset stays in its first version's), else ``project``."""
    try:
        return services.datasets.get(name).project
    except NotFound:
        return project


def add_uploaded_dataset(
    services: Services, tmp: Path, name: str, owner: str, label: str, **kwargs: object
) -> tuple[Any, bool]:
    """Store an uploaded temp file as the next version of ``name`` in ``owner``; the file is removed
    whatever happens, and errors name the uploaded file (``label``), never the temp path."""
    try:
        return services.datasets.add(tmp, name, project=owner, **kwargs)  # type: ignore[arg-type]
    except CarnetError as exc:
        name_upload(exc, tmp, label)
        raise
    finally:
        tmp.unlink(missing_ok=True)


def name_upload(exc: CarnetError, tmp: Path, label: str, *others: str) -> None:
    """Name the uploaded file ``label`` in an error's message instead of its temp path (and of
    ``others``): a server's paths are never shown."""
    for shown in {str(tmp), str(tmp.resolve()), *others}:
        exc.message = exc.message.replace(f"'{shown}'", label).replace(shown, label)
