"""The carnet command line, end to end on real workspaces."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from carnet.cli.main import cli


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def run_json(*args: str) -> object:
    out = run(*args, "--json")
    return json.loads(out)


@pytest.fixture
def ws(tmp_path: Path) -> str:
    return str(tmp_path / "ws")


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "iris.csv"
    from sklearn.datasets import load_iris

    load_iris(as_frame=True).frame.to_csv(path, index=False)
    return path


def test_every_command_has_help_with_an_example() -> None:
    def walk(group, prefix):  # noqa: ANN001, ANN202
        for name, cmd in group.commands.items():
            yield [*prefix, name], cmd
            if hasattr(cmd, "commands"):
                yield from walk(cmd, [*prefix, name])

    for path, cmd in walk(cli, []):
        out = run(*path, "--help")
        assert "Example" in out, f"carnet {' '.join(path)} --help has no example"
        if not hasattr(cmd, "commands"):
            assert "--json" in out, f"carnet {' '.join(path)} has no --json"


def test_lazy_command_table_matches_the_commands() -> None:
    """``carnet --help`` lists commands from a table without importing them; it must not drift."""
    import click

    from carnet.cli.main import COMMANDS

    fresh = subprocess.run(
        [sys.executable, "-c", "from carnet.cli.main import main; main()", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert sorted(cli.commands) == sorted(COMMANDS)
    for name, (_target, short) in COMMANDS.items():
        cmd = cli.commands[name]
        for limit in (30, 45, 80, 300):
            assert click.Command(name, help=short).get_short_help_str(limit) == cmd.get_short_help_str(
                limit
            ), name
    # the help of the loaded group, formatted by click itself, is what the lazy one printed
    ctx = click.Context(cli, info_name="carnet", max_content_width=100)
    formatter = ctx.make_formatter()
    click.Group.format_commands(cli, ctx, formatter)
    assert formatter.getvalue() in fresh


def test_init_creates_workspace_and_reports(ws: str) -> None:
    info = run_json("init", ws)
    assert info["created"] is True
    assert Path(ws, "carnet.db").is_file()
    assert Path(ws, "artifacts").is_dir()
    again = run_json("init", ws)
    assert again["created"] is False
    text = run("init", ws)
    assert "Opened existing carnet workspace" in text


def test_db_upgrade(ws: str) -> None:
    run("init", ws)
    from carnet.store.sql.engine import HEAD_REVISION

    assert run_json("--uri", ws, "db", "upgrade")["revision"] == HEAD_REVISION


def test_quickstart_then_runs_commands(ws: str) -> None:
    summary = run_json("--uri", ws, "quickstart")
    assert summary["audit"]["ok"] is True
    assert len(summary["runs"]) == 3
    assert all(r["accuracy"] > 0.9 for r in summary["runs"])
    assert summary["model"]["promoted"] is True and summary["model"]["gates_passed"] == "6/6"
    production = run_json("--uri", ws, "models", "show", "breast-cancer-clf@production")
    assert production["run_id"] == summary["best_run"]
    assert production["datasets"] == ["breast-cancer@1"]
    served = summary["served"]
    assert served["v2_predictions"] == served["mlflow_predictions"] and len(served["v2_predictions"]) == 3
    monitor = summary["monitor"]
    assert monitor["drift_share"][0] == 0.0 and monitor["drift_share"][-1] > 0.15  # the shifted traffic
    assert monitor["alerts"] == ["#1 opened: drift.share_drifted > 0.15"]
    shown = run_json("--uri", ws, "monitor", "show", "breast-cancer-prod")
    assert len(shown["windows"]) == len(monitor["windows"]) and shown["alerts"][0]["status"] == "open"

    listed = run_json("--uri", ws, "runs", "list", "-p", "quickstart", "-o", "metrics.roc_auc desc")
    aucs = [r["metrics"]["roc_auc"] for r in listed["runs"]]
    assert aucs == sorted(aucs, reverse=True) and len(aucs) == 3

    filtered = run_json("--uri", ws, "runs", "list", "-f", "params.`model.name` = 'random_forest'")
    assert [r["name"] for r in filtered["runs"]] == ["forest"]
    assert all(r["roc_auc_ci"][0] <= r["roc_auc"] <= r["roc_auc_ci"][1] for r in summary["runs"])

    best = summary["best_run"]
    shown = run_json("--uri", ws, "runs", "show", best)
    assert shown["inputs"][0]["dataset"] == "breast-cancer"
    paths = {a["path"] for a in shown["artifacts"]}
    assert {
        "plots/roc.png",
        "plots/confusion_matrix.png",
        "reports/evaluation.html",
        "model/model.skops",
        "spec.yaml",
        "logs/training.txt",
    } <= paths
    assert shown["environment"]["python"]
    assert shown["params"]["seed"] == "42"
    assert shown["tags"]["quickstart"] == "best"

    ids = [r["run_id"] for r in summary["runs"]]
    cmp = run_json("--uri", ws, "runs", "compare", *ids, "--only-diff")
    keys = {(r["kind"], r["key"]) for r in cmp["rows"]}
    assert ("params", "model.name") in keys and ("params", "seed") not in keys

    assert "Runs" in run("--uri", ws, "runs", "list")
    assert "quickstart" in run("--uri", ws, "projects", "list")
    projects = run_json("--uri", ws, "projects", "list")
    assert {"name": "quickstart", "runs": 3}.items() <= next(
        p for p in projects if p["name"] == "quickstart"
    ).items()

    run("--uri", ws, "runs", "delete", ids[0])
    assert len(run_json("--uri", ws, "runs", "list")["runs"]) == 2
    assert len(run_json("--uri", ws, "runs", "list", "--all")["runs"]) == 3
    run("--uri", ws, "runs", "delete", ids[0], "--restore")
    assert len(run_json("--uri", ws, "runs", "list")["runs"]) == 3

    events = run_json("--uri", ws, "audit", "log", "--subject", f"run:{ids[0]}", "-n", "100")
    actions = [e["action"] for e in events]
    assert actions[0] == "run.restore" and "run.delete" in actions and actions[-1] == "run.create"
    assert "OK" in run("--uri", ws, "audit", "verify")


def test_runs_list_pagination(ws: str) -> None:
    from carnet import Client

    with Client(ws) as client:
        for i in range(5):
            r = client.create_run("p", f"r{i}", params={"i": i})
            client.end_run(r.id)
    page1 = run_json("--uri", ws, "runs", "list", "-n", "2")
    assert len(page1["runs"]) == 2 and page1["next_page_token"]
    page2 = run_json("--uri", ws, "runs", "list", "-n", "2", "--page-token", page1["next_page_token"])
    assert {r["id"] for r in page1["runs"]}.isdisjoint({r["id"] for r in page2["runs"]})


def test_data_commands(ws: str, csv_file: Path, tmp_path: Path) -> None:
    added = run_json("--uri", ws, "data", "add", str(csv_file), "--name", "iris")
    assert added["created"] is True and added["version"] == 1 and added["rows"] == 150
    again = run_json("--uri", ws, "data", "add", str(csv_file), "--name", "iris")
    assert again["created"] is False and again["version"] == 1

    import pandas as pd

    df = pd.read_csv(csv_file)
    df["petal_ratio"] = df["petal length (cm)"] / df["petal width (cm)"]
    df = df.drop(columns=["sepal width (cm)"]).head(100)
    v2 = tmp_path / "iris2.parquet"
    df.to_parquet(v2)
    added2 = run_json("--uri", ws, "data", "add", str(v2), "--name", "iris", "--parent", "iris@1")
    assert added2["version"] == 2 and added2["parent"] == "iris@1" and added2["format"] == "parquet"

    listed = run_json("--uri", ws, "data", "list")
    assert [(d["name"], d["version"]) for d in listed] == [("iris", 2)]
    shown = run_json("--uri", ws, "data", "show", "iris@1")
    col = next(c for c in shown["profile"] if c["name"] == "sepal length (cm)")
    assert col["min"] == pytest.approx(4.3) and col["max"] == pytest.approx(7.9)
    assert [v["version"] for v in run_json("--uri", ws, "data", "show", "iris")["versions"]] == [1, 2]
    assert "profile" in run("--uri", ws, "data", "show", "iris@1")

    diff = run_json("--uri", ws, "data", "diff", "iris@1", "iris@2")
    text = json.dumps(diff)
    assert "petal_ratio" in text and "sepal width (cm)" in text
    assert "iris@1 -> iris@2" in run("--uri", ws, "data", "diff", "iris@1", "iris@2")

    out = tmp_path / "back.csv"
    got = run_json("--uri", ws, "data", "get", "iris@1", "--out", str(out))
    assert got["path"] == str(out)
    assert out.read_bytes() == csv_file.read_bytes()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["runs", "show", "nope"], "no run with id 'nope'"),
        (["runs", "list", "-f", "metrics.a >"], "position"),
        (["runs", "list", "-f", "bogus.a = 1"], "unknown field prefix"),
        (["runs", "list", "-p", "missing"], "no project named 'missing'"),
        (["data", "show", "ghost@1"], "no dataset named 'ghost'"),
        (["data", "add", "{missing}", "--name", "x"], "does not exist"),
        (["data", "add", "{empty}", "--name", "x"], "empty"),
        (["data", "add", "{dupes}", "--name", "x"], "duplicate"),
        (["data", "add", "{csv}", "--name", "bad name!"], "invalid dataset name"),
        (["data", "diff", "x@0", "x@1"], "invalid dataset version"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(
    ws: str, tmp_path: Path, csv_file: Path, args: list[str], needle: str
) -> None:
    run("init", ws)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    dupes = tmp_path / "dupes.csv"
    dupes.write_text("a,b,a\n1,2,3\n")
    subst = {
        "{missing}": str(tmp_path / "nope.csv"),
        "{empty}": str(empty),
        "{dupes}": str(dupes),
        "{csv}": str(csv_file),
    }
    args = [subst.get(a, a) for a in args]
    result = CliRunner().invoke(cli, ["--uri", ws, *args])
    assert result.exit_code == 2, result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.output
    assert "Traceback" not in result.output


def test_missing_workspace_and_bad_uri(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--uri", str(tmp_path / "none"), "runs", "list"])
    assert result.exit_code == 2 and "carnet init" in result.output
    assert not (tmp_path / "none").exists()
    result = CliRunner().invoke(cli, ["--uri", "mongodb://x", "runs", "list"])
    assert result.exit_code == 2 and "unknown workspace URI scheme" in result.output
    result = CliRunner().invoke(
        cli,
        [
            "--uri",
            "postgresql+psycopg://postgres@127.0.0.1:1/x",
            "--artifacts",
            str(tmp_path),
            "runs",
            "list",
        ],
    )
    assert result.exit_code == 2 and "cannot reach the metadata database" in result.output


def test_audit_verify_exits_1_on_tampering(ws: str) -> None:
    from carnet import Client

    with Client(ws) as client:
        r = client.create_run("p", "r")
        client.log_params(r.id, {"a": 1})
        client.end_run(r.id)
    assert json.loads(run("--uri", ws, "audit", "verify", "--json"))["count"] == 4
    with sqlite3.connect(Path(ws, "carnet.db")) as db:
        db.execute("UPDATE audit_events SET payload = ? WHERE seq = 3", ('{"params":{"a":"2"}}',))
    result = CliRunner().invoke(cli, ["--uri", ws, "audit", "verify"])
    assert result.exit_code == 1
    assert "BROKEN at event 3" in result.output


def test_console_script_never_shows_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "CARNET_URI": str(tmp_path / "ws")}
    proc = subprocess.run(
        [sys.executable, "-m", "carnet.cli.main", "runs", "show", "missing"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: no carnet workspace")
    assert "Traceback" not in proc.stderr
