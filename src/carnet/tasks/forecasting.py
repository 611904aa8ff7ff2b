"""Forecasting: predict the future values of one time series."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from carnet.domain.training import Predictions, SplitSpec
from carnet.errors import InvalidInput
from carnet.tasks._base import TaskBase, option_int, option_str, quote, require_target

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from carnet.plugins.api import ModelFactory

__all__ = ["Forecasting"]


class Forecasting(TaskBase):
    """Forecast a numeric series from its past, one row per time stamp.

    The frame has a time column (``task_options.time_column``, else ``split.time_column``,
    else its only datetime column) holding datetimes or integer periods, sorted ascending
    without duplicates, and a numeric target. The time column must stay in the feature frame
    (:meth:`required_columns`); the training engine should put ``split.time_column`` into the
    options as ``time_column`` when only the split names it. Models are this task's own
    forecasters (:meth:`models`), fitted on ``(time stamps, target)``; other feature columns are
    not used.

    Options: ``horizon`` (steps held out / forecast per window; default the ``test_size`` share
    of rows, divided among the folds for split kind ``time``) and ``season_length`` (default
    inferred from the frequency: 12 monthly, 4 quarterly, 52 weekly, 7 daily, 24 hourly, else 1).

    Splits: ``holdout`` holds out the last ``horizon`` rows (a random holdout makes no sense for
    a series); ``time`` evaluates ``split.folds`` consecutive windows of ``horizon`` rows, each
    forecast from a model fitted on everything before it (expanding window, rolling origin).
    """

    name = "forecasting"
    description = "forecast the next values of a time series"
    supervised = True
    tabular = False
    family = "forecasting"
    option_help: ClassVar[dict[str, str]] = {
        "time_column": "column of datetimes or integer periods "
        "(default: split.time_column, else the only datetime column)",
        "horizon": "steps per test window (default: the split.test_size share of rows, shared by the folds)",
        "season_length": "period of the season (default inferred: 12 monthly, 7 daily, 24 hourly, "
        "4 quarterly, 52 weekly, 1 otherwise)",
    }
    _metrics = ("mae", "rmse", "smape", "mase")
    _primary = ("mase", "minimize")
    _default_model = "ets"
    _candidates = ("ets", "lag_regressor", "seasonal_naive")

    def models(self) -> dict[str, ModelFactory]:
        """``seasonal_naive``, ``ets`` and ``lag_regressor`` (see :mod:`carnet.tasks.forecasting_models`)."""
        from carnet.tasks.forecasting_models import ETSForecaster, LagRegressor, SeasonalNaive

        return {"seasonal_naive": SeasonalNaive, "ets": ETSForecaster, "lag_regressor": LagRegressor}

    def default_split(self) -> SplitSpec:
        """Hold out the last ``horizon`` rows (default 20 %)."""
        return SplitSpec(kind="holdout", test_size=0.2, shuffle=False)

    def required_columns(self, options: dict[str, Any]) -> list[str]:
        """The time column, when the options name it."""
        column = option_str(options, "time_column")
        return [column] if column else []

    def time_column(
        self, frame: pd.DataFrame, options: dict[str, Any], split: SplitSpec | None = None
    ) -> str:
        """The time column of ``frame`` (see the class docstring for the order of lookup)."""
        import pandas as pd

        column = option_str(options, "time_column") or (split.time_column if split is not None else None)
        if column is not None:
            if column not in frame.columns:
                raise InvalidInput(
                    f"time column {quote(column)} is not a column of the data",
                    field="task_options.time_column",
                )
            return column
        dated = [c for c in frame.columns if pd.api.types.is_datetime64_any_dtype(frame[c].dtype)]
        if len(dated) == 1:
            return str(dated[0])
        found = f" (datetime columns: {', '.join(map(str, dated))})" if dated else ""
        raise InvalidInput(
            f"task forecasting needs a time column: set task_options.time_column{found}",
            field="task_options.time_column",
        )

    def _times(
        self, frame: pd.DataFrame, options: dict[str, Any], split: SplitSpec | None = None
    ) -> np.ndarray:
        import numpy as np

        from carnet.tasks._time import parse_time

        column = self.time_column(frame, options, split)
        times = parse_time(frame[column], column, "task_options.time_column")
        if np.any(times[1:] < times[:-1]):
            raise InvalidInput(
                f"time column {quote(column)} is not sorted ascending; sort the rows by it",
                field="task_options.time_column",
            )
        dup = np.flatnonzero(times[1:] == times[:-1])
        if dup.size:
            raise InvalidInput(
                f"time column {quote(column)} has {dup.size} duplicate time stamp(s) (e.g. {times[dup[0]]}); "
                "aggregate to one row per time stamp",
                field="task_options.time_column",
            )
        return times

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        """A numeric, complete target and a parseable, sorted, unique time column; valid options."""
        import numpy as np
        import pandas as pd

        series = require_target(frame, target, self.name)
        if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
            raise InvalidInput(
                f"target {quote(target)} is not numeric ({series.dtype}); forecasting needs numbers",
                field="target",
            )
        if not np.all(np.isfinite(series.to_numpy(dtype=float))):
            raise InvalidInput(f"target {quote(target)} has infinite values", field="target")
        n = len(self._times(frame, options))
        if n < 4:
            raise InvalidInput(f"task forecasting needs at least 4 time stamps, got {n}", field="dataset")
        horizon = option_int(options, "horizon", None)
        if horizon is not None and horizon >= n - 1:
            raise InvalidInput(
                f"task option horizon={horizon} leaves too few of the {n} rows to train on",
                field="task_options.horizon",
            )
        option_int(options, "season_length", None)

    def split(
        self, frame: pd.DataFrame, target: str | None, split: SplitSpec, seed: int, options: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``holdout``: the last ``horizon`` rows; ``time``: ``folds`` rolling-origin windows."""
        import numpy as np

        from carnet.tasks._splits import check_split, n_test_rows, time_windows

        n = len(frame)
        if split.kind not in ("holdout", "time"):
            raise InvalidInput(
                f"split kind {split.kind!r} would train on the future; forecasting splits by time: "
                "use holdout (the last horizon rows) or time (rolling origins)",
                field="split.kind",
            )
        check_split(split, n, ("holdout", "time"), self.name)
        times = self._times(frame, options, split)
        order = np.argsort(times, kind="stable").astype(np.int64)
        horizon = option_int(options, "horizon", None)
        folds = 1 if split.kind == "holdout" else max(1, int(split.folds))
        window = horizon or max(1, n_test_rows(n, split.test_size) // folds)
        return [
            (np.sort(order[:start]), np.sort(order[start:end]))
            for start, end in time_windows(n, window, folds, min_train=2)
        ]

    def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
        """Fit a forecaster on (time stamps of ``X``, ``y``); option ``season_length`` fills an unset one."""
        if y is None:
            raise InvalidInput("task forecasting needs the target values to fit", field="target")
        column = self.time_column(X, options)
        season = option_int(options, "season_length", None)
        if season is not None and hasattr(estimator, "get_params"):
            params = estimator.get_params(deep=False)
            if "season_length" in params and params["season_length"] is None:
                estimator.set_params(season_length=season)
        fitted = estimator.fit(X[[column]], y)
        return estimator if fitted is None else fitted

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """Forecasts aligned to the rows (time stamps) of ``X``.

        ``extra``: ``y_train`` (the training series, for MASE), ``season_length`` and ``time``
        (the parsed time stamps of ``X``).
        """
        import numpy as np

        from carnet.tasks._time import parse_time

        column = self.time_column(X, options)
        y_pred = np.asarray(fitted.predict(X[[column]]), dtype=float).ravel()
        season = getattr(fitted, "season_length_", None) or option_int(options, "season_length", 1)
        extra = {
            "y_train": np.asarray(getattr(fitted, "y_train_", np.empty(0)), dtype=float),
            "season_length": int(season or 1),
            "time": parse_time(X[column], column),
        }
        return Predictions(task=self.name, y_pred=y_pred, extra=extra)

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """The target column."""
        if target is None:
            raise InvalidInput("task forecasting needs a target", field="target")
        return frame[target]
