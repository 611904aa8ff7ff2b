"""``carnet pipeline run``: a pipeline file on a real workspace, each step a child run cached by content;
its graph, ``--from``, ``--dry-run``, failures, ``runs reproduce`` of a whole pipeline, the CLI, and the
same file against a live server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from carnet import Client
from carnet.cli.main import cli
from carnet.errors import InvalidInput
from carnet.pipelines.runner import plan_pipeline, reproduce_pipeline, run_pipeline, show_pipeline
from conftest import Workspace, serve_workspace

PIPELINE = """
name: bc
project: demo
params: {alias: production, dry_run: true}
steps:
  data: {kind: data.add, path: data.csv, name: bc}
  prep:
    kind: data.derive
    from: "${data.ref}"
    command: ["%(python)s", prep.py, "{input}", "{output}"]
    output: out/prepared.csv
    name: bc-prepared
    deps: [prep.py]
  train: {kind: train, spec: train.yaml, dataset: "${prep.ref}"}
  evaluate: {kind: evaluate, run: "${train.run_id}", dataset: "${prep.ref}"}
  register: {kind: register, run: "${train.run_id}", model: bc}
  promote:
    kind: promote
    model: "${register.model}"
    version: "${register.version}"
    alias: "${params.alias}"
    policy: policy.yaml
    dry_run: "${params.dry_run}"
  deploy: {kind: deploy, when: promote.applied, deployment: deployment.yaml}
"""


def write_example(folder: Path, rows: int = 300) -> Path:
    """A pipeline folder: data, a preparation script, a spec, a policy, a deployment."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame.iloc[:rows, [0, 1, 2, 3, 4, 30]]
    frame.to_csv(folder / "data.csv", index=False)
    (folder / "prep.py").write_text(
        "import sys, pandas as pd\n"
        "df = pd.read_csv(sys.argv[1]) if sys.argv[1].endswith('.csv') else pd.read_parquet(sys.argv[1])\n"
        "df['ratio'] = df.iloc[:, 0] / df.iloc[:, 1]\n"
        "df.to_csv(sys.argv[2], index=False)\n"
    )
    (folder / "train.yaml").write_text(
        "dataset: bc\ntask: binary\ntarget: target\nmodel: {name: logistic_regression}\nseed: 0\n"
    )
    (folder / "policy.yaml").write_text(
        'name: p\ngates:\n  - metric: "roc_auc >= 0.7"\n  - type: non_regression\n    metric: roc_auc\n'
        "evaluation_data: bc-prepared@1\n"
    )
    (folder / "deployment.yaml").write_text("endpoint: bc\nroutes:\n  - model: bc@production\n")
    path = folder / "carnet.pipeline.yaml"
    path.write_text(PIPELINE % {"python": sys.executable})
    return path


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    return write_example(folder)


@pytest.fixture
def local(tmp_path: Path) -> Any:
    client = Client(str(tmp_path / "ws"))
    try:
        yield client
    finally:
        client.close()


def statuses(graph: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in graph["steps"]}


