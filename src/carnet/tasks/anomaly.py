"""Anomaly detection: score how unusual each row is."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, cast

from carnet.domain.training import Predictions
from carnet.errors import InvalidInput
from carnet.tasks._base import final_step, quote, training_rows_only
from carnet.tasks._unsupervised import UnsupervisedTask

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = ["AnomalyDetection"]


class AnomalyDetection(UnsupervisedTask):
    """Score rows by how anomalous they are and flag the anomalies.

    ``predict`` gives ``y_score`` = anomaly score, higher = more anomalous (``-score_samples``,
    else ``-decision_function``), and ``y_pred`` = 1 for rows the model flags (scikit-learn's
    ``-1``), 0 otherwise.

    The target is optional: when given it holds labels with 1 = anomaly, 0 = normal, used only
    for evaluation (``roc_auc``, ``precision_at_k``; holdouts are stratified on it). The
    training engine must exclude it from the features; :meth:`fit` never passes it to the model.
    Without labels, ``roc_auc`` (the primary metric) and ``precision_at_k`` cannot be computed:
    the training engine then falls back to the default model and reports ``anomaly_share`` only.

    LocalOutlierFactor with ``novelty=False`` only scores its training rows: use split kind
    ``none`` (the default) with it, or ``novelty=True``.
    """

    name = "anomaly"
    description = "score rows by how unusual they are (labels 1 = anomaly optional, for evaluation only)"
    family = "anomaly"
    option_help: ClassVar[dict[str, str]] = {
        **UnsupervisedTask.option_help,
        "k": "rows counted by precision_at_k (default: the number of true anomalies)",
    }
    _metrics = ("roc_auc", "precision_at_k", "anomaly_share")
    _primary = ("roc_auc", "maximize")
    _default_model = "isolation_forest"
    _candidates = ("isolation_forest", "local_outlier_factor", "one_class_svm")

    def _check_labels(self, labels: pd.Series, target: str) -> None:
        values = set(labels.unique().tolist())
        if not values <= {0, 1}:
            shown = sorted(values, key=str)[:5]
            hint = " (scikit-learn's -1/1 convention: map -1 to 1 and 1 to 0)" if values == {-1, 1} else ""
            raise InvalidInput(
                f"target {quote(target)} must mark anomalies with 1 and normal rows with 0; "
                f"found values {shown}{hint}",
                field="target",
            )
        if len(values) < 2:
            which = "anomalies (1)" if values == {0} else "normal rows (0)"
            raise InvalidInput(
                f"target {quote(target)} has no {which}; labels need both values to evaluate, "
                "or drop the target",
                field="target",
            )

    def _stratify_labels(self, frame: pd.DataFrame, target: str | None) -> pd.Series | None:
        return frame[target] if target is not None and target in frame.columns else None

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """Anomaly scores (higher = more anomalous) and flags (1 = anomaly)."""
        import numpy as np

        _, last = final_step(fitted)
        score: np.ndarray
        if hasattr(fitted, "score_samples"):
            score = -np.asarray(fitted.score_samples(X), dtype=float)
        elif hasattr(fitted, "decision_function"):
            score = -np.asarray(fitted.decision_function(X), dtype=float)
        elif hasattr(last, "negative_outlier_factor_"):
            training_rows_only(fitted, X, "score rows")
            score = -np.asarray(last.negative_outlier_factor_, dtype=float)
        else:
            raise InvalidInput(
                f"model {type(last).__name__} has no score_samples or decision_function; "
                "it cannot score anomalies",
                field="model",
            )
        flags = self._flags(fitted, last, X, score)
        extra: dict[str, Any] = {}
        if options.get("k") is not None:
            extra["k"] = int(options["k"])
        return Predictions(task=self.name, y_pred=flags, y_score=score.ravel(), extra=extra)

    @staticmethod
    def _flags(fitted: Any, last: Any, X: pd.DataFrame, score: np.ndarray) -> np.ndarray:
        import numpy as np

        if hasattr(fitted, "predict"):
            return cast("np.ndarray", (np.asarray(fitted.predict(X)) == -1).astype(np.int64))
        if hasattr(fitted, "decision_function"):
            return (np.asarray(fitted.decision_function(X)) < 0).astype(np.int64)
        offset = float(getattr(last, "offset_", -1.5))
        return (-score < offset).astype(np.int64)

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """Labels as integers (1 = anomaly), or None without a target."""
        labels = super().truth(frame, target, options)
        return None if labels is None else labels.astype("int64")
