"""Plots are PNGs with their data; reports are JSON-ready and one self-contained, escaped HTML file."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

from carnet.domain.training import Predictions
from carnet.evaluation import EvaluationResult, Plot, evaluate, permutation_importance_plot
from carnet.reports.evaluation import render_html, to_json

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def binary_eval():
    X, y = make_classification(n_samples=400, n_features=5, n_informative=2, random_state=0)
    frame = pd.DataFrame(X, columns=["income", "age", "noise1", "noise2", "noise3"])
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(frame[:200], y[:200])
    test = frame[200:]
    p = Predictions("binary", model.predict(test), model.predict_proba(test), list(model.classes_))
    return evaluate("classification", y[200:], p, X=test, fitted=model, bootstrap=50)


def _json_roundtrip(value):
    return json.loads(json.dumps(value, allow_nan=False))


def test_binary_plots_are_pngs_with_data(binary_eval):
    names = [p.name for p in binary_eval.plots]
    assert names == [
        "roc",
        "pr",
        "calibration",
        "lift_gain",
        "confusion_matrix",
        "threshold",
        "permutation_importance",
    ]
    for plot in binary_eval.plots:
        assert plot.png.startswith(PNG), plot.name
        assert plot.data and _json_roundtrip(plot.to_dict())["data"], plot.name
    roc = binary_eval.plot("roc")
    assert roc.data["fpr"][0] == 0 and roc.data["tpr"][-1] == 1
    assert roc.data["auc"] == pytest.approx(binary_eval.metrics["roc_auc"])
    assert len(binary_eval.plot("lift_gain").data["decile"]) == 10


def test_permutation_importance_finds_informative_features(binary_eval):
    table = binary_eval.details["permutation_importance"]
    assert {r["feature"] for r in table} == {"income", "age", "noise1", "noise2", "noise3"}
    assert table[0]["importance_mean"] >= table[-1]["importance_mean"]


def test_permutation_importance_plot_direct():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(3000, 3)), columns=["strong", "weak", "none"])
    y = 5 * X["strong"] + X["weak"] + rng.normal(0, 0.1, 3000)
    model = LinearRegression().fit(X, y)
    plot, table = permutation_importance_plot(model, X, y, "r2", seed=0, n_repeats=2)
    assert plot.png.startswith(PNG) and plot.name == "permutation_importance"
    assert [r["feature"] for r in table] == ["strong", "weak", "none"]
    assert plot.data["feature"] == [r["feature"] for r in table] and plot.data["rows"] == 2000
    on_array = LinearRegression().fit(X.to_numpy(), y)
    _, from_array = permutation_importance_plot(on_array, X.to_numpy(), y, "r2", seed=0, n_repeats=2)
    assert [r["feature"] for r in from_array] == ["x0", "x1", "x2"]


def test_other_family_plots():
    rng = np.random.default_rng(0)
    y = rng.normal(size=120)
    reg = evaluate("regression", y, Predictions("regression", y + rng.normal(0, 0.1, 120)), bootstrap=0)
    assert [p.name for p in reg.plots] == ["residuals", "predicted_vs_actual"]
    X = np.r_[rng.normal(0, 1, (50, 3)), rng.normal(5, 1, (50, 3))]
    labels = np.r_[np.zeros(50, dtype=int), np.ones(50, dtype=int)]
    clu = evaluate("clustering", None, Predictions("clustering", labels), X=X, bootstrap=0)
    assert [p.name for p in clu.plots] == ["cluster_sizes", "pca_scatter"]
    proba = np.random.default_rng(1).dirichlet([1, 1, 1], size=90)
    multi = evaluate(
        "classification",
        np.arange(90) % 3,
        Predictions("multiclass", proba.argmax(1), proba, [0, 1, 2]),
        bootstrap=0,
    )
    assert [p.name for p in multi.plots] == ["confusion_matrix", "roc", "calibration"]
    for plot in [*reg.plots, *clu.plots, *multi.plots]:
        assert plot.png.startswith(PNG) and plot.data


def test_to_dict_is_json_ready_with_nan_as_none():
    result = EvaluationResult(
        family="regression",
        n=np.int64(3),
        metrics={"rmse": np.float64(1.5), "r2": float("nan")},
        intervals={"rmse": (np.float64(1.0), np.float64(2.0))},
        details={"labels": np.array([1, 2]), np.int64(4): {"x": np.float32(np.inf), "s": {1, 2}}},
        plots=[Plot("p", "P", PNG + b"...", {"y": np.arange(3)})],
    )
    doc = _json_roundtrip(result.to_dict())
    assert doc["metrics"] == {"rmse": 1.5, "r2": None}
    assert doc["intervals"] == {"rmse": [1.0, 2.0]}
    assert doc["details"] == {"labels": [1, 2], "4": {"x": None, "s": [1, 2]}}
    assert doc["plots"] == [{"name": "p", "title": "P", "data": {"y": [0, 1, 2]}}]
    assert result.metric_table()[1] == {
        "metric": "r2",
        "value": None,
        "lower": None,
        "upper": None,
        "greater_is_better": None,
    }


def test_full_results_serialise(binary_eval):
    doc = to_json(binary_eval, {"run_id": "r1", "model": "rf", "spec": {"seed": np.int64(0)}})
    doc = _json_roundtrip(doc)
    assert doc["format"] == "carnet.evaluation/v1"
    assert doc["context"]["spec"] == {"seed": 0}
    assert doc["metrics"]["roc_auc"] == pytest.approx(binary_eval.metrics["roc_auc"])
    assert {r["metric"] for r in doc["metric_table"]} == set(binary_eval.metrics)
    assert "png" not in json.dumps(doc["plots"])


def test_html_is_self_contained_and_escaped(binary_eval):
    context = {"model": "<script>alert(1)</script>", "dataset": "churn@v3", "run_id": "r-42"}
    page = render_html(binary_eval, context)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    assert not re.search(r"https?://", page)
    assert not re.search(r"""(?:src|href)=["'](?!data:|#)""", page)
    assert page.count('src="data:image/png;base64,') == len(binary_eval.plots)
    first = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert base64.b64decode(first.group(1)).startswith(PNG)
    for name, value in binary_eval.metrics.items():
        assert name in page and f"{value:.4g}" in page
    low, high = binary_eval.intervals["roc_auc"]
    assert f"{low:.4g} &ndash; {high:.4g}" in page
    assert "churn@v3" in page and "income" in page


def test_html_escapes_labels_and_notes():
    y = np.array(["<b>x</b>", "$y&z"] * 15)
    p1 = np.linspace(0.05, 0.95, 30)
    p = Predictions("binary", np.where(p1 > 0.5, "$y&z", "<b>x</b>"), np.c_[1 - p1, p1], ["<b>x</b>", "$y&z"])
    result = evaluate("classification", y, p, bootstrap=0)
    result.notes.append('note with <img src=x onerror="alert(1)">')
    page = render_html(result, {})
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<img src=x" not in page and "$y&amp;z" in page
    assert result.plot("confusion_matrix").png.startswith(PNG)  # "$" is not parsed as mathtext
