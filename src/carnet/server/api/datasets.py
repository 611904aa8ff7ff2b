"""Dataset routes: list, versions, one version (``name@N``), streamed upload and download of the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from carnet.domain import DatasetRef, DatasetVersion
from carnet.domain.datasets import check_name
from carnet.errors import InvalidInput, NotFound
from carnet.schemas import (
    DatasetDeidentifyIn,
    DatasetEraseIn,
    DatasetPurgeIn,
    DatasetRiskIn,
    DatasetScanIn,
    DatasetVersionOut,
    StorageChunkIn,
    StorageGcIn,
)
from carnet.server.api.auth import Caller, caller
from carnet.server.api.streams import (
    TABLE_SUFFIXES,
    add_uploaded_dataset,
    dataset_owner,
    download_response,
    receive_to_temp,
    upload_suffix,
)
from carnet.services.datasets import readable

__all__ = [
    "dataset_versions",
    "download_dataset",
    "get_dataset",
    "list_datasets",
    "upload_dataset",
]


def _file_name(v: DatasetVersion) -> str:
    suffixes = Path(v.source.split(":", 1)[-1]).suffixes[-2:] if v.source else []
    suffix = "".join(suffixes)
    if not suffix or suffix.lower() not in TABLE_SUFFIXES:
        suffix = f".{v.format}"
    return f"{v.name}-v{v.version}{suffix}"


def list_datasets(
    project: str | None = Query(None, description="only datasets of this project"),
    profile: bool = Query(False, description="include each version's column profile"),
    c: Caller = Depends(caller),
) -> list[DatasetVersionOut]:
    """The latest version of every dataset the caller may read (profiles only when asked for)."""
    return [
        DatasetVersionOut.of(v, profile=profile)
        for v in c.services.datasets.list()
        if (project is None or v.project == project) and c.can(v.project)
    ]


def dataset_versions(
    name: str,
    profile: bool = Query(False, description="include each version's column profile"),
    c: Caller = Depends(caller),
) -> list[DatasetVersionOut]:
    """Every version of a dataset, oldest first (profiles only when asked for)."""
    versions = c.services.datasets.versions(name)
    if not versions:
        raise NotFound(f"no dataset named {name!r}", field="dataset")
    c.require(versions[-1].project)
    return [DatasetVersionOut.of(v, profile=profile) for v in versions]


def get_dataset(ref: str, c: Caller = Depends(caller)) -> DatasetVersionOut:
    """One version (``name@N``; ``name`` alone: the latest) with its schema and column profile."""
    return DatasetVersionOut.of(c.require_dataset(ref))


def scan_dataset(ref: str, body: DatasetScanIn, c: Caller = Depends(caller)) -> dict[str, Any]:
    """Scan a version's rows for personal data again; ``apply`` masks newly flagged columns (editor)."""
    version = c.require_dataset(ref, "editor")
    return c.services.datasets.scan(version.ref, **body.model_dump())


def dataset_risk(ref: str, body: DatasetRiskIn, c: Caller = Depends(caller)) -> dict[str, Any]:
    """k-anonymity and l-diversity of a version over declared quasi-identifiers (viewer)."""
    version = c.require_dataset(ref)
    return c.services.datasets.risk(version.ref, body.quasi_identifiers, body.sensitive)


def deidentify_dataset(
    ref: str, body: DatasetDeidentifyIn, response: Response, c: Caller = Depends(caller)
) -> DatasetVersionOut:
    """A de-identified copy of a version as a new version derived from it (editor on its project)."""
    source = c.require_dataset(ref, "editor")
    if body.name is not None and body.name != source.name:  # another dataset: editor on its project too
        c.require(dataset_owner(c.services, body.name, source.project), "editor")
    key = body.config.get("key")
    if isinstance(key, str) and key and not key.startswith("env:CARNET_DEID"):
        # a request never names a server file or an arbitrary server variable as its key
        raise InvalidInput(
            "through a server the key must be env:CARNET_DEID... (a variable the server's operator set)",
            field="key",
        )
    version, created = c.services.datasets.deidentify(
        source.ref, body.config, name=body.name, description=body.description
    )
    response.status_code = 201 if created else 200
    return DatasetVersionOut.of(version, created=created)


