"""Monitoring routes over real HTTP with authentication: monitors, passes, windows, rollups, alerts
and streamed label uploads; roles on the monitored model's project; notifier secrets never shown."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from api_testkit import Api, problem, running_api  # noqa: E402
from monitoring_fixtures import MODEL, log_rows, setup_workspace  # noqa: E402

from carnet import Client  # noqa: E402

USERS = {
    "root": {"*": "admin"},
    "vic": {"monitoring": "viewer"},
    "ed": {"monitoring": "editor"},
    "apu": {"monitoring": "approver"},
    "out": {"other": "admin"},
}
SECRET = "hunter2-very-secret"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    client = Client(str(tmp_path_factory.mktemp("monitoring") / "ws"))
    frame, models = setup_workspace(client)
    try:
        with running_api(client.services, USERS, timeout=120) as api:
            api.extra.update(client=client, frame=frame, models=models)
            yield api
    finally:
        client.close()


def spec(name: str, **over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "model": f"{MODEL}@production",
        "reference": "cancer-ref@1",
        "target": "target",
        "window": "50rows",
    }
    out.update(over)
    return out


def test_a_monitor_from_creation_to_resolved_alert(api: Api) -> None:
    notify = [{"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": SECRET}]
    rules = [{"when": "rows >= 1", "actions": ["notify"]}]
    r = api.http.post("/monitors", json=spec("m-flow", rules=rules, notify=notify), headers=api.as_("ed"))
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "m-flow" and SECRET not in r.text
    shown = api.http.get("/monitors/m-flow", headers=api.as_("vic"))
    assert shown.status_code == 200 and SECRET not in shown.text
    assert shown.json()["spec"]["notify"][0]["secret"] == "***"
    assert "m-flow" in [m["name"] for m in api.http.get("/monitors", headers=api.as_("vic")).json()]
    assert api.http.get("/monitors", headers=api.as_("out")).json() == []

    ids = log_rows(api.extra["client"], api.extra["models"][1], api.extra["frame"].head(120))
    run = api.http.post("/monitors/m-flow/run", json={"flush": True}, headers=api.as_("ed"))
    assert run.status_code == 200, run.text
    result = run.json()
    assert [w["rows"] for w in result["windows"]] == [50, 50, 20]
    assert result["files"] >= 1 and [a["rule"] for a in result["alerts"]] == ["rows >= 1"]
    again = api.http.post("/monitors/m-flow/run", headers=api.as_("ed")).json()
    assert again["windows"] == [] and again["alerts"] == []

    windows = api.http.get("/monitors/m-flow/windows", params={"last": 2}, headers=api.as_("vic")).json()
    assert [w["seq"] for w in windows] == [2, 3]
    rollup = api.http.get("/monitors/m-flow/rollup", params={"period": "1d"}, headers=api.as_("vic"))
    assert rollup.status_code == 200 and sum(d["rows"] for d in rollup.json()) == 120

    alerts = api.http.get("/alerts", params={"monitor": "m-flow"}, headers=api.as_("vic")).json()
    (alert,) = alerts
    assert alert["status"] == "open"
    assert api.http.get("/alerts", headers=api.as_("out")).json() == []
    listed = api.http.get("/alerts", params={"status": ["open"]}, headers=api.as_("vic")).json()
    assert alert["id"] in [a["id"] for a in listed]
    problem(
        api.http.post(f"/alerts/{alert['id']}/acknowledge", json={}, headers=api.as_("ed")),
        403,
        "PermissionDenied",
        "project",
    )
    ack = api.http.post(
        f"/alerts/{alert['id']}/acknowledge", json={"comment": "on it"}, headers=api.as_("apu")
    )
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    problem(
        api.http.post(f"/alerts/{alert['id']}/acknowledge", headers=api.as_("apu")), 409, "Conflict", "alert"
    )
    done = api.http.post(f"/alerts/{alert['id']}/resolve", json={"comment": "ok"}, headers=api.as_("apu"))
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert [h["actor"] for h in done.json()["history"]][-2:] == ["apu", "apu"]

    labels = pd.DataFrame({"request_id": ids[:100], "label": api.extra["frame"]["target"].head(100)})
    up = api.http.post(
        "/labels",
        params={"model": MODEL, "filename": "labels.csv"},
        content=labels.to_csv(index=False).encode(),
        headers=api.as_("ed"),
    )
    assert up.status_code == 201, up.text
    assert up.json()["rows"] == 100 and up.json()["model"] == MODEL and "/tmp" not in up.text

    problem(api.http.delete("/monitors/m-flow", headers=api.as_("vic")), 403, "PermissionDenied", "project")
    assert api.http.delete("/monitors/m-flow", headers=api.as_("ed")).status_code == 204
    problem(api.http.get("/monitors/m-flow", headers=api.as_("vic")), 404, "NotFound", "name")
    resolved = api.http.get("/alerts", params={"status": "resolved"}, headers=api.as_("root")).json()
    assert alert["id"] in [a["id"] for a in resolved]


@pytest.mark.parametrize(
    ("over", "status", "field"),
    [
        ({"window": "3 fortnights"}, 422, "window"),
        ({"colour": "blue"}, 422, "colour"),
        ({"rules": [{"when": "rows > 1", "actions": ["page"]}]}, 422, "rules[0].actions[0]"),
        ({"reference": "missing@1"}, 404, None),
    ],
)
def test_bad_monitors_name_the_field(api: Api, over: dict[str, Any], status: int, field: str | None) -> None:
    r = api.http.post("/monitors", json=spec("m-bad", **over), headers=api.as_("ed"))
    assert r.status_code == status, r.text
    if field is not None:
        problem(r, status, "InvalidInput", field)
    problem(api.http.get("/monitors/m-bad", headers=api.as_("vic")), 404, "NotFound", "name")


def test_errors_name_the_field(api: Api) -> None:
    root = api.as_("root")
    problem(api.http.post("/monitors", json=[1, 2], headers=root), 422, "InvalidInput", "body")
    assert api.http.post("/monitors", json=spec("m-err"), headers=root).status_code == 201
    problem(api.http.post("/monitors", json=spec("m-err"), headers=root), 409, "AlreadyExists", "name")
    problem(api.http.post("/monitors/nope/run", headers=root), 404, "NotFound", "name")
    problem(
        api.http.post("/monitors/m-err/run", json={"flush": "x"}, headers=root), 422, "InvalidInput", "flush"
    )
    problem(api.http.post("/monitors/m-err/run", json={"fast": 1}, headers=root), 422, "InvalidInput", "fast")
    problem(api.http.get("/monitors/m-err/windows?last=0", headers=root), 422, "InvalidInput", "last")
    problem(
        api.http.get("/monitors/m-err/rollup?period=100rows", headers=root), 422, "InvalidInput", "period"
    )
    problem(api.http.get("/monitors/m-err/rollup?period=soon", headers=root), 422, "InvalidInput", "period")
    problem(api.http.get("/alerts?status=bogus", headers=root), 422, "InvalidInput", "status")
    problem(api.http.post("/alerts/999999/resolve", headers=root), 404, "NotFound", "alert")
    problem(api.http.post("/alerts/x/resolve", headers=root), 422, "InvalidInput", "alert_id")
    problem(api.http.post(f"/alerts/{10**23}/resolve", headers=root), 422, "InvalidInput", "alert_id")
    problem(api.http.get(f"/monitors/m-err/windows?last={10**23}", headers=root), 422, "InvalidInput", "last")
    csv = b"request_id,label\na,1\nb,0\n"
    problem(api.http.post("/labels", content=csv, headers=root), 422, "InvalidInput", "format")
    problem(
        api.http.post("/labels", params={"id_column": "rid", "format": "csv"}, content=csv, headers=root),
        422,
        "InvalidInput",
        "id_column",
    )
    problem(
        api.http.post("/labels", params={"format": "xlsx"}, content=csv, headers=root),
        422,
        "InvalidInput",
        "format",
    )
    problem(
        api.http.post("/labels", params={"model": "nope", "format": "csv"}, content=csv, headers=root),
        404,
        "NotFound",
        "model",
    )
    empty = problem(
        api.http.post("/labels?format=csv", content=b"request_id,label\n", headers=root),
        422,
        "InvalidInput",
        "labels",
    )
    assert "carnet-upload" not in empty["detail"]
    bad_rows = api.http.post(
        "/labels",
        params={"row_column": "row", "format": "csv"},
        content=b"request_id,label,row\na,1,x\n",
        headers=root,
    )
    assert bad_rows.status_code == 422, bad_rows.text
    assert api.http.delete("/monitors/m-err", headers=root).status_code == 204


def test_roles_are_checked_on_the_monitored_models_project(api: Api) -> None:
    problem(api.http.get("/monitors"), 401, "Unauthenticated", "authorization")
    problem(
        api.http.post("/monitors", json=spec("m-role"), headers=api.as_("vic")),
        403,
        "PermissionDenied",
        "project",
    )
    problem(
        api.http.post("/monitors", json=spec("m-role"), headers=api.as_("out")),
        403,
        "PermissionDenied",
        "project",
    )
    assert api.http.post("/monitors", json=spec("m-role"), headers=api.as_("ed")).status_code == 201
    problem(api.http.get("/monitors/m-role", headers=api.as_("out")), 403, "PermissionDenied", "project")
    problem(api.http.post("/monitors/m-role/run", headers=api.as_("vic")), 403, "PermissionDenied", "project")
    assert api.http.post("/monitors/m-role/run", headers=api.as_("ed")).status_code == 200
    for path in ("/monitors/m-role/windows", "/monitors/m-role/rollup"):
        problem(api.http.get(path, headers=api.as_("out")), 403, "PermissionDenied", "project")
        assert api.http.get(path, headers=api.as_("vic")).status_code == 200
    problem(
        api.http.get("/alerts?monitor=m-role", headers=api.as_("out")), 403, "PermissionDenied", "project"
    )
    csv = b"request_id,label\nr1,1\n"
    problem(
        api.http.post(
            "/labels", params={"model": MODEL, "format": "csv"}, content=csv, headers=api.as_("vic")
        ),
        403,
        "PermissionDenied",
        "project",
    )
    problem(
        api.http.post("/labels?format=csv", content=csv, headers=api.as_("ed")),
        403,
        "PermissionDenied",
        "project",
    )
    assert api.http.post("/labels?format=csv", content=csv, headers=api.as_("root")).status_code == 201
    assert api.http.delete("/monitors/m-role", headers=api.as_("ed")).status_code == 204
    events = api.services.audit.log("monitor", "m-role")
    assert {e.actor for e in events} == {"ed"}


def test_drift_on_uploaded_files_is_computed_by_the_server_and_names_bad_parts(
    api: Api, tmp_path: Path
) -> None:
    frame: pd.DataFrame = api.extra["frame"]
    features = frame  # the reference's columns, target included
    current = tmp_path / "current.csv"
    features.iloc[:120].assign(**{"mean radius": features["mean radius"].iloc[:120] * 3}).to_csv(
        current, index=False
    )
    with current.open("rb") as f:
        r = api.http.post(
            "/drift/files",
            data={"reference": "cancer-ref@1", "options": '{"drift_share": 0.01}'},
            files={"current_file": ("current.csv", f)},
            headers=api.as_("vic"),
        )
    assert r.status_code == 200, r.text
    report = r.json()
    drifted = {c["column"] for c in report["columns"] if c["drifted"]}
    assert "mean radius" in drifted and report["dataset_drift"] is True
    assert report["current_rows"] == 120
    parquet = features.iloc[:80].to_parquet(index=False)
    both = api.http.post(
        "/drift/files",
        files={"reference_file": ("r.parquet", parquet), "current_file": ("c.parquet", parquet)},
        headers=api.as_("vic"),
    )
    assert both.status_code == 200 and not any(c["drifted"] for c in both.json()["columns"]), both.text
    # two uploads touch no project, but a caller without the route's role anywhere is still refused
    nowhere = api.http.post(
        "/drift/files",
        files={"reference_file": ("r.parquet", parquet), "current_file": ("c.parquet", parquet)},
        headers=api.as_("out"),
    )
    problem(nowhere, 403, "PermissionDenied", "project")
    cases = [
        ({"reference": "cancer-ref@1"}, {}, "current"),  # neither side given
        (
            {"reference": "cancer-ref@1", "current": "cancer-ref@1"},
            {"current_file": ("c.csv", b"a\n1\n")},
            "current",
        ),
        ({"reference": "cancer-ref@1"}, {"current_file": ("c.txt", b"a\n1\n")}, "current_file"),
        ({"reference": "cancer-ref@1", "options": "[1]"}, {"current_file": ("c.csv", b"a\n1\n")}, "options"),
    ]
    for data, files, field in cases:
        problem(
            api.http.post("/drift/files", data=data, files=files or None, headers=api.as_("vic")),
            422,
            "InvalidInput",
            field,
        )
    refused = api.http.post(
        "/drift/files",
        data={"reference": "cancer-ref@1"},
        files={"current_file": ("c.csv", b"a\n1\n")},
        headers=api.as_("out"),
    )
    assert refused.status_code == 403, refused.text
