"""The remote client's one decoder: every domain object the REST API answers with comes back equal
from the JSON the server sends for it (``*Out.of(...).model_dump(mode="json")``), NaN and the
infinities of metrics, None fields and defaults included."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from carnet.client import Client
from carnet.client.wire import RollupPeriod, decode
from carnet.domain import (
    Approval,
    Artifact,
    AuditEvent,
    ColumnSpec,
    DatasetVersion,
    Deployment,
    DeploymentRoute,
    GateResult,
    Metric,
    ModelVersion,
    Monitor,
    MonitorWindow,
    Project,
    Promotion,
    RegisteredModel,
    ResolvedDeployment,
    ResolvedRoute,
    Run,
    RunInput,
    Signature,
    load_monitor,
)
from carnet.domain.anchors import AnchorCheck
from carnet.domain.audit import StateMismatch
from carnet.domain.auth import TokenInfo, User
from carnet.domain.drift import ColumnDrift, DriftOptions, DriftReport, MultivariateResult
from carnet.domain.evaluation import EvaluationResult, Plot
from carnet.domain.monitors import Alert, AlertRule, LabelFile, PassResult, Transition
from carnet.domain.runs import RunPage
from carnet.domain.training import TrainOutcome, spec_from_dict
from carnet.domain.verification import Verification
from carnet.schemas import admin, audit, datasets, deployments, monitoring, operations, registry, tracking
from carnet.schemas.training import EvaluationOut, TrainOutcomeOut

NAN, INF = math.nan, math.inf


def _same(decoded: Any, expected: Any) -> None:
    """Equal, and of the same shape: ``repr`` shows NaN and the infinities (NaN is never ``==``)."""
    assert type(decoded) is type(expected)
    assert repr(decoded) == repr(expected)
    if "nan" not in repr(expected):
        assert decoded == expected


def _wire(model: Any) -> Any:
    """What the server sends for a wire model."""
    return model.model_dump(mode="json", by_alias=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("wire")
    client = Client(str(tmp / "ws"))
    csv = tmp / "iris.csv"
    csv.write_text("a,b,label\n1,2.5,x\n5,6.5,y\n3,,x\n")
    client.add_dataset(csv, "iris", project="wire", description="first")
    csv.write_text("a,b,label\n1,2.5,x\n")
    client.add_dataset(csv, "iris", project="wire", parent="iris@1")
    run = client.create_run("wire", "r1", params={"lr": 0.1}, tags={"team": "a"}, environment={"seed": 1})
    client.log_metrics(run.id, {"loss": 0.5, "nan": NAN, "up": INF, "down": -INF}, step=2, timestamp=10.0)
    client.log_artifact_bytes(run.id, b"hello", "notes/a.txt")
    client.log_inputs(run.id, ["iris@1", "iris@2"])
    client.end_run(run.id, "failed", error="boom")
    child = client.create_run("wire", parent_id=run.id)
    yield client, run.id, child.id
    client.close()


def test_runs_projects_metrics_artifacts_and_inputs_of_a_workspace(workspace: Any) -> None:
    client, run_id, child_id = workspace
    run = client.get_run(run_id)
    assert math.isnan(run.metrics["nan"]) and run.metrics["up"] == INF and run.error == "boom"
    _same(decode(Run, _wire(tracking.RunOut.of(run))), run)
    child = client.get_run(child_id)
    assert child.end_time is None
    _same(decode(Run, _wire(tracking.RunOut.of(child))), child)
    page = RunPage([run, child], "next")
    _same(decode(RunPage, _wire(tracking.RunPageOut.of(page))), page)
    for project, runs in client.list_projects():
        # the server does not send a project's id
        _same(decode(Project, _wire(tracking.ProjectOut.of(project, runs))), replace(project, id=0))
    history = [m for key in ("loss", "nan", "up", "down") for m in client.get_metric_history(run_id, key)]
    assert len(history) == 4
    for metric in history:
        _same(decode(Metric, _wire(tracking.MetricOut.of(metric))), metric)
    (artifact,) = client.list_artifacts(run_id)
    _same(decode(Artifact, _wire(tracking.ArtifactOut.of(artifact))), artifact)
    inputs = client.list_inputs(run_id)
    _same(decode(list[RunInput], [_wire(tracking.RunInputOut.of(i)) for i in inputs]), inputs)


def test_dataset_versions_with_profile_parent_and_without_profile(workspace: Any) -> None:
    client, _, _ = workspace
    first, second = client.dataset_versions("iris")
    assert second.parent is not None and first.profile
    for version in (first, second):
        _same(decode(DatasetVersion, _wire(datasets.DatasetVersionOut.of(version, created=True))), version)
    listed = decode(DatasetVersion, _wire(datasets.DatasetVersionOut.of(first, profile=False)))
    assert listed.profile == [] and listed.schema == first.schema


def test_the_audit_ledger_and_its_verification(workspace: Any) -> None:
    client, _, _ = workspace
    events = client.audit_log(limit=None)
    assert events
    for event in events:
        _same(decode(AuditEvent, _wire(audit.AuditEventOut.of(event))), event)
    verified = client.verify_audit()
    _same(decode(Verification, _wire(audit.VerificationOut.of(verified))), verified)
    found = Verification(
        False,
        3,
        2,
        "rewritten",
        anchors=(
            AnchorCheck("file:/w", "ok", "matches", 3, "sha:1"),
            AnchorCheck("s3://b", "missing", "none"),
        ),
        state=(StateMismatch("runs", "abc", {"status": "finished"}, None),),
        runs_checked=4,
        runs_not_covered=1,
    )
    _same(decode(Verification, _wire(audit.VerificationOut.of(found))), found)
    check = found.anchors[1]
    _same(decode(AnchorCheck, _wire(audit.AnchorCheckOut.of(check))), check)


def _version(**changes: Any) -> ModelVersion:
    signature = Signature(
        (ColumnSpec("a", "float64"), ColumnSpec("b", "object")),
        (ColumnSpec("prediction", "int64"),),
        transforms={"b": {"method": "hash"}},
    )
    values: dict[str, Any] = {
        "name": "churn",
        "version": 3,
        "flavor": "sklearn",
        "artifact_digest": "blake3:00",
        "file_name": "model.skops",
        "run_id": None,
        "signature": signature,
        "created_at": 12.5,
        "created_by": "ann",
        "task": "binary",
        "input_example": [{"a": 1.0, "b": "x"}],
        "metrics": {"auc": 0.9, "nan": NAN, "inf": INF, "-inf": -INF},
        "datasets": ["iris@1"],
        "reports": {"eval.json": "blake3:01"},
        "derived_from": 2,
        "tags": {"team": "a"},
        "aliases": ["production"],
        "extra": {"classes": [0, 1]},
    }
    return ModelVersion(**{**values, **changes})


def test_the_registry_models_versions_approvals_and_promotions() -> None:
    for version in (_version(), _version(task=None, derived_from=None, metrics={}, allow_pickle=True)):
        _same(decode(ModelVersion, _wire(registry.ModelVersionOut.of(version))), version)
    model = RegisteredModel("churn", "default", "", 1.0, {"t": "1"}, {"production": 3}, 3)
    _same(decode(RegisteredModel, _wire(registry.ModelOut.of(model))), model)
    approval = Approval("churn", 3, "production", "ann", "ok", 2.0, True)
    _same(decode(Approval, _wire(registry.ApprovalOut.of(approval))), approval)
    results = (
        GateResult("auc", "metric", True, "0.9", ">= 0.8", 0.9, {"rows": 10}),
        GateResult("fair", "fairness", False, error="no column"),
    )
    promotion = Promotion(7, "churn", 3, "production", None, False, False, results, {"name": "p"}, "ann", 3.0)
    _same(decode(Promotion, _wire(registry.PromotionOut.of(promotion))), promotion)
    rollback = Promotion(8, "churn", 2, "production", 3, True, True, (), {}, "ann", 4.0, "rollback", "bad")
    _same(decode(Promotion, _wire(registry.PromotionOut.of(rollback))), rollback)


def test_users_and_tokens() -> None:
    user = User("alice", False, 1.0, {"*": "viewer", "churn": "approver"})
    _same(decode(User, _wire(admin.UserOut.of(user))), user)
    token = TokenInfo(2, "alice", "laptop", "carnet_ab", 1.0, None, 3.0)
    _same(decode(TokenInfo, _wire(admin.TokenOut.of(token))), token)
    _same(decode(TokenInfo, _wire(admin.TokenCreatedOut.created("carnet_secret", token))), token)


def test_deployments_resolved_with_their_versions() -> None:
    deployment = Deployment(
        "cancer",
        (DeploymentRoute("cancer@production", 90.0), DeploymentRoute("cancer/1", 10.0)),
        ("cancer/2",),
        "X-User-Id",
        {"max_batch_rows": 32},
        4,
        5.0,
        "ann",
    )
    _same(decode(Deployment, _wire(deployments.DeploymentOut.of(deployment))), deployment)
    tombstone = Deployment("cancer", (), revision=5, created_at=6.0, deleted=True)
    _same(decode(Deployment, _wire(deployments.DeploymentOut.of(tombstone))), tombstone)
    resolved = ResolvedDeployment(
        deployment,
        (
            ResolvedRoute("cancer@production", _version(), 90.0),
            ResolvedRoute("cancer/1", _version(version=1), 10.0),
        ),
        (ResolvedRoute("cancer/2", _version(version=2, metrics={}), 0.0),),
        (3, 9),
    )
    _same(decode(ResolvedDeployment, _wire(operations.ResolvedDeploymentOut.of(resolved))), resolved)


def _alert(**changes: Any) -> Alert:
    values: dict[str, Any] = {
        "id": 1,
        "monitor": "m",
        "rule": "rows >= 1",
        "status": "open",
        "value": 100.0,
        "threshold": 1.0,
        "window_seq": 1,
        "opened_at": 2.0,
        "updated_at": 3.0,
        "message": "rows = 100",
        "actions": ({"action": "notify", "ok": True},),
        "history": ({"status": "open", "actor": "rule"},),
    }
    return Alert(**{**values, **changes})


def test_monitors_windows_rollups_alerts_labels_and_passes() -> None:
    spec = {
        "name": "m",
        "model": "cancer@production",
        "reference": "cancer-ref@1",
        "window": "100 rows",
        "rules": ["rows >= 1", {"when": "drift.share_drifted > 0.3", "actions": ["notify"]}],
        "target": "label",
    }
    monitor = replace(load_monitor(spec), state={"cursor": 3}, created_at=1.0, updated_at=2.0, actor="ann")
    wire = _wire(operations.MonitorStateOut.with_state(monitor, monitor.to_spec()))
    _same(decode(Monitor, wire), monitor)
    window = MonitorWindow("m", 2, 1.0, 2.0, 100, (1, 2), {"drift.psi": 0.2, "acc": NAN}, "blake3:0", 3.0)
    _same(decode(MonitorWindow, _wire(monitoring.WindowOut.of(window))), window)
    period = {
        "start": 0.0,
        "end": 86400.0,
        "windows": [1, 2],
        "rows": 200,
        "share_drifted": NAN,
        "dataset_drift": None,
        "drifted_columns": ["a"],
    }
    _same(decode(RollupPeriod, _wire(monitoring.RollupOut.of(period))), period)
    for alert in (_alert(), _alert(value=None, threshold=NAN, actions=(), history=())):
        _same(decode(Alert, _wire(monitoring.AlertOut.of(alert))), alert)
    labels = LabelFile(1, "blake3:0", 100, None, "upload:labels.csv", 4.0)
    _same(decode(LabelFile, _wire(monitoring.LabelFileOut.of(labels))), labels)
    result = PassResult(
        "m",
        [window],
        [1],
        5,
        2,
        [Transition("opened", _alert(), AlertRule.parse("rows >= 1")), Transition("resolved", _alert(id=2))],
    )
    _same(decode(PassResult, _wire(operations.PassDetailOut.of_pass(result))), result)


def _column(**changes: Any) -> ColumnDrift:
    values: dict[str, Any] = {
        "column": "a",
        "kind": "numeric",
        "method": "psi",
        "statistic": 0.3,
        "p_value": 0.01,
        "threshold": 0.2,
        "drifted": True,
        "labels": ("(-inf, 1]", "(1, inf)"),
        "reference_shares": (0.5, 0.5),
        "current_shares": (0.1, 0.9),
        "reference_missing": 0.0,
        "current_missing": 0.1,
        "significance": 0.05,
        "decided_by": "both",
    }
    return ColumnDrift(**{**values, **changes})


def test_drift_reports_with_tests_distances_and_the_classifier() -> None:
    columns = (
        _column(),
        _column(column="b", method="chi2", statistic=None, p_value=None, threshold=0.05, significance=None),
        _column(column="c", statistic=None, p_value=None, drifted=False, note="empty", significance=None),
    )
    outputs = (_column(column="prediction", output=True, adaptive=True, current_missing=NAN),)
    multivariate = MultivariateResult("classifier", 0.8, 0.7, NAN, True, 100, 90, ("a", "b"))
    options = DriftOptions.from_dict(
        {"methods": {"numeric": "psi"}, "drift_share": 0.5, "outputs": ["prediction"]}
    )
    report = DriftReport(columns, outputs, 1 / 3, False, 0.5, multivariate, 100, 90, options)
    _same(decode(DriftReport, _wire(operations.DriftReportOut.of(report))), report)
    plain = DriftReport(columns[:1], (), NAN, True, 0.5, None, 10, 9, DriftOptions())
    _same(decode(DriftReport, _wire(operations.DriftReportOut.of(plain))), plain)


def test_training_outcomes_and_evaluations() -> None:
    evaluation = EvaluationResult(
        "classification",
        30,
        {"accuracy": 0.9, "log_loss": 0.2, "ece": NAN},
        {"accuracy": (0.8, 1.0), "ece": (NAN, NAN)},
        {"labels": [0, 1]},
        [Plot("roc", "ROC", b"\x89PNG\r\n", {"x": [0.0, 1.0]})],
        ["a note"],
        0.9,
        200,
        {"accuracy": True, "log_loss": False},
    )
    _same(decode(EvaluationResult, _wire(EvaluationOut.of(evaluation))), evaluation)
    spec = spec_from_dict({"dataset": "iris@1", "task": "multiclass", "target": "label", "seed": 1})
    outcome = TrainOutcome(
        "run1", {"accuracy": 0.9, "ece": NAN}, {"accuracy": (0.8, 1.0)}, {"acc": 0.7}, evaluation, spec
    )
    _same(decode(TrainOutcome, _wire(TrainOutcomeOut.of(outcome))), outcome)
    bare = TrainOutcome("run2", {}, {}, {}, None, spec, warnings=["converged late"])
    _same(decode(TrainOutcome, _wire(TrainOutcomeOut.of(bare))), bare)


def test_fields_the_wire_leaves_out_take_their_defaults_and_unknown_keys_are_ignored() -> None:
    alert = decode(Alert, {**_wire(monitoring.AlertOut.of(_alert())), "actions": None, "extra": 1})
    assert alert.actions == () and alert.history == _alert().history
    window = decode(
        MonitorWindow, {"monitor": "m", "seq": 1, "start": 0, "end": 1, "rows": 2, "versions": None}
    )
    assert window == MonitorWindow("m", 1, 0.0, 1.0, 2, (), {}) and isinstance(window.start, float)


def test_the_client_decodes_without_pydantic(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = "import sys, carnet.client.wire; print('pydantic' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "False"
