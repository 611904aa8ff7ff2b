"""Training, evaluation, search, AutoML and reproduction as tracked runs, end to end on real workspaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carnet import Client
from carnet.errors import InvalidInput


@pytest.fixture
def ws(tmp_path: Path) -> Client:
    client = Client(str(tmp_path / "ws"))
    yield client
    client.close()


@pytest.fixture
def cancer(ws: Client, tmp_path: Path) -> str:
    from sklearn.datasets import load_breast_cancer

    path = tmp_path / "cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return ws.add_dataset(path, "cancer")[0].ref


SPEC = """
dataset: {ref}
task: binary
target: target
split: {{kind: holdout, test_size: 0.25}}
model: {{name: logistic_regression, params: {{C: 1.0}}}}
preprocess: {{scale: standard}}
seed: 3
project: demo
"""


def test_train_records_everything_in_one_run(ws: Client, cancer: str) -> None:
    outcome = ws.train(SPEC.format(ref=cancer))
    run = ws.get_run(outcome.run_id)
    assert run.status.value == "finished"
    assert run.tags["task"] == "binary" and run.params["model.name"] == "logistic_regression"
    assert run.metrics["roc_auc"] > 0.95
    assert run.metrics["roc_auc_ci_low"] <= run.metrics["roc_auc"] <= run.metrics["roc_auc_ci_high"]
    paths = {a.path for a in ws.list_artifacts(run.id)}
    assert {
        "spec.yaml",
        "model/model.skops",
        "model/meta.json",
        "reports/evaluation.html",
        "reports/evaluation.json",
        "logs/training.txt",
    } <= paths
    assert any(p.startswith("plots/") and p.endswith(".png") for p in paths)
    assert [(i.dataset, i.version) for i in ws.list_inputs(run.id)] == [("cancer", 1)]
    assert run.environment["python"]
    model = ws.load_model(run.id)
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).data
    assert model.predict_proba(X).shape == (len(X), 2)


def test_same_spec_same_data_same_seed_gives_identical_metrics(ws: Client, cancer: str) -> None:
    a = ws.train(SPEC.format(ref=cancer))
    b = ws.train(SPEC.format(ref=cancer))
    assert a.metrics == b.metrics
    result = ws.reproduce(a.run_id)
    assert result["differing"] == []
    assert ws.get_run(result["new_run_id"]).tags["reproduces"] == a.run_id


def test_bad_spec_fails_before_any_run(ws: Client, cancer: str) -> None:
    before = len(ws.search_runs().runs)
    with pytest.raises(InvalidInput, match="unknown_col"):
        ws.train(SPEC.format(ref=cancer).replace("target: target", "target: unknown_col"))
    with pytest.raises(InvalidInput, match="unknown param 'Cc'") as info:
        ws.train(SPEC.format(ref=cancer).replace("C: 1.0", "Cc: 1.0"))
    assert info.value.field == "model.params.Cc"
    assert len(ws.search_runs().runs) == before


def test_evaluate_creates_a_linked_report_run(ws: Client, cancer: str) -> None:
    trained = ws.train(SPEC.format(ref=cancer))
    outcome = ws.evaluate(trained.run_id, cancer)
    run = ws.get_run(outcome.run_id)
    assert run.tags["evaluates"] == trained.run_id
    assert run.metrics["roc_auc"] > 0.95
    report = json.loads(
        ws.services.ctx.artifacts.get_bytes(
            next(a.digest for a in ws.list_artifacts(run.id) if a.path == "reports/evaluation.json")
        )
    )
    assert report["metrics"]["roc_auc"] == pytest.approx(run.metrics["roc_auc"])


def test_search_makes_child_runs_and_marks_the_best(ws: Client, cancer: str) -> None:
    spec = (
        SPEC.format(ref=cancer)
        + """
search:
  space: {C: {type: float, low: 0.001, high: 10, log: true}}
  n_trials: 4
"""
    )
    result = ws.train(spec)
    parent = ws.get_run(result["parent_run_id"])
    children = ws.child_runs(parent.id)
    assert len(children) == 5  # 4 trials + the refitted best
    assert parent.tags["best_run"] in children
    trials = [ws.get_run(c) for c in children if ws.get_run(c).tags.get("kind") == "trial"]
    best_value = max(t.metrics["roc_auc"] for t in trials)
    assert parent.metrics["best_roc_auc"] == pytest.approx(best_value)


def test_automl_beats_or_matches_its_baseline(ws: Client, cancer: str) -> None:
    result = ws.automl(cancer, target="target", time_budget=60, max_trials=4, seed=0)
    assert result["best"]["value"] >= result["baseline"]["value"]
    assert result["leaderboard"][0]["rank"] == 1
    parent = ws.get_run(result["parent_run_id"])
    assert parent.tags["best_run"] == result["run_id"]
    assert any(a.path == "automl/leaderboard.json" for a in ws.list_artifacts(parent.id))
    children = set(ws.child_runs(parent.id))
    linked = [row["run_id"] for row in result["leaderboard"] if row["run_id"]]
    assert linked and set(linked) <= children


def test_a_model_file_swapped_behind_the_metadata_is_refused(ws: Client, cancer: str) -> None:
    from carnet.domain import Artifact
    from carnet.errors import ArtifactCorrupted

    outcome = ws.train(SPEC.format(ref=cancer))
    other = ws.services.ctx.artifacts.put_bytes(b"not the model")
    # tamper below the service layer: the run's model record now points at other content
    with ws.services.ctx.store.transaction() as tx:
        tx.runs.add_artifacts(outcome.run_id, [Artifact("model/model.skops", other.digest, other.size)])
    with pytest.raises(ArtifactCorrupted, match="does not match"):
        ws.load_model(outcome.run_id)


@pytest.mark.parametrize("rows", ["1", "0"])
def test_a_helper_process_changes_nothing_in_what_is_recorded(
    rows: str, ws: Client, cancer: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Offloading plots and model serialisation (CARNET_OFFLOAD_ROWS) records the same bytes."""
    reference = ws.train(SPEC.format(ref=cancer))
    monkeypatch.setenv("CARNET_OFFLOAD_ROWS", rows)
    with Client(str(tmp_path / "ws")) as other:
        outcome = other.train(SPEC.format(ref=cancer))
        scored = other.evaluate(outcome.run_id, cancer)
        (log_file,) = other.download_artifact(outcome.run_id, "logs/training.txt", tmp_path / "log")
        log = log_file.read_text()

    def digests(run_id: str) -> dict[str, str]:
        return {a.path: a.digest for a in ws.list_artifacts(run_id) if a.path.startswith("plots/")}

    assert ("helper process" in log) == (rows == "1")
    assert outcome.metrics == reference.metrics and outcome.intervals == reference.intervals
    assert digests(outcome.run_id) == digests(reference.run_id)
    assert len(digests(outcome.run_id)) > 8
    rescored = ws.evaluate(reference.run_id, cancer)
    assert scored.metrics == rescored.metrics
    assert digests(scored.run_id) == digests(rescored.run_id) != {}
    from sklearn.datasets import load_breast_cancer

    X = load_breast_cancer(as_frame=True).data
    mine, theirs = ws.load_model(outcome.run_id), ws.load_model(reference.run_id)
    assert (mine.predict_proba(X) == theirs.predict_proba(X)).all()
