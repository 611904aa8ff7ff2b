"""Domain objects rebuilt from the REST API's JSON (the ``*Out`` wire models), for the remote client."""

from __future__ import annotations

import math
from typing import Any

from carnet.domain import (
    Approval,
    Artifact,
    AuditEvent,
    ColumnProfile,
    DatasetRef,
    DatasetVersion,
    GateResult,
    Metric,
    ModelVersion,
    Project,
    Promotion,
    RegisteredModel,
    Run,
    RunInput,
    RunStatus,
    SchemaField,
    Signature,
)
from carnet.domain.anchors import AnchorCheck

__all__ = [
    "anchor_check_from_dict",
    "approval_from_dict",
    "artifact_from_dict",
    "audit_event_from_dict",
    "dataset_version_from_dict",
    "metric_from_dict",
    "model_from_dict",
    "model_version_from_dict",
    "project_from_dict",
    "promotion_from_dict",
    "run_from_dict",
    "run_input_from_dict",
]


def _num(value: float | str | None) -> float:
    """A number from the wire: null is NaN, ``Infinity`` / ``-Infinity`` are the infinities."""
    return math.nan if value is None else float(value)


def project_from_dict(d: dict[str, Any]) -> Project:
    """A :class:`Project` from ``ProjectOut`` (the server does not send its id: 0)."""
    return Project(0, d["name"], d.get("description", ""), d["created_at"])


def run_from_dict(d: dict[str, Any]) -> Run:
    """A :class:`Run` from ``RunOut`` (null metric values are NaN)."""
    return Run(
        id=d["id"],
        project=d["project"],
        name=d["name"],
        status=RunStatus(d["status"]),
        start_time=d["start_time"],
        end_time=d.get("end_time"),
        parent_id=d.get("parent_id"),
        params=dict(d.get("params") or {}),
        metrics={k: _num(v) for k, v in (d.get("metrics") or {}).items()},
        tags=dict(d.get("tags") or {}),
        environment=dict(d.get("environment") or {}),
        error=d.get("error"),
        deleted=bool(d.get("deleted", False)),
    )


def metric_from_dict(d: dict[str, Any]) -> Metric:
    """A :class:`Metric` from ``MetricOut``."""
    return Metric(d["key"], _num(d["value"]), int(d["step"]), float(d["timestamp"]))


def artifact_from_dict(d: dict[str, Any]) -> Artifact:
    """An :class:`Artifact` from ``ArtifactOut``."""
    return Artifact(d["path"], d["digest"], int(d["size"]))


def run_input_from_dict(d: dict[str, Any]) -> RunInput:
    """A :class:`RunInput` from ``RunInputOut``."""
    return RunInput(d["dataset"], int(d["version"]), d["digest"], d.get("context", "training"))


def dataset_version_from_dict(d: dict[str, Any]) -> DatasetVersion:
    """A :class:`DatasetVersion` from ``DatasetVersionOut`` (no profile in lists: empty)."""
    parent = d.get("parent")
    return DatasetVersion(
        name=d["name"],
        version=int(d["version"]),
        digest=d["digest"],
        format=d["format"],
        size=int(d["size"]),
        num_rows=int(d["num_rows"]),
        num_columns=int(d["num_columns"]),
        schema=[SchemaField(f["name"], f["type"]) for f in d.get("schema") or []],
        profile=[ColumnProfile.from_dict(c) for c in d.get("profile") or []],
        source=d.get("source", ""),
        parent=DatasetRef.parse(parent) if parent else None,
        created_at=d["created_at"],
        project=d.get("project", "default"),
        description=d.get("description", ""),
        superseded_by=DatasetRef.parse(d["superseded_by"]) if d.get("superseded_by") else None,
        erasure=None if d.get("erasure") is None else int(d["erasure"]),
        purged_at=d.get("purged_at"),
    )


def model_from_dict(d: dict[str, Any]) -> RegisteredModel:
    """A :class:`RegisteredModel` from ``ModelOut``."""
    return RegisteredModel(
        name=d["name"],
        project=d["project"],
        description=d.get("description", ""),
        created_at=d["created_at"],
        tags=dict(d.get("tags") or {}),
        aliases={k: int(v) for k, v in (d.get("aliases") or {}).items()},
        latest_version=int(d.get("latest_version", 0)),
    )


def model_version_from_dict(d: dict[str, Any]) -> ModelVersion:
    """A :class:`ModelVersion` from ``ModelVersionOut`` (null metric values are NaN)."""
    return ModelVersion(
        name=d["name"],
        version=int(d["version"]),
        flavor=d["flavor"],
        artifact_digest=d["artifact_digest"],
        file_name=d["file_name"],
        run_id=d.get("run_id"),
        signature=Signature.from_dict(d.get("signature")),
        created_at=d["created_at"],
        created_by=d["created_by"],
        task=d.get("task"),
        description=d.get("description", ""),
        input_example=list(d.get("input_example") or []),
        metrics={k: _num(v) for k, v in (d.get("metrics") or {}).items()},
        datasets=list(d.get("datasets") or []),
        reports=dict(d.get("reports") or {}),
        derived_from=d.get("derived_from"),
        allow_pickle=bool(d.get("allow_pickle", False)),
        tags=dict(d.get("tags") or {}),
        aliases=list(d.get("aliases") or []),
        extra=dict(d.get("extra") or {}),
    )


def approval_from_dict(d: dict[str, Any]) -> Approval:
    """An :class:`Approval` from ``ApprovalOut``."""
    return Approval(
        d["name"],
        int(d["version"]),
        d["alias"],
        d["actor"],
        d.get("comment", ""),
        d["created_at"],
        bool(d.get("authenticated", False)),
    )


def promotion_from_dict(d: dict[str, Any]) -> Promotion:
    """A :class:`Promotion` from ``PromotionOut``."""
    return Promotion(
        id=int(d["id"]),
        name=d["name"],
        version=int(d["version"]),
        alias=d["alias"],
        previous_version=d.get("previous_version"),
        passed=bool(d["passed"]),
        applied=bool(d["applied"]),
        results=tuple(GateResult.from_dict(r) for r in d.get("results") or []),
        policy=dict(d.get("policy") or {}),
        actor=d["actor"],
        created_at=d["created_at"],
        kind=d.get("kind", "promote"),
        reason=d.get("reason", ""),
    )


def audit_event_from_dict(d: dict[str, Any]) -> AuditEvent:
    """An :class:`AuditEvent` from ``AuditEventOut``."""
    return AuditEvent(
        seq=int(d["seq"]),
        time=d["time"],
        actor=d["actor"],
        action=d["action"],
        subject_type=d["subject_type"],
        subject_id=d["subject_id"],
        payload=dict(d.get("payload") or {}),
        payload_digest=d["payload_digest"],
        prev_hash=d["prev_hash"],
        hash=d["hash"],
    )


def anchor_check_from_dict(d: dict[str, Any]) -> AnchorCheck:
    """An :class:`AnchorCheck` from ``AnchorCheckOut``."""
    return AnchorCheck(
        witness=str(d["witness"]),
        status=str(d["status"]),
        message=str(d["message"]),
        seq=d.get("seq"),
        digest=d.get("digest"),
        expected=d.get("expected"),
        found=d.get("found"),
    )
