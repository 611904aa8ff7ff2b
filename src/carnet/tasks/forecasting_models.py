"""Forecasters of the ``forecasting`` task: seasonal naive, ETS and a lag-feature regressor.

scikit-learn-compatible estimators (``get_params``/``set_params``, ``clone``) for one
series. ``fit(X, y)``: ``X`` holds the time stamps (first column of a DataFrame, a Series,
an index or an array; datetimes or integer periods), ``y`` the values; rows are ordered by
time and time stamps must be unique. ``predict(X)`` returns one value per stamp of ``X``:
a forecast for stamps after the training end (``h`` steps ahead at the training frequency)
and the one-step-ahead fitted value for training stamps. ``forecast(h)`` gives the next
``h`` values. ``season_length=None`` infers the season from the frequency (12 monthly,
4 quarterly, 52 weekly, 7 daily, 24 hourly, else 1).

Fitted state is plain numbers and arrays (``y_train_``, ``train_times_``, ``freq_``,
``season_length_``, ...), so models serialise without the libraries' own result objects.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from carnet.tasks._time import future_times, infer_freq, locate, season_length_for, time_values

__all__ = ["ETSForecaster", "LagRegressor", "SeasonalNaive"]


def _one_thread() -> Any:
    """A context limiting OpenMP (scikit-learn's boosting) to one thread."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="openmp")


class _Forecaster(BaseEstimator):
    """Shared fit/predict plumbing; subclasses implement ``_fit_series``, ``forecast``, ``_fitted``."""

    season_length: int | None

    def fit(self, X: Any, y: Any) -> _Forecaster:
        """Fit on the series ``y`` observed at the time stamps in ``X``."""
        times = time_values(X)
        values = np.asarray(y, dtype=float).ravel()
        if len(times) != len(values):
            raise ValueError(f"X has {len(times)} time stamps but y has {len(values)} values")
        if len(values) < 2:
            raise ValueError("a series needs at least 2 observations")
        if not np.all(np.isfinite(values)):
            raise ValueError("y has missing or infinite values; fill them first")
        order = np.argsort(times, kind="stable")
        times, values = times[order], values[order]
        if np.any(times[1:] == times[:-1]):
            raise ValueError("X has duplicate time stamps; aggregate to one value per time stamp")
        self.freq_: str | int = infer_freq(times)
        self.season_length_ = int(self.season_length) if self.season_length else season_length_for(self.freq_)
        self.train_times_ = times
        self.y_train_ = values
        self.n_features_in_ = 1
        self._fit_series(values)
        return self

    def _fit_series(self, y: np.ndarray) -> None:
        raise NotImplementedError

    def forecast(self, h: int) -> np.ndarray:
        """The next ``h`` values after the training end."""
        raise NotImplementedError

    def _fitted(self) -> np.ndarray:
        """One-step-ahead in-sample predictions (NaN where undefined)."""
        raise NotImplementedError

    def fitted_values(self) -> np.ndarray:
        """In-sample one-step-ahead predictions; undefined first rows take the next defined value."""
        check_is_fitted(self, "y_train_")
        fitted = np.asarray(self._fitted(), dtype=float).copy()
        defined = np.flatnonzero(np.isfinite(fitted))
        if defined.size == 0:
            return np.asarray(self.y_train_, dtype=float).copy()
        fitted[: defined[0]] = fitted[defined[0]]
        return fitted

    def predict(self, X: Any) -> np.ndarray:
        """A value per time stamp of ``X``: forecasts after the training end, fitted values inside it."""
        check_is_fitted(self, "y_train_")
        times = time_values(X)
        steps, positions = locate(times, self.train_times_, self.freq_)
        out = np.empty(len(times), dtype=float)
        future = steps >= 1
        if future.any():
            fc = self.forecast(int(steps[future].max()))
            out[future] = fc[steps[future] - 1]
        if (~future).any():
            pos = positions[~future]
            if (pos < 0).any():
                raise ValueError(
                    "X has time stamps inside the training period that are not training time stamps"
                )
            out[~future] = self.fitted_values()[pos]
        return out


class SeasonalNaive(_Forecaster):
    """Repeat the last observed season (the last value when ``season_length`` is 1).

    Args:
        season_length: period of the season; None = inferred from the frequency.
    """

    def __init__(self, season_length: int | None = None) -> None:
        self.season_length = season_length

    def _fit_series(self, y: np.ndarray) -> None:
        self.lag_ = self.season_length_ if len(y) >= self.season_length_ else 1

    def forecast(self, h: int) -> np.ndarray:
        """The last ``season_length`` values, repeated over ``h`` steps."""
        check_is_fitted(self, "lag_")
        last = self.y_train_[-self.lag_ :]
        return np.asarray(last[np.arange(h) % self.lag_], dtype=float)

    def _fitted(self) -> np.ndarray:
        out = np.full(len(self.y_train_), np.nan)
        out[self.lag_ :] = self.y_train_[: -self.lag_]
        return out


class ETSForecaster(_Forecaster):
    """Holt-Winters exponential smoothing (statsmodels ``ExponentialSmoothing``).

    Args:
        trend: ``add``, ``mul`` or None (``none``).
        seasonal: ``add``, ``mul`` or None; dropped when the season is 1 or the series is
            shorter than two seasons.
        damped_trend: damp the trend (with a trend only).
        season_length: period of the season; None = inferred from the frequency.
    """

    def __init__(
        self,
        trend: str | None = "add",
        seasonal: str | None = "add",
        damped_trend: bool = False,
        season_length: int | None = None,
    ) -> None:
        self.trend = trend
        self.seasonal = seasonal
        self.damped_trend = damped_trend
        self.season_length = season_length

    @staticmethod
    def _component(value: str | None, name: str) -> str | None:
        if value in (None, "none", "None"):
            return None
        if value not in ("add", "mul"):
            raise ValueError(f"{name} must be 'add', 'mul' or None, got {value!r}")
        return value

    def _fit_series(self, y: np.ndarray) -> None:

        m = self.season_length_
        trend = self._component(self.trend, "trend")
        seasonal = self._component(self.seasonal, "seasonal")
        if m < 2 or len(y) < 2 * m:
            seasonal = None
        if "mul" in (trend, seasonal) and np.any(y <= 0):
            raise ValueError("multiplicative trend or season needs a strictly positive series")
        self.components_ = {
            "trend": trend,
            "seasonal": seasonal,
            "damped_trend": bool(self.damped_trend and trend),
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._model(y, initialization_method="estimated").fit()
        params = result.params
        self.params_ = {
            key: float(params[key])
            for key in (
                "smoothing_level",
                "smoothing_trend",
                "smoothing_seasonal",
                "damping_trend",
                "initial_level",
                "initial_trend",
            )
            if params.get(key) is not None and np.isfinite(params[key])
        }
        self.initial_seasons_ = np.asarray(params["initial_seasons"], dtype=float) if seasonal else None
        self.fittedvalues_ = np.asarray(result.fittedvalues, dtype=float)

    def _model(self, y: np.ndarray, **init: Any) -> Any:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        comp = self.components_
        return ExponentialSmoothing(
            y,
            trend=comp["trend"],
            seasonal=comp["seasonal"],
            seasonal_periods=self.season_length_ if comp["seasonal"] else None,
            damped_trend=comp["damped_trend"],
            **init,
        )

    def forecast(self, h: int) -> np.ndarray:
        """Forecast ``h`` steps from the fitted smoothing parameters and initial states."""
        check_is_fitted(self, "params_")
        p, comp = self.params_, self.components_
        init: dict[str, Any] = {"initialization_method": "known", "initial_level": p["initial_level"]}
        if comp["trend"]:
            init["initial_trend"] = p["initial_trend"]
        if comp["seasonal"]:
            init["initial_seasonal"] = self.initial_seasons_
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self._model(self.y_train_, **init).fit(
                smoothing_level=p["smoothing_level"],
                smoothing_trend=p.get("smoothing_trend") if comp["trend"] else None,
                smoothing_seasonal=p.get("smoothing_seasonal") if comp["seasonal"] else None,
                damping_trend=p.get("damping_trend") if comp["damped_trend"] else None,
                optimized=False,
            )
            return np.asarray(result.forecast(h), dtype=float)

    def _fitted(self) -> np.ndarray:
        return self.fittedvalues_


class LagRegressor(_Forecaster):
    """Gradient boosting on lagged values, seasonal lags and calendar parts; recursive multi-step.

    Features of step ``t``: the values at ``t-1 .. t-lags``, at ``t-m .. t-seasonal_lags*m``
    (``m`` = season length, when > 1) and the calendar parts of ``t`` (month, day, weekday,
    hour for datetimes; ``t mod m`` for integer periods). With ``difference`` the model learns
    the step-to-step changes (so trends extrapolate) and forecasts are cumulated back.
    Multi-step forecasts feed each prediction back as the next lag. Boosting runs on one
    thread: series are small, where OpenMP threads cost more than they save (and carnet
    parallelises across folds and trials instead).

    Args:
        lags: number of consecutive lags ``p``.
        season_length: period of the season; None = inferred from the frequency.
        seasonal_lags: how many whole-season lags to add.
        calendar: add calendar features.
        difference: model first differences instead of levels.
        max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization,
        random_state: parameters of the ``HistGradientBoostingRegressor``.
    """

    def __init__(
        self,
        lags: int = 3,
        season_length: int | None = None,
        seasonal_lags: int = 1,
        calendar: bool = True,
        difference: bool = True,
        max_iter: int = 200,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 10,
        l2_regularization: float = 0.0,
        random_state: int | None = None,
    ) -> None:
        self.lags = lags
        self.season_length = season_length
        self.seasonal_lags = seasonal_lags
        self.calendar = calendar
        self.difference = difference
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.random_state = random_state

    def _calendar(self, times: np.ndarray) -> np.ndarray:
        if not self.calendar:
            return np.empty((len(times), 0))
        if times.dtype.kind in "iu":
            m = self.season_length_
            return (times % m).reshape(-1, 1).astype(float) if m > 1 else np.empty((len(times), 0))
        import pandas as pd

        idx = pd.DatetimeIndex(times)
        return np.column_stack([idx.month, idx.day, idx.day_of_week, idx.hour]).astype(float)

    def _fit_series(self, y: np.ndarray) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        if int(self.lags) < 1:
            raise ValueError(f"lags must be >= 1, got {self.lags}")
        z = np.diff(y) if self.difference else y
        shift = 1 if self.difference else 0
        m = self.season_length_
        lags = set(range(1, int(self.lags) + 1))
        if m > 1:
            lags |= {m * j for j in range(1, int(self.seasonal_lags) + 1)}
        usable = sorted(lag for lag in lags if len(z) - lag >= 5)
        if not usable:
            raise ValueError(f"the series has {len(y)} values: too short for lag features")
        self.lags_ = usable
        start = max(usable)
        rows = np.arange(start, len(z))
        features = self._features(z, rows, self.train_times_[rows + shift])
        est = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            max_leaf_nodes=self.max_leaf_nodes,
            min_samples_leaf=min(int(self.min_samples_leaf), max(1, len(rows) // 4)),
            l2_regularization=self.l2_regularization,
            random_state=self.random_state,
        )
        with _one_thread():
            self.estimator_ = est.fit(features, z[rows])
            step = est.predict(features)
        fitted = np.full(len(y), np.nan)
        fitted[rows + shift] = step + (y[rows] if self.difference else 0.0)
        self.fittedvalues_ = fitted

    def _features(self, z: np.ndarray, rows: np.ndarray, times: np.ndarray) -> np.ndarray:
        lagged = np.column_stack([z[rows - lag] for lag in self.lags_])
        return np.hstack([lagged, self._calendar(times)])

    def forecast(self, h: int) -> np.ndarray:
        """Recursive ``h``-step forecast."""
        check_is_fitted(self, "estimator_")
        y = self.y_train_
        history = list(np.diff(y) if self.difference else y)
        calendar = self._calendar(future_times(self.train_times_[-1], self.freq_, h))
        steps = []
        with _one_thread():
            for s in range(h):
                lagged = np.array([history[-lag] for lag in self.lags_], dtype=float)
                row = np.concatenate([lagged, calendar[s]]).reshape(1, -1)
                value = float(self.estimator_.predict(row)[0])
                history.append(value)
                steps.append(value)
        out = np.asarray(steps, dtype=float)
        return y[-1] + np.cumsum(out) if self.difference else out

    def _fitted(self) -> np.ndarray:
        return self.fittedvalues_