def test_a_pipeline_runs_every_step_as_a_child_run_and_reuses_unchanged_steps(
    local: Any, example: Path
) -> None:
    first = run_pipeline(local, example)
    assert first["status"] == "FINISHED" and first["passed"] is True
    assert statuses(first) == {"data": "done", "prep": "done", "train": "done", "evaluate": "done",
                               "register": "done", "promote": "done", "deploy": "skipped"}  # fmt: skip
    steps = {s["name"]: s for s in first["steps"]}
    assert steps["promote"]["outputs"]["dry_run"] is True and steps["promote"]["outputs"]["passed"] is True
    assert [g["type"] for g in steps["promote"]["outputs"]["gates"]] == ["metric", "non_regression"]
    assert local.get_dataset("bc-prepared@1").parent is not None  # the derived version records its parent
    children = set(local.child_runs(first["run_id"]))
    assert {s["run_id"] for s in first["steps"] if s["run_id"]} <= children
    run = local.get_run(first["run_id"])
    assert run.tags["carnet.kind"] == "pipeline" and run.tags["carnet.pipeline.passed"] == "true"
    assert show_pipeline(local, first["run_id"][:8])["steps"] == first["steps"]

    second = run_pipeline(local, example)
    assert statuses(second)["train"] == "reused" and statuses(second)["promote"] == "reused"
    reused = {s["name"]: s for s in second["steps"]}
    assert reused["train"]["outputs"]["run_id"] == steps["train"]["outputs"]["run_id"]
    assert reused["train"]["reused_from"] == steps["train"]["run_id"]
    assert len(local.model_versions("bc")) == 1  # a reused register step registers nothing new

    # the preparation script changed: it and everything after it runs again; the data step is reused
    (example.parent / "prep.py").write_text((example.parent / "prep.py").read_text() + "# v2\n")
    plan = plan_pipeline(local, example)
    actions = {r["name"]: r["action"] for r in plan["steps"]}
    assert actions.pop("data") == "reuse"
    assert set(actions.values()) == {"run"}
    third = run_pipeline(local, example)
    assert statuses(third)["data"] == "reused" and statuses(third)["prep"] == "done"
    assert (
        statuses(third)["train"] == "reused"
    )  # the derived file has the same content: same digest, same key

    # merge: promote for real, then deploy
    merged = run_pipeline(local, example, params={"dry_run": "false"})
    assert statuses(merged)["promote"] == "done" and statuses(merged)["deploy"] == "done"
    assert local.get_model_version("bc@production").version == 1
    assert local.get_deployment("bc").routes[0].model == "bc@production"
    actions = {e.action for e in local.audit_log(limit=500)}
    assert {"model.promote", "deployment.set", "dataset.add_version"} <= actions


