"""``carnet predict``: batch inference streamed in order, recorded as a run, on a local workspace
and through a live server; bounded driver memory; bad input gets one clear error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from carnet.errors import InvalidInput, NotFound

pytestmark = pytest.mark.served


def _frames(rows: int = 6000) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(rows, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["plan"] = np.where(frame["a"] > 0, "pro", "basic")
    frame["churned"] = np.where(x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.5, size=rows) > 0, "yes", "no")
    score = frame.drop(columns="churned").copy()
    score.insert(0, "customer", [f"c{i:05d}" for i in range(rows)])
    return frame.iloc[:2000], score


@pytest.fixture
def model(client: Any, tmp_path: Path) -> dict[str, Any]:
    train, score = _frames()
    train.to_parquet(tmp_path / "train.parquet")
    score.to_parquet(tmp_path / "score.parquet", row_group_size=1000)
    ref = client.add_dataset(tmp_path / "train.parquet", "churn", project="crm")[0].ref
    outcome = client.train(
        {
            "dataset": ref,
            "task": "binary",
            "target": "churned",
            "project": "crm",
            "model": {"name": "logistic_regression"},
        }
    )
    mv = client.register_model(outcome.run_id, "churn")
    scored = client.add_dataset(tmp_path / "score.parquet", "customers", project="crm")[0].ref
    return {
        "ref": mv.ref,
        "run_id": outcome.run_id,
        "data": scored,
        "frame": score,
        "path": tmp_path / "score.parquet",
    }


def test_predict_a_dataset_version_in_order_with_ids_probabilities_and_a_run(
    client: Any, model: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "scores.parquet"
    result = client.predict_batch(
        model["ref"], model["data"], out, batch_rows=700, with_proba=True, id_column="customer", log=True
    )
    scores = pd.read_parquet(out)
    frame = model["frame"]
    assert result["rows"] == len(scores) == len(frame) == 6000
    assert scores["request_id"].tolist() == frame["customer"].tolist()  # the input's order
    assert set(scores.columns) == {"request_id", "prediction", "proba_no", "proba_yes"}
    np.testing.assert_allclose(scores["proba_yes"] + scores["proba_no"], 1.0)
    # the same answers as the model in memory
    assert scores["prediction"].tolist() == np.where(scores["proba_yes"] > 0.5, "yes", "no").tolist()
    assert result["log_files"] >= 1
    run = client.get_run(result["run_id"])
    assert run.tags["kind"] == "batch_prediction" and run.params["model"] == model["ref"]
    assert run.params["input"] == model["data"] and run.params["input_digest"].startswith("blake3:")
    assert run.params["output_digest"] == result["output_digest"]
    assert run.metrics["rows"] == 6000 and run.metrics["rows_per_second"] > 0
    assert [f"{i.dataset}@{i.version}" for i in client.list_inputs(result["run_id"])] == [model["data"]]


def test_predict_a_csv_file_numbers_rows_when_there_is_no_id_column(
    client: Any, model: dict[str, Any], tmp_path: Path
) -> None:
    csv = tmp_path / "few.csv"
    model["frame"].drop(columns="customer").iloc[:250].to_csv(csv, index=False)
    out = tmp_path / "few.parquet"
    result = client.predict_batch(model["ref"], str(csv), out, batch_rows=100)
    scores = pd.read_parquet(out)
    assert result["rows"] == 250 and list(scores.columns) == ["request_id", "prediction"]
    assert scores["request_id"].tolist() == [f"{result['run_id'][:12]}-{i}" for i in range(250)]


def test_bad_input_is_named(client: Any, model: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    model["frame"].drop(columns=["b"]).iloc[:10].to_csv(bad, index=False)
    with pytest.raises(InvalidInput, match="'b'"):
        client.predict_batch(model["ref"], str(bad), tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()  # nothing half-written
    with pytest.raises(NotFound):
        client.predict_batch("nope/1", model["data"], tmp_path / "o.parquet")


@pytest.mark.local_only(reason="the driver's memory limit and executor are the caller's own settings")
def test_a_table_larger_than_the_driver_limit_streams(
    client: Any, model: dict[str, Any], tmp_path: Path
) -> None:
    limit = 64 * 1024
    big = pd.concat([model["frame"]] * 5, ignore_index=True)  # 30,000 rows, well over 64 KiB in memory
    assert big.memory_usage(deep=True).sum() > 10 * limit
    path = tmp_path / "big.csv"
    big.to_csv(path, index=False)
    result = client.predict_batch(
        model["ref"], str(path), tmp_path / "o.parquet", max_driver_memory=limit, jobs=2
    )
    assert result["rows"] == 30_000 and result["batch_rows"] < 30_000
    assert 0 < result["peak_driver_bytes"] <= limit


@pytest.mark.local_only(reason="the CLI runs on the workspace of this process")
def test_cli_predict_json_and_errors(workspace: Any, model: dict[str, Any], tmp_path: Path) -> None:
    from carnet.cli.main import cli

    runner = CliRunner()
    out = tmp_path / "cli.parquet"
    args = ["--uri", workspace.uri] + (["--artifacts", workspace.artifacts] if workspace.artifacts else [])
    res = runner.invoke(cli, [*args, "predict", model["ref"], model["data"], "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["rows"] == 6000 and out.exists()
    res = runner.invoke(
        cli, [*args, "predict", model["ref"], model["data"], "-o", str(out), "--max-driver-memory", "lots"]
    )
    assert res.exit_code == 2 and "512MB" in res.output
    res = runner.invoke(cli, [*args, "predict", model["ref"], "missing.csv", "-o", str(out)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "Example" in runner.invoke(cli, ["predict", "--help"]).output


@pytest.mark.local_only(reason="the attributions are computed the same way through a server")
def test_explain_adds_per_row_attributions_that_add_up(
    client: Any, model: dict[str, Any], tmp_path: Path
) -> None:
    few = tmp_path / "few.parquet"
    model["frame"].iloc[:8].to_parquet(few)
    out = tmp_path / "explained.parquet"
    client.predict_batch(model["ref"], str(few), out, with_proba=True, explain="shap", id_column="customer")
    scores = pd.read_parquet(out)
    contrib = [c for c in scores.columns if c.startswith("contrib.")]
    assert {c.removeprefix("contrib.") for c in contrib} >= {"a", "b", "c", "d", "plan"}
    # SHAP's efficiency: the base value plus the attributions give the explained probability
    total = scores["contrib_base"] + scores[contrib].sum(axis=1)
    np.testing.assert_allclose(total, scores["proba_yes"], atol=1e-6)
    with pytest.raises(InvalidInput, match="explain"):
        client.predict_batch(model["ref"], str(few), out, explain="permutation")


def test_where_work_runs_is_the_callers_choice_locally_and_the_servers_remotely(
    client: Any, workspace: Any, model: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "o.parquet"
    if workspace.remote:
        for call in (
            lambda: client.predict_batch(model["ref"], model["data"], out, executor="ray:local"),
            lambda: client.predict_batch(model["ref"], model["data"], out, allow_pickle=True),
            lambda: client.drift(model["data"], model["data"], jobs=2),
            lambda: client.run_monitor("any", executor="dask:local"),
            lambda: client.train({"dataset": model["data"]}, executor="local"),
            lambda: client.automl(model["data"], target="churned", executor="local"),
        ):
            with pytest.raises(InvalidInput, match="set by the server"):
                call()
        return
    result = client.predict_batch(model["ref"], model["data"], out, executor="local", jobs=2, batch_rows=2500)
    assert result["rows"] == 6000 and result["executor"] == "local"
    report = client.drift(model["data"], model["data"], executor="local", batch_rows=1000)
    assert report.current_rows == 6000 and not report.dataset_drift
