"""Regression and forecasting metrics, their bootstrap batches and detail tables.

* Residuals are ``truth - prediction``.
* ``mape`` is scikit-learn's ``mean_absolute_percentage_error`` (a fraction, not %; a zero
  truth is divided by machine epsilon, so it explodes: a note says so).
* ``smape`` (forecasting) is on a 0-200 scale: ``mean(200 * |e| / (|y| + |y_hat|))`` with
  ``0/0 := 0``.
* The horizon's time stamps come from the truth's index (a pandas Series) or
  ``predictions.extra["time"]`` (or ``["index"]``); they label the forecast plot only.
* ``mase`` = MAE / in-sample MAE of the seasonal naive forecast on ``y_train`` with season
  ``m`` (``predictions.extra["season_length"]``, or ``options["season_length"]``, default 1:
  the naive forecast). The seasonal naive forecast of the horizon repeats the last season
  of ``y_train``; its MAE on the test horizon is reported in ``details["baseline"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from carnet.evaluation._common import Impl, as_1d, check_length, option_int, summary, unavailable
from carnet.evaluation.catalog import default_metrics

__all__ = [
    "FORECAST_IMPLS",
    "IMPLS",
    "ForecastData",
    "RegressionData",
    "forecast_details",
    "prepare",
    "prepare_forecast",
    "regression_details",
    "seasonal_naive",
]


@dataclass
class RegressionData:
    """Validated numeric truth and predictions."""

    y: np.ndarray
    y_hat: np.ndarray
    n: int
    notes: list[str] = field(default_factory=list)

    @property
    def residual(self) -> np.ndarray:
        return cast("np.ndarray", self.y - self.y_hat)


@dataclass
class ForecastData(RegressionData):
    """A forecast horizon, with the training series and season for MASE and the naive baseline."""

    y_train: np.ndarray | None = None
    season: int = 1
    index: list[Any] | None = None
    train_index: list[Any] | None = None


def prepare(
    truth: Any, predictions: Any, options: dict[str, Any], *, X: Any = None, fitted: Any = None, seed: int = 0
) -> RegressionData:
    """Validate numeric truth and ``predictions.y_pred`` of equal length."""
    y = as_1d(truth, "truth", numeric=True)
    y_hat = as_1d(predictions.y_pred, "predictions.y_pred", numeric=True)
    check_length(len(y), len(y_hat), "predictions.y_pred")
    if len(y) == 0:
        from carnet.errors import InvalidInput

        raise InvalidInput("truth is empty: nothing to evaluate", field="truth")
    return RegressionData(y=y, y_hat=y_hat, n=len(y))


def _index_of(values: Any) -> list[Any] | None:
    index = getattr(values, "index", None)
    if index is None or type(index).__name__ == "RangeIndex":
        return None
    return list(index)


def prepare_forecast(
    truth: Any, predictions: Any, options: dict[str, Any], *, X: Any = None, fitted: Any = None, seed: int = 0
) -> ForecastData:
    """Validate a forecast horizon; pick up ``y_train``, ``season_length`` and ``index``."""
    base = prepare(truth, predictions, options)
    extra = predictions.extra or {}
    season = option_int(options, "season_length", None) or option_int(extra, "season_length", 1) or 1
    y_train_raw = options.get("y_train", extra.get("y_train"))
    y_train = None if y_train_raw is None else as_1d(y_train_raw, "predictions.extra.y_train", numeric=True)
    if y_train is not None and len(y_train) == 0:
        y_train = y_train_raw = None
    index = _index_of(truth)
    for key in ("time", "index"):
        if index is None and extra.get(key) is not None:
            index = list(extra[key])
            check_length(base.n, len(index), f"predictions.extra.{key}")
    data = ForecastData(
        y=base.y,
        y_hat=base.y_hat,
        n=base.n,
        y_train=y_train,
        season=season,
        index=index,
        train_index=None if y_train_raw is None else _index_of(y_train_raw),
    )
    if y_train is not None and len(y_train) <= season:
        data.notes.append(f"y_train has {len(y_train)} points, not more than the season length {season}")
    return data


def forecast_defaults(data: ForecastData) -> list[str]:
    """Default forecasting metrics."""
    return default_metrics("forecasting")


def defaults(data: RegressionData) -> list[str]:
    """Default regression metrics."""
    return default_metrics("regression")


# -- metrics --------------------------------------------------------------------------------------


def _mean_of(values: Any) -> Impl:
    """An Impl whose point is ``mean(values(data))`` and batch the W-weighted mean."""
    return Impl(
        lambda d: float(np.mean(values(d))),
        lambda d, W: (W @ values(d)) / W.sum(axis=1),
    )


def _rmse(data: RegressionData) -> float:
    from sklearn.metrics import mean_squared_error

    return float(np.sqrt(mean_squared_error(data.y, data.y_hat)))


def _mae(data: RegressionData) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(data.y, data.y_hat))


def _mape_terms(data: RegressionData) -> np.ndarray:
    return cast("np.ndarray", np.abs(data.residual) / np.maximum(np.abs(data.y), np.finfo(np.float64).eps))


def _mape(data: RegressionData) -> float:
    from sklearn.metrics import mean_absolute_percentage_error

    if (data.y == 0).any():
        data.notes.append(f"mape: {int((data.y == 0).sum())} zero truth value(s) make it explode")
    return float(mean_absolute_percentage_error(data.y, data.y_hat))


def _r2(data: RegressionData) -> float:
    from sklearn.metrics import r2_score

    if data.n < 2:
        data.notes.append("r2 undefined for fewer than two rows")
        return float("nan")
    return float(r2_score(data.y, data.y_hat))


def _r2_batch(data: RegressionData, W: np.ndarray) -> np.ndarray:
    total = W.sum(axis=1)
    sse = W @ data.residual**2
    mean = (W @ data.y) / total
    sst = (W * (data.y[None, :] - mean[:, None]) ** 2).sum(axis=1)
    with np.errstate(all="ignore"):
        return np.where(sst > 0, 1.0 - sse / sst, np.nan)


def _rmse_batch(data: RegressionData, W: np.ndarray) -> np.ndarray:
    return cast("np.ndarray", np.sqrt((W @ data.residual**2) / W.sum(axis=1)))


IMPLS: dict[str, Impl] = {
    "rmse": Impl(_rmse, _rmse_batch),
    "mae": Impl(_mae, _mean_of(lambda d: np.abs(d.residual)).batch),
    "mape": Impl(_mape, _mean_of(_mape_terms).batch),
    "r2": Impl(_r2, _r2_batch),
}


def _smape_terms(data: RegressionData) -> np.ndarray:
    denom = np.abs(data.y) + np.abs(data.y_hat)
    with np.errstate(all="ignore"):
        return np.where(denom > 0, 200.0 * np.abs(data.residual) / denom, 0.0)


def naive_scale(data: ForecastData) -> float:
    """In-sample MAE of the seasonal naive forecast on ``y_train`` (MASE denominator)."""
    if data.y_train is None:
        raise unavailable(
            "mase", "needs the training series (predictions.extra['y_train'])", "predictions.extra"
        )
    m = data.season
    if len(data.y_train) <= m:
        raise unavailable("mase", f"y_train must be longer than the season length {m}", "predictions.extra")
    return float(np.mean(np.abs(data.y_train[m:] - data.y_train[:-m])))


def _mase(data: ForecastData) -> float:
    scale = naive_scale(data)
    if scale == 0:
        data.notes.append("mase undefined: the training series is constant at the season lag")
        return float("nan")
    return float(np.mean(np.abs(data.residual)) / scale)


def _mase_batch(data: ForecastData, W: np.ndarray) -> np.ndarray:
    return cast("np.ndarray", (W @ np.abs(data.residual)) / W.sum(axis=1) / naive_scale(data))


FORECAST_IMPLS: dict[str, Impl] = {
    "mae": IMPLS["mae"],
    "rmse": IMPLS["rmse"],
    "smape": _mean_of(_smape_terms),
    "mase": Impl(_mase, _mase_batch),
}


# -- details --------------------------------------------------------------------------------------


def regression_details(data: RegressionData) -> dict[str, Any]:
    """Residual distribution (truth - prediction), absolute residuals, truth and prediction summaries."""
    return {
        "residuals": summary(data.residual),
        "absolute_residuals": summary(np.abs(data.residual)),
        "truth": summary(data.y),
        "predictions": summary(data.y_hat),
    }


def seasonal_naive(y_train: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """The seasonal naive forecast: the last season of ``y_train`` repeated over ``horizon`` steps."""
    last = y_train[-season:] if len(y_train) >= season else y_train
    return np.resize(last, horizon).astype(float)


def forecast_details(data: ForecastData) -> dict[str, Any]:
    """Residual summary and the comparison with the seasonal naive baseline on the horizon."""
    out = regression_details(data)
    if data.y_train is None or len(data.y_train) == 0:
        data.notes.append("no seasonal naive comparison: predictions.extra['y_train'] not given")
        return out
    naive = seasonal_naive(data.y_train, data.season, data.n)
    naive_mae = float(np.mean(np.abs(data.y - naive)))
    model_mae = float(np.mean(np.abs(data.residual)))
    relative = model_mae / naive_mae if naive_mae > 0 else float("nan")
    out["baseline"] = {
        "method": "seasonal_naive",
        "season_length": data.season,
        "seasonal_naive_mae": naive_mae,
        "seasonal_naive_rmse": float(np.sqrt(np.mean((data.y - naive) ** 2))),
        "model_mae": model_mae,
        "relative_mae": relative,
        "beats_baseline": bool(model_mae < naive_mae),
    }
    return out
