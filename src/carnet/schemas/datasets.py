"""Wire models of versioned datasets."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from carnet.domain import DatasetVersion

__all__ = ["DatasetVersionOut", "SchemaFieldOut"]


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
            }
        )
