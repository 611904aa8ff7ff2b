"""The whole loop over real HTTP: serve -> drifted traffic -> monitor pass -> alert -> webhook received
by a local server -> alias rolled back -> the running server answers with the previous version;
and the monitor's results as Prometheus gauges of the serving process."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from monitoring_fixtures import MODEL, Receiver, setup_workspace, shifted, v2_body  # noqa: E402

from carnet import Client  # noqa: E402
from carnet.server.background import serve_in_thread  # noqa: E402


def _infer(url: str, rows) -> dict:
    r = httpx.post(f"{url}/v2/models/{MODEL}/infer", json=v2_body(rows), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_drift_alert_notifies_and_rolls_back_the_served_alias(tmp_path: Path) -> None:
    client = Client(str(tmp_path / "ws"))
    frame, _ = setup_workspace(client)
    receiver = Receiver()
    background = serve_in_thread(
        client.services, [f"{MODEL}@production"], log_predictions=True, poll_interval=0.2
    )
    try:
        client.services.monitoring.create(
            {
                "name": "cancer-prod",
                "model": f"{MODEL}@production",
                "reference": "cancer-ref@1",
                "target": "target",
                "window": "100rows",
                "rules": [{"when": "drift.share_drifted > 0.3", "actions": ["notify", "rollback"]}],
                "notify": [{"type": "webhook", "url": receiver.url}],
            }
        )
        sample = frame.sample(200, random_state=7)
        for i in range(0, 100, 10):  # calm traffic, 10 rows per request
            assert _infer(background.url, sample.iloc[i : i + 10])["model_version"] == "2"
        background.predlog.flush()
        calm = client.services.monitoring.run("cancer-prod")
        assert len(calm.windows) == 1 and calm.transitions == []
        for i in range(100, 200, 10):  # drifted traffic
            _infer(background.url, shifted(sample.iloc[i : i + 10]))
        background.predlog.flush()
        result = client.services.monitoring.run("cancer-prod")
        assert [t.kind for t in result.transitions] == ["opened"]
        alert = client.services.alerts.get(result.transitions[0].alert.id)
        # the webhook got the alert
        assert [b["event"] for b in receiver.bodies] == ["alert.opened"]
        assert receiver.bodies[0]["monitor"] == "cancer-prod"
        # the alias went back to version 1, audited
        assert client.services.registry.resolve(f"{MODEL}@production").version == 1
        rollback = next(a for a in alert.actions if a["action"] == "rollback")
        assert rollback["ok"] is True and rollback["to"] == 1
        # the running server answers with version 1 within seconds, without a restart
        deadline = time.monotonic() + 20
        while _infer(background.url, sample.iloc[:1])["model_version"] != "1":
            assert time.monotonic() < deadline, "the server kept answering with version 2"
            time.sleep(0.1)
        # Prometheus gauges of the serving process carry the monitor's latest window
        deadline = time.monotonic() + 20
        while True:
            text = httpx.get(f"{background.url}/metrics", timeout=10).text
            if 'carnet_monitor_active_alerts{monitor="cancer-prod"} 1.0' in text:
                break
            assert time.monotonic() < deadline, "monitor gauges never appeared"
            time.sleep(0.1)
        assert 'carnet_monitor_value{metric="drift.share_drifted",monitor="cancer-prod"}' in text
        assert 'carnet_monitor_value{metric="performance.estimated.roc_auc",monitor="cancer-prod"}' in text
        assert 'carnet_monitor_column_drift{column="mean radius",monitor="cancer-prod"}' in text
        actions = [e.action for e in client.services.audit.log(limit=None)]
        assert {"monitor.run", "alert.opened", "alert.actions", "model.rollback"} <= set(actions)
        assert client.services.audit.verify().ok
    finally:
        background.stop()
        receiver.close()
        client.close()


def test_serve_in_thread_rejects_an_unknown_reference(tmp_path: Path) -> None:
    client = Client(str(tmp_path / "ws"))
    try:
        from carnet.errors import NotFound

        with pytest.raises(NotFound):
            serve_in_thread(client.services, ["nothing@production"])
    finally:
        client.close()
