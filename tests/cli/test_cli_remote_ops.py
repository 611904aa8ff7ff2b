"""carnet monitor, carnet drift and carnet deploy with CARNET_URI set to a live ``carnet server`` (real
uvicorn on 127.0.0.1): every command works, prints what it prints on the workspace itself (text and
--json), and a user's mistake exits 2 with one line."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from monitoring_fixtures import MODEL, log_rows, setup_workspace, shifted  # noqa: E402

from carnet import Client  # noqa: E402
from carnet.cli.main import cli  # noqa: E402
from carnet.config import ServerPolicy  # noqa: E402
from carnet.server.api import create_api_app, serve_api_in_thread  # noqa: E402

DEPLOYMENT = """\
endpoint: cancer
routes:
  - {model: cancer@production, weight: 95}
  - {model: cancer/1, weight: 5}
shadows: [cancer@staging]
sticky_header: X-User-Id
"""
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Served:
    """A workspace folder and the URL of a server in front of it."""

    path: str
    url: str
    client: Any
    frame: pd.DataFrame
    models: list[Any]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("served")
    path = str(tmp / "ws")
    client = Client(path)
    frame, models = setup_workspace(client)
    client.set_model_alias(MODEL, "staging", 1)
    client.log_dataframe(shifted(frame, columns=5), "cancer-cur")
    # logfile notifiers of the tests write under the session's temporary folder, as a server allows
    # for its CARNET_NOTIFIER_LOG_DIR
    policy = ServerPolicy(str(tmp_path_factory.getbasetemp().resolve()), ("127.0.0.1",))
    app = create_api_app(client.services, require_auth=False, max_body_bytes=1 << 24, policy=policy)
    server = serve_api_in_thread(app)
    try:
        yield Served(path, server.url, client, frame, models)
    finally:
        server.stop()
        client.close()


def remote(s: Served, *args: str, code: int = 0) -> str:
    """Run ``carnet ARGS`` with CARNET_URI naming the server; check the exit code."""
    env = {"CARNET_URI": s.url, "CARNET_TOKEN": None, "CARNET_ARTIFACTS": None}
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == code, result.output
    return result.output


def local(s: Served, *args: str, code: int = 0) -> str:
    """Run ``carnet --uri WORKSPACE ARGS`` on the same workspace, in-process."""
    result = CliRunner().invoke(cli, ["--uri", s.path, *args], env={"CARNET_ARTIFACTS": None})
    assert result.exit_code == code, result.output
    return result.output


def same(s: Served, *args: str) -> str:
    """The output of a read-only command, checked identical through the server and in-process."""
    out = remote(s, *args)
    assert out == local(s, *args)
    return out


def _page(html: str) -> str:
    """A digest of an HTML report with its plots' random element ids blanked (compared cheaply)."""
    return hashlib.sha256(_UUID.sub("ID", html).encode()).hexdigest()