def erase_dataset(name: str, body: DatasetEraseIn, c: Caller = Depends(caller)) -> dict[str, Any]:
    """Erase the rows matching ``where`` from every current version of a dataset (admin on its project)."""
    versions = c.services.datasets.versions(name)
    c.require(versions[-1].project, "admin")
    return c.services.erasure.erase(
        name, body.where, reason=body.reason, purge=body.purge, dry_run=body.dry_run
    )


def purge_dataset(name: str, body: DatasetPurgeIn, c: Caller = Depends(caller)) -> dict[str, Any]:
    """Remove the content of versions an erasure superseded (admin on the dataset's project)."""
    versions = c.services.datasets.versions(name)
    c.require(versions[-1].project, "admin")
    return c.services.erasure.purge(name, body.versions, reason=body.reason)


def dataset_erasures(name: str, c: Caller = Depends(caller)) -> list[dict[str, Any]]:
    """The erasures of a dataset, oldest first (viewer)."""
    versions = c.services.datasets.versions(name)
    c.require(versions[-1].project)
    return c.services.erasure.erasures(name)


def dataset_usage(
    name: str | None = Query(None, max_length=256), c: Caller = Depends(caller)
) -> dict[str, Any]:
    """Logical and stored bytes per dataset (viewer on its project; without a name, on every project)."""
    if name is not None:
        check_name(name, "dataset name")
        c.require(c.services.datasets.versions(name)[-1].project)
    else:
        c.require(None)
    return c.services.chunks.usage(name)


def collect_garbage(body: StorageGcIn, c: Caller = Depends(caller)) -> dict[str, Any]:
    """Remove chunks no dataset version reads (admin on every project)."""
    c.require(None)
    return c.services.chunks.collect(dry_run=body.dry_run, grace=body.grace)


def chunk_datasets(body: StorageChunkIn, c: Caller = Depends(caller)) -> dict[str, Any]:
    """Store whole-file dataset versions as chunks (admin on every project)."""
    c.require(None)
    return c.services.chunks.migrate(dry_run=body.dry_run, limit=body.limit)


async def upload_dataset(
    name: str,
    request: Request,
    response: Response,
    project: str = Query("default", description="project of a new dataset"),
    format: str | None = Query(None, description="csv or parquet (default: from filename and content)"),  # noqa: A002
    filename: str | None = Query(None, description="the file's name, for its format and the recorded source"),
    description: str = "",
    parent: str | None = Query(None, description="the version this one derives from (name@N)"),
    source: str | None = Query(None, description="where the data came from (default: upload:<filename>)"),
    c: Caller = Depends(caller),
) -> DatasetVersionOut:
    """Register the request body (a CSV or Parquet file, streamed) as the next version of ``name``.

    Answers 201 with the new version, or 200 with the existing one when the content is identical.
    """
    check_name(name, "name")
    if format is not None and format not in ("csv", "parquet"):
        raise InvalidInput(f"unknown format {format!r}; use csv or parquet", field="format")
    if parent is not None:
        DatasetRef.parse(parent)
    owner = await run_in_threadpool(dataset_owner, c.services, name, project)
    await run_in_threadpool(c.require, owner)
    if parent is not None:  # a parent of another project: read access there (its version is shown)
        await run_in_threadpool(lambda: c.require_refs(datasets=[parent]))
    tmp = await receive_to_temp(request, upload_suffix(filename, format))
    version, created = await run_in_threadpool(
        lambda: add_uploaded_dataset(
            c.services,
            tmp,
            name,
            owner,
            filename or "the uploaded file",
            parent=parent,
            description=description,
            source=source or f"upload:{filename or name}",
            format=format,
        )
    )
    response.status_code = 201 if created else 200
    return DatasetVersionOut.of(version, created=created)


def download_dataset(ref: str, c: Caller = Depends(caller)) -> Response:
    """The file of a version, checked against its digest before any byte is sent."""
    version = c.require_dataset(ref)
    readable(version)  # an erased version's content is not served
    return download_response(c.services.content, version.digest, version.size, _file_name(version))
