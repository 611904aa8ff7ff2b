"""Deployments, monitors, alerts, labels and drift through the SDK, on a local workspace and through
``carnet server`` (real uvicorn on 127.0.0.1): the same calls, the same results (the services'
own answers), the same error classes; with authentication on, a missing role is PermissionDenied."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from monitoring_fixtures import MODEL, Receiver, log_rows, setup_workspace, shifted  # noqa: E402

from carnet.client import Client, LocalClient, RemoteClient  # noqa: E402
from carnet.domain import Deployment, Monitor, MonitorWindow, ResolvedDeployment  # noqa: E402
from carnet.domain.monitors import Alert, LabelFile, PassResult  # noqa: E402
from carnet.errors import (  # noqa: E402
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from carnet.server.api import create_api_app, serve_api_in_thread  # noqa: E402
from carnet.services.monitoring import shown_spec  # noqa: E402
from conftest import test_server_policy

SECRET = "s3cret-hook-key"
DEPLOYMENT = """\
endpoint: cancer
routes:
  - {model: cancer@production, weight: 90}
  - {model: cancer/1, weight: 10}
sticky_header: X-User-Id
batching: {max_batch_rows: 32, max_wait_ms: 1.5}
"""


@dataclass
class Side:
    """The SDK under test (local or remote) and the workspace it reaches (a local client on it)."""

    kind: str
    client: Any
    workspace: LocalClient
    frame: pd.DataFrame
    models: list[Any]
    url: str = ""


@pytest.fixture(scope="module", params=["local", "remote"])
def side(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Side]:
    tmp = tmp_path_factory.mktemp(request.param)
    workspace = Client(str(tmp / "ws"))
    frame, models = setup_workspace(workspace)
    workspace.log_dataframe(shifted(frame, columns=5), "cancer-cur")
    if request.param == "local":
        try:
            yield Side("local", workspace, workspace, frame, models)
        finally:
            workspace.close()
        return
    app = create_api_app(
        workspace.services, require_auth=False, max_body_bytes=1 << 24, policy=test_server_policy()
    )
    server = serve_api_in_thread(app)
    remote = Client(server.url)
    try:
        yield Side("remote", remote, workspace, frame, models, server.url)
    finally:
        remote.close()
        server.stop()
        workspace.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    try:
        yield hook
    finally:
        hook.close()


def _field(exc: pytest.ExceptionInfo[Any]) -> str | None:
    return exc.value.field  # type: ignore[no-any-return]


def test_the_client_is_the_expected_kind(side: Side) -> None:
    assert isinstance(side.client, RemoteClient if side.kind == "remote" else LocalClient)


# -- deployments ------------------------------------------------------------------------------------
def test_deployments_set_show_resolve_history_delete(side: Side, tmp_path: Path) -> None:
    c, services = side.client, side.workspace.services
    spec = tmp_path / "cancer.yaml"
    spec.write_text(DEPLOYMENT)
    dep = c.set_deployment(spec)
    assert isinstance(dep, Deployment) and dep == services.deployments.get("cancer")
    batching = {"max_batch_rows": 32, "max_wait_ms": 1.5}
    assert (dep.revision, dep.sticky_header, dep.batching) == (1, "X-User-Id", batching)
    assert c.set_deployment(DEPLOYMENT) == dep  # unchanged spec (YAML text): no new revision
    assert c.get_deployment("cancer") == dep and c.list_deployments() == [dep]

    resolved = c.resolve_deployment("cancer")
    assert isinstance(resolved, ResolvedDeployment) and resolved.deployment == dep
    assert [(r.ref, r.version.ref, r.weight) for r in resolved.routes] == [
        ("cancer@production", "cancer/2", 90.0),
        ("cancer/1", "cancer/1", 10.0),
    ]
    local = services.deployments.resolve("cancer")
    assert [r.version.artifact_digest for r in resolved.routes] == [
        r.version.artifact_digest for r in local.routes
    ]

    second = c.set_deployment({"endpoint": "cancer", "routes": [{"model": "cancer/2", "weight": 1}]})
    assert second.revision == 2 and [r.model for r in second.routes] == ["cancer/2"]
    gone = c.delete_deployment("cancer", reason="retired")
    assert (gone.revision, gone.deleted) == (3, True)
    history = c.deployment_history("cancer")
    assert history == services.deployments.history("cancer")
    assert [(d.revision, d.deleted) for d in history] == [(1, False), (2, False), (3, True)]
    assert c.list_deployments() == []
    event = services.audit.log("deployment", "cancer", action="deployment.delete")[0]
    assert event.payload["reason"] == "retired"


def test_deployment_mistakes_raise_the_same_errors(side: Side) -> None:
    c = side.client
    with pytest.raises(NotFound) as err:
        c.get_deployment("never-deployed")
    assert _field(err) == "endpoint"
    with pytest.raises(NotFound) as err:
        c.resolve_deployment("never-deployed")
    assert _field(err) == "endpoint"
    with pytest.raises(NotFound) as err:
        c.deployment_history("never-deployed")
    assert _field(err) == "endpoint"
    with pytest.raises(InvalidInput) as err:
        c.set_deployment(DEPLOYMENT.replace("weight: 10", "weight: -10"))
    assert _field(err) == "routes[1].weight"
    with pytest.raises(NotFound) as err:
        c.set_deployment(DEPLOYMENT.replace("cancer/1", "cancer/9"))
    assert _field(err) == "routes[1].model"
    with pytest.raises(InvalidInput) as err:
        c.set_deployment("endpoint: [")
    assert "YAML" in err.value.message


def test_a_reference_that_stopped_resolving_is_not_found(side: Side) -> None:
    c, workspace = side.client, side.workspace
    workspace.set_model_alias(MODEL, "staging", 1)
    c.set_deployment({"endpoint": "staged", "routes": [{"model": "cancer@staging", "weight": 1}]})
    workspace.delete_model_alias(MODEL, "staging")
    with pytest.raises(NotFound) as err:
        c.resolve_deployment("staged")
    assert _field(err) == "routes[0].model" and "staging" in err.value.message


# -- monitors, windows, alerts, labels --------------------------------------------------------------
def test_a_monitor_from_creation_to_deletion(side: Side, receiver: Receiver, tmp_path: Path) -> None:
    c, services = side.client, side.workspace.services
    spec = {
        "name": "cancer-prod",
        "model": f"{MODEL}@production",
        "reference": "cancer-ref@1",
        "target": "target",
        "window": "100rows",
        "rules": ["drift.share_drifted > 0.3", {"when": "rows >= 1", "actions": ["notify"]}],
        "notify": [{"type": "webhook", "url": receiver.url, "secret": SECRET}],
    }
    created = c.create_monitor(spec)
    stored = services.monitoring.get("cancer-prod")
    assert isinstance(created, Monitor) and shown_spec(created) == shown_spec(stored)
    public = {k: v for k, v in stored.state.items() if not k.startswith("carry")}
    assert {k: v for k, v in created.state.items() if not k.startswith("carry")} == public
    secret = created.notify[0]["secret"]
    assert secret == ("***" if side.kind == "remote" else SECRET)  # the server never shows secrets
    assert [m.name for m in c.list_monitors()] == ["cancer-prod"]
    got = c.get_monitor("cancer-prod")
    assert (got.name, got.window.label, [r.text for r in got.rules]) == (
        "cancer-prod",
        "100rows",
        ["drift.share_drifted > 0.3", "rows >= 1"],
    )
    assert (got.created_at, got.actor) == (stored.created_at, stored.actor)

    sample = side.frame.sample(200, random_state=5)
    ids = log_rows(side.workspace, side.models[1], sample.iloc[:100])
    log_rows(side.workspace, side.models[1], shifted(sample.iloc[100:]))
    result = c.run_monitor("cancer-prod")
    assert isinstance(result, PassResult) and result.monitor == "cancer-prod"
    assert [w.seq for w in result.windows] == [1, 2] and result.pending_rows == 0
    opened = [(t.kind, t.alert.rule) for t in result.transitions]
    assert opened == [("opened", "rows >= 1"), ("opened", "drift.share_drifted > 0.3")]
    assert all(isinstance(t.alert, Alert) and t.alert.status == "open" for t in result.transitions)
    assert [t.rule.text for t in result.transitions if t.rule] == [
        "rows >= 1",
        "drift.share_drifted > 0.3",
    ]
    assert [t.to_dict()["alert"] for t in result.transitions] == [
        a.id for a in sorted(services.alerts.list(stored), key=lambda a: a.id)
    ]
    assert c.run_monitor("cancer-prod", flush=True).windows == []  # idempotent

    windows = c.monitor_windows("cancer-prod")
    assert all(isinstance(w, MonitorWindow) for w in windows)
    assert _shown(windows) == _shown(services.monitoring.windows("cancer-prod"))
    assert windows[1].metrics["drift.share_drifted"] > 0.3
    assert [w.seq for w in c.monitor_windows("cancer-prod", last=1)] == [2]
    report = c.monitor_window_report("cancer-prod", 2)
    assert report == services.monitoring.window_report(services.monitoring.windows("cancer-prod")[1])
    assert "mean radius" in json.dumps(report)
    rollup = c.monitor_rollup("cancer-prod", "1d")
    assert [(p["windows"], p["rows"]) for p in rollup] == [
        (p["windows"], p["rows"]) for p in services.monitoring.rollup("cancer-prod", "1d")
    ]
    assert sum(p["rows"] for p in rollup) == 200

    alerts = c.list_alerts("cancer-prod", "open")
    assert [a.rule for a in alerts] == ["drift.share_drifted > 0.3", "rows >= 1"]
    assert alerts == services.alerts.list(services.monitoring.get("cancer-prod"), ["open"])
    drift_alert = alerts[0].id
    acked = c.acknowledge_alert(drift_alert, "looking")
    assert (acked.status, acked.history[-1]["comment"]) == ("acknowledged", "looking")
    done = c.resolve_alert(drift_alert, comment="fixed upstream")
    assert done.status == "resolved" and done == services.alerts.get(drift_alert)
    assert [b["event"] for b in receiver.bodies if b["alert"]["id"] == drift_alert] == [
        "alert.opened",
        "alert.acknowledged",
        "alert.resolved",
    ]
    with pytest.raises(Conflict) as err:
        c.acknowledge_alert(drift_alert)
    assert _field(err) == "alert"
    assert [a.id for a in c.list_alerts(status=["resolved"])] == [drift_alert]

    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ids, "y": sample["target"].iloc[:100].to_numpy()}).to_csv(labels, index=False)
    added = c.add_labels(labels, label_column="y", model=MODEL)
    assert isinstance(added, LabelFile) and (added.rows, added.model) == (100, MODEL)
    framed = c.add_labels(pd.DataFrame({"request_id": ["x1", "x2"], "label": [0, 1]}))
    assert framed.rows == 2 and framed.digest != added.digest
    assert c.run_monitor("cancer-prod").relabeled == [1]

    c.delete_monitor("cancer-prod")
    assert c.list_monitors() == []
    with pytest.raises(NotFound) as err:
        c.get_monitor("cancer-prod")
    assert _field(err) == "name"
    # an alert of a deleted monitor can still be resolved
    assert c.resolve_alert(alerts[1].id).status == "resolved"


def _shown(windows: list[MonitorWindow]) -> list[str]:
    """Windows as JSON text (NaN metrics compare equal this way)."""
    return [json.dumps(w.to_dict(), sort_keys=True) for w in windows]


def test_monitor_mistakes_raise_the_same_errors(side: Side, tmp_path: Path) -> None:
    c = side.client
    good = {"name": "m-err", "model": f"{MODEL}@production", "reference": "cancer-ref@1", "window": "1h"}
    cases: list[tuple[Any, type[Exception], str]] = [
        (lambda: c.create_monitor({**good, "model": f"{MODEL}/1"}), InvalidInput, "model"),
        (lambda: c.create_monitor({**good, "rules": ["nonsense"]}), InvalidInput, "rules[0]"),
        (lambda: c.create_monitor({**good, "reference": "nope@1"}), NotFound, "dataset"),
        (lambda: c.get_monitor("nope"), NotFound, "name"),
        (lambda: c.run_monitor("nope"), NotFound, "name"),
        (lambda: c.monitor_windows("nope"), NotFound, "name"),
        (lambda: c.monitor_rollup("nope"), NotFound, "name"),
        (lambda: c.delete_monitor("nope"), NotFound, "name"),
        (lambda: c.list_alerts("nope"), NotFound, "name"),
        (lambda: c.list_alerts(status="closed"), InvalidInput, "status"),
        (lambda: c.acknowledge_alert(987654), NotFound, "alert"),
        (lambda: c.resolve_alert(0), InvalidInput, "alert_id"),
        (lambda: c.monitor_windows("m-err", last=0), InvalidInput, "last"),
        (lambda: c.add_labels(tmp_path / "missing.csv"), InvalidInput, "file"),
    ]
    for call, cls, field in cases:
        with pytest.raises(cls) as err:
            call()
        assert (type(err.value), err.value.field) == (cls, field), err.value  # type: ignore[attr-defined]

    c.create_monitor(good)
    with pytest.raises(AlreadyExists) as err:
        c.create_monitor(good)
    assert _field(err) == "name"
    with pytest.raises(InvalidInput) as err:
        c.monitor_rollup("m-err", "100rows")
    assert _field(err) == "period"
    with pytest.raises(NotFound) as err:
        c.monitor_window_report("m-err", 5)
    assert _field(err) == "seq"
    with pytest.raises(InvalidInput) as err:
        c.monitor_window_report("m-err", 0)
    assert _field(err) == "seq"
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nr1,1\n")
    with pytest.raises(InvalidInput) as err:
        c.add_labels(labels, label_column="y")
    assert _field(err) == "label_column" and str(labels) in err.value.message
    with pytest.raises(InvalidInput) as err:
        c.add_labels(pd.DataFrame({"request_id": ["a", "a"], "label": [0, 1]}))
    assert _field(err) == "labels" and "DataFrame" in err.value.message
    c.delete_monitor("m-err")


# -- drift ------------------------------------------------------------------------------------------
def test_drift_between_versions_files_and_frames(side: Side, tmp_path: Path) -> None:
    c, services = side.client, side.workspace.services
    both = c.drift("cancer-ref@1", "cancer-cur@1")
    assert both.to_dict() == services.monitoring.drift("cancer-ref@1", "cancer-cur@1").to_dict()
    assert set(both.drifted_columns) == set(side.frame.columns[:5]) and not both.dataset_drift
    assert both.reference_rows == len(side.frame)

    current = tmp_path / "current.csv"
    shifted(side.frame, columns=5).to_csv(current, index=False)
    options = {"column_methods": {"mean radius": "ks"}, "drift_share": 0.1}
    with_file = c.drift("cancer-ref@1", str(current), options)
    assert with_file.to_dict() == services.monitoring.drift("cancer-ref@1", str(current), options).to_dict()
    assert with_file.dataset_drift and with_file.options.drift_share == 0.1
    assert [x.method for x in with_file.columns if x.column == "mean radius"] == ["ks"]

    reference = tmp_path / "reference.parquet"
    side.frame.to_parquet(reference)
    file_first = c.drift(str(reference), "cancer-cur@1")
    assert file_first.to_dict() == services.monitoring.drift(str(reference), "cancer-cur@1").to_dict()
    frames = c.drift(side.frame, side.frame)
    assert frames.drifted_columns == () and frames.share_drifted == 0.0


def test_drift_mistakes_raise_the_same_errors(side: Side, tmp_path: Path) -> None:
    c = side.client
    with pytest.raises(InvalidInput) as err:
        c.drift("cancer-ref@1", "cancer-cur@1", {"column_methods": {"mean radius": "nope"}})
    assert _field(err) == "column_methods.mean radius"
    with pytest.raises(InvalidInput) as err:
        c.drift("cancer-ref@1", "cancer-cur@1", {"bogus": 1})
    assert _field(err) == "bogus"
    with pytest.raises(NotFound):
        c.drift("cancer-ref@1", "nope@1")
    with pytest.raises(NotFound) as err:
        c.drift("cancer-ref@1", str(tmp_path / "missing.csv"))
    assert _field(err) == "current"
    other = tmp_path / "other.csv"
    pd.DataFrame({"z": [1.0, 2.0, 3.0]}).to_csv(other, index=False)
    with pytest.raises(InvalidInput):
        c.drift("cancer-ref@1", str(other))


# -- authentication on: roles per route -------------------------------------------------------------
@pytest.mark.parametrize("side", ["remote"], indirect=True)  # roles are the server's
def test_a_missing_role_is_permission_denied(side: Side) -> None:
    services = side.workspace.services
    users = {"vic": {"monitoring": "viewer"}, "ed": {"monitoring": "editor"}, "dan": {"default": "viewer"}}
    tokens = {}
    for user, roles in users.items():
        services.auth.add_user(user, roles)
        tokens[user] = services.auth.create_token(user, "tests")[0]
    server = serve_api_in_thread(create_api_app(services, require_auth=True))
    spec = {"name": "m-auth", "model": f"{MODEL}@production", "reference": "cancer-ref@1", "window": "1h"}
    try:
        with (
            Client(server.url, token=tokens["vic"]) as vic,
            Client(server.url, token=tokens["ed"]) as ed,
            Client(server.url, token=tokens["dan"]) as dan,
        ):
            with pytest.raises(PermissionDenied) as err:
                vic.create_monitor(spec)
            assert _field(err) == "project"
            ed.create_monitor(spec)
            assert [m.name for m in vic.list_monitors()] == ["m-auth"]
            assert dan.list_monitors() == []
            with pytest.raises(PermissionDenied):
                vic.delete_monitor("m-auth")
            with pytest.raises(PermissionDenied):
                dan.monitor_windows("m-auth")
            with pytest.raises(PermissionDenied):  # deployments need a role on every project
                ed.resolve_deployment("cancer")
            with pytest.raises(PermissionDenied):
                ed.list_deployments()
            with pytest.raises(PermissionDenied):  # cancer-cur is in project default
                ed.drift("cancer-ref@1", "cancer-cur@1")
            with pytest.raises(PermissionDenied):  # cancer-ref is in project monitoring
                dan.drift("cancer-ref@1", "cancer-cur@1")
            assert dan.drift("cancer-cur@1", "cancer-cur@1").reference_rows == len(side.frame)
            with pytest.raises(PermissionDenied):  # labels for no model: editor on every project
                ed.add_labels(pd.DataFrame({"request_id": ["a"], "label": [1]}))
            assert ed.add_labels(pd.DataFrame({"request_id": ["a"], "label": [1]}), model=MODEL).rows == 1
            ed.delete_monitor("m-auth")
    finally:
        server.stop()
