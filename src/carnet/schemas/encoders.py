"""Request bodies of the encoder routes: register an encoder, embed a text column."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from carnet.schemas.common import RequestBody

__all__ = ["EmbedIn", "EncoderIn"]


class EncoderIn(RequestBody):
    """Register an encoder: an installed encoder plugin with settings, fitted on a dataset column
    when it learns from texts (``tfidf``)."""

    name: str = Field(min_length=1, max_length=200, description="the registered encoder's name")
    encoder: str = Field(min_length=1, max_length=200, description="an installed encoder plugin")
    params: dict[str, Any] = Field(default_factory=dict, description="the plugin's settings")
    data: str | None = Field(None, max_length=1024, description="a dataset version to fit on: name@N")
    column: str | None = Field(None, max_length=1024, description="its text column")
    project: str = Field("default", min_length=1, max_length=200)
    description: str = Field("", max_length=10_000)


class EmbedIn(RequestBody):
    """Embed a text column of a dataset version; the answer is a Parquet file."""

    encoder: str = Field(min_length=1, max_length=300, description="a registered or installed encoder")
    data: str = Field(min_length=1, max_length=1024, description="a dataset version: name@N or name")
    column: str = Field(min_length=1, max_length=1024, description="the text column")
    keep: list[str] = Field(default_factory=list, max_length=100, description="columns copied beside")
    batch_rows: int = Field(1024, ge=1, le=1_000_000)
