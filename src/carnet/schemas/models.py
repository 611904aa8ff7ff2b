"""Wire models of the model-file routes: in-memory models sent by a client, tags, cards."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from carnet.schemas.common import RequestBody

__all__ = ["MAX_EXAMPLE_ROWS", "ColumnIn", "ComplianceIn", "ModelObjectIn", "ModelTagsIn"]

#: input-example rows a client may send with a model (the SDK sends 3)
MAX_EXAMPLE_ROWS = 100


class ColumnIn(RequestBody):
    """One input column of a model's signature."""

    name: str = Field(min_length=1, max_length=1024)
    dtype: str = Field(min_length=1, max_length=128)


class ModelObjectIn(RequestBody):
    """What describes a model file serialised by the client (sent as the ``meta`` form part).

    The server never loads the file: it stores it under its digest and records this description.
    ``allow_pickle`` is the audited opt-in a pickle-flavored file needs.
    """

    flavor: str = Field(min_length=1, max_length=64)
    signature: list[ColumnIn] = Field(min_length=1, max_length=100_000)
    input_example: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_EXAMPLE_ROWS)
    project: str = "default"
    task: str | None = None
    description: str = Field("", max_length=10_000)
    tags: dict[str, str] = Field(default_factory=dict)
    derived_from: int | None = None
    allow_pickle: bool = False
    classes: list[str | int | float | bool] | None = Field(None, max_length=100_000)
    digest: str | None = Field(None, description="the client's digest of the file; checked when given")


class ModelTagsIn(RequestBody):
    """Tags to set on a registered model, or on one of its versions."""

    tags: dict[str, str] = Field(min_length=1)
    version: int | None = None


class ComplianceIn(RequestBody):
    """Compliance mappings of the caller's own (internal policies) for a dossier or its checklist:
    each the document of a mapping file (name, title, framework, description, items)."""

    mappings: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