def test_from_a_step_runs_it_and_what_follows_and_keeps_earlier_outputs(local: Any, example: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        run_pipeline(local, example, from_step="train")
    assert info.value.field == "from" and "run the whole pipeline first" in str(info.value)
    first = run_pipeline(local, example)
    again = run_pipeline(local, example, from_step="train")
    st = statuses(again)
    assert st["data"] == st["prep"] == "reused"
    assert st["train"] == st["evaluate"] == st["register"] == st["promote"] == "done"
    before = {s["name"]: s for s in first["steps"]}
    after = {s["name"]: s for s in again["steps"]}
    assert after["train"]["outputs"]["run_id"] != before["train"]["outputs"]["run_id"]
    assert after["data"]["outputs"] == before["data"]["outputs"]
    with pytest.raises(InvalidInput) as info:
        run_pipeline(local, example, from_step="nope")
    assert info.value.field == "step"


def test_a_failed_step_stops_what_needs_it_and_fails_the_pipeline(local: Any, example: Path) -> None:
    (example.parent / "prep.py").write_text("import sys\nsys.exit('no rows today')\n")
    graph = run_pipeline(local, example)
    st = statuses(graph)
    assert graph["status"] == "FAILED" and graph["passed"] is False and graph["failed"] == ["prep"]
    assert st["data"] == "done" and st["prep"] == "failed"
    assert st["train"] == st["register"] == "not run"
    prep = next(s for s in graph["steps"] if s["name"] == "prep")
    assert "no rows today" in prep["error"]
    assert local.get_run(prep["run_id"]).status.value.lower() == "failed"
    assert local.get_run(graph["run_id"]).status.value.lower() == "failed"


def test_a_bad_pipeline_is_refused_before_anything_runs(local: Any, example: Path) -> None:
    text = example.read_text()
    (example.parent / "bad-policy.yaml").write_text("name: p\ngates:\n  - type: no_such_gate\n")
    (example.parent / "bad-train.yaml").write_text("dataset: bc\ntask: binary\nmodle: logistic_regression\n")
    cases = [
        ("steps.train.spec", text.replace("spec: train.yaml", "spec: missing.yaml")),
        ("steps.train.spec", text.replace("spec: train.yaml", "spec: bad-train.yaml")),
        ("steps.promote.policy", text.replace("policy: policy.yaml", "policy: bad-policy.yaml")),
        ("steps.register.run", text.replace('"${train.run_id}", model: bc', '"${trian.run_id}", model: bc')),
        ("steps.prep.deps", text.replace("deps: [prep.py]", "deps: [gone.py]")),
    ]
    for field, body in cases:
        assert body != text, field
        example.write_text(body)
        with pytest.raises(InvalidInput) as info:
            run_pipeline(local, example)
        assert str(info.value.field).startswith(field), (field, info.value.field, str(info.value))
    assert "demo" not in {p.name for p, _ in local.list_projects()}  # nothing ran, nothing was recorded
    assert local.list_datasets() == []


def test_runs_reproduce_replays_a_whole_pipeline(local: Any, example: Path) -> None:
    graph = run_pipeline(local, example)
    result = reproduce_pipeline(local, graph["run_id"])
    rows = {r["name"]: r for r in result["steps"]}
    assert result["differing"] == []
    assert rows["train"]["result"] == "identical metrics" and rows["train"]["new_run"]
    assert rows["evaluate"]["result"] == "identical metrics"
    assert rows["promote"]["result"] == "same verdicts"
    assert rows["data"]["result"] == "same digest"
    assert rows["register"]["result"].startswith("not applied again")


def test_cli_run_show_dry_run_and_reproduce(tmp_path: Path, example: Path) -> None:
    ws = str(tmp_path / "cli-ws")
    runner = CliRunner()
    assert runner.invoke(cli, ["init", ws]).exit_code == 0
    res = runner.invoke(cli, ["--uri", ws, "pipeline", "run", str(example), "--json"])
    assert res.exit_code == 0, res.output
    graph = json.loads(res.output)
    res = runner.invoke(cli, ["--uri", ws, "pipeline", "run", str(example), "--dry-run", "--json"])
    assert res.exit_code == 0 and {r["action"] for r in json.loads(res.output)["steps"]} == {"reuse", "skip"}
    res = runner.invoke(cli, ["--uri", ws, "pipeline", "show", graph["run_id"][:10]])
    assert res.exit_code == 0 and "promote" in res.output and "data → prep" in res.output
    res = runner.invoke(cli, ["--uri", ws, "runs", "reproduce", graph["run_id"], "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["pipeline"] == "bc"
    # a gate that fails: exit 1, the report still shows every step
    (example.parent / "policy.yaml").write_text(
        'name: p\nevaluation_data: bc-prepared@1\ngates:\n  - metric: "roc_auc >= 0.9999"\n'
    )
    res = runner.invoke(cli, ["--uri", ws, "pipeline", "run", str(example)])
    assert res.exit_code == 1 and "gates refused promote" in res.output
    # user mistakes: one line, exit 2
    res = runner.invoke(cli, ["--uri", ws, "pipeline", "run", str(example), "--param", "nope=1"])
    assert res.exit_code == 2 and "declares no parameter 'nope'" in res.output
    res = runner.invoke(cli, ["--uri", ws, "pipeline", "run", str(example), "--param", "dry_run=perhaps"])
    assert res.exit_code == 2 and "boolean" in res.output
    res = runner.invoke(cli, ["--uri", ws, "pipeline", "show", graph["steps"][0]["run_id"]])
    assert res.exit_code == 2 and "not a pipeline run" in res.output
    assert "Traceback" not in res.output


def test_the_same_pipeline_runs_against_a_server_with_a_token(tmp_path: Path, example: Path) -> None:
    local = Workspace(str(tmp_path / "served"), None, "sqlite", tmp_path)
    with serve_workspace(local) as served:
        client = served.client()
        try:
            graph = run_pipeline(client, example, params={"dry_run": "false"})
            assert graph["passed"] is True, graph
            assert statuses(graph)["deploy"] == "done"
            again = run_pipeline(client, example, params={"dry_run": "false"})
            assert statuses(again)["train"] == "reused"
            assert served.services.registry.resolve("bc@production").version == 1
            events = [e for e in served.services.audit.log(limit=1000) if e.action.startswith("model.")]
            assert events and all(e.actor == "tester" for e in events)  # the token's user did it
        finally:
            client.close()


def test_training_steps_run_on_the_executor_the_command_names(local: Any, tmp_path: Path) -> None:
    folder = tmp_path / "automl"
    folder.mkdir()
    write_example(folder)
    (folder / "carnet.pipeline.yaml").write_text(
        "name: study\nproject: demo\nsteps:\n"
        "  data: {kind: data.add, path: data.csv, name: bc}\n"
        "  automl: {kind: automl, dataset: '${data.ref}', target: target, time_budget: 60, max_trials: 2}\n"
    )
    graph = run_pipeline(local, folder / "carnet.pipeline.yaml", executor="dask:local")
    assert graph["passed"] is True, graph
    study = next(s for s in graph["steps"] if s["name"] == "automl")["outputs"]["study_run_id"]
    assert local.get_run(study).tags["executor"].startswith("dask")
