"""``carnet runs artifacts | log | metrics | open`` and run id prefixes in ``runs list`` filters: on a
local workspace and through a live server, the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from conftest import Workspace, serve_workspace

SPEC = {
    "dataset": "wine@1",
    "task": "multiclass",
    "target": "target",
    "split": {"kind": "stratified_kfold", "folds": 3},
    "model": {"name": "random_forest", "params": {"n_estimators": 10}},
    "seed": 0,
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from sklearn.datasets import load_wine

    root = tmp_path_factory.mktemp("runs-files")
    data = root / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(data, index=False)
    with Client(str(root / "ws")) as client:
        client.add_dataset(data, "wine")
        run = client.train(SPEC).run_id
        for i in range(2):  # two runs whose ids share their first 4 digits: "cafe" is ambiguous
            client.services.tracking.create_run("default", f"twin-{i}", run_id=f"cafe{i}" + "0" * 27)
        # a run whose one artifact no longer matches its digest
        broken = client.services.tracking.create_run("default", "broken", run_id="dead" + "0" * 28).id
        art = client.services.tracking.log_artifact_bytes(broken, b"the stored bytes\n", "notes/a.txt")
    [stored] = [p for p in (root / "ws").rglob(art.digest.split(":", 1)[1]) if p.is_file()]
    os.chmod(stored, 0o644)
    stored.write_bytes(b"other bytes, same size\n")
    return root, run


@pytest.fixture(params=["local", "remote"])
def uri(request: pytest.FixtureRequest, trained: tuple[Path, str]) -> Iterator[str]:
    root, _ = trained
    if request.param == "local":
        yield str(root / "ws")
        return
    with serve_workspace(Workspace(str(root / "ws"), None, "sqlite", root), auth=False) as served:
        yield served.uri


def carnet(uri: str, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, ["--uri", uri, *args])
    assert result.exit_code == code, result.output
    return result.output


def test_artifacts_list_and_download_verified(uri: str, trained: tuple[Path, str], tmp_path: Path) -> None:
    _, run = trained
    listed = json.loads(carnet(uri, "runs", "artifacts", run[:8], "--json"))
    paths = {a["path"] for a in listed["artifacts"]}
    assert {"reports/evaluation.html", "logs/training.txt", "spec.yaml"} <= paths
    only = json.loads(carnet(uri, "runs", "artifacts", run[:8], "reports", "--json"))
    assert {a["path"] for a in only["artifacts"]} == {"reports/evaluation.html", "reports/evaluation.json"}
    out = tmp_path / "dl"
    carnet(uri, "runs", "artifacts", run[:8], "reports", "-o", str(out))
    assert (out / "reports" / "evaluation.html").read_text().lstrip().lower().startswith("<!doctype html")
    report = json.loads((out / "reports" / "evaluation.json").read_text())
    assert report["context"]["run_id"] == run
    missing = CliRunner().invoke(cli, ["--uri", uri, "runs", "artifacts", run[:8], "nope"])
    assert missing.exit_code == 2 and "has no artifact under 'nope'" in missing.output


def test_log_metrics_and_open(uri: str, trained: tuple[Path, str], tmp_path: Path) -> None:
    _, run = trained
    log = carnet(uri, "runs", "log", run[:8])
    assert "dataset wine@1: 178 rows, 13 features" in log and "fitted 3 fold(s)" in log
    metrics = json.loads(carnet(uri, "runs", "metrics", run[:8], "fold_accuracy", "accuracy", "--json"))
    folds = metrics["metrics"]["fold_accuracy"]
    assert [m["step"] for m in folds] == [0, 1, 2]
    assert sum(m["value"] for m in folds) / 3 == pytest.approx(metrics["metrics"]["accuracy"][0]["value"])
    png = tmp_path / "m.png"
    table = carnet(uri, "runs", "metrics", run[:8], "fold_accuracy", "--plot", str(png))
    assert "fold_accuracy" in table and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    unknown = CliRunner().invoke(cli, ["--uri", uri, "runs", "metrics", run[:8], "acuracy"])
    assert unknown.exit_code == 2 and "has no metric 'acuracy'" in unknown.output
    page = tmp_path / "report.html"
    opened = json.loads(carnet(uri, "runs", "open", run[:8], "-o", str(page), "--no-browser", "--json"))
    assert opened["artifact"] == "reports/evaluation.html" and opened["opened"] is False
    assert "<html" in page.read_text().lower()


def test_run_id_prefixes_in_filters(uri: str) -> None:
    with Client(uri) as client:
        parent = client.create_run("default", "parent")
        kids = [client.create_run("default", f"kid-{i}", parent_id=parent.id).id for i in range(3)]
    listed = json.loads(carnet(uri, "runs", "list", "-f", f"parent_id = '{parent.id[:8]}'", "--json"))
    assert sorted(r["id"] for r in listed["runs"]) == sorted(kids)
    twin = CliRunner().invoke(cli, ["--uri", uri, "runs", "list", "-f", "run_id = 'cafe'"])
    assert twin.exit_code == 2
    assert twin.output == "error: run id prefix 'cafe' in the filter matches 2 runs; give more characters\n"
    unknown = CliRunner().invoke(cli, ["--uri", uri, "runs", "list", "-f", "parent_id = 'ffff0000'"])
    assert unknown.exit_code == 2 and "no run id starts with 'ffff0000'" in unknown.output


def test_a_corrupted_artifact_is_never_written(uri: str, tmp_path: Path) -> None:
    listed = json.loads(carnet(uri, "runs", "artifacts", "dead", "--json"))
    assert [a["path"] for a in listed["artifacts"]] == ["notes/a.txt"]
    result = CliRunner().invoke(cli, ["--uri", uri, "runs", "artifacts", "dead", "-o", str(tmp_path / "dl")])
    assert result.exit_code == 1 and result.output.startswith("error: ") and result.output.count("\n") == 1
    assert not (tmp_path / "dl" / "notes" / "a.txt").exists()


def test_log_follow_prints_until_the_run_ends(uri: str) -> None:
    with Client(uri) as client:
        run = client.create_run("default", "followed").id
        early = CliRunner().invoke(cli, ["--uri", uri, "runs", "log", run[:10]])
        assert early.exit_code == 2 and "is running and has no log yet" in early.output
        client.log_artifact_bytes(run, b"step 1\n", "logs/training.txt")
        got: dict[str, Any] = {}
        follower = threading.Thread(
            target=lambda: got.update(
                result=CliRunner().invoke(
                    cli, ["--uri", uri, "runs", "log", run[:10], "-f", "--interval", "0.1"]
                )
            )
        )
        follower.start()
        client.log_artifact_bytes(run, b"step 1\nstep 2\n", "logs/training.txt")
        client.end_run(run)
        follower.join()
    assert got["result"].exit_code == 0 and got["result"].output == "step 1\nstep 2\n"
    assert carnet(uri, "runs", "log", run[:10], "--follow") == "step 1\nstep 2\n"  # ended: printed once


def test_open_starts_the_browser_only_where_one_can_show(trained: tuple[Path, str], tmp_path: Path) -> None:
    root, run = trained
    browser = tmp_path / "browser.py"  # a "browser" that notes the address it was asked to show
    browser.write_text(
        f"import sys, pathlib\npathlib.Path({str(tmp_path / 'seen')!r}).write_text(sys.argv[1])\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    command = [sys.executable, "-m", "carnet.cli.main", "--uri", str(root / "ws"), "runs", "open", run[:8]]

    headless = subprocess.run(
        [*command, "-o", str(tmp_path / "a.html")], env=env, capture_output=True, text=True
    )
    assert headless.returncode == 0 and headless.stdout.startswith(f"wrote {tmp_path / 'a.html'}")
    assert "no browser" in headless.stdout and not (tmp_path / "seen").exists()

    env["BROWSER"] = f"{sys.executable} {browser} %s"
    shown = subprocess.run(
        [*command, "-o", str(tmp_path / "b.html")], env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert (tmp_path / "seen").read_text() == (tmp_path / "b.html").resolve().as_uri()
