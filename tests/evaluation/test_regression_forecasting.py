"""Regression metrics equal scikit-learn's; smape, mase and the naive baseline match numpy by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from carnet.domain.training import Predictions
from carnet.errors import MetricUnavailable
from carnet.evaluation import evaluate, score, score_all
from carnet.evaluation import metrics_regression as mr


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    model = Ridge(alpha=0.5).fit(X.iloc[:300], y.iloc[:300])
    return X.iloc[300:], y.iloc[300:], model, Predictions("regression", model.predict(X.iloc[300:]))


def test_regression_metrics_equal_sklearn(diabetes):
    _, y, _, p = diabetes
    got = score_all("regression", ["rmse", "mae", "mape", "r2"], y, p)
    assert got["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, p.y_pred)), rel=1e-12)
    assert got["mae"] == pytest.approx(skm.mean_absolute_error(y, p.y_pred), rel=1e-12)
    assert got["mape"] == pytest.approx(skm.mean_absolute_percentage_error(y, p.y_pred), rel=1e-12)
    assert got["r2"] == pytest.approx(skm.r2_score(y, p.y_pred), rel=1e-12)


def test_regression_details_and_batches(diabetes):
    _, y, _, p = diabetes
    result = evaluate("regression", y, p, bootstrap=0, plots=False)
    residual = y.to_numpy() - p.y_pred
    res = result.details["residuals"]
    assert res["mean"] == pytest.approx(residual.mean())
    assert res["std"] == pytest.approx(residual.std())
    assert res["p50"] == pytest.approx(np.median(residual))
    assert res["p95"] == pytest.approx(np.quantile(residual, 0.95))
    data = mr.prepare(y, p, {})
    ones = np.ones((1, data.n))
    for name, impl in mr.IMPLS.items():
        assert impl.batch is not None
        assert impl.batch(data, ones)[0] == pytest.approx(impl.point(data), rel=1e-9), name


def test_mape_zero_truth_is_noted():
    result = evaluate("regression", [0.0, 1.0, 2.0], Predictions("regression", [0.1, 1.0, 2.0]), plots=False)
    assert result.metrics["mape"] == pytest.approx(
        skm.mean_absolute_percentage_error([0.0, 1.0, 2.0], [0.1, 1.0, 2.0])
    )
    assert any("mape" in n and "zero" in n for n in result.notes)


def _series():
    rng = np.random.default_rng(3)
    t = np.arange(60)
    y = 20 + 5 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.5, 60)
    y[50] = 0.0
    return y[:48], y[48:]


def test_smape_by_hand():
    y = np.array([10.0, 0.0, 5.0, -2.0])
    f = np.array([12.0, 0.0, 0.0, 2.0])
    # 200*2/22, 0/0 := 0, 200*5/5, 200*4/4
    expected = (400 / 22 + 0 + 200 + 200) / 4
    assert score("forecasting", "smape", y, Predictions("forecasting", f)) == pytest.approx(expected)


@pytest.mark.parametrize("season", [1, 4, 12])
def test_mase_against_direct_numpy(season):
    y_train, y_test = _series()
    forecast = y_test + np.linspace(-1, 1, len(y_test))
    p = Predictions("forecasting", forecast, extra={"y_train": y_train, "season_length": season})
    scale = np.mean([abs(y_train[i] - y_train[i - season]) for i in range(season, len(y_train))])
    expected = np.mean(np.abs(y_test - forecast)) / scale
    assert score("forecasting", "mase", y_test, p) == pytest.approx(expected, rel=1e-12)


def test_seasonal_naive_baseline_comparison():
    y_train, y_test = _series()
    forecast = y_test + 0.3
    p = Predictions("forecasting", forecast, extra={"y_train": y_train, "season_length": 12})
    result = evaluate("forecasting", y_test, p, bootstrap=0, plots=True)
    naive = np.array([y_train[len(y_train) - 12 + (h % 12)] for h in range(len(y_test))])
    baseline = result.details["baseline"]
    assert baseline["seasonal_naive_mae"] == pytest.approx(np.mean(np.abs(y_test - naive)))
    assert baseline["model_mae"] == pytest.approx(0.3)
    assert baseline["relative_mae"] == pytest.approx(0.3 / baseline["seasonal_naive_mae"])
    plot = result.plot("forecast")
    assert plot is not None and plot.data["seasonal_naive"] == pytest.approx(naive.tolist())
    assert plot.data["actual"] == pytest.approx(y_test.tolist())


def test_forecast_with_datetime_index_and_missing_train():
    idx = pd.date_range("2024-01-01", periods=30, freq="D")
    truth = pd.Series(np.arange(30.0), index=idx)
    result = evaluate("forecasting", truth, Predictions("forecasting", np.arange(30.0) + 1), bootstrap=20)
    assert set(result.metrics) == {"mae", "rmse", "smape"}
    assert any("mase" in n for n in result.notes)
    assert result.plot("forecast").data["x"][0].startswith("2024-01-01")
    with pytest.raises(MetricUnavailable):
        score("forecasting", "mase", truth, Predictions("forecasting", np.arange(30.0)))


def test_forecast_batches_equal_point():
    y_train, y_test = _series()
    p = Predictions("forecasting", y_test * 1.1, extra={"y_train": y_train, "season_length": 12})
    data = mr.prepare_forecast(y_test, p, {})
    ones = np.ones((1, data.n))
    for name, impl in mr.FORECAST_IMPLS.items():
        assert impl.batch(data, ones)[0] == pytest.approx(impl.point(data), rel=1e-9), name
