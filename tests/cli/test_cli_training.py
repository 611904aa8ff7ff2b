"""carnet train, evaluate, runs reproduce and automl from the command line."""

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
    from sklearn.datasets import load_diabetes, load_wine

    ws = str(tmp_path / "ws")
    wine = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(wine, index=False)
    diabetes = tmp_path / "diabetes.parquet"
    load_diabetes(as_frame=True).frame.to_parquet(diabetes)
    invoke("--uri", ws, "data", "add", str(wine), "--name", "wine")
    invoke("--uri", ws, "data", "add", str(diabetes), "--name", "diabetes")
    return ws


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return str(path)


def test_train_multiclass_with_kfold_then_evaluate_and_reproduce(ws: str, tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        """
dataset: wine@1
task: multiclass
target: target
split: {kind: stratified_kfold, folds: 3}
model: {name: random_forest, params: {n_estimators: 50}}
seed: 1
""",
    )
    out = json.loads(invoke("--uri", ws, "train", spec, "--json"))
    assert out["metrics"]["f1_macro"] > 0.85
    assert set(out["cv"]) >= {"cv_f1_macro_mean", "cv_f1_macro_std"}
    run_id = out["run_id"]
    shown = json.loads(invoke("--uri", ws, "runs", "show", run_id[:10], "--json"))
    assert "reports/evaluation.html" in {a["path"] for a in shown["artifacts"]}

    evaluated = json.loads(invoke("--uri", ws, "evaluate", run_id[:10], "wine@1", "--json"))
    assert evaluated["metrics"]["accuracy"] >= 0.95  # refitted on all rows, scored on the same rows

    reproduced = json.loads(invoke("--uri", ws, "runs", "reproduce", run_id, "--json"))
    assert reproduced["differing"] == []
    assert "identical metrics" in invoke("--uri", ws, "runs", "reproduce", run_id)


def test_train_regression_reports_rmse(ws: str, tmp_path: Path) -> None:
    spec = write(tmp_path, "dataset: diabetes@1\ntask: regression\ntarget: target\nmodel: {name: ridge}\n")
    out = json.loads(invoke("--uri", ws, "train", spec, "--json"))
    assert 30 < out["metrics"]["rmse"] < 80
    assert out["intervals"]["rmse"][0] <= out["metrics"]["rmse"] <= out["intervals"]["rmse"][1]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("dataset: wine@1\ntask: multiclass\ntarget: nope\n", "nope"),
        (
            "dataset: wine@1\ntask: regression\ntarget: target\nmodel: {name: no_such_model}\n",
            "no_such_model",
        ),
        (
            "dataset: wine@1\ntask: multiclass\ntarget: target\nsplit: {kind: holdout, test_size: 2}\n",
            "test_size",
        ),
        ("dataset: wine@1\ntask: nope\ntarget: target\n", "unknown task 'nope'"),
        ("dataset: wine@9\ntask: multiclass\ntarget: target\n", "no version 9"),
        ("dataset: wine@1\ntask: multiclass\ntarget: target\nmodle: {name: ridge}\n", "modle"),
    ],
)
def test_bad_specs_exit_2_with_one_line(ws: str, tmp_path: Path, text: str, needle: str) -> None:
    result = CliRunner().invoke(cli, ["--uri", ws, "train", write(tmp_path, text)])
    assert result.exit_code == 2, result.output
    lines = [x for x in result.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.output


def test_automl_prints_a_leaderboard(ws: str) -> None:
    out = invoke(
        "--uri", ws, "automl", "wine@1", "--target", "target", "--time-budget", "60", "--max-trials", "4"
    )
    assert "AutoML leaderboard" in out and "baseline" in out
