"""Monitors over the prediction log: windows, idempotent passes, labels, alerts, validation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from monitoring_fixtures import MODEL, Receiver, log_rows, setup_workspace, shifted

from carnet import Client
from carnet.errors import AlreadyExists, Conflict, InvalidInput, NotFound


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[tuple[Client, pd.DataFrame, list[Any]]]:
    client = Client(str(tmp_path / "ws"))
    frame, models = setup_workspace(client)
    yield client, frame, models
    client.close()


def _spec(**over: Any) -> dict[str, Any]:
    spec = {
        "name": "cancer-prod",
        "model": f"{MODEL}@production",
        "reference": "cancer-ref@1",
        "target": "target",
        "window": "100rows",
    }
    spec.update(over)
    return spec


def _events(client: Client, action: str) -> list[Any]:
    return list(reversed(client.services.audit.log(action=action, limit=None)))


def test_create_stores_the_reference_once_and_audits(ws) -> None:
    client, _, _ = ws
    m = client.services.monitoring.create(_spec())
    for key in ("input_profile", "output_profile", "quality_spec", "estimator"):
        assert m.state[key].startswith(("blake3:", "sha256:"))
    assert m.state["estimator_kind"] == "CBPE"
    assert m.state["reference_version"] == 2
    # the dataset's input profile is stored once: a second monitor reuses the same artifact
    other = client.services.monitoring.create(_spec(name="second"))
    assert other.state["input_profile"] == m.state["input_profile"]
    assert [e.subject_id for e in _events(client, "monitor.created")] == ["cancer-prod", "second"]
    with pytest.raises(AlreadyExists):
        client.services.monitoring.create(_spec())


def test_row_windows_and_idempotent_passes(ws) -> None:
    client, frame, models = ws
    service = client.services.monitoring
    service.create(_spec())
    log_rows(client, models[1], frame.iloc[:250])
    first = service.run("cancer-prod")
    assert [w.rows for w in first.windows] == [100, 100]
    assert first.pending_rows == 50
    assert all(w.versions == (2,) for w in first.windows)
    w = first.windows[0]
    assert w.metrics["rows"] == 100
    assert 0 <= w.metrics["drift.share_drifted"] <= 1
    assert "performance.estimated.roc_auc" in w.metrics
    assert "quality.schema_violations" in w.metrics
    # nothing new: no window, no write, no audit event
    runs = len(_events(client, "monitor.run"))
    again = service.run("cancer-prod")
    assert again.windows == [] and again.pending_rows == 50
    assert len(_events(client, "monitor.run")) == runs
    # the carried rows join the next ones
    log_rows(client, models[1], frame.iloc[250:300])
    third = service.run("cancer-prod")
    assert [x.seq for x in third.windows] == [3] and third.pending_rows == 0
    assert [x.seq for x in service.windows("cancer-prod")] == [1, 2, 3]
    report = service.window_report(third.windows[0])
    assert {c["column"] for c in report["drift"]["columns"]} >= {"mean radius", "worst area"}


def test_time_windows_close_after_later_rows_or_the_lag(ws) -> None:
    client, frame, models = ws
    service = client.services.monitoring
    service.create(_spec(window="1m", since="all"))  # rows logged at fixed past times
    t0 = 1_700_000_040.0  # a minute boundary
    log_rows(client, models[1], frame.iloc[:90], start=t0, step=1.0)  # spans 1.5 minutes
    r = service.run("cancer-prod", now=t0 + 95)
    assert [w.rows for w in r.windows] == [60] and r.pending_rows == 30
    assert r.windows[0].start == t0 and r.windows[0].end == t0 + 60
    # without later rows, the open window closes CLOSE_LAG seconds after its end
    from carnet.services.monitoring import CLOSE_LAG

    assert service.run("cancer-prod", now=t0 + 120 + CLOSE_LAG - 1).windows == []
    late = service.run("cancer-prod", now=t0 + 120 + CLOSE_LAG)
    assert [w.rows for w in late.windows] == [30]


def test_drift_is_flagged_on_shifted_traffic_only(ws) -> None:
    client, frame, models = ws
    service = client.services.monitoring
    service.create(_spec(window="200rows"))
    sample = frame.sample(400, random_state=1)
    log_rows(client, models[1], sample.iloc[:200])
    log_rows(client, models[1], shifted(sample.iloc[200:]))
    calm, drifted = service.run("cancer-prod").windows
    assert calm.metrics["drift.dataset_drift"] == 0.0
    assert drifted.metrics["drift.dataset_drift"] == 1.0
    assert drifted.metrics["drift.share_drifted"] > 0.5
    assert drifted.metrics["drift.mean radius.drifted"] == 1.0


def test_labels_give_realized_metrics_also_for_earlier_windows(ws, tmp_path: Path) -> None:
    client, frame, models = ws
    service = client.services.monitoring
    service.create(_spec())
    sample = frame.sample(200, random_state=2).reset_index(drop=True)
    ids = log_rows(client, models[1], sample)
    first = service.run("cancer-prod")
    assert "performance.realized.accuracy" not in first.windows[0].metrics
    labels = pd.DataFrame({"request_id": ids, "outcome": sample["target"]})
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    with pytest.raises(InvalidInput) as exc:
        service.add_labels(path, id_column="request_id")
    assert exc.value.field == "label_column"
    service.add_labels(path, id_column="request_id", label_column="outcome", model=MODEL)
    r = service.run("cancer-prod")
    assert r.relabeled == [1, 2]
    stored = service.windows("cancer-prod")
    from sklearn.metrics import accuracy_score

    X = sample.drop(columns=["target"])
    expected = accuracy_score(sample["target"][:100], models[1].predict(X)[:100])
    assert stored[0].metrics["performance.realized.accuracy"] == pytest.approx(expected)
    assert stored[0].metrics["performance.labeled_rows"] == 100


def test_rules_open_once_resolve_and_notify(ws) -> None:
    client, frame, models = ws
    receiver = Receiver()
    try:
        rule = "drift.share_drifted > 0.3 for 2"
        service = client.services.monitoring
        m = service.create(
            _spec(window="100rows", rules=[rule], notify=[{"type": "webhook", "url": receiver.url}])
        )
        sample = frame.sample(500, random_state=3)
        log_rows(client, models[1], sample.iloc[:100])
        log_rows(client, models[1], shifted(sample.iloc[100:400]))
        r = service.run("cancer-prod")
        assert len(r.windows) == 4
        opened = [t for t in r.transitions if t.kind == "opened"]
        assert len(opened) == 1 and opened[0].alert.window_seq == 3  # held in windows 2 and 3
        alert = client.services.alerts.get(opened[0].alert.id)
        assert alert.status == "open" and alert.rule == rule
        assert [b["event"] for b in receiver.bodies] == ["alert.opened"]
        assert receiver.bodies[0]["alert"]["id"] == alert.id
        assert alert.actions[0]["action"] == "notify" and alert.actions[0]["ok"] is True
        # acknowledged by hand, then the rule clears and resolves it
        client.services.alerts.acknowledge(alert.id, "looking", m)
        with pytest.raises(Conflict):
            client.services.alerts.acknowledge(alert.id, "again", m)
        log_rows(client, models[1], sample.iloc[400:500])
        r2 = service.run("cancer-prod")
        assert [t.kind for t in r2.transitions] == ["resolved"]
        assert client.services.alerts.get(alert.id).status == "resolved"
        assert [b["event"] for b in receiver.bodies] == [
            "alert.opened",
            "alert.acknowledged",
            "alert.resolved",
        ]
        actions = {e.action for e in client.services.audit.log(limit=None)}
        assert {"alert.opened", "alert.acknowledged", "alert.resolved", "alert.actions"} <= actions
    finally:
        receiver.close()


def test_a_failing_notifier_does_not_stop_the_pass(ws) -> None:
    client, frame, models = ws
    service = client.services.monitoring
    service.create(
        _spec(
            rules=["rows >= 100"], notify=[{"type": "webhook", "url": "http://127.0.0.1:9/x", "retries": 0}]
        )
    )
    log_rows(client, models[1], frame.iloc[:100])
    r = service.run("cancer-prod")
    alert = client.services.alerts.get(r.transitions[0].alert.id)
    assert alert.actions[0]["ok"] is False and "127.0.0.1:9" in alert.actions[0]["error"]


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"checks": ["drift", "vibes"]}, "checks[1]"),
        ({"rules": ["drift.share_drifted >> 2"]}, "rules[0]"),
        ({"rules": [{"when": "rows > 1", "actions": ["page"]}]}, "rules[0].actions[0]"),
        ({"window": "3 fortnights"}, "window"),
        ({"model": f"{MODEL}/2"}, "model"),
        ({"reference": "cancer-ref"}, "reference"),
        ({"notify": [{"type": "webhook"}]}, "notify[0].url"),
        ({"target": "nope"}, "target"),
        ({"rules": [{"when": "rows > 1", "actions": ["retrain"]}]}, "retrain"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_monitors_name_the_field(ws, over: dict[str, Any], field: str) -> None:
    client, _, _ = ws
    with pytest.raises(InvalidInput) as exc:
        client.services.monitoring.create(_spec(**over))
    assert exc.value.field == field
    assert client.services.monitoring.list() == []


def test_unknown_names(ws) -> None:
    client, _, _ = ws
    with pytest.raises(NotFound):
        client.services.monitoring.run("nope")
    with pytest.raises(NotFound):
        client.services.monitoring.create(_spec(reference="missing@1"))
    with pytest.raises(NotFound):
        client.services.monitoring.create(_spec(model=f"{MODEL}@staging"))


def test_window_profiles_merge_into_a_daily_rollup(ws) -> None:
    client, frame, models = ws
    service = client.services.monitoring
    service.create(_spec(window="1h", since="all"))  # rows logged at fixed past times
    day = 1_700_006_400.0  # midnight UTC
    sample = frame.sample(300, random_state=4)
    log_rows(client, models[1], sample.iloc[:150], start=day, step=60.0)  # day 1: 150 rows over 2.5 h
    log_rows(client, models[1], shifted(sample.iloc[150:]), start=day + 86_400, step=60.0)  # day 2
    windows = service.run("cancer-prod", flush=True).windows
    assert len(windows) == 6
    days = service.rollup("cancer-prod", "1d")
    assert [d["windows"] for d in days] == [[1, 2, 3], [4, 5, 6]]
    assert [d["rows"] for d in days] == [150, 150]
    assert days[0]["dataset_drift"] is False and days[1]["dataset_drift"] is True
    # the merged profile equals the profile of the day's rows counted at once
    from carnet.checks.drift import detect_drift

    direct = detect_drift(
        service.references.load(service.get("cancer-prod")).input_profile,
        shifted(sample.iloc[150:]).drop(columns=["target"]).reset_index(drop=True),
    )
    assert days[1]["share_drifted"] == pytest.approx(direct.share_drifted)
    with pytest.raises(InvalidInput):
        service.rollup("cancer-prod", "100rows")


def test_retrain_action_runs_the_monitor_training_spec(ws) -> None:
    client, frame, models = ws
    spec = {
        "dataset": "cancer-ref@1",
        "task": "binary",
        "target": "target",
        "model": {"name": "logistic_regression", "params": {"max_iter": 500}},
        "project": "monitoring",
        "name": "retrained",
    }
    service = client.services.monitoring
    service.create(_spec(rules=[{"when": "rows >= 100", "actions": ["retrain"]}], retrain=spec))
    log_rows(client, models[1], frame.iloc[:100])
    r = service.run("cancer-prod")
    alert = client.services.alerts.get(r.transitions[0].alert.id)
    action = alert.actions[0]
    assert action["action"] == "retrain" and action["ok"] is True, action
    run = client.get_run(action["run"])
    assert run.tags["carnet.alert"] == str(alert.id) and run.name == "retrained"
    assert action["metrics"]["roc_auc"] > 0.9


def test_a_bad_retrain_spec_is_refused_at_creation(ws) -> None:
    client, _, _ = ws
    with pytest.raises(InvalidInput) as exc:
        client.services.monitoring.create(_spec(retrain={"dataset": "cancer-ref@1", "task": "nope"}))
    assert exc.value.field.startswith("retrain")


def test_a_new_monitor_starts_at_its_creation_and_watches_its_alias(ws) -> None:
    """Rows logged before the monitor existed, and rows of a version its alias never held, are not
    its traffic; ``since: all`` backfills the log of the versions the alias held."""
    import time

    client, frame, models = ws
    service = client.services.monitoring
    old = time.time() - 3600
    log_rows(client, models[1], frame.iloc[:100], start=old)  # before the monitor: version 2
    service.create(_spec(name="fresh"))
    service.create(_spec(name="backfill", since="all"))
    service.create(_spec(name="recent", since="2h"))
    log_rows(client, models[0], frame.iloc[100:200], version=3)  # a version the alias never held (a canary)
    log_rows(client, models[1], frame.iloc[200:300])  # production's
    fresh = service.run("fresh", flush=True)
    assert sum(w.rows for w in fresh.windows) == 100 and all(w.versions == (2,) for w in fresh.windows)
    backfill = service.run("backfill", flush=True)
    assert sum(w.rows for w in backfill.windows) == 200 and all(w.versions == (2,) for w in backfill.windows)
    assert sum(w.rows for w in service.run("recent", flush=True).windows) == 200
    assert service.get("fresh").state["since"] >= old + 3000
    bad = pytest.raises(InvalidInput, match="since")
    with bad:
        service.create(_spec(name="bad", since="yesterday"))
