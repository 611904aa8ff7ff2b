"""Deriving models from registered ones, end to end on real workspaces (and through a live server):
the spec's ``model.from``, ``Client.derive``, the recorded chain, the checks before anything runs,
the non-regression gate against the parent, the card and lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.datasets import make_classification

from carnet.cli.main import cli
from carnet.errors import InvalidInput

pytestmark = pytest.mark.served


def _tables(tmp_path: Path) -> tuple[Path, Path]:
    X, y = make_classification(n_samples=2400, n_features=6, n_informative=4, random_state=1)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
    frame["plan"] = np.where(frame["f0"] > 0, "pro", "basic")
    frame["churned"] = np.array(["no", "yes"])[y]
    old, new = tmp_path / "old.csv", tmp_path / "new.csv"
    frame.iloc[:1600].to_csv(old, index=False)
    frame.iloc[1600:].to_csv(new, index=False)
    return old, new


@pytest.fixture
def parent(client: Any, tmp_path: Path) -> dict[str, Any]:
    old, new = _tables(tmp_path)
    ref = client.add_dataset(old, "churn", project="crm")[0].ref
    spec = {
        "dataset": ref,
        "task": "binary",
        "target": "churned",
        "project": "crm",
        "model": {"name": "lightgbm", "params": {"n_estimators": 60}},
        "preprocess": {"scale": "standard"},
        "seed": 4,
    }
    outcome = client.train(spec)
    mv = client.register_model(outcome.run_id, "churn")
    client.set_model_alias("churn", "production", mv.version)
    new_ref = client.add_dataset(new, "churn", project="crm")[0].ref
    return {"version": mv, "new": new_ref, "new_path": new, "run_id": outcome.run_id}


def test_a_spec_that_starts_from_a_registered_model_records_the_chain(
    client: Any, parent: dict[str, Any]
) -> None:
    outcome = client.train({"dataset": parent["new"], "model": {"from": "churn@production"}})
    spec = outcome.spec
    # everything the parent decided is kept, and the alias is pinned to the version it named
    assert (spec.task, spec.target, spec.project) == ("binary", "churned", "crm")
    assert (
        spec.model.parent == "churn/1" and spec.model.reuse == "warm_start" and spec.model.name == "lightgbm"
    )
    assert spec.preprocess.scale == "standard" and spec.task_options == {}
    run = client.get_run(outcome.run_id)
    assert run.tags["derived_from"] == "churn/1" and run.tags["reuse"] == "warm_start"
    assert run.params["model.from"] == "churn/1"
    assert 0.5 < run.metrics["parent_roc_auc"] <= 1.0 and "roc_auc" in run.metrics
    mv = client.register_model(outcome.run_id, "churn")
    assert mv.version == 2 and mv.derived_from == 1
    reuse = client.get_model_version("churn/2").extra["reuse"]
    assert reuse["from"] == "churn/1" and reuse["reuse"] == "warm_start"
    assert reuse["digest"] == parent["version"].artifact_digest
    # the new version is a model like any other: it loads and predicts
    model = client.load_model("churn/2")
    rows = pd.read_csv(parent["new_path"]).drop(columns=["churned"]).head(5)
    assert set(model.predict(rows)) <= {"no", "yes"}


def test_derive_registers_the_next_version_and_says_what_changed(client: Any, parent: dict[str, Any]) -> None:
    result = client.derive("churn@production", parent["new"], params={"n_estimators": 12})
    assert result["model"] == "churn" and result["version"] == 2 and result["derived_from"] == "churn/1"
    assert result["reuse"] == "warm_start" and result["dataset"] == parent["new"]
    pair = result["metrics"]["roc_auc"]
    assert 0.5 < pair["parent"] <= 1.0 and 0.5 < pair["derived"] <= 1.0
    assert result["fit_seconds"] > 0 and result["parent_fit_seconds"] > 0
    again = client.derive("churn/2", parent["new"], register=False)
    assert again["version"] is None and again["derived_from"] == "churn/2"
    card = client.model_card_data("churn", 2)
    assert card["reuse"] == "warm_start from churn/1"
    assert card["lineage"]["reuse_chain"] == ["churn/1", "churn/2 (warm_start)"]
    graph = client.lineage("churn/2")
    derived = [(e.source, e.target) for e in graph.edges if e.relation == "derived"]
    assert derived == [("model:churn/1", "model:churn/2")]


def test_new_rows_are_checked_against_the_parent_before_anything_runs(
    client: Any, parent: dict[str, Any], tmp_path: Path, services: Any
) -> None:
    frame = pd.read_csv(parent["new_path"])
    runs_before = len(client.search_runs(project="crm"))
    lacking = tmp_path / "lacking.csv"
    frame.drop(columns=["f2"]).to_csv(lacking, index=False)
    with pytest.raises(InvalidInput, match="lacks the parent churn/1's input columns: f2") as info:
        client.derive("churn", str(lacking))
    assert info.value.field == "dataset"
    retyped = tmp_path / "retyped.csv"
    frame.assign(f3="high").to_csv(retyped, index=False)
    retyped_f3 = r"retypes the parent churn/1's inputs: f3 \(float64 -> (object|str)\)"
    with pytest.raises(InvalidInput, match=retyped_f3):
        client.derive("churn", str(retyped))
    with pytest.raises(InvalidInput, match="differs from the parent's") as info:
        client.train({"dataset": parent["new"], "target": "plan", "model": {"from": "churn"}})
    assert info.value.field == "target"
    with pytest.raises(InvalidInput, match=r"search cannot be combined with model\.from"):
        client.train(
            {
                "dataset": parent["new"],
                "model": {"from": "churn"},
                "search": {"space": {"num_leaves": [7, 15]}},
            }
        )
    assert len(client.search_runs(project="crm")) == runs_before  # no half-made run


def test_non_regression_compares_a_derived_version_with_its_parent(
    client: Any, parent: dict[str, Any]
) -> None:
    client.derive("churn", parent["new"])
    client.derive("churn/1", parent["new"], params={"n_estimators": 30})  # churn/3: parent churn/1
    client.set_model_alias("churn", "production", 2)
    policy = {
        "name": "reuse-check",
        "evaluation_data": parent["new"],
        "gates": [{"type": "non_regression", "metric": "roc_auc", "margin": 0.5}],
    }
    result = client.promote("churn", 3, "staging", dry_run=True, policy=policy)
    details = result.results[0].details
    assert details["compared_with"] == "parent churn/1" and details["incumbent_version"] == 1
    against_alias = {**policy, "gates": [{**policy["gates"][0], "against": "alias"}]}
    result = client.promote("churn", 3, "production", dry_run=True, policy=against_alias)
    assert result.results[0].details["compared_with"] == "alias production (churn/2)"


def test_reproducing_a_derived_run_gives_the_same_metrics(client: Any, parent: dict[str, Any]) -> None:
    outcome = client.train({"dataset": parent["new"], "model": {"from": "churn@production"}, "seed": 2})
    client.set_model_alias("churn", "production", 1)  # the alias may move: the run pinned churn/1
    report = client.reproduce(outcome.run_id)
    assert report["differing"] == [] and report["metrics"]


@pytest.mark.local_only(reason="the CLI runs on a local workspace")
def test_the_cli_derives_and_refuses_in_one_line(client: Any, parent: dict[str, Any], workspace: Any) -> None:
    runner = CliRunner()
    base = ["--uri", workspace.uri]
    if workspace.artifacts:
        base += ["--artifacts", workspace.artifacts]
    done = runner.invoke(
        cli, [*base, "models", "derive", "churn@production", parent["new"], "--param", "n_estimators=8"]
    )
    assert done.exit_code == 0, done.output
    assert "parent churn/1" in done.output and "registered churn/2" in done.output
    as_json = runner.invoke(
        cli, [*base, "models", "derive", "churn/2", parent["new"], "--no-register", "--json"]
    )
    assert as_json.exit_code == 0 and '"derived_from": "churn/2"' in as_json.output
    refused = runner.invoke(cli, [*base, "models", "derive", "churn", parent["new"], "--reuse", "finetune"])
    assert refused.exit_code == 2
    lines = [line for line in refused.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "finetune is for torch" in lines[0]
