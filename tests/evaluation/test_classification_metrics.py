"""Classification metrics equal scikit-learn's; ece, lift/gain and thresholds match hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from carnet.domain.training import Predictions
from carnet.errors import MetricUnavailable
from carnet.evaluation import default_metrics, evaluate, score, score_all
from carnet.evaluation import metrics_classification as mc
from carnet.evaluation.catalog import metric_names
from carnet.evaluation.classification_details import lift_gain_table


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=600, n_features=6, flip_y=0.1, random_state=1)
    labels = np.where(y == 1, "yes", "no")
    model = LogisticRegression().fit(X[:300], labels[:300])
    proba = model.predict_proba(X[300:])
    return labels[300:], Predictions("binary", model.predict(X[300:]), proba, list(model.classes_))


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(
        n_samples=900, n_features=8, n_informative=5, n_classes=4, flip_y=0.05, random_state=2
    )
    model = LogisticRegression(max_iter=500).fit(X[:450], y[:450])
    return y[450:], Predictions(
        "multiclass", model.predict(X[450:]), model.predict_proba(X[450:]), [0, 1, 2, 3]
    )


def test_binary_metrics_equal_sklearn(binary):
    y, p = binary
    pos = p.classes[1]
    proba = p.y_score[:, 1]
    expected = {
        "accuracy": skm.accuracy_score(y, p.y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, p.y_pred),
        "precision": skm.precision_score(y, p.y_pred, pos_label=pos),
        "recall": skm.recall_score(y, p.y_pred, pos_label=pos),
        "f1": skm.f1_score(y, p.y_pred, pos_label=pos),
        "precision_macro": skm.precision_score(y, p.y_pred, average="macro"),
        "recall_weighted": skm.recall_score(y, p.y_pred, average="weighted"),
        "f1_macro": skm.f1_score(y, p.y_pred, average="macro"),
        "f1_weighted": skm.f1_score(y, p.y_pred, average="weighted"),
        "roc_auc": skm.roc_auc_score(y == pos, proba),
        "pr_auc": skm.average_precision_score(y == pos, proba),
        "log_loss": skm.log_loss(y, p.y_score, labels=p.classes),
        "brier": skm.brier_score_loss(y == pos, proba),
    }
    got = score_all("classification", list(expected), y, p)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name
    result = evaluate("classification", y, p, bootstrap=0, plots=False)
    assert list(result.metrics) == default_metrics("classification", binary=True)
    for name in result.metrics:
        if name != "ece":
            assert result.metrics[name] == pytest.approx(expected[name], rel=1e-12)


def test_multiclass_metrics_equal_sklearn(multiclass):
    y, p = multiclass
    expected = {
        "accuracy": skm.accuracy_score(y, p.y_pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, p.y_pred),
        "precision_macro": skm.precision_score(y, p.y_pred, average="macro"),
        "recall_macro": skm.recall_score(y, p.y_pred, average="macro"),
        "f1_macro": skm.f1_score(y, p.y_pred, average="macro"),
        "precision_weighted": skm.precision_score(y, p.y_pred, average="weighted"),
        "recall_weighted": skm.recall_score(y, p.y_pred, average="weighted"),
        "f1_weighted": skm.f1_score(y, p.y_pred, average="weighted"),
        "roc_auc_ovr": skm.roc_auc_score(y, p.y_score, multi_class="ovr", average="macro"),
        "log_loss": skm.log_loss(y, p.y_score),
    }
    got = score_all("classification", list(expected), y, p)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12), name


def test_unsorted_class_order_is_respected():
    y = np.array(["b", "a", "b", "a", "b", "a"])
    proba_b = np.array([0.9, 0.2, 0.6, 0.4, 0.7, 0.1])
    # columns in the order ["b", "a"]: positive = classes[1] = "a"
    p = Predictions("binary", np.where(proba_b >= 0.5, "b", "a"), np.c_[proba_b, 1 - proba_b], ["b", "a"])
    assert score("classification", "log_loss", y, p) == pytest.approx(
        skm.log_loss(y, np.c_[1 - proba_b, proba_b], labels=["a", "b"])
    )
    assert score("classification", "roc_auc", y, p) == pytest.approx(skm.roc_auc_score(y == "a", 1 - proba_b))
    assert score("classification", "precision", y, p) == pytest.approx(
        skm.precision_score(y, p.y_pred, pos_label="a")
    )


def test_bootstrap_batches_equal_point_estimates(binary, multiclass):
    """Each vectorised bootstrap batch, evaluated on the identity resample, equals the point value."""
    for y, p in (binary, multiclass):
        data = mc.prepare(y, p, {})
        ones = np.ones((1, data.n))
        for name, impl in mc.IMPLS.items():
            try:
                point = impl.point(data)
            except MetricUnavailable:
                continue
            assert impl.batch is not None
            assert impl.batch(data, ones)[0] == pytest.approx(point, rel=1e-9, abs=1e-12), name


def test_ece_by_hand():
    y = np.array([0, 1, 1, 0, 1])
    p1 = np.array([0.05, 0.95, 0.55, 0.65, 0.72])
    proba = np.c_[1 - p1, p1]
    # confidences 0.95 0.95 0.55 0.65 0.72 -> bins 9, 9, 5, 6, 7; correct: 1, 1, 1, 0, 1
    expected = (2 * abs(1 - 0.95) + abs(1 - 0.55) + abs(0 - 0.65) + abs(1 - 0.72)) / 5
    p = Predictions("binary", (p1 >= 0.5).astype(int), proba, [0, 1])
    assert score("classification", "ece", y, p) == pytest.approx(expected)


def test_lift_gain_by_hand():
    first = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    score_ = np.array([*first, 0.95, 0.85, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.02])
    positive = np.zeros(20, dtype=bool)
    positive[[10, 0, 11, 5, 9]] = True  # scores 0.95, 0.9, 0.85, 0.4, 0.05
    rows = lift_gain_table(score_, positive)
    assert [r["n"] for r in rows] == [2] * 10
    # descending: 0.95 0.9 | 0.85 0.8 | 0.75 0.7 | 0.65 0.6 | 0.55 0.5 | 0.45 0.4 | ... | 0.05 0.02
    assert [r["positives"] for r in rows] == [2, 1, 0, 0, 0, 1, 0, 0, 0, 1]
    base = 5 / 20
    assert rows[0]["response_rate"] == 1.0 and rows[0]["lift"] == pytest.approx(1.0 / base)
    assert [r["cumulative_gain_pct"] for r in rows] == pytest.approx(
        [40, 60, 60, 60, 60, 80, 80, 80, 80, 100]
    )
    assert rows[1]["cumulative_lift"] == pytest.approx((3 / 4) / base)


def test_threshold_table_and_best_threshold(binary):
    y, p = binary
    result = evaluate("classification", y, p, bootstrap=0, plots=False)
    table = result.details["thresholds"]
    assert [r["threshold"] for r in table] == pytest.approx(np.arange(1, 20) * 0.05)
    pos = y == p.classes[1]
    for row in table[::6]:
        pred = p.y_score[:, 1] >= row["threshold"]
        assert row["precision"] == pytest.approx(skm.precision_score(pos, pred, zero_division=0))
        assert row["recall"] == pytest.approx(skm.recall_score(pos, pred))
        assert row["f1"] == pytest.approx(skm.f1_score(pos, pred))
        assert row["accuracy"] == pytest.approx(skm.accuracy_score(pos, pred))
    best = result.details["best_threshold"]
    assert best["f1"] == max(r["f1"] for r in table)


def test_details_per_class_and_confusion(multiclass):
    y, p = multiclass
    details = evaluate("classification", y, p, bootstrap=0, plots=False).details
    prec, rec, f1, support = skm.precision_recall_fscore_support(y, p.y_pred, labels=[0, 1, 2, 3])
    assert [r["precision"] for r in details["per_class"]] == pytest.approx(prec)
    assert [r["recall"] for r in details["per_class"]] == pytest.approx(rec)
    assert [r["f1"] for r in details["per_class"]] == pytest.approx(f1)
    assert [r["support"] for r in details["per_class"]] == support.tolist()
    assert details["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, p.y_pred).tolist()
    assert sum(b["count"] for b in details["calibration_bins"]) == len(y)


def test_binary_metric_on_multiclass_is_unavailable(multiclass):
    y, p = multiclass
    with pytest.raises(MetricUnavailable) as err:
        score("classification", "roc_auc", y, p)
    assert err.value.field == "metrics"
    result = evaluate("classification", y, p, metrics=["accuracy", "f1"], bootstrap=0, plots=False)
    assert list(result.metrics) == ["accuracy"]
    assert any("f1" in n for n in result.notes)


def test_labels_only_predictions_skip_probability_metrics(binary):
    y, p = binary
    labels_only = Predictions("binary", p.y_pred, None, p.classes)
    result = evaluate("classification", y, labels_only, bootstrap=0)
    assert "roc_auc" not in result.metrics and "accuracy" in result.metrics
    assert any("y_score" in n for n in result.notes)
    assert [pl.name for pl in result.plots] == ["confusion_matrix"]
    with pytest.raises(MetricUnavailable):
        score("classification", "log_loss", y, labels_only)


def test_y_pred_derived_from_scores_and_1d_positive_scores():
    y = np.array([0, 1, 1, 0, 1, 0])
    p1 = np.array([0.2, 0.8, 0.4, 0.3, 0.9, 0.6])
    from_2d = score("classification", "accuracy", y, Predictions("binary", None, np.c_[1 - p1, p1], [0, 1]))
    assert from_2d == pytest.approx(skm.accuracy_score(y, (p1 > 0.5).astype(int)))
    one_d = Predictions("binary", (p1 > 0.5).astype(int), p1, [0, 1])
    assert score("classification", "roc_auc", y, one_d) == pytest.approx(skm.roc_auc_score(y, p1))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_single_class_truth_gives_nan_auc_with_note():
    y = np.zeros(30, dtype=int)
    p1 = np.linspace(0, 1, 30)
    result = evaluate(
        "classification",
        y,
        Predictions("binary", (p1 > 0.5).astype(int), p1, [0, 1]),
        plots=True,
        bootstrap=50,
    )
    assert np.isnan(result.metrics["roc_auc"])
    assert "roc_auc" not in result.intervals
    assert any("roc_auc undefined" in n for n in result.notes)


def test_every_classification_metric_is_registered():
    assert set(metric_names("classification")) == set(mc.IMPLS)
