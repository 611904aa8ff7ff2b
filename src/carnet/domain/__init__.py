"""Pure domain objects of carnet: dataclasses and enums, no I/O."""

from carnet.domain.audit import AuditEvent, canonical_json
from carnet.domain.datasets import ColumnProfile, DatasetRef, DatasetVersion, SchemaField
from carnet.domain.models import ColumnSpec, ModelRef, ModelVersion, RegisteredModel, Signature
from carnet.domain.policies import Approval, GateResult, GateSpec, Policy, Promotion
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
    "Approval",
    "Artifact",
    "AuditEvent",
    "ColumnProfile",
    "ColumnSpec",
    "Comparison",
    "DatasetRef",
    "DatasetVersion",
    "Expr",
    "GateResult",
    "GateSpec",
    "Logical",
    "Metric",
    "ModelRef",
    "ModelVersion",
    "Policy",
    "Project",
    "Promotion",
    "RegisteredModel",
    "Run",
    "RunInput",
    "RunStatus",
    "SchemaField",
    "Signature",
    "canonical_json",
    "decode_page_token",
    "encode_page_token",
    "parse_filter",
    "parse_order_by",
]
