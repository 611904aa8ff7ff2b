"""What clustering, anomaly detection and dimensionality reduction share.

These tasks learn from the features alone. A target, when the spec names one, is used only
for evaluation (adjusted Rand index, anomaly ROC AUC); the training engine keeps it out of
the features and :meth:`UnsupervisedTask.fit` never passes it to the model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from carnet.domain.training import SplitSpec
from carnet.tasks._base import TaskBase, check_target_column, remember_training_rows

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = ["UnsupervisedTask"]


class UnsupervisedTask(TaskBase):
    """Base of the unsupervised tabular tasks; recommends split kind ``none`` (train = test = all rows)."""

    supervised = False
    tabular = True
    option_help: ClassVar[dict[str, str]] = {
        "time_column": "order rows by this column for split kind 'time' when split.time_column is not set",
    }
    #: the method a fitted model needs to describe new rows; without it only training rows are described
    _apply_method: ClassVar[str] = "predict"

    def check_target(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> None:
        """The optional evaluation target, when given, is a column without missing values."""
        from carnet.errors import InvalidInput

        if len(frame) < 2:
            raise InvalidInput(f"task {self.name} needs at least 2 rows, got {len(frame)}", field="dataset")
        if target is not None:
            self._check_labels(check_target_column(frame, target, self.name), target)

    def _check_labels(self, labels: pd.Series, target: str) -> None:
        """Further checks of evaluation labels (none by default)."""

    def default_split(self) -> SplitSpec:
        """Split kind ``none``: fit on every row and evaluate on the same rows."""
        return SplitSpec(kind="none")

    def split(
        self, frame: pd.DataFrame, target: str | None, split: SplitSpec, seed: int, options: dict[str, Any]
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``none`` (train = test = all rows), holdout, kfold, group_kfold or time."""
        from carnet.tasks._splits import split_rows

        labels = self._stratify_labels(frame, target)
        return split_rows(
            frame, split, seed, self.name, labels=labels, time_column=options.get("time_column")
        )

    def _stratify_labels(self, frame: pd.DataFrame, target: str | None) -> pd.Series | None:
        return None

    def fit(self, estimator: Any, X: pd.DataFrame, y: pd.Series | None, options: dict[str, Any]) -> Any:
        """``estimator.fit(X)``: the evaluation target ``y`` is never shown to the model.

        A model that cannot describe new rows (no ``predict``/``transform``, e.g.
        agglomerative clustering, LocalOutlierFactor with ``novelty=False``, t-SNE) remembers
        a fingerprint of ``X``: :meth:`predict` then answers for exactly these rows only.
        """
        fitted = estimator.fit(X)
        fitted = estimator if fitted is None else fitted
        if not hasattr(fitted, self._apply_method):
            remember_training_rows(fitted, X)
        return fitted

    def truth(self, frame: pd.DataFrame, target: str | None, options: dict[str, Any]) -> Any:
        """The evaluation labels, or None without a target."""
        if target is None or target not in frame.columns:
            return None
        return frame[target]
