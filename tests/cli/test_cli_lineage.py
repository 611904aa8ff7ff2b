"""``carnet lineage`` and ``Client.lineage``: upstream and downstream of a dataset version, run, model
version, endpoint and monitor, as a tree, JSON and DOT, locally and through a server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from conftest import Workspace, serve_workspace


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """penguins-like data v1 -> v2 (derived), two runs reading v2, a model from one, its alias, an
    endpoint serving it and a monitor watching it with v1 as reference."""
    from sklearn.datasets import load_breast_cancer

    root = tmp_path_factory.mktemp("lineage")
    frame = load_breast_cancer(as_frame=True).frame
    frame.to_csv(root / "v1.csv", index=False)
    frame.head(400).to_csv(root / "v2.csv", index=False)
    ids: dict[str, Any] = {}
    with Client(str(root / "ws")) as c:
        c.add_dataset(root / "v1.csv", "cancer", project="lin")
        c.add_dataset(root / "v2.csv", "cancer", project="lin", parent="cancer@1")
        spec = {"dataset": "cancer@2", "task": "binary", "target": "target", "project": "lin",
                "model": {"name": "logistic_regression"}}  # fmt: skip
        ids["run_a"] = c.train({**spec, "name": "a"}).run_id
        ids["run_b"] = c.train({**spec, "name": "b"}).run_id
        c.register_model(ids["run_a"], "clf")
        c.set_model_alias("clf", "production", 1)
        c.set_deployment({"endpoint": "scoring", "routes": [{"model": "clf@production", "weight": 100}]})
        c.create_monitor(
            {"name": "clf-prod", "model": "clf@production", "reference": "cancer@1", "window": "100rows"}
        )
        other = c.create_run("elsewhere", "unrelated")
        ids["other"] = other.id
    return root, ids


@pytest.fixture(params=["local", "remote"])
def uri(request: pytest.FixtureRequest, world: tuple[Path, dict[str, Any]]) -> Iterator[str]:
    root, _ = world
    if request.param == "local":
        yield str(root / "ws")
        return
    with serve_workspace(Workspace(str(root / "ws"), None, "sqlite", root), auth=False) as served:
        yield served.uri


def test_downstream_of_the_first_version_reaches_everything(
    uri: str, world: tuple[Path, dict[str, Any]]
) -> None:
    _, ids = world
    with Client(uri) as c:
        graph = c.lineage("cancer@1")
    keys = set(graph.nodes)
    assert {
        "dataset:cancer@1", "dataset:cancer@2", f"run:{ids['run_a']}", f"run:{ids['run_b']}",
        "model:clf/1", "deployment:scoring", "monitor:clf-prod",
    } <= keys  # fmt: skip
    assert f"run:{ids['other']}" not in keys
    relations = {(e.source, e.target, e.relation) for e in graph.edges}
    assert ("dataset:cancer@1", "dataset:cancer@2", "derived") in relations
    assert ("dataset:cancer@2", f"run:{ids['run_a']}", "input (training)") in relations
    assert (f"run:{ids['run_a']}", "model:clf/1", "registered") in relations
    assert ("model:clf/1", "deployment:scoring", "served") in relations
    assert ("model:clf/1", "monitor:clf-prod", "watched") in relations
    assert ("dataset:cancer@1", "monitor:clf-prod", "reference") in relations
    assert graph.nodes["model:clf/1"].attrs["aliases"] == ["production"]


def test_upstream_of_the_model_reaches_the_first_version(
    uri: str, world: tuple[Path, dict[str, Any]]
) -> None:
    _, ids = world
    with Client(uri) as c:
        up = c.lineage("clf@production", depth=3)
        assert up.root == "model:clf/1"
        assert [e.source for e in up.upstream("model:clf/1")] == [f"run:{ids['run_a']}"]
        assert "dataset:cancer@1" in up.nodes and "dataset:cancer@2" in up.nodes
        by_run = c.lineage(ids["run_b"][:8])
        assert by_run.root == f"run:{ids['run_b']}" and "model:clf/1" not in by_run.nodes
        assert c.lineage("endpoint:scoring").upstream("deployment:scoring")[0].source == "model:clf/1"
        assert c.lineage("clf-prod").root == "monitor:clf-prod"


def test_cli_tree_json_and_dot(uri: str, world: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    _, ids = world
    runner = CliRunner()
    tree = runner.invoke(cli, ["--uri", uri, "lineage", "cancer@1"])
    assert tree.exit_code == 0, tree.output
    for text in ("came from", "came of it", "cancer@2", "clf/1", "scoring", "clf-prod", ids["run_a"][:12]):
        assert text in tree.output
    data = json.loads(runner.invoke(cli, ["--uri", uri, "lineage", "model:clf/1", "--json"]).output)
    assert data["root"] == "model:clf/1" and {n["kind"] for n in data["nodes"]} >= {"dataset", "run", "model"}
    dot_file = tmp_path / "l.dot"
    done = runner.invoke(cli, ["--uri", uri, "lineage", "cancer@2", "--format", "dot", "-o", str(dot_file)])
    assert done.exit_code == 0, done.output
    dot = dot_file.read_text()
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    assert '"dataset:cancer@1" -> "dataset:cancer@2" [label="derived"];' in dot
    assert dot.count("{") == dot.count("}")
    missing = runner.invoke(cli, ["--uri", uri, "lineage", "nosuch@3"])
    assert missing.exit_code == 2 and "error:" in missing.output and "Traceback" not in missing.output
    svg = runner.invoke(cli, ["--uri", uri, "lineage", "cancer@2", "--format", "svg"])
    assert svg.exit_code == 2 and "-o lineage.svg" in svg.output


def test_the_server_leaves_out_what_the_caller_may_not_read(
    tmp_path: Path, world: tuple[Path, dict[str, Any]]
) -> None:
    root, ids = world
    import shutil

    copy = tmp_path / "ws"
    shutil.copytree(root / "ws", copy)
    with Client(str(copy)) as c:  # a run in another project reads cancer@2
        outsider = c.create_run("secret", "hidden")
        c.log_inputs(outsider.id, ["cancer@2"])
    with serve_workspace(Workspace(str(copy), None, "sqlite", tmp_path)) as served:
        served.services.auth.add_user("viewer", {"lin": "viewer"})
        token = served.services.auth.create_token("viewer", "t")[0]
        with Client(served.uri, token=token) as c:
            graph = c.lineage("cancer@2")
            assert f"run:{outsider.id}" not in graph.nodes and f"run:{ids['run_a']}" in graph.nodes
            from carnet.errors import PermissionDenied

            with pytest.raises(PermissionDenied):
                c.lineage(outsider.id)  # the root itself must be readable
        with served.client() as admin:
            assert f"run:{outsider.id}" in admin.lineage("cancer@2").nodes
