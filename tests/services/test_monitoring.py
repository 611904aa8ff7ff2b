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


def _boundary(size: int) -> float:
    """The first multiple of ``size`` seconds after now (rows logged from there on are later than
    every monitor and alias move the test made)."""
    import time

    return float((int(time.time()) // size + 1) * size)


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
    service.create(_spec(window="1m"))
    t0 = _boundary(60)  # a minute boundary after the monitor's creation and the alias's last move
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
    service.create(_spec(window="1h"))
    day = _boundary(86_400)  # the next midnight UTC
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
    from carnet.monitoring.drift import detect_drift

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


def _log(client: Client, models: list[Any], version: int, rows: pd.DataFrame) -> float:
    """Log ``rows`` as answered now by ``version``; when they were logged."""
    import time

    now = time.time()
    log_rows(client, models[version - 1], rows, version=version, start=now, step=0.0)
    return now


def test_a_new_monitor_reads_from_its_creation_the_versions_its_alias_served(ws) -> None:
    """Rows logged before the monitor existed, and rows answered by a version its alias did not
    point to when they were logged, are not its traffic; ``since`` backfills on request."""
    import datetime as dt

    client, frame, models = ws
    service = client.services.monitoring
    client.set_model_alias(MODEL, "production", 1)
    _log(client, models, 1, frame.iloc[:40])  # production's traffic then: version 1
    client.set_model_alias(MODEL, "production", 2)
    middle = _log(client, models, 2, frame.iloc[40:90])  # then version 2's
    stamp = dt.datetime.fromtimestamp(middle - 0.001, dt.UTC).isoformat()
    for name, since in (("fresh", None), ("backfill", "all"), ("hour", "1h"), ("stamp", stamp)):
        service.create(_spec(name=name, window="1000rows", **({"since": since} if since else {})))
    _log(client, models, 1, frame.iloc[90:120])  # version 1 still answers a route (a canary): not production
    _log(client, models, 2, frame.iloc[120:180])
    client.set_model_alias(MODEL, "production", 1)  # a rollback: the monitor follows the alias
    _log(client, models, 1, frame.iloc[180:200])
    _log(client, models, 2, frame.iloc[200:210])  # version 2 is not production any more

    def seen(name: str) -> tuple[int, tuple[int, ...]]:
        (window,) = service.run(name, flush=True).windows
        return window.rows, window.versions

    assert seen("fresh") == (60 + 20, (1, 2))
    assert seen("backfill") == (40 + 50 + 60 + 20, (1, 2))
    assert seen("hour") == (40 + 50 + 60 + 20, (1, 2))
    assert seen("stamp") == (50 + 60 + 20, (1, 2))
    assert service.get("fresh").state["since"] > middle
    assert service.get("fresh").to_spec().get("since") is None
    assert service.get("backfill").to_spec()["since"] == "all"
    with pytest.raises(InvalidInput, match="since"):
        service.create(_spec(name="bad", since="yesterday"))


def test_v1_traffic_before_a_monitor_on_v2_is_not_read_unless_backfilled(ws) -> None:
    """The case as a user meets it: predictions of version 1, then version 2 promoted and a monitor
    made on its alias; the monitor reads none of the earlier rows, ``since: all`` reads them all."""
    client, frame, models = ws
    service = client.services.monitoring
    client.set_model_alias(MODEL, "production", 1)
    _log(client, models, 1, frame.iloc[:150])
    client.set_model_alias(MODEL, "production", 2)
    service.create(_spec(name="new", window="100rows"))
    service.create(_spec(name="all", window="100rows", since="all"))
    assert service.run("new", flush=True).windows == []
    assert [(w.rows, w.versions) for w in service.run("all", flush=True).windows] == [(100, (1,)), (50, (1,))]
    _log(client, models, 2, frame.iloc[150:250])
    assert [(w.rows, w.versions) for w in service.run("new").windows] == [(100, (2,))]


def test_a_monitor_made_before_since_existed_keeps_reading_every_row(ws) -> None:
    """A monitor stored without ``since`` (made by an earlier carnet) reads the whole log, every
    version's rows, as it always did."""
    client, frame, models = ws
    service = client.services.monitoring
    client.set_model_alias(MODEL, "production", 1)
    _log(client, models, 1, frame.iloc[:40])
    client.set_model_alias(MODEL, "production", 2)
    m = service.create(_spec(name="legacy", window="1000rows"))
    legacy = {k: v for k, v in m.state.items() if k not in ("since", "follow_alias")}
    assert m.id is not None
    with service.ctx.store.transaction() as tx:
        tx.monitors.update_state(m.id, legacy, m.created_at)
    _log(client, models, 1, frame.iloc[40:70])
    _log(client, models, 2, frame.iloc[70:100])
    (window,) = service.run("legacy", flush=True).windows
    assert (window.rows, window.versions) == (100, (1, 2))


def test_windows_evaluated_on_an_executor_match_the_in_process_ones(ws) -> None:
    client, frame, models = ws
    service = client.services.monitoring
    service.create(_spec())
    service.create(_spec(name="pooled"))
    log_rows(client, models[1], shifted(frame.iloc[:300]))
    here = service.run("cancer-prod", flush=True)
    pooled = service.run("pooled", flush=True, executor="local", jobs=2)  # worker processes
    assert [w.rows for w in pooled.windows] == [w.rows for w in here.windows] == [100, 100, 100]
    for a, b in zip(here.windows, pooled.windows, strict=True):
        assert a.metrics == pytest.approx(b.metrics)
    assert client.services.monitoring.windows("pooled")[0].metrics["drift.share_drifted"] > 0
