"""Regression of a numeric target on tabular rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from carnet.domain.training import Predictions, SplitSpec
from carnet.errors import InvalidInput
from carnet.tasks._base import TaskBase, quote, require_target

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = ["Regression"]


class Regression(TaskBase):
    """Predict a numeric value; the target must be numeric with more than two distinct values."""

    name = "regression"
    description = "predict a numeric value"
    supervised = True
    tabular = True
    family = "regression"
    option_help: ClassVar[dict[str, str]] = {
        "time_column": "order rows by this column for split kind 'time' when split.time_column is not set",
    }
    _metrics = ("rmse", "mae", "mape", "r2")
    _primary = ("rmse", "minimize")
    _default_model = "hist_gradient_boosting"
    _candidates = ("hist_gradient_boosting", "random_forest", "ridge", "extra_trees", "lightgbm", "xgboost")

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        """Numeric (not boolean, not text), finite, no missing values, more than two distinct values."""
        import numpy as np
        import pandas as pd

        series = require_target(frame, target, self.name)
        assert target is not None
        dtype = series.dtype
        if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
            example = series.iloc[0]
            raise InvalidInput(
                f"target {quote(target)} is not numeric ({dtype}, e.g. {example!r}); "
                "use task binary or multiclass for labels",
                field="target",
            )
        values = series.to_numpy(dtype=float)
        bad = int((~np.isfinite(values)).sum())
        if bad:
            raise InvalidInput(f"target {quote(target)} has {bad} infinite value(s)", field="target")
        distinct = series.nunique()
        if distinct <= 2:
            fix = "use task binary" if distinct == 2 else "a constant cannot be learned"
            raise InvalidInput(
                f"target {quote(target)} has only {distinct} distinct value(s); {fix}", field="target"
            )

    def split(
        self, frame: pd.DataFrame, target: str | None, split: SplitSpec, seed: int, options: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Holdout, kfold, group_kfold, time or none (stratified_kfold is for classification)."""
        from carnet.tasks._splits import split_rows

        return split_rows(frame, split, seed, self.name, time_column=options.get("time_column"))

    def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
        """``estimator.fit(X, y)``."""
        if y is None:
            raise InvalidInput("task regression needs the target values to fit", field="target")
        return estimator.fit(X, y)

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """Predicted values as floats."""
        import numpy as np

        return Predictions(task=self.name, y_pred=np.asarray(fitted.predict(X), dtype=float).ravel())

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """The target column."""
        if target is None:
            raise InvalidInput("task regression needs a target", field="target")
        return frame[target]