def test_monitor_commands_through_the_server(served: Served, tmp_path: Path) -> None:
    s = served
    log = tmp_path / "alerts.jsonl"
    create = [
        "monitor", "create", "cancer-prod", "--model", f"{MODEL}@production", "--reference", "cancer-ref@1",
        "--target", "target", "--window", "100rows", "--rule", "drift.share_drifted > 0.3",
        "--notify", f"logfile:{log}", "--json",
    ]  # fmt: skip
    created = json.loads(remote(s, *create))
    assert created["spec"]["rules"] == ["drift.share_drifted > 0.3"] and created["state"]["input_profile"]
    assert json.loads(same(s, "monitor", "list", "--json"))[0] == created
    assert "cancer-prod" in same(s, "monitor", "list")

    sample = s.frame.sample(200, random_state=5)
    ids = log_rows(s.client, s.models[1], sample.iloc[:100])
    log_rows(s.client, s.models[1], shifted(sample.iloc[100:]))
    ran = json.loads(remote(s, "monitor", "run", "cancer-prod", "--json", code=1))  # an alert opened
    assert [w["seq"] for w in ran[0]["windows"]] == [1, 2]
    assert [(a["kind"], a["rule"]) for a in ran[0]["alerts"]] == [("opened", "drift.share_drifted > 0.3")]
    assert json.loads(log.read_text().splitlines()[0])["event"] == "alert.opened"
    assert json.loads(remote(s, "monitor", "run", "--all", "--json"))[0]["windows"] == []
    assert "0 new window(s)" in remote(s, "monitor", "run", "cancer-prod")

    shown = json.loads(same(s, "monitor", "show", "cancer-prod", "--json"))
    assert [w["seq"] for w in shown["windows"]] == [1, 2] and len(shown["alerts"]) == 1
    assert [w["metrics"] for w in shown["windows"]] == [w["metrics"] for w in ran[0]["windows"]]
    text = same(s, "monitor", "show", "cancer-prod", "--last", "1")
    assert "drift.share_drifted" in text and "1 active alert(s)" in text
    rollup = json.loads(same(s, "monitor", "show", "cancer-prod", "--rollup", "1d", "--json"))
    assert sum(p["rows"] for p in rollup["periods"]) == 200
    same(s, "monitor", "show", "cancer-prod", "--rollup", "1d")

    alerts = json.loads(same(s, "monitor", "alerts", "cancer-prod", "--status", "open", "--json"))
    same(s, "monitor", "alerts")
    alert_id = str(alerts[0]["id"])
    assert json.loads(remote(s, "monitor", "ack", alert_id, "--json"))["status"] == "acknowledged"
    resolved = remote(s, "monitor", "resolve", alert_id, "--comment", "ok")
    assert resolved == f"alert #{alert_id} is now resolved\n"

    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ids, "y": sample["target"].iloc[:100].to_numpy()}).to_csv(labels, index=False)
    added = json.loads(remote(s, "monitor", "labels", "add", str(labels), "--label-column", "y", "--json"))
    assert added["rows"] == 100 and added["model"] is None
    assert json.loads(remote(s, "monitor", "run", "cancer-prod", "--json"))[0]["relabeled_windows"] == [1]

    pages = tmp_path / "remote.html", tmp_path / "local.html"
    summary = remote(s, "monitor", "report", "cancer-prod", "-o", str(pages[0]), "--json")
    assert json.loads(summary) == {"report": str(pages[0]), "windows": 2, "alerts": 1}
    local(s, "monitor", "report", "cancer-prod", "-o", str(pages[1]))
    html = pages[0].read_text()
    assert _page(html) == _page(pages[1].read_text())
    assert "Checks over time" in html and "mean radius" in html

    assert remote(s, "monitor", "delete", "cancer-prod") == "deleted monitor cancer-prod\n"
    assert json.loads(same(s, "monitor", "list", "--json")) == []


def test_scheduler_mode_through_the_server(served: Served) -> None:
    s = served
    remote(
        s, "monitor", "create", "sched", "--model", f"{MODEL}@production", "--reference", "cancer-ref@1",
        "--window", "50rows",
    )  # fmt: skip
    log_rows(s.client, s.models[1], s.frame.iloc[:50])
    out = remote(s, "monitor", "run", "sched", "--every", "1s", "--passes", "2", "--json")
    passes = [json.loads(line) for line in out.strip().splitlines()]
    assert len(passes) == 2 and passes[0][0]["windows"]  # the rows logged since it was made
    assert passes[1][0]["windows"] == []  # the second pass finds nothing new
    remote(s, "monitor", "delete", "sched")


