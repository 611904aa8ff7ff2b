"""Pydantic wire models of the REST API (the only place pydantic appears besides the server).

Request bodies refuse unknown fields; responses are built from domain objects with ``Out.of(obj)``.
NaN metric values travel as ``null``.
"""

from carnet.schemas.audit import AuditEventOut, VerificationOut
from carnet.schemas.common import PROBLEM_MEDIA_TYPE, Problem, RequestBody, error_from_problem
from carnet.schemas.datasets import DatasetVersionOut, SchemaFieldOut
from carnet.schemas.registry import (
    AliasIn,
    AliasOut,
    ApprovalIn,
    ApprovalOut,
    GateResultOut,
    ModelOut,
    ModelVersionOut,
    PromoteIn,
    PromotionOut,
    RegisterIn,
    RollbackIn,
)
from carnet.schemas.tracking import (
    MAX_METRICS_PER_BATCH,
    ArtifactOut,
    InputsIn,
    LoggedOut,
    MetricIn,
    MetricOut,
    MetricsBatchIn,
    ParamsIn,
    ProjectIn,
    ProjectOut,
    RunCreate,
    RunInputOut,
    RunOut,
    RunPageOut,
    RunPatch,
    RunSearch,
    TagsIn,
)

__all__ = [
    "MAX_METRICS_PER_BATCH",
    "PROBLEM_MEDIA_TYPE",
    "AliasIn",
    "AliasOut",
    "ApprovalIn",
    "ApprovalOut",
    "ArtifactOut",
    "AuditEventOut",
    "DatasetVersionOut",
    "GateResultOut",
    "InputsIn",
    "LoggedOut",
    "MetricIn",
    "MetricOut",
    "MetricsBatchIn",
    "ModelOut",
    "ModelVersionOut",
    "ParamsIn",
    "Problem",
    "ProjectIn",
    "ProjectOut",
    "PromoteIn",
    "PromotionOut",
    "RegisterIn",
    "RequestBody",
    "RollbackIn",
    "RunCreate",
    "RunInputOut",
    "RunOut",
    "RunPageOut",
    "RunPatch",
    "RunSearch",
    "SchemaFieldOut",
    "TagsIn",
    "VerificationOut",
    "error_from_problem",
]
