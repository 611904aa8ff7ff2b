"""Binary and multiclass classification of tabular rows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from carnet.domain.training import Predictions, SplitSpec
from carnet.errors import InvalidInput
from carnet.tasks._base import TaskBase, quote, require_target

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = ["BinaryClassification", "MulticlassClassification"]

_CANDIDATES = (
    "hist_gradient_boosting",
    "random_forest",
    "logistic_regression",
    "extra_trees",
    "lightgbm",
    "xgboost",
)
_COMMON_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "f1_weighted",
)
#: a float target with more distinct non-integer values than this looks continuous
_CONTINUOUS_DISTINCT = 20


def _python(value: Any) -> Any:
    """A numpy scalar as the equivalent Python value (labels stay JSON-friendly)."""
    return value.item() if hasattr(value, "item") and callable(value.item) else value


def _looks_continuous(series: pd.Series) -> bool:
    import numpy as np
    import pandas as pd

    if not pd.api.types.is_float_dtype(series.dtype):
        return False
    values = series.to_numpy(dtype=float)
    fractional = bool(np.any(values != np.round(values)))
    return fractional and series.nunique() > _CONTINUOUS_DISTINCT


class _Classification(TaskBase):
    """Shared behaviour of binary and multiclass classification.

    ``predict`` gives ``y_pred`` labels and ``y_score`` of shape ``(n, k)`` in the column order
    of ``classes`` (the model's ``classes_``). Scores come from ``predict_proba`` when the model
    has it; otherwise from ``decision_function`` squashed into [0, 1] (sigmoid for binary,
    softmax for multiclass), and as a last resort a one-hot of ``y_pred``. ``extra["score_kind"]``
    says which (``proba``, ``decision_function``, ``one_hot``): only ``proba`` scores are
    probabilities, so log_loss / brier / ece are meaningful for those alone.
    """

    supervised = True
    tabular = True
    family = "classification"
    _default_model = "hist_gradient_boosting"
    _candidates = _CANDIDATES
    option_help: ClassVar[dict[str, str]] = {
        "time_column": "order rows by this column for split kind 'time' when split.time_column is not set",
    }

    def _check_classes(self, target: str, n_classes: int, labels: list[Any]) -> None:
        raise NotImplementedError

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        """The target is present, has no missing values and the right number of classes."""
        series = require_target(frame, target, self.name)
        assert target is not None
        if _looks_continuous(series):
            raise InvalidInput(
                f"target {quote(target)} has {series.nunique()} distinct fractional values and looks "
                "continuous; use task regression",
                field="target",
            )
        labels = sorted(series.unique().tolist(), key=str)
        self._check_classes(target, len(labels), labels)

    def split(
        self, frame: pd.DataFrame, target: str | None, split: SplitSpec, seed: int, options: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Holdout is stratified when every class has >= 2 rows; stratified_kfold is allowed."""
        from carnet.tasks._splits import split_rows

        labels = frame[target] if target is not None and target in frame.columns else None
        return split_rows(
            frame,
            split,
            seed,
            self.name,
            labels=labels,
            stratified_kfold=True,
            time_column=options.get("time_column"),
        )

    def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
        """``estimator.fit(X, y)``; models that need labels 0..k-1 (XGBoost) are wrapped to encode them."""
        if y is None:
            raise InvalidInput(f"task {self.name} needs the target values to fit", field="target")
        from carnet.tasks.label_encoding import LabelEncodedClassifier, needs_label_encoding

        if needs_label_encoding(estimator, y):
            return LabelEncodedClassifier(estimator).fit(X, y)
        return estimator.fit(X, y)

    def predict(self, fitted: Any, X: pd.DataFrame, options: dict[str, Any]) -> Predictions:
        """Labels, class scores ``(n, k)`` and the class order."""
        import numpy as np

        y_pred = np.asarray(fitted.predict(X))
        classes = getattr(fitted, "classes_", None)
        if hasattr(fitted, "predict_proba"):
            scores = np.asarray(fitted.predict_proba(X), dtype=float)
            totals = scores.sum(axis=1, keepdims=True)  # float32 boosters drift from 1 by ~1e-7
            scores = np.divide(scores, totals, out=scores, where=totals > 0)
            kind = "proba"
        elif hasattr(fitted, "decision_function"):
            raw = np.asarray(fitted.decision_function(X), dtype=float)
            scores = _squash(raw)
            kind = "decision_function"
        else:
            classes = classes if classes is not None else np.unique(y_pred)
            scores = (y_pred[:, None] == np.asarray(classes)[None, :]).astype(float)
            kind = "one_hot"
        if classes is None:
            raise InvalidInput(
                f"model {type(fitted).__name__} has no classes_; cannot order scores", field="model"
            )
        return Predictions(
            task=self.name,
            y_pred=y_pred,
            y_score=scores,
            classes=[_python(c) for c in classes],
            extra={"score_kind": kind},
        )

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """The target column."""
        if target is None:
            raise InvalidInput(f"task {self.name} needs a target", field="target")
        return frame[target]


def _squash(raw: np.ndarray) -> np.ndarray:
    """Decision values as [0, 1] scores: sigmoid columns (binary) or a softmax (multiclass)."""
    import numpy as np

    if raw.ndim == 1:
        positive = 1.0 / (1.0 + np.exp(-raw))
        return np.column_stack([1.0 - positive, positive])
    shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


class BinaryClassification(_Classification):
    """Two classes. ``y_score[:, 1]`` is the score of the positive class ``classes[1]``
    (the larger label in scikit-learn's sorted order, e.g. 1 of 0/1, True of False)."""

    name = "binary"
    description = "predict one of exactly two classes (with class probabilities)"
    _metrics = (
        *_COMMON_METRICS,
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
    )
    _primary = ("roc_auc", "maximize")

    def _check_classes(self, target: str, n_classes: int, labels: list[Any]) -> None:
        if n_classes == 2:
            return
        if n_classes < 2:
            raise InvalidInput(
                f"target {quote(target)} has only 1 class ({labels[0]!r}); binary needs exactly 2",
                field="target",
            )
        raise InvalidInput(
            f"target {quote(target)} has {n_classes} classes; use task multiclass", field="target"
        )

    def default_split(self) -> SplitSpec:
        """Stratified 80/20 holdout."""
        return SplitSpec(kind="holdout", test_size=0.2)


class MulticlassClassification(_Classification):
    """Three or more classes; ``y_score`` columns follow ``classes``."""

    name = "multiclass"
    description = "predict one of three or more classes (with class probabilities)"
    _metrics = (*_COMMON_METRICS, "roc_auc_ovr", "log_loss", "ece")
    _primary = ("f1_macro", "maximize")

    def _check_classes(self, target: str, n_classes: int, labels: list[Any]) -> None:
        if n_classes >= 3:
            return
        if n_classes == 2:
            raise InvalidInput(
                f"target {quote(target)} has 2 classes ({labels[0]!r}, {labels[1]!r}); use task binary",
                field="target",
            )
        raise InvalidInput(
            f"target {quote(target)} has only {n_classes} class; multiclass needs at least 3", field="target"
        )

    def default_split(self) -> SplitSpec:
        """Stratified 80/20 holdout."""
        return SplitSpec(kind="holdout", test_size=0.2)