def test_deploy_commands_through_the_server(served: Served, tmp_path: Path) -> None:
    s = served
    spec = tmp_path / "cancer.yaml"
    spec.write_text(DEPLOYMENT)
    out = remote(s, "deploy", "set", str(spec))
    assert out == "endpoint cancer: revision 1  routes cancer@production 95%, cancer/1 5%\n"
    assert json.loads(remote(s, "deploy", "set", str(spec), "--json"))["revision"] == 1
    shown = json.loads(same(s, "deploy", "show", "cancer", "--json"))
    assert shown["resolved"]["routes"][0] == {
        "model": "cancer@production",
        "version": "cancer/2",
        "weight": 95.0,
        "share": 0.95,
    }
    assert shown["resolved"]["shadows"] == [{"model": "cancer@staging", "version": "cancer/1"}]
    assert "X-User-Id" in same(s, "deploy", "show", "cancer")
    assert [d["endpoint"] for d in json.loads(same(s, "deploy", "list", "--json"))] == ["cancer"]
    same(s, "deploy", "list")

    s.client.delete_model_alias(MODEL, "staging")
    broken = json.loads(same(s, "deploy", "show", "cancer", "--json"))
    assert "staging" in broken["resolved"]["error"]
    assert "does not resolve" in same(s, "deploy", "show", "cancer")
    s.client.set_model_alias(MODEL, "staging", 1)

    deleted = json.loads(remote(s, "deploy", "delete", "cancer", "--reason", "retired", "--json"))
    assert (deleted["revision"], deleted["deleted"]) == (2, True)
    history = json.loads(same(s, "deploy", "history", "cancer", "--json"))
    assert [(d["revision"], d["deleted"]) for d in history] == [(1, False), (2, True)]
    assert "deleted" in same(s, "deploy", "history", "cancer")
    assert json.loads(same(s, "deploy", "list", "--json")) == []


def test_drift_through_the_server(served: Served, tmp_path: Path) -> None:
    s = served
    versions = json.loads(same(s, "drift", "cancer-ref@1", "cancer-cur@1", "--json"))
    assert set(versions["drifted_columns"]) == set(s.frame.columns[:5]) and versions["report"] is None
    assert "no drift" in same(s, "drift", "cancer-ref@1", "cancer-cur@1")
    current = tmp_path / "current.csv"
    shifted(s.frame, columns=5).to_csv(current, index=False)
    with_file = json.loads(
        same(s, "drift", "cancer-ref@1", str(current), "--method", "mean radius=ks", "--json")
    )
    assert [c["method"] for c in with_file["columns"] if c["column"] == "mean radius"] == ["ks"]
    report = tmp_path / "drift.html"
    remote(s, "drift", str(current), "cancer-cur@1", "--report", str(report))
    assert "mean radius" in report.read_text()
    remote(s, "drift", "cancer-ref@1", "cancer-cur@1", "--fail-on-drift", "--multivariate", code=1)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["monitor", "create", "m", "--model", f"{MODEL}/1", "--reference", "cancer-ref@1",
          "--window", "1h"], "alias"),
        (["monitor", "create", "m", "--model", f"{MODEL}@production", "--reference", "cancer-ref@1",
          "--window", "1h", "--rule", "nonsense"], "rules[0]"),
        (["monitor", "run"], "--all"),
        (["monitor", "run", "nope"], "no monitor"),
        (["monitor", "show", "nope"], "no monitor"),
        (["monitor", "alerts", "--status", "closed"], "closed"),
        (["monitor", "ack", "987654"], "no alert #987654"),
        (["monitor", "delete", "nope"], "no monitor"),
        (["deploy", "show", "nope"], "nope"),
        (["deploy", "history", "nope"], "nope"),
        (["deploy", "delete", "nope"], "nope"),
        (["drift", "cancer-ref@1", "missing.csv"], "missing.csv"),
        (["drift", "cancer-ref@1", "cancer-cur@1", "--method", "mean radius=bogus"], "bogus"),
    ],
)  # fmt: skip
def test_mistakes_through_the_server_exit_2_with_one_line(
    served: Served, args: list[str], needle: str
) -> None:
    out = remote(served, *args, code=2)
    assert out.strip().startswith("error: ") and needle in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1


def test_bad_files_through_the_server_exit_2_with_one_line(served: Served, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(DEPLOYMENT.replace("cancer/1", "cancer/9"))
    out = remote(served, "deploy", "set", str(spec), code=2)
    assert out.startswith("error: routes[1].model") and out.count("\n") == 1
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nr1,1\n")
    out = remote(served, "monitor", "labels", "add", str(labels), "--label-column", "y", code=2)
    assert str(labels) in out and "--label-column" in out and out.count("\n") == 1
