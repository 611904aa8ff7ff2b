"""Pure domain objects of carnet: dataclasses and enums, no I/O."""

from carnet.domain.audit import AuditEvent, canonical_json
from carnet.domain.datasets import ColumnProfile, DatasetRef, DatasetVersion, SchemaField
from carnet.domain.runs import (
    Artifact,
    Metric,
    Project,
    Run,
    RunInput,
    RunStatus,
)
from carnet.domain.search import (
    Comparison,
    Expr,
    Logical,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
)

__all__ = [
    "Artifact",
    "AuditEvent",
    "ColumnProfile",
    "Comparison",
    "DatasetRef",
    "DatasetVersion",
    "Expr",
    "Logical",
    "Metric",
    "Project",
    "Run",
    "RunInput",
    "RunStatus",
    "SchemaField",
    "canonical_json",
    "decode_page_token",
    "encode_page_token",
    "parse_filter",
    "parse_order_by",
]
