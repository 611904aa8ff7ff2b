"""The ``Predictions.extra`` keys carnet's tasks fill in are honoured by the engine."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm

from carnet.domain.training import Predictions
from carnet.errors import InvalidInput, MetricUnavailable
from carnet.evaluation import evaluate, score


def test_non_probability_scores_skip_calibration_metrics():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, 1.5, 200))))
    p = Predictions(
        "binary", (s > 0.5).astype(int), np.c_[1 - s, s], [0, 1], extra={"score_kind": "decision_function"}
    )
    result = evaluate("classification", y, p, bootstrap=0)
    assert result.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert not {"log_loss", "brier", "ece"} & set(result.metrics)
    assert any("score_kind=decision_function" in n for n in result.notes)
    assert "calibration" not in [pl.name for pl in result.plots]
    assert "calibration_bins" not in result.details
    with pytest.raises(MetricUnavailable):
        score("classification", "brier", y, p)


def test_geometry_uses_the_model_input_from_extra():
    rng = np.random.default_rng(1)
    model_input = np.r_[rng.normal(0, 1, (40, 2)), rng.normal(6, 1, (40, 2))]
    labels = np.r_[np.zeros(40, dtype=int), np.ones(40, dtype=int)]
    raw = pd.DataFrame({"city": ["a", "b"] * 40, "size": rng.normal(size=80)})
    p = Predictions("clustering", labels, extra={"embedding_input": model_input})
    result = evaluate("clustering", None, p, X=raw, bootstrap=0, plots=False)
    assert result.metrics["silhouette"] == pytest.approx(skm.silhouette_score(model_input, labels))
    with pytest.raises(InvalidInput) as err:
        evaluate("clustering", None, Predictions("c", labels, extra={"embedding_input": model_input[:5]}))
    assert err.value.field == "predictions.extra.embedding_input"


def test_anomaly_k_and_recommendation_k_and_catalog_from_extra():
    truth = np.r_[np.ones(3, dtype=int), np.zeros(17, dtype=int)]
    scores = np.linspace(1, 0, 20)
    p = Predictions("anomaly", (scores > 0.5).astype(int), scores, extra={"k": 5})
    assert score("anomaly", "precision_at_k", truth, p) == pytest.approx(3 / 5)
    assert score("anomaly", "precision_at_k", truth, p, {"k": 2}) == pytest.approx(1.0)
    rec = Predictions("recommendation", ranking={"u": ["a", "b", "c"]}, extra={"k": 2, "catalog_size": 50})
    assert score("recommendation", "precision_at_k", {"u": {"b", "c"}}, rec) == pytest.approx(1 / 2)
    assert score("recommendation", "coverage", {"u": {"b", "c"}}, rec) == pytest.approx(2 / 50)


def test_forecast_time_from_extra_and_empty_training_series():
    time = pd.date_range("2023-03-01", periods=25, freq="D")
    p = Predictions(
        "forecasting", np.arange(25.0), extra={"y_train": np.empty(0), "season_length": 7, "time": time}
    )
    result = evaluate("forecasting", np.arange(25.0) + 0.5, p, bootstrap=0)
    assert "mase" not in result.metrics and "baseline" not in result.details
    assert result.plot("forecast").data["x"][0].startswith("2023-03-01")


def test_all_plot_data_is_plain_json():
    rng = np.random.default_rng(2)
    y = np.arange(60) % 3
    proba = rng.dirichlet([1, 1, 1], size=60)
    results = [
        evaluate(
            "classification", np.array(["a", "b", "c"])[y], Predictions("m", None, proba, ["a", "b", "c"])
        ),
        evaluate("clustering", None, Predictions("c", np.int64(1) * y), X=rng.normal(size=(60, 3))),
        evaluate("anomaly", (y == 0).astype(int), Predictions("a", (y == 0).astype(int), rng.random(60))),
        evaluate("dim_reduction", None, Predictions("d", embedding=rng.normal(size=(60, 2)))),
    ]
    for result in results:
        for plot in result.plots:
            json.dumps(plot.data, allow_nan=False)
