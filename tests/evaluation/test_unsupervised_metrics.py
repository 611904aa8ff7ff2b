"""Clustering, anomaly and dimensionality-reduction metrics equal scikit-learn's."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, make_blobs
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from carnet.domain.training import Predictions
from carnet.errors import InvalidInput, MetricUnavailable
from carnet.evaluation import evaluate, score
from carnet.evaluation import metrics_unsupervised as mu


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=300, centers=3, n_features=4, random_state=0)
    labels = KMeans(3, n_init=3, random_state=0).fit_predict(X)
    return X, y, labels


def test_clustering_metrics_equal_sklearn(blobs):
    X, y, labels = blobs
    result = evaluate("clustering", y, Predictions("clustering", labels), X=X, bootstrap=0, plots=False)
    assert result.metrics["silhouette"] == pytest.approx(skm.silhouette_score(X, labels), rel=1e-12)
    assert result.metrics["davies_bouldin"] == pytest.approx(skm.davies_bouldin_score(X, labels), rel=1e-12)
    assert result.metrics["calinski_harabasz"] == pytest.approx(
        skm.calinski_harabasz_score(X, labels), rel=1e-12
    )
    assert result.metrics["adjusted_rand"] == pytest.approx(skm.adjusted_rand_score(y, labels), rel=1e-12)
    assert result.metrics["n_clusters"] == 3
    assert sum(r["size"] for r in result.details["cluster_sizes"]) == len(labels)


def test_clustering_categorical_columns_are_one_hot_encoded_and_standardised():
    X = load_iris(as_frame=True).data
    X = X.assign(size=np.where(X["sepal length (cm)"] > 5.8, "big", "small"))
    labels = KMeans(3, n_init=3, random_state=0).fit_predict(X.drop(columns="size"))
    encoded = pd.get_dummies(X, columns=["size"], dtype=float).to_numpy()
    encoded = (encoded - encoded.mean(axis=0)) / encoded.std(axis=0)
    got = score("clustering", "silhouette", None, Predictions("clustering", labels), X=X)
    assert got == pytest.approx(skm.silhouette_score(encoded, labels), rel=1e-10)
    result = evaluate("clustering", None, Predictions("clustering", labels), X=X, bootstrap=0, plots=False)
    assert any("one-hot" in n for n in result.notes)
    assert "adjusted_rand" not in result.metrics


def test_clustering_noise_and_single_cluster():
    X = np.random.default_rng(0).normal(size=(40, 2))
    labels = np.r_[np.zeros(30, dtype=int), -np.ones(10, dtype=int)]
    result = evaluate("clustering", None, Predictions("clustering", labels), X=X, bootstrap=0, plots=False)
    assert result.metrics["n_clusters"] == 1  # noise is not a cluster
    assert result.metrics["silhouette"] == pytest.approx(skm.silhouette_score(X, labels))
    assert result.details["noise_share"] == pytest.approx(0.25)
    one = evaluate("clustering", None, Predictions("clustering", np.zeros(40)), X=X, bootstrap=0, plots=False)
    assert np.isnan(one.metrics["silhouette"])


def test_clustering_without_x_is_unavailable(blobs):
    _, y, labels = blobs
    with pytest.raises(MetricUnavailable) as err:
        score("clustering", "silhouette", y, Predictions("clustering", labels))
    assert err.value.field == "X"


def test_adjusted_rand_batch_equals_sklearn(blobs):
    _, y, labels = blobs
    data = mu.prepare_clustering(y, Predictions("clustering", labels), {})
    W = np.random.default_rng(1).integers(0, 3, size=(3, len(y))).astype(float)
    for w in W:
        rows = np.repeat(np.arange(len(y)), w.astype(int))
        assert mu._ari_batch(data, w[None, :])[0] == pytest.approx(
            skm.adjusted_rand_score(y[rows], labels[rows])
        )


@pytest.fixture(scope="module")
def anomalies():
    rng = np.random.default_rng(4)
    truth = np.r_[np.zeros(380, dtype=int), np.ones(20, dtype=int)]
    scores = np.r_[rng.normal(0, 1, 380), rng.normal(2, 1, 20)]
    flags = (scores > 1.8).astype(int)
    return truth, Predictions("anomaly", flags, scores)


def test_anomaly_metrics(anomalies):
    truth, p = anomalies
    result = evaluate("anomaly", truth, p, bootstrap=0, plots=True)
    assert result.metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(truth, p.y_score), rel=1e-12)
    assert result.metrics["pr_auc"] == pytest.approx(skm.average_precision_score(truth, p.y_score), rel=1e-12)
    top = np.argsort(-p.y_score)[:20]
    assert result.metrics["precision_at_k"] == pytest.approx(truth[top].mean())
    assert result.metrics["anomaly_share"] == pytest.approx(p.y_pred.mean())
    assert result.details["k"] == 20
    assert result.details["score_quantiles"]["p50"] == pytest.approx(np.median(p.y_score))
    assert set(result.plot("score_histogram").data) >= {"edges", "counts_normal", "counts_anomaly"}
    top5 = np.argsort(-p.y_score)[:5]
    assert score("anomaly", "precision_at_k", truth, p, {"k": 5}) == pytest.approx(truth[top5].mean())


def test_anomaly_batches_equal_point(anomalies):
    truth, p = anomalies
    for options in ({}, {"k": 7}):
        data = mu.prepare_anomaly(truth, p, options)
        ones = np.ones((1, data.n))
        for name, impl in mu.ANOMALY_IMPLS.items():
            assert impl.batch(data, ones)[0] == pytest.approx(impl.point(data), rel=1e-9), name


def test_anomaly_without_labels_and_bad_codes(anomalies):
    _, p = anomalies
    result = evaluate("anomaly", None, p, bootstrap=0, plots=False)
    assert list(result.metrics) == ["anomaly_share"]
    with pytest.raises(InvalidInput) as err:
        evaluate("anomaly", np.where(np.arange(400) < 20, -1, 1), p)
    assert err.value.field == "truth"


def test_dim_reduction_metrics():
    X = load_iris(as_frame=True).data
    pipe = make_pipeline(StandardScaler(), PCA(n_components=2)).fit(X)
    emb = pipe.transform(X)
    Xs = pipe[0].transform(X)
    recon = pipe[-1].inverse_transform(emb)
    p = Predictions("dim_reduction", embedding=emb, extra={"reconstruction": recon})
    result = evaluate("dim_reduction", None, p, X=Xs, fitted=pipe, bootstrap=50, plots=True)
    assert result.metrics["explained_variance"] == pytest.approx(pipe[-1].explained_variance_ratio_.sum())
    assert result.metrics["trustworthiness"] == pytest.approx(trustworthiness(Xs, emb, n_neighbors=5))
    assert result.metrics["reconstruction_error"] == pytest.approx(np.mean((recon - Xs) ** 2))
    assert set(result.intervals) == {"reconstruction_error"}
    assert len(result.plot("embedding_scatter").data["x"]) == 150


def test_dim_reduction_reconstruction_shape_mismatch():
    X = np.random.default_rng(0).normal(size=(30, 4))
    p = Predictions("dim_reduction", embedding=X[:, :2], extra={"reconstruction": X[:, :3]})
    with pytest.raises(InvalidInput) as err:
        evaluate("dim_reduction", None, p, X=X)
    assert err.value.field == "predictions.extra"
