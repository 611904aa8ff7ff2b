"""Wire models shared by every route: the problem document and the base of request bodies."""

from __future__ import annotations

import math
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "Health",
    "Problem",
    "RecordOut",
    "RequestBody",
    "WireFloat",
    "fields_of",
    "wire_float",
    "wire_floats",
]

#: a number in a response: NaN as null, infinities as the strings ``Infinity`` and ``-Infinity``
#: (JSON has no non-finite numbers; ``float("Infinity")`` reads them back)
WireFloat = float | Literal["Infinity", "-Infinity"] | None


def wire_float(value: float | None) -> float | Literal["Infinity", "-Infinity"] | None:
    """``value`` as a :data:`WireFloat`."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def wire_floats(values: dict[str, float]) -> dict[str, WireFloat]:
    """Every value of a mapping as a :data:`WireFloat`."""
    return {k: wire_float(v) for k, v in values.items()}


PROBLEM_MEDIA_TYPE = "application/problem+json"


class RequestBody(BaseModel):
    """Base of request bodies: an unknown field is refused (422 naming it), not ignored."""

    model_config = ConfigDict(extra="forbid")


def fields_of(record: object) -> dict[str, Any]:
    """A record's fields: a mapping as it is, else the record's ``to_dict()`` when it has one, else
    its attributes."""
    if isinstance(record, dict):
        return record
    to_dict = getattr(record, "to_dict", None)
    fields: dict[str, Any] = to_dict() if callable(to_dict) else record.__dict__
    return fields


class RecordOut(BaseModel):
    """Base of an answer that shows one domain record as it is (its :func:`fields_of`)."""

    @classmethod
    def of(cls, record: object) -> Self:
        """The answer showing ``record``."""
        return cls.model_validate(fields_of(record))


class Problem(BaseModel):
    """An error as ``application/problem+json`` (RFC 9457) with carnet's two extensions.

    ``error`` is the name of the :mod:`carnet.errors` class, so a client raises the same class;
    ``field`` names the offending field when there is one. Some errors add members: ``errors``
    (every validation error), ``gates`` and ``promotion`` (a refused promotion), ``position``
    (a filter syntax error), ``digest`` (a corrupted artifact), ``seq`` (a broken ledger).
    """

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None
    error: str
    instance: str | None = None


class Health(BaseModel):
    """The server answers, and which carnet it runs."""

    status: str
    version: str
