"""Pure domain objects of carnet: dataclasses and enums, no I/O."""

from carnet.domain.audit import AuditEvent, canonical_json
from carnet.domain.datasets import ColumnProfile, DatasetRef, DatasetVersion, SchemaField
from carnet.domain.deployments import (
    Deployment,
    DeploymentRoute,
    PredictionFile,
    ResolvedDeployment,
    ResolvedRoute,
    load_deployment,
)
from carnet.domain.models import ColumnSpec, ModelRef, ModelVersion, RegisteredModel, Signature
from carnet.domain.monitors import (
    Alert,
    AlertRule,
    LabelFile,
    Monitor,
    MonitorWindow,
    WindowSpec,
    load_monitor,
)
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
    decode_page_after,
    decode_page_token,
    encode_page_token,
    parse_filter,
    parse_order_by,
)

__all__ = [
    "Alert",
    "AlertRule",
    "Approval",
    "Artifact",
    "AuditEvent",
    "ColumnProfile",
    "ColumnSpec",
    "Comparison",
    "DatasetRef",
    "DatasetVersion",
    "Deployment",
    "DeploymentRoute",
    "Expr",
    "GateResult",
    "GateSpec",
    "LabelFile",
    "Logical",
    "Metric",
    "ModelRef",
    "ModelVersion",
    "Monitor",
    "MonitorWindow",
    "Policy",
    "PredictionFile",
    "Project",
    "Promotion",
    "RegisteredModel",
    "ResolvedDeployment",
    "ResolvedRoute",
    "Run",
    "RunInput",
    "RunStatus",
    "SchemaField",
    "Signature",
    "WindowSpec",
    "canonical_json",
    "decode_page_after",
    "decode_page_token",
    "encode_page_token",
    "load_deployment",
    "load_monitor",
    "parse_filter",
    "parse_order_by",
]
