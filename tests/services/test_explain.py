"""Local explanations through the SDK on tree models: SHAP attributions add up to the prediction
(regressor, multiclass), LIME gives one weight per input column, a run id and a CSV file are
accepted, and a missing library is either named with what ran instead or refused when asked for."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carnet import Client
from carnet.errors import InvalidInput
from carnet.evaluation.explain_local import INSTALL_HINT, choose_method


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> tuple[Client, Path]:
    from sklearn.datasets import load_iris, make_regression

    root = tmp_path_factory.mktemp("explain-sdk")
    X, y = make_regression(n_samples=300, n_features=5, noise=5.0, random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)])
    frame["zone"] = np.where(frame["x0"] > 0, "east", "west")  # a text column, one-hot in the pipeline
    frame["y"] = y
    frame.to_csv(root / "reg.csv", index=False)
    load_iris(as_frame=True).frame.to_csv(root / "iris.csv", index=False)
    client = Client(str(root / "ws"))
    client.add_dataset(root / "reg.csv", "reg")
    client.add_dataset(root / "iris.csv", "iris")
    forest = {"name": "random_forest", "params": {"n_estimators": 20}}
    reg = client.train({"dataset": "reg@1", "task": "regression", "target": "y", "seed": 0, "model": forest})
    client.register_model(reg.run_id, "reg")
    iris = {"dataset": "iris@1", "task": "multiclass", "target": "target", "seed": 0, "model": forest}
    client.register_model(client.train(iris).run_id, "iris")
    yield client, root
    client.close()


def _additive(result: dict, predictions: np.ndarray) -> None:
    for row, p in zip(result["rows"], predictions, strict=True):
        assert row["prediction"] == pytest.approx(p)
        assert row["base_value"] + sum(row["attributions"].values()) == pytest.approx(p, abs=1e-6)


def test_shap_is_additive_on_a_regression_forest_in_raw_columns(ws: tuple[Client, Path]) -> None:
    client, _ = ws
    result = client.explain("reg/1", "reg@1", rows="0,7,20-22")
    assert result["method"] == "shap" and result["requested"] is None and result["output"] == "prediction"
    assert result["features"] == ["x0", "x1", "x2", "x3", "x4", "zone"]  # input columns, not one-hot ones
    X = client.services.datasets.load_frame("reg@1")[1].drop(columns=["y"]).iloc[[0, 7, 20, 21, 22]]
    _additive(result, client.load_model("reg/1").predict(X))
    ranked = [g["mean_abs"] for g in result["global"]]
    assert ranked == sorted(ranked, reverse=True) and len(ranked) == 6


def test_shap_explains_the_predicted_class_of_a_multiclass_model(ws: tuple[Client, Path]) -> None:
    client, _ = ws
    result = client.explain("iris/1", "iris@1", rows="0,60,120", method="shap")
    assert result["output"] == "P(predicted class)"
    model = client.load_model("iris/1")
    X = client.services.datasets.load_frame("iris@1")[1].drop(columns=["target"]).iloc[[0, 60, 120]]
    _additive(result, model.predict_proba(X).max(axis=1))


def test_lime_gives_one_weight_per_column_on_a_run_and_a_file(ws: tuple[Client, Path]) -> None:
    client, root = ws
    run_id = client.get_model_version("reg/1").run_id
    result = client.explain(run_id[:10], str(root / "reg.csv"), rows="3-4", method="lime")
    assert result["method"] == "lime" and result["data"] == str(root / "reg.csv")
    for row in result["rows"]:
        assert list(row["attributions"]) == ["x0", "x1", "x2", "x3", "x4", "zone"]
        assert 0 <= row["local_fit"] <= 1
    assert client.get_run(result["run_id"]).tags["explains"] == f"run {run_id}"


def test_a_missing_library(ws: tuple[Client, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    client, _ = ws
    monkeypatch.setitem(sys.modules, "shap", None)  # a third-party library made unimportable
    assert choose_method(None) == ("lime", f"shap is not installed ({INSTALL_HINT}); lime ran instead")
    runs = len(client.search_runs("default").runs)
    with pytest.raises(InvalidInput, match=r"method shap needs the shap library") as err:
        client.explain("reg/1", "reg@1", rows="0", method="shap")
    assert err.value.field == "method" and INSTALL_HINT in err.value.message
    assert len(client.search_runs("default").runs) == runs  # nothing recorded
    monkeypatch.setitem(sys.modules, "lime", None)
    result = client.explain("reg/1", "reg@1")
    assert result["method"] == "permutation" and "shap is not installed" in result["note"]
    assert result["rows"] == []
    assert sorted(g["feature"] for g in result["global"]) == ["x0", "x1", "x2", "x3", "x4", "zone"]
