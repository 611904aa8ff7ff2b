"""``carnet runs artifacts | log | metrics | open``, run id prefixes in filters, and ``RunPage`` as a
sequence: on a local workspace and through a live server, the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

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


def test_run_id_prefixes_in_filters_and_pages(uri: str) -> None:
    with Client(uri) as client:
        parent = client.create_run("default", "parent")
        kids = [client.create_run("default", f"kid-{i}", parent_id=parent.id).id for i in range(3)]
        page = client.search_runs(filter=f"parent_id = '{parent.id[:8]}'", order_by=["name asc"])
        assert len(page) == 3 and [r.id for r in page] == kids and page[0].id == kids[0]
        assert bool(page) and page[1:][0].id == kids[1]
        assert list(
            client.search_runs(filter=f"run_id in ('{kids[0][:6]}', '{kids[2][:6]}')", order_by=["name asc"])
        ) == [
            client.get_run(kids[0]),
            client.get_run(kids[2]),
        ]
        empty = client.search_runs(filter="name = 'no such run'")
        assert len(empty) == 0 and not empty and list(empty) == []
    listed = json.loads(carnet(uri, "runs", "list", "-f", f"parent_id = '{parent.id[:8]}'", "--json"))
    assert sorted(r["id"] for r in listed["runs"]) == sorted(kids)
    none = json.loads(carnet(uri, "runs", "list", "-f", "parent_id = 'ffff0000'", "--json"))
    assert none["runs"] == []
    with Client(uri) as client:  # two runs whose ids share their first 4 digits: the prefix is ambiguous
        by_start: dict[str, str] = {}
        while True:
            rid = client.create_run("default", "twin").id
            if rid[:4] in by_start:
                break
            by_start[rid[:4]] = rid
    twin = CliRunner().invoke(cli, ["--uri", uri, "runs", "list", "-f", f"run_id = '{rid[:4]}'"])
    assert twin.exit_code == 2 and "matches 2 runs" in twin.output
