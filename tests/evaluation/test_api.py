"""Public surface: cheap import, registry, score/score_all, and bad input naming the field."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from carnet.domain.training import Predictions
from carnet.errors import InvalidInput
from carnet.evaluation import METRICS, default_metrics, evaluate, get_metric, metric_names, score, score_all
from carnet.plugins.api import EVALUATION_FAMILIES


def test_import_is_cheap():
    code = (
        "import sys, json, carnet.evaluation as e; e.METRICS; e.default_metrics('regression'); "
        "heavy = ('numpy', 'pandas', 'sklearn', 'matplotlib', 'scipy'); "
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_registry_covers_every_family_with_defaults():
    for family in EVALUATION_FAMILIES:
        names = metric_names(family)
        assert names and set(default_metrics(family)) <= set(names)
    assert set(default_metrics("classification", binary=True)) <= set(metric_names("classification"))
    assert "roc_auc_ovr" in default_metrics("classification", binary=False)
    rmse = METRICS[("regression", "rmse")]
    assert (rmse.family, rmse.greater_is_better) == ("regression", False)
    assert score("regression", "rmse", [1.0, 2.0], Predictions("regression", [1.0, 4.0])) == pytest.approx(
        np.sqrt(2)
    )
    assert get_metric("classification", "roc_auc").greater_is_better
    assert not get_metric("anomaly", "anomaly_share").objective


def test_score_and_score_all():
    y = [0, 1, 1, 0]
    p = Predictions("binary", [0, 1, 0, 0], None, [0, 1])
    assert score("classification", "accuracy", y, p) == 0.75
    assert score_all("classification", ["accuracy", "roc_auc"], y, p) == {"accuracy": 0.75}
    with pytest.raises(InvalidInput) as err:
        score_all("classification", ["accuracy", "roc_auc"], y, p, strict=True)
    assert err.value.field == "predictions.y_score"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: evaluate("nope", [1], Predictions("x", [1])), "family"),
        (lambda: score("nope", "rmse", [1], Predictions("x", [1])), "family"),
        (lambda: evaluate("regression", [1.0], Predictions("r", [1.0]), metrics=["rsme"]), "metrics"),
        (lambda: score("regression", "accuracy", [1.0], Predictions("r", [1.0])), "metrics"),
        (lambda: evaluate("regression", [1.0, 2.0], Predictions("r", [1.0])), "predictions.y_pred"),
        (
            lambda: evaluate("classification", [1, 0], Predictions("c", [1, 0], [[0.1, 0.9]], [0, 1])),
            "predictions.y_score",
        ),
        (
            lambda: evaluate(
                "classification", [1, 0], Predictions("c", [1, 0], [[0.1, 0.8, 0.1]] * 2, [0, 1])
            ),
            "predictions.y_score",
        ),
        (lambda: evaluate("regression", [1.0, 2.0], Predictions("r", [1.0, 2.0]), X=np.zeros((3, 2))), "X"),
        (lambda: evaluate("clustering", None, Predictions("k", [0, 1, 1]), X=np.zeros((2, 2))), "X"),
        (lambda: evaluate("regression", None, Predictions("r", [1.0])), "truth"),
        (lambda: evaluate("regression", [1.0, float("nan")], Predictions("r", [1.0, 2.0])), "truth"),
        (lambda: evaluate("regression", ["a"], Predictions("r", [1.0])), "truth"),
        (lambda: evaluate("regression", [1.0], [1.0]), "predictions"),
        (lambda: evaluate("regression", [1.0], Predictions("r", [1.0]), bootstrap=-1), "bootstrap"),
        (lambda: evaluate("regression", [1.0], Predictions("r", [1.0]), confidence=1.5), "confidence"),
        (lambda: evaluate("regression", [1.0], Predictions("r", [1.0]), metrics="rmse"), "metrics"),
        (lambda: evaluate("dim_reduction", None, Predictions("d")), "predictions.embedding"),
        (
            lambda: evaluate("anomaly", [0, 1], Predictions("a", [0, 1], [0.1, 0.2, 0.3])),
            "predictions.y_score",
        ),
    ],
)
def test_bad_input_names_the_field(call, field):
    with pytest.raises(InvalidInput) as err:
        call()
    assert err.value.field == field
    assert str(err.value)


def test_unknown_metric_message_lists_choices():
    with pytest.raises(InvalidInput, match="rmse"):
        evaluate("regression", [1.0], Predictions("r", [1.0]), metrics=["rsme"])


def test_result_counts_and_directions():
    rng = np.random.default_rng(0)
    y = rng.normal(size=50)
    result = evaluate("regression", y, Predictions("r", y + 0.1), plots=False, metrics=["r2", "mae"])
    assert result.n == 50 and list(result.metrics) == ["r2", "mae"]
    assert result.greater_is_better == {"r2": True, "mae": False}
    assert [row["metric"] for row in result.metric_table()] == ["r2", "mae"]
