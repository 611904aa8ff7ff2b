"""Wire models of versioned datasets."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from carnet.domain import DatasetVersion
from carnet.schemas.common import RequestBody

__all__ = [
    "DatasetDeidentifyIn",
    "DatasetEraseIn",
    "DatasetPurgeIn",
    "DatasetRiskIn",
    "DatasetScanIn",
    "DatasetVersionOut",
    "SchemaFieldOut",
    "StorageChunkIn",
    "StorageGcIn",
]


class SchemaFieldOut(BaseModel):
    """One column of a dataset: its name and Arrow type."""

    name: str
    type: str


class DatasetVersionOut(BaseModel):
    """An immutable dataset version: digest, schema, size, profile (omitted in lists) and lineage."""

    name: str
    version: int
    ref: str
    digest: str
    format: str
    size: int
    num_rows: int
    num_columns: int
    schema_: list[SchemaFieldOut] = Field(alias="schema")
    profile: list[dict[str, Any]] | None = None
    source: str
    parent: str | None
    created_at: float
    project: str
    description: str
    created: bool | None = None
    superseded_by: str | None = None
    erasure: int | None = None
    purged_at: float | None = None

    @classmethod
    def of(cls, v: DatasetVersion, *, profile: bool = True, created: bool | None = None) -> DatasetVersionOut:
        return cls.model_validate(
            {
                "name": v.name,
                "version": v.version,
                "ref": v.ref,
                "digest": v.digest,
                "format": v.format,
                "size": v.size,
                "num_rows": v.num_rows,
                "num_columns": v.num_columns,
                "schema": [{"name": f.name, "type": f.type} for f in v.schema],
                "profile": [c.to_dict() for c in v.profile] if profile else None,
                "source": v.source,
                "parent": str(v.parent) if v.parent is not None else None,
                "created_at": v.created_at,
                "project": v.project,
                "description": v.description,
                "created": created,
                "superseded_by": None if v.superseded_by is None else str(v.superseded_by),
                "erasure": v.erasure,
                "purged_at": v.purged_at,
            }
        )


class DatasetScanIn(RequestBody):
    """Scan a version's rows for personal data again; ``apply`` masks newly flagged columns."""

    sample: int = Field(1000, ge=10, le=1_000_000, description="rows of the uniform, seeded sample")
    threshold: float = Field(0.5, gt=0, le=1, description="share of values a detector must match")
    hinted_threshold: float = Field(
        0.2, gt=0, le=1, description="the same when the column's name hints at it"
    )
    text_threshold: float = Field(0.05, gt=0, le=1, description="share of free-text values holding PII")
    seed: int = Field(0, ge=0, le=2**31 - 1)
    apply: bool = Field(False, description="mask the profiles of newly flagged columns (audited)")
    tier: int = Field(1, ge=1, le=2, description="2: also names and places, with Presidio (extra pii)")


class DatasetDeidentifyIn(RequestBody):
    """De-identify a version into a new version derived from it (see docs/privacy.md).

    A key named ``env:VARIABLE`` or ``file:PATH`` is read on the server.
    """

    config: dict[str, Any] = Field(description="key and columns: {column: method or {method, ...}}")
    name: str | None = Field(
        None, max_length=256, description="the dataset of the new version (default: the source's)"
    )
    description: str = Field("", max_length=10_000)


class DatasetRiskIn(RequestBody):
    """k-anonymity and l-diversity of a version over declared quasi-identifiers."""

    quasi_identifiers: list[str] = Field(min_length=1, max_length=100)
    sensitive: str | None = Field(None, max_length=256)


class DatasetEraseIn(RequestBody):
    """Erase the rows matching ``where`` from every current version of a dataset (see docs/privacy.md)."""

    where: str = Field(min_length=1, max_length=1_000_000, description="e.g. customer_id in (1001, 1002)")
    reason: str = Field(min_length=1, max_length=2000, description="why: the request's reference")
    purge: bool = Field(False, description="also remove the superseded versions' content from the store")
    dry_run: bool = Field(False, description="report what would be erased; change nothing")


class StorageGcIn(RequestBody):
    """Remove chunks no dataset version reads any more (see docs/datasets.md, "Storage")."""

    dry_run: bool = Field(False, description="report what would be freed; change nothing")
    grace: float = Field(
        3600.0, ge=0, le=10 * 365 * 86400, description="seconds an unindexed object is left alone"
    )


class StorageChunkIn(RequestBody):
    """Store whole-file dataset versions as chunks (resumable)."""

    dry_run: bool = Field(False, description="list what would be chunked; change nothing")
    limit: int | None = Field(None, ge=1, le=1_000_000, description="at most this many contents")


class DatasetPurgeIn(RequestBody):
    """Remove the content of versions an erasure superseded (default: all not yet purged)."""

    versions: list[int] | None = Field(None, max_length=10_000)
    reason: str = Field(min_length=1, max_length=2000)
