"""carnet monitor and carnet drift on a real workspace: create, run, show, report, alerts, labels;
mistakes exit 2 with one line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from monitoring_fixtures import MODEL, log_rows, setup_workspace, shifted  # noqa: E402

from carnet import Client  # noqa: E402
from carnet.cli.main import cli  # noqa: E402


def invoke(uri: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--uri", uri, *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def ws(tmp_path: Path) -> tuple[str, pd.DataFrame, list]:
    uri = str(tmp_path / "ws")
    with Client(uri) as client:
        frame, models = setup_workspace(client)
    return uri, frame, models


def test_monitor_verbs(ws, tmp_path: Path) -> None:
    uri, frame, models = ws
    log = tmp_path / "alerts.jsonl"
    out = invoke(
        uri, "monitor", "create", "cancer-prod", "--model", f"{MODEL}@production",
        "--reference", "cancer-ref@1", "--target", "target", "--window", "100rows",
        "--rule", "drift.share_drifted > 0.3",
        "--notify", f"logfile:{log}", "--json",
    )  # fmt: skip
    created = json.loads(out)
    assert created["spec"]["window"] == "100rows" and created["spec"]["rules"] == [
        "drift.share_drifted > 0.3"
    ]
    assert json.loads(invoke(uri, "monitor", "list", "--json"))[0]["spec"]["name"] == "cancer-prod"
    sample = frame.sample(200, random_state=5)
    with Client(uri) as client:
        ids = log_rows(client, models[1], sample.iloc[:100])
        log_rows(client, models[1], shifted(sample.iloc[100:]))
    # a pass that opens an alert exits 1
    result = json.loads(invoke(uri, "monitor", "run", "cancer-prod", "--json", code=1))
    assert [w["seq"] for w in result[0]["windows"]] == [1, 2]
    assert [a["kind"] for a in result[0]["alerts"]] == ["opened"]
    assert json.loads(log.read_text().splitlines()[0])["event"] == "alert.opened"
    # idempotent: nothing new, exit 0
    assert json.loads(invoke(uri, "monitor", "run", "--all", "--json"))[0]["windows"] == []
    shown = json.loads(invoke(uri, "monitor", "show", "cancer-prod", "--json"))
    assert [w["seq"] for w in shown["windows"]] == [1, 2]
    assert shown["windows"][1]["metrics"]["drift.share_drifted"] > 0.3
    text = invoke(uri, "monitor", "show", "cancer-prod")
    assert "drift.share_drifted" in text and "1 active alert(s)" in text
    alerts = json.loads(invoke(uri, "monitor", "alerts", "cancer-prod", "--status", "open", "--json"))
    alert_id = str(alerts[0]["id"])
    assert json.loads(invoke(uri, "monitor", "ack", alert_id, "--json"))["status"] == "acknowledged"
    assert (
        json.loads(invoke(uri, "monitor", "resolve", alert_id, "--comment", "ok", "--json"))["status"]
        == "resolved"
    )
    invoke(uri, "monitor", "ack", alert_id, code=2)  # a resolved alert cannot be acknowledged
    # labels
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ids, "y": sample["target"].iloc[:100].to_numpy()}).to_csv(labels, index=False)
    added = json.loads(invoke(uri, "monitor", "labels", "add", str(labels), "--label-column", "y", "--json"))
    assert added["rows"] == 100
    again = json.loads(invoke(uri, "monitor", "run", "cancer-prod", "--json"))
    assert again[0]["relabeled_windows"] == [1]
    # the HTML report
    page = tmp_path / "report.html"
    invoke(uri, "monitor", "report", "cancer-prod", "-o", str(page))
    html = page.read_text()
    assert "Checks over time" in html and "drift.share_drifted" in html and "mean radius" in html
    assert "plotly" in html.lower()
    invoke(uri, "monitor", "delete", "cancer-prod")
    assert json.loads(invoke(uri, "monitor", "list", "--json")) == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["monitor", "create", "m", "--model", f"{MODEL}/1", "--reference", "cancer-ref@1",
          "--window", "1h"], "alias"),
        (["monitor", "create", "m", "--model", f"{MODEL}@production", "--reference", "cancer-ref@1",
          "--window", "1h", "--rule", "nonsense"], "rules[0]"),
        (["monitor", "create", "m", "--model", f"{MODEL}@production", "--reference", "cancer-ref@1",
          "--window", "1h", "--notify", "pager:123"], "--notify"),
        (["monitor", "run"], "--all"),
        (["monitor", "run", "nope"], "no monitor"),
        (["monitor", "run", "--all", "--every", "100rows"], "--every"),
        (["drift", "cancer-ref@1", "missing.csv"], "missing.csv"),
    ],
)  # fmt: skip
def test_mistakes_exit_2_with_one_line(ws, args: list[str], needle: str) -> None:
    uri, _, _ = ws
    out = invoke(uri, *args, code=2)
    assert needle in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1


def test_drift_between_a_dataset_version_and_a_file(ws, tmp_path: Path) -> None:
    uri, frame, _ = ws
    current = tmp_path / "current.csv"
    shifted(frame, columns=5).to_csv(current, index=False)
    report = tmp_path / "drift.html"
    out = json.loads(invoke(uri, "drift", "cancer-ref@1", str(current), "--report", str(report), "--json"))
    drifted = set(out["drifted_columns"])
    assert drifted == set(list(frame.columns[:5]))
    assert out["dataset_drift"] is False  # 5 of 31 columns
    assert "mean radius" in report.read_text()
    same = tmp_path / "same.parquet"
    frame.to_parquet(same)
    text = invoke(uri, "drift", str(same), str(same), "--method", "mean radius=ks")
    assert "no drift" in text
    invoke(uri, "drift", "cancer-ref@1", str(current), "--fail-on-drift")
    invoke(uri, "drift", "cancer-ref@1", str(current), "--method", "bad", code=2)


def test_scheduler_mode_runs_every_interval_and_stops_after_passes(ws) -> None:
    uri, frame, models = ws
    invoke(
        uri, "monitor", "create", "m", "--model", f"{MODEL}@production", "--reference", "cancer-ref@1",
        "--window", "100rows",
    )  # fmt: skip
    with Client(uri) as client:
        log_rows(client, models[1], frame.iloc[:100])
    out = invoke(uri, "monitor", "run", "m", "--every", "1s", "--passes", "2", "--json")
    passes = [json.loads(line) for line in out.strip().splitlines()]
    assert [len(p[0]["windows"]) for p in passes] == [1, 0]  # the second pass finds nothing new
