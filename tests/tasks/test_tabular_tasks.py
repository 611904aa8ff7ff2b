"""Tabular tasks end to end: split, fit a real scikit-learn model, predict, compare with the truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine, make_blobs
from sklearn.decomposition import PCA, KernelPCA
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.manifold import SpectralEmbedding, trustworthiness
from sklearn.metrics import accuracy_score, adjusted_rand_score, r2_score, roc_auc_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from carnet.domain.training import Predictions, SplitSpec
from carnet.errors import InvalidInput
from carnet.tasks import default_split, get_task


def _run(name: str, frame: pd.DataFrame, target: str | None, estimator: Any, split: SplitSpec | None = None):
    """check, split, fit on train (target never a feature), predict on test -> (task, predictions, test)."""
    task = get_task(name)
    task.check_target(frame, target, {})
    [(train, test)] = task.split(frame, target, split or default_split(task), 0, {})
    features = frame.drop(columns=[target]) if target else frame
    y = frame[target].iloc[train] if target else None
    fitted = task.fit(estimator, features.iloc[train], y, {})
    pred = task.predict(fitted, features.iloc[test], {})
    assert isinstance(pred, Predictions) and pred.task == name
    return task, pred, frame.iloc[test]


def test_binary_logistic_regression_on_breast_cancer() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    task, pred, test = _run("binary", frame, "target", model)
    truth = task.truth(test, "target", {})
    assert accuracy_score(truth, pred.y_pred) > 0.9
    assert pred.classes == [0, 1] and all(type(c) is int for c in pred.classes)
    assert pred.y_score.shape == (len(test), 2) and np.allclose(pred.y_score.sum(axis=1), 1.0)
    assert roc_auc_score(truth, pred.y_score[:, 1]) > 0.95
    assert pred.extra["score_kind"] == "proba"


def test_binary_without_predict_proba_squashes_the_decision_function() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "malignant", 1: "benign"})
    task, pred, test = _run("binary", frame, "target", make_pipeline(StandardScaler(), LinearSVC()))
    assert pred.extra["score_kind"] == "decision_function"
    assert pred.classes == ["benign", "malignant"]
    assert pred.y_score.min() >= 0 and pred.y_score.max() <= 1 and np.allclose(pred.y_score.sum(axis=1), 1)
    positive = task.truth(test, "target", {}) == pred.classes[1]
    assert roc_auc_score(positive, pred.y_score[:, 1]) > 0.95


def test_multiclass_on_wine() -> None:
    frame = load_wine(as_frame=True).frame
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0)
    task, pred, test = _run("multiclass", frame, "target", model)
    assert accuracy_score(task.truth(test, "target", {}), pred.y_pred) > 0.85
    assert pred.classes == [0, 1, 2] and pred.y_score.shape == (len(test), 3)


def test_regression_ridge_on_diabetes() -> None:
    frame = load_diabetes(as_frame=True).frame
    task, pred, test = _run("regression", frame, "target", Ridge(alpha=0.1))
    truth = task.truth(test, "target", {})
    assert pred.y_pred.dtype == float and pred.y_pred.shape == (len(test),)
    assert r2_score(truth, pred.y_pred) > 0.3


class _RecordsFit:
    """A clusterer that records what fit received (the target must never reach it)."""

    def fit(self, X: Any, y: Any = None) -> _RecordsFit:
        self.columns_, self.y_ = list(X.columns), y
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.zeros(len(X), dtype=int)


def test_unsupervised_fit_never_sees_the_target() -> None:
    frame = load_iris(as_frame=True).frame
    for name in ("clustering", "anomaly"):
        task = get_task(name)
        fitted = task.fit(_RecordsFit(), frame.drop(columns="target"), frame["target"], {})
        assert fitted.y_ is None and "target" not in fitted.columns_


def test_clustering_kmeans_on_iris_with_labels_for_evaluation() -> None:
    frame = load_iris(as_frame=True).frame
    model = make_pipeline(StandardScaler(), KMeans(3, n_init=10, random_state=0))
    task, pred, test = _run("clustering", frame, "target", model)
    assert len(test) == 150  # default split kind none: fit and evaluate on all rows
    assert adjusted_rand_score(task.truth(test, "target", {}), pred.y_pred) > 0.6
    assert pred.extra["embedding_input"].shape == (150, 4)
    assert np.allclose(pred.extra["embedding_input"].mean(axis=0), 0, atol=1e-9)  # after the scaler
    assert get_task("clustering").truth(test, None, {}) is None


def test_clustering_without_predict_labels_its_training_rows_only() -> None:
    X, y = make_blobs(200, centers=3, cluster_std=0.5, random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b"])
    task, pred, _ = _run("clustering", frame, None, AgglomerativeClustering(3))
    assert adjusted_rand_score(y, pred.y_pred) > 0.9
    fitted = task.fit(AgglomerativeClustering(3), frame.iloc[:150], None, {})
    with pytest.raises(InvalidInput, match=r"cannot assign clusters for new rows.*split kind 'none'"):
        task.predict(fitted, frame.iloc[150:], {})


def _outliers() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    inliers = rng.normal(size=(380, 3))
    outliers = rng.uniform(-8, 8, size=(20, 3))
    outliers[np.abs(outliers).max(axis=1) < 4, 0] = 6.0
    labels = np.r_[np.zeros(380, int), np.ones(20, int)]
    frame = pd.DataFrame(np.r_[inliers, outliers], columns=["a", "b", "c"]).assign(is_anomaly=labels)
    return frame, labels


def test_anomaly_isolation_forest_scores_higher_for_anomalies() -> None:
    frame, _ = _outliers()
    task, pred, test = _run("anomaly", frame, "is_anomaly", IsolationForest(random_state=0))
    truth = task.truth(test, "is_anomaly", {})
    assert roc_auc_score(truth, pred.y_score) > 0.95
    assert set(np.unique(pred.y_pred)) <= {0, 1} and 0 < pred.y_pred.mean() < 0.5
    assert pred.y_score[truth == 1].mean() > pred.y_score[truth == 0].mean()


def test_anomaly_holdout_scores_new_rows() -> None:
    frame, _ = _outliers()
    model = make_pipeline(StandardScaler(), LocalOutlierFactor(novelty=True))
    task, pred, test = _run("anomaly", frame, "is_anomaly", model, SplitSpec(test_size=0.3))
    assert len(test) == 120 and roc_auc_score(task.truth(test, "is_anomaly", {}), pred.y_score) > 0.9


def test_anomaly_lof_without_novelty_scores_training_rows() -> None:
    frame, labels = _outliers()
    task, pred, _ = _run("anomaly", frame, "is_anomaly", LocalOutlierFactor())
    assert roc_auc_score(labels, pred.y_score) > 0.9
    assert pred.y_pred.sum() > 0
    fitted = task.fit(LocalOutlierFactor(), frame.drop(columns="is_anomaly").iloc[:300], None, {})
    with pytest.raises(InvalidInput, match="cannot score rows for new rows"):
        task.predict(fitted, frame.drop(columns="is_anomaly").iloc[300:], {})


def test_dim_reduction_pca_on_iris() -> None:
    frame = load_iris(as_frame=True).frame.drop(columns="target")
    task, pred, _ = _run("dim_reduction", frame, None, make_pipeline(StandardScaler(), PCA(2)))
    assert pred.embedding.shape == (150, 2)
    source = pred.extra["embedding_input"]
    assert pred.extra["reconstruction"].shape == source.shape == (150, 4)
    assert pred.extra["explained_variance_ratio"].sum() > 0.9
    assert trustworthiness(source, pred.embedding, n_neighbors=5) > 0.9
    assert np.mean((source - pred.extra["reconstruction"]) ** 2) < 0.1
    assert task.truth(frame, None, {}) is None


def test_dim_reduction_without_inverse_or_transform() -> None:
    frame = load_iris(as_frame=True).frame.drop(columns="target")
    _, pred, _ = _run("dim_reduction", frame, None, KernelPCA(2))
    assert "reconstruction" not in pred.extra and pred.embedding.shape == (150, 2)
    _, pred, _ = _run("dim_reduction", frame, None, SpectralEmbedding(2, n_neighbors=30, random_state=0))
    assert pred.embedding.shape == (150, 2)
