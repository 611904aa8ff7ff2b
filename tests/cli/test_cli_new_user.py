"""What a new user hits first: a search from ``carnet train``, cross-validated headlines, evaluating a
file, and running the quickstart twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from carnet.cli.main import cli


def invoke(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def ws(tmp_path: Path) -> str:
    from sklearn.datasets import load_wine

    ws = str(tmp_path / "ws")
    wine = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(wine, index=False)
    invoke("--uri", ws, "data", "add", str(wine), "--name", "wine")
    return ws


SEARCH = """
dataset: wine@1
task: multiclass
target: target
split: {kind: stratified_kfold, folds: 3}
model: {name: random_forest, params: {n_estimators: 10}}
search:
  space: {max_depth: {type: int, low: 2, high: 6}}
  n_trials: 3
seed: 3
"""


def test_train_with_a_search_prints_the_leaderboard_and_the_refitted_best(ws: str, tmp_path: Path) -> None:
    spec = tmp_path / "search.yaml"
    spec.write_text(SEARCH)
    out = invoke("--uri", ws, "train", str(spec))
    assert "search leaderboard" in out and "best model: carnet runs show" in out
    assert "Traceback" not in out

    result = json.loads(invoke("--uri", ws, "train", str(spec), "--json"))
    board = result["leaderboard"]
    assert [row["rank"] for row in board] == [1, 2, 3]
    values = [row["value"] for row in board]
    assert values == sorted(values, reverse=True)  # f1_macro: best (highest) first
    assert board[0]["trial"] == result["best_trial"] and board[0]["run_id"] == result["best_trial_run"]
    shown = json.loads(invoke("--uri", ws, "runs", "show", result["run_id"], "--json"))
    assert shown["parent_id"] == result["parent_run_id"]
    assert shown["tags"]["best_trial"] == str(result["best_trial"])
    assert any(a["path"].startswith("model/") for a in shown["artifacts"])  # the refit holds the model
    parent = json.loads(invoke("--uri", ws, "runs", "show", result["parent_run_id"], "--json"))
    assert parent["tags"]["best_run"] == result["run_id"]
    assert "search/leaderboard.json" in {a["path"] for a in parent["artifacts"]}


def test_kfold_headline_is_the_mean_over_folds(ws: str, tmp_path: Path) -> None:
    spec = tmp_path / "kfold.yaml"
    spec.write_text(
        "dataset: wine@1\ntask: multiclass\ntarget: target\n"
        "split: {kind: stratified_kfold, folds: 4}\nmodel: {name: logistic_regression}\nseed: 0\n"
    )
    out = json.loads(invoke("--uri", ws, "train", str(spec), "--json"))
    for name, value in out["metrics"].items():
        assert value == pytest.approx(out["cv"][f"cv_{name}_mean"]), name
    assert out["intervals"] == {}  # no bootstrap interval of one fold under a mean over four
    run = out["run_id"]
    shown = json.loads(invoke("--uri", ws, "runs", "show", run, "--json"))
    assert shown["metrics"]["accuracy"] == pytest.approx(out["cv"]["cv_accuracy_mean"])
    text = invoke("--uri", ws, "train", str(spec))
    assert "mean over folds" in text and "± std" in text

    from carnet import Client

    with Client(ws) as client:
        folds = client.get_metric_history(run, "fold_accuracy")
    assert sorted(m.step for m in folds) == [0, 1, 2, 3]
    assert sum(m.value for m in folds) / 4 == pytest.approx(out["cv"]["cv_accuracy_mean"])


def test_evaluate_refuses_a_file_without_the_target_before_registering_it(ws: str, tmp_path: Path) -> None:
    spec = tmp_path / "one.yaml"
    spec.write_text("dataset: wine@1\ntask: multiclass\ntarget: target\nmodel: {name: logistic_regression}\n")
    run = json.loads(invoke("--uri", ws, "train", str(spec), "--json"))["run_id"]
    from sklearn.datasets import load_wine

    unlabeled = tmp_path / "unlabeled.csv"
    load_wine(as_frame=True).frame.drop(columns=["target"]).to_csv(unlabeled, index=False)
    before = json.loads(invoke("--uri", ws, "data", "list", "--json"))
    result = CliRunner().invoke(cli, ["--uri", ws, "evaluate", run, str(unlabeled)])
    assert result.exit_code == 2
    assert "no target column 'target'" in result.output and "Traceback" not in result.output
    assert json.loads(invoke("--uri", ws, "data", "list", "--json")) == before  # nothing registered

    labeled = tmp_path / "labeled.csv"
    load_wine(as_frame=True).frame.to_csv(labeled, index=False)
    evaluated = json.loads(invoke("--uri", ws, "evaluate", run, str(labeled), "--json"))
    assert evaluated["metrics"]["accuracy"] > 0.8


def test_quickstart_runs_twice_in_one_workspace(tmp_path: Path) -> None:
    ws = str(tmp_path / "qs")
    first = json.loads(invoke("--uri", ws, "quickstart", "--json"))
    assert first["round"] == 1 and first["model"]["promoted"] is True
    again = CliRunner().invoke(cli, ["--uri", ws, "quickstart"])
    assert again.exit_code == 0, again.output
    assert "continues in workspace" in again.output and "round 2" in again.output
    second = json.loads(invoke("--uri", ws, "quickstart", "--json"))
    assert second["round"] == 3 and second["model"]["version"] == 3 and second["model"]["promoted"]
    assert second["audit"]["ok"] is True
    shown = json.loads(invoke("--uri", ws, "models", "show", "breast-cancer-clf@production", "--json"))
    assert shown["version"] == 3


def test_quickstart_refuses_a_foreign_monitor_before_any_change(tmp_path: Path) -> None:
    from carnet import Client

    ws = str(tmp_path / "qs")
    data = tmp_path / "d.csv"
    from sklearn.datasets import load_breast_cancer

    load_breast_cancer(as_frame=True).frame.to_csv(data, index=False)
    with Client(ws) as client:
        version, _ = client.add_dataset(data, "other", project="mine")
        run = client.train({"dataset": version.ref, "task": "binary", "target": "target", "project": "mine"})
        client.register_model(run.run_id, "other-model")
        client.set_model_alias("other-model", "live", 1)
        client.services.monitoring.create(
            {
                "name": "breast-cancer-prod",
                "model": "other-model@live",
                "reference": version.ref,
                "window": "50rows",
            }
        )
        before = client.verify_audit().count
    result = CliRunner().invoke(cli, ["--uri", ws, "quickstart"])
    assert result.exit_code == 2 and "monitor 'breast-cancer-prod' watches other-model@live" in result.output
    with Client(ws) as client:
        assert client.verify_audit().count == before  # nothing was changed


def test_library_warnings_go_to_the_training_log_not_the_console(ws: str, tmp_path: Path) -> None:
    spec = tmp_path / "short.yaml"
    spec.write_text(
        "dataset: wine@1\ntask: multiclass\ntarget: target\nsplit: {kind: stratified_kfold, folds: 3}\n"
        "model: {name: logistic_regression, params: {max_iter: 5}}\n"
    )
    out = invoke("--uri", ws, "train", str(spec))
    assert out.count("lbfgs failed to converge") == 1 and "see: carnet runs log" in out
    assert "_check_optimize_result" not in out  # no raw warnings.warn lines
    result = json.loads(invoke("--uri", ws, "train", str(spec), "--json"))
    assert result["warnings"] == [
        "ConvergenceWarning: lbfgs failed to converge after 5 iteration(s) (status=1): (x4)"
    ]  # three folds and the refit

    from carnet import Client

    with Client(ws) as client:
        log_artifact = next(
            a for a in client.list_artifacts(result["run_id"]) if a.path == "logs/training.txt"
        )
        text = client.services.ctx.artifacts.get_bytes(log_artifact.digest).decode()
    assert "warning: ConvergenceWarning: lbfgs failed to converge" in text


def test_every_next_step_the_quickstart_prints_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From the quickstart to every report, log, metric, lineage, explanation and stress run, through
    the CLI alone: each hint it prints runs (serving, which blocks, excepted)."""
    import shlex

    monkeypatch.chdir(tmp_path)  # hints write their files (-o report, card.html ...) here
    ws = str(tmp_path / "qs")
    out = CliRunner().invoke(cli, ["--uri", ws, "quickstart"])
    assert out.exit_code == 0, out.output
    hints = [line.strip() for line in out.output.split("Next:", 1)[1].splitlines() if line.strip()]
    assert len(hints) >= 15
    assert any(" evaluate " in h and "breast-cancer-holdout@1" in h for h in hints)  # the holdout version
    ran = 0
    for hint in hints:
        words = shlex.split(hint.split("#", 1)[0])
        assert words[0] == "carnet", hint
        if words[3] == "serve":
            continue
        if words[3:5] == ["runs", "open"]:
            words.append("--no-browser")
        if words[3:5] == ["runs", "reproduce"]:
            continue  # tested on its own; slow here
        result = CliRunner().invoke(cli, words[1:])
        assert result.exit_code == 0, (hint, result.output)
        ran += 1
    assert ran >= 14
    assert (tmp_path / "report" / "reports" / "evaluation.html").exists()
    assert (tmp_path / "explain" / "report.html").exists() and (tmp_path / "stress.html").exists()
