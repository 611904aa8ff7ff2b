"""Forecasting on statsmodels' bundled CO2 series (monthly) and sunspots (yearly integer periods)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from carnet.domain.training import SplitSpec
from carnet.errors import InvalidInput
from carnet.tasks import default_split, get_task
from carnet.tasks._time import season_length_for
from carnet.tasks.forecasting_models import ETSForecaster, LagRegressor, SeasonalNaive

HORIZON = 36


@pytest.fixture(scope="module")
def co2() -> pd.DataFrame:
    """Monthly mean CO2 (weekly data resampled to month starts, gaps interpolated)."""
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().interpolate()
    return pd.DataFrame({"month": monthly.index, "co2": monthly.to_numpy(), "noise": 0.0})


def _forecast(frame: pd.DataFrame, model: str, options: dict, **params):
    task = get_task("forecasting")
    task.check_target(frame, "co2", options)
    [(train, test)] = task.split(frame, "co2", default_split(task), 0, options)
    X = frame.drop(columns="co2")
    estimator = task.models()[model](**params)
    fitted = task.fit(estimator, X.iloc[train], frame["co2"].iloc[train], options)
    pred = task.predict(fitted, X.iloc[test], options)
    truth = task.truth(frame.iloc[test], "co2", options).to_numpy()
    return fitted, pred, truth, train


def test_ets_beats_seasonal_naive_on_co2(co2: pd.DataFrame) -> None:
    options = {"time_column": "month", "horizon": HORIZON}
    mae = {}
    for model in ("seasonal_naive", "ets", "lag_regressor"):
        _, pred, truth, train = _forecast(co2, model, options)
        assert pred.task == "forecasting"
        assert pred.y_pred.shape == (HORIZON,) and np.all(np.isfinite(pred.y_pred))
        assert pred.extra["season_length"] == 12  # inferred from the monthly frequency
        assert np.array_equal(pred.extra["y_train"], co2["co2"].iloc[train].to_numpy())
        assert len(pred.extra["time"]) == HORIZON
        mae[model] = float(np.mean(np.abs(pred.y_pred - truth)))
    assert mae["ets"] < mae["seasonal_naive"]
    assert mae["lag_regressor"] < mae["seasonal_naive"]
    assert mae["ets"] < 1.5  # ppm, three years ahead


def test_seasonal_naive_repeats_the_last_season(co2: pd.DataFrame) -> None:
    _, pred, _, train = _forecast(co2, "seasonal_naive", {"horizon": 24})  # the only datetime column
    last_year = co2["co2"].iloc[train].to_numpy()[-12:]
    assert np.allclose(pred.y_pred, np.tile(last_year, 2))


def test_forecasts_follow_the_rows_time_stamps(co2: pd.DataFrame) -> None:
    train = co2.iloc[:-24]
    model = ETSForecaster().fit(train[["month"]], train["co2"])
    future = co2.iloc[-24:]
    ahead = model.predict(future[["month"]])
    assert np.allclose(ahead, model.forecast(24))
    shuffled = future.sample(frac=1.0, random_state=0)
    assert np.allclose(
        model.predict(shuffled[["month"]]), pd.Series(ahead, index=future.index)[shuffled.index]
    )
    assert np.allclose(model.predict(future.iloc[[5]][["month"]]), ahead[5])  # 6 steps ahead, alone
    inside = model.predict(train[["month"]].iloc[-12:])  # training stamps: one-step fitted values
    assert np.all(np.isfinite(inside)) and np.mean(np.abs(inside - train["co2"].iloc[-12:])) < 1.0


def test_ets_forecast_matches_statsmodels(co2: pd.DataFrame) -> None:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    y = co2["co2"].to_numpy()[:180]
    ours = ETSForecaster(trend="add", seasonal="mul", damped_trend=True).fit(co2[["month"]].iloc[:180], y)
    ref = ExponentialSmoothing(
        y,
        trend="add",
        seasonal="mul",
        seasonal_periods=12,
        damped_trend=True,
        initialization_method="estimated",
    ).fit()
    assert np.allclose(ours.forecast(12), ref.forecast(12))
    assert set(ours.params_) >= {"smoothing_level", "initial_level", "damping_trend"}


def test_integer_periods_on_sunspots() -> None:
    from statsmodels.datasets import sunspots

    data = sunspots.load_pandas().data
    frame = pd.DataFrame({"year": data["YEAR"].astype(int), "activity": data["SUNACTIVITY"]})
    task = get_task("forecasting")
    options = {"time_column": "year", "horizon": 10, "season_length": 11}
    task.check_target(frame, "activity", options)
    [(train, test)] = task.split(frame, "activity", default_split(task), 0, options)
    X = frame.drop(columns="activity")
    for model in ("seasonal_naive", "ets", "lag_regressor"):
        fitted = task.fit(task.models()[model](), X.iloc[train], frame["activity"].iloc[train], options)
        assert fitted.season_length_ == 11 and fitted.freq_ == 1
        pred = task.predict(fitted, X.iloc[test], options)
        assert pred.y_pred.shape == (10,) and np.all(np.isfinite(pred.y_pred))
        assert pred.extra["season_length"] == 11
    naive = task.fit(SeasonalNaive(season_length=1), X.iloc[train], frame["activity"].iloc[train], options)
    assert np.allclose(
        task.predict(naive, X.iloc[test], options).y_pred, frame["activity"].iloc[train].iloc[-1]
    )


def test_rolling_origin_backtest(co2: pd.DataFrame) -> None:
    task = get_task("forecasting")
    options = {"time_column": "month", "horizon": 12}
    pairs = task.split(co2, "co2", SplitSpec(kind="time", folds=3), 0, options)
    X = co2.drop(columns="co2")
    for train, test in pairs:
        fitted = task.fit(ETSForecaster(), X.iloc[train], co2["co2"].iloc[train], options)
        pred = task.predict(fitted, X.iloc[test], options)
        assert len(pred.extra["y_train"]) == len(train) and np.all(np.isfinite(pred.y_pred))
        assert np.mean(np.abs(pred.y_pred - co2["co2"].iloc[test].to_numpy())) < 1.5


@pytest.mark.parametrize("model", [SeasonalNaive(), ETSForecaster(seasonal=None), LagRegressor(lags=6)])
def test_forecasters_clone_and_round_trip_params(model) -> None:
    params = model.get_params()
    assert type(model)(**params).get_params() == params
    copy = clone(model).set_params(season_length=4)
    assert copy.get_params()["season_length"] == 4 and model.get_params()["season_length"] is None
    times = pd.date_range("2000-01-01", periods=40, freq="QS")
    fitted = clone(model).fit(
        pd.DataFrame({"t": times}), np.sin(np.arange(40) * np.pi / 2) + np.arange(40) * 0.1
    )
    assert fitted.season_length_ == 4 and np.all(np.isfinite(fitted.forecast(8)))


def test_forecaster_input_errors() -> None:
    times = pd.DataFrame({"t": pd.date_range("2020-01-01", periods=10, freq="D")})
    with pytest.raises(ValueError, match="duplicate time stamps"):
        SeasonalNaive().fit(pd.concat([times, times]), np.arange(20.0))
    with pytest.raises(ValueError, match="missing or infinite"):
        SeasonalNaive().fit(times, [1.0, np.nan] * 5)
    with pytest.raises(ValueError, match="strictly positive"):
        ETSForecaster(seasonal="mul", season_length=2).fit(times, np.arange(10.0) - 5)
    model = SeasonalNaive().fit(times.iloc[::2], np.arange(5.0))
    with pytest.raises(ValueError, match="not training time stamps"):
        model.predict(times.iloc[1:2])


def test_forecasting_needs_time_ordered_splits_and_a_time_column(co2: pd.DataFrame) -> None:
    task = get_task("forecasting")
    with pytest.raises(InvalidInput, match="group_kfold' would train on the future"):
        task.split(co2, "co2", SplitSpec(kind="group_kfold", group_column="noise"), 0, {})
    no_dates = co2.assign(month=np.arange(len(co2)))
    with pytest.raises(InvalidInput, match="needs a time column"):
        task.fit(SeasonalNaive(), no_dates.drop(columns="co2"), co2["co2"], {})


@pytest.mark.parametrize(
    ("freq", "season"),
    [
        ("MS", 12),
        ("ME", 12),
        ("QS", 4),
        ("W-SUN", 52),
        ("D", 7),
        ("B", 5),
        ("h", 24),
        ("YS", 1),
        ("min", 1),
        ("2h", 12),
        (1, 1),
    ],
)
def test_season_length_follows_the_frequency(freq: str | int, season: int) -> None:
    assert season_length_for(freq) == season
