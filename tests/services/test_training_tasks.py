"""Every task type trains end to end through the service layer, including a third-party plugin task."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carnet import Client


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Client:
    root = tmp_path_factory.mktemp("tasks")
    import statsmodels.api as sm
    from sklearn.datasets import load_diabetes

    co2 = sm.datasets.co2.load_pandas().data.resample("MS").mean().interpolate().reset_index()
    co2.columns = ["month", "co2"]
    co2.to_csv(root / "co2.csv", index=False)
    rng = np.random.default_rng(0)
    ratings = [
        (u, int(i), float(rng.integers(1, 6))) for u in range(60) for i in rng.choice(40, 12, replace=False)
    ]
    pd.DataFrame(ratings, columns=["user", "item", "rating"]).to_csv(root / "ratings.csv", index=False)
    X = rng.normal(size=(500, 4))
    labels = np.zeros(500, dtype=int)
    X[:25] += 5
    labels[:25] = 1
    pd.DataFrame(X, columns=list("abcd")).assign(label=labels).to_csv(root / "anomalies.csv", index=False)
    load_diabetes(as_frame=True).frame.to_csv(root / "diabetes.csv", index=False)
    client = Client(str(root / "ws"))
    for name in ("co2", "ratings", "anomalies", "diabetes"):
        client.add_dataset(root / f"{name}.csv", name)
    yield client
    client.close()


CASES = [
    (
        {
            "dataset": "co2@1",
            "task": "forecasting",
            "target": "co2",
            "split": {"kind": "holdout", "time_column": "month", "shuffle": False},
            "task_options": {"horizon": 24},
            "model": {"name": "ets"},
        },
        lambda m: 0 < m["mase"] < 1,  # better than the seasonal naive forecast
    ),
    (
        {
            "dataset": "ratings@1",
            "task": "recommendation",
            "task_options": {"user_column": "user", "item_column": "item", "rating_column": "rating", "k": 5},
        },
        lambda m: 0 <= m["ndcg_at_k"] <= 1 and m["coverage"] > 0,
    ),
    (
        {
            "dataset": "diabetes@1",
            "task": "clustering",
            "features": {"exclude": ["target"]},
            "model": {"name": "kmeans", "params": {"n_clusters": 3}},
        },
        lambda m: -1 <= m["silhouette"] <= 1 and m["davies_bouldin"] > 0,
    ),
    ({"dataset": "anomalies@1", "task": "anomaly", "target": "label"}, lambda m: m["roc_auc"] > 0.95),
    (
        {
            "dataset": "diabetes@1",
            "task": "dim_reduction",
            "features": {"exclude": ["target"]},
            "model": {"name": "pca", "params": {"n_components": 2}},
        },
        lambda m: 0 < m["explained_variance"] < 1 and m["trustworthiness"] > 0.5,
    ),
    (
        {
            "dataset": "diabetes@1",
            "task": "regression",
            "target": "target",
            "model": {"name": "lightgbm", "params": {"n_estimators": 40}},
        },
        lambda m: m["rmse"] < 80,
    ),
    (
        {
            "dataset": "diabetes@1",
            "task": "regression",
            "target": "target",
            "model": {"name": "xgboost", "params": {"n_estimators": 40}},
        },
        lambda m: m["rmse"] < 80,
    ),
    ({"dataset": "diabetes@1", "task": "quantile_regression", "target": "target"}, lambda m: m["mae"] < 80),
]


@pytest.mark.parametrize(("spec", "check"), CASES, ids=[f"{c[0]['task']}-{i}" for i, c in enumerate(CASES)])
def test_task_trains_evaluates_and_stores_everything(ws: Client, spec: dict, check) -> None:
    outcome = ws.train(spec)
    assert check(outcome.metrics), outcome.metrics
    run = ws.get_run(outcome.run_id)
    assert run.status.value == "finished" and run.tags["task"] == spec["task"]
    paths = {a.path for a in ws.list_artifacts(run.id)}
    assert {"model/model.skops", "reports/evaluation.html", "reports/evaluation.json", "spec.yaml"} <= paths


def test_stored_model_loads_and_predicts_like_the_trained_one(ws: Client) -> None:
    from sklearn.datasets import load_diabetes

    outcome = ws.train(
        {"dataset": "diabetes@1", "task": "regression", "target": "target", "model": {"name": "ridge"}}
    )
    X = load_diabetes(as_frame=True).data
    loaded = ws.load_model(outcome.run_id)
    np.testing.assert_allclose(loaded.predict(X), outcome.fitted.predict(X))
